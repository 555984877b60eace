//! Device access and DMA memory for ufc, a polled userspace Fibre Channel HBA driver.
//!
//! # What is here
//!
//! - [`dma`]: DMA memory. [`DmaMemory`](dma::DmaMemory) regions are memfd-backed
//!   (2 MiB hugepages when the pool has them, else 4 KiB pages), locked, and given an
//!   IOVA by our own [`IovaAllocator`](dma::IovaAllocator). [`DmaPool`](dma::DmaPool)
//!   carves one region into size classes with lock-free alloc/free; each
//!   [`DmaBuf`](dma::DmaBuf) carries its IOVA, so the hot path never translates.
//!   [`DmaView`](dma::DmaView) is the device side: IOVA-addressed, bounds-checked reads
//!   and writes for device models.
//! - [`Device`]: one PCI function — config space, [`Bar`] windows, [`Reg32`]/[`Reg64`]
//!   register handles, [`Doorbell`]s, DMA map/unmap and reset — behind one backend seam.
//!
//! # Backends
//!
//! 1. **Kernel VFIO** ([`Device::open_vfio`]): vfio-pci through vfio-ioctls' container
//!    and group API, with every precondition (address, sysfs node, driver binding, IOMMU
//!    group and its viability, /dev/vfio nodes and permissions, RLIMIT_MEMLOCK) checked
//!    first and reported with its fix ([`kernel::preflight`]). BARs are mmapped; register
//!    and doorbell writes are volatile stores.
//! 2. **In-process model** ([`Device::from_model`]): a [`DeviceModel`] in the same
//!    process, reaching driver memory through a [`DmaView`](dma::DmaView). A doorbell
//!    write is two plain stores into the handle's single-producer ring (never lost, never
//!    merged, no lock, no atomic read-modify-write); other accesses take the model's lock
//!    after draining queued doorbells. The model runs on its own thread ([`ModelRunner`])
//!    or inline from the driver's poll ([`Device::poll_model`]). See [`model`].
//! 3. **vfio-user** (later): a model in another process. DMA memory is already memfd
//!    backed ([`DmaMemory::as_fd`](dma::DmaMemory::as_fd)) so it can be passed with
//!    `DMA_MAP`; doorbells would be an mmapped sparse area, i.e. the same MMIO handle
//!    type as the kernel backend. It slots in as one more variant of the internal backend
//!    enum without changing driver code.
//!
//! # Safety model
//!
//! Memory a device can reach changes behind the compiler's back, so:
//!
//! - No `&`/`&mut` to DMA memory is formed by any safe API. `DmaBuf::read_at`/`write_at`,
//!   `DmaMemory::read_at`/`write_at` and `DmaView` copy with volatile accesses (through
//!   vm-memory's `VolatileSlice`). The raw-slice accessors (`DmaBuf::as_slice`,
//!   `as_mut_slice`) are `unsafe` and state the rule: only while no device can access the
//!   buffer.
//! - Mappings are owned once and shared by `Arc`: a DMA region by its `MmapRegion`, a BAR
//!   by its `MmioMapping`. Views, device DMA tables, registers and doorbells hold clones,
//!   so nothing can be unmapped while a handle still points into it.
//! - Registers are checked (range and natural alignment) when their handle is created;
//!   the accessors on a handle then do one volatile access. MMIO writes are preceded by a
//!   release fence so descriptors written before a doorbell are visible first (on x86
//!   this is a compiler barrier only).
//! - Device models are untrusted with respect to addresses: every DMA they do is checked
//!   against the mapped regions and fails with a [`DmaError`] instead of touching memory.
//!
//! `unsafe` lives in `mmio.rs` (MMIO), `dma/pool.rs` and `dma/memory.rs` (raw DMA
//! pointers, mlock), `device.rs` (register handles) and `kernel/` (mmap, pread/pwrite,
//! ioctl, DMA map), each block with its `SAFETY:` argument.

#![warn(missing_docs)]

mod device;
pub mod dma;
pub mod error;
pub mod kernel;
mod mmio;
pub mod model;
mod pci_address;
pub mod testdev;

pub use device::{Bar, Device, Doorbell, Reg32, Reg64, PCI_COMMAND, PCI_COMMAND_MASTER};
pub use error::{DeviceError, DmaError, MemoryError};
pub use kernel::VfioOptions;
pub use model::{DeviceModel, DoorbellRegister, ModelOptions, ModelRunner, ModelStats};
pub use pci_address::PciAddress;
