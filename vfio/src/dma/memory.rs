//! DMA regions: memfd-backed, locked, with an IOVA from our allocator.
//!
//! Ownership: each region is mapped exactly once, by vm-memory's `MmapRegion` (owned,
//! `MAP_SHARED` over the memfd), held in an `Arc`. The [`DmaView`](super::DmaView) of a
//! device model and a device's DMA mapping table hold clones of that `Arc`, never a second
//! mapping, so the pages are unmapped once, after the last user is gone: a device model can
//! never touch unmapped memory even if the driver drops its `DmaMemory` first. The memfd
//! stays open inside the mapping (`FileOffset`) so the same pages can be handed to a device
//! model in another process (vfio-user `DMA_MAP` passes an fd and an offset).

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::Arc;

use nix::sys::memfd::{memfd_create, MFdFlags};
use vm_memory::mmap::MmapRegionBuilder;
use vm_memory::{FileOffset, MmapRegion, VolatileMemory};

use super::hugepages::{HugePagePool, HugePages, BASE_PAGE_SIZE, HUGE_PAGE_SIZE};
use super::iova::IovaAllocator;
use super::memlock::MemlockBudget;
use crate::error::{DmaError, MemoryError};

/// One DMA region. Cloning shares the region; the pages are unlocked and unmapped and the
/// IOVA returned when the last clone (and the last device mapping or view) is gone.
#[derive(Clone, Debug)]
pub struct DmaMemory {
    inner: Arc<RegionInner>,
}

#[derive(Debug)]
struct RegionInner {
    mapping: Arc<MmapRegion>,
    iova: u64,
    huge: bool,
    allocator: Arc<IovaAllocator>,
}

impl Drop for RegionInner {
    fn drop(&mut self) {
        self.allocator.free(self.iova);
    }
}

impl DmaMemory {
    /// Allocates a region of at least `len` bytes (rounded up to the page size), locks it
    /// and reserves an IOVA for it. Contents are zero.
    pub fn allocate(
        len: usize,
        hugepages: HugePages,
        iova: &Arc<IovaAllocator>,
    ) -> Result<Self, MemoryError> {
        Self::allocate_with(
            len,
            hugepages,
            iova,
            &HugePagePool::current(),
            &MemlockBudget::current(),
        )
    }

    /// [`allocate`](Self::allocate) with the hugepage pool and memlock budget given, so
    /// the policy can be tested without changing the machine.
    pub fn allocate_with(
        len: usize,
        hugepages: HugePages,
        iova: &Arc<IovaAllocator>,
        pool: &HugePagePool,
        budget: &MemlockBudget,
    ) -> Result<Self, MemoryError> {
        if len == 0 {
            return Err(MemoryError::InvalidConfig(
                "a DMA region cannot be empty".into(),
            ));
        }
        let huge_len = round_up(len, HUGE_PAGE_SIZE)?;
        let huge_pages = (huge_len / HUGE_PAGE_SIZE) as u64;
        let exhausted = |free| MemoryError::HugePagesExhausted {
            len,
            needed: huge_pages,
            free,
            suggest: pool.total.saturating_sub(free).saturating_add(huge_pages),
        };
        let mut huge = match hugepages {
            HugePages::Never => false,
            HugePages::Prefer => pool.free >= huge_pages,
            HugePages::Require if pool.free >= huge_pages => true,
            HugePages::Require => return Err(exhausted(pool.free)),
        };
        if hugepages == HugePages::Prefer && !huge {
            log::info!(
                "DMA region of {len} bytes uses 4 KiB pages: {} 2 MiB hugepages free, {huge_pages} needed",
                pool.free
            );
        }
        let mapping = loop {
            let map_len = if huge {
                huge_len
            } else {
                round_up(len, BASE_PAGE_SIZE)?
            };
            budget.check(map_len)?;
            match map_memfd(map_len, huge) {
                Ok(m) => break m,
                Err(MemoryError::HugePagesExhausted { free, .. })
                    if hugepages == HugePages::Prefer =>
                {
                    // The pool shrank between the meminfo read and the mmap.
                    log::info!("hugepage mmap failed ({free} free), retrying with 4 KiB pages");
                    huge = false;
                }
                Err(MemoryError::HugePagesExhausted { free, .. }) => return Err(exhausted(free)),
                Err(e) => return Err(e),
            }
        };
        let align = if huge { HUGE_PAGE_SIZE } else { BASE_PAGE_SIZE } as u64;
        let iova_start = iova.alloc(mapping.size() as u64, align)?;
        log::debug!(
            "DMA region {:#x}+{:#x} at {:p} ({} pages)",
            iova_start,
            mapping.size(),
            mapping.as_ptr(),
            if huge { "2 MiB" } else { "4 KiB" }
        );
        Ok(DmaMemory {
            inner: Arc::new(RegionInner {
                mapping,
                iova: iova_start,
                huge,
                allocator: Arc::clone(iova),
            }),
        })
    }

