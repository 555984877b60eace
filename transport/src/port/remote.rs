//! The remote port object (`nvme_fc_rport`, nvme-fc.md §2.1).

use std::sync::Arc;
use std::time::Duration;

use crate::lldd::{LlddRport, LocalPortId, PortRoles, RemotePortId};
use crate::port::{ActMark, PortState};
use crate::wwn::Wwn;

/// `NVME_FC_DEFAULT_DEV_LOSS_TMO`.
pub const DEFAULT_DEV_LOSS_TMO: Duration = Duration::from_secs(60);

/// One remote (target) port under a local port. Its id survives re-registration
/// of the same WWNs under the same local port (§2.6).
#[derive(Debug)]
pub(crate) struct RemotePort<L> {
    pub id: RemotePortId,
    pub lport: LocalPortId,
    pub wwnn: Wwn,
    pub wwpn: Wwn,
    pub port_id: u32,
    pub roles: PortRoles,
    pub state: PortState,
    pub dev_loss_tmo: Duration,
    /// Deadline after an unregister; `None` while ONLINE (§2.5).
    pub dev_loss_end: Option<Duration>,
    /// The LLDD's name for this registration.
    pub token: LlddRport,
    /// The LLDD instance that registered it; `None` once unregistered.
    pub lldd: Option<Arc<L>>,
    /// Controllers whose association is being created or is live (§2.4): the
    /// sum of the counts in `act_by_mark`.
    pub act_ctrl_cnt: u32,
    /// The same controllers counted by the registrations they were activated
    /// under (usually one entry; two while a re-registration overlaps the old
    /// registration's last teardown).
    pub act_by_mark: Vec<(ActMark, u32)>,
    /// One entry per unregister whose `remoteport_delete` is still owed: the
    /// registration epoch it belongs to and that registration's LLDD instance.
    pub pending_deletes: Vec<(u64, Arc<L>)>,
    /// `remoteport_delete` callbacks issued so far.
    pub deletes_issued: u64,
    /// Registrations of these WWNs so far; the current one is epoch
    /// `registrations`.
    pub registrations: u64,
    /// Controllers bound to this port (they pin the object, not the LLDD).
    pub bound_ctrls: u32,
}
