//! Local and remote ports, their registry, and the seed commit's
//! active-association accounting (nvme-fc.md §2.3, §2.4, §2.6).
//!
//! The transport only touches the LLDD on behalf of a controller while that
//! controller builds or holds an association. `RemotePort::act_ctrl_cnt` counts
//! such controllers, `LocalPort::act_rport_cnt` counts remote ports with a
//! non-zero count. An unregistered port gets its delete callback as soon as its
//! count is zero — not when the last namespace handle goes away.
//!
//! Deviation from Linux (documented in docs/design.md): every unregister owes
//! exactly one delete callback, even when the same WWNs are registered again
//! before the old count drained. Each registration is an epoch (the port's
//! `registrations` at the time); a controller's active mark records the epochs
//! it was counted under, the counts are kept per epoch, and an unregister's
//! callback is paid when *its* epoch's count reaches zero — associations of a
//! later registration do not hold it back.

mod local;
mod remote;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use local::LocalPort;
pub(crate) use remote::RemotePort;
pub use remote::DEFAULT_DEV_LOSS_TMO;

use crate::error::TransportError;
use crate::lldd::{Limits, Lldd, LocalPortId, PortInfo, RemotePortId};

/// Port state; the transport uses only these two of `nvme_fc_obj_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortState {
    /// Registered.
    Online,
    /// Unregistered; the object lives on while controllers reference it.
    Deleted,
}

/// The registrations a controller's association was counted under (§2.4
/// `ASSOC_ACTIVE`, stamped with the registration epochs of both ports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ActMark {
    /// `RemotePort::registrations` when the controller became active.
    pub rport_epoch: u64,
    /// `LocalPort::registrations` when the controller became active.
    pub lport_epoch: u64,
}

/// A delete callback to make once the management lock is released.
#[derive(Debug)]
pub(crate) enum DeleteCall<L> {
    Local(Arc<L>, LocalPortId),
    Remote(Arc<L>, RemotePortId),
}

impl<L: Lldd> DeleteCall<L> {
    /// Calls the LLDD. Must run with no transport lock held.
    pub fn call(self) {
        match self {
            DeleteCall::Local(lldd, id) => {
                log::info!("localport_delete {id:?}");
                lldd.localport_delete(id);
            }
            DeleteCall::Remote(lldd, id) => {
                log::info!("remoteport_delete {id:?}");
                lldd.remoteport_delete(id);
            }
        }
    }
}

/// Outcome of a remote port registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Registered {
    New,
    Revived,
}

/// Every port the transport knows.
#[derive(Debug)]
pub(crate) struct Registry<L> {
    pub lports: BTreeMap<LocalPortId, LocalPort<L>>,
    pub rports: BTreeMap<RemotePortId, RemotePort<L>>,
    next_lport: u32,
    next_rport: u32,
}

impl<L> Default for Registry<L> {
    fn default() -> Self {
        Registry {
            lports: BTreeMap::new(),
            rports: BTreeMap::new(),
            next_lport: 1,
            next_rport: 1,
        }
    }
}

fn check_info(info: &PortInfo) -> Result<(), TransportError> {
    let bad = |reason| TransportError::InvalidPortInfo {
        wwnn: info.node_name,
        wwpn: info.port_name,
        reason,
    };
    if info.node_name.0 == 0 || info.port_name.0 == 0 {
        return Err(bad("WWNN and WWPN must be non-zero"));
    }
    if info.port_id & 0xFF00_0000 != 0 {
        return Err(bad(
            "port_id is a 24-bit N_Port ID; the upper 8 bits must be zero",
        ));
    }
    Ok(())
}

fn check_limits(info: &PortInfo, l: &Limits) -> Result<(), TransportError> {
    let reason = if l.max_hw_queues == 0 {
        "max_hw_queues is 0"
    } else if l.max_sgl_segments == 0 {
        "max_sgl_segments is 0"
    } else if l.max_dif_sgl_segments == 0 {
        "max_dif_sgl_segments is 0"
    } else if l.dma_boundary == 0 {
        "dma_boundary is 0"
    } else {
        return Ok(());
    };
    Err(TransportError::InvalidLimits {
        wwnn: info.node_name,
        wwpn: info.port_name,
        reason,
    })
}

