//! placeholder
#![warn(missing_docs)]
pub mod dma;
pub mod error;
pub mod pci_address;
pub use error::{DeviceError, DmaError, MemoryError};
pub use pci_address::PciAddress;
