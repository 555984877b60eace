//! The FCP queue pairs of one port incarnation: those not lent out, the ids
//! and doorbell gates of all of them, and their retirement when the
//! incarnation ends (port reset, failure, shutdown, restart).
//!
//! Retirement runs on the management thread while other threads may still
//! own and poll queues of the pool:
//! 1. [`IoPool::close`] closes every pair's [`DoorbellGate`] and waits (bounded)
//!    until no owner is inside a doorbell write;
//! 2. the caller destroys the WQ and CQ of every pair, lent out or not
//!    (shutdown), or knows the port lost them (reset);
//! 3. [`RetiredIo::finish`] frees the memory of the idle pairs and of pairs
//!    whose queue was dropped in between. Until then that memory stays
//!    mapped, since the port may still write completions into it; a queue
//!    dropped after `finish` frees its own at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::doorbell_gate::DoorbellGate;
use super::io_errors::{IoInputError, SharedIoErrors};
use super::io_queue::IoRings;
use super::wait::Waiter;

/// Owner threads spin this many times (yielding) between two looks at the
/// injected clock while management waits for their doorbell writes.
const YIELDS_PER_PAUSE: u32 = 256;

/// Counters of the current port incarnation's FCP queue pairs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoPoolStats {
    /// Pairs created at bring-up.
    pub pairs: usize,
    /// Pairs not lent out.
    pub idle: usize,
    /// Exchanges (XRIs) of the idle pairs.
    pub idle_xris: usize,
    /// Of those, free for new I/O.
    pub idle_xris_free: usize,
    /// Of those, completed with XB and waiting for the XRI-aborted CQE.
    pub idle_xris_xb_wait: usize,
    /// Of those, still outstanding on the port after their queue was
    /// dropped (their completion frees them).
    pub idle_xris_orphaned: usize,
}

/// Where the incarnation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PoolState {
    /// Pairs may be lent out.
    Live,
    /// Gates closed; the queues may still exist on the port.
    Retiring,
    /// The queues are destroyed or the port was reset.
    Retired,
}

/// The ids and gate of one pair.
#[derive(Clone, Debug)]
pub(crate) struct PairIds {
    pub wq_id: u16,
    pub cq_id: u16,
    /// The pair's XRIs: first, count.
    pub xris: (u16, u16),
    /// Device input the pair refused.
    pub errors: Arc<SharedIoErrors>,
    pub gate: Arc<DoorbellGate>,
}

#[derive(Debug)]
pub(crate) struct PoolInner {
    pub state: PoolState,
    /// Pairs not lent out.
    pub idle: Vec<IoRings>,
    /// Every pair of the incarnation.
    pub pairs: Vec<PairIds>,
    /// Pairs dropped while retiring: freed by [`RetiredIo::finish`].
    pub parked: Vec<IoRings>,
}

/// One incarnation's pairs; shared by the LLDD and every queue lent from it.
#[derive(Debug)]
pub(crate) struct IoPool {
    inner: Mutex<PoolInner>,
    /// The link as management last saw it: aborts while it is down go
    /// without ABTS (IA = 1).
    link_up: AtomicBool,
}

impl IoPool {
    /// A live pool of `rings`.
    pub fn new(rings: Vec<IoRings>) -> IoPool {
        let pairs = rings.iter().map(IoRings::ids).collect();
        IoPool {
            inner: Mutex::new(PoolInner {
                state: PoolState::Live,
                idle: rings,
                pairs,
                parked: Vec::new(),
            }),
            link_up: AtomicBool::new(false),
        }
    }

    /// Management: the link went up or down.
    pub fn set_link(&self, up: bool) {
        self.link_up.store(up, Ordering::Release);
    }

    /// The link is up (as of management's last look).
    pub fn link_up(&self) -> bool {
        self.link_up.load(Ordering::Acquire)
    }

