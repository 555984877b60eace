//! `Transport<L>`: the registration API for the LLDD, `connect`, the
//! management poll and the stats.
//!
//! All management state sits behind one mutex, taken only by these calls, never
//! by I/O. Delete callbacks are collected under it and made after it is released.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::Clock;
use crate::ctrl::assoc::PendingLsRsp;
use crate::ctrl::entry::{CtrlEntry, Ctx};
use crate::ctrl::options::ConnectOptions;
use crate::ctrl::state::CtrlState;
use crate::ctrl::{Controller, CtrlShared};
use crate::error::TransportError;
use crate::lldd::{Lldd, LocalPortId, LsEvent, PortInfo, RemotePortId};
use crate::port::{DeleteCall, PortState, Registered, Registry};
use crate::qpair::link::ToQpair;
use crate::qpair::{IoQpair, QpairParams};
use crate::stats::{CtrlStats, LocalPortStats, RemotePortStats, TransportStats};
use crate::wire::ls::ls_cmd;
use crate::wire::{encode_ls_rjt, NvmeStatus, RcvDisconnectAssoc, RjtExplanation, RjtReason};

/// `FC_DEF_R_A_TOV`.
pub const R_A_TOV: Duration = Duration::from_secs(10);

/// Transport-wide settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportConfig {
    /// How long teardown waits for aborted exchanges and quiescing queue pairs
    /// (default 2 × R_A_TOV). Queue pairs get half of it for their own aborts.
    pub teardown_bound: Duration,
    /// Timeout put into every LS request (2 × R_A_TOV; the LLDD enforces it).
    pub ls_timeout: Duration,
    /// Timeout of admin commands during association build.
    pub admin_timeout: Duration,
    /// Data segments per I/O request a queue pair accepts (further capped by the
    /// LLDD's `max_sgl_segments`).
    pub max_io_sgl: u16,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            teardown_bound: 2 * R_A_TOV,
            ls_timeout: 2 * R_A_TOV,
            admin_timeout: Duration::from_secs(60),
            max_io_sgl: 32,
        }
    }
}

struct Mgmt<L: Lldd> {
    reg: Registry<L>,
    ctrls: BTreeMap<u64, CtrlEntry<L>>,
    next_uid: u64,
    next_ls_tag: u64,
}

/// The NVMe/FC host transport.
pub struct Transport<L: Lldd> {
    clock: Clock,
    cfg: TransportConfig,
    mgmt: Mutex<Mgmt<L>>,
}

