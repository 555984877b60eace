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
//! Configuration is data ([`FabricConfig`]: TOML or the built-in default);
//! faults are methods of [`Fabric`] ([`Fabric::link_down`],
//! [`Fabric::target_leave`], [`Fabric::reject_next_prli`],
//! [`Fabric::drop_frames_if`], ... in [`faults`]); a capture starts with
//! [`Fabric::capture_to_file`]. Every frame is one whole sequence: multi-frame
//! sequences are not modelled (the largest LS, Create Association, is 1024 bytes).
//!
//! An N_Port attaches to a host F_Port by WWPN, sends whole frames and polls
//! its receive queue; the FLOGI ACC's D_ID is the N_Port ID it was given:
//!
//! ```
//! use ufc_emu::clock::Clock;
//! use ufc_emu::fabric::{Fabric, FabricConfig, PortEvent, FABRIC_DID};
//! use ufc_hba::fc::{els_cmd, fc_type, r_ctl, FcHeader, Frame, LoginPayload, ServiceParams};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (clock, _hand) = Clock::manual();
//! let fabric = Fabric::new(FabricConfig::default(), clock)?;
//! let me = fabric.config().host_ports[0].addr;
//! let port = fabric.attach(me.wwpn)?;
//! assert!(matches!(port.poll(), Some(PortEvent::LinkUp { speed_gbps: 32 })));
//!
//! let flogi = LoginPayload::new(els_cmd::FLOGI, ServiceParams::n_port(me.wwpn, me.wwnn));
//! let hdr = FcHeader::request(r_ctl::ELS_REQ, fc_type::ELS, FABRIC_DID, 0, 0x10);
//! port.send(&Frame::new(hdr, flogi.as_bytes().to_vec()).to_bytes())?;
//! let Some(PortEvent::Frame(acc)) = port.poll() else { panic!("no FLOGI ACC") };
//! assert_eq!(acc.header.d_id(), 0x01_0100);
//! assert_eq!(port.n_port_id(), Some(0x01_0100));
//!
//! // FCP goes to the target at exchange level, not frame by frame.
//! let target = fabric.target_for(0x01_0101).expect("the default target");
//! assert_eq!(target.addr(), fabric.config().target_ports[0].addr);
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
