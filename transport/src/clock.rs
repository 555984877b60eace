//! Time source for every transport timer (dev_loss_tmo, ctrl_loss_tmo,
//! reconnect_delay, kato, fast_io_fail_tmo, I/O timeout, teardown bound).
//!
//! Time is a [`Duration`] since the clock's origin. Production uses the monotonic
//! clock; tests use a [`ManualClock`] and advance it explicitly, so no test depends
//! on how fast the machine is.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A cheap-to-clone time source.
#[derive(Clone, Debug)]
pub struct Clock(Source);

#[derive(Clone, Debug)]
enum Source {
    Monotonic(Instant),
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// The monotonic system clock; its origin is the moment of this call.
    pub fn monotonic() -> Self {
        Clock(Source::Monotonic(Instant::now()))
    }

    /// A clock that only moves when the returned [`ManualClock`] advances it.
    pub fn manual() -> (Self, ManualClock) {
        let nanos = Arc::new(AtomicU64::new(0));
        (
            Clock(Source::Manual(Arc::clone(&nanos))),
            ManualClock(nanos),
        )
    }

    /// Time since the clock's origin.
    #[inline]
    pub fn now(&self) -> Duration {
        match &self.0 {
            Source::Monotonic(origin) => origin.elapsed(),
            // A plain load: readers never modify the clock.
            Source::Manual(nanos) => Duration::from_nanos(nanos.load(Ordering::Acquire)),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::monotonic()
    }
}

/// The hand that moves a manual [`Clock`].
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// Moves every clock created with this hand forward by `d`.
    pub fn advance(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Ordering::AcqRel);
    }

    /// The current time of the clock.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let (clock, hand) = Clock::manual();
        let copy = clock.clone();
        assert_eq!(clock.now(), Duration::ZERO);
        hand.advance(Duration::from_secs(3));
        assert_eq!(copy.now(), Duration::from_secs(3));
        assert_eq!(hand.now(), Duration::from_secs(3));
    }

    #[test]
    fn monotonic_clock_does_not_go_back() {
        let clock = Clock::monotonic();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
    }
}