impl<L: Lldd> std::fmt::Debug for Transport<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("clock", &self.clock)
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl<L: Lldd> Transport<L> {
    /// A transport with default settings.
    pub fn new(clock: Clock) -> Arc<Self> {
        Self::with_config(clock, TransportConfig::default())
    }

    /// A transport with explicit settings.
    pub fn with_config(clock: Clock, cfg: TransportConfig) -> Arc<Self> {
        Arc::new(Transport {
            clock,
            cfg,
            mgmt: Mutex::new(Mgmt {
                reg: Registry::default(),
                ctrls: BTreeMap::new(),
                next_uid: 1,
                next_ls_tag: 0,
            }),
        })
    }

    /// The clock every timer reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The settings.
    pub fn config(&self) -> &TransportConfig {
        &self.cfg
    }

    fn lock(&self) -> MutexGuard<'_, Mgmt<L>> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.mgmt.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(calls: Vec<DeleteCall<L>>) {
        for c in calls {
            c.call();
        }
    }

    /// Runs `f` on one controller with a management context; the lock is held,
    /// delete callbacks are made after it is released.
    fn with_ctrl<R>(
        &self,
        uid: u64,
        f: impl FnOnce(&mut CtrlEntry<L>, &mut Ctx<'_, L>) -> R,
    ) -> Result<R, TransportError> {
        let mut calls = Vec::new();
        let r = {
            let mut g = self.lock();
            let m = &mut *g;
            let Some(mut e) = m.ctrls.remove(&uid) else {
                return Err(TransportError::ControllerDeleted(format!("ctrl{uid}")));
            };
            let max_hw = max_hw_queues(&m.reg, e.lport);
            let mut ctx = Ctx {
                now: self.clock.now(),
                reg: &mut m.reg,
                calls: &mut calls,
                cfg: &self.cfg,
                next_ls_tag: &mut m.next_ls_tag,
                limits_max_hw_queues: max_hw,
            };
            let r = f(&mut e, &mut ctx);
            e.drive(&mut ctx);
            finish_entry(m, uid, e);
            r
        };
        Self::run(calls);
        Ok(r)
    }

    /// `nvme_fc_register_localport`. Registering the WWNs of an unregistered
    /// local port revives it with the new LLDD instance (§2.6).
    pub fn register_localport(
        &self,
        info: PortInfo,
        lldd: Arc<L>,
    ) -> Result<LocalPortId, TransportError> {
        let id = self.lock().reg.register_local(&info, lldd)?;
        log::info!(
            "local port nn-{}:pn-{} registered as {id:?} (port_id {:#08x})",
            info.node_name,
            info.port_name,
            info.port_id
        );
        Ok(id)
    }

    /// `nvme_fc_unregister_localport`: `localport_delete` is called before this
    /// returns if no remote port has an active controller, else as soon as the
    /// last one's association ends.
    pub fn unregister_localport(&self, id: LocalPortId) -> Result<(), TransportError> {
        let mut calls = Vec::new();
        self.lock().reg.unregister_local(id, &mut calls)?;
        Self::run(calls);
        Ok(())
    }

    /// `nvme_fc_register_remoteport`. The WWNs of an unregistered remote port
    /// revive it (new port_id, roles, token, dev_loss_tmo) and its waiting
    /// controllers reconnect at once (§2.6).
    pub fn register_remoteport(
        &self,
        lport: LocalPortId,
        info: PortInfo,
    ) -> Result<RemotePortId, TransportError> {
        let now = self.clock.now();
        let mut g = self.lock();
        let (id, how) = g.reg.register_remote(lport, &info)?;
        if how == Registered::Revived {
            for e in g.ctrls.values_mut().filter(|e| e.rport == id) {
                e.resume(now);
            }
        }
        log::info!(
            "remote port nn-{}:pn-{} {} as {id:?} (port_id {:#08x})",
            info.node_name,
            info.port_name,
            if how == Registered::Revived {
                "re-registered"
            } else {
                "registered"
            },
            info.port_id
        );
        Ok(id)
    }

    /// `nvme_fc_unregister_remoteport`: DELETED, dev_loss_tmo starts, live
    /// associations are torn down; `remoteport_delete` is called before this
    /// returns if no controller is active, else when the last association ends.
    pub fn unregister_remoteport(&self, id: RemotePortId) -> Result<(), TransportError> {
        let mut calls = Vec::new();
        {
            let mut g = self.lock();
            let m = &mut *g;
            let now = self.clock.now();
            m.reg.unregister_remote(id, now, &mut calls)?;
            let dev_loss_tmo = m
                .reg
                .rports
                .get(&id)
                .map_or(Duration::ZERO, |r| r.dev_loss_tmo);
            let uids: Vec<u64> = m
                .ctrls
                .iter()
                .filter(|(_, e)| e.rport == id)
                .map(|(k, _)| *k)
                .collect();
            for uid in uids {
                let Some(mut e) = m.ctrls.remove(&uid) else {
                    continue;
                };
                let max_hw = max_hw_queues(&m.reg, e.lport);
                let mut ctx = Ctx {
                    now,
                    reg: &mut m.reg,
                    calls: &mut calls,
                    cfg: &self.cfg,
                    next_ls_tag: &mut m.next_ls_tag,
                    limits_max_hw_queues: max_hw,
                };
                e.connectivity_loss(&mut ctx, dev_loss_tmo);
                finish_entry(m, uid, e);
            }
        }
        Self::run(calls);
        Ok(())
    }

    /// `nvme_fc_set_remoteport_devloss` (ONLINE only; zero is allowed).
    pub fn set_remoteport_devloss(
        &self,
        id: RemotePortId,
        tmo: Duration,
    ) -> Result<(), TransportError> {
        self.lock().reg.set_devloss(id, tmo)
    }

    /// Creates a controller and starts connecting; returns at once in
    /// CONNECTING. Progress happens in [`Transport::poll`].
    pub fn connect(
        self: &Arc<Self>,
        opts: ConnectOptions,
    ) -> Result<Controller<L>, TransportError> {
        opts.validate()?;
        let now = self.clock.now();
        let mut g = self.lock();
        let m = &mut *g;
        let lport = m
            .reg
            .find_local(opts.host_traddr.wwnn, opts.host_traddr.wwpn)
            .filter(|l| l.state == PortState::Online)
            .map(|l| l.id)
            .ok_or(TransportError::NoLocalPort(opts.host_traddr))?;
        let rport = m
            .reg
            .find_remote(lport, opts.traddr.wwnn, opts.traddr.wwpn)
            .filter(|r| r.state == PortState::Online)
            .map(|r| r.id)
            .ok_or(TransportError::NoRemotePort {
                host: opts.host_traddr,
                traddr: opts.traddr,
            })?;
        let uid = m.next_uid;
        m.next_uid += 1;
        let name = format!("ctrl{uid} ({} at {})", opts.subnqn, opts.traddr);
        let shared = Arc::new(CtrlShared::new(uid, name));
        let mut e = CtrlEntry::new(Arc::clone(&shared), opts, lport, rport);
        e.begin(now);
        if let Some(r) = m.reg.rports.get_mut(&rport) {
            r.bound_ctrls += 1;
        }
        m.ctrls.insert(uid, e);
        Ok(Controller::new(Arc::clone(self), shared))
    }

    /// One management pass: LS completions and received LSs, association build
    /// and teardown steps, keep-alive, timers. Returns the amount of work done
    /// (0 = nothing happened).
    pub fn poll(&self) -> usize {
        let now = self.clock.now();
        let mut calls = Vec::new();
        let mut work = 0;
        {
            let mut g = self.lock();
            let m = &mut *g;
            // LS events, from every LLDD instance still owed something.
            let mut events = Vec::new();
            for lp in m.reg.lports.values() {
                let mut insts: Vec<Arc<L>> = Vec::new();
                for l in lp
                    .lldd
                    .iter()
                    .chain(lp.pending_deletes.iter().map(|(_, l)| l))
                {
                    if !insts.iter().any(|i| Arc::ptr_eq(i, l)) {
                        insts.push(Arc::clone(l));
                    }
                }
                for inst in insts {
                    inst.poll_ls(lp.id, &mut |e| events.push((lp.id, Arc::clone(&inst), e)));
                }
            }
            work += events.len();
            for (lport, inst, ev) in events {
                self.handle_ls_event(m, now, &mut calls, lport, &inst, ev);
            }
            let uids: Vec<u64> = m.ctrls.keys().copied().collect();
            for uid in uids {
                let Some(mut e) = m.ctrls.remove(&uid) else {
                    continue;
                };
                let max_hw = max_hw_queues(&m.reg, e.lport);
                let mut ctx = Ctx {
                    now,
                    reg: &mut m.reg,
                    calls: &mut calls,
                    cfg: &self.cfg,
                    next_ls_tag: &mut m.next_ls_tag,
                    limits_max_hw_queues: max_hw,
                };
                if e.drive(&mut ctx) {
                    work += 1;
                }
                finish_entry(m, uid, e);
            }
            m.reg.collect_garbage();
        }
        work += calls.len();
        Self::run(calls);
        work
    }

    fn handle_ls_event(
        &self,
        m: &mut Mgmt<L>,
        now: Duration,
        calls: &mut Vec<DeleteCall<L>>,
        lport: LocalPortId,
        inst: &Arc<L>,
        ev: LsEvent,
    ) {
        match ev {
            LsEvent::Done { tag, result } => {
                for e in m.ctrls.values_mut() {
                    if let Some(a) = e.assoc.as_mut() {
                        if a.ls_tag.is_some_and(|(t, _)| t == tag) {
                            a.ls_result = Some(result);
                            return;
                        }
                    }
                }
                // Fire-and-forget Disconnect, or an LS of a finished attempt.
            }
            LsEvent::Received {
                rport,
                xchg,
                payload,
            } => {
                let online = m
                    .reg
                    .rports
                    .get(&rport)
                    .is_some_and(|r| r.state == PortState::Online && r.lport == lport);
                let code = payload.first().copied().unwrap_or(0);
                let reject = |reason| encode_ls_rjt(code, reason, RjtExplanation::NONE);
                // §3.7: a port that is not ONLINE gets "unable to perform"
                // before the payload is looked at; then validate, find the
                // association, defer the ACC to teardown.
                if !online {
                    inst.xmt_ls_rsp(lport, xchg, &reject(RjtReason::UNAB));
                    return;
                }
                let rsp = match RcvDisconnectAssoc::decode(&payload) {
                    Err(rjt) => rjt.encode(),
                    Ok(d) => {
                        let uid = m.ctrls.iter().find_map(|(k, e)| {
                            (e.rport == rport
                                && e.assoc
                                    .as_ref()
                                    .is_some_and(|a| a.association_id == d.association_id))
                            .then_some(*k)
                        });
                        match uid {
                            None => reject(RjtReason::INV_ASSOC),
                            Some(uid) => {
                                self.target_disconnect(m, now, calls, uid, xchg, inst, lport);
                                return;
                            }
                        }
                    }
                };
                inst.xmt_ls_rsp(lport, xchg, &rsp);
            }
        }
    }

    /// A valid Disconnect Association for a controller's association: park the
    /// ACC until teardown and recover (§3.7).
    #[allow(clippy::too_many_arguments)]
    fn target_disconnect(
        &self,
        m: &mut Mgmt<L>,
        now: Duration,
        calls: &mut Vec<DeleteCall<L>>,
        uid: u64,
        xchg: u64,
        inst: &Arc<L>,
        lport: LocalPortId,
    ) {
        let Some(mut e) = m.ctrls.remove(&uid) else {
            return;
        };
        if let Some(a) = e.assoc.as_mut() {
            let pending = PendingLsRsp {
                inst: Arc::clone(inst),
                lport,
                xchg,
            };
            // A second Disconnect replaces the first, which is rejected (§3.7).
            if let Some(old) = a.rcv_disconn.replace(pending) {
                old.send(&encode_ls_rjt(
                    ls_cmd::DISCONN_ASSOC,
                    RjtReason::UNAB,
                    RjtExplanation::NONE,
                ));
            }
        }
        e.counters.target_disconnects += 1;
        let max_hw = max_hw_queues(&m.reg, e.lport);
        let mut ctx = Ctx {
            now,
            reg: &mut m.reg,
            calls,
            cfg: &self.cfg,
            next_ls_tag: &mut m.next_ls_tag,
            limits_max_hw_queues: max_hw,
        };
        e.error_recovery(&mut ctx, "target sent Disconnect Association");
        finish_entry(m, uid, e);
    }

    pub(crate) fn alloc_io_qpair(&self, uid: u64) -> Result<IoQpair<L::HwQueue>, TransportError> {
        let mut g = self.lock();
        let m = &mut *g;
        let e = m
            .ctrls
            .get_mut(&uid)
            .ok_or_else(|| TransportError::ControllerDeleted(format!("ctrl{uid}")))?;
        if matches!(e.state(), CtrlState::Deleting | CtrlState::Deleted) {
            return Err(TransportError::ControllerDeleted(e.name().to_owned()));
        }
        if e.ioq_count == 0 {
            return Err(TransportError::NoIoQueue {
                ctrl: e.name().to_owned(),
                reason:
                    "no I/O queues negotiated yet; poll the transport until the controller is live",
            });
        }
        let n = usize::from(e.ioq_count).min(e.links.len());
        let Some(idx) = e.links[..n].iter().position(|s| !s.claimed) else {
            return Err(TransportError::NoIoQueue {
                ctrl: e.name().to_owned(),
                reason: "every I/O queue has a queue pair; drop one first",
            });
        };
        let max_sgl = m
            .reg
            .lports
            .get(&e.lport)
            .map_or(1, |l| l.limits.max_sgl_segments)
            .min(self.cfg.max_io_sgl);
        let slot = &mut e.links[idx];
        slot.claimed = true;
        slot.link.set_released(false);
        let qp = IoQpair::new(
            Arc::clone(&slot.link),
            self.clock.clone(),
            QpairParams {
                ctrl_uid: uid,
                depth: e.opts.queue_size - 1,
                max_sge: max_sgl,
                io_timeout: e.opts.io_timeout,
                abort_bound: self.cfg.teardown_bound / 2,
            },
        );
        if e.failfast_fired && e.state() == CtrlState::Connecting {
            e.links[idx].send(ToQpair::FailHeld {
                status: NvmeStatus::HOST_PATH_ERROR,
            });
        }
        if e.state() == CtrlState::Live {
            e.attach_links();
        }
        Ok(qp)
    }

    pub(crate) fn reset_ctrl(&self, uid: u64) -> Result<(), TransportError> {
        self.with_ctrl(uid, |e, ctx| {
            e.reset(ctx);
        })
    }

    pub(crate) fn delete_ctrl(&self, uid: u64) -> Result<(), TransportError> {
        self.with_ctrl(uid, |e, ctx| e.delete(ctx, "deleted by the application"))
    }

    /// Ports, seed counters and controllers.
    pub fn stats(&self) -> TransportStats {
        let g = self.lock();
        let lports = g
            .reg
            .lports
            .values()
            .map(|l| LocalPortStats {
                id: l.id,
                wwnn: l.wwnn,
                wwpn: l.wwpn,
                port_id: l.port_id,
                state: l.state,
                act_rport_cnt: l.act_rport_cnt,
                deletes_pending: l.pending_deletes.len(),
                deletes_issued: l.deletes_issued,
                registrations: l.registrations,
            })
            .collect();
        let rports = g
            .reg
            .rports
            .values()
            .map(|r| RemotePortStats {
                id: r.id,
                lport: r.lport,
                wwnn: r.wwnn,
                wwpn: r.wwpn,
                port_id: r.port_id,
                state: r.state,
                act_ctrl_cnt: r.act_ctrl_cnt,
                dev_loss_tmo: r.dev_loss_tmo,
                deletes_pending: r.pending_deletes.len(),
                deletes_issued: r.deletes_issued,
                registrations: r.registrations,
                controllers: r.bound_ctrls,
            })
            .collect();
        let ctrls = g
            .ctrls
            .iter()
            .map(|(uid, e)| CtrlStats {
                uid: *uid,
                name: e.name().to_owned(),
                traddr: e.opts.traddr,
                host_traddr: e.opts.host_traddr,
                subnqn: e.opts.subnqn.clone(),
                state: e.state(),
                assoc_active: e.act_mark.is_some(),
                nr_reconnects: e.nr_reconnects,
                max_reconnects: e.max_reconnects,
                association_id: e.assoc.as_ref().map_or(0, |a| a.association_id),
                cntlid: e.assoc.as_ref().map_or(0, |a| a.cntlid),
                io_queues: e.ioq_count,
                qpairs_claimed: e.links.iter().filter(|s| s.claimed).count(),
                counters: e.counters,
            })
            .collect();
        TransportStats {
            lports,
            rports,
            ctrls,
        }
    }

    /// Runs [`Transport::poll`] every `interval` on a helper thread until the
    /// handle is dropped. Optional: applications may call `poll` themselves.
    pub fn spawn_poller(self: &Arc<Self>, interval: Duration) -> std::io::Result<PollerHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let t = Arc::clone(self);
        let s = Arc::clone(&stop);
        let join = std::thread::Builder::new()
            .name("ufc-mgmt".into())
            .spawn(move || {
                while !s.load(Ordering::Acquire) {
                    t.poll();
                    std::thread::sleep(interval);
                }
            })?;
        Ok(PollerHandle {
            stop,
            join: Some(join),
        })
    }
}

