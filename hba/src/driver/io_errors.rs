//! Device input an FCP queue pair refused, published for management.
//!
//! The owner thread of a pair counts into its own [`super::IoQueueStats`];
//! the same events also go to this shared record, which
//! [`super::Hba::input_errors`] sums over the pairs of the port. Only one
//! thread writes it at a time (the owner, or management for an idle pair,
//! with the pool's lock passed between them), so a count is a load and a
//! store: no read-modify-write. These are rare events, off the good path.

use std::sync::atomic::{AtomicU64, Ordering};

/// What was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IoInputError {
    /// A WCQE's request tag names no outstanding exchange.
    BadTag,
    /// A WCQE reports more data than the request had.
    BadLength,
    /// A status 0x01 WCQE whose response length is not an ERSP's.
    BadRsp,
    /// A WQE-release CQE for another WQ or an index not outstanding.
    BadRelease,
    /// An XRI-aborted CQE for no busy exchange of the pair.
    BadXri,
    /// A CQE of a kind an I/O CQ does not carry.
    UnknownCqe,
    /// A DMA read or write of the pair's memory failed.
    Dma,
}

const KINDS: usize = 7;

/// Device input the FCP queue pairs refused, summed over the pairs (the
/// error counters of [`super::IoQueueStats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoInputErrors {
    /// WCQEs whose request tag names no outstanding exchange.
    pub bad_tag: u64,
    /// WCQEs that report more data than the request had.
    pub bad_length: u64,
    /// Status 0x01 WCQEs whose response length is not an ERSP's 32 bytes.
    pub bad_rsp: u64,
    /// WQE-release CQEs for another WQ or an index not outstanding.
    pub bad_release: u64,
    /// XRI-aborted CQEs for an XRI of no busy exchange.
    pub bad_xri: u64,
    /// CQEs of a kind an I/O CQ does not carry.
    pub unknown_cqe: u64,
    /// DMA reads or writes that failed.
    pub dma_errors: u64,
}

/// One pair's published counts, by [`IoInputError`].
#[derive(Debug, Default)]
pub(crate) struct SharedIoErrors {
    counts: [AtomicU64; KINDS],
}

impl SharedIoErrors {
    /// Counts one (single writer: see the module comment).
    pub fn bump(&self, e: IoInputError) {
        if let Some(c) = self.counts.get(e as usize) {
            c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        }
    }

    /// The count of `e`.
    pub fn get(&self, e: IoInputError) -> u64 {
        self.counts
            .get(e as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_kind() {
        let s = SharedIoErrors::default();
        s.bump(IoInputError::BadTag);
        s.bump(IoInputError::BadTag);
        s.bump(IoInputError::Dma);
        assert_eq!(s.get(IoInputError::BadTag), 2);
        assert_eq!(s.get(IoInputError::Dma), 1);
        assert_eq!(s.get(IoInputError::BadXri), 0);
    }
}
