//! The driver's DMA memory: one region per port instance, carved once at
//! bring-up into rings, the bootstrap mailbox, SGLs and buffers.
//!
//! Nothing here forms a reference into device-visible memory: every access is
//! a bounds-checked volatile copy through [`DmaMemory::read_at`] /
//! [`DmaMemory::write_at`]. The management path is not hot, so copies are fine.

use std::sync::Arc;

use ufc_vfio::dma::{DmaMemory, HugePages, IovaAllocator};
use ufc_vfio::Device;

use super::error::HbaError;

/// A piece of the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    /// Byte offset in the arena.
    pub offset: usize,
    /// Device address of byte 0.
    pub iova: u64,
    /// Length in bytes.
    pub len: usize,
}

/// One mapped DMA region with a bump allocator.
pub(crate) struct DmaArena {
    mem: DmaMemory,
    device: Device,
    next: usize,
}

impl DmaArena {
    /// Allocates `len` bytes and maps them for `device`.
    pub fn new(
        device: &Device,
        len: usize,
        hugepages: HugePages,
        iova: &Arc<IovaAllocator>,
    ) -> Result<DmaArena, HbaError> {
        let mem = DmaMemory::allocate(len, hugepages, iova)?;
        device.dma_map(&mem)?;
        Ok(DmaArena {
            mem,
            device: device.clone(),
            next: 0,
        })
    }

    /// The device's name, for messages.
    pub fn device_name(&self) -> &str {
        self.device.name()
    }

    /// Carves `len` bytes aligned to `align` (a power of two).
    pub fn alloc(
        &mut self,
        len: usize,
        align: usize,
        what: &'static str,
    ) -> Result<Region, HbaError> {
        let start = self.next.next_multiple_of(align.max(1));
        let end = start.checked_add(len).filter(|&e| e <= self.mem.len());
        let Some(end) = end else {
            return Err(HbaError::Exhausted {
                device: self.device.name().to_owned(),
                what,
            });
        };
        self.next = end;
        Ok(Region {
            offset: start,
            iova: self.mem.iova() + start as u64,
            len,
        })
    }

    /// Copies `buf.len()` bytes at `off` of `r` out of the region.
    #[inline]
    pub fn read(&self, r: &Region, off: usize, buf: &mut [u8]) -> Result<(), HbaError> {
        self.check(r, off, buf.len())?;
        Ok(self.mem.read_at(r.offset + off, buf)?)
    }

    /// Copies `data` into `r` at `off`.
    #[inline]
    pub fn write(&self, r: &Region, off: usize, data: &[u8]) -> Result<(), HbaError> {
        self.check(r, off, data.len())?;
        Ok(self.mem.write_at(r.offset + off, data)?)
    }

    /// Zeroes `r`.
    pub fn zero(&self, r: &Region) -> Result<(), HbaError> {
        const Z: [u8; 512] = [0; 512];
        let mut off = 0;
        while off < r.len {
            let n = (r.len - off).min(Z.len());
            self.write(r, off, &Z[..n])?;
            off += n;
        }
        Ok(())
    }

    /// The region check of every access: inlined, so that an access the
    /// caller proves in range costs a compare; the message is built out of
    /// line.
    #[inline]
    fn check(&self, r: &Region, off: usize, len: usize) -> Result<(), HbaError> {
        if off.checked_add(len).is_some_and(|e| e <= r.len) {
            Ok(())
        } else {
            Err(self.outside(r, off, len))
        }
    }

    #[cold]
    #[inline(never)]
    fn outside(&self, r: &Region, off: usize, len: usize) -> HbaError {
        HbaError::BadResponse {
            device: self.device.name().to_owned(),
            what: format!(
                "driver bug: access of {len} bytes at {off} outside a {}-byte DMA region",
                r.len
            ),
        }
    }
}

impl Drop for DmaArena {
    fn drop(&mut self) {
        if let Err(e) = self.device.dma_unmap(&self.mem) {
            log::warn!("{}: DMA unmap at teardown failed: {e}", self.device.name());
        }
    }
}