fn max_hw_queues<L: Lldd>(reg: &Registry<L>, lport: LocalPortId) -> u16 {
    reg.lports.get(&lport).map_or(1, |l| l.limits.max_hw_queues)
}

/// Puts a driven controller back, or drops it when DELETED.
fn finish_entry<L: Lldd>(m: &mut Mgmt<L>, uid: u64, e: CtrlEntry<L>) {
    if e.state() == CtrlState::Deleted {
        if let Some(r) = m.reg.rports.get_mut(&e.rport) {
            r.bound_ctrls = r.bound_ctrls.saturating_sub(1);
        }
        return;
    }
    m.ctrls.insert(uid, e);
}

/// Stops the management poller thread when dropped.
#[derive(Debug)]
pub struct PollerHandle {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl Drop for PollerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::tests::{info, RecLldd};
    use crate::wwn::FcAddr;

    fn addr(n: u64) -> FcAddr {
        let i = info(n, 0);
        FcAddr {
            wwnn: i.node_name,
            wwpn: i.port_name,
        }
    }

    fn opts(extra: &str) -> ConnectOptions {
        let s = format!(
            "traddr={},host_traddr={},nqn=nqn.2024-01.io.ufc:t{extra}",
            addr(2),
            addr(1)
        );
        ConnectOptions::parse(&s).unwrap()
    }

