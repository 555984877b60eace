//! `FcloopLldd`: the port template of fcloop (nvme-fc.md §6.1) and the control
//! helpers that mirror its `add_*`/`del_*` files (§6.2).
//!
//! LS requests are queued by `ls_req` and answered inside `poll_ls`, which also
//! runs the targets' timers and delivers target-initiated LSs (Disconnect
//! Association) as [`LsEvent::Received`]. No lock of ours is held while the
//! transport is called (registration, the `poll_ls` sink).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ufc_transport::lldd::{
    DmaBuffer, Limits, Lldd, LlddError, LlddRport, LocalPortId, LsError, LsEvent, LsReq, PortInfo,
    PortRoles, RemotePortId,
};
use ufc_transport::wwn::{FcAddr, Wwn};

use ufc_vfio::dma::{DmaPool, DmaView};

use crate::fcloop::dma::DmaAllocator;
use crate::fcloop::fabric::{FabricTarget, FcloopFabric};
use crate::fcloop::faults::LsFault;
use crate::fcloop::hwqueue::FcloopQueue;
use crate::fcloop::registry::PortRegistry;
use crate::fcloop::FcloopError;
use crate::host_memory::HostMemory;
use crate::target::ls;

/// Where the target runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// On the caller's thread, inside `HwQueue::submit`/`poll` and `Lldd::poll_ls`:
    /// one thread drives a deterministic test.
    #[default]
    Inline,
    /// FCP exchanges run on one worker thread per queue (LSs stay inline in
    /// `poll_ls`); completions arrive asynchronously, as from an HBA.
    Threaded,
}

/// A delete callback the transport made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeleteEvent {
    /// `localport_delete`.
    Local(LocalPortId),
    /// `remoteport_delete`.
    Remote(RemotePortId),
}

/// One entry of the delete log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeleteRecord {
    /// The callback.
    pub event: DeleteEvent,
    /// Fabric clock time of the call.
    pub at: Duration,
}

#[derive(Debug)]
struct LocalRec {
    addr: FcAddr,
}

#[derive(Debug)]
struct RemoteRec {
    lport: LocalPortId,
    target: FcAddr,
    token: LlddRport,
}

#[derive(Debug)]
struct PendingLs {
    lport: LocalPortId,
    tag: u64,
    target: FcAddr,
    payload: Vec<u8>,
    rsp_max: usize,
    started: Duration,
    timeout: Duration,
    aborted: bool,
    fault: Option<LsFault>,
}

#[derive(Debug)]
struct ReceivedLs {
    target: Arc<FabricTarget>,
    target_xchg: u64,
}

#[derive(Debug, Default)]
struct State {
    lports: HashMap<LocalPortId, LocalRec>,
    /// Registrations per remote port id, oldest first: the transport keeps the id
    /// across re-registration, and the delete callback of an older registration can
    /// come after the newer one started (docs/design.md).
    rports: HashMap<RemotePortId, Vec<RemoteRec>>,
    tokens: HashMap<LlddRport, FcAddr>,
    next_token: u64,
    ls: Vec<PendingLs>,
    received: HashMap<u64, ReceivedLs>,
    next_xchg: u64,
    deletes: Vec<DeleteRecord>,
}

pub(crate) struct Inner<M> {
    pub(crate) fabric: Arc<FcloopFabric>,
    pub(crate) mem: M,
    dma: Option<Arc<dyn DmaAllocator>>,
    mode: Mode,
    limits: Limits,
    state: Mutex<State>,
    next_queue_uid: AtomicU64,
}

impl<M> Inner<M> {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the maps consistent; a panicked holder cannot
        // leave half an update behind.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fabric target behind a remote-port token (cache miss path of a queue).
    pub(crate) fn resolve(&self, token: LlddRport) -> Option<Arc<FabricTarget>> {
        let target = *self.state().tokens.get(&token)?;
        self.fabric
            .lookup(target.wwpn)
            .filter(|t| t.port().addr() == target)
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    pub(crate) fn queue_uid(&self) -> u64 {
        self.next_queue_uid.fetch_add(1, Ordering::Relaxed)
    }
}

/// The fcloop LLDD; one value is one driver instance. Generic over the host memory
/// the target moves data through (the DMA view of the host's memory by default).
pub struct FcloopLldd<M = DmaView> {
    inner: Arc<Inner<M>>,
}

impl<M> std::fmt::Debug for FcloopLldd<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcloopLldd")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

/// Linux fcloop's limits, with more hardware queues so benchmarks can scale.
pub const DEFAULT_LIMITS: Limits = Limits {
    max_hw_queues: 16,
    max_sgl_segments: 256,
    max_dif_sgl_segments: 256,
    dma_boundary: 0xffff_ffff,
};

impl<M: HostMemory + Clone + 'static> FcloopLldd<M> {
    /// A new instance on `fabric`; the targets reach host data through
    /// `host_memory`. It has no memory for `alloc_dma`: use
    /// [`FcloopLldd::with_dma`] (or [`FcloopLldd::on_pool`]) when a transport
    /// will connect through it.
    pub fn new(fabric: Arc<FcloopFabric>, host_memory: M, mode: Mode) -> Arc<Self> {
        Self::with_limits(fabric, host_memory, mode, DEFAULT_LIMITS, None)
    }

