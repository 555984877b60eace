//! [`Device`]: one PCI function as the driver sees it, whatever the backend.

use std::ptr::NonNull;
use std::sync::Arc;

use crate::dma::DmaMemory;
use crate::error::DeviceError;
use crate::kernel::{KernelDevice, VfioOptions};
use crate::mmio::{self, MmioMapping};
use crate::model::{DeviceModel, DoorbellPort, ModelOptions, ModelShared, ModelStats};

/// PCI config-space offset of the COMMAND register (PCI Local Bus 3.0 §6.2.2).
pub const PCI_COMMAND: u16 = 0x04;
/// COMMAND bit 2: Bus Master Enable; without it the function cannot issue DMA.
pub const PCI_COMMAND_MASTER: u16 = 1 << 2;

/// The backend seam. Control-path calls dispatch on this enum; hot-path handles
/// ([`Doorbell`], [`Reg32`]) resolve their target once, at creation. A vfio-user backend
/// (model in another process, DMA shared by memfd) becomes a third variant: its control
/// path is socket messages, its doorbells an mmapped sparse area (an `Mmio` target), and
/// nothing changes for the driver.
#[derive(Debug, Clone)]
enum Backend {
    Kernel(Arc<KernelDevice>),
    Model(Arc<ModelShared>),
}

/// A PCI function: config space, BARs, doorbells, DMA mapping and reset.
///
/// Cheap to clone (shared handles); `Send + Sync`. Control-path methods may take locks or
/// make syscalls; the hot path is [`Doorbell::write`] and [`Reg32`]/[`Reg64`] on mapped BARs.
#[derive(Debug, Clone)]
pub struct Device {
    backend: Backend,
    name: Arc<str>,
}

impl Device {
    /// Opens a device bound to vfio-pci by PCI address (`0000:3b:00.0` or `3b:00.0`),
    /// after checking each precondition and naming the fix for the first that fails.
    /// Enables bus mastering.
    pub fn open_vfio(address: &str, opts: &VfioOptions) -> Result<Self, DeviceError> {
        let kernel = KernelDevice::open(address, opts)?;
        let dev = Device {
            name: kernel.bdf.to_string().into(),
            backend: Backend::Kernel(Arc::new(kernel)),
        };
        dev.set_bus_master(true)?;
        Ok(dev)
    }

    /// A device backed by an in-process model, in inline mode until a
    /// [`ModelRunner`](crate::ModelRunner) is spawned for it.
    pub fn from_model<M: DeviceModel>(model: M) -> Self {
        Self::from_model_with(model, ModelOptions::default())
    }

    /// [`from_model`](Self::from_model) with options.
    pub fn from_model_with<M: DeviceModel>(model: M, opts: ModelOptions) -> Self {
        let shared = ModelShared::new(Box::new(model), opts);
        Device {
            name: shared.name.clone().into(),
            backend: Backend::Model(Arc::new(shared)),
        }
    }