    #[test]
    fn connect_needs_online_ports_and_names_them() {
        let (clock, _) = Clock::manual();
        let t = Transport::new(clock);
        let e = t.connect(opts("")).unwrap_err().to_string();
        assert!(
            e.contains(&addr(1).to_string()) && e.contains("host_traddr"),
            "{e}"
        );
        let lldd = Arc::new(RecLldd::default());
        let lp = t.register_localport(info(1, 1), lldd).unwrap();
        let e = t.connect(opts("")).unwrap_err().to_string();
        assert!(
            e.contains(&addr(2).to_string()) && e.contains("traddr"),
            "{e}"
        );
        let rp = t.register_remoteport(lp, info(2, 2)).unwrap();
        t.unregister_remoteport(rp).unwrap();
        assert!(matches!(
            t.connect(opts("")),
            Err(TransportError::NoRemotePort { .. })
        ));
    }

    #[test]
    fn failed_attempts_count_and_end_at_ctrl_loss() {
        let (clock, hand) = Clock::manual();
        let t = Transport::new(clock);
        let lldd = Arc::new(RecLldd::default());
        let lp = t.register_localport(info(1, 1), lldd.clone()).unwrap();
        let rp = t.register_remoteport(lp, info(2, 2)).unwrap();
        // max_reconnects = 6 / 2 = 3 attempts (the first connect counts).
        let c = t.connect(opts(",ctrl_loss_tmo=6")).unwrap();
        assert_eq!(c.state(), CtrlState::Connecting);
        // The test LLDD has no queues: every attempt fails at create_queue(0).
        t.poll();
        let s = t.stats();
        let cs = s.ctrl(c.uid()).unwrap();
        assert_eq!((cs.nr_reconnects, cs.assoc_active), (1, false));
        assert_eq!(
            s.rport(rp).unwrap().act_ctrl_cnt,
            0,
            "failure undid the count"
        );
        assert_eq!(s.lport(lp).unwrap().act_rport_cnt, 0);
        hand.advance(Duration::from_millis(1999));
        t.poll();
        assert_eq!(t.stats().ctrl(c.uid()).unwrap().nr_reconnects, 1);
        hand.advance(Duration::from_millis(1));
        t.poll();
        assert_eq!(t.stats().ctrl(c.uid()).unwrap().nr_reconnects, 2);
        hand.advance(Duration::from_secs(2));
        t.poll();
        assert_eq!(c.state(), CtrlState::Deleted, "third attempt failed at 4 s");
        assert!(t.stats().ctrl(c.uid()).is_none());
        assert!(c.alloc_io_qpair().is_err());
        assert_eq!(t.stats().rport(rp).unwrap().controllers, 0);
        assert!(lldd.deleted.lock().unwrap().is_empty());
    }

