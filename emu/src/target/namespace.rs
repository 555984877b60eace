//! Namespace backends: null, sparse RAM and file.
//!
//! - **null**: no storage. Reads report the full transfer but leave host memory
//!   untouched; writes never read host memory. This is the benchmark backend: the
//!   target path costs a few branches, not a 4 KiB copy. Data tests use RAM.
//! - **RAM**: sparse. A 4 KiB chunk is allocated on its first write; unwritten
//!   blocks read as zeros, so a multi-terabyte namespace costs only what is written.
//!   Write Zeroes frees whole chunks.
//! - **file**: `pread`/`pwrite` on a regular file (or block device) through a small
//!   stack bounce buffer; Flush is `fdatasync`.
//!
//! The caller (the I/O command handler) validates LBA ranges and SGL lengths before
//! calling in; the backends still bounds-check and return [`NsIoError`] rather than
//! panic.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

use crate::host_memory::{HostMemory, MemError};
use crate::target::sgl::SglCursor;

/// RAM backend allocation unit.
pub const RAM_CHUNK: usize = 4096;
const FILE_BOUNCE: usize = 16 * 1024;
static ZEROS: [u8; FILE_BOUNCE] = [0; FILE_BOUNCE];

/// Why a namespace could not be created.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// Only 512 and 4096 byte blocks are modelled.
    #[error("namespace block size {0} is not supported; use 512 or 4096")]
    BlockSize(u32),
    /// A namespace needs at least one block.
    #[error("namespace has no blocks; give a size of at least one block")]
    Empty,
    /// The backing file could not be sized or inspected.
    #[error("namespace backing file: {0}")]
    File(#[from] std::io::Error),
}

