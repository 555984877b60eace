//! Orderly shutdown, and the fast path for a dead device.

use std::sync::Arc;

use ufc_transport::lldd::RemotePortId;

use super::error::HbaError;
use super::wait::Waiter;
use super::{Hba, HbaState};

impl Hba {
    /// Orderly shutdown: unregister the remote and local ports from the
    /// transport and wait for their delete callbacks, UNREG_RPI and LOGO to
    /// every target, UNREG_VFI, DOWN_LINK, UNREG_FCFI, destroy the queues. A
    /// dead or failed port skips everything that needs the device.
    pub fn shutdown(&mut self) -> Result<(), HbaError> {
        if self.state == HbaState::Shutdown {
            return Ok(());
        }
        let alive = self.port.as_ref().is_some_and(|p| p.check_status().is_ok());
        let mut first: Option<HbaError> = None;
        // Transport first: nothing may start new work on ports being torn down.
        let pending: Vec<RemotePortId> = self
            .nodes
            .values_mut()
            .filter_map(|n| n.transport_id.take())
            .collect();
        if let Some(reg) = &mut self.reg {
            let waiter = Waiter {
                clock: self.cfg.clock.clone(),
                device: self.device.clone(),
                idle: Arc::clone(&self.cfg.idle),
            };
            for id in &pending {
                if let Err(e) = reg.transport.unregister_remoteport(*id) {
                    log::warn!("{}: unregistering {id:?}: {e}", self.name);
                }
            }
            let mut left = pending;
            let lldd = Arc::clone(&reg.lldd);
            let t = Arc::clone(&reg.transport);
            let ok = waiter.until(self.cfg.els_timeout, || {
                t.poll();
                left.retain(|id| !lldd.take_rport_deleted(*id));
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
                    t.poll();
                    lldd.take_lport_deleted(lport).then_some(())
                });
                if ok.is_none() {
                    log::warn!("{}: local port delete callback missing", self.name);
                }
            }
        }
        // I/O queues lent out stop using the rings now; the idle ones are
        // destroyed with the rest (the lent ones go with the next reset).
        let idle_io = self
            .reg
            .as_ref()
            .map(|r| r.lldd.retire_io())
            .unwrap_or_default();
        if alive {
            if let Some(port) = self.port.as_mut() {
                if let Err(e) = super::io_queue::destroy_io_rings(port, idle_io) {
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
        self.nodes.clear();
        self.fabric = None;
        self.port = None;
        self.state = HbaState::Shutdown;
        first.map_or(Ok(()), Err)
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
