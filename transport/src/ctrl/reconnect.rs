//! `nvme_fc_reconnect_or_delete` (nvme-fc.md §2.5, §3.3): after a failed
//! association attempt, either schedule the next one or give up.

use std::time::Duration;

/// Inputs of the decision.
#[derive(Clone, Copy, Debug)]
pub struct ReconnectInput {
    /// Now.
    pub now: Duration,
    /// True when the remote port is registered.
    pub rport_online: bool,
    /// The remote port's dev_loss deadline while it is unregistered.
    pub dev_loss_end: Option<Duration>,
    /// Attempts made since the controller was last live.
    pub nr_reconnects: u32,
    /// `ceil(ctrl_loss_tmo / reconnect_delay)`; `None` = unlimited.
    pub max_reconnects: Option<u32>,
    /// Delay between attempts.
    pub reconnect_delay: Duration,
    /// The failed attempt ended with an NVMe status that has DNR set.
    pub dnr: bool,
}

/// The decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconnect {
    /// Try again at this time.
    At(Duration),
    /// Delete the controller, for this reason.
    Delete(GiveUp),
}

/// Why reconnecting stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUp {
    /// The target answered with Do Not Retry.
    Dnr,
    /// The remote port stayed away for dev_loss_tmo.
    DevLoss,
    /// ctrl_loss_tmo worth of attempts failed.
    CtrlLoss,
}

/// Decides what follows a failed attempt.
pub fn decide(i: ReconnectInput) -> Reconnect {
    if i.rport_online && i.dnr {
        return Reconnect::Delete(GiveUp::Dnr);
    }
    let dev_loss_end = if i.rport_online { None } else { i.dev_loss_end };
    if let Some(end) = dev_loss_end {
        if i.now >= end {
            return Reconnect::Delete(GiveUp::DevLoss);
        }
    }
    if let Some(max) = i.max_reconnects {
        if i.nr_reconnects >= max {
            return Reconnect::Delete(GiveUp::CtrlLoss);
        }
    }
    let mut at = i.now + i.reconnect_delay;
    if let Some(end) = dev_loss_end {
        at = at.min(end);
    }
    Reconnect::At(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ReconnectInput {
        ReconnectInput {
            now: Duration::from_secs(100),
            rport_online: true,
            dev_loss_end: None,
            nr_reconnects: 1,
            max_reconnects: Some(300),
            reconnect_delay: Duration::from_secs(2),
            dnr: false,
        }
    }

    #[test]
    fn retries_after_the_delay_while_the_port_is_present() {
        assert_eq!(decide(input()), Reconnect::At(Duration::from_secs(102)));
    }

    #[test]
    fn dnr_stops_only_when_the_port_answered() {
        let mut i = input();
        i.dnr = true;
        assert_eq!(decide(i), Reconnect::Delete(GiveUp::Dnr));
        i.rport_online = false;
        i.dev_loss_end = Some(Duration::from_secs(160));
        assert_eq!(decide(i), Reconnect::At(Duration::from_secs(102)));
    }

    #[test]
    fn ctrl_loss_budget_ends_attempts() {
        let mut i = input();
        i.nr_reconnects = 300;
        assert_eq!(decide(i), Reconnect::Delete(GiveUp::CtrlLoss));
        i.max_reconnects = None;
        i.nr_reconnects = u32::MAX;
        assert!(matches!(decide(i), Reconnect::At(_)));
    }

    #[test]
    fn dev_loss_clamps_and_then_ends() {
        let mut i = input();
        i.rport_online = false;
        i.dev_loss_end = Some(Duration::from_secs(101));
        // Next attempt no later than dev_loss_end.
        assert_eq!(decide(i), Reconnect::At(Duration::from_secs(101)));
        i.now = Duration::from_secs(101);
        assert_eq!(decide(i), Reconnect::Delete(GiveUp::DevLoss));
    }

    #[test]
    fn the_earlier_of_dev_loss_and_ctrl_loss_wins() {
        // ctrl_loss 10 s / delay 2 s = 5 attempts; dev_loss 60 s: ctrl_loss wins.
        let mut i = input();
        i.rport_online = false;
        i.max_reconnects = Some(5);
        i.now = Duration::ZERO;
        i.dev_loss_end = Some(Duration::from_secs(60));
        let mut attempts = 0;
        loop {
            i.nr_reconnects = attempts;
            match decide(i) {
                Reconnect::At(t) => {
                    i.now = t;
                    attempts += 1;
                }
                Reconnect::Delete(why) => {
                    assert_eq!(why, GiveUp::CtrlLoss);
                    break;
                }
            }
        }
        assert_eq!((attempts, i.now), (5, Duration::from_secs(10)));
        // dev_loss 3 s: dev_loss wins after the clamped attempt at 3 s.
        i.now = Duration::ZERO;
        i.dev_loss_end = Some(Duration::from_secs(3));
        i.nr_reconnects = 1;
        assert_eq!(decide(i), Reconnect::At(Duration::from_secs(2)));
        i.now = Duration::from_secs(2);
        assert_eq!(decide(i), Reconnect::At(Duration::from_secs(3)));
        i.now = Duration::from_secs(3);
        assert_eq!(decide(i), Reconnect::Delete(GiveUp::DevLoss));
    }

    proptest::proptest! {
        /// Never in the past, never after dev_loss_end while the port is away.
        #[test]
        fn next_attempt_is_bounded(now in 0u64..1000, end in 0u64..2000, delay in 1u64..100,
                                   online: bool, n in 0u32..10, max in proptest::option::of(0u32..10)) {
            let i = ReconnectInput {
                now: Duration::from_secs(now),
                rport_online: online,
                dev_loss_end: Some(Duration::from_secs(end)),
                nr_reconnects: n,
                max_reconnects: max,
                reconnect_delay: Duration::from_secs(delay),
                dnr: false,
            };
            match decide(i) {
                Reconnect::At(t) => {
                    proptest::prop_assert!(t >= i.now);
                    proptest::prop_assert!(t <= i.now + i.reconnect_delay);
                    if !online {
                        proptest::prop_assert!(t <= Duration::from_secs(end) && i.now < Duration::from_secs(end));
                    }
                    proptest::prop_assert!(max.is_none_or(|m| n < m));
                }
                Reconnect::Delete(GiveUp::DevLoss) => proptest::prop_assert!(!online && now >= end),
                Reconnect::Delete(GiveUp::CtrlLoss) => proptest::prop_assert!(max.is_some_and(|m| n >= m)),
                Reconnect::Delete(GiveUp::Dnr) => proptest::prop_assert!(false),
            }
        }
    }
}