    /// A new instance whose `alloc_dma` hands out buffers from `dma`, which must
    /// lie in `host_memory`.
    pub fn with_dma(
        fabric: Arc<FcloopFabric>,
        host_memory: M,
        mode: Mode,
        dma: Arc<dyn DmaAllocator>,
    ) -> Arc<Self> {
        Self::with_limits(fabric, host_memory, mode, DEFAULT_LIMITS, Some(dma))
    }

    /// Either of the above with other template limits.
    pub fn with_limits(
        fabric: Arc<FcloopFabric>,
        host_memory: M,
        mode: Mode,
        limits: Limits,
        dma: Option<Arc<dyn DmaAllocator>>,
    ) -> Arc<Self> {
        Arc::new(FcloopLldd {
            inner: Arc::new(Inner {
                fabric,
                mem: host_memory,
                dma,
                mode,
                limits,
                state: Mutex::new(State::default()),
                next_queue_uid: AtomicU64::new(1),
            }),
        })
    }

    /// The fabric.
    pub fn fabric(&self) -> &Arc<FcloopFabric> {
        &self.inner.fabric
    }

    /// `add_local_port`: registers an initiator port with the transport.
    pub fn add_local_port<R: PortRegistry<Self>>(
        self: &Arc<Self>,
        transport: &R,
        wwnn: Wwn,
        wwpn: Wwn,
        port_id: u32,
    ) -> Result<LocalPortId, FcloopError> {
        let addr = FcAddr { wwnn, wwpn };
        if wwnn.0 == 0 || wwpn.0 == 0 || port_id > 0x00ff_ffff {
            return Err(FcloopError::BadPort(format!(
                "local port {addr} port_id {port_id:#x}: WWNs must be non-zero and the port id 24 bits"
            )));
        }
        let info = PortInfo {
            node_name: wwnn,
            port_name: wwpn,
            port_id,
            roles: PortRoles::INITIATOR,
            dev_loss_tmo: None,
            lldd_token: LlddRport::default(),
        };
        let id = transport
            .register_localport(info, Arc::clone(self))
            .map_err(|e| FcloopError::Transport {
                what: format!("local port {addr}"),
                reason: e.to_string(),
            })?;
        self.inner.state().lports.insert(id, LocalRec { addr });
        Ok(id)
    }

    /// `add_remote_port`: registers, under `lport`, a remote port for the target
    /// port `target_wwnn`/`target_wwpn` (roles TARGET|DISCOVERY, port id from the
    /// target). `dev_loss_tmo` `None` is the transport default.
    pub fn add_remote_port<R: PortRegistry<Self>>(
        &self,
        transport: &R,
        lport: LocalPortId,
        target_wwnn: Wwn,
        target_wwpn: Wwn,
        dev_loss_tmo: Option<Duration>,
    ) -> Result<RemotePortId, FcloopError> {
        let target = FcAddr {
            wwnn: target_wwnn,
            wwpn: target_wwpn,
        };
        let port = self
            .inner
            .fabric
            .lookup(target_wwpn)
            .filter(|t| t.port().addr() == target)
            .ok_or_else(|| {
                FcloopError::NotFound(format!("target port {target} is not on the fabric"))
            })?;
        let token = {
            let mut st = self.inner.state();
            if !st.lports.contains_key(&lport) {
                return Err(FcloopError::NotFound(format!(
                    "local port {lport:?} is not registered by this fcloop instance"
                )));
            }
            st.next_token += 1;
            let token = LlddRport(st.next_token);
            st.tokens.insert(token, target);
            token
        };
        let info = PortInfo {
            node_name: target_wwnn,
            port_name: target_wwpn,
            port_id: port.port().port_id(),
            roles: PortRoles::TARGET.union(PortRoles::DISCOVERY),
            dev_loss_tmo,
            lldd_token: token,
        };
        match transport.register_remoteport(lport, info) {
            Ok(id) => {
                self.inner
                    .state()
                    .rports
                    .entry(id)
                    .or_default()
                    .push(RemoteRec {
                        lport,
                        target,
                        token,
                    });
                Ok(id)
            }
            Err(e) => {
                self.inner.state().tokens.remove(&token);
                Err(FcloopError::Transport {
                    what: format!("remote port {target} under {lport:?}"),
                    reason: e.to_string(),
                })
            }
        }
    }

