//! Mapped device registers: the only place that dereferences MMIO pointers.
//!
//! A BAR is mapped once ([`MmioMapping`]) and shared by `Arc` with every `Bar`, register
//! and doorbell handle made from it, so it is unmapped only after the last handle is gone.
//! Handles check their offset and alignment when they are created; the accessors here
//! take pointers that were checked that way.

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{fence, Ordering};

/// One mmap of a device region (a BAR).
#[derive(Debug)]
pub(crate) struct MmioMapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory-mapped I/O shared with the device; all access goes
// through volatile loads/stores of naturally aligned registers, which are safe from any
// thread (the device serialises them).
unsafe impl Send for MmioMapping {}
// SAFETY: as above; no `&`/`&mut` to the mapped bytes is ever formed.
unsafe impl Sync for MmioMapping {}

impl MmioMapping {
    /// Maps `len` bytes of `fd` at `offset`, shared, read-write.
    pub(crate) fn map(fd: RawFd, offset: u64, len: usize) -> io::Result<Self> {
        let off = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "region offset too large"))?;
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty region"));
        }
        // SAFETY: a fresh mapping at an address chosen by the kernel (no MAP_FIXED), so no
        // existing memory is affected; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                off,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned a null mapping"))?;
        Ok(MmioMapping { ptr, len })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Pointer to the register at `offset`, or `None` if `[offset, offset+width)` is not
    /// inside the mapping or `offset` is not a multiple of `width`.
    pub(crate) fn register(&self, offset: u64, width: u64) -> Option<NonNull<u8>> {
        let end = offset.checked_add(width)?;
        if end > self.len as u64 || offset % width != 0 {
            return None;
        }
        // SAFETY: offset < len (checked above), so the pointer stays inside the mapping.
        Some(unsafe { self.ptr.add(offset as usize) })
    }
}

impl Drop for MmioMapping {
    fn drop(&mut self) {
        // SAFETY: we own the mapping, and every handle that could still use it holds an
        // Arc to `self`, so none is left when drop runs.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// Volatile 32-bit register read.
///
/// # Safety
/// `reg` must come from [`MmioMapping::register`] with width 4 on a mapping that is alive.
#[inline(always)]
pub(crate) unsafe fn read32(reg: NonNull<u8>) -> u32 {
    // SAFETY: in bounds and 4-byte aligned per the caller's contract.
    unsafe { reg.cast::<u32>().as_ptr().read_volatile() }
}

/// Volatile 32-bit register write, ordered after all earlier stores to DMA memory.
///
/// # Safety
/// As for [`read32`].
#[inline(always)]
pub(crate) unsafe fn write32(reg: NonNull<u8>, value: u32) {
    // Descriptors written with plain or volatile stores must be visible to the device
    // before the doorbell. On x86 (TSO) stores are not reordered with stores, so this
    // fence only stops the compiler; weaker architectures would need a device barrier.
    fence(Ordering::Release);
    // SAFETY: in bounds and 4-byte aligned per the caller's contract.
    unsafe { reg.cast::<u32>().as_ptr().write_volatile(value) }
}

/// Volatile 64-bit register read (one access; x86 keeps aligned 8-byte MMIO atomic).
///
/// # Safety
/// `reg` must come from [`MmioMapping::register`] with width 8 on a mapping that is alive.
#[inline(always)]
pub(crate) unsafe fn read64(reg: NonNull<u8>) -> u64 {
    // SAFETY: in bounds and 8-byte aligned per the caller's contract.
    unsafe { reg.cast::<u64>().as_ptr().read_volatile() }
}

/// Volatile 64-bit register write, ordered like [`write32`].
///
/// # Safety
/// As for [`read64`].
#[inline(always)]
pub(crate) unsafe fn write64(reg: NonNull<u8>, value: u64) {
    fence(Ordering::Release);
    // SAFETY: in bounds and 8-byte aligned per the caller's contract.
    unsafe { reg.cast::<u64>().as_ptr().write_volatile(value) }
}
