//! `FcloopQueue`: fcloop's hardware queue.
//!
//! Inline mode runs the target at `submit`, on the caller's thread, while the
//! request's SGL is still borrowed: nothing is copied and nothing allocated per
//! exchange. The completion waits in a ring and becomes visible to `poll` once the
//! fabric latency has passed, so the transport observes exactly what an HBA would
//! show it (a completion only through `poll`). Held exchanges (an Async Event
//! Request the target keeps), lost ones (fault knobs, a silent target) and delayed
//! ones sit on a short side list that `poll` scans only when it is not empty.
//!
//! Threaded mode hands each exchange to a worker thread instead
//! ([`crate::fcloop::worker`]); completions come back through a queue and join the
//! same ring, so latency, aborts and the side list behave alike in both modes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use ufc_transport::lldd::{
    FcpDone, FcpReq, FcpStatus, HwQueue, LlddRport, Sge, SubmitError, CMD_IU_LEN, ERSP_IU_LEN,
    ZERO_RSP_LEN,
};

use crate::fcloop::fabric::FabricTarget;
use crate::fcloop::faults::{FcpFault, FcpInfo};
use crate::fcloop::lldd::{Inner, Mode};
use crate::fcloop::worker::{Job, Report, Worker};
use crate::host_memory::HostMemory;
use crate::target::connection::Connection;
use crate::target::fcp::{FcpOutcome, Rsp};

/// Completions visible at once carry this time.
const NOW: Duration = Duration::ZERO;

#[derive(Clone, Copy, Debug)]
struct Ready {
    visible_at: Duration,
    done: FcpDone,
}

#[derive(Debug)]
enum Side {
    /// Lost: completes only when aborted.
    Lost { tag: u16 },
    /// Kept by the target; its completion comes from the connection.
    Held {
        tag: u16,
        conn: Arc<Connection>,
        xchg: u64,
        target: Arc<FabricTarget>,
    },
    /// Completes at `ready.visible_at`.
    Delayed(Ready),
}

impl Side {
    fn tag(&self) -> u16 {
        match self {
            Side::Lost { tag } | Side::Held { tag, .. } => *tag,
            Side::Delayed(r) => r.done.tag,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Route {
    token: LlddRport,
    pub(crate) target: Arc<FabricTarget>,
    conn_id: u64,
    pub(crate) conn: Option<Arc<Connection>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    Free,
    /// With the worker.
    Sent,
    /// Kept by the target.
    Held,
    /// The worker reported it lost.
    Lost,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    state: SlotState,
    xchg: u64,
    tag: u16,
    submitted: Duration,
    extra: Duration,
}

/// Queue-side state of threaded mode.
#[derive(Debug)]
struct Threaded {
    worker: Worker,
    slots: Vec<Slot>,
    free: Vec<u16>,
    seq: u64,
    sgl_pool: Vec<Vec<Sge>>,
    max_sgl: usize,
}

/// One fcloop hardware queue (see the module docs).
pub struct FcloopQueue<M> {
    inner: Arc<Inner<M>>,
    qidx: u16,
    uid: u64,
    capacity: usize,
    ring: VecDeque<Ready>,
    side: Vec<Side>,
    route: Option<Route>,
    threaded: Option<Threaded>,
}

impl<M> std::fmt::Debug for FcloopQueue<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcloopQueue")
            .field("qidx", &self.qidx)
            .field("in_ring", &self.ring.len())
            .field("side", &self.side.len())
            .finish_non_exhaustive()
    }
}

pub(crate) fn done(tag: u16, status: FcpStatus) -> FcpDone {
    FcpDone {
        tag,
        status,
        transferred: 0,
        rsp_len: 0,
        rsp: [0; ERSP_IU_LEN],
    }
}

pub(crate) fn outcome_done(tag: u16, outcome: &FcpOutcome) -> FcpDone {
    match outcome {
        FcpOutcome::Complete { transferred, rsp } => {
            let mut d = done(tag, FcpStatus::Good);
            d.transferred = *transferred;
            match rsp {
                Rsp::Zero => d.rsp_len = ZERO_RSP_LEN as u8,
                Rsp::Ersp(bytes) => {
                    d.rsp_len = ERSP_IU_LEN as u8;
                    d.rsp = *bytes;
                }
            }
            d
        }
        FcpOutcome::Abort | FcpOutcome::Held => done(tag, FcpStatus::Aborted),
    }
}

impl<M: HostMemory + Clone + 'static> FcloopQueue<M> {
    pub(crate) fn new(
        inner: Arc<Inner<M>>,
        qidx: u16,
        qsize: u16,
        mode: Mode,
    ) -> std::io::Result<Self> {
        // Room for every tag twice: aborted exchanges may wait for a poll while
        // their tags are already reused.
        let capacity = usize::from(qsize) * 2;
        let uid = inner.queue_uid();
        let threaded = match mode {
            Mode::Inline => None,
            Mode::Threaded => {
                let max_sgl = usize::from(inner.limits().max_sgl_segments);
                let name = format!("fcloop-q{qidx}-{uid}");
                Some(Threaded {
                    worker: Worker::spawn(Arc::clone(&inner), capacity, name)?,
                    slots: vec![
                        Slot {
                            state: SlotState::Free,
                            xchg: 0,
                            tag: 0,
                            submitted: NOW,
                            extra: NOW,
                        };
                        capacity
                    ],
                    // Slot indices fit u16: capacity = 2 × a u16 queue size ≤ 131070,
                    // so clamp to what an exchange id can name.
                    free: (0..capacity.min(usize::from(u16::MAX)) as u16)
                        .rev()
                        .collect(),
                    seq: 0,
                    sgl_pool: Vec::with_capacity(capacity),
                    max_sgl,
                })
            }
        };
        Ok(FcloopQueue {
            inner,
            qidx,
            uid,
            capacity,
            ring: VecDeque::with_capacity(capacity),
            side: Vec::with_capacity(capacity.min(64)),
            route: None,
            threaded,
        })
    }

