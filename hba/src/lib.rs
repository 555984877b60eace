//! ufc-hba: a polled userspace driver for Broadcom/Emulex SLI-4 Fibre Channel HBAs.

pub mod fc;
pub mod sli4;