/// Count for `key` in a small per-epoch table.
fn epoch_count<K: PartialEq>(t: &[(K, u32)], key: K) -> u32 {
    t.iter().find(|(k, _)| *k == key).map_or(0, |(_, n)| *n)
}

/// Controllers counted under remote-port registration `epoch`.
fn rport_epoch_count(t: &[(ActMark, u32)], epoch: u64) -> u32 {
    t.iter()
        .filter(|(m, _)| m.rport_epoch == epoch)
        .map(|(_, n)| n)
        .sum()
}

/// Controllers counted under local-port registration `epoch`.
fn lport_epoch_count(t: &[(ActMark, u32)], epoch: u64) -> u32 {
    t.iter()
        .filter(|(m, _)| m.lport_epoch == epoch)
        .map(|(_, n)| n)
        .sum()
}

fn bump<K: PartialEq>(t: &mut Vec<(K, u32)>, key: K) {
    match t.iter_mut().find(|(k, _)| *k == key) {
        Some((_, n)) => *n += 1,
        None => t.push((key, 1)),
    }
}

/// Decrements `key`; false (and no change) if it was not counted.
fn unbump<K: PartialEq>(t: &mut Vec<(K, u32)>, key: K) -> bool {
    let Some(i) = t.iter().position(|(k, _)| *k == key) else {
        return false;
    };
    t[i].1 -= 1;
    if t[i].1 == 0 {
        t.swap_remove(i);
    }
    true
}

/// Hands every pending delete of `epoch` to `f`.
fn pay<L>(pending: &mut Vec<(u64, Arc<L>)>, epoch: u64, mut f: impl FnMut(Arc<L>)) {
    let mut i = 0;
    while i < pending.len() {
        if pending[i].0 == epoch {
            f(pending.remove(i).1);
        } else {
            i += 1;
        }
    }
}

impl<L: Lldd> Registry<L> {
    /// `nvme_fc_register_localport`: a DELETED port with the same WWNs is revived
    /// with the new LLDD instance (§2.6); an ONLINE one is refused.
    pub fn register_local(
        &mut self,
        info: &PortInfo,
        lldd: Arc<L>,
    ) -> Result<LocalPortId, TransportError> {
        check_info(info)?;
        let limits = lldd.limits();
        check_limits(info, &limits)?;
        if let Some(lp) = self
            .lports
            .values_mut()
            .find(|p| p.wwnn == info.node_name && p.wwpn == info.port_name)
        {
            if lp.state == PortState::Online {
                return Err(TransportError::LocalPortExists {
                    wwnn: lp.wwnn,
                    wwpn: lp.wwpn,
                });
            }
            lp.state = PortState::Online;
            lp.port_id = info.port_id;
            lp.roles = info.roles;
            lp.limits = limits;
            lp.lldd = Some(lldd);
            lp.registrations += 1;
            return Ok(lp.id);
        }
        let id = LocalPortId(self.next_lport);
        self.next_lport += 1;
        self.lports.insert(
            id,
            LocalPort {
                id,
                wwnn: info.node_name,
                wwpn: info.port_name,
                port_id: info.port_id,
                roles: info.roles,
                state: PortState::Online,
                limits,
                lldd: Some(lldd),
                act_rport_cnt: 0,
                act_by_epoch: Vec::new(),
                pending_deletes: Vec::new(),
                deletes_issued: 0,
                registrations: 1,
            },
        );
        Ok(id)
    }

