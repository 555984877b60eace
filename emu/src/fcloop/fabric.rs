//! The in-memory fabric: target ports by WWPN, their reachability, the fault knobs
//! and the clock every LLDD instance on it uses. Shared (`Arc`) by all instances, so
//! a restarted LLDD finds the same targets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::clock::Clock;
use ufc_transport::wwn::{FcAddr, Wwn};

use crate::fcloop::faults::Faults;
use crate::fcloop::FcloopError;
use crate::target::port::TargetPort;
use crate::target::subsystem::Subsystem;

/// A target port as the fabric sees it.
#[derive(Debug)]
pub struct FabricTarget {
    port: Arc<TargetPort>,
    /// False once `del_target_port` took it away.
    present: AtomicBool,
    /// True while it answers nothing (keep-alive loss).
    silent: AtomicBool,
}

impl FabricTarget {
    /// The target model.
    pub fn port(&self) -> &Arc<TargetPort> {
        &self.port
    }

    /// Still on the fabric.
    #[inline]
    pub fn present(&self) -> bool {
        self.present.load(Ordering::Relaxed)
    }

    /// Present and answering.
    #[inline]
    pub fn answering(&self) -> bool {
        self.present() && !self.silent.load(Ordering::Relaxed)
    }
}

/// Target ports, knobs and clock.
#[derive(Debug)]
pub struct FcloopFabric {
    clock: Clock,
    faults: Faults,
    targets: Mutex<HashMap<Wwn, Arc<FabricTarget>>>,
}

impl FcloopFabric {
    /// An empty fabric whose latencies, LS timeouts and target keep-alive timers
    /// read `clock`.
    pub fn new(clock: Clock) -> Arc<Self> {
        Arc::new(FcloopFabric {
            clock,
            faults: Faults::default(),
            targets: Mutex::new(HashMap::new()),
        })
    }

    /// The fabric clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The fault knobs.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    fn targets(&self) -> std::sync::MutexGuard<'_, HashMap<Wwn, Arc<FabricTarget>>> {
        // The map stays consistent across a panicked holder: each insert/remove is one call.
        self.targets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `add_target_port`: a target port exposing `subsystems`.
    pub fn add_target_port(
        &self,
        wwnn: Wwn,
        wwpn: Wwn,
        port_id: u32,
        subsystems: Vec<Arc<Subsystem>>,
    ) -> Result<Arc<TargetPort>, FcloopError> {
        if wwnn.0 == 0 || wwpn.0 == 0 || port_id > 0x00ff_ffff {
            return Err(FcloopError::BadPort(format!(
                "target port nn-{wwnn}:pn-{wwpn} port_id {port_id:#x}: WWNs must be non-zero and the port id 24 bits"
            )));
        }
        let mut targets = self.targets();
        if targets.contains_key(&wwpn) {
            return Err(FcloopError::Exists(format!(
                "target port pn-{wwpn} is already on the fabric; del_target_port it first"
            )));
        }
        let port = TargetPort::new(
            FcAddr { wwnn, wwpn },
            port_id,
            subsystems,
            self.clock.clone(),
        );
        targets.insert(
            wwpn,
            Arc::new(FabricTarget {
                port: Arc::clone(&port),
                present: AtomicBool::new(true),
                silent: AtomicBool::new(false),
            }),
        );
        Ok(port)
    }

    /// `del_target_port`: takes the port off the fabric. Its exchanges fail with a
    /// transport error, LSs to it time out; remote ports pointing at it stay
    /// registered (as after a cable pull, before any RSCN).
    pub fn del_target_port(&self, wwpn: Wwn) -> Result<(), FcloopError> {
        let t = self.targets().remove(&wwpn).ok_or_else(|| {
            FcloopError::NotFound(format!("target port pn-{wwpn} is not on the fabric"))
        })?;
        t.present.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Makes a target port stop answering anything (`true`) or answer again.
    pub fn set_target_silent(&self, wwpn: Wwn, silent: bool) -> Result<(), FcloopError> {
        let t = self.lookup(wwpn).ok_or_else(|| {
            FcloopError::NotFound(format!("target port pn-{wwpn} is not on the fabric"))
        })?;
        t.silent.store(silent, Ordering::Relaxed);
        Ok(())
    }

    /// Makes the target port send Disconnect Association for every association it
    /// has (the host sees them at its next `poll_ls`); returns how many.
    pub fn disconnect_target(&self, wwpn: Wwn) -> Result<usize, FcloopError> {
        let t = self.lookup(wwpn).ok_or_else(|| {
            FcloopError::NotFound(format!("target port pn-{wwpn} is not on the fabric"))
        })?;
        Ok(t.port.disconnect_all())
    }

    /// The target model behind `wwpn`.
    pub fn target_port(&self, wwpn: Wwn) -> Option<Arc<TargetPort>> {
        self.lookup(wwpn).map(|t| Arc::clone(&t.port))
    }

    pub(crate) fn lookup(&self, wwpn: Wwn) -> Option<Arc<FabricTarget>> {
        self.targets().get(&wwpn).cloned()
    }
}