    /// Review item 7: an attempt refused because the controller is already
    /// marked active (-ENOTUNIQ) still schedules the next one, and deleting
    /// the controller at ctrl_loss_tmo clears the mark.
    #[test]
    fn already_active_attempt_keeps_reconnecting_until_ctrl_loss() {
        let (clock, hand) = Clock::manual();
        let t = Transport::new(clock);
        let lldd = Arc::new(RecLldd::default());
        let lp = t.register_localport(info(1, 1), lldd.clone()).unwrap();
        let rp = t.register_remoteport(lp, info(2, 2)).unwrap();
        let c = t.connect(opts(",ctrl_loss_tmo=6")).unwrap();
        t.poll();
        assert_eq!(t.stats().ctrl(c.uid()).unwrap().nr_reconnects, 1);
        {
            // A mark left behind (the state -ENOTUNIQ guards against).
            let mut g = t.lock();
            let m = &mut *g;
            let mark = m.reg.ctrl_active(rp);
            m.ctrls.get_mut(&c.uid()).unwrap().act_mark = mark;
        }
        hand.advance(Duration::from_secs(2));
        t.poll();
        let cs = t.stats().ctrl(c.uid()).cloned().unwrap();
        assert_eq!((cs.nr_reconnects, cs.state), (2, CtrlState::Connecting));
        hand.advance(Duration::from_secs(2));
        t.poll();
        assert_eq!(c.state(), CtrlState::Deleted, "third attempt at 4 s");
        assert_eq!(t.stats().rport(rp).unwrap().act_ctrl_cnt, 0);
        assert_eq!(t.stats().lport(lp).unwrap().act_rport_cnt, 0);
    }

