//! Device-visible buffers the driver lends out ([`Lldd::alloc_dma`]): the
//! transport's admin command data (Connect, Identify), and I/O buffers of
//! applications that have no DMA memory of their own.
//!
//! [`Lldd::alloc_dma`]: ufc_transport::lldd::Lldd::alloc_dma

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ufc_transport::lldd::DmaBuffer;
use ufc_vfio::dma::{DmaMemory, HugePages, IovaAllocator};
use ufc_vfio::Device;

use super::error::HbaError;

/// What a buffer is mapped for.
#[derive(Clone)]
pub(crate) struct DmaSource {
    pub device: Device,
    pub iova: Arc<IovaAllocator>,
    pub hugepages: HugePages,
}

impl std::fmt::Debug for DmaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaSource")
            .field("device", &self.device.name())
            .finish_non_exhaustive()
    }
}

/// One mapped buffer; unmapped on drop.
pub struct HbaDmaBuffer {
    mem: DmaMemory,
    /// The length asked for (the mapping is rounded up to a page).
    len: usize,
    device: Device,
    /// The lender's count of buffers in use.
    in_use: Arc<AtomicUsize>,
}

impl std::fmt::Debug for HbaDmaBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HbaDmaBuffer")
            .field("iova", &self.mem.iova())
            .field("len", &self.len)
            .finish()
    }
}

impl HbaDmaBuffer {
    /// `len` bytes mapped for the source's device.
    /// `in_use` counts the buffers alive (control path: the RMW is fine).
    pub(crate) fn new(
        src: &DmaSource,
        len: usize,
        in_use: Arc<AtomicUsize>,
    ) -> Result<HbaDmaBuffer, HbaError> {
        let mem = DmaMemory::allocate(len, src.hugepages, &src.iova)?;
        src.device.dma_map(&mem)?;
        in_use.fetch_add(1, Ordering::AcqRel);
        Ok(HbaDmaBuffer {
            mem,
            len,
            device: src.device.clone(),
            in_use,
        })
    }
}

impl DmaBuffer for HbaDmaBuffer {
    fn iova(&self) -> u64 {
        self.mem.iova()
    }

    fn len(&self) -> usize {
        self.len
    }

    fn read(&self, offset: usize, dst: &mut [u8]) {
        let n = self.len.saturating_sub(offset).min(dst.len());
        if let Some(d) = dst.get_mut(..n) {
            // In range by construction; a failure leaves `dst` untouched.
            let _ = self.mem.read_at(offset, d);
        }
    }

    fn write(&mut self, offset: usize, src: &[u8]) {
        let n = self.len.saturating_sub(offset).min(src.len());
        if let Some(s) = src.get(..n) {
            let _ = self.mem.write_at(offset, s);
        }
    }
}

impl Drop for HbaDmaBuffer {
    fn drop(&mut self) {
        self.in_use.fetch_sub(1, Ordering::AcqRel);
        if let Err(e) = self.device.dma_unmap(&self.mem) {
            log::warn!(
                "{}: DMA unmap of a lent buffer failed: {e}",
                self.device.name()
            );
        }
    }
}
