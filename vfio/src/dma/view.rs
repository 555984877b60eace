//! The device's view of driver memory: regions keyed by IOVA.
//!
//! A device model performs "DMA" through a [`DmaView`]. It is a vm-memory
//! `GuestMemoryMmap` whose "guest addresses" are IOVAs and whose regions share the very
//! mappings of the driver's [`DmaMemory`] (the same `Arc<MmapRegion>`, no second mmap and
//! therefore no double unmap). Every access is bounds-checked against one region: an access
//! to an unmapped IOVA, or one that starts in a region and runs past its end, is a
//! [`DmaError`] for the model to report as a device error, never undefined behaviour. (The
//! IOVA allocator leaves a guard gap after each region, so two regions are never adjacent
//! and a real IOMMU would fault on the same accesses.)

use std::sync::Arc;

use vm_memory::{
    Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion, GuestRegionMmap,
    MemoryRegionAddress,
};

use super::memory::DmaMemory;
use crate::error::DmaError;

/// IOVA-addressed, bounds-checked access to driver memory, as a device sees it.
/// Cheap to clone; a snapshot of the regions mapped when it was built.
#[derive(Clone, Debug, Default)]
pub struct DmaView {
    mem: GuestMemoryMmap,
}

impl DmaView {
    /// A view with no regions: every access fails.
    pub fn empty() -> Self {
        DmaView::default()
    }

    /// A view of `regions`.
    pub fn of(regions: &[&DmaMemory]) -> Self {
        let mut view = DmaView::empty();
        for r in regions {
            view = view.with(r);
        }
        view
    }

    /// This view plus `region`; `Err` with the reason if the region overlaps one already
    /// in the view (possible only when regions come from different IOVA allocators).
    pub fn try_with(&self, region: &DmaMemory) -> Result<Self, String> {
        let r =
            GuestRegionMmap::with_arc(Arc::clone(region.mapping()), GuestAddress(region.iova()))
                .ok_or_else(|| "the region overflows the 64-bit IOVA space".to_owned())?;
        self.mem
            .insert_region(Arc::new(r))
            .map(|mem| DmaView { mem })
            .map_err(|e| format!("it overlaps a region already mapped ({e})"))
    }

    /// This view plus `region`; an overlapping region is left out and logged (see
    /// [`try_with`](Self::try_with)).
    pub fn with(&self, region: &DmaMemory) -> Self {
        self.try_with(region).unwrap_or_else(|e| {
            log::warn!(
                "DMA region at IOVA {:#x} not added to view: {e}",
                region.iova()
            );
            self.clone()
        })
    }

    /// This view without the region at `region`'s IOVA.
    pub fn without(&self, region: &DmaMemory) -> Self {
        match self
            .mem
            .remove_region(GuestAddress(region.iova()), region.len() as u64)
        {
            Ok((mem, _)) => DmaView { mem },
            Err(_) => self.clone(),
        }
    }

    /// Number of regions.
    pub fn regions(&self) -> usize {
        self.mem.num_regions()
    }

    /// The region holding `[iova, iova+len)` and the offset of `iova` in it.
    fn locate(&self, iova: u64, len: usize) -> Result<(&GuestRegionMmap, u64), DmaError> {
        let region = self
            .mem
            .find_region(GuestAddress(iova))
            .ok_or(DmaError::Unmapped { iova, len })?;
        let start = region.start_addr().0;
        let offset = iova - start;
        let fits = offset
            .checked_add(len as u64)
            .is_some_and(|end| end <= region.len());
        if !fits {
            return Err(DmaError::CrossesRegionEnd {
                iova,
                len,
                region_start: start,
                region_end: start + region.len(),
            });
        }
        Ok((region, offset))
    }

    /// Device read ("DMA to device"): copies `buf.len()` bytes at `iova` into `buf`.
    pub fn read(&self, iova: u64, buf: &mut [u8]) -> Result<(), DmaError> {
        let (region, offset) = self.locate(iova, buf.len())?;
        region
            .read_slice(buf, MemoryRegionAddress(offset))
            // Unreachable after `locate`; mapped to the same error rather than a panic.
            .map_err(|_| DmaError::Unmapped {
                iova,
                len: buf.len(),
            })
    }

    /// Device write ("DMA from device"): copies `data` to `iova`.
    pub fn write(&self, iova: u64, data: &[u8]) -> Result<(), DmaError> {
        let (region, offset) = self.locate(iova, data.len())?;
        region
            .write_slice(data, MemoryRegionAddress(offset))
            .map_err(|_| DmaError::Unmapped {
                iova,
                len: data.len(),
            })
    }