    /// The device's name in messages: its BDF, or the model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn model_shared(&self) -> Option<Arc<ModelShared>> {
        match &self.backend {
            Backend::Model(m) => Some(Arc::clone(m)),
            Backend::Kernel(_) => None,
        }
    }

    fn config_check(&self, offset: u16, width: usize) -> Result<(), DeviceError> {
        let size = match &self.backend {
            Backend::Kernel(k) => k.config_size,
            Backend::Model(m) => m.config_len,
        };
        let end = u64::from(offset) + width as u64;
        if end > size || usize::from(offset) % width != 0 {
            return Err(DeviceError::ConfigOutOfRange {
                device: self.name.to_string(),
                offset,
                width,
                size,
            });
        }
        Ok(())
    }

    fn config_read(&self, offset: u16, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.config_check(offset, buf.len())?;
        match &self.backend {
            Backend::Kernel(k) => k.config_read(offset, buf),
            Backend::Model(m) => m.control(|st| st.model.config_read(offset, buf)),
        }
    }

    fn config_write(&self, offset: u16, data: &[u8]) -> Result<(), DeviceError> {
        self.config_check(offset, data.len())?;
        match &self.backend {
            Backend::Kernel(k) => k.config_write(offset, data),
            Backend::Model(m) => m.control(|st| st.model.config_write(offset, data)),
        }
    }

    /// 8-bit config-space read.
    pub fn config_read8(&self, offset: u16) -> Result<u8, DeviceError> {
        let mut b = [0u8; 1];
        self.config_read(offset, &mut b)?;
        Ok(b[0])
    }

    /// 16-bit config-space read (offset 2-byte aligned).
    pub fn config_read16(&self, offset: u16) -> Result<u16, DeviceError> {
        let mut b = [0u8; 2];
        self.config_read(offset, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    /// 32-bit config-space read (offset 4-byte aligned).
    pub fn config_read32(&self, offset: u16) -> Result<u32, DeviceError> {
        let mut b = [0u8; 4];
        self.config_read(offset, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// 8-bit config-space write.
    pub fn config_write8(&self, offset: u16, value: u8) -> Result<(), DeviceError> {
        self.config_write(offset, &[value])
    }

    /// 16-bit config-space write.
    pub fn config_write16(&self, offset: u16, value: u16) -> Result<(), DeviceError> {
        self.config_write(offset, &value.to_le_bytes())
    }

    /// 32-bit config-space write.
    pub fn config_write32(&self, offset: u16, value: u32) -> Result<(), DeviceError> {
        self.config_write(offset, &value.to_le_bytes())
    }

    /// Sets or clears Bus Master Enable in the COMMAND register.
    pub fn set_bus_master(&self, enable: bool) -> Result<(), DeviceError> {
        let cmd = self.config_read16(PCI_COMMAND)?;
        let new = if enable {
            cmd | PCI_COMMAND_MASTER
        } else {
            cmd & !PCI_COMMAND_MASTER
        };
        if new != cmd {
            self.config_write16(PCI_COMMAND, new)?;
        }
        Ok(())
    }

    /// A handle on the whole of BAR `bar`; kernel BARs are mmapped on first use.
    pub fn bar(&self, bar: u8) -> Result<Bar, DeviceError> {
        let no_bar = || DeviceError::NoSuchBar {
            device: self.name.to_string(),
            bar,
        };
        if bar >= 6 {
            return Err(no_bar());
        }
        let (len, access) = match &self.backend {
            Backend::Kernel(k) => {
                let map = k.map_bar(bar)?;
                (map.len() as u64, BarAccess::Mmio(map))
            }
            Backend::Model(m) => {
                let len = m.bar_lens[usize::from(bar)];
                if len == 0 {
                    return Err(no_bar());
                }
                (len, BarAccess::Model(Arc::clone(m)))
            }
        };
        Ok(Bar {
            device: Arc::clone(&self.name),
            index: bar,
            base: 0,
            len,
            access,
        })
    }

    /// A doorbell handle for the 32-bit register at `offset` of BAR `bar`.
    pub fn doorbell(&self, bar: u8, offset: u64) -> Result<Doorbell, DeviceError> {
        self.bar(bar)?.doorbell(offset)
    }

    /// Maps `mem` into the device's IOVA space at `mem.iova()`. The device keeps the
    /// region alive until it is unmapped or the device is dropped.
    pub fn dma_map(&self, mem: &DmaMemory) -> Result<(), DeviceError> {
        match &self.backend {
            Backend::Kernel(k) => k.dma_map(mem),
            Backend::Model(m) => m.dma_map(mem),
        }
    }

    /// Removes the mapping made by [`dma_map`](Self::dma_map).
    pub fn dma_unmap(&self, mem: &DmaMemory) -> Result<(), DeviceError> {
        match &self.backend {
            Backend::Kernel(k) => k.dma_unmap(mem),
            Backend::Model(m) => m.dma_unmap(mem),
        }
    }

    /// Function reset, where the backend supports it.
    pub fn reset(&self) -> Result<(), DeviceError> {
        match &self.backend {
            Backend::Kernel(k) => k.reset(),
            Backend::Model(m) => {
                m.control(|st| st.model.reset())?
                    .map_err(|reason| DeviceError::ResetUnsupported {
                        device: self.name.to_string(),
                        reason,
                    })
            }
        }
    }

    /// Inline mode: lets an in-process model process queued doorbells and background
    /// work on the calling thread. Returns true if the model did anything. A no-op
    /// returning false for hardware, so a driver may call it in every poll.
    #[inline]
    pub fn poll_model(&self) -> bool {
        match &self.backend {
            Backend::Kernel(_) => false,
            Backend::Model(m) => m.try_service().unwrap_or(false),
        }
    }

    /// Counters of an in-process model backend; `None` for hardware.
    pub fn model_stats(&self) -> Option<ModelStats> {
        match &self.backend {
            Backend::Kernel(_) => None,
            Backend::Model(m) => Some(m.stats()),
        }
    }
}

#[derive(Debug, Clone)]
enum BarAccess {
    Mmio(Arc<MmioMapping>),
    Model(Arc<ModelShared>),
}

/// A window on a BAR. Offsets are relative to the window; registers are checked against
/// the window when their handle is made ([`reg32`](Self::reg32), [`doorbell`](Self::doorbell))
/// and the convenience accessors check on each call.
#[derive(Debug, Clone)]
pub struct Bar {
    device: Arc<str>,
    index: u8,
    /// Offset of the window in the BAR.
    base: u64,
    len: u64,
    access: BarAccess,
}

/// Where a register handle points, resolved once at creation.
#[derive(Debug, Clone)]
enum RegTarget {
    Mmio {
        reg: NonNull<u8>,
        _map: Arc<MmioMapping>,
    },
    Model {
        shared: Arc<ModelShared>,
        bar: u8,
        offset: u64,
        doorbell: Option<u32>,
    },
}

// SAFETY: `reg` points into `_map`, which the handle keeps alive; MMIO registers may be
// accessed from any thread with volatile operations.
unsafe impl Send for RegTarget {}
// SAFETY: as above; the handle has no interior state.
unsafe impl Sync for RegTarget {}

impl Bar {
    /// BAR index (0..6).
    pub fn index(&self) -> u8 {
        self.index
    }

    /// Window length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty window.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn out_of_range(&self, offset: u64, len: u64) -> DeviceError {
        DeviceError::RegisterOutOfRange {
            device: self.device.to_string(),
            bar: self.index,
            offset: self.base.saturating_add(offset),
            len,
            bar_len: self.len,
        }
    }

    /// A sub-window `[offset, offset+len)` of this window.
    pub fn window(&self, offset: u64, len: u64) -> Result<Bar, DeviceError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(Bar {
                base: self.base + offset,
                len,
                ..self.clone()
            }),
            _ => Err(self.out_of_range(offset, len)),
        }
    }

    fn target(&self, offset: u64, width: u64) -> Result<RegTarget, DeviceError> {
        let fits = offset.checked_add(width).is_some_and(|end| end <= self.len);
        let abs = self.base.checked_add(offset);
        let (true, Some(abs)) = (fits, abs) else {
            return Err(self.out_of_range(offset, width));
        };
        if abs % width != 0 {
            return Err(self.out_of_range(offset, width));
        }
        match &self.access {
            BarAccess::Mmio(map) => match map.register(abs, width) {
                Some(reg) => Ok(RegTarget::Mmio {
                    reg,
                    _map: Arc::clone(map),
                }),
                None => Err(self.out_of_range(offset, width)),
            },
            BarAccess::Model(m) => Ok(RegTarget::Model {
                shared: Arc::clone(m),
                bar: self.index,
                offset: abs,
                doorbell: if width == 4 {
                    m.doorbell_index(self.index, abs)
                } else {
                    None
                },
            }),
        }
    }

    /// A handle on the 32-bit register at `offset` (checked here, once).
    pub fn reg32(&self, offset: u64) -> Result<Reg32, DeviceError> {
        Ok(Reg32 {
            target: self.target(offset, 4)?,
        })
    }

    /// A handle on the 64-bit register at `offset` (checked here, once).
    pub fn reg64(&self, offset: u64) -> Result<Reg64, DeviceError> {
        Ok(Reg64 {
            target: self.target(offset, 8)?,
        })
    }

    /// A doorbell handle for the 32-bit register at `offset`. For a model the register
    /// must be one the model declared in `DeviceModel::doorbells`.
    pub fn doorbell(&self, offset: u64) -> Result<Doorbell, DeviceError> {
        let target = match self.target(offset, 4)? {
            RegTarget::Mmio { reg, _map } => DoorbellTarget::Mmio { reg, _map },
            RegTarget::Model {
                shared,
                doorbell: Some(index),
                ..
            } => DoorbellTarget::Model(shared.port(index)?),
            RegTarget::Model {
                bar, offset: abs, ..
            } => {
                return Err(DeviceError::NotADoorbell {
                    device: self.device.to_string(),
                    bar,
                    offset: abs,
                })
            }
        };
        Ok(Doorbell { target })
    }

    /// Checked 32-bit read at `offset`.
    pub fn read32(&self, offset: u64) -> Result<u32, DeviceError> {
        Ok(self.reg32(offset)?.read())
    }

    /// Checked 32-bit write at `offset`.
    pub fn write32(&self, offset: u64, value: u32) -> Result<(), DeviceError> {
        self.reg32(offset)?.write(value);
        Ok(())
    }

    /// Checked 64-bit read at `offset`.
    pub fn read64(&self, offset: u64) -> Result<u64, DeviceError> {
        Ok(self.reg64(offset)?.read())
    }

    /// Checked 64-bit write at `offset`.
    pub fn write64(&self, offset: u64, value: u64) -> Result<(), DeviceError> {
        self.reg64(offset)?.write(value);
        Ok(())
    }
}

