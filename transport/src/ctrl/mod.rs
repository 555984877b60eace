//! NVMe/FC controllers: the handle applications hold, and the management-side
//! state (association build and teardown, keep-alive, AER, reconnect policy).

pub(crate) mod admin;
pub(crate) mod assoc;
pub(crate) mod entry;
pub mod namespace;
pub mod options;
pub mod reconnect;
pub mod state;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::TransportError;
use crate::lldd::Lldd;
use crate::qpair::IoQpair;
use crate::stats::CtrlStats;
use crate::transport::Transport;
use namespace::Namespace;
use state::CtrlState;

/// Identity of a namespace as last identified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NsData {
    pub nsid: u32,
    pub lba_size: u32,
    pub num_lbas: u64,
}

/// The part of a controller both the handles and management see.
#[derive(Debug)]
pub(crate) struct CtrlShared {
    pub uid: u64,
    pub name: String,
    state: AtomicU8,
    pub namespaces: Mutex<Vec<NsData>>,
}

impl CtrlShared {
    pub fn new(uid: u64, name: String) -> Self {
        CtrlShared {
            uid,
            name,
            state: AtomicU8::new(CtrlState::New as u8),
            namespaces: Mutex::new(Vec::new()),
        }
    }

    pub fn state(&self) -> CtrlState {
        CtrlState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub fn publish_state(&self, s: CtrlState) {
        self.state.store(s as u8, Ordering::Release);
    }
}

/// An application's handle on a controller. Cheap to clone; the controller
/// lives on in management until deleted (explicitly, or by ctrl_loss_tmo /
/// dev_loss_tmo), independently of how many handles exist.
pub struct Controller<L: Lldd> {
    transport: Arc<Transport<L>>,
    shared: Arc<CtrlShared>,
}

impl<L: Lldd> std::fmt::Debug for Controller<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("name", &self.shared.name)
            .field("state", &self.shared.state())
            .finish()
    }
}

impl<L: Lldd> Clone for Controller<L> {
    fn clone(&self) -> Self {
        Controller {
            transport: Arc::clone(&self.transport),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<L: Lldd> Controller<L> {
    pub(crate) fn new(transport: Arc<Transport<L>>, shared: Arc<CtrlShared>) -> Self {
        Controller { transport, shared }
    }

    /// Transport-unique controller number.
    pub fn uid(&self) -> u64 {
        self.shared.uid
    }

    /// Name for logs: number, subsystem and address.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Current state.
    pub fn state(&self) -> CtrlState {
        self.shared.state()
    }

    /// The namespaces found by the last association.
    pub fn namespaces(&self) -> Vec<Namespace<L>> {
        let list = self
            .shared
            .namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        list.into_iter()
            .map(|n| Namespace::new(self.clone(), n.nsid, n.lba_size, n.num_lbas))
            .collect()
    }

    /// Hands out the queue pair of the next unused I/O queue.
    pub fn alloc_io_qpair(&self) -> Result<IoQpair<L::HwQueue>, TransportError> {
        self.transport.alloc_io_qpair(self.shared.uid)
    }

    /// Resets the association (LIVE only; like `nvme reset`).
    pub fn reset(&self) -> Result<(), TransportError> {
        self.transport.reset_ctrl(self.shared.uid)
    }

    /// Deletes the controller: tears the association down and fails held I/O
    /// with host-path error.
    pub fn delete(&self) -> Result<(), TransportError> {
        self.transport.delete_ctrl(self.shared.uid)
    }

    /// Counters and state.
    pub fn stats(&self) -> Option<CtrlStats> {
        self.transport
            .stats()
            .ctrls
            .into_iter()
            .find(|c| c.uid == self.shared.uid)
    }

    /// The transport this controller belongs to.
    pub fn transport(&self) -> &Arc<Transport<L>> {
        &self.transport
    }
}
