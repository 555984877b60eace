//! The management ↔ queue-pair link (docs/design.md "Threads and ownership").
//!
//! Two bounded MPMC queues and one "messages posted" word. Only management posts
//! to the queue pair, always under the management lock, so the word is advanced
//! with a load and a store (no read-modify-write). The queue pair compares it
//! with the last value it saw, once per poll: a plain load on x86.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;

use crate::lldd::LlddRport;
use crate::wire::NvmeStatus;

/// Room for messages in each direction; management keeps an outbox for the rare
/// case the queue pair has not drained the previous ones.
const LINK_DEPTH: usize = 16;

/// A new association for this queue.
#[derive(Debug)]
pub(crate) struct Attach<Q> {
    pub gen: u32,
    pub hwq: Q,
    pub connection_id: u64,
    /// Last CSN used on the connection (by its fabrics Connect).
    pub csn: u32,
    pub rport: LlddRport,
    /// 0's-based SQ size negotiated for this association.
    pub sqsize: u16,
}

/// Management → queue pair.
#[derive(Debug)]
pub(crate) enum ToQpair<Q> {
    /// Take this hardware queue and resubmit held requests.
    Attach(Attach<Q>),
    /// The association is going down: abort every active exchange, wait at most
    /// `bound` for their completions, hand the queue back.
    Quiesce { gen: u32, bound: Duration },
    /// Fail held requests (and new ones until the next `Attach`) with `status`.
    /// Deletion is not a message but the link's sticky flag (`mark_deleted`).
    FailHeld { status: NvmeStatus },
}

/// Queue pair → management.
#[derive(Debug)]
pub(crate) enum ToMgmt<Q> {
    /// Answer to `Quiesce`; `stuck` exchanges did not complete within the bound.
    /// `csn`: the last CSN used on the connection.
    Quiesced {
        gen: u32,
        hwq: Q,
        stuck: u32,
        csn: u32,
    },
    /// A transport-level failure on this association (ERSP mismatch, LLDD error,
    /// aborted exchange): reset it.
    TransportError { gen: u32 },
    /// An aborted exchange did not complete within the bound.
    AbortStuck { gen: u32 },
    /// The `IoQpair` was dropped; here is its hardware queue, if it had one.
    /// `dirty`: exchanges aborted at the drop did not complete within the drain
    /// bound, so their completions may still arrive on this queue; it must be
    /// deleted, never handed to another queue pair. `csn`: the last CSN used
    /// on the connection; the next queue pair on it continues after it
    /// (CSNs only go up on a connection, nvme-fc.md §4.7).
    Released {
        gen: u32,
        hwq: Option<Q>,
        dirty: bool,
        csn: u32,
    },
}

/// One I/O queue's link.
#[derive(Debug)]
pub(crate) struct QpairLink<Q> {
    /// Queue id (1-based).
    pub qid: u16,
    to_qp: ArrayQueue<ToQpair<Q>>,
    to_mgmt: ArrayQueue<ToMgmt<Q>>,
    posted: AtomicU32,
    /// Set by the queue pair when it is dropped.
    released: AtomicBool,
    /// Sticky: the controller is deleted. A flag rather than a message so that
    /// it cannot be lost with a full link or a dropped controller entry, and a
    /// queue pair created on the link later still learns it.
    deleted: AtomicBool,
    /// The latest association generation management attached on this link; a
    /// queue pair created later starts from it.
    latest_gen: AtomicU32,
}

impl<Q> QpairLink<Q> {
    pub fn new(qid: u16) -> Self {
        QpairLink {
            qid,
            to_qp: ArrayQueue::new(LINK_DEPTH),
            to_mgmt: ArrayQueue::new(LINK_DEPTH),
            posted: AtomicU32::new(0),
            released: AtomicBool::new(false),
            deleted: AtomicBool::new(false),
            latest_gen: AtomicU32::new(0),
        }
    }

    /// Management: posts a message; gives it back when the queue is full.
    /// Callers hold the management lock, which makes load + store safe.
    pub fn post(&self, msg: ToQpair<Q>) -> Result<(), ToQpair<Q>> {
        self.to_qp.push(msg)?;
        let n = self.posted.load(Ordering::Relaxed).wrapping_add(1);
        self.posted.store(n, Ordering::Release);
        Ok(())
    }

    /// Queue pair: the posted counter (compare with the last seen value).
    #[inline]
    pub fn posted(&self) -> u32 {
        self.posted.load(Ordering::Acquire)
    }

    /// Queue pair: the next message.
    pub fn take(&self) -> Option<ToQpair<Q>> {
        self.to_qp.pop()
    }

    /// Queue pair: tells management; gives the message back if full.
    pub fn report(&self, msg: ToMgmt<Q>) -> Result<(), ToMgmt<Q>> {
        self.to_mgmt.push(msg)
    }

    /// Management: the next report.
    pub fn next_report(&self) -> Option<ToMgmt<Q>> {
        self.to_mgmt.pop()
    }

    /// Management: takes back messages a dropped queue pair never read.
    pub fn reclaim(&self) -> Option<ToQpair<Q>> {
        self.to_qp.pop()
    }

    /// Management: the controller is deleted, for good. Bumps the posted word
    /// so that the queue pair looks at its messages (and this flag) on its
    /// next poll. Callers hold the management lock (load + store).
    pub fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
        let n = self.posted.load(Ordering::Relaxed).wrapping_add(1);
        self.posted.store(n, Ordering::Release);
    }

    /// Queue pair: true once the controller is deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// Management: the generation it attaches now.
    pub fn set_latest_gen(&self, gen: u32) {
        self.latest_gen.store(gen, Ordering::Release);
    }

    /// Queue pair at creation: the generation to start from.
    pub fn latest_gen(&self) -> u32 {
        self.latest_gen.load(Ordering::Acquire)
    }

    pub fn set_released(&self, v: bool) {
        self.released.store(v, Ordering::Release);
    }

    pub fn is_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail() -> ToQpair<u8> {
        ToQpair::FailHeld {
            status: NvmeStatus::HOST_PATH_ERROR,
        }
    }

    #[test]
    fn posted_counter_tracks_messages() {
        let l: QpairLink<u8> = QpairLink::new(1);
        let seen = l.posted();
        l.post(fail()).unwrap();
        assert_ne!(l.posted(), seen);
        assert!(matches!(l.take(), Some(ToQpair::FailHeld { .. })));
        assert!(l.take().is_none());
        for _ in 0..LINK_DEPTH {
            l.post(fail()).unwrap();
        }
        assert!(l.post(fail()).is_err(), "full link refuses");
        l.report(ToMgmt::AbortStuck { gen: 3 }).unwrap();
        assert!(matches!(
            l.next_report(),
            Some(ToMgmt::AbortStuck { gen: 3 })
        ));
    }
}