/// What a model register read returns when the model is dead: PCIe reads of a device
/// that is gone complete with all ones, and drivers already check for that.
const DEAD_READ: u64 = u64::MAX;

fn model_read(shared: &ModelShared, bar: u8, offset: u64, data: &mut [u8]) {
    if shared
        .control(|st| st.model.bar_read(bar, offset, data))
        .is_err()
    {
        data.fill(DEAD_READ as u8);
    }
}

fn model_write(shared: &ModelShared, bar: u8, offset: u64, data: &[u8]) {
    if let Err(e) = shared.control(|st| st.model.bar_write(bar, offset, data)) {
        log::error!("write to BAR {bar} offset {offset:#x} dropped: {e}");
    }
}

/// A 32-bit register, bounds-checked when made.
#[derive(Debug, Clone)]
pub struct Reg32 {
    target: RegTarget,
}

impl Reg32 {
    /// Reads the register (all ones if the device is dead).
    #[inline]
    pub fn read(&self) -> u32 {
        match &self.target {
            // SAFETY: `reg` was checked in range and 4-aligned by Bar::target and the
            // mapping is kept alive by the handle.
            RegTarget::Mmio { reg, .. } => unsafe { mmio::read32(*reg) },
            RegTarget::Model {
                shared,
                bar,
                offset,
                ..
            } => {
                let mut b = [0u8; 4];
                model_read(shared, *bar, *offset, &mut b);
                u32::from_le_bytes(b)
            }
        }
    }

