//! ufc-hba: a polled userspace driver for Broadcom/Emulex SLI-4 Fibre Channel HBAs.
//!
//! - [`sli4`], [`fc`]: the formats shared with the device model (emu).
//! - [`driver`]: the driver ([`driver::Hba`]).

pub mod driver;
pub mod fc;
pub mod sli4;

pub use driver::{Hba, HbaConfig, HbaError, HbaLldd, HbaState};