    /// `nvme_fc_unregister_localport`: DELETED; `localport_delete` now if no
    /// remote port has an active controller, else when the count drains.
    pub fn unregister_local(
        &mut self,
        id: LocalPortId,
        calls: &mut Vec<DeleteCall<L>>,
    ) -> Result<(), TransportError> {
        let lp = self
            .lports
            .get_mut(&id)
            .ok_or(TransportError::NoSuchLocalPort(id))?;
        let lldd = match (lp.state, lp.lldd.take()) {
            (PortState::Online, Some(l)) => l,
            (_, lldd) => {
                lp.lldd = lldd;
                return Err(TransportError::LocalPortNotOnline {
                    wwnn: lp.wwnn,
                    wwpn: lp.wwpn,
                });
            }
        };
        lp.state = PortState::Deleted;
        let epoch = lp.registrations;
        if epoch_count(&lp.act_by_epoch, epoch) == 0 {
            lp.deletes_issued += 1;
            calls.push(DeleteCall::Local(lldd, id));
        } else {
            lp.pending_deletes.push((epoch, lldd));
        }
        Ok(())
    }

    /// `nvme_fc_register_remoteport`: revives a DELETED port with the same WWNs
    /// under this local port (new port_id, roles, token, dev_loss_tmo).
    pub fn register_remote(
        &mut self,
        lport: LocalPortId,
        info: &PortInfo,
    ) -> Result<(RemotePortId, Registered), TransportError> {
        check_info(info)?;
        let lp = self
            .lports
            .get(&lport)
            .ok_or(TransportError::NoSuchLocalPort(lport))?;
        let lldd = match (&lp.lldd, lp.state) {
            (Some(l), PortState::Online) => Arc::clone(l),
            _ => {
                return Err(TransportError::LocalPortNotOnline {
                    wwnn: lp.wwnn,
                    wwpn: lp.wwpn,
                })
            }
        };
        let dev_loss_tmo = info.dev_loss_tmo.unwrap_or(DEFAULT_DEV_LOSS_TMO);
        if let Some(rp) = self
            .rports
            .values_mut()
            .find(|r| r.lport == lport && r.wwnn == info.node_name && r.wwpn == info.port_name)
        {
            if rp.state == PortState::Online {
                return Err(TransportError::RemotePortExists {
                    wwnn: rp.wwnn,
                    wwpn: rp.wwpn,
                });
            }
            rp.state = PortState::Online;
            rp.port_id = info.port_id;
            rp.roles = info.roles;
            rp.token = info.lldd_token;
            rp.dev_loss_tmo = dev_loss_tmo;
            rp.dev_loss_end = None;
            rp.lldd = Some(lldd);
            rp.registrations += 1;
            return Ok((rp.id, Registered::Revived));
        }
        let id = RemotePortId(self.next_rport);
        self.next_rport += 1;
        self.rports.insert(
            id,
            RemotePort {
                id,
                lport,
                wwnn: info.node_name,
                wwpn: info.port_name,
                port_id: info.port_id,
                roles: info.roles,
                state: PortState::Online,
                dev_loss_tmo,
                dev_loss_end: None,
                token: info.lldd_token,
                lldd: Some(lldd),
                act_ctrl_cnt: 0,
                act_by_mark: Vec::new(),
                pending_deletes: Vec::new(),
                deletes_issued: 0,
                registrations: 1,
                bound_ctrls: 0,
            },
        );
        Ok((id, Registered::New))
    }

    /// `nvme_fc_unregister_remoteport`, port part: DELETED, `dev_loss_end` set,
    /// `remoteport_delete` now if no controller is active. The caller handles the
    /// controllers (connectivity loss) and outstanding LSs.
    pub fn unregister_remote(
        &mut self,
        id: RemotePortId,
        now: Duration,
        calls: &mut Vec<DeleteCall<L>>,
    ) -> Result<(), TransportError> {
        let rp = self
            .rports
            .get_mut(&id)
            .ok_or(TransportError::NoSuchRemotePort(id))?;
        let lldd = match (rp.state, rp.lldd.take()) {
            (PortState::Online, Some(l)) => l,
            (_, lldd) => {
                rp.lldd = lldd;
                return Err(TransportError::RemotePortNotOnline {
                    wwnn: rp.wwnn,
                    wwpn: rp.wwpn,
                });
            }
        };
        rp.state = PortState::Deleted;
        rp.dev_loss_end = Some(now + rp.dev_loss_tmo);
        let epoch = rp.registrations;
        if rport_epoch_count(&rp.act_by_mark, epoch) == 0 {
            rp.deletes_issued += 1;
            calls.push(DeleteCall::Remote(lldd, id));
        } else {
            rp.pending_deletes.push((epoch, lldd));
        }
        Ok(())
    }