    #[test]
    fn idle_unregister_deletes_at_once_and_dev_loss_ends_the_controller() {
        let (clock, hand) = Clock::manual();
        let t = Transport::new(clock);
        let lldd = Arc::new(RecLldd::default());
        let lp = t.register_localport(info(1, 1), lldd.clone()).unwrap();
        let rp = t.register_remoteport(lp, info(2, 2)).unwrap();
        t.set_remoteport_devloss(rp, Duration::from_secs(3))
            .unwrap();
        let c = t.connect(opts(",ctrl_loss_tmo=-1")).unwrap();
        t.poll();
        t.unregister_remoteport(rp).unwrap();
        assert_eq!(*lldd.deleted.lock().unwrap(), vec![format!("R{}", rp.0)]);
        assert!(t
            .set_remoteport_devloss(rp, Duration::from_secs(1))
            .is_err());
        assert!(t.unregister_remoteport(rp).is_err());
        for _ in 0..5 {
            hand.advance(Duration::from_secs(1));
            t.poll();
        }
        assert_eq!(c.state(), CtrlState::Deleted);
        assert!(
            t.stats().rports.is_empty(),
            "freed with its last controller"
        );
        t.unregister_localport(lp).unwrap();
        assert_eq!(lldd.deleted.lock().unwrap().len(), 2);
    }

