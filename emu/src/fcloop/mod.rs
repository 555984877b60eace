//! fcloop: an LLDD with no HBA, after Linux nvme-fcloop. Local ports are joined to
//! [`crate::target`] ports in memory; the target runs on the caller's thread.
//!
//! Build one like this (see `tests/fcloop_target.rs`):
//! ```ignore
//! let fabric = FcloopFabric::new(clock);
//! fabric.add_target_port(tnn, tpn, 0x0200, vec![subsystem])?;
//! let lldd = FcloopLldd::new(Arc::clone(&fabric), memory, Mode::Inline);
//! let lport = lldd.add_local_port(&transport, lnn, lpn, 0x0100)?;
//! let rport = lldd.add_remote_port(&transport, lport, tnn, tpn, None)?;
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