    /// `nvme_fc_set_remoteport_devloss`: only while ONLINE.
    pub fn set_devloss(&mut self, id: RemotePortId, tmo: Duration) -> Result<(), TransportError> {
        let rp = self
            .rports
            .get_mut(&id)
            .ok_or(TransportError::NoSuchRemotePort(id))?;
        if rp.state != PortState::Online {
            return Err(TransportError::RemotePortNotOnline {
                wwnn: rp.wwnn,
                wwpn: rp.wwpn,
            });
        }
        rp.dev_loss_tmo = tmo;
        Ok(())
    }

    /// `nvme_fc_ctlr_active_on_rport`, counting part: the caller has checked
    /// that the port is ONLINE. Returns the mark the controller keeps until
    /// [`Registry::ctrl_inactive`]; `None` for an unknown port (nothing counted).
    pub fn ctrl_active(&mut self, id: RemotePortId) -> Option<ActMark> {
        let Some(rp) = self.rports.get_mut(&id) else {
            log::error!("active-association count for unknown remote port {id:?}");
            return None;
        };
        let lp = self.lports.get_mut(&rp.lport);
        let mark = ActMark {
            rport_epoch: rp.registrations,
            lport_epoch: lp.as_ref().map_or(0, |l| l.registrations),
        };
        let first_for_lport_epoch = lport_epoch_count(&rp.act_by_mark, mark.lport_epoch) == 0;
        bump(&mut rp.act_by_mark, mark);
        rp.act_ctrl_cnt += 1;
        if let Some(lp) = lp {
            if rp.act_ctrl_cnt == 1 {
                lp.act_rport_cnt += 1;
            }
            if first_for_lport_epoch {
                bump(&mut lp.act_by_epoch, mark.lport_epoch);
            }
        }
        Some(mark)
    }

    /// `nvme_fc_ctlr_inactive_on_rport`: the caller has cleared the controller's
    /// active mark. Pays the delete callbacks of the registrations whose count
    /// reaches zero.
    pub fn ctrl_inactive(
        &mut self,
        id: RemotePortId,
        mark: ActMark,
        calls: &mut Vec<DeleteCall<L>>,
    ) {
        let Some(rp) = self.rports.get_mut(&id) else {
            log::error!("inactive-association count for unknown remote port {id:?}");
            return;
        };
        if rp.act_ctrl_cnt == 0 || !unbump(&mut rp.act_by_mark, mark) {
            log::error!("remote port {id:?}: act_ctrl_cnt underflow for {mark:?} refused");
            return;
        }
        rp.act_ctrl_cnt -= 1;
        if rport_epoch_count(&rp.act_by_mark, mark.rport_epoch) == 0 {
            pay(&mut rp.pending_deletes, mark.rport_epoch, |lldd| {
                rp.deletes_issued += 1;
                calls.push(DeleteCall::Remote(lldd, id));
            });
        }
        let rport_idle = rp.act_ctrl_cnt == 0;
        let lport_epoch_idle = lport_epoch_count(&rp.act_by_mark, mark.lport_epoch) == 0;
        let Some(lp) = self.lports.get_mut(&rp.lport) else {
            return;
        };
        if rport_idle {
            if lp.act_rport_cnt == 0 {
                log::error!("local port {:?}: act_rport_cnt underflow refused", lp.id);
            } else {
                lp.act_rport_cnt -= 1;
            }
        }
        if lport_epoch_idle {
            if !unbump(&mut lp.act_by_epoch, mark.lport_epoch) {
                log::error!(
                    "local port {:?}: epoch {} count underflow refused",
                    lp.id,
                    mark.lport_epoch
                );
            }
            if epoch_count(&lp.act_by_epoch, mark.lport_epoch) == 0 {
                let lid = lp.id;
                pay(&mut lp.pending_deletes, mark.lport_epoch, |lldd| {
                    lp.deletes_issued += 1;
                    calls.push(DeleteCall::Local(lldd, lid));
                });
            }
        }
    }

