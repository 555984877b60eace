//! A software FC switched fabric. N_Ports attach to F_Ports and exchange whole FC
//! frames (24-byte header + payload) with it; the fabric answers for its
//! well-known addresses and for the NVMe target N_Ports it hosts:
//!
//! - F_Port login server at 0xFFFFFE: FLOGI assigns the N_Port ID
//!   (`domain.01.00 + F_Port index` unless configured) and returns the F_Port's
//!   service parameters (R_A_TOV, E_D_TOV, BB credit, fabric names);
//! - directory / name server at 0xFFFFFC: PLOGI, RFT_ID, RFF_ID, GID_FT, GID_PT;
//! - fabric controller at 0xFFFFFD: SCR; the fabric sends RSCN to registered ports
//!   when a port joins or leaves;
//! - target N_Ports served by [`crate::target::TargetPort`]: PLOGI, NVMe PRLI,
//!   LOGO, the FC-NVMe LSs and ABTS. FCP I/O goes to the target at exchange level
//!   through [`Fabric::target_for`].
//!
//! Frames for a host N_Port (replies, RSCN, target-initiated LSs, LOGO) wait in
//! its receive queue until the attached port polls ([`HostPort::poll`]). Every
//! frame crossing the fabric can be captured to a pcap file ([`pcap`]).
//! Everything runs on the caller's thread and reads the injected clock, so tests
//! are deterministic.
//!
//! ```no_run
//! use ufc_emu::clock::Clock;
//! use ufc_emu::fabric::{Fabric, FabricConfig, PortEvent};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (clock, _hand) = Clock::manual();
//! let fabric = Fabric::new(FabricConfig::default(), clock)?;
//! let wwpn = fabric.config().host_ports[0].addr.wwpn;
//! let host = fabric.attach(wwpn)?;
//! while let Some(ev) = host.poll() {
//!     if let PortEvent::LinkUp { .. } = ev { /* send FLOGI with host.send(&frame) */ }
//! }
//! # Ok(()) }
//! ```

pub mod config;
pub mod event;
pub mod faults;
pub mod host_port;
pub mod name_server;
pub mod pcap;
mod services;
pub mod stats;
pub mod switch;
mod target_node;
mod wire;

pub use config::{ConfigError, FabricConfig, HostPortConfig, TargetPortConfig};
pub use event::PortEvent;
pub use host_port::HostPort;
pub use pcap::PcapWriter;
pub use stats::FabricStats;
pub use switch::{Fabric, FrameDirection};
pub use ufc_hba::fc::frame::Frame;

/// Well-known address of the F_Port login server (FLOGI).
pub const FABRIC_DID: u32 = ufc_hba::fc::header::well_known::F_PORT;
/// Well-known address of the fabric controller (SCR, RSCN).
pub const FABRIC_CTRL_DID: u32 = ufc_hba::fc::header::well_known::FABRIC_CONTROLLER;
/// Well-known address of the directory / name server.
pub const NAME_SERVER_DID: u32 = ufc_hba::fc::header::well_known::NAME_SERVER;

/// Errors of the fabric's control and send calls.
#[derive(Debug, thiserror::Error)]
pub enum FabricError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No port with this WWPN.
    #[error("fabric: no {kind} port with WWPN {wwpn} is configured; add it to the fabric config")]
    NoSuchPort {
        /// "host" or "target".
        kind: &'static str,
        /// The WWPN asked for.
        wwpn: ufc_transport::wwn::Wwn,
    },
    /// A port with this WWPN is already on the fabric.
    #[error("fabric: a port with WWPN {0} already exists; WWPNs must be unique")]
    Duplicate(ufc_transport::wwn::Wwn),
    /// No N_Port ID is left to hand out.
    #[error("fabric: no free N_Port ID left in the domain; use fewer ports")]
    Full,
    /// The host port is already attached.
    #[error("fabric: host port {0} is already attached; drop its HostPort first")]
    AlreadyAttached(ufc_transport::wwn::Wwn),
    /// The frame was not sent: its port's link is down.
    #[error("fabric: host port {0} link is down; wait for PortEvent::LinkUp")]
    LinkDown(ufc_transport::wwn::Wwn),
    /// The bytes are not a frame (shorter than a header, payload over 2112 bytes).
    #[error("fabric: frame refused: {0}")]
    BadFrame(#[from] ufc_hba::fc::error::FcError),
    /// The pcap file could not be written.
    #[error("fabric: pcap capture: {0}")]
    Pcap(#[from] std::io::Error),
}
