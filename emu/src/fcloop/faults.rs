//! Fault knobs shared by every LLDD instance on a fabric.
//!
//! The I/O path pays one relaxed load of [`Faults::fcp_armed`] per exchange when no
//! FCP fault is set; everything else sits behind that flag or on the LS path.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use ufc_transport::lldd::LsError;

/// What the next failed LS returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LsFault {
    /// `Done` with this error and no response.
    Error(LsError),
    /// `Done` with an LS_RJT payload carrying this reason and explanation.
    Reject {
        /// LS_RJT reason code (nvme-fc.md §4.6).
        reason: u8,
        /// LS_RJT reason explanation.
        explanation: u8,
    },
}

/// What a drop rule sees of an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FcpInfo {
    /// Transport queue index (0 = admin).
    pub qidx: u16,
    /// SQE opcode.
    pub opcode: u8,
    /// Fabrics command type (SQE byte 4) when `opcode` is 0x7F, else 0.
    pub fctype: u8,
}

type DropRule = Box<dyn Fn(&FcpInfo) -> bool + Send + Sync>;

/// The knobs; reach them through `FcloopFabric::faults`.
#[derive(Default)]
pub struct Faults {
    fcp_armed: AtomicBool,
    latency_ns: AtomicU64,
    drop_next: AtomicU32,
    drop_rule: Mutex<Option<DropRule>>,
    delay_next: Mutex<VecDeque<Duration>>,
    fail_ls: Mutex<VecDeque<LsFault>>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("latency", &self.latency())
            .field("drop_next", &self.drop_next.load(Ordering::Relaxed))
            .field("fcp_armed", &self.fcp_armed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// What to do with one exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FcpFault {
    /// Never complete it (until aborted).
    Drop,
    /// Complete it this much later than normal.
    Delay(Duration),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The knobs hold plain values; a panicked holder leaves them consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Faults {
    /// Every exchange and LS completes `latency` after it started (on the fabric
    /// clock); zero (the default) means "at the next poll".
    pub fn set_latency(&self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency_ns.store(ns, Ordering::Relaxed);
    }

    /// The current latency.
    #[inline]
    pub fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_ns.load(Ordering::Relaxed))
    }

    /// The next `n` FCP exchanges are lost: no response ever, until aborted.
    pub fn drop_next_fcp(&self, n: u32) {
        self.drop_next.store(n, Ordering::Relaxed);
        self.rearm();
    }

    /// Every exchange `rule` matches is lost (until [`Faults::clear_drop_rule`]).
    pub fn drop_fcp_if(&self, rule: impl Fn(&FcpInfo) -> bool + Send + Sync + 'static) {
        *lock(&self.drop_rule) = Some(Box::new(rule));
        self.rearm();
    }

    /// Removes the drop rule.
    pub fn clear_drop_rule(&self) {
        *lock(&self.drop_rule) = None;
        self.rearm();
    }

    /// The next `n` FCP exchanges complete `extra` later than the others (a delayed
    /// frame; later exchanges may overtake them).
    pub fn delay_next_fcp(&self, n: u32, extra: Duration) {
        lock(&self.delay_next).extend(std::iter::repeat_n(extra, n as usize));
        self.rearm();
    }

    /// The next LS requests fail, one fault each, in order.
    pub fn fail_next_ls(&self, faults: impl IntoIterator<Item = LsFault>) {
        lock(&self.fail_ls).extend(faults);
    }

    pub(crate) fn take_ls_fault(&self) -> Option<LsFault> {
        lock(&self.fail_ls).pop_front()
    }

    fn rearm(&self) {
        let armed = self.drop_next.load(Ordering::Relaxed) > 0
            || lock(&self.drop_rule).is_some()
            || !lock(&self.delay_next).is_empty();
        self.fcp_armed.store(armed, Ordering::Relaxed);
    }

    /// The fault for this exchange, if any; one relaxed load when none is set.
    #[inline]
    pub(crate) fn fcp_fault(&self, info: &FcpInfo) -> Option<FcpFault> {
        if !self.fcp_armed.load(Ordering::Relaxed) {
            return None;
        }
        self.fcp_fault_slow(info)
    }

    #[cold]
    fn fcp_fault_slow(&self, info: &FcpInfo) -> Option<FcpFault> {
        let counted = self
            .drop_next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        let fault = if counted || lock(&self.drop_rule).as_ref().is_some_and(|r| r(info)) {
            Some(FcpFault::Drop)
        } else {
            lock(&self.delay_next).pop_front().map(FcpFault::Delay)
        };
        self.rearm();
        fault
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IO_READ: FcpInfo = FcpInfo {
        qidx: 1,
        opcode: 2,
        fctype: 0,
    };
    const KEEP_ALIVE: FcpInfo = FcpInfo {
        qidx: 0,
        opcode: 0x18,
        fctype: 0,
    };

    #[test]
    fn drop_next_counts_down_then_disarms() {
        let f = Faults::default();
        assert_eq!(f.fcp_fault(&IO_READ), None);
        f.drop_next_fcp(2);
        assert_eq!(f.fcp_fault(&IO_READ), Some(FcpFault::Drop));
        assert_eq!(f.fcp_fault(&IO_READ), Some(FcpFault::Drop));
        assert_eq!(f.fcp_fault(&IO_READ), None);
        assert!(!f.fcp_armed.load(Ordering::Relaxed));
    }

    #[test]
    fn rule_and_delay() {
        let f = Faults::default();
        f.drop_fcp_if(|i| i.qidx == 0 && i.opcode == 0x18);
        f.delay_next_fcp(1, Duration::from_millis(5));
        assert_eq!(f.fcp_fault(&KEEP_ALIVE), Some(FcpFault::Drop));
        assert_eq!(
            f.fcp_fault(&IO_READ),
            Some(FcpFault::Delay(Duration::from_millis(5)))
        );
        assert_eq!(f.fcp_fault(&IO_READ), None);
        assert_eq!(f.fcp_fault(&KEEP_ALIVE), Some(FcpFault::Drop));
        f.clear_drop_rule();
        assert_eq!(f.fcp_fault(&KEEP_ALIVE), None);
    }

    #[test]
    fn ls_faults_in_order() {
        let f = Faults::default();
        f.fail_next_ls([
            LsFault::Error(LsError::Transport),
            LsFault::Reject {
                reason: 0x09,
                explanation: 0,
            },
        ]);
        assert_eq!(f.take_ls_fault(), Some(LsFault::Error(LsError::Transport)));
        assert!(matches!(
            f.take_ls_fault(),
            Some(LsFault::Reject { reason: 0x09, .. })
        ));
        assert_eq!(f.take_ls_fault(), None);
        f.set_latency(Duration::from_micros(3));
        assert_eq!(f.latency(), Duration::from_micros(3));
    }
}