    /// Frees unregistered ports nothing refers to any more (Linux: last kref).
    pub fn collect_garbage(&mut self) {
        self.rports.retain(|_, r| {
            r.state == PortState::Online
                || r.act_ctrl_cnt != 0
                || !r.pending_deletes.is_empty()
                || r.bound_ctrls != 0
        });
        let rports = &self.rports;
        self.lports.retain(|id, l| {
            l.state == PortState::Online
                || l.act_rport_cnt != 0
                || !l.pending_deletes.is_empty()
                || rports.values().any(|r| r.lport == *id)
        });
    }

    /// Finds a local port by WWNs.
    pub fn find_local(
        &self,
        wwnn: crate::wwn::Wwn,
        wwpn: crate::wwn::Wwn,
    ) -> Option<&LocalPort<L>> {
        self.lports
            .values()
            .find(|p| p.wwnn == wwnn && p.wwpn == wwpn)
    }

    /// Finds a remote port by WWNs under a local port.
    pub fn find_remote(
        &self,
        lport: LocalPortId,
        wwnn: crate::wwn::Wwn,
        wwpn: crate::wwn::Wwn,
    ) -> Option<&RemotePort<L>> {
        self.rports
            .values()
            .find(|r| r.lport == lport && r.wwnn == wwnn && r.wwpn == wwpn)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::lldd::*;
    use crate::wwn::Wwn;
    use std::sync::Mutex;

    /// A recording LLDD for unit tests: counts delete callbacks; its queues and
    /// LSs do nothing.
    #[derive(Debug, Default)]
    pub(crate) struct RecLldd {
        pub deleted: Mutex<Vec<String>>,
    }

    #[derive(Debug)]
    pub(crate) struct NullQueue;

    impl HwQueue for NullQueue {
        fn submit(&mut self, _req: &FcpReq<'_>) -> Result<(), SubmitError> {
            Err(SubmitError::Failed)
        }
        fn flush(&mut self) {}
        fn abort(&mut self, _tag: u16) {}
        fn poll<F: FnMut(FcpDone)>(&mut self, _budget: u32, _f: F) -> u32 {
            0
        }
    }

    impl Lldd for RecLldd {
        type HwQueue = NullQueue;
        fn limits(&self) -> Limits {
            Limits {
                max_hw_queues: 4,
                max_sgl_segments: 256,
                max_dif_sgl_segments: 256,
                dma_boundary: 0xFFFF_FFFF,
            }
        }
        fn create_queue(&self, _: LocalPortId, _: u16, _: u16) -> Result<NullQueue, LlddError> {
            Err(LlddError::NoResources("test LLDD has no queues".into()))
        }
        fn ls_req(&self, _: LocalPortId, _: LsReq) -> Result<(), LlddError> {
            Err(LlddError::PortUnavailable("test LLDD sends no LS".into()))
        }
        fn ls_abort(&self, _: LocalPortId, _: u64) {}
        fn xmt_ls_rsp(&self, _: LocalPortId, _: u64, _: &[u8]) {}
        fn poll_ls(&self, _: LocalPortId, _: &mut dyn FnMut(LsEvent)) {}
        fn localport_delete(&self, lport: LocalPortId) {
            self.deleted.lock().unwrap().push(format!("L{}", lport.0));
        }
        fn remoteport_delete(&self, rport: RemotePortId) {
            self.deleted.lock().unwrap().push(format!("R{}", rport.0));
        }
    }

    pub(crate) fn info(n: u64, port_id: u32) -> PortInfo {
        PortInfo {
            node_name: Wwn(0x2000_0000_0000_0000 | n),
            port_name: Wwn(0x1000_0000_0000_0000 | n),
            port_id,
            roles: PortRoles::INITIATOR,
            dev_loss_tmo: None,
            lldd_token: LlddRport(n),
        }
    }

    fn run(calls: &mut Vec<DeleteCall<RecLldd>>) {
        for c in calls.drain(..) {
            c.call();
        }
    }

    fn log(l: &RecLldd) -> Vec<String> {
        l.deleted.lock().unwrap().clone()
    }

    #[test]
    fn idle_ports_are_deleted_at_unregister() {
        let lldd = Arc::new(RecLldd::default());
        let mut reg = Registry::default();
        let mut calls = Vec::new();
        let lp = reg.register_local(&info(1, 0x10100), lldd.clone()).unwrap();
        let (rp, how) = reg.register_remote(lp, &info(2, 0x10200)).unwrap();
        assert_eq!(how, Registered::New);
        assert_eq!(reg.rports[&rp].dev_loss_tmo, DEFAULT_DEV_LOSS_TMO);
        reg.unregister_remote(rp, Duration::ZERO, &mut calls)
            .unwrap();
        run(&mut calls);
        assert_eq!(log(&lldd), vec![format!("R{}", rp.0)]);
        reg.unregister_local(lp, &mut calls).unwrap();
        run(&mut calls);
        assert_eq!(log(&lldd).len(), 2);
        reg.collect_garbage();
        assert!(reg.lports.is_empty() && reg.rports.is_empty());
    }

    #[test]
    fn busy_ports_are_deleted_when_the_count_drains() {
        let lldd = Arc::new(RecLldd::default());
        let mut reg = Registry::default();
        let mut calls = Vec::new();
        let lp = reg.register_local(&info(1, 1), lldd.clone()).unwrap();
        let (r1, _) = reg.register_remote(lp, &info(2, 2)).unwrap();
        let (r2, _) = reg.register_remote(lp, &info(3, 3)).unwrap();
        let m1 = reg.ctrl_active(r1).unwrap();
        let m1b = reg.ctrl_active(r1).unwrap();
        let m2 = reg.ctrl_active(r2).unwrap();
        assert_eq!(reg.rports[&r1].act_ctrl_cnt, 2);
        assert_eq!(reg.lports[&lp].act_rport_cnt, 2);
        reg.unregister_remote(r1, Duration::from_secs(5), &mut calls)
            .unwrap();
        reg.unregister_remote(r2, Duration::from_secs(5), &mut calls)
            .unwrap();
        reg.unregister_local(lp, &mut calls).unwrap();
        assert!(calls.is_empty());
        assert_eq!(reg.rports[&r1].dev_loss_end, Some(Duration::from_secs(65)));
        reg.ctrl_inactive(r1, m1, &mut calls);
        assert!(calls.is_empty(), "one controller of r1 is still active");
        reg.ctrl_inactive(r1, m1b, &mut calls);
        run(&mut calls);
        assert_eq!(log(&lldd), vec![format!("R{}", r1.0)]);
        assert_eq!(reg.lports[&lp].act_rport_cnt, 1);
        reg.ctrl_inactive(r2, m2, &mut calls);
        run(&mut calls);
        assert_eq!(
            log(&lldd),
            vec![
                format!("R{}", r1.0),
                format!("R{}", r2.0),
                format!("L{}", lp.0)
            ]
        );
        // Underflow is refused, not wrapped.
        reg.ctrl_inactive(r2, m2, &mut calls);
        assert!(calls.is_empty());
        assert_eq!(reg.rports[&r2].act_ctrl_cnt, 0);
    }

    #[test]
    fn double_registration_and_unregistration_are_refused() {
        let lldd = Arc::new(RecLldd::default());
        let mut reg = Registry::default();
        let mut calls = Vec::new();
        let lp = reg.register_local(&info(1, 1), lldd.clone()).unwrap();
        let e = reg.register_local(&info(1, 1), lldd.clone()).unwrap_err();
        assert!(matches!(e, TransportError::LocalPortExists { .. }), "{e}");
        let (rp, _) = reg.register_remote(lp, &info(2, 2)).unwrap();
        let e = reg.register_remote(lp, &info(2, 2)).unwrap_err();
        assert!(matches!(e, TransportError::RemotePortExists { .. }), "{e}");
        assert!(e.to_string().contains("0x1000000000000002"), "{e}");
        reg.unregister_remote(rp, Duration::ZERO, &mut calls)
            .unwrap();
        let e = reg
            .unregister_remote(rp, Duration::ZERO, &mut calls)
            .unwrap_err();
        assert!(matches!(e, TransportError::RemotePortNotOnline { .. }));
        assert!(reg.set_devloss(rp, Duration::from_secs(1)).is_err());
        reg.unregister_local(lp, &mut calls).unwrap();
        assert!(reg.unregister_local(lp, &mut calls).is_err());
        assert!(matches!(
            reg.register_remote(lp, &info(9, 9)),
            Err(TransportError::LocalPortNotOnline { .. })
        ));
        run(&mut calls);
        assert_eq!(log(&lldd).len(), 2, "exactly one callback per unregister");
    }

    #[test]
    fn bad_port_info_and_limits_are_refused() {
        let mut reg: Registry<RecLldd> = Registry::default();
        let lldd = Arc::new(RecLldd::default());
        let mut bad = info(1, 1);
        bad.port_id = 0x0100_0000;
        let e = reg.register_local(&bad, lldd.clone()).unwrap_err();
        assert!(e.to_string().contains("24-bit"), "{e}");
        let mut bad = info(1, 1);
        bad.port_name = Wwn(0);
        assert!(reg.register_local(&bad, lldd).is_err());
    }

    #[test]
    fn reregistration_revives_the_same_objects() {
        let old = Arc::new(RecLldd::default());
        let new = Arc::new(RecLldd::default());
        let mut reg = Registry::default();
        let mut calls = Vec::new();
        let lp = reg.register_local(&info(1, 1), old.clone()).unwrap();
        let (rp, _) = reg.register_remote(lp, &info(2, 2)).unwrap();
        reg.unregister_remote(rp, Duration::ZERO, &mut calls)
            .unwrap();
        reg.unregister_local(lp, &mut calls).unwrap();
        run(&mut calls);
        assert_eq!(log(&old).len(), 2);
        // A controller still references the remote port: it is not freed.
        reg.rports.get_mut(&rp).unwrap().bound_ctrls = 1;
        reg.collect_garbage();
        let lp2 = reg.register_local(&info(1, 0x20), new.clone()).unwrap();
        assert_eq!(lp2, lp);
        assert_eq!(reg.lports[&lp].port_id, 0x20);
        assert_eq!(reg.lports[&lp].registrations, 2);
        let mut i = info(2, 0x30);
        i.dev_loss_tmo = Some(Duration::from_secs(7));
        i.lldd_token = LlddRport(77);
        let (rp2, how) = reg.register_remote(lp, &i).unwrap();
        assert_eq!((rp2, how), (rp, Registered::Revived));
        let r = &reg.rports[&rp];
        assert_eq!(
            (r.port_id, r.dev_loss_tmo, r.token, r.state),
            (
                0x30,
                Duration::from_secs(7),
                LlddRport(77),
                PortState::Online
            )
        );
        assert!(Arc::ptr_eq(r.lldd.as_ref().unwrap(), &new));
    }

    #[test]
    fn reregistration_before_zero_still_pays_the_old_callback_once() {
        let old = Arc::new(RecLldd::default());
        let new = Arc::new(RecLldd::default());
        let mut reg = Registry::default();
        let mut calls = Vec::new();
        let lp = reg.register_local(&info(1, 1), old.clone()).unwrap();
        let (rp, _) = reg.register_remote(lp, &info(2, 2)).unwrap();
        let m = reg.ctrl_active(rp).unwrap();
        reg.unregister_remote(rp, Duration::ZERO, &mut calls)
            .unwrap();
        reg.unregister_local(lp, &mut calls).unwrap();
        assert!(calls.is_empty());
        // The new LLDD instance comes back before the old association ended.
        reg.register_local(&info(1, 1), new.clone()).unwrap();
        reg.register_remote(lp, &info(2, 2)).unwrap();
        reg.ctrl_inactive(rp, m, &mut calls);
        run(&mut calls);
        // Linux would issue nothing here (state is ONLINE again); we pay the old
        // registration's callbacks to the old instance, exactly once each.
        assert_eq!(log(&old), vec![format!("R{}", rp.0), format!("L{}", lp.0)]);
        assert!(log(&new).is_empty());
        assert_eq!(reg.rports[&rp].deletes_issued, 1);
        // The new registration gets its own callback at its own unregister.
        let m = reg.ctrl_active(rp).unwrap();
        reg.ctrl_inactive(rp, m, &mut calls);
        assert!(calls.is_empty());
        reg.unregister_remote(rp, Duration::ZERO, &mut calls)
            .unwrap();
        reg.unregister_local(lp, &mut calls).unwrap();
        run(&mut calls);
        assert_eq!(log(&new).len(), 2);
        assert_eq!(log(&old).len(), 2);
    }

    #[test]
    fn old_registration_is_paid_while_a_new_association_is_active() {
        let old = Arc::new(RecLldd::default());
        let new = Arc::new(RecLldd::default());
        let mut reg = Registry::default();
        let mut calls = Vec::new();
        let lp = reg.register_local(&info(1, 1), old.clone()).unwrap();
        let (rp, _) = reg.register_remote(lp, &info(2, 2)).unwrap();
        let c1 = reg.ctrl_active(rp).unwrap();
        reg.unregister_remote(rp, Duration::ZERO, &mut calls)
            .unwrap();
        reg.unregister_local(lp, &mut calls).unwrap();
        reg.register_local(&info(1, 1), new.clone()).unwrap();
        reg.register_remote(lp, &info(2, 2)).unwrap();
        // c2 connects on the new registrations before c1's teardown ends.
        let c2 = reg.ctrl_active(rp).unwrap();
        assert_ne!(c1, c2);
        assert_eq!(reg.rports[&rp].act_ctrl_cnt, 2);
        assert_eq!(reg.lports[&lp].act_rport_cnt, 1);
        reg.ctrl_inactive(rp, c1, &mut calls);
        run(&mut calls);
        assert_eq!(log(&old), vec![format!("R{}", rp.0), format!("L{}", lp.0)]);
        assert_eq!(reg.rports[&rp].pending_deletes.len(), 0);
        assert_eq!(reg.lports[&lp].pending_deletes.len(), 0);
        assert_eq!(reg.rports[&rp].act_ctrl_cnt, 1, "c2 still counted");
        assert_eq!(reg.lports[&lp].act_rport_cnt, 1);
        // The new registration's callbacks wait for c2.
        reg.unregister_remote(rp, Duration::ZERO, &mut calls)
            .unwrap();
        reg.unregister_local(lp, &mut calls).unwrap();
        assert!(calls.is_empty());
        reg.ctrl_inactive(rp, c2, &mut calls);
        run(&mut calls);
        assert_eq!(log(&new), vec![format!("R{}", rp.0), format!("L{}", lp.0)]);
        assert_eq!(log(&old).len(), 2);
        assert_eq!(reg.lports[&lp].act_rport_cnt, 0);
    }
}
