//! The kernel VFIO backend (vfio-pci through vfio-ioctls, legacy container/group API).
//!
//! vfio-ioctls opens the container, group and device and describes the regions. It does
//! not map BARs, and its region read/write and reset only log failures, so this module
//! maps BARs itself (mmap of the device fd at the region offset), reads and writes config
//! space with checked pread/pwrite, and issues VFIO_DEVICE_RESET itself.

mod preflight;

pub use preflight::{preflight, preflight_with, Preflight, VfioOptions};

use std::io;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

use vfio_bindings::bindings::vfio::{
    VFIO_BASE, VFIO_PCI_CONFIG_REGION_INDEX, VFIO_REGION_INFO_FLAG_MMAP, VFIO_TYPE,
};
use vfio_ioctls::{VfioContainer, VfioDevice, VfioOps};

use crate::dma::{DmaMemory, MemlockBudget};
use crate::error::DeviceError;
use crate::mmio::MmioMapping;
use crate::pci_address::PciAddress;

/// `_IO(VFIO_TYPE, VFIO_BASE + 11)` (linux/vfio.h).
const VFIO_DEVICE_RESET: libc::c_ulong =
    ((VFIO_TYPE as libc::c_ulong) << 8) | (VFIO_BASE as libc::c_ulong + 11);

/// An open vfio-pci device.
pub(crate) struct KernelDevice {
    pub(crate) bdf: PciAddress,
    container: Arc<VfioContainer>,
    device: VfioDevice,
    config_offset: u64,
    pub(crate) config_size: u64,
    bars: Mutex<[Option<Arc<MmioMapping>>; 6]>,
    mapped: Mutex<Vec<DmaMemory>>,
}

impl std::fmt::Debug for KernelDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelDevice")
            .field("bdf", &self.bdf)
            .field("config_size", &self.config_size)
            .finish_non_exhaustive()
    }
}

impl KernelDevice {
    pub(crate) fn open(address: &str, opts: &VfioOptions) -> Result<Self, DeviceError> {
        let pre = preflight(address, opts)?;
        let bdf = pre.bdf;
        let vfio = |op| move |source| DeviceError::Vfio { bdf, op, source };
        let container =
            Arc::new(VfioContainer::new(None).map_err(vfio("open /dev/vfio/vfio container"))?);
        let ops: Arc<dyn VfioOps> = container.clone();
        let device =
            VfioDevice::new(&pre.sysfs_path, ops, false).map_err(vfio("open VFIO device"))?;
        let config_offset = device.get_region_offset(VFIO_PCI_CONFIG_REGION_INDEX);
        let config_size = device.get_region_size(VFIO_PCI_CONFIG_REGION_INDEX);
        if config_size == 0 {
            return Err(DeviceError::ConfigIo {
                bdf: bdf.to_string(),
                op: "describe",
                offset: 0,
                width: 0,
                source: io::Error::other("VFIO reports no config region"),
            });
        }
        log::info!("{bdf}: opened through VFIO (IOMMU group {})", pre.group);
        Ok(KernelDevice {
            bdf,
            container,
            device,
            config_offset,
            config_size,
            bars: Mutex::new(Default::default()),
            mapped: Mutex::new(Vec::new()),
        })
    }

    fn config_io(
        &self,
        op: &'static str,
        offset: u16,
        width: usize,
        source: io::Error,
    ) -> DeviceError {
        DeviceError::ConfigIo {
            bdf: self.bdf.to_string(),
            op,
            offset,
            width,
            source,
        }
    }

