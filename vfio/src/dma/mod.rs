//! DMA memory: regions, the IOVA allocator, the buffer pool and the device's view.
//!
//! See the crate documentation for the safety model.

mod hugepages;
mod iova;
mod memlock;
mod memory;
mod pool;
mod view;

pub use hugepages::{HugePagePool, HugePages, BASE_PAGE_SIZE, HUGE_PAGE_SIZE};
pub use iova::{IovaAllocator, DEFAULT_IOVA_END, DEFAULT_IOVA_START};
pub use memlock::MemlockBudget;
pub use memory::DmaMemory;
pub use pool::{ClassConfig, ClassStats, DmaBuf, DmaPool, PoolConfig};
pub use view::DmaView;

pub use crate::error::{DmaError, MemoryError};
