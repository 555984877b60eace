//! fcloop: an LLDD with no HBA, after Linux nvme-fcloop. Local ports are joined to
//! [`crate::target`] ports in memory; the target runs on the caller's thread.
//!
//! One fabric, one target port with one subsystem and a null namespace, one LLDD
//! instance registered with a transport:
//!
//! ```no_run
//! use std::sync::Arc;
//! use ufc_emu::fcloop::{FcloopFabric, FcloopLldd, Mode};
//! use ufc_emu::target::{Namespace, Subsystem, SubsystemConfig};
//! use ufc_transport::{Clock, Transport};
//! use ufc_transport::wwn::Wwn;
//! use ufc_vfio::dma::{DmaPool, IovaAllocator, PoolConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (clock, _hand) = Clock::manual();
//! let fabric = FcloopFabric::new(clock.clone().into());
//! let subsys = Subsystem::new(
//!     SubsystemConfig::new("nqn.2014-08.org.example:sub1"),
//!     vec![Namespace::null(4096, 1 << 28)?],
//! )?;
//! let (tnn, tpn) = (Wwn(0x1000_1100_ab00_0001), Wwn(0x2000_1100_ab00_0001));
//! fabric.add_target_port(tnn, tpn, 0x02_0100, vec![subsys])?;
//!
//! let pool = DmaPool::new(&PoolConfig::default(), &Arc::new(IovaAllocator::default()))?;
//! let lldd = FcloopLldd::on_pool(Arc::clone(&fabric), &pool, Mode::Inline);
//! let transport = Transport::new(clock);
//! let lport = lldd.add_local_port(&*transport, Wwn(0x1000_1100_aa00_0001), Wwn(0x2000_1100_aa00_0001), 0x01_0100)?;
//! let _rport = lldd.add_remote_port(&*transport, lport, tnn, tpn, None)?;
//! fabric.faults().drop_next_fcp(1); // knobs: latency, drops, delays, LS faults
//! # Ok(()) }
//! ```

pub mod dma;
pub mod fabric;
pub mod faults;
pub mod hwqueue;
pub mod lldd;
pub mod registry;
mod worker;

pub use dma::{CarvedAllocator, DmaAllocator, PoolBuffer};
pub use fabric::FcloopFabric;
pub use faults::{Faults, FcpInfo, LsFault};
pub use hwqueue::FcloopQueue;
pub use lldd::{DeleteEvent, DeleteRecord, FcloopLldd, Mode};
pub use registry::PortRegistry;

/// Errors of the fcloop control calls (the `add_*`/`del_*` control files).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FcloopError {
    /// Bad WWN or port id.
    #[error("fcloop: {0}")]
    BadPort(String),
    /// The port is already there.
    #[error("fcloop: {0}")]
    Exists(String),
    /// No such port.
    #[error("fcloop: {0}")]
    NotFound(String),
    /// The transport refused the registration call.
    #[error("fcloop: transport refused {what}: {reason}")]
    Transport {
        /// The call and the port.
        what: String,
        /// The transport's error.
        reason: String,
    },
}
