//! Host memory as a device model sees it: reads and writes by IOVA.
//!
//! The target and fcloop move data through this trait so that the same code runs
//! against [`ufc_vfio::dma::DmaView`] (the real DMA memory of a test or benchmark) and
//! against [`VecMemory`] in unit tests. Static dispatch only: the I/O path is generic
//! over the memory type.

use std::sync::{Arc, Mutex};

/// A DMA access outside the memory the host mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("DMA access of {len} bytes at IOVA {iova:#x} is outside host memory; check the SGL the host built")]
pub struct MemError {
    /// First byte of the failed access.
    pub iova: u64,
    /// Length of the failed access.
    pub len: usize,
}

/// Device access to host memory by IOVA.
pub trait HostMemory: Send + Sync {
    /// Copies `buf.len()` bytes at `iova` into `buf`.
    fn read(&self, iova: u64, buf: &mut [u8]) -> Result<(), MemError>;
    /// Copies `data` to `iova`.
    fn write(&self, iova: u64, data: &[u8]) -> Result<(), MemError>;
}

impl<M: HostMemory + ?Sized> HostMemory for Arc<M> {
    fn read(&self, iova: u64, buf: &mut [u8]) -> Result<(), MemError> {
        (**self).read(iova, buf)
    }
    fn write(&self, iova: u64, data: &[u8]) -> Result<(), MemError> {
        (**self).write(iova, data)
    }
}

impl HostMemory for ufc_vfio::dma::DmaView {
    #[inline]
    fn read(&self, iova: u64, buf: &mut [u8]) -> Result<(), MemError> {
        ufc_vfio::dma::DmaView::read(self, iova, buf).map_err(|_| MemError {
            iova,
            len: buf.len(),
        })
    }

    #[inline]
    fn write(&self, iova: u64, data: &[u8]) -> Result<(), MemError> {
        ufc_vfio::dma::DmaView::write(self, iova, data).map_err(|_| MemError {
            iova,
            len: data.len(),
        })
    }
}

/// Host memory backed by one `Vec<u8>` mapped at `base`; for tests.
#[derive(Debug)]
pub struct VecMemory {
    base: u64,
    bytes: Mutex<Vec<u8>>,
}

impl VecMemory {
    /// `len` zeroed bytes, the first at IOVA `base`.
    pub fn new(base: u64, len: usize) -> Self {
        VecMemory {
            base,
            bytes: Mutex::new(vec![0; len]),
        }
    }

    fn range(
        &self,
        iova: u64,
        len: usize,
        have: usize,
    ) -> Result<std::ops::Range<usize>, MemError> {
        let err = MemError { iova, len };
        let start = iova.checked_sub(self.base).ok_or(err)?;
        let start = usize::try_from(start).map_err(|_| err)?;
        let end = start.checked_add(len).ok_or(err)?;
        if end > have {
            return Err(err);
        }
        Ok(start..end)
    }
}

impl HostMemory for VecMemory {
    fn read(&self, iova: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let bytes = self.bytes.lock().unwrap_or_else(|p| p.into_inner());
        let r = self.range(iova, buf.len(), bytes.len())?;
        buf.copy_from_slice(&bytes[r]);
        Ok(())
    }

    fn write(&self, iova: u64, data: &[u8]) -> Result<(), MemError> {
        let mut bytes = self.bytes.lock().unwrap_or_else(|p| p.into_inner());
        let r = self.range(iova, data.len(), bytes.len())?;
        bytes[r].copy_from_slice(data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_memory_round_trip_and_bounds() {
        let m = VecMemory::new(0x1000, 64);
        m.write(0x1010, &[1, 2, 3]).unwrap();
        let mut b = [0u8; 4];
        m.read(0x100f, &mut b).unwrap();
        assert_eq!(b, [0, 1, 2, 3]);
        assert_eq!(
            m.read(0xfff, &mut b),
            Err(MemError {
                iova: 0xfff,
                len: 4
            })
        );
        assert!(m.write(0x103e, &[0; 3]).is_err());
        assert!(m.write(u64::MAX, &[0; 3]).is_err());
    }
}
