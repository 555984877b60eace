//! Orderly shutdown, and the fast path for a dead device.

use std::sync::Arc;
use std::time::Duration;

use ufc_transport::lldd::RemotePortId;
use ufc_transport::wwn::FcAddr;

use super::error::HbaError;
use super::{Hba, HbaState};

/// What a shutdown saw, as offsets on the port's clock from a start the
/// caller chose.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ShutdownTimes {
    /// Remote ports unregistered from the transport.
    pub unregistered: Duration,
    /// Each remote port's delete callback, when the driver saw it.
    pub rport_deleted: Vec<(FcAddr, Duration)>,
    /// The local port's delete callback.
    pub lport_deleted: Option<Duration>,
    /// Everything torn down.
    pub shut_down: Duration,
}

impl Hba {
    /// Orderly shutdown: unregister the remote and local ports from the
    /// transport and wait for their delete callbacks (the transport makes
    /// them as soon as no association is active, whatever application
    /// handles remain), close the doorbells of every FCP queue pair (lent
    /// out or not) and destroy their WQs and CQs, UNREG_RPI and LOGO to every
    /// target, UNREG_VFI, DOWN_LINK, UNREG_FCFI, destroy the queues. A dead
    /// or failed port skips everything that needs the device.
    pub fn shutdown(&mut self) -> Result<(), HbaError> {
        let t0 = self.cfg.clock.now();
        self.shutdown_timed(t0).1
    }

    /// [`Hba::shutdown`], timed from `t0`.
    pub(crate) fn shutdown_timed(&mut self, t0: Duration) -> (ShutdownTimes, Result<(), HbaError>) {
        let clock = self.cfg.clock.clone();
        let since = move || clock.now().saturating_sub(t0);
        let mut times = ShutdownTimes::default();
        if self.state == HbaState::Shutdown {
            times.shut_down = since();
            return (times, Ok(()));
        }
        let alive = self.port.as_ref().is_some_and(|p| p.check_status().is_ok());
        let mut first: Option<HbaError> = None;
        let waiter = self.waiter();
        // Transport first: nothing may start new work on ports being torn down.
        let pending: Vec<(RemotePortId, FcAddr)> = self
            .nodes
            .values_mut()
            .filter_map(|n| {
                let id = n.transport_id.take()?;
                Some((
                    id,
                    FcAddr {
                        wwnn: n.wwnn,
                        wwpn: n.wwpn,
                    },
                ))
            })
            .collect();
        let mut deleted = 0u64;
        if let Some(reg) = &mut self.reg {
            for (id, _) in &pending {
                if let Err(e) = reg.transport.unregister_remoteport(*id) {
                    log::warn!("{}: unregistering {id:?}: {e}", self.name);
                }
            }
            times.unregistered = since();
            let mut left = pending;
            let lldd = Arc::clone(&reg.lldd);
            let t = Arc::clone(&reg.transport);
            let ok = waiter.until(self.cfg.els_timeout, || {
                // Nothing is sent any more: associations being built end
                // now rather than at their LS timeout.
                lldd.fail_queued_ls();
                t.poll();
                left.retain(|(id, addr)| {
                    if lldd.take_rport_deleted(*id) {
                        times.rport_deleted.push((*addr, since()));
                        deleted += 1;
                        false
                    } else {
                        true
                    }
                });
                left.is_empty().then_some(())
            });
            if ok.is_none() {
                log::warn!(
                    "{}: remote port delete callbacks missing after {:?}",
                    self.name,
                    self.cfg.els_timeout
                );
            }
            if let Some(lport) = reg.lport.take() {
                if let Err(e) = t.unregister_localport(lport) {
                    log::warn!("{}: unregistering {lport:?}: {e}", self.name);
                }
                let ok = waiter.until(self.cfg.els_timeout, || {
                    lldd.fail_queued_ls();
                    t.poll();
                    lldd.take_lport_deleted(lport).then_some(())
                });
                match ok {
                    Some(()) => times.lport_deleted = Some(since()),
                    None => log::warn!("{}: local port delete callback missing", self.name),
                }
            }
        } else {
            times.unregistered = since();
        }
        self.stats.rport_deletes += deleted;
        // No owner thread rings an I/O doorbell after this; the queues of
        // every pair, lent out or not, are destroyed next.
        let io = self
            .reg
            .as_ref()
            .map(|r| r.lldd.close_io(&waiter, self.cfg.mailbox_timeout));
        if alive {
            if let (Some(port), Some(io)) = (self.port.as_mut(), io.as_ref()) {
                if let Err(e) = super::io_queue::destroy_io_queues(port, &io.queues) {
                    first.get_or_insert(e);
                }
            }
            if let Err(e) = self.logout_all() {
                first.get_or_insert(e);
            }
            if let Some(port) = self.port.as_mut() {
                use crate::sli4::cmds::fcfi::UnregFcfi;
                use crate::sli4::cmds::link::DownLink;
                if let Err(e) = port.mbox(&DownLink::new().to_mqe()) {
                    first.get_or_insert(e);
                }
                let mut u = UnregFcfi::new();
                u.set_fcfi(port.res.fcfi.into());
                if let Err(e) = port.mbox(&u.to_mqe()) {
                    first.get_or_insert(e);
                }
                if let Err(e) = port.destroy_queues() {
                    first.get_or_insert(e);
                }
            }
        }
        // The port no longer writes into the pairs' memory.
        if let Some(io) = io {
            io.finish();
        }
        if let Some(io) = self.retired_io.take() {
            io.finish();
        }
        self.nodes.clear();
        self.fabric = None;
        self.port = None;
        self.state = HbaState::Shutdown;
        times.shut_down = since();
        (times, first.map_or(Ok(()), Err))
    }
}

impl Drop for Hba {
    fn drop(&mut self) {
        if self.state != HbaState::Shutdown {
            if let Err(e) = self.shutdown() {
                log::warn!("{}: shutdown at drop: {e}", self.name);
            }
        }
    }
}
