//! A lock-free pool of DMA buffers in size classes.
//!
//! The whole pool is one [`DmaMemory`] region, carved at creation into classes of
//! fixed-size buffers (ixy's mempool model). Each class keeps the indices of its free
//! buffers in a `crossbeam_queue::ArrayQueue`, so alloc and free are one pop or push: no
//! lock, no syscall, no allocation. A buffer's (vaddr, IOVA) pair is computed from its
//! index when it is handed out and stored in the [`DmaBuf`]; nothing translates addresses
//! afterwards.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use vm_memory::VolatileSlice;

use super::hugepages::{HugePages, BASE_PAGE_SIZE};
use super::iova::IovaAllocator;
use super::memory::DmaMemory;
use crate::error::{DmaError, MemoryError};

/// Buffers are laid out on cache-line boundaries so two buffers never share a line.
const CACHE_LINE: usize = 64;
/// Upper bound on classes; a handful is the intended use.
const MAX_CLASSES: usize = 16;

/// One size class of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassConfig {
    /// Usable bytes per buffer.
    pub buf_size: usize,
    /// Number of buffers.
    pub count: usize,
}

/// Pool configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Size classes; order does not matter.
    pub classes: Vec<ClassConfig>,
    /// Page policy for the backing region.
    pub hugepages: HugePages,
}

impl Default for PoolConfig {
    /// 1024 × 128 B (command/response IUs), 512 × 4 KiB and 64 × 64 KiB data buffers:
    /// about 6.2 MiB, under the common 8 MiB default RLIMIT_MEMLOCK.
    fn default() -> Self {
        PoolConfig {
            classes: vec![
                ClassConfig {
                    buf_size: 128,
                    count: 1024,
                },
                ClassConfig {
                    buf_size: 4096,
                    count: 512,
                },
                ClassConfig {
                    buf_size: 65536,
                    count: 64,
                },
            ],
            hugepages: HugePages::Prefer,
        }
    }
}

/// Counters of one class, for leak checks and sizing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassStats {
    /// Usable bytes per buffer.
    pub buf_size: usize,
    /// Buffers in the class.
    pub capacity: usize,
    /// Buffers currently free.
    pub free: usize,
    /// Allocations refused because the class was empty.
    pub alloc_failures: u64,
}

#[derive(Debug)]
struct SizeClass {
    buf_size: usize,
    stride: usize,
    count: usize,
    /// Address of buffer 0 (the pool's mapping outlives every class).
    base_vaddr: usize,
    base_iova: u64,
    free: ArrayQueue<u32>,
    alloc_failures: AtomicU64,
}

/// A pool of DMA buffers; share it with `Arc`.
#[derive(Debug)]
pub struct DmaPool {
    memory: DmaMemory,
    /// Sorted by `buf_size`, ascending.
    classes: Box<[SizeClass]>,
}

impl DmaPool {
    /// Allocates the backing region and fills every class.
    pub fn new(config: &PoolConfig, iova: &Arc<IovaAllocator>) -> Result<Arc<Self>, MemoryError> {
        let mut specs = config.classes.clone();
        if specs.is_empty() || specs.len() > MAX_CLASSES {
            return Err(MemoryError::InvalidConfig(format!(
                "a DMA pool needs 1 to {MAX_CLASSES} size classes, got {}",
                specs.len()
            )));
        }
        specs.sort_by_key(|c| c.buf_size);
        let mut layout = Vec::with_capacity(specs.len());
        let mut total = 0usize;
        for c in &specs {
            if c.buf_size == 0 || c.count == 0 || c.count > u32::MAX as usize {
                return Err(MemoryError::InvalidConfig(format!(
                    "size class {c:?}: buffer size and count must be non-zero (count < 2^32)"
                )));
            }
            let too_big =
                || MemoryError::InvalidConfig(format!("size class {c:?} does not fit in memory"));
            let stride = c
                .buf_size
                .checked_next_multiple_of(CACHE_LINE)
                .ok_or_else(too_big)?;
            let bytes = stride
                .checked_mul(c.count)
                .and_then(|b| b.checked_next_multiple_of(BASE_PAGE_SIZE))
                .ok_or_else(too_big)?;
            layout.push((total, stride));
            total = total.checked_add(bytes).ok_or_else(too_big)?;
        }
        let memory = DmaMemory::allocate(total, config.hugepages, iova)?;
        let classes = specs
            .iter()
            .zip(layout)
            .map(|(c, (offset, stride))| {
                let free = ArrayQueue::new(c.count);
                for i in 0..c.count {
                    // Cannot fail: the queue holds exactly `count` entries; `i` < 2^32 was
                    // checked above.
                    let _ = free.push(i as u32);
                }
                SizeClass {
                    buf_size: c.buf_size,
                    stride,
                    count: c.count,
                    base_vaddr: memory.as_ptr() as usize + offset,
                    base_iova: memory.iova() + offset as u64,
                    free,
                    alloc_failures: AtomicU64::new(0),
                }
            })
            .collect();
        Ok(Arc::new(DmaPool { memory, classes }))
    }

