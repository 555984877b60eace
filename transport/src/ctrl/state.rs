//! Controller states and their allowed transitions: the table of nvme-fc.md
//! §3.1 with the 2025 mainline rules (creation goes straight to CONNECTING, LIVE
//! is entered only from CONNECTING), restricted to the states FC uses (no
//! DELETING_NOIO/DEAD; DELETED stands for the freed controller). Who moves it:
//! connect and reset (§3.1 "FC's use of states"), error recovery (§3.4),
//! connectivity loss (§3.5), teardown (§3.6), reconnect_or_delete (§2.5).

use std::fmt;

/// State of one controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CtrlState {
    /// Created, no association attempt yet.
    New = 0,
    /// An association is being built, or the next attempt is scheduled.
    Connecting = 1,
    /// The association is up; I/O flows.
    Live = 2,
    /// The association is being torn down before a reconnect.
    Resetting = 3,
    /// The controller is being deleted; its association is torn down.
    Deleting = 4,
    /// Gone: every request failed, every LLDD resource released.
    Deleted = 5,
}

impl CtrlState {
    /// True when `self → next` is an allowed transition.
    pub const fn can_become(self, next: CtrlState) -> bool {
        use CtrlState::*;
        matches!(
            (self, next),
            (New, Connecting)
                | (New, Deleting)
                | (Connecting, Live)
                | (Connecting, Deleting)
                | (Live, Resetting)
                | (Live, Deleting)
                | (Resetting, Connecting)
                | (Resetting, Deleting)
                | (Deleting, Deleted)
        )
    }

    /// Decodes the value stored in the controller's shared state word.
    pub const fn from_u8(v: u8) -> CtrlState {
        match v {
            0 => CtrlState::New,
            1 => CtrlState::Connecting,
            2 => CtrlState::Live,
            3 => CtrlState::Resetting,
            4 => CtrlState::Deleting,
            _ => CtrlState::Deleted,
        }
    }

    /// Lower-case name as in Linux sysfs `state`.
    pub const fn name(self) -> &'static str {
        match self {
            CtrlState::New => "new",
            CtrlState::Connecting => "connecting",
            CtrlState::Live => "live",
            CtrlState::Resetting => "resetting",
            CtrlState::Deleting => "deleting",
            CtrlState::Deleted => "deleted",
        }
    }
}

impl fmt::Display for CtrlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A refused transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("controller state change {from} -> {to} is not allowed")]
pub struct BadTransition {
    /// Current state.
    pub from: CtrlState,
    /// Requested state.
    pub to: CtrlState,
}

/// The state of a controller together with the rule that guards it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateMachine(CtrlState);

impl StateMachine {
    /// A new controller.
    pub const fn new() -> Self {
        StateMachine(CtrlState::New)
    }

    /// The current state.
    pub const fn get(self) -> CtrlState {
        self.0
    }

    /// Moves to `to` if allowed.
    pub fn become_(&mut self, to: CtrlState) -> Result<(), BadTransition> {
        if self.0.can_become(to) {
            self.0 = to;
            Ok(())
        } else {
            Err(BadTransition { from: self.0, to })
        }
    }
}

impl Default for StateMachine {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::CtrlState::*;
    use super::*;

    const ALL: [CtrlState; 6] = [New, Connecting, Live, Resetting, Deleting, Deleted];

    #[test]
    fn live_only_from_connecting() {
        for s in ALL {
            assert_eq!(s.can_become(Live), s == Connecting, "{s} -> live");
        }
    }

    #[test]
    fn deleted_only_from_deleting_and_is_final() {
        for s in ALL {
            assert_eq!(s.can_become(Deleted), s == Deleting);
            assert!(!Deleted.can_become(s));
        }
    }

    #[test]
    fn the_reconnect_cycle_is_allowed() {
        let mut m = StateMachine::new();
        for s in [
            Connecting, Live, Resetting, Connecting, Live, Deleting, Deleted,
        ] {
            m.become_(s).unwrap();
            assert_eq!(m.get(), s);
        }
    }

    #[test]
    fn refused_transitions_keep_the_state() {
        let mut m = StateMachine::new();
        let e = m.become_(Live).unwrap_err();
        assert_eq!(
            e,
            BadTransition {
                from: New,
                to: Live
            }
        );
        assert_eq!(m.get(), New);
        assert!(e.to_string().contains("new -> live"));
        m.become_(Connecting).unwrap();
        assert!(m.become_(Resetting).is_err());
        assert!(m.become_(Connecting).is_err());
    }

    #[test]
    fn the_full_table() {
        let allowed = [
            (New, Connecting),
            (New, Deleting),
            (Connecting, Live),
            (Connecting, Deleting),
            (Live, Resetting),
            (Live, Deleting),
            (Resetting, Connecting),
            (Resetting, Deleting),
            (Deleting, Deleted),
        ];
        for a in ALL {
            for b in ALL {
                assert_eq!(a.can_become(b), allowed.contains(&(a, b)), "{a} -> {b}");
            }
        }
        for s in ALL {
            assert_eq!(CtrlState::from_u8(s as u8), s);
        }
    }
}