    /// A pool with nothing, already retired (before the first bring-up).
    pub fn empty() -> IoPool {
        IoPool {
            inner: Mutex::new(PoolInner {
                state: PoolState::Retired,
                idle: Vec::new(),
                pairs: Vec::new(),
                parked: Vec::new(),
            }),
            link_up: AtomicBool::new(false),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, PoolInner> {
        // Plain data: a panic elsewhere leaves it usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lends an idle pair, if the pool is live and has one.
    pub fn take(&self) -> Result<Option<IoRings>, PoolState> {
        let mut p = self.lock();
        match p.state {
            PoolState::Live => Ok(p.idle.pop()),
            s => Err(s),
        }
    }

    /// `xri` belongs to one of the pairs (lent out or not).
    pub fn owns_xri(&self, xri: u16) -> bool {
        let p = self.lock();
        p.state != PoolState::Retired
            && p.pairs
                .iter()
                .any(|q| xri.checked_sub(q.xris.0).is_some_and(|i| i < q.xris.1))
    }

    /// Counters of the pool (see [`IoPoolStats`]).
    pub fn stats(&self) -> IoPoolStats {
        let p = self.lock();
        let mut st = IoPoolStats {
            pairs: p.pairs.len(),
            ..IoPoolStats::default()
        };
        if p.state != PoolState::Live {
            return st;
        }
        st.idle = p.idle.len();
        for r in &p.idle {
            let (all, free, xb, orphan) = r.xri_counts();
            st.idle_xris += all;
            st.idle_xris_free += free;
            st.idle_xris_xb_wait += xb;
            st.idle_xris_orphaned += orphan;
        }
        st
    }

    /// Sum of every pair's count of `e` (lent out or not).
    pub fn input_errors(&self, e: IoInputError) -> u64 {
        self.lock().pairs.iter().map(|q| q.errors.get(e)).sum()
    }

    /// Management: drains the CQs of the idle pairs (completions of
    /// exchanges their last owner left behind); returns how many.
    pub fn reap_idle(&self) -> u32 {
        let mut p = self.lock();
        if p.state != PoolState::Live {
            return 0;
        }
        p.idle.iter_mut().map(IoRings::reap_idle).sum()
    }

    /// Pairs not lent out.
    pub fn idle(&self) -> usize {
        let p = self.lock();
        if p.state == PoolState::Live {
            p.idle.len()
        } else {
            0
        }
    }

    /// A dropped queue gives its pair back: reused while live, kept mapped
    /// while retiring, freed once retired.
    pub fn give_back(&self, rings: IoRings) {
        let mut p = self.lock();
        match p.state {
            PoolState::Live => p.idle.push(rings),
            PoolState::Retiring => p.parked.push(rings),
            PoolState::Retired => {
                drop(p);
                drop(rings);
            }
        }
    }

    /// Step 1 of retirement: closes every gate and waits, bounded by
    /// `bound` on the injected clock, for owners inside a doorbell write.
    /// Idempotent; a pool already retired gives an empty [`RetiredIo`].
    pub fn close(self: &Arc<Self>, waiter: &Waiter, bound: Duration) -> RetiredIo {
        let pairs = {
            let mut p = self.lock();
            if p.state != PoolState::Live {
                return RetiredIo {
                    pool: Arc::clone(self),
                    queues: Vec::new(),
                    stuck: 0,
                };
            }
            p.state = PoolState::Retiring;
            for pair in &p.pairs {
                pair.gate.close();
            }
            p.pairs.clone()
        };
        let done = waiter.until(bound, || {
            if pairs.iter().all(|q| !q.gate.ringing()) {
                return Some(());
            }
            // An owner was preempted inside its doorbell write: give it the
            // CPU; the clock (and the idle hook) only every so often.
            for _ in 0..YIELDS_PER_PAUSE {
                std::thread::yield_now();
                if pairs.iter().all(|q| !q.gate.ringing()) {
                    return Some(());
                }
            }
            None
        });
        let stuck = if done.is_some() {
            0
        } else {
            pairs.iter().filter(|q| q.gate.ringing()).count()
        };
        RetiredIo {
            pool: Arc::clone(self),
            queues: pairs.iter().map(|q| (q.wq_id, q.cq_id)).collect(),
            stuck,
        }
    }
}

/// A pool whose gates are closed.
#[derive(Debug)]
#[must_use = "call finish once the queues are destroyed or the port was reset"]
pub(crate) struct RetiredIo {
    pool: Arc<IoPool>,
    /// (WQ id, CQ id) of every pair, lent out or not.
    pub queues: Vec<(u16, u16)>,
    /// Owners still inside a doorbell write when the bound ran out.
    pub stuck: usize,
}

impl RetiredIo {
    /// Step 3: the queues are gone from the port; frees the memory of the
    /// idle and parked pairs.
    pub fn finish(self) {
        let freed = {
            let mut p = self.pool.lock();
            p.state = PoolState::Retired;
            let mut v = std::mem::take(&mut p.idle);
            v.append(&mut p.parked);
            v
        };
        drop(freed);
    }
}