    /// First IOVA of the region.
    pub fn iova(&self) -> u64 {
        self.inner.iova
    }

    /// Length in bytes (a multiple of the page size).
    pub fn len(&self) -> usize {
        self.inner.mapping.size()
    }

    /// Always false: regions are never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// True when backed by 2 MiB hugepages.
    pub fn is_hugepage(&self) -> bool {
        self.inner.huge
    }

    /// Virtual address of the first byte. Never form a reference from it while a device
    /// may access the region (see the crate's safety model).
    pub fn as_ptr(&self) -> *mut u8 {
        self.inner.mapping.as_ptr()
    }

    /// The memfd backing the region, for handing it to another process.
    pub fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner.mapping.file_offset().map(|f| f.file().as_fd())
    }

    /// Offset of the region's first byte in the memfd.
    pub fn fd_offset(&self) -> u64 {
        self.inner.mapping.file_offset().map_or(0, |f| f.start())
    }

    /// Volatile copy of `data` into the region at `offset` (control path).
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<(), DmaError> {
        let slice = self
            .inner
            .mapping
            .get_slice(offset, data.len())
            .map_err(|_| self.out_of_range(offset, data.len()))?;
        slice.copy_from(data);
        Ok(())
    }

    /// Volatile copy from the region at `offset` into `buf` (control path).
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<(), DmaError> {
        let slice = self
            .inner
            .mapping
            .get_slice(offset, buf.len())
            .map_err(|_| self.out_of_range(offset, buf.len()))?;
        slice.copy_to(buf);
        Ok(())
    }

    fn out_of_range(&self, offset: usize, len: usize) -> DmaError {
        DmaError::CrossesRegionEnd {
            iova: self.iova().wrapping_add(offset as u64),
            len,
            region_start: self.iova(),
            region_end: self.iova() + self.len() as u64,
        }
    }

    pub(crate) fn mapping(&self) -> &Arc<MmapRegion> {
        &self.inner.mapping
    }

    /// True when both handles name the same region.
    pub fn same_region(&self, other: &DmaMemory) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

fn round_up(len: usize, page: usize) -> Result<usize, MemoryError> {
    len.checked_next_multiple_of(page).ok_or_else(|| {
        MemoryError::InvalidConfig(format!("DMA region of {len} bytes is too large"))
    })
}

