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
/// `errors` of [`super::IoQueueStats`]).
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

impl IoInputErrors {
    /// Counts one `e`.
    pub(crate) fn count(&mut self, e: IoInputError) {
        let c = match e {
            IoInputError::BadTag => &mut self.bad_tag,
            IoInputError::BadLength => &mut self.bad_length,
            IoInputError::BadRsp => &mut self.bad_rsp,
            IoInputError::BadRelease => &mut self.bad_release,
            IoInputError::BadXri => &mut self.bad_xri,
            IoInputError::UnknownCqe => &mut self.unknown_cqe,
            IoInputError::Dma => &mut self.dma_errors,
        };
        *c += 1;
    }
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

    #[test]
    fn each_kind_counts_its_own_field() {
        use IoInputError as E;
        let mut m = IoInputErrors::default();
        m.count(E::BadTag);
        m.count(E::BadLength);
        m.count(E::BadLength);
        m.count(E::BadRsp);
        m.count(E::BadRelease);
        m.count(E::BadXri);
        m.count(E::UnknownCqe);
        m.count(E::Dma);
        assert_eq!(
            m,
            IoInputErrors {
                bad_tag: 1,
                bad_length: 2,
                bad_rsp: 1,
                bad_release: 1,
                bad_xri: 1,
                unknown_cqe: 1,
                dma_errors: 1,
            }
        );
    }
}