    /// The region behind every buffer: map it into the device before handing out IOVAs.
    pub fn memory(&self) -> &DmaMemory {
        &self.memory
    }

    /// Index of the smallest class whose buffers hold `len` bytes.
    pub fn class_for(&self, len: usize) -> Option<usize> {
        self.classes.iter().position(|c| c.buf_size >= len)
    }

    /// A buffer from the smallest class that holds `len` bytes; `None` when that class
    /// is empty (counted) or no class is large enough.
    #[inline]
    pub fn alloc(self: &Arc<Self>, len: usize) -> Option<DmaBuf> {
        self.alloc_class(self.class_for(len)?)
    }

    /// A buffer from class `class`; `None` when empty (counted) or no such class.
    #[inline]
    pub fn alloc_class(self: &Arc<Self>, class: usize) -> Option<DmaBuf> {
        let c = self.classes.get(class)?;
        let Some(index) = c.free.pop() else {
            c.alloc_failures.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let offset = index as usize * c.stride;
        // The pool's mapping is never at address zero (mmap without MAP_FIXED), so this
        // branch is dead; it still returns the index rather than leak it.
        let Some(vaddr) = NonNull::new((c.base_vaddr + offset) as *mut u8) else {
            let _ = c.free.push(index);
            return None;
        };
        Some(DmaBuf {
            vaddr,
            iova: c.base_iova + offset as u64,
            len: c.buf_size,
            class: class as u32,
            index,
            pool: Arc::clone(self),
        })
    }

    /// Counters per class, smallest buffers first.
    pub fn stats(&self) -> Vec<ClassStats> {
        self.classes
            .iter()
            .map(|c| ClassStats {
                buf_size: c.buf_size,
                capacity: c.count,
                free: c.free.len(),
                alloc_failures: c.alloc_failures.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Buffers handed out and not yet returned, over all classes (zero when nothing leaked).
    pub fn in_use(&self) -> usize {
        self.classes.iter().map(|c| c.count - c.free.len()).sum()
    }
}

/// A buffer from a [`DmaPool`]; returns to its class on drop.
///
/// The device reads and writes this memory behind the compiler's back, so the safe
/// accessors copy with volatile operations and no `&`/`&mut` to the bytes is ever formed
/// by them. Contents are not cleared between uses.
#[derive(Debug)]
pub struct DmaBuf {
    vaddr: NonNull<u8>,
    iova: u64,
    len: usize,
    class: u32,
    index: u32,
    pool: Arc<DmaPool>,
}

// SAFETY: a DmaBuf is the only handle to its bytes (its index is out of the free queue
// until drop), the pool it points into is kept alive by the Arc, and all safe access is
// by volatile copies; moving or sharing the handle across threads is therefore sound.
unsafe impl Send for DmaBuf {}
// SAFETY: shared access only reads (read_at); writing needs `&mut`.
unsafe impl Sync for DmaBuf {}

impl DmaBuf {
    /// IOVA of the first byte: what goes into SGLs and descriptors.
    #[inline]
    pub fn iova(&self) -> u64 {
        self.iova
    }

    /// Usable length in bytes (the class's buffer size).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: classes have non-zero buffer sizes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Index of the size class the buffer came from.
    pub fn class(&self) -> usize {
        self.class as usize
    }

    /// Virtual address of the first byte, for volatile/atomic access by the caller.
    #[inline]
    pub fn as_ptr(&self) -> *mut u8 {
        self.vaddr.as_ptr()
    }

    fn check(&self, offset: usize, len: usize) -> Result<(), DmaError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(DmaError::CrossesRegionEnd {
                iova: self.iova.wrapping_add(offset as u64),
                len,
                region_start: self.iova,
                region_end: self.iova + self.len as u64,
            }),
        }
    }

    /// Copies `data` into the buffer at `offset` with volatile stores.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> Result<(), DmaError> {
        self.check(offset, data.len())?;
        // SAFETY: offset+len is within this buffer (checked above), which lies inside the
        // pool's live mapping; VolatileSlice accesses it only with volatile operations.
        let slice = unsafe { VolatileSlice::new(self.vaddr.as_ptr().add(offset), data.len()) };
        slice.copy_from(data);
        Ok(())
    }

    /// Copies from the buffer at `offset` into `buf` with volatile loads.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<(), DmaError> {
        self.check(offset, buf.len())?;
        // SAFETY: as in write_at.
        let slice = unsafe { VolatileSlice::new(self.vaddr.as_ptr().add(offset), buf.len()) };
        slice.copy_to(buf);
        Ok(())
    }

