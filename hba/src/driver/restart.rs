//! [`Hba::restart`]: the driver unloaded and loaded again on the same port
//! while applications keep their controllers, namespaces and queue pairs
//! (the transport's decoupling of namespace references from LLDD references).
//!
//! The old instance unregisters its ports; the transport makes the delete
//! callbacks as soon as no association is active, whatever handles the
//! application holds, and keeps the controllers suspended with their
//! requests held. The old instance then closes the doorbells of every queue
//! pair (threads owning one may keep polling: they only see transport
//! errors the transport holds and replays) and tears the port down. A new
//! instance with a new [`super::HbaLldd`] opens the same device with the
//! same settings; the login that follows in [`Hba::poll`] registers the same
//! WWNs again, and the controllers resume.

use std::time::Duration;

use ufc_transport::wwn::FcAddr;

use super::error::HbaError;
use super::Hba;

/// What one [`Hba::restart`] did, as offsets from its start on the port's
/// clock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestartReport {
    /// Remote ports unregistered from the transport.
    pub unregistered: Duration,
    /// Each remote port's `remoteport_delete` callback (WWNN, WWPN), when
    /// the driver saw it.
    pub rport_deleted: Vec<(FcAddr, Duration)>,
    /// The `localport_delete` callback.
    pub lport_deleted: Option<Duration>,
    /// The old instance fully down.
    pub shut_down: Duration,
    /// The new instance brought up (login follows in [`Hba::poll`]).
    pub opened: Duration,
}

impl Hba {
    /// Shuts the port down and opens it again on the same device, settings
    /// and transport (the seed's unload and reload, as one call).
    ///
    /// A failed step of the orderly shutdown is logged and does not stop the
    /// open, which resets the port anyway. `Err` when the open fails: the
    /// port is then shut down ([`super::HbaState::Shutdown`]). Counters carry
    /// over; [`super::HbaStats::restarts`] counts the calls that succeeded.
    pub fn restart(&mut self) -> Result<RestartReport, HbaError> {
        let clock = self.cfg.clock.clone();
        let t0 = clock.now();
        let (times, down) = self.shutdown_timed(t0);
        if let Err(e) = &down {
            log::warn!("{}: restart: shutdown: {e}", self.name);
        }
        let transport = self
            .reg
            .as_ref()
            .map(|r| std::sync::Arc::clone(&r.transport));
        let mut next = match Hba::open(self.device.clone(), self.cfg.clone(), transport) {
            Ok(h) => h,
            Err(e) => {
                self.note(&e);
                return Err(e);
            }
        };
        next.stats = self.stats;
        next.stats.restarts += 1;
        next.last_error = down.err().map(|e| e.to_string());
        // The old instance is shut down: dropping it does nothing more.
        *self = next;
        Ok(RestartReport {
            unregistered: times.unregistered,
            rport_deleted: times.rport_deleted,
            lport_deleted: times.lport_deleted,
            shut_down: times.shut_down,
            opened: clock.now().saturating_sub(t0),
        })
    }
}
