//! What fcperf runs on, seen from the run loop: a transport with an LLDD under
//! it, the subsystems it can reach, a DMA pool for data buffers, a management
//! poll, and the three steps every drill has (take the ports away, notice they
//! are gone, bring them back).
//!
//! Two implementations: [`crate::world::World`] (fcloop, no HBA) and
//! [`crate::hba_world::HbaWorld`] (the SLI-4 driver on the emulated HBA or on
//! a VFIO device).

use std::sync::Arc;
use std::time::Duration;

use ufc_transport::lldd::Lldd;
use ufc_transport::wwn::FcAddr;
use ufc_transport::{ConnectOptions, Controller, CtrlState, Transport};
use ufc_vfio::dma::DmaPool;

use crate::drill::DrillKind;
use crate::error::PerfError;

/// One subsystem reachable through a remote port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reachable {
    /// The target port.
    pub traddr: FcAddr,
    /// Subsystem NQN.
    pub subnqn: String,
}

/// A drill's first step, done.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Begun {
    /// Transport clock when the drill started.
    pub start: Duration,
    /// Unregister → `remoteport_delete`, when the first step already saw it.
    pub rport_delete: Option<Duration>,
    /// Transport clock when the ports were back (registered again or a new
    /// instance opened), when the first step already did that.
    pub back_at: Option<Duration>,
}

/// Progress of the delete step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Gone {
    /// Transport clock of the `remoteport_delete` callback, once seen.
    pub rport_deleted_at: Option<Duration>,
    /// Everything the drill takes away is gone: bring it back now.
    pub done: bool,
}

/// A transport, its LLDD and the fabric behind it.
pub trait Backend {
    /// The LLDD under the transport.
    type L: Lldd;
    /// The transport.
    fn transport(&self) -> &Arc<Transport<Self::L>>;
    /// fio's `ioengine` for the report.
    fn ioengine(&self) -> &'static str;
    /// Our port's names.
    fn host_addr(&self) -> FcAddr;
    /// Subsystems the run may connect to.
    fn reachable(&self) -> Vec<Reachable>;
    /// The CPU a device model thread is pinned to, if any.
    fn model_cpu(&self) -> Option<usize> {
        None
    }
    /// Data buffers for the jobs: device-visible memory.
    fn pool(&self) -> &Arc<DmaPool>;
    /// One management pass (driver and transport); off the I/O path.
    fn poll(&mut self) -> Result<usize, PerfError>;
    /// Drills this backend can run, and why not for the others.
    fn supports(&self, kind: DrillKind) -> Result<(), String>;
    /// Starts a drill: takes the ports away (or does the whole restart).
    fn drill_begin(&mut self, kind: DrillKind) -> Result<Begun, PerfError>;
    /// Whether what `drill_begin` took away is gone (delete callbacks seen).
    fn drill_gone(&mut self, kind: DrillKind, start: Duration) -> Gone;
    /// Brings the ports back; returns the transport clock then.
    fn drill_back(&mut self, kind: DrillKind) -> Result<Duration, PerfError>;
}

/// Connects `opts` and polls management until the controller is LIVE.
pub fn connect<B: Backend>(
    b: &mut B,
    opts: ConnectOptions,
    timeout: Duration,
) -> Result<Controller<B::L>, PerfError> {
    let c = b.transport().connect(opts)?;
    let clock = b.transport().clock().clone();
    let start = clock.now();
    while c.state() != CtrlState::Live {
        if b.poll()? == 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
        if clock.now() - start > timeout || c.state() == CtrlState::Deleted {
            return Err(PerfError::ConnectTimeout {
                name: c.name().to_owned(),
                waited: timeout,
                state: c.state().to_string(),
            });
        }
    }
    Ok(c)
}
