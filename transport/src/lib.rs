//! ufc-transport: an NVMe over Fibre Channel host transport after Linux `nvme-fc`,
//! polled, with lock-free queue pairs and the restart-safe port accounting of the
//! seed commit (docs/design.md, ../shared/docs/nvme-fc.md).

pub mod lldd;
pub mod wire;
pub mod wwn;
