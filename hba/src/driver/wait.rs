//! Bounded waits. Every wait in the driver reads the injected clock and gives
//! up at a deadline; between two looks it lets an in-process device model run
//! and then calls the configured idle hook (a yield in production; tests
//! advance their manual clock there, so nothing sleeps).

use std::sync::Arc;
use std::time::Duration;

use ufc_transport::clock::Clock;
use ufc_vfio::Device;

/// What a bounded wait does when there is nothing to look at yet.
pub type IdleHook = Arc<dyn Fn() + Send + Sync>;

/// Clock, device and idle hook of the waits of one port.
#[derive(Clone)]
pub(crate) struct Waiter {
    pub clock: Clock,
    pub device: Device,
    pub idle: IdleHook,
}

impl Waiter {
    /// Now.
    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    /// One idle step: run an inline model; if it had nothing to do, call the hook.
    pub fn pause(&self) {
        if !self.device.poll_model() {
            (self.idle)();
        }
    }

    /// Waits until `f` returns `Some`, or `timeout` has passed (then `None`).
    /// `f` is always tried at least once, and once more after the deadline.
    pub fn until<T>(&self, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
        let deadline = self.now().saturating_add(timeout);
        loop {
            if let Some(v) = f() {
                return Some(v);
            }
            if self.now() >= deadline {
                return f();
            }
            self.pause();
        }
    }
}