    #[test]
    fn dev_loss_zero_deletes_controllers_immediately() {
        let (clock, _) = Clock::manual();
        let t = Transport::new(clock);
        let lldd = Arc::new(RecLldd::default());
        let lp = t.register_localport(info(1, 1), lldd).unwrap();
        let mut i = info(2, 2);
        i.dev_loss_tmo = Some(Duration::ZERO);
        let rp = t.register_remoteport(lp, i).unwrap();
        let c = t.connect(opts("")).unwrap();
        t.unregister_remoteport(rp).unwrap();
        assert_eq!(c.state(), CtrlState::Deleted);
    }

    #[test]
    fn poller_thread_stops_on_drop() {
        let t: Arc<Transport<RecLldd>> = Transport::new(Clock::monotonic());
        let h = t.spawn_poller(Duration::from_millis(1)).unwrap();
        drop(h);
        assert_eq!(Arc::strong_count(&t), 1);
    }

    /// An LLDD whose `poll_ls` hands out queued events and which records the
    /// responses the transport sends.
    #[derive(Debug, Default)]
    struct LsLldd {
        inbox: std::sync::Mutex<Vec<LsEvent>>,
        sent: std::sync::Mutex<Vec<(u64, Vec<u8>)>>,
    }

    impl Lldd for LsLldd {
        type HwQueue = crate::port::tests::NullQueue;
        fn limits(&self) -> crate::lldd::Limits {
            RecLldd::default().limits()
        }
        fn create_queue(
            &self,
            _: LocalPortId,
            _: u16,
            _: u16,
        ) -> Result<Self::HwQueue, crate::lldd::LlddError> {
            Err(crate::lldd::LlddError::NoResources("none".into()))
        }
        fn ls_req(
            &self,
            _: LocalPortId,
            _: crate::lldd::LsReq,
        ) -> Result<(), crate::lldd::LlddError> {
            Ok(())
        }
        fn ls_abort(&self, _: LocalPortId, _: u64) {}
        fn xmt_ls_rsp(&self, _: LocalPortId, xchg: u64, payload: &[u8]) {
            self.sent.lock().unwrap().push((xchg, payload.to_vec()));
        }
        fn poll_ls(&self, _: LocalPortId, sink: &mut dyn FnMut(LsEvent)) {
            let evs: Vec<LsEvent> = self.inbox.lock().unwrap().drain(..).collect();
            for e in evs {
                sink(e);
            }
        }
        fn localport_delete(&self, _: LocalPortId) {}
        fn remoteport_delete(&self, _: RemotePortId) {}
    }

