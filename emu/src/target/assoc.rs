//! An association: what one Create Association LS built, its connections (admin
//! at qid 0, I/O queues 1..) and, after the admin Connect, its controller.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::clock::Clock;
use ufc_transport::wwn::FcAddr;

use crate::target::connection::Connection;
use crate::target::controller::Controller;
use crate::target::subsystem::Subsystem;

/// What the Create Association LS carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssocParams {
    /// The host port that created it.
    pub host: FcAddr,
    /// Host NQN.
    pub hostnqn: String,
    /// Host id.
    pub hostid: [u8; 16],
    /// Subsystem NQN.
    pub subnqn: String,
}

#[derive(Debug, Default)]
pub(crate) struct AssocState {
    pub(crate) ctrl: Option<Arc<Controller>>,
    /// Indexed by qid; `None` where no connection was created.
    pub(crate) conns: Vec<Option<Arc<Connection>>>,
    pub(crate) terminated: bool,
}

/// One association.
#[derive(Debug)]
pub struct Association {
    id: u64,
    params: AssocParams,
    /// The subsystems of the port it was created on.
    subsystems: Vec<Arc<Subsystem>>,
    clock: Clock,
    state: Mutex<AssocState>,
}

impl Association {
    pub(crate) fn new(
        id: u64,
        params: AssocParams,
        subsystems: Vec<Arc<Subsystem>>,
        clock: Clock,
    ) -> Arc<Self> {
        Arc::new(Association {
            id,
            params,
            subsystems,
            clock,
            state: Mutex::new(AssocState::default()),
        })
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, AssocState> {
        // Updates are single field assignments; a panicked holder leaves it consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Association id (also the admin connection id).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// What the Create Association LS carried.
    pub fn params(&self) -> &AssocParams {
        &self.params
    }

    /// The subsystem named `nqn`, if the port exposes it.
    pub fn subsystem(&self, nqn: &str) -> Option<Arc<Subsystem>> {
        self.subsystems.iter().find(|s| s.nqn() == nqn).cloned()
    }

    pub(crate) fn clock(&self) -> Clock {
        self.clock.clone()
    }

    /// The controller, once the admin Connect succeeded.
    pub fn controller(&self) -> Option<Arc<Controller>> {
        self.state().ctrl.clone()
    }

    /// The connection of queue `qid`.
    pub fn connection(&self, qid: u16) -> Option<Arc<Connection>> {
        self.state().conns.get(usize::from(qid)).cloned().flatten()
    }

    /// Every live connection.
    pub fn connections(&self) -> Vec<Arc<Connection>> {
        self.state().conns.iter().flatten().cloned().collect()
    }

    /// True once torn down.
    pub fn terminated(&self) -> bool {
        self.state().terminated
    }

    /// Tears the association down: connections stop accepting commands, held
    /// commands are aborted. Returns the connections for the port's index.
    pub(crate) fn terminate(&self) -> Vec<Arc<Connection>> {
        let conns: Vec<Arc<Connection>> = {
            let mut st = self.state();
            st.terminated = true;
            st.conns.drain(..).flatten().collect()
        };
        for c in &conns {
            c.terminate();
        }
        conns
    }
}
