//! The transport calls fcloop's control helpers make (nvme-fc.md §1.7), as a trait
//! so that the helpers do not depend on the transport's concrete type and tests can
//! register ports without a transport.

use std::sync::Arc;

use ufc_transport::error::TransportError;
use ufc_transport::lldd::{LocalPortId, PortInfo, RemotePortId};
use ufc_transport::transport::Transport;

use crate::fcloop::lldd::FcloopLldd;
use crate::host_memory::HostMemory;

/// Port registration with an NVMe/FC host transport.
pub trait PortRegistry<L> {
    /// The transport's error.
    type Error: std::fmt::Display;

    /// `nvme_fc_register_localport`.
    fn register_localport(&self, info: PortInfo, lldd: Arc<L>) -> Result<LocalPortId, Self::Error>;
    /// `nvme_fc_register_remoteport`.
    fn register_remoteport(
        &self,
        lport: LocalPortId,
        info: PortInfo,
    ) -> Result<RemotePortId, Self::Error>;
    /// `nvme_fc_unregister_remoteport`.
    fn unregister_remoteport(&self, rport: RemotePortId) -> Result<(), Self::Error>;
    /// `nvme_fc_unregister_localport`.
    fn unregister_localport(&self, lport: LocalPortId) -> Result<(), Self::Error>;
}

impl<M: HostMemory + Clone + 'static> PortRegistry<FcloopLldd<M>> for Transport<FcloopLldd<M>> {
    type Error = TransportError;

    fn register_localport(
        &self,
        info: PortInfo,
        lldd: Arc<FcloopLldd<M>>,
    ) -> Result<LocalPortId, TransportError> {
        Transport::register_localport(self, info, lldd)
    }

    fn register_remoteport(
        &self,
        lport: LocalPortId,
        info: PortInfo,
    ) -> Result<RemotePortId, TransportError> {
        Transport::register_remoteport(self, lport, info)
    }

    fn unregister_remoteport(&self, rport: RemotePortId) -> Result<(), TransportError> {
        Transport::unregister_remoteport(self, rport)
    }

    fn unregister_localport(&self, lport: LocalPortId) -> Result<(), TransportError> {
        Transport::unregister_localport(self, lport)
    }
}
