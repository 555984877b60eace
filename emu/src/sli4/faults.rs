//! Fault injection into the SLI-4 model (issue 4, sli4.md §7, §10 step 15):
//! link down/up, firmware error with and without RN (RDY back after a
//! delay), a mailbox command that never completes, slow mailbox.
//!
//! [`Sli4Faults`] is a handle a test keeps after the model moved into its
//! `Device`. Link faults act on the fabric at once; the others are queued and
//! applied by the model at its next entry point (register access, doorbell or
//! poll), on the model's clock, so a test stays deterministic.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ufc_hba::sli4::regs::error_code;
use ufc_transport::wwn::Wwn;

use super::{Counters, Sli4Model, Sli4Stats};
use crate::fabric::{Fabric, FabricError};

/// A firmware error to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirmwareError {
    /// SLIPORT_ERROR1.
    pub error1: u32,
    /// SLIPORT_ERROR2.
    pub error2: u32,
    /// SLIPORT_STATUS.RN: a port reset (SLIPORT_CONTROL.IP) recovers.
    pub reset_needed: bool,
    /// With RN: RDY rises again (ERR and RN still set) this long after the
    /// error, and the host may reset the port.
    pub ready_after: Duration,
}

impl FirmwareError {
    /// The recoverable firmware restart of sli4.md §7.1: ERR+RN, ERROR1 0x2,
    /// ERROR2 0x0, RDY after `ready_after`.
    pub const fn restart(ready_after: Duration) -> FirmwareError {
        FirmwareError {
            error1: error_code::ERR1_FW_EVENT,
            error2: error_code::ERR2_FW_RESTART,
            reset_needed: true,
            ready_after,
        }
    }

    /// An unrecoverable error: ERR without RN, ERROR1 0x1 ("error code 1").
    pub const fn fatal() -> FirmwareError {
        FirmwareError {
            error1: error_code::ERR1_GENERIC,
            error2: 0,
            reset_needed: false,
            ready_after: Duration::ZERO,
        }
    }
}

/// A fault waiting for the model's next entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultCmd {
    Firmware(FirmwareError),
    HangNextMailbox,
    SlowMailbox(Option<Duration>),
}

/// State shared by the model and its [`Sli4Faults`] handles.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pending: AtomicBool,
    cmds: Mutex<Vec<FaultCmd>>,
    pub(crate) counters: Counters,
}

impl Shared {
    fn push(&self, c: FaultCmd) {
        // A panicked holder leaves a consistent Vec.
        self.cmds.lock().unwrap_or_else(|p| p.into_inner()).push(c);
        self.pending.store(true, Ordering::Release);
    }

    fn take(&self) -> Vec<FaultCmd> {
        if !self.pending.load(Ordering::Acquire) {
            return Vec::new();
        }
        self.pending.store(false, Ordering::Release);
        std::mem::take(&mut *self.cmds.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Fault injection and statistics of one [`Sli4Model`].
#[derive(Clone, Debug)]
pub struct Sli4Faults {
    shared: Arc<Shared>,
    fabric: Arc<Fabric>,
    wwpn: Wwn,
}

impl Sli4Faults {
    pub(crate) fn new(shared: Arc<Shared>, fabric: Arc<Fabric>, wwpn: Wwn) -> Sli4Faults {
        Sli4Faults {
            shared,
            fabric,
            wwpn,
        }
    }

    /// The port's link goes down (the fabric's link-down fault: logins end,
    /// RSCNs go out); the driver sees a link-down ACQE at the model's next poll.
    pub fn link_down(&self) -> Result<(), FabricError> {
        self.fabric.link_down(self.wwpn)
    }

    /// Ends [`Sli4Faults::link_down`]: a link-up ACQE follows if INIT_LINK was done.
    pub fn link_up(&self) -> Result<(), FabricError> {
        self.fabric.link_up(self.wwpn)
    }

    /// The firmware fails: SLIPORT_STATUS.ERR (+RN), the codes in ERROR1/2,
    /// the link drops, the BMBX, MQ and WQs stop; with RN, RDY returns after
    /// `ready_after` and SLIPORT_CONTROL.IP brings the port back empty.
    pub fn firmware_error(&self, e: FirmwareError) {
        self.shared.push(FaultCmd::Firmware(e));
    }

    /// The next mailbox command (BMBX or MQ) is consumed and never completes;
    /// later ones wait behind it until a port reset.
    pub fn hang_next_mailbox(&self) {
        self.shared.push(FaultCmd::HangNextMailbox);
    }

    /// Every mailbox command completes `delay` after submission on the
    /// model's clock (`None`: at once again).
    pub fn slow_mailbox(&self, delay: Option<Duration>) {
        self.shared.push(FaultCmd::SlowMailbox(delay));
    }

    /// The model's counters.
    pub fn stats(&self) -> Sli4Stats {
        self.shared.counters.snapshot()
    }
}

impl Sli4Model {
    /// Applies queued faults; true if any.
    pub(crate) fn apply_faults(&mut self) -> bool {
        let cmds = self.faults.take();
        let any = !cmds.is_empty();
        for c in cmds {
            match c {
                FaultCmd::Firmware(e) => {
                    log::info!(
                        "sli4 model: injected firmware error ERROR1={:#x} ERROR2={:#x} RN={}",
                        e.error1,
                        e.error2,
                        e.reset_needed
                    );
                    self.enter_error(e);
                }
                FaultCmd::HangNextMailbox => self.mbox_hang_next = true,
                FaultCmd::SlowMailbox(d) => self.mbox_delay = d,
            }
        }
        any
    }
}