    /// Writes the register. A model's doorbell register is delivered on the control path,
    /// after every doorbell already queued (use a [`Doorbell`] handle on the hot path).
    #[inline]
    pub fn write(&self, value: u32) {
        match &self.target {
            // SAFETY: as in `read`.
            RegTarget::Mmio { reg, .. } => unsafe { mmio::write32(*reg, value) },
            RegTarget::Model {
                shared,
                doorbell: Some(index),
                ..
            } => {
                if let Err(e) = shared.doorbell_direct(*index, value) {
                    log::error!("doorbell write dropped: {e}");
                }
            }
            RegTarget::Model {
                shared,
                bar,
                offset,
                doorbell: None,
            } => model_write(shared, *bar, *offset, &value.to_le_bytes()),
        }
    }
}

/// A 64-bit register, bounds-checked when made.
#[derive(Debug, Clone)]
pub struct Reg64 {
    target: RegTarget,
}

impl Reg64 {
    /// Reads the register (all ones if the device is dead).
    #[inline]
    pub fn read(&self) -> u64 {
        match &self.target {
            // SAFETY: `reg` was checked in range and 8-aligned by Bar::target and the
            // mapping is kept alive by the handle.
            RegTarget::Mmio { reg, .. } => unsafe { mmio::read64(*reg) },
            RegTarget::Model {
                shared,
                bar,
                offset,
                ..
            } => {
                let mut b = [0u8; 8];
                model_read(shared, *bar, *offset, &mut b);
                u64::from_le_bytes(b)
            }
        }
    }

    /// Writes the register.
    #[inline]
    pub fn write(&self, value: u64) {
        match &self.target {
            // SAFETY: as in `read`.
            RegTarget::Mmio { reg, .. } => unsafe { mmio::write64(*reg, value) },
            RegTarget::Model {
                shared,
                bar,
                offset,
                ..
            } => model_write(shared, *bar, *offset, &value.to_le_bytes()),
        }
    }
}

