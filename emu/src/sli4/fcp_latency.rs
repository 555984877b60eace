//! The FCP completion latency ([`Sli4Config::fcp_latency`](super::Sli4Config::fcp_latency),
//! [`Sli4Faults::set_fcp_latency`](super::Sli4Faults::set_fcp_latency)): the
//! target as a server with a fixed service time.
//!
//! An FC-NVMe exchange the target completes moves its data when the WQE runs
//! (the target has read or written the host's buffers), but the port posts its
//! completion — the ERSP into the RSP buffer and the WCQE — only once
//! `now >= submitted + latency` on the model's clock, and in submission order
//! (a later exchange never overtakes an earlier one, also after the latency
//! was lowered). Until then the exchange stays open in
//! [`Exchanges::open`](super::wq::Exchanges) like any other exchange in flight,
//! only with its completion attached: an ABORT_WQE ends it as any aborted
//! exchange (abort requested, XB, ABTS, XRI-aborted CQE), a link down fails it
//! with local reject "link down", a port reset or a destroyed WQ drops it, and
//! the WQE timer still applies.
//!
//! [`DueFifo`] holds the order: (due time, XRI, exchange number) per delayed
//! exchange, preallocated for every XRI of the port, so the I/O path does not
//! allocate. Entries whose exchange ended early (aborted, failed, dropped)
//! stay behind and are skipped when they reach the head: the exchange number
//! tells them from a later exchange on the same XRI.

use std::collections::VecDeque;
use std::time::Duration;

use super::wq::Exchange;
use super::Sli4Model;
use crate::target::Rsp;

/// The completion of an FC-NVMe exchange, held back until it is due.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DelayedFcp {
    /// When the completion may be posted (model clock).
    pub(crate) due: Duration,
    /// The exchange number given to the target (unique per port life).
    pub(crate) seq: u64,
    /// Data bytes the target moved.
    pub(crate) transferred: u32,
    /// The target's response: written to `rsp_buf` (ERSP) when due.
    pub(crate) rsp: Rsp,
    /// The RSP buffer (SGE 1).
    pub(crate) rsp_buf: (u64, u32),
    /// The WQE's total length (hostile mode's "beyond the request").
    pub(crate) req_len: u32,
    /// The NVMe queue id of the exchange's connection.
    pub(crate) qid: u16,
}

/// One delayed exchange in submission order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Due {
    at: Duration,
    xri: u16,
    seq: u64,
}

/// The delayed FCP completions in submission order.
#[derive(Debug, Default)]
pub(crate) struct DueFifo {
    q: VecDeque<Due>,
}

impl DueFifo {
    /// Room for `n` delayed exchanges (one per XRI) before it grows.
    pub(crate) fn with_capacity(n: usize) -> DueFifo {
        DueFifo {
            q: VecDeque::with_capacity(n),
        }
    }

    fn push(&mut self, d: &DelayedFcp, xri: u16) {
        self.q.push_back(Due {
            at: d.due,
            xri,
            seq: d.seq,
        });
    }

    /// The head if it is due at `now`.
    fn pop_due(&mut self, now: Duration) -> Option<Due> {
        match self.q.front() {
            Some(d) if d.at <= now => self.q.pop_front(),
            _ => None,
        }
    }

    /// Forgets every entry (their exchanges ended).
    pub(crate) fn clear(&mut self) {
        self.q.clear();
    }
}

impl Sli4Model {
    /// Opens FCP exchange `xri` with its completion `done` waiting for its
    /// due time.
    pub(crate) fn delay_fcp(&mut self, xri: u16, mut x: Exchange, done: DelayedFcp) {
        self.func.xchg.due.push(&done, xri);
        x.delayed = Some(done);
        self.func.xchg.insert(xri, x);
    }

    /// Posts the delayed FCP completions due at `now`, oldest first; true if
    /// any entry was consumed.
    pub(crate) fn fcp_due(&mut self, now: Duration) -> bool {
        let mut any = false;
        while let Some(d) = self.func.xchg.due.pop_due(now) {
            any = true;
            let current = self
                .func
                .xchg
                .open
                .get(&d.xri)
                .and_then(|x| x.delayed)
                .is_some_and(|c| c.seq == d.seq);
            if !current {
                // Ended early (abort, timer, WQ destroyed); the XRI may carry
                // a newer exchange by now.
                continue;
            }
            let Some(x) = self.func.xchg.open.remove(&d.xri) else {
                continue;
            };
            let Some(c) = x.delayed else {
                continue;
            };
            let w = self.fcp_completion(x.request_tag, c.transferred, c.rsp, c.rsp_buf);
            self.complete_fcp(x.cq_id, w, Some(c.rsp_buf), c.req_len, c.qid);
        }
        any
    }
}