    /// The buffer as a byte slice.
    ///
    /// # Safety
    ///
    /// The caller must ensure no device can write the buffer while the slice lives: the
    /// buffer is not mapped into any device, or every descriptor naming its IOVA has
    /// completed and none will be posted until the slice is dropped. A device write under
    /// a live `&[u8]` is undefined behaviour (the compiler may assume the bytes do not
    /// change). Prefer [`read_at`](Self::read_at).
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: in bounds and aligned for u8; absence of concurrent device writes is the
        // caller's obligation stated above.
        unsafe { std::slice::from_raw_parts(self.vaddr.as_ptr(), self.len) }
    }

    /// The buffer as a mutable byte slice.
    ///
    /// # Safety
    ///
    /// As for [`as_slice`](Self::as_slice), and additionally no device may read the
    /// buffer while the slice lives (a device read races with the compiler's freedom to
    /// delay or elide stores through `&mut`).
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: in bounds; `&mut self` excludes other handles; device access is
        // excluded by the caller as stated above.
        unsafe { std::slice::from_raw_parts_mut(self.vaddr.as_ptr(), self.len) }
    }
}

impl Drop for DmaBuf {
    #[inline]
    fn drop(&mut self) {
        if let Some(c) = self.pool.classes.get(self.class as usize) {
            // Cannot fail: each index lives either in the queue or in exactly one DmaBuf,
            // and the queue's capacity is the class's buffer count.
            if c.free.push(self.index).is_err() {
                log::error!("DMA pool class {} overfull on free", self.class);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_pool() -> Arc<DmaPool> {
        let cfg = PoolConfig {
            classes: vec![
                ClassConfig {
                    buf_size: 4096,
                    count: 4,
                },
                ClassConfig {
                    buf_size: 100,
                    count: 3,
                },
            ],
            hugepages: HugePages::Never,
        };
        DmaPool::new(&cfg, &Arc::new(IovaAllocator::default())).unwrap()
    }

    #[test]
    fn classes_sorted_and_chosen_by_size() {
        let p = small_pool();
        assert_eq!(p.class_for(1), Some(0));
        assert_eq!(p.class_for(100), Some(0));
        assert_eq!(p.class_for(101), Some(1));
        assert_eq!(p.class_for(4097), None);
        let b = p.alloc(50).unwrap();
        assert_eq!(b.len(), 100);
        assert_eq!(b.class(), 0);
        assert!(p.alloc(5000).is_none());
    }

    #[test]
    fn exhaustion_counts_failures_and_free_restores() {
        let p = small_pool();
        let bufs: Vec<_> = (0..4).map(|_| p.alloc(4096).unwrap()).collect();
        assert!(p.alloc(4096).is_none());
        assert!(p.alloc(4096).is_none());
        let s = p.stats();
        assert_eq!(
            s[1],
            ClassStats {
                buf_size: 4096,
                capacity: 4,
                free: 0,
                alloc_failures: 2
            }
        );
        assert_eq!(p.in_use(), 4);
        drop(bufs);
        assert_eq!(p.in_use(), 0);
        assert_eq!(p.stats()[1].free, 4);
    }

    #[test]
    fn buffers_are_distinct_and_translate_consistently() {
        let p = small_pool();
        let mem = p.memory().clone();
        let bufs: Vec<_> = (0..4).map(|_| p.alloc(4096).unwrap()).collect();
        let mut iovas: Vec<u64> = bufs.iter().map(DmaBuf::iova).collect();
        iovas.sort();
        iovas.dedup();
        assert_eq!(iovas.len(), 4);
        for b in &bufs {
            // vaddr - region base == iova - region iova: the stored pair is consistent.
            let off = b.as_ptr() as usize - mem.as_ptr() as usize;
            assert_eq!(b.iova() - mem.iova(), off as u64);
            assert!(off + b.len() <= mem.len());
            assert_eq!(b.iova() % 64, 0);
        }
    }

    #[test]
    fn volatile_copies_are_bounds_checked() {
        let p = small_pool();
        let mut b = p.alloc(100).unwrap();
        b.write_at(96, &[1, 2, 3, 4]).unwrap();
        let mut out = [0u8; 4];
        b.read_at(96, &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 4]);
        let e = b.write_at(97, &[0; 4]).unwrap_err();
        assert_eq!(e.iova(), b.iova() + 97);
        assert!(b.read_at(usize::MAX, &mut out).is_err());
        // SAFETY: the pool is mapped into no device.
        let s = unsafe { b.as_slice() };
        assert_eq!(&s[96..100], &[1, 2, 3, 4]);
    }

    #[test]
    fn concurrent_alloc_free_loses_nothing() {
        let p = small_pool();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let p = Arc::clone(&p);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        if let Some(b) = p.alloc(4096) {
                            drop(b);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(p.in_use(), 0);
        assert_eq!(p.stats()[1].free, 4);
    }

    #[test]
    fn bad_configs_are_refused() {
        let iova = Arc::new(IovaAllocator::default());
        let empty = PoolConfig {
            classes: vec![],
            hugepages: HugePages::Never,
        };
        assert!(DmaPool::new(&empty, &iova)
            .unwrap_err()
            .to_string()
            .contains("1 to 16 size classes"));
        let zero = PoolConfig {
            classes: vec![ClassConfig {
                buf_size: 0,
                count: 1,
            }],
            hugepages: HugePages::Never,
        };
        assert!(DmaPool::new(&zero, &iova).is_err());
    }
}