    /// Reads a little-endian u32 at `iova`.
    pub fn read_u32(&self, iova: u64) -> Result<u32, DmaError> {
        let mut b = [0u8; 4];
        self.read(iova, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Writes a little-endian u32 at `iova`.
    pub fn write_u32(&self, iova: u64, value: u32) -> Result<(), DmaError> {
        self.write(iova, &value.to_le_bytes())
    }

    /// Reads a plain-old-data value (vm-memory `ByteValued`) at `iova`.
    pub fn read_obj<T: vm_memory::ByteValued>(&self, iova: u64) -> Result<T, DmaError> {
        let mut v = T::zeroed();
        self.read(iova, v.as_mut_slice())?;
        Ok(v)
    }

    /// Writes a plain-old-data value at `iova`.
    pub fn write_obj<T: vm_memory::ByteValued>(
        &self,
        iova: u64,
        value: &T,
    ) -> Result<(), DmaError> {
        self.write(iova, value.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dma::{HugePages, IovaAllocator};
    use proptest::prelude::*;

    fn two_regions() -> (DmaMemory, DmaMemory, DmaView) {
        let iova = Arc::new(IovaAllocator::new(0x10000, 1 << 30));
        let a = DmaMemory::allocate(8192, HugePages::Never, &iova).unwrap();
        let b = DmaMemory::allocate(4096, HugePages::Never, &iova).unwrap();
        let v = DmaView::of(&[&a, &b]);
        (a, b, v)
    }

    #[test]
    fn reads_and_writes_reach_the_driver_mapping() {
        let (a, b, v) = two_regions();
        assert_eq!(v.regions(), 2);
        v.write(a.iova() + 100, b"dma!").unwrap();
        let mut out = [0u8; 4];
        a.read_at(100, &mut out).unwrap();
        assert_eq!(&out, b"dma!");
        b.write_at(4092, &7u32.to_le_bytes()).unwrap();
        assert_eq!(v.read_u32(b.iova() + 4092).unwrap(), 7);
        v.write_obj(b.iova(), &0x1122_3344_5566_7788u64).unwrap();
        assert_eq!(v.read_obj::<u64>(b.iova()).unwrap(), 0x1122_3344_5566_7788);
    }

    #[test]
    fn unmapped_and_crossing_accesses_are_errors() {
        let (a, b, v) = two_regions();
        let mut buf = [0u8; 8];
        assert_eq!(
            v.read(0, &mut buf),
            Err(DmaError::Unmapped { iova: 0, len: 8 })
        );
        let end = a.iova() + a.len() as u64;
        let e = v.read(end - 4, &mut buf).unwrap_err();
        assert_eq!(
            e,
            DmaError::CrossesRegionEnd {
                iova: end - 4,
                len: 8,
                region_start: a.iova(),
                region_end: end
            }
        );
        assert!(e.to_string().contains("runs past the end"));
        // The guard gap: the byte after region a is not region b.
        assert!(matches!(v.write(end, &[1]), Err(DmaError::Unmapped { .. })));
        assert!(v.write(b.iova() + 4096, &[]).is_err());
        assert!(v.read(u64::MAX, &mut buf).is_err());
    }

    #[test]
    fn without_removes_and_view_outlives_driver_handle() {
        let (a, b, v) = two_regions();
        let v2 = v.without(&a);
        assert_eq!(v2.regions(), 1);
        assert!(v2.write(a.iova(), &[1]).is_err());
        // Dropping the driver's handles keeps the view's mapping alive (shared Arc).
        let biova = b.iova();
        drop(a);
        drop(b);
        v2.write(biova, &[9]).unwrap();
        assert_eq!(v2.read_obj::<u8>(biova).unwrap(), 9);
    }

    #[test]
    fn duplicate_or_overlapping_region_is_refused() {
        let (a, _b, v) = two_regions();
        assert_eq!(v.with(&a).regions(), 2);
        // A second allocator over the same window hands out the same IOVA.
        let other = Arc::new(IovaAllocator::new(0x10000, 1 << 30));
        let c = DmaMemory::allocate(4096, HugePages::Never, &other).unwrap();
        assert_eq!(c.iova(), a.iova());
        let e = v.try_with(&c).unwrap_err();
        assert!(e.contains("overlaps a region already mapped"), "{e}");
    }

    proptest! {
        #[test]
        fn random_accesses_never_panic(off in any::<u64>(), len in 0usize..20_000, base in 0u8..3) {
            let (a, b, v) = two_regions();
            let start = match base { 0 => a.iova(), 1 => b.iova(), _ => 0 };
            let iova = start.wrapping_add(off % 0x4000);
            let mut buf = vec![0u8; len];
            let in_a = iova >= a.iova() && iova + len as u64 <= a.iova() + a.len() as u64 && iova < a.iova() + a.len() as u64;
            let in_b = iova >= b.iova() && iova + len as u64 <= b.iova() + b.len() as u64 && iova < b.iova() + b.len() as u64;
            let r = v.read(iova, &mut buf);
            prop_assert_eq!(r.is_ok(), in_a || in_b);
            let w = v.write(iova, &buf);
            prop_assert_eq!(w.is_ok(), in_a || in_b);
            if let Err(e) = r {
                prop_assert_eq!(e.iova(), iova);
                prop_assert_eq!(e.len(), len);
            }
        }

        #[test]
        fn arbitrary_iova_never_panics(iova in any::<u64>(), len in 0usize..5000) {
            let (_a, _b, v) = two_regions();
            let mut buf = vec![0u8; len];
            let _ = v.read(iova, &mut buf);
            let _ = v.write(iova, &buf);
        }
    }
}