    /// Checked pread of config space (offset and width already range-checked).
    pub(crate) fn config_read(&self, offset: u16, buf: &mut [u8]) -> Result<(), DeviceError> {
        let pos = (self.config_offset + u64::from(offset)) as libc::off_t;
        // SAFETY: `buf` is a valid writable buffer of `buf.len()` bytes; the fd is the
        // device fd owned by `self.device`.
        let n = unsafe {
            libc::pread(
                self.device.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                pos,
            )
        };
        match n {
            n if n < 0 => {
                Err(self.config_io("read", offset, buf.len(), io::Error::last_os_error()))
            }
            n if n as usize != buf.len() => Err(self.config_io(
                "read",
                offset,
                buf.len(),
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("short read of {n} bytes"),
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Checked pwrite of config space.
    pub(crate) fn config_write(&self, offset: u16, data: &[u8]) -> Result<(), DeviceError> {
        let pos = (self.config_offset + u64::from(offset)) as libc::off_t;
        // SAFETY: `data` is a valid readable buffer; the fd is the device fd.
        let n = unsafe {
            libc::pwrite(
                self.device.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                pos,
            )
        };
        match n {
            n if n < 0 => {
                Err(self.config_io("write", offset, data.len(), io::Error::last_os_error()))
            }
            n if n as usize != data.len() => Err(self.config_io(
                "write",
                offset,
                data.len(),
                io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("short write of {n} bytes"),
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The BAR's mapping, made on first use. Sparse-mmap areas (an MSI-X table trapped by
    /// the kernel) are not honoured yet: the whole region is mapped.
    pub(crate) fn map_bar(&self, bar: u8) -> Result<Arc<MmioMapping>, DeviceError> {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut bars[usize::from(bar)];
        if let Some(m) = slot {
            return Ok(Arc::clone(m));
        }
        let index = u32::from(bar);
        let size = self.device.get_region_size(index);
        if size == 0 {
            return Err(DeviceError::NoSuchBar {
                device: self.bdf.to_string(),
                bar,
            });
        }
        let flags = self.device.get_region_flags(index);
        if flags & VFIO_REGION_INFO_FLAG_MMAP == 0 {
            return Err(DeviceError::BarNotMappable {
                device: self.bdf.to_string(),
                bar,
                flags,
            });
        }
        let len = usize::try_from(size).map_err(|_| DeviceError::BarMmap {
            device: self.bdf.to_string(),
            bar,
            len: size,
            source: io::Error::other("BAR larger than the address space"),
        })?;
        let map = MmioMapping::map(
            self.device.as_raw_fd(),
            self.device.get_region_offset(index),
            len,
        )
        .map_err(|source| DeviceError::BarMmap {
            device: self.bdf.to_string(),
            bar,
            len: size,
            source,
        })?;
        let map = Arc::new(map);
        *slot = Some(Arc::clone(&map));
        Ok(map)
    }

    pub(crate) fn dma_map(&self, mem: &DmaMemory) -> Result<(), DeviceError> {
        let mut mapped = self.mapped.lock().unwrap_or_else(|p| p.into_inner());
        if mapped.iter().any(|m| m.same_region(mem)) {
            return Ok(());
        }
        // VFIO pins the pages and charges them to RLIMIT_MEMLOCK again (type1 accounting),
        // and otherwise fails with a bare ENOMEM.
        MemlockBudget::current().check(mem.len())?;
        // SAFETY: the range is a live mapping owned by `mem`, kept alive by the clone
        // stored in `mapped` until it is unmapped from the IOMMU. ufc's safe API never
        // forms references to DMA memory (DmaBuf/DmaMemory copy with volatile accesses;
        // the raw-slice accessors are `unsafe` and state the rule).
        unsafe {
            self.container
                .vfio_dma_map(mem.iova(), mem.len(), mem.as_ptr())
        }
        .map_err(|e| DeviceError::DmaMap {
            device: self.bdf.to_string(),
            iova: mem.iova(),
            len: mem.len() as u64,
            reason: e.to_string(),
        })?;
        mapped.push(mem.clone());
        Ok(())
    }

    pub(crate) fn dma_unmap(&self, mem: &DmaMemory) -> Result<(), DeviceError> {
        let mut mapped = self.mapped.lock().unwrap_or_else(|p| p.into_inner());
        let Some(pos) = mapped.iter().position(|m| m.same_region(mem)) else {
            return Err(DeviceError::NotMapped {
                device: self.bdf.to_string(),
                iova: mem.iova(),
            });
        };
        self.container
            .vfio_dma_unmap(mem.iova(), mem.len())
            .map_err(|e| DeviceError::DmaMap {
                device: self.bdf.to_string(),
                iova: mem.iova(),
                len: mem.len() as u64,
                reason: format!("unmap: {e}"),
            })?;
        mapped.swap_remove(pos);
        Ok(())
    }

    pub(crate) fn reset(&self) -> Result<(), DeviceError> {
        // SAFETY: VFIO_DEVICE_RESET takes no argument; the fd is the device fd.
        let rc = unsafe { libc::ioctl(self.device.as_raw_fd(), VFIO_DEVICE_RESET as _) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::ENOTTY) => Err(DeviceError::ResetUnsupported {
                device: self.bdf.to_string(),
                reason: format!("VFIO_DEVICE_RESET: {err}; no FLR, PM or bus reset available"),
            }),
            _ => Err(DeviceError::ConfigIo {
                bdf: self.bdf.to_string(),
                op: "reset",
                offset: 0,
                width: 0,
                source: err,
            }),
        }
    }
}

impl Drop for KernelDevice {
    fn drop(&mut self) {
        let mapped = self.mapped.get_mut().unwrap_or_else(|p| p.into_inner());
        for m in mapped.drain(..) {
            if let Err(e) = self.container.vfio_dma_unmap(m.iova(), m.len()) {
                log::warn!(
                    "{}: DMA unmap of IOVA {:#x} at close failed: {e}",
                    self.bdf,
                    m.iova()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_ioctl_number_matches_linux() {
        // linux/vfio.h: VFIO_DEVICE_RESET _IO(';', 100 + 11) = 0x3b6f.
        assert_eq!(VFIO_DEVICE_RESET, 0x3b6f);
    }
}