/// Why a data command failed inside a backend.
#[derive(Debug, thiserror::Error)]
pub enum NsIoError {
    /// The LBA range does not fit the namespace.
    #[error("LBA range outside the namespace")]
    OutOfRange,
    /// Host memory access failed.
    #[error(transparent)]
    Mem(#[from] MemError),
    /// The backing file failed.
    #[error("namespace backing file I/O: {0}")]
    File(#[from] std::io::Error),
}

/// Where the blocks live.
#[derive(Debug)]
enum Backend {
    Null,
    Ram(Mutex<HashMap<u64, Box<[u8; RAM_CHUNK]>>>),
    File(File),
}

/// One namespace: a block size, a capacity and a backend.
#[derive(Debug)]
pub struct Namespace {
    block_shift: u32,
    nblocks: u64,
    backend: Backend,
}

fn block_shift(block_size: u32) -> Result<u32, NamespaceError> {
    match block_size {
        512 => Ok(9),
        4096 => Ok(12),
        other => Err(NamespaceError::BlockSize(other)),
    }
}

impl Namespace {
    /// A null namespace of `nblocks` blocks.
    pub fn null(block_size: u32, nblocks: u64) -> Result<Self, NamespaceError> {
        Self::with_backend(block_size, nblocks, Backend::Null)
    }

    /// A sparse RAM namespace of `nblocks` blocks.
    pub fn ram(block_size: u32, nblocks: u64) -> Result<Self, NamespaceError> {
        Self::with_backend(
            block_size,
            nblocks,
            Backend::Ram(Mutex::new(HashMap::new())),
        )
    }

    /// A namespace on `file`, extended to `nblocks` blocks if shorter.
    pub fn file(file: File, block_size: u32, nblocks: u64) -> Result<Self, NamespaceError> {
        let bytes = nblocks
            .checked_shl(block_shift(block_size)?)
            .ok_or(NamespaceError::BlockSize(block_size))?;
        if file.metadata()?.len() < bytes {
            file.set_len(bytes)?;
        }
        Self::with_backend(block_size, nblocks, Backend::File(file))
    }

    fn with_backend(
        block_size: u32,
        nblocks: u64,
        backend: Backend,
    ) -> Result<Self, NamespaceError> {
        let block_shift = block_shift(block_size)?;
        if nblocks == 0 {
            return Err(NamespaceError::Empty);
        }
        if nblocks
            .checked_shl(block_shift)
            .is_none_or(|b| b >> block_shift != nblocks)
        {
            return Err(NamespaceError::BlockSize(block_size));
        }
        Ok(Namespace {
            block_shift,
            nblocks,
            backend,
        })
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> u32 {
        1 << self.block_shift
    }

    /// log2 of the block size (Identify Namespace LBADS).
    pub fn block_shift(&self) -> u32 {
        self.block_shift
    }

    /// Capacity in blocks (NSZE).
    pub fn nblocks(&self) -> u64 {
        self.nblocks
    }

    /// Bytes held by the RAM backend (0 for the others); shows sparseness in tests.
    pub fn ram_bytes_allocated(&self) -> usize {
        match &self.backend {
            Backend::Ram(chunks) => lock(chunks).len() * RAM_CHUNK,
            _ => 0,
        }
    }

    /// True when `count` blocks from `slba` lie inside the namespace.
    pub fn range_ok(&self, slba: u64, count: u64) -> bool {
        slba.checked_add(count)
            .is_some_and(|end| end <= self.nblocks)
    }

    fn byte_range(&self, slba: u64, count: u64) -> Result<(u64, u64), NsIoError> {
        if !self.range_ok(slba, count) {
            return Err(NsIoError::OutOfRange);
        }
        // range_ok bounds both by nblocks, whose byte size fits u64 (checked at creation).
        Ok((slba << self.block_shift, count << self.block_shift))
    }

    /// Reads `count` blocks from `slba` into the host through `sgl`; returns the
    /// bytes transferred (short only when the SGL is shorter).
    pub fn read<M: HostMemory>(
        &self,
        slba: u64,
        count: u64,
        sgl: &mut SglCursor<'_>,
        mem: &M,
    ) -> Result<u64, NsIoError> {
        let (mut pos, len) = self.byte_range(slba, count)?;
        let end = pos + len;
        match &self.backend {
            // Documented shortcut: the host sees the transfer but no bytes change.
            Backend::Null => Ok(sgl.skip(clamp_usize(len)) as u64),
            Backend::Ram(chunks) => {
                let chunks = lock(chunks);
                let mut done = 0u64;
                while pos < end {
                    let off = (pos % RAM_CHUNK as u64) as usize;
                    let n = (RAM_CHUNK - off).min(clamp_usize(end - pos));
                    let src: &[u8] = match chunks.get(&(pos / RAM_CHUNK as u64)) {
                        Some(c) => &c[off..off + n],
                        None => &ZEROS[..n],
                    };
                    let got = sgl.copy_to_host(mem, src)?;
                    done += got as u64;
                    if got < n {
                        break;
                    }
                    pos += n as u64;
                }
                Ok(done)
            }
            Backend::File(f) => {
                let mut buf = [0u8; FILE_BOUNCE];
                let mut done = 0u64;
                while pos < end {
                    let n = FILE_BOUNCE.min(clamp_usize(end - pos));
                    f.read_exact_at(&mut buf[..n], pos)?;
                    let got = sgl.copy_to_host(mem, &buf[..n])?;
                    done += got as u64;
                    if got < n {
                        break;
                    }
                    pos += n as u64;
                }
                Ok(done)
            }
        }
    }

    /// Writes `count` blocks at `slba` from the host through `sgl`; returns the bytes
    /// transferred. A short SGL writes only what it holds.
    pub fn write<M: HostMemory>(
        &self,
        slba: u64,
        count: u64,
        sgl: &mut SglCursor<'_>,
        mem: &M,
    ) -> Result<u64, NsIoError> {
        let (mut pos, len) = self.byte_range(slba, count)?;
        let end = pos + len;
        match &self.backend {
            Backend::Null => Ok(sgl.skip(clamp_usize(len)) as u64),
            Backend::Ram(chunks) => {
                let mut chunks = lock(chunks);
                let mut done = 0u64;
                while pos < end {
                    let off = (pos % RAM_CHUNK as u64) as usize;
                    let n = (RAM_CHUNK - off).min(clamp_usize(end - pos));
                    let chunk = chunks
                        .entry(pos / RAM_CHUNK as u64)
                        .or_insert_with(|| Box::new([0; RAM_CHUNK]));
                    let got = sgl.copy_from_host(mem, &mut chunk[off..off + n])?;
                    done += got as u64;
                    if got < n {
                        break;
                    }
                    pos += n as u64;
                }
                Ok(done)
            }
            Backend::File(f) => {
                let mut buf = [0u8; FILE_BOUNCE];
                let mut done = 0u64;
                while pos < end {
                    let n = FILE_BOUNCE.min(clamp_usize(end - pos));
                    let got = sgl.copy_from_host(mem, &mut buf[..n])?;
                    f.write_all_at(&buf[..got], pos)?;
                    done += got as u64;
                    if got < n {
                        break;
                    }
                    pos += n as u64;
                }
                Ok(done)
            }
        }
    }

    /// Zeroes `count` blocks at `slba` (Write Zeroes); no host data is involved.
    pub fn write_zeroes(&self, slba: u64, count: u64) -> Result<(), NsIoError> {
        let (mut pos, len) = self.byte_range(slba, count)?;
        let end = pos + len;
        match &self.backend {
            Backend::Null => Ok(()),
            Backend::Ram(chunks) => {
                let mut chunks = lock(chunks);
                while pos < end {
                    let key = pos / RAM_CHUNK as u64;
                    let off = (pos % RAM_CHUNK as u64) as usize;
                    let n = (RAM_CHUNK - off).min(clamp_usize(end - pos));
                    if n == RAM_CHUNK {
                        chunks.remove(&key);
                    } else if let Some(c) = chunks.get_mut(&key) {
                        c[off..off + n].fill(0);
                    }
                    pos += n as u64;
                }
                Ok(())
            }
            Backend::File(f) => {
                while pos < end {
                    let n = FILE_BOUNCE.min(clamp_usize(end - pos));
                    f.write_all_at(&ZEROS[..n], pos)?;
                    pos += n as u64;
                }
                Ok(())
            }
        }
    }

    /// Makes written data durable (Flush).
    pub fn flush(&self) -> Result<(), NsIoError> {
        match &self.backend {
            Backend::File(f) => Ok(f.sync_data()?),
            Backend::Null | Backend::Ram(_) => Ok(()),
        }
    }
}

fn clamp_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic in another holder leaves plain block data behind, still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_memory::VecMemory;
    use ufc_transport::lldd::Sge;

    fn sgl(iova: u64, len: u32) -> [Sge; 1] {
        [Sge { iova, len }]
    }

    #[test]
    fn ram_is_sparse_and_reads_zeros() {
        // 1 TiB of 4 KiB blocks: only written chunks cost memory.
        let ns = Namespace::ram(4096, 1 << 28).unwrap();
        let mem = VecMemory::new(0, 3 * 4096);
        mem.write(0, &[0xab; 4096]).unwrap();
        let n = ns
            .write((1 << 28) - 1, 1, &mut SglCursor::new(&sgl(0, 4096)), &mem)
            .unwrap();
        assert_eq!(n, 4096);
        assert_eq!(ns.ram_bytes_allocated(), RAM_CHUNK);
        // Fill the read area with garbage first: unwritten blocks must come back zero.
        mem.write(4096, &[0x55; 8192]).unwrap();
        let s = [Sge {
            iova: 4096,
            len: 8192,
        }];
        ns.read((1 << 28) - 2, 2, &mut SglCursor::new(&s), &mem)
            .unwrap();
        let mut back = [0u8; 8192];
        mem.read(4096, &mut back).unwrap();
        assert!(back[..4096].iter().all(|&b| b == 0));
        assert!(back[4096..].iter().all(|&b| b == 0xab));
        assert!(matches!(
            ns.read(1 << 28, 1, &mut SglCursor::new(&s), &mem),
            Err(NsIoError::OutOfRange)
        ));
    }

    #[test]
    fn ram_512_byte_blocks_share_a_chunk() {
        let ns = Namespace::ram(512, 64).unwrap();
        let mem = VecMemory::new(0, 2048);
        mem.write(0, &[7; 512]).unwrap();
        mem.write(512, &[9; 512]).unwrap();
        ns.write(3, 1, &mut SglCursor::new(&sgl(0, 512)), &mem)
            .unwrap();
        ns.write(4, 1, &mut SglCursor::new(&sgl(512, 512)), &mem)
            .unwrap();
        assert_eq!(ns.ram_bytes_allocated(), RAM_CHUNK);
        ns.read(3, 2, &mut SglCursor::new(&sgl(1024, 1024)), &mem)
            .unwrap();
        let mut back = [0u8; 1024];
        mem.read(1024, &mut back).unwrap();
        assert!(back[..512].iter().all(|&b| b == 7));
        assert!(back[512..].iter().all(|&b| b == 9));
        // Partial-chunk Write Zeroes keeps the chunk, whole-chunk frees it.
        ns.write_zeroes(3, 1).unwrap();
        assert_eq!(ns.ram_bytes_allocated(), RAM_CHUNK);
        ns.read(3, 2, &mut SglCursor::new(&sgl(1024, 1024)), &mem)
            .unwrap();
        mem.read(1024, &mut back).unwrap();
        assert!(back[..512].iter().all(|&b| b == 0));
        assert!(back[512..].iter().all(|&b| b == 9));
        ns.write_zeroes(0, 8).unwrap();
        assert_eq!(ns.ram_bytes_allocated(), 0);
    }

    #[test]
    fn short_sgl_reports_short_transfer() {
        let ns = Namespace::ram(512, 8).unwrap();
        let mem = VecMemory::new(0, 4096);
        let n = ns
            .read(0, 2, &mut SglCursor::new(&sgl(0, 700)), &mem)
            .unwrap();
        assert_eq!(n, 700);
        let n = ns
            .write(0, 2, &mut SglCursor::new(&sgl(0, 700)), &mem)
            .unwrap();
        assert_eq!(n, 700);
    }

    #[test]
    fn null_transfers_without_touching_memory() {
        let ns = Namespace::null(4096, 16).unwrap();
        let mem = VecMemory::new(0, 8192);
        mem.write(0, &[0x5a; 8192]).unwrap();
        assert_eq!(
            ns.read(0, 2, &mut SglCursor::new(&sgl(0, 8192)), &mem)
                .unwrap(),
            8192
        );
        let mut back = [0u8; 8192];
        mem.read(0, &mut back).unwrap();
        assert!(back.iter().all(|&b| b == 0x5a));
        assert_eq!(
            ns.write(14, 2, &mut SglCursor::new(&sgl(0, 8192)), &mem)
                .unwrap(),
            8192
        );
        assert!(ns
            .write(15, 2, &mut SglCursor::new(&sgl(0, 8192)), &mem)
            .is_err());
    }

    #[test]
    fn file_backend_round_trip() {
        let file = tempfile::tempfile().unwrap();
        let ns = Namespace::file(file.try_clone().unwrap(), 512, 1024).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 512 * 1024);
        let mem = VecMemory::new(0x10000, 64 * 1024);
        let pattern: Vec<u8> = (0..40 * 512).map(|i| (i % 251) as u8).collect();
        mem.write(0x10000, &pattern).unwrap();
        // Two segments, longer than the bounce buffer.
        let s = [
            Sge {
                iova: 0x10000,
                len: 1000,
            },
            Sge {
                iova: 0x10000 + 1000,
                len: 40 * 512 - 1000,
            },
        ];
        assert_eq!(
            ns.write(100, 40, &mut SglCursor::new(&s), &mem).unwrap(),
            40 * 512
        );
        ns.flush().unwrap();
        let mut on_disk = vec![0u8; 40 * 512];
        file.read_exact_at(&mut on_disk, 100 * 512).unwrap();
        assert_eq!(on_disk, pattern);
        let d = [Sge {
            iova: 0x10000 + 32 * 1024,
            len: 40 * 512,
        }];
        ns.read(100, 40, &mut SglCursor::new(&d), &mem).unwrap();
        let mut back = vec![0u8; 40 * 512];
        mem.read(0x10000 + 32 * 1024, &mut back).unwrap();
        assert_eq!(back, pattern);
        ns.write_zeroes(101, 1).unwrap();
        file.read_exact_at(&mut on_disk[..512], 101 * 512).unwrap();
        assert!(on_disk[..512].iter().all(|&b| b == 0));
    }

    #[test]
    fn refuses_bad_geometry() {
        assert!(matches!(
            Namespace::null(1024, 8),
            Err(NamespaceError::BlockSize(1024))
        ));
        assert!(matches!(Namespace::ram(512, 0), Err(NamespaceError::Empty)));
        assert!(Namespace::null(4096, u64::MAX).is_err());
    }
}
