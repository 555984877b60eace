//! Fault injection into the SLI-4 model (issue 4, sli4.md §7, §10 step 15):
//! link down/up, firmware error with and without RN (RDY back after a
//! delay), a mailbox command that never completes, slow mailbox; and on the
//! I/O path (issue 5): FCP commands the target never answers, target-initiated
//! ABTS (`target_abts`) and hostile completions (`hostile`); and the FCP
//! completion latency (`fcp_latency`), a knob rather than a fault.
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

use super::hostile::{Hostile, HostileConfig};
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
    DropNextFcp(u32),
    TargetAbtsNextFcp(u32),
    Hostile(Option<HostileConfig>),
    FcpLatency(Option<Duration>),
}

/// The I/O faults the model is armed with.
#[derive(Debug, Default)]
pub(crate) struct FcpFaults {
    /// FCP commands still to drop.
    pub(crate) drop_next: u32,
    /// FCP commands still to answer with a target ABTS.
    pub(crate) abts_next: u32,
    /// Hostile mode, while on.
    pub(crate) hostile: Option<Hostile>,
    /// The target's service time: FCP completions wait this long
    /// ([`Sli4Faults::set_fcp_latency`]).
    pub(crate) latency: Option<Duration>,
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

    /// The target never answers the next `n` FCP commands (FCP_IREAD64,
    /// FCP_IWRITE64, FCP_ICMND64 of any queue, admin included): no data moves,
    /// no response, no WCQE, until the driver aborts the exchange with
    /// ABORT_WQE; the model then completes it as any aborted exchange (status
    /// 0x03 / 0x16 "abort requested" with XB, the ABTS to the target, its
    /// BA_ACC, the XRI-aborted CQE). Adds to what is still armed. Counted in
    /// [`Sli4Stats::fcp_dropped`].
    pub fn drop_next_fcp(&self, n: u32) {
        self.shared.push(FaultCmd::DropNextFcp(n));
    }

    /// For the next `n` FCP commands the target sends an ABTS instead of
    /// answering: a BA_ABTS frame (R_CTL 0x81, TYPE 0x00, F_CTL exchange
    /// responder, OX_ID = the XRI, RX_ID = the target's exchange id, S_ID the
    /// target, D_ID us) arrives through the header/data RQ pair. The driver's
    /// XMIT_BLS_RSP with that OX_ID/RX_ID to the target ends it: BA_ACC
    /// completes the command with WCQE status 0x02 "remote stop", XB=0 (the
    /// status the model gives every exchange a target aborts); BA_RJT leaves it
    /// pending. Without an answer within 2 × R_A_TOV the ABTS expires and the
    /// command stays pending until the driver aborts it. Counted in
    /// [`Sli4Stats::abts_sent`], [`Sli4Stats::bls_responses`] and
    /// [`Sli4Stats::ba_rjts`].
    pub fn target_abts_next_fcp(&self, n: u32) {
        self.shared.push(FaultCmd::TargetAbtsNextFcp(n));
    }

    /// Hostile mode: one in every `cfg.every` FCP completions of I/O queues
    /// (and of the admin queue with `cfg.admin`) is corrupted
    /// (or accompanied by a corrupt entry) as [`HostileKind`](super::HostileKind)
    /// describes, deterministically from `cfg.seed`. Replaces an earlier
    /// configuration; counted in [`Sli4Stats::hostile_cqes`].
    pub fn hostile(&self, cfg: HostileConfig) {
        self.shared.push(FaultCmd::Hostile(Some(cfg)));
    }

    /// Ends hostile mode: completions are written as they are again.
    pub fn hostile_off(&self) {
        self.shared.push(FaultCmd::Hostile(None));
    }

    /// FCP completion latency from now on: FC-NVMe exchanges the target
    /// completes move their data when the WQE runs, but their WCQE (and ERSP)
    /// are posted only once `latency` has passed since the WQE ran on the
    /// model's clock, in submission order; until then the exchange is in
    /// flight, and an ABORT_WQE, a link down or a port reset ends it as any
    /// exchange in flight. `None` (or zero): completions are posted at once
    /// again; exchanges already waiting keep their due time. Applies to
    /// WQEs run after the model's next entry point.
    pub fn set_fcp_latency(&self, latency: Option<Duration>) {
        self.shared.push(FaultCmd::FcpLatency(latency));
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
                FaultCmd::DropNextFcp(n) => {
                    let f = &mut self.fcp_faults;
                    f.drop_next = f.drop_next.saturating_add(n);
                }
                FaultCmd::TargetAbtsNextFcp(n) => {
                    let f = &mut self.fcp_faults;
                    f.abts_next = f.abts_next.saturating_add(n);
                }
                FaultCmd::Hostile(cfg) => self.fcp_faults.hostile = cfg.map(Hostile::new),
                FaultCmd::FcpLatency(d) => self.fcp_faults.latency = d,
            }
        }
        any
    }
}
