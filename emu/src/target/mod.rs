//! NVMe/FC target model after Linux nvmet-fc: subsystems and namespaces, FC target
//! ports, associations and connections, the LS set, the admin and I/O command set,
//! ersp_ratio, and Disconnect Association from the target (docs/design.md).
//!
//! Transport independent: a [`port::TargetPort`] takes LS payloads with the
//! sending host's address and CMD IUs with the host's SGL and a
//! [`crate::host_memory::HostMemory`]; it knows nothing of fcloop or SLI-4.

pub mod admin;
pub mod assoc;
pub mod connection;
pub mod controller;
pub mod fabrics;
pub mod fcp;
pub mod identify;
pub mod io;
pub mod log_page;
pub mod ls;
pub mod namespace;
pub mod port;
pub mod registers;
pub mod response;
pub mod sgl;
pub mod subsystem;

pub use fcp::{FcpOutcome, Rsp};
pub use namespace::Namespace;
pub use port::TargetPort;
pub use subsystem::{Subsystem, SubsystemConfig};

#[cfg(test)]
mod tests;
