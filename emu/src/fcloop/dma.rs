//! Device-visible memory fcloop hands to the transport for its own admin commands
//! (`Lldd::alloc_dma`: Connect data, Identify pages).

use std::sync::{Arc, Mutex};

use ufc_transport::lldd::{DmaBuffer, LlddError};
use ufc_vfio::dma::{DmaBuf, DmaPool};

use crate::host_memory::HostMemory;

/// A source of device-visible buffers the fcloop target can reach through its
/// host memory view.
pub trait DmaAllocator: Send + Sync + 'static {
    /// A buffer of at least `len` bytes.
    fn alloc(&self, len: usize) -> Result<Box<dyn DmaBuffer>, LlddError>;
}

impl DmaAllocator for Arc<DmaPool> {
    fn alloc(&self, len: usize) -> Result<Box<dyn DmaBuffer>, LlddError> {
        DmaPool::alloc(self, len)
            .map(|b| Box::new(PoolBuffer(b)) as Box<dyn DmaBuffer>)
            .ok_or_else(|| {
                LlddError::NoResources(format!(
                    "fcloop: DMA pool has no free buffer of {len} bytes; give the pool a larger class or more buffers"
                ))
            })
    }
}

/// A pool buffer as the transport's [`DmaBuffer`].
#[derive(Debug)]
pub struct PoolBuffer(pub DmaBuf);

impl DmaBuffer for PoolBuffer {
    fn iova(&self) -> u64 {
        self.0.iova()
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn read(&self, offset: usize, dst: &mut [u8]) {
        let n = self.0.len().saturating_sub(offset).min(dst.len());
        // In range by construction of n; an error cannot happen, and the contract
        // says out-of-range bytes are left untouched.
        let _ = self.0.read_at(offset, &mut dst[..n]);
    }

    fn write(&mut self, offset: usize, src: &[u8]) {
        let n = self.0.len().saturating_sub(offset).min(src.len());
        let _ = self.0.write_at(offset, &src[..n]);
    }
}

/// Fixed-size buffers carved out of an IOVA range of any [`HostMemory`] (e.g. a
/// `VecMemory` in tests): `[base, base + count × buf_size)`.
#[derive(Debug)]
pub struct CarvedAllocator<M> {
    inner: Arc<Carved<M>>,
}

#[derive(Debug)]
struct Carved<M> {
    mem: M,
    buf_size: usize,
    free: Mutex<Vec<u64>>,
}

impl<M: HostMemory + 'static> CarvedAllocator<M> {
    /// `count` buffers of `buf_size` bytes from IOVA `base` of `mem`.
    pub fn new(mem: M, base: u64, buf_size: usize, count: usize) -> Self {
        let free = (0..count as u64)
            .rev()
            .map(|i| base + i * buf_size as u64)
            .collect();
        CarvedAllocator {
            inner: Arc::new(Carved {
                mem,
                buf_size,
                free: Mutex::new(free),
            }),
        }
    }
}

impl<M: HostMemory + std::fmt::Debug + 'static> DmaAllocator for CarvedAllocator<M> {
    fn alloc(&self, len: usize) -> Result<Box<dyn DmaBuffer>, LlddError> {
        if len > self.inner.buf_size {
            return Err(LlddError::NoResources(format!(
                "fcloop: carved DMA buffers hold {} bytes, {len} asked",
                self.inner.buf_size
            )));
        }
        let iova = lock(&self.inner.free).pop().ok_or_else(|| {
            LlddError::NoResources("fcloop: carved DMA buffers exhausted; carve more".into())
        })?;
        Ok(Box::new(CarvedBuffer {
            pool: Arc::clone(&self.inner),
            iova,
        }))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A free list stays consistent across a panicked holder (single push/pop).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug)]
struct CarvedBuffer<M> {
    pool: Arc<Carved<M>>,
    iova: u64,
}

impl<M: HostMemory + std::fmt::Debug + 'static> DmaBuffer for CarvedBuffer<M> {
    fn iova(&self) -> u64 {
        self.iova
    }

    fn len(&self) -> usize {
        self.pool.buf_size
    }

    fn read(&self, offset: usize, dst: &mut [u8]) {
        let n = self.pool.buf_size.saturating_sub(offset).min(dst.len());
        // In range of the carved buffer; a failure would mean the carve lies outside
        // the memory, which the contract lets us report by leaving bytes untouched.
        let _ = self.pool.mem.read(self.iova + offset as u64, &mut dst[..n]);
    }

    fn write(&mut self, offset: usize, src: &[u8]) {
        let n = self.pool.buf_size.saturating_sub(offset).min(src.len());
        let _ = self.pool.mem.write(self.iova + offset as u64, &src[..n]);
    }
}

impl<M> Drop for CarvedBuffer<M> {
    fn drop(&mut self) {
        lock(&self.pool.free).push(self.iova);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_memory::VecMemory;

    #[test]
    fn carved_buffers_recycle() {
        let mem = Arc::new(VecMemory::new(0x1000, 0x3000));
        let a = CarvedAllocator::new(Arc::clone(&mem), 0x2000, 4096, 2);
        let mut b1 = a.alloc(4096).unwrap();
        let b2 = a.alloc(100).unwrap();
        assert_eq!((b1.iova(), b2.iova()), (0x2000, 0x3000));
        assert!(a.alloc(1).is_err());
        assert!(a.alloc(4097).is_err());
        b1.write(4095, &[7, 8]);
        let mut x = [0u8; 1];
        mem.read(0x2fff, &mut x).unwrap();
        assert_eq!(x, [7]);
        drop(b1);
        assert_eq!(a.alloc(1).unwrap().iova(), 0x2000);
    }
    use ufc_vfio::dma::{ClassConfig, HugePages, IovaAllocator, PoolConfig};

    #[test]
    fn pool_buffers_clamp_out_of_range_access() {
        let cfg = PoolConfig {
            classes: vec![ClassConfig {
                buf_size: 4096,
                count: 2,
            }],
            hugepages: HugePages::Never,
        };
        let pool = DmaPool::new(&cfg, &Arc::new(IovaAllocator::default())).unwrap();
        let mut b = DmaAllocator::alloc(&pool, 1024).unwrap();
        assert_eq!(b.len(), 4096);
        b.write(4094, &[1, 2, 3, 4]);
        let mut out = [9u8; 4];
        b.read(4094, &mut out);
        assert_eq!(out, [1, 2, 9, 9]);
        assert!(DmaAllocator::alloc(&pool, 8192).is_err());
    }
}