/// memfd_create + ftruncate + mmap(MAP_SHARED) + mlock.
///
/// With MFD_HUGETLB, memfd_create and ftruncate succeed even when the hugepage pool is
/// empty; only mmap fails (ENOMEM, when the kernel reserves the pages). So the
/// diagnosis happens here, with HugePages_Free re-read at the moment of failure.
pub(crate) fn map_memfd(len: usize, huge: bool) -> Result<Arc<MmapRegion>, MemoryError> {
    let page = if huge { "2 MiB" } else { "4 KiB" };
    let os = |op, source| MemoryError::Os {
        op,
        len,
        page,
        source,
    };
    let (flags, flag_text) = if huge {
        (
            MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_HUGETLB | MFdFlags::MFD_HUGE_2MB,
            "MFD_CLOEXEC|MFD_HUGETLB|MFD_HUGE_2MB",
        )
    } else {
        (MFdFlags::MFD_CLOEXEC, "MFD_CLOEXEC")
    };
    let fd = memfd_create(c"ufc-dma", flags).map_err(|source| MemoryError::MemfdUnsupported {
        flags: flag_text,
        source,
    })?;
    let file = File::from(fd);
    file.set_len(len as u64).map_err(|e| os("ftruncate", e))?;
    let mapping = MmapRegionBuilder::new(len)
        .with_file_offset(FileOffset::new(file, 0))
        .with_mmap_prot(libc::PROT_READ | libc::PROT_WRITE)
        .with_mmap_flags(libc::MAP_SHARED)
        .with_hugetlbfs(huge)
        .build()
        .map_err(|e| {
            let io = match e {
                vm_memory::mmap::MmapRegionError::Mmap(io) => io,
                other => std::io::Error::other(other.to_string()),
            };
            if huge && io.raw_os_error() == Some(libc::ENOMEM) {
                let pool = HugePagePool::read(Path::new("/proc/meminfo"));
                MemoryError::HugePagesExhausted {
                    len,
                    needed: (len / HUGE_PAGE_SIZE) as u64,
                    free: pool.free,
                    suggest: pool.total.saturating_sub(pool.free) + (len / HUGE_PAGE_SIZE) as u64,
                }
            } else {
                os("mmap", io)
            }
        })?;
    // SAFETY: the range is exactly the mapping just created and still owned by `mapping`;
    // mlock does not touch the contents.
    let rc = unsafe { libc::mlock(mapping.as_ptr().cast(), len) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ENOMEM) || err.raw_os_error() == Some(libc::EPERM) {
            // The budget check passed, so another thread locked memory meanwhile, or the
            // kernel counts differently; report the limit as seen now.
            MemlockBudget::current().check(len)?;
        }
        return Err(os("mlock", err));
    }
    Ok(Arc::new(mapping))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unlimited() -> MemlockBudget {
        MemlockBudget {
            limit: None,
            locked: 0,
            cap_ipc_lock: false,
        }
    }

    #[test]
    fn small_region_rounds_to_page_and_is_zeroed() {
        let iova = Arc::new(IovaAllocator::default());
        let m = DmaMemory::allocate(100, HugePages::Never, &iova).unwrap();
        assert_eq!(m.len(), 4096);
        assert!(!m.is_hugepage());
        assert_eq!(m.iova() % 4096, 0);
        assert!(m.as_fd().is_some());
        assert_eq!(m.fd_offset(), 0);
        let mut buf = [0xffu8; 16];
        m.read_at(4080, &mut buf).unwrap();
        assert_eq!(buf, [0; 16]);
        m.write_at(10, b"hello").unwrap();
        let mut out = [0u8; 5];
        m.read_at(10, &mut out).unwrap();
        assert_eq!(&out, b"hello");
        assert!(m.write_at(4093, b"abcd").is_err());
        assert!(m.read_at(usize::MAX, &mut out).is_err());
    }

    #[test]
    fn iova_returned_when_last_clone_drops() {
        let iova = Arc::new(IovaAllocator::new(0x10_0000, 0x100_0000));
        let before = iova.free_bytes();
        let m = DmaMemory::allocate(8192, HugePages::Never, &iova).unwrap();
        let c = m.clone();
        assert!(c.same_region(&m));
        drop(m);
        assert!(iova.free_bytes() < before);
        drop(c);
        assert_eq!(iova.free_bytes(), before);
    }

    #[test]
    fn require_with_empty_pool_names_the_sysctl() {
        let iova = Arc::new(IovaAllocator::default());
        let pool = HugePagePool {
            total: 3,
            free: 1,
            page_size: 2 << 20,
        };
        let e = DmaMemory::allocate_with(5 << 20, HugePages::Require, &iova, &pool, &unlimited())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("needs 3 free 2 MiB hugepages but only 1 are free"),
            "{e}"
        );
        assert!(e.contains("echo 5 > /proc/sys/vm/nr_hugepages"), "{e}");
    }

    #[test]
    fn require_on_this_machine_matches_meminfo() {
        // Checks the real pool first: the expected outcome depends on it.
        let pool = HugePagePool::current();
        let iova = Arc::new(IovaAllocator::default());
        let r = DmaMemory::allocate(2 << 20, HugePages::Require, &iova);
        if pool.free == 0 {
            let e = r.unwrap_err().to_string();
            assert!(e.contains("only 0 are free"), "{e}");
            assert!(e.contains("/proc/sys/vm/nr_hugepages"), "{e}");
        } else {
            assert!(r.unwrap().is_hugepage());
        }
    }

    #[test]
    fn hugetlb_mmap_enomem_is_diagnosed_at_the_mmap() {
        // memfd_create and ftruncate succeed with an empty pool; only mmap fails.
        if HugePagePool::current().free != 0 {
            return; // the failure cannot be provoked on a machine with free hugepages
        }
        match map_memfd(2 << 20, true) {
            Err(e @ MemoryError::HugePagesExhausted { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("needs 1 free 2 MiB hugepages"), "{msg}");
            }
            // A kernel without CONFIG_HUGETLBFS refuses the flags instead.
            Err(e @ MemoryError::MemfdUnsupported { .. }) => {
                assert!(e.to_string().contains("MFD_HUGETLB"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn prefer_falls_back_to_base_pages() {
        let iova = Arc::new(IovaAllocator::default());
        let empty = HugePagePool::default();
        let m = DmaMemory::allocate_with(3 << 20, HugePages::Prefer, &iova, &empty, &unlimited())
            .unwrap();
        assert!(!m.is_hugepage());
        assert_eq!(m.len(), 3 << 20);
    }

    #[test]
    fn memlock_budget_is_checked_before_mapping() {
        let iova = Arc::new(IovaAllocator::default());
        let tight = MemlockBudget {
            limit: Some(64 << 10),
            locked: 0,
            cap_ipc_lock: false,
        };
        let e = DmaMemory::allocate_with(
            1 << 20,
            HugePages::Never,
            &iova,
            &HugePagePool::default(),
            &tight,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("RLIMIT_MEMLOCK is 65536 bytes"), "{e}");
        assert!(e.contains("ulimit -l"), "{e}");
    }
}
