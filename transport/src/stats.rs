//! What `Transport::stats` reports: ports with their seed counters, and
//! controllers with their state and counters.

use std::time::Duration;

use crate::ctrl::entry::CtrlCounters;
use crate::ctrl::state::CtrlState;
use crate::lldd::{LocalPortId, RemotePortId};
use crate::port::PortState;
use crate::wwn::{FcAddr, Wwn};

/// One local port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalPortStats {
    /// Handle.
    pub id: LocalPortId,
    /// WWNN.
    pub wwnn: Wwn,
    /// WWPN.
    pub wwpn: Wwn,
    /// Current N_Port ID.
    pub port_id: u32,
    /// ONLINE or DELETED.
    pub state: PortState,
    /// Remote ports with an active controller (§2.4).
    pub act_rport_cnt: u32,
    /// `localport_delete` callbacks owed.
    pub deletes_pending: usize,
    /// `localport_delete` callbacks issued.
    pub deletes_issued: u64,
    /// Registrations of these WWNs.
    pub registrations: u64,
}

/// One remote port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemotePortStats {
    /// Handle.
    pub id: RemotePortId,
    /// Its local port.
    pub lport: LocalPortId,
    /// WWNN.
    pub wwnn: Wwn,
    /// WWPN.
    pub wwpn: Wwn,
    /// Current N_Port ID.
    pub port_id: u32,
    /// ONLINE or DELETED.
    pub state: PortState,
    /// Controllers with an association being built or live (§2.4).
    pub act_ctrl_cnt: u32,
    /// dev_loss_tmo.
    pub dev_loss_tmo: Duration,
    /// `remoteport_delete` callbacks owed.
    pub deletes_pending: usize,
    /// `remoteport_delete` callbacks issued.
    pub deletes_issued: u64,
    /// Registrations of these WWNs.
    pub registrations: u64,
    /// Controllers bound to the port.
    pub controllers: u32,
}

/// One controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtrlStats {
    /// Controller number.
    pub uid: u64,
    /// Name for logs.
    pub name: String,
    /// `traddr`.
    pub traddr: FcAddr,
    /// `host_traddr`.
    pub host_traddr: FcAddr,
    /// Subsystem NQN.
    pub subnqn: String,
    /// State.
    pub state: CtrlState,
    /// The seed's per-controller "association active" mark.
    pub assoc_active: bool,
    /// Attempts since last live.
    pub nr_reconnects: u32,
    /// `ceil(ctrl_loss_tmo / reconnect_delay)`; `None` = unlimited.
    pub max_reconnects: Option<u32>,
    /// Current association id (0 = none).
    pub association_id: u64,
    /// Controller id from the admin Connect.
    pub cntlid: u16,
    /// I/O queues negotiated.
    pub io_queues: u16,
    /// I/O queues handed out as queue pairs.
    pub qpairs_claimed: usize,
    /// Counters.
    pub counters: CtrlCounters,
}

/// Everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Local ports.
    pub lports: Vec<LocalPortStats>,
    /// Remote ports.
    pub rports: Vec<RemotePortStats>,
    /// Controllers still in management (DELETED ones are gone).
    pub ctrls: Vec<CtrlStats>,
}

impl TransportStats {
    /// The local port with this id.
    pub fn lport(&self, id: LocalPortId) -> Option<&LocalPortStats> {
        self.lports.iter().find(|p| p.id == id)
    }

    /// The remote port with this id.
    pub fn rport(&self, id: RemotePortId) -> Option<&RemotePortStats> {
        self.rports.iter().find(|p| p.id == id)
    }

    /// The controller with this number.
    pub fn ctrl(&self, uid: u64) -> Option<&CtrlStats> {
        self.ctrls.iter().find(|c| c.uid == uid)
    }
}
