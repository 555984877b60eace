//! NVMe/FC target model: subsystems, namespaces, FC target ports, associations,
//! the LS set and the admin/I/O command set (docs/design.md "ufc-emu").

pub mod namespace;
pub mod registers;
pub mod sgl;
pub mod subsystem;