    /// Threaded submit: copy the IU and SGL into a job for the worker.
    fn submit_threaded(&mut self, req: &FcpReq<'_>, extra: Duration) -> Result<(), SubmitError> {
        let Some(t) = self.threaded.as_mut() else {
            return Err(SubmitError::Failed);
        };
        if req.sgl.len() > t.max_sgl {
            return Err(SubmitError::Failed);
        }
        let Some(slot) = t.free.pop() else {
            return Err(SubmitError::Busy);
        };
        t.seq += 1;
        let xchg = t.seq << 16 | u64::from(slot);
        let mut sgl = t
            .sgl_pool
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(t.max_sgl));
        sgl.clear();
        sgl.extend_from_slice(req.sgl);
        let job = Job {
            xchg,
            rport: req.rport,
            cmd_iu: *req.cmd_iu,
            sgl,
        };
        if let Err(job) = t.worker.ch.jobs.push(job) {
            t.sgl_pool.push(job.sgl);
            t.free.push(slot);
            return Err(SubmitError::Busy);
        }
        let submitted = if self.inner.fabric.faults().latency().is_zero() && extra.is_zero() {
            NOW
        } else {
            self.inner.fabric.clock().now()
        };
        t.slots[usize::from(slot)] = Slot {
            state: SlotState::Sent,
            xchg,
            tag: req.tag,
            submitted,
            extra,
        };
        Ok(())
    }

    /// Collects the worker's reports into the ring / side list.
    fn drain_worker(&mut self) {
        let Some(t) = self.threaded.as_mut() else {
            return;
        };
        let latency = self.inner.fabric.faults().latency();
        while let Some(b) = t.worker.ch.back.pop() {
            if let Some(v) = b.sgl {
                t.sgl_pool.push(v);
            }
            let idx = (b.xchg & 0xffff) as usize;
            let Some(slot) = t.slots.get_mut(idx) else {
                continue;
            };
            if slot.xchg != b.xchg || slot.state == SlotState::Free {
                // Stale: the host aborted it and already saw its completion.
                continue;
            }
            match b.report {
                Report::Held => slot.state = SlotState::Held,
                Report::Lost => slot.state = SlotState::Lost,
                Report::Done(mut d) => {
                    d.tag = slot.tag;
                    let delay = latency.saturating_add(slot.extra);
                    let visible_at = if delay.is_zero() {
                        NOW
                    } else {
                        slot.submitted.saturating_add(delay)
                    };
                    slot.state = SlotState::Free;
                    slot.xchg = 0;
                    t.free.push(idx as u16);
                    let r = Ready {
                        visible_at,
                        done: d,
                    };
                    if slot.extra.is_zero() {
                        self.ring.push_back(r);
                    } else {
                        self.side.push(Side::Delayed(r));
                    }
                }
            }
        }
    }
}

