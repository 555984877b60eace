//! ufc-emu: software models for ufc — NVMe/FC targets ([`target`]) and a loopback
//! LLDD with no HBA ([`fcloop`]), after Linux nvmet-fc and nvme-fcloop.

pub mod clock;
pub mod fabric;
pub mod fcloop;
pub mod host_memory;
pub mod sli4;
pub mod target;
