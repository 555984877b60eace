//! The SLI port's bring-up registers (sli4.md §2.1-§2.5, §7): what
//! SLIPORT_SEMAPHORE, SLIPORT_STATUS and SLIPORT_ERROR1/2 read, as a function
//! of the port's phase. The phase changes on SLIPORT_CONTROL.IP (port reset),
//! PHYSDEV_CONTROL.FRST (firmware reset), injected firmware errors, and the
//! passage of time on the model's clock.

use std::time::Duration;

use ufc_hba::sli4::regs::{error_code, Semaphore, Status, SEMAPHORE_PORT_READY};

/// SLIPORT_SEMAPHORE port status while POST or a reset runs (an intermediate
/// POST stage, sli4.md §2.1: 0x0000-0x0C00).
const SEMAPHORE_POST_RUNNING: u32 = 0x0000;
/// SLIPORT_SEMAPHORE port status of an unrecoverable error ((v & 0xF000) == 0xF000).
const SEMAPHORE_POST_ERROR: u32 = 0xF000;

/// Where the port is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PortPhase {
    /// POST (power-on or after a firmware reset) or SLIPORT_CONTROL.IP runs;
    /// RDY rises at `ready_at`, never when `None`.
    Initializing { ready_at: Option<Duration> },
    /// RDY: the BMBX and the queues work.
    Ready,
    /// SLIPORT_STATUS.ERR. With `rn` (reset needed) the host recovers with
    /// SLIPORT_CONTROL.IP once RDY is back (`ready_at`, LPFC waits for
    /// ERR+RN+RDY); without `rn` only a chip reset helps and IP is ignored.
    Error {
        rn: bool,
        ready_at: Option<Duration>,
    },
}

/// The registers' state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PortRegs {
    pub(crate) phase: PortPhase,
    pub(crate) error1: u32,
    pub(crate) error2: u32,
}

impl PortRegs {
    pub(crate) fn new(phase: PortPhase) -> PortRegs {
        PortRegs {
            phase,
            error1: 0,
            error2: 0,
        }
    }

    /// Runs the phase's timer: true when RDY just rose.
    pub(crate) fn tick(&mut self, now: Duration) -> bool {
        match self.phase {
            PortPhase::Initializing { ready_at: Some(t) } if now >= t => {
                self.phase = PortPhase::Ready;
                true
            }
            PortPhase::Error {
                rn: true,
                ready_at: Some(t),
            } if now >= t => {
                // RDY rises with ERR and RN still set; IP clears them.
                self.phase = PortPhase::Error {
                    rn: true,
                    ready_at: Some(Duration::ZERO),
                };
                true
            }
            _ => false,
        }
    }

    /// True when the port executes commands (BMBX, MQ, WQ).
    pub(crate) fn is_ready(&self) -> bool {
        self.phase == PortPhase::Ready
    }

    /// True when SLIPORT_CONTROL.IP is honoured: everywhere but an
    /// unrecoverable error.
    pub(crate) fn accepts_port_reset(&self) -> bool {
        !matches!(self.phase, PortPhase::Error { rn: false, .. })
    }

    fn rdy(&self) -> bool {
        match self.phase {
            PortPhase::Ready => true,
            PortPhase::Error {
                rn: true,
                ready_at: Some(t),
            } => t == Duration::ZERO,
            _ => false,
        }
    }

    /// SLIPORT_STATUS.
    pub(crate) fn status(&self) -> u32 {
        let mut s = Status::default();
        s.set_rdy(self.rdy());
        if let PortPhase::Error { rn, .. } = self.phase {
            s.set_err(true);
            s.set_rn(rn);
        }
        s.0
    }

    /// SLIPORT_SEMAPHORE.
    pub(crate) fn semaphore(&self) -> u32 {
        let mut s = Semaphore::default();
        let stage = match self.phase {
            PortPhase::Initializing { .. } => SEMAPHORE_POST_RUNNING,
            PortPhase::Error { rn: false, .. } => SEMAPHORE_POST_ERROR,
            // A recoverable error happens after POST completed.
            PortPhase::Ready | PortPhase::Error { rn: true, .. } => SEMAPHORE_PORT_READY,
        };
        s.set_port_status(stage);
        s.0
    }

    /// Enters the error phase with the given codes.
    pub(crate) fn fail(&mut self, error1: u32, error2: u32, rn: bool, ready_at: Option<Duration>) {
        self.error1 = error1;
        self.error2 = error2;
        self.phase = PortPhase::Error {
            rn,
            ready_at: if rn { ready_at } else { None },
        };
    }

    /// A firmware reset (PHYSDEV_CONTROL.FRST, sli4.md §7.1): ERR+RN with
    /// ERROR1 = 0x2, ERROR2 = 0x0, RDY again at `ready_at`.
    pub(crate) fn firmware_reset(&mut self, ready_at: Duration) {
        self.fail(
            error_code::ERR1_FW_EVENT,
            error_code::ERR2_FW_RESTART,
            true,
            Some(ready_at),
        );
    }

    /// SLIPORT_CONTROL.IP: errors clear, RDY at `ready_at`.
    pub(crate) fn port_reset(&mut self, ready_at: Duration) {
        self.error1 = 0;
        self.error2 = 0;
        self.phase = PortPhase::Initializing {
            ready_at: Some(ready_at),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_read_as_the_drivers_expect() {
        let t = Duration::from_millis;
        let mut r = PortRegs::new(PortPhase::Initializing {
            ready_at: Some(t(5)),
        });
        assert!(!Status(r.status()).rdy());
        assert_eq!(Semaphore(r.semaphore()).port_status(), 0);
        assert!(!r.tick(t(4)));
        assert!(r.tick(t(5)));
        assert!(Status(r.status()).rdy() && Semaphore(r.semaphore()).is_ready());

        r.firmware_reset(t(100));
        let s = Status(r.status());
        assert!(s.err() && s.rn() && !s.rdy());
        assert_eq!((r.error1, r.error2), (2, 0));
        assert!(r.tick(t(100)));
        let s = Status(r.status());
        assert!(s.err() && s.rn() && s.rdy());
        assert!(r.accepts_port_reset() && !r.is_ready());
        r.port_reset(t(100));
        assert!(r.tick(t(100)));
        assert_eq!(r.status(), Status(0).0 | 1 << 23);

        r.fail(1, 0, false, Some(t(1)));
        assert!(!r.tick(t(1000)));
        let s = Status(r.status());
        assert!(s.is_unrecoverable() && !s.rdy());
        assert!(Semaphore(r.semaphore()).is_fatal());
        assert!(!r.accepts_port_reset());
    }
}
