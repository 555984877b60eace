//! Errors of the transport's management API.

use crate::ctrl::options::OptionsError;
use crate::lldd::{LlddError, LocalPortId, RemotePortId};
use crate::wwn::{FcAddr, Wwn};

/// Why a management call failed. Messages name the port, option or controller
/// and, where there is one, the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Registration info is malformed.
    #[error("invalid port info for nn-{wwnn}:pn-{wwpn}: {reason}")]
    InvalidPortInfo {
        /// WWNN of the port.
        wwnn: Wwn,
        /// WWPN of the port.
        wwpn: Wwn,
        /// What is wrong.
        reason: &'static str,
    },
    /// A template limit is zero (Linux `-EINVAL`).
    #[error("LLDD limits for local port nn-{wwnn}:pn-{wwpn} are invalid: {reason}")]
    InvalidLimits {
        /// WWNN of the port.
        wwnn: Wwn,
        /// WWPN of the port.
        wwpn: Wwn,
        /// The zero field.
        reason: &'static str,
    },
    /// The local port is registered and online already (Linux `-EEXIST`).
    #[error(
        "local port nn-{wwnn}:pn-{wwpn} is already registered and online; unregister it first"
    )]
    LocalPortExists {
        /// WWNN.
        wwnn: Wwn,
        /// WWPN.
        wwpn: Wwn,
    },
    /// The remote port is registered and online already (Linux `-ESTALE`).
    #[error("remote port nn-{wwnn}:pn-{wwpn} is already registered and online on this local port; the LLDD registered it twice")]
    RemotePortExists {
        /// WWNN.
        wwnn: Wwn,
        /// WWPN.
        wwpn: Wwn,
    },
    /// No local port with this handle.
    #[error("no local port {0:?}; it was never registered or has been freed")]
    NoSuchLocalPort(LocalPortId),
    /// No remote port with this handle.
    #[error("no remote port {0:?}; it was never registered or has been freed")]
    NoSuchRemotePort(RemotePortId),
    /// The local port is not ONLINE (double unregister, or registering a remote
    /// port under an unregistered local port; Linux `-EINVAL`/`-ESHUTDOWN`).
    #[error("local port nn-{wwnn}:pn-{wwpn} is not online")]
    LocalPortNotOnline {
        /// WWNN.
        wwnn: Wwn,
        /// WWPN.
        wwpn: Wwn,
    },
    /// The remote port is not ONLINE (double unregister, devloss change while
    /// unregistered; Linux `-EINVAL`).
    #[error("remote port nn-{wwnn}:pn-{wwpn} is not online")]
    RemotePortNotOnline {
        /// WWNN.
        wwnn: Wwn,
        /// WWPN.
        wwpn: Wwn,
    },
    /// A connect option is invalid.
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// `host_traddr` names no online local port.
    #[error(
        "no online local port {0} (host_traddr); register the local port first or fix host_traddr"
    )]
    NoLocalPort(FcAddr),
    /// `traddr` names no online remote port under `host_traddr`.
    #[error("no online remote port {traddr} (traddr) under local port {host}; check the fabric or fix traddr")]
    NoRemotePort {
        /// The local port.
        host: FcAddr,
        /// The remote port.
        traddr: FcAddr,
    },
    /// The controller is gone.
    #[error("controller {0} has been deleted")]
    ControllerDeleted(String),
    /// No I/O queue can be handed out.
    #[error("controller {ctrl}: {reason}")]
    NoIoQueue {
        /// The controller.
        ctrl: String,
        /// Why.
        reason: &'static str,
    },
    /// The LLDD refused a control call.
    #[error("LLDD refused: {0}")]
    Lldd(#[from] LlddError),
}
