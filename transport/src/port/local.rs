//! The local port object (`nvme_fc_lport`, nvme-fc.md §2.1).

use std::sync::Arc;

use crate::lldd::{Limits, LocalPortId, PortRoles};
use crate::port::PortState;
use crate::wwn::Wwn;

/// One local (initiator) port. Its id survives re-registration of the same WWNs.
#[derive(Debug)]
pub(crate) struct LocalPort<L> {
    pub id: LocalPortId,
    pub wwnn: Wwn,
    pub wwpn: Wwn,
    pub port_id: u32,
    pub roles: PortRoles,
    pub state: PortState,
    pub limits: Limits,
    /// The LLDD instance of the current registration; `None` once unregistered.
    pub lldd: Option<Arc<L>>,
    /// Remote ports of this local port whose `act_ctrl_cnt` is non-zero (§2.4).
    pub act_rport_cnt: u32,
    /// Per local-port registration epoch: remote ports with a controller
    /// activated under that epoch. An epoch's `localport_delete` is paid when
    /// its count reaches zero, whatever later registrations are doing.
    pub act_by_epoch: Vec<(u64, u32)>,
    /// One entry per unregister whose `localport_delete` is still owed: the
    /// registration epoch and that registration's LLDD instance. Linux keeps
    /// only the state, so a re-registration before the count drains loses the
    /// callback (§2.4 subtlety 1); we keep it per registration.
    pub pending_deletes: Vec<(u64, Arc<L>)>,
    /// `localport_delete` callbacks issued so far.
    pub deletes_issued: u64,
    /// Registrations of these WWNs so far (1 after the first); the current
    /// registration is epoch `registrations`.
    pub registrations: u64,
}