/// Target and connection for a request, from the one-entry cache when the remote
/// port and connection id repeat (the normal case: a queue talks to one
/// connection). A free function so the caller keeps its other fields borrowable.
pub(crate) fn route<'r, M>(
    cache: &'r mut Option<Route>,
    inner: &Inner<M>,
    token: LlddRport,
    conn_id: u64,
) -> Option<&'r Route> {
    let hit = cache.as_ref().is_some_and(|r| {
        r.token == token && r.conn_id == conn_id && r.conn.as_ref().is_some_and(|c| c.is_live())
    });
    if !hit {
        let target = inner.resolve(token)?;
        let conn = target.port().connection(conn_id);
        *cache = Some(Route {
            token,
            target,
            conn_id,
            conn,
        });
    }
    cache.as_ref()
}

impl<M: HostMemory + Clone + 'static> HwQueue for FcloopQueue<M> {
    fn submit(&mut self, req: &FcpReq<'_>) -> Result<(), SubmitError> {
        if self.ring.len() + self.side.len() >= self.capacity {
            return Err(SubmitError::Busy);
        }
        let cmd_iu: &[u8; CMD_IU_LEN] = req.cmd_iu;
        let conn_id = crate::target::fcp::cmd_iu_connection_id(cmd_iu);
        let latency = self.inner.fabric.faults().latency();
        let info = FcpInfo {
            qidx: self.qidx,
            opcode: cmd_iu[24],
            fctype: if cmd_iu[24] == 0x7f { cmd_iu[28] } else { 0 },
        };
        let fault = self.inner.fabric.faults().fcp_fault(&info);
        let uid = self.uid;
        let tag = req.tag;
        if self.threaded.is_some() {
            return match fault {
                Some(FcpFault::Drop) => {
                    self.side.push(Side::Lost { tag });
                    Ok(())
                }
                Some(FcpFault::Delay(extra)) => self.submit_threaded(req, extra),
                None => self.submit_threaded(req, NOW),
            };
        }
        let Some(r) = route(&mut self.route, &self.inner, req.rport, conn_id) else {
            // The remote port is gone from this instance or the fabric.
            return Err(SubmitError::Failed);
        };
        let (target, conn) = (&r.target, r.conn.as_ref());
        if !target.present() {
            let d = done(tag, FcpStatus::TransportError);
            self.ring.push_back(Ready {
                visible_at: NOW,
                done: d,
            });
            return Ok(());
        }
        if !target.answering() || fault == Some(FcpFault::Drop) {
            self.side.push(Side::Lost { tag });
            return Ok(());
        }
        let xchg = uid << 16 | u64::from(tag);
        let outcome = match conn {
            Some(c) => c.handle_fcp(xchg, cmd_iu, req.sgl, &self.inner.mem),
            // No queue for this connection id: the target aborts the exchange.
            None => FcpOutcome::Abort,
        };
        if let FcpOutcome::Held = outcome {
            let (target, conn) = (Arc::clone(target), conn.map(Arc::clone));
            if let Some(conn) = conn {
                self.side.push(Side::Held {
                    tag,
                    conn,
                    xchg,
                    target,
                });
                return Ok(());
            }
        }
        let d = outcome_done(tag, &outcome);
        match fault {
            Some(FcpFault::Delay(extra)) => {
                let at = self
                    .inner
                    .fabric
                    .clock()
                    .now()
                    .saturating_add(latency)
                    .saturating_add(extra);
                self.side.push(Side::Delayed(Ready {
                    visible_at: at,
                    done: d,
                }));
            }
            _ => {
                let visible_at = if latency.is_zero() {
                    NOW
                } else {
                    self.inner.fabric.clock().now().saturating_add(latency)
                };
                self.ring.push_back(Ready {
                    visible_at,
                    done: d,
                });
            }
        }
        Ok(())
    }

    fn flush(&mut self) {
        // Inline mode: the target already saw every submitted exchange.
        if let Some(t) = &self.threaded {
            t.worker.kick();
        }
    }

    fn abort(&mut self, tag: u16) {
        if let Some(r) = self.ring.iter_mut().find(|r| r.done.tag == tag) {
            // Not reaped yet: the abort wins and the normal completion is suppressed.
            if r.done.status == FcpStatus::Good {
                r.done = done(tag, FcpStatus::Aborted);
            }
            return;
        }
        if let Some(i) = self.side.iter().position(|s| s.tag() == tag) {
            if let Side::Held { conn, xchg, .. } = &self.side[i] {
                conn.abort(*xchg);
            }
            self.side.swap_remove(i);
            self.ring.push_back(Ready {
                visible_at: NOW,
                done: done(tag, FcpStatus::Aborted),
            });
            return;
        }
        if let Some(t) = self.threaded.as_mut() {
            let found = t
                .slots
                .iter()
                .position(|s| s.state != SlotState::Free && s.tag == tag);
            if let Some(idx) = found {
                let slot = &mut t.slots[idx];
                // The worker may still hold it (an AER): tell it to forget.
                let _ = t.worker.ch.aborts.push(slot.xchg);
                t.worker.kick();
                slot.state = SlotState::Free;
                slot.xchg = 0;
                t.free.push(idx as u16);
                self.ring.push_back(Ready {
                    visible_at: NOW,
                    done: done(tag, FcpStatus::Aborted),
                });
            }
        }
    }

    fn poll<F: FnMut(FcpDone)>(&mut self, budget: u32, mut f: F) -> u32 {
        if self.threaded.is_some() {
            self.drain_worker();
        }
        let mut n = 0;
        let mut now = None;
        if !self.side.is_empty() {
            let t = self.inner.fabric.clock().now();
            now = Some(t);
            let mut i = 0;
            while i < self.side.len() {
                let ready = match &self.side[i] {
                    Side::Lost { .. } => None,
                    Side::Delayed(r) => (r.visible_at <= t).then_some(*r),
                    Side::Held {
                        tag,
                        conn,
                        xchg,
                        target,
                    } => {
                        if !target.present() {
                            Some(Ready {
                                visible_at: NOW,
                                done: done(*tag, FcpStatus::TransportError),
                            })
                        } else if conn.has_deferred() {
                            conn.take_deferred(*xchg).map(|o| Ready {
                                visible_at: NOW,
                                done: outcome_done(*tag, &o),
                            })
                        } else {
                            None
                        }
                    }
                };
                match ready {
                    Some(r) => {
                        self.side.swap_remove(i);
                        self.ring.push_back(r);
                    }
                    None => i += 1,
                }
            }
        }
        while n < budget {
            let Some(front) = self.ring.front() else {
                break;
            };
            if front.visible_at != NOW {
                let t = *now.get_or_insert_with(|| self.inner.fabric.clock().now());
                if front.visible_at > t {
                    break;
                }
            }
            if let Some(r) = self.ring.pop_front() {
                f(r.done);
                n += 1;
            }
        }
        n
    }
}

impl<M> Drop for FcloopQueue<M> {
    fn drop(&mut self) {
        // delete_queue: the target forgets exchanges it was holding for us.
        for s in &self.side {
            if let Side::Held { conn, xchg, .. } = s {
                conn.abort(*xchg);
            }
        }
    }
}
