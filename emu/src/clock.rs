//! The time source of the models: fabric latency, LS timeouts, target keep-alive.
//!
//! A closure returning the time since some origin, so the models read whatever
//! clock the test or the transport runs on — e.g. the transport's manual clock:
//! `Clock::new(move || transport_clock.now())`. [`Clock::manual`] gives a
//! standalone manual clock for tests of the models alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A cheap-to-clone time source.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Duration + Send + Sync>);

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({:?})", self.now())
    }
}

impl Clock {
    /// A clock reading `now`.
    pub fn new(now: impl Fn() -> Duration + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    /// The monotonic system clock, origin now.
    pub fn monotonic() -> Self {
        let origin = Instant::now();
        Clock::new(move || origin.elapsed())
    }

    /// A clock that moves only when the returned hand advances it.
    pub fn manual() -> (Self, ManualClock) {
        let nanos = Arc::new(AtomicU64::new(0));
        let hand = ManualClock(Arc::clone(&nanos));
        (
            Clock::new(move || Duration::from_nanos(nanos.load(Ordering::Acquire))),
            hand,
        )
    }

    /// Time since the clock's origin.
    #[inline]
    pub fn now(&self) -> Duration {
        (self.0)()
    }
}

impl From<ufc_transport::clock::Clock> for Clock {
    /// Reads the transport's clock, so models and transport share one time line.
    fn from(c: ufc_transport::clock::Clock) -> Self {
        Clock::new(move || c.now())
    }
}

/// The hand of a [`Clock::manual`] clock.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_moves_only_when_advanced() {
        let (c, hand) = Clock::manual();
        let c2 = c.clone();
        assert_eq!(c.now(), Duration::ZERO);
        hand.advance(Duration::from_millis(1500));
        assert_eq!(c2.now(), Duration::from_millis(1500));
        let m = Clock::monotonic();
        assert!(m.now() <= m.now());
        let (tc, th) = ufc_transport::clock::Clock::manual();
        let shared = Clock::from(tc);
        th.advance(Duration::from_secs(2));
        assert_eq!(shared.now(), Duration::from_secs(2));
    }
}