#[derive(Debug)]
enum DoorbellTarget {
    Mmio {
        reg: NonNull<u8>,
        _map: Arc<MmioMapping>,
    },
    Model(DoorbellPort),
}

/// A doorbell: one 32-bit register, resolved once per queue and owned by the thread that
/// drives the queue. [`write`](Self::write) is the hot path: a release fence and one
/// volatile store on hardware, two plain stores into the handle's ring for an in-process
/// model. Writes are never merged or lost.
///
/// `Send` but not `Sync`: the model ring behind it has a single producer.
#[derive(Debug)]
pub struct Doorbell {
    target: DoorbellTarget,
}

// SAFETY: the MMIO pointer stays valid while `_map` lives, which the handle owns, and may
// be written from any thread; the model port is Send (its producer state moves with it).
unsafe impl Send for Doorbell {}

impl Doorbell {
    /// Rings the doorbell with `value`; earlier stores to DMA memory are visible to the
    /// device first.
    #[inline]
    pub fn write(&self, value: u32) {
        match &self.target {
            // SAFETY: `reg` was checked in range and 4-aligned when the handle was made,
            // and the mapping is kept alive by `_map`.
            DoorbellTarget::Mmio { reg, .. } => unsafe { mmio::write32(*reg, value) },
            DoorbellTarget::Model(port) => port.write(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// A BAR backed by a memfd: exercises the MMIO path without hardware.
    fn memfd_bar(len: usize) -> (std::fs::File, Bar) {
        let fd = nix::sys::memfd::memfd_create(c"bar", nix::sys::memfd::MFdFlags::empty()).unwrap();
        let file = std::fs::File::from(fd);
        file.set_len(len as u64).unwrap();
        let map = MmioMapping::map(file.as_raw_fd(), 0, len).unwrap();
        let bar = Bar {
            device: "memfd".into(),
            index: 2,
            base: 0,
            len: len as u64,
            access: BarAccess::Mmio(Arc::new(map)),
        };
        (file, bar)
    }

    #[test]
    fn mmio_registers_read_back_and_check_bounds() {
        let (file, bar) = memfd_bar(4096);
        bar.write32(0x10, 0xdead_beef).unwrap();
        bar.write64(0x18, 0x0102_0304_0506_0708).unwrap();
        assert_eq!(bar.read32(0x10).unwrap(), 0xdead_beef);
        assert_eq!(bar.read64(0x18).unwrap(), 0x0102_0304_0506_0708);
        // The store reached the backing file: it is real shared memory.
        let mut b = [0u8; 4];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut b, 0x10).unwrap();
        assert_eq!(u32::from_le_bytes(b), 0xdead_beef);

        let e = bar.reg32(4094).unwrap_err().to_string();
        assert!(e.contains("BAR 2 access of 4 bytes at 0xffe"), "{e}");
        assert!(e.contains("4096-byte window"), "{e}");
        assert!(bar.reg32(4096).is_err());
        assert!(bar.reg32(u64::MAX - 1).is_err());
        assert!(bar.reg64(4).is_err(), "misaligned 64-bit register");
        assert!(bar.reg32(2).is_err(), "misaligned 32-bit register");
        assert!(bar.reg32(4092).is_ok());
    }

    #[test]
    fn windows_are_relative_and_nested_bounds_hold() {
        let (_file, bar) = memfd_bar(8192);
        let w = bar.window(0x1000, 0x100).unwrap();
        w.write32(0, 7).unwrap();
        assert_eq!(bar.read32(0x1000).unwrap(), 7);
        assert!(w.reg32(0x100).is_err());
        assert!(w.window(0x80, 0x81).is_err());
        assert!(bar.window(0x1000, 0x1001).is_err());
        assert!(bar.window(u64::MAX, 2).is_err());
        let e = w.reg32(0xfe).unwrap_err().to_string();
        assert!(
            e.contains("at 0x10fe"),
            "offsets are reported BAR-absolute: {e}"
        );
    }

    #[test]
    fn mmio_doorbell_is_a_store() {
        let (_file, bar) = memfd_bar(4096);
        let db = bar.doorbell(0x40).unwrap();
        db.write(5);
        db.write(5);
        assert_eq!(bar.read32(0x40).unwrap(), 5);
        assert!(bar.doorbell(0x41).is_err());
    }
}
