//! The time source of the models (fabric latency, LS timeouts, target
//! keep-alive): the transport's [`Clock`], re-exported, so that the models and
//! the transport run on one time line and a test advances both with one
//! [`ManualClock`]. No closure and no dynamic dispatch per read: the models read
//! the clock on their hot paths too.

pub use ufc_transport::clock::{Clock, ManualClock};

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn models_and_transport_share_one_clock() {
        let (clock, hand) = Clock::manual();
        // The transport's clock is the models' clock: no conversion.
        let transport_side: ufc_transport::Clock = clock.clone();
        hand.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), Duration::from_millis(1500));
        assert_eq!(transport_side.now(), Duration::from_millis(1500));
    }
}