    #[test]
    fn received_lss_get_the_section_3_7_rejects() {
        use crate::wire::encode_disconnect_assoc;
        let (clock, _) = Clock::manual();
        let t = Transport::new(clock);
        let lldd = Arc::new(LsLldd::default());
        let lp = t.register_localport(info(1, 1), lldd.clone()).unwrap();
        let rp = t.register_remoteport(lp, info(2, 2)).unwrap();
        let mut disc_conn = encode_disconnect_assoc(9);
        disc_conn[0] = 6;
        let cases: Vec<(RemotePortId, Vec<u8>, u8)> = vec![
            (rp, encode_disconnect_assoc(0x1234_0000), 0x40), // no such association
            (rp, encode_disconnect_assoc(9)[..20].to_vec(), 0x03), // malformed
            (rp, disc_conn, 0x0b),                            // Disconnect Connection
            (rp, vec![3; 64], 0x03),                          // Create Association: wrong direction
            (rp, vec![0x7e; 48], 0x01),                       // unknown LS
            (RemotePortId(99), encode_disconnect_assoc(9), 0x09), // unknown port
            // Port not online: refused before the payload is looked at.
            (
                RemotePortId(99),
                encode_disconnect_assoc(9)[..20].to_vec(),
                0x09,
            ),
            (RemotePortId(99), vec![0x7e; 48], 0x09),
        ];
        for (i, (rport, payload, _)) in cases.iter().enumerate() {
            lldd.inbox.lock().unwrap().push(LsEvent::Received {
                rport: *rport,
                xchg: i as u64,
                payload: payload.clone(),
            });
        }
        t.poll();
        let sent = lldd.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), cases.len());
        for (i, (_, _, reason)) in cases.iter().enumerate() {
            let (xchg, rsp) = &sent[i];
            assert_eq!(*xchg, i as u64);
            assert_eq!(rsp[0], 1, "case {i}: LS_RJT");
            assert_eq!(rsp[33], *reason, "case {i}: reason");
        }
    }
}