    /// `del_remote_port`: unregisters; `remoteport_delete` follows when the
    /// transport is done with it.
    pub fn del_remote_port<R: PortRegistry<Self>>(
        &self,
        transport: &R,
        rport: RemotePortId,
    ) -> Result<(), FcloopError> {
        transport
            .unregister_remoteport(rport)
            .map_err(|e| FcloopError::Transport {
                what: format!("unregister remote port {rport:?}"),
                reason: e.to_string(),
            })
    }

    /// `del_local_port`: unregisters; `localport_delete` follows.
    pub fn del_local_port<R: PortRegistry<Self>>(
        &self,
        transport: &R,
        lport: LocalPortId,
    ) -> Result<(), FcloopError> {
        transport
            .unregister_localport(lport)
            .map_err(|e| FcloopError::Transport {
                what: format!("unregister local port {lport:?}"),
                reason: e.to_string(),
            })
    }

    /// Every delete callback so far, in call order.
    pub fn delete_events(&self) -> Vec<DeleteRecord> {
        self.inner.state().deletes.clone()
    }

    /// How many times `remoteport_delete(rport)` was called.
    pub fn remoteport_delete_count(&self, rport: RemotePortId) -> usize {
        self.count(DeleteEvent::Remote(rport))
    }

    /// How many times `localport_delete(lport)` was called.
    pub fn localport_delete_count(&self, lport: LocalPortId) -> usize {
        self.count(DeleteEvent::Local(lport))
    }

    fn count(&self, ev: DeleteEvent) -> usize {
        self.inner
            .state()
            .deletes
            .iter()
            .filter(|d| d.event == ev)
            .count()
    }

    /// LS requests started and not yet reported done.
    pub fn pending_ls(&self) -> usize {
        self.inner.state().ls.len()
    }
}

impl FcloopLldd<DmaView> {
    /// An instance whose host memory is `pool`'s region and whose `alloc_dma`
    /// allocates from `pool`: the usual setup for tests and benchmarks, which take
    /// their data buffers from the same pool.
    pub fn on_pool(fabric: Arc<FcloopFabric>, pool: &Arc<DmaPool>, mode: Mode) -> Arc<Self> {
        let view = DmaView::of(&[pool.memory()]);
        Self::with_dma(fabric, view, mode, Arc::new(Arc::clone(pool)))
    }
}

