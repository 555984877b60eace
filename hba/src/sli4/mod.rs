//! SLI-4 formats shared by the driver and the device model (sli4.md).
//!
//! All structures are little-endian. Fixed layouts are `#[repr(C)]` zerocopy
//! structs of whole dwords with a compile-time size check; bit fields are read
//! and written through generated accessors (see [`bits`]). Parsers of
//! device-written entries (EQEs, CQEs, MCQEs, mailbox responses) are total:
//! any bytes decode, and raw fields are exposed for the caller to bounds-check.

pub mod bits;
pub mod cmds;
pub mod cqe;
pub mod doorbell;
pub mod eqe;
pub mod intf;
pub mod mbox;
pub mod regs;
pub mod sge;
pub mod sli_config;
pub mod wqe;
