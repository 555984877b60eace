//! The attached end of a host F_Port: what an N_Port model (the SLI-4 device
//! model, a test) holds to send frames into the fabric and poll what the fabric
//! has for it.

use std::sync::Arc;

use ufc_hba::fc::frame::Frame;
use ufc_transport::wwn::FcAddr;

use crate::fabric::event::PortEvent;
use crate::fabric::switch::Fabric;
use crate::fabric::FabricError;

/// A host N_Port attached to the fabric; detaches on drop (as a cable pull: its
/// logins vanish and RSCNs go out).
#[derive(Debug)]
pub struct HostPort {
    fabric: Arc<Fabric>,
    index: usize,
    addr: FcAddr,
}

impl HostPort {
    pub(crate) fn new(fabric: Arc<Fabric>, index: usize, addr: FcAddr) -> Self {
        HostPort {
            fabric,
            index,
            addr,
        }
    }

    /// The WWNN/WWPN configured for this port.
    pub fn addr(&self) -> FcAddr {
        self.addr
    }

    /// The fabric.
    pub fn fabric(&self) -> &Arc<Fabric> {
        &self.fabric
    }

    /// The N_Port ID the last FLOGI assigned, while fabric-logged-in.
    pub fn n_port_id(&self) -> Option<u32> {
        self.fabric.host_n_port_id(self.index)
    }

    /// Sends one frame (24-byte header + payload). The fabric handles it at once;
    /// answers show up in [`HostPort::poll`]. Frames the fabric cannot deliver
    /// are dropped and counted ([`Fabric::stats`]), as a class-3 fabric does;
    /// `Err` only for a link that is down or bytes that are not a frame.
    pub fn send(&self, frame: &[u8]) -> Result<(), FabricError> {
        let f = Frame::parse(frame)?;
        self.fabric.send_from_host(self.index, f)
    }

    /// Sends a frame already split into header and payload.
    pub fn send_frame(&self, frame: Frame) -> Result<(), FabricError> {
        self.fabric.send_from_host(self.index, frame)
    }

    /// The next event for this port whose delivery time has come on the fabric
    /// clock. Also runs the fabric's timers and collects target-initiated LSs.
    pub fn poll(&self) -> Option<PortEvent> {
        self.fabric.poll();
        self.fabric.next_event(self.index)
    }
}

impl Drop for HostPort {
    fn drop(&mut self) {
        self.fabric.detach(self.index);
    }
}
