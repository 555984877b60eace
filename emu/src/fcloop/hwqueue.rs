//! `FcloopQueue`: fcloop's hardware queue.
//!
//! Inline mode runs the target at `submit`, on the caller's thread, while the
//! request's SGL is still borrowed: nothing is copied and nothing allocated per
//! exchange. The completion waits in a ring and becomes visible to `poll` once the
//! fabric latency has passed, so the transport observes exactly what an HBA would
//! show it (a completion only through `poll`). Held exchanges (an Async Event
//! Request the target keeps), lost ones (fault knobs, a silent target) and delayed
//! ones sit on a short side list that `poll` scans only when it is not empty.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use ufc_transport::lldd::{
    FcpDone, FcpReq, FcpStatus, HwQueue, LlddRport, SubmitError, CMD_IU_LEN, ERSP_IU_LEN,
    ZERO_RSP_LEN,
};

use crate::fcloop::fabric::FabricTarget;
use crate::fcloop::faults::{FcpFault, FcpInfo};
use crate::fcloop::lldd::Inner;
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
struct Route {
    token: LlddRport,
    target: Arc<FabricTarget>,
    conn_id: u64,
    conn: Option<Arc<Connection>>,
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

fn done(tag: u16, status: FcpStatus) -> FcpDone {
    FcpDone {
        tag,
        status,
        transferred: 0,
        rsp_len: 0,
        rsp: [0; ERSP_IU_LEN],
    }
}

fn outcome_done(tag: u16, outcome: &FcpOutcome) -> FcpDone {
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
    pub(crate) fn new(inner: Arc<Inner<M>>, qidx: u16, qsize: u16) -> Self {
        // Room for every tag twice: aborted exchanges may wait for a poll while
        // their tags are already reused.
        let capacity = usize::from(qsize) * 2;
        let uid = inner.queue_uid();
        FcloopQueue {
            inner,
            qidx,
            uid,
            capacity,
            ring: VecDeque::with_capacity(capacity),
            side: Vec::with_capacity(capacity.min(64)),
            route: None,
        }
    }
}

/// Target and connection for a request, from the one-entry cache when the remote
/// port and connection id repeat (the normal case: a queue talks to one
/// connection). A free function so the caller keeps its other fields borrowable.
fn route<'r, M>(
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
        }
    }

    fn poll<F: FnMut(FcpDone)>(&mut self, budget: u32, mut f: F) -> u32 {
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