impl<M: HostMemory + Clone + 'static> Lldd for FcloopLldd<M> {
    type HwQueue = FcloopQueue<M>;

    fn limits(&self) -> Limits {
        self.inner.limits
    }

    fn create_queue(
        &self,
        lport: LocalPortId,
        qidx: u16,
        qsize: u16,
    ) -> Result<FcloopQueue<M>, LlddError> {
        if !self.inner.state().lports.contains_key(&lport) {
            return Err(LlddError::PortUnavailable(format!(
                "fcloop: local port {lport:?} is not registered by this instance"
            )));
        }
        if qsize == 0 {
            return Err(LlddError::Other(format!(
                "fcloop: queue {qidx} of {lport:?} has size 0"
            )));
        }
        FcloopQueue::new(Arc::clone(&self.inner), qidx, qsize, self.inner.mode).map_err(|e| {
            LlddError::NoResources(format!("fcloop: worker thread for queue {qidx}: {e}"))
        })
    }

    fn ls_req(&self, lport: LocalPortId, req: LsReq) -> Result<(), LlddError> {
        let now = self.inner.fabric.clock().now();
        let fault = self.inner.fabric.faults().take_ls_fault();
        let mut st = self.inner.state();
        if !st.lports.contains_key(&lport) {
            return Err(LlddError::PortUnavailable(format!(
                "fcloop: LS on unknown local port {lport:?}"
            )));
        }
        let target = *st.tokens.get(&req.rport).ok_or_else(|| {
            LlddError::PortUnavailable(format!(
                "fcloop: LS to unknown remote port token {:?}",
                req.rport
            ))
        })?;
        st.ls.push(PendingLs {
            lport,
            tag: req.tag,
            target,
            payload: req.payload,
            rsp_max: req.rsp_max,
            started: now,
            timeout: req.timeout,
            aborted: false,
            fault,
        });
        Ok(())
    }

    fn ls_abort(&self, lport: LocalPortId, tag: u64) {
        let mut st = self.inner.state();
        if let Some(p) = st.ls.iter_mut().find(|p| p.lport == lport && p.tag == tag) {
            p.aborted = true;
        }
    }

    fn xmt_ls_rsp(&self, _lport: LocalPortId, xchg: u64, payload: &[u8]) {
        let rcv = self.inner.state().received.remove(&xchg);
        if let Some(r) = rcv {
            if r.target.answering() {
                r.target.port().handle_ls_rsp(r.target_xchg, payload);
            }
        }
    }

    fn poll_ls(&self, lport: LocalPortId, sink: &mut dyn FnMut(LsEvent)) {
        let fabric = &self.inner.fabric;
        let now = fabric.clock().now();
        let latency = fabric.faults().latency();
        let mut events = Vec::new();
        {
            let mut st = self.inner.state();
            let host = st.lports.get(&lport).map(|l| l.addr);
            let mut i = 0;
            while i < st.ls.len() {
                let p = &st.ls[i];
                if p.lport != lport {
                    i += 1;
                    continue;
                }
                let target = fabric
                    .lookup(p.target.wwpn)
                    .filter(|t| t.port().addr() == p.target);
                let result = if p.aborted {
                    Some(Err(LsError::Aborted))
                } else if let Some(fault) = p.fault {
                    Some(match fault {
                        LsFault::Error(e) => Err(e),
                        LsFault::Reject {
                            reason,
                            explanation,
                        } => Ok(ls::reject_for_request(&p.payload, reason, explanation)),
                    })
                } else if let (Some(t), Some(host)) = (target.filter(|t| t.answering()), host) {
                    if now >= p.started.saturating_add(latency) {
                        let mut rsp = t.port().handle_ls(host, &p.payload);
                        rsp.truncate(p.rsp_max);
                        Some(Ok(rsp))
                    } else {
                        None
                    }
                } else if now >= p.started.saturating_add(p.timeout) {
                    Some(Err(LsError::Timeout))
                } else {
                    None
                };
                match result {
                    Some(result) => {
                        // remove, not swap_remove: LSs finishing together report in order.
                        let p = st.ls.remove(i);
                        events.push(LsEvent::Done { tag: p.tag, result });
                    }
                    None => i += 1,
                }
            }
            // Target side: timers, then LSs the targets send to this local port.
            if let Some(host) = host {
                let mut seen: Vec<(RemotePortId, FcAddr)> = st
                    .rports
                    .iter()
                    .filter_map(|(id, regs)| regs.last().map(|r| (*id, r)))
                    .filter(|(_, r)| r.lport == lport)
                    .map(|(id, r)| (id, r.target))
                    .collect();
                seen.sort_by_key(|(id, t)| (t.wwpn, t.wwnn, *id));
                seen.dedup_by_key(|(_, t)| *t);
                for (rport, taddr) in seen {
                    let Some(t) = fabric
                        .lookup(taddr.wwpn)
                        .filter(|t| t.port().addr() == taddr)
                    else {
                        continue;
                    };
                    if !t.answering() {
                        continue;
                    }
                    t.port().poll();
                    while let Some((target_xchg, payload)) = t.port().take_outgoing_ls(host) {
                        st.next_xchg += 1;
                        let xchg = st.next_xchg;
                        st.received.insert(
                            xchg,
                            ReceivedLs {
                                target: Arc::clone(&t),
                                target_xchg,
                            },
                        );
                        events.push(LsEvent::Received {
                            rport,
                            xchg,
                            payload,
                        });
                    }
                }
            }
        }
        // Lock released: the sink is the transport.
        for ev in events {
            sink(ev);
        }
    }

    fn alloc_dma(&self, lport: LocalPortId, len: usize) -> Result<Box<dyn DmaBuffer>, LlddError> {
        match &self.inner.dma {
            Some(a) => a.alloc(len),
            None => Err(LlddError::NoResources(format!(
                "fcloop: no DMA allocator for admin data of {lport:?}; build the LLDD with FcloopLldd::with_dma or on_pool"
            ))),
        }
    }

    fn localport_delete(&self, lport: LocalPortId) {
        let at = self.inner.fabric.clock().now();
        let mut st = self.inner.state();
        st.lports.remove(&lport);
        st.deletes.push(DeleteRecord {
            event: DeleteEvent::Local(lport),
            at,
        });
    }

    fn remoteport_delete(&self, rport: RemotePortId) {
        let at = self.inner.fabric.clock().now();
        let mut st = self.inner.state();
        if let Some(regs) = st.rports.get_mut(&rport) {
            if !regs.is_empty() {
                let old = regs.remove(0);
                st.tokens.remove(&old.token);
            }
            if st.rports.get(&rport).is_some_and(|r| r.is_empty()) {
                st.rports.remove(&rport);
            }
        }
        st.deletes.push(DeleteRecord {
            event: DeleteEvent::Remote(rport),
            at,
        });
    }
}
