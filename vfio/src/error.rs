//! Error types of ufc-vfio.
//!
//! Three enums, one per boundary: [`MemoryError`] when DMA memory is set up,
//! [`DmaError`] when a device model reaches driver memory through a
//! [`DmaView`](crate::dma::DmaView), and [`DeviceError`] for everything a
//! [`Device`](crate::Device) does. Every message names the object (BDF, path, IOVA,
//! register) and, where the user can act, the fix.

use std::io;
use std::path::PathBuf;

use crate::pci_address::PciAddress;

/// Setting up DMA memory failed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// `HugePages::Require` and the hugepage pool cannot hold the region.
    #[error(
        "DMA region of {len} bytes needs {needed} free 2 MiB hugepages but only {free} are free \
         (HugePages_Free in /proc/meminfo); reserve more with \
         `echo {suggest} > /proc/sys/vm/nr_hugepages` or allow 4 KiB pages (HugePages::Prefer)"
    )]
    HugePagesExhausted {
        /// Requested region length in bytes.
        len: usize,
        /// 2 MiB pages the region needs.
        needed: u64,
        /// HugePages_Free when the mapping was attempted.
        free: u64,
        /// A value for nr_hugepages that would satisfy the request.
        suggest: u64,
    },
    /// The locked-memory limit cannot cover the region.
    #[error(
        "RLIMIT_MEMLOCK is {current} bytes but DMA memory needs {needed} bytes locked \
         ({already} already locked by this process + {len} for this region); raise it with \
         `ulimit -l {needed_kib}` (KiB), a `memlock` line in /etc/security/limits.conf, \
         or LimitMEMLOCK={needed} in the systemd unit"
    )]
    MemlockTooLow {
        /// Current soft limit in bytes.
        current: u64,
        /// Bytes that must be lockable in total.
        needed: u64,
        /// `needed` rounded up to KiB, the unit of `ulimit -l`.
        needed_kib: u64,
        /// Bytes this process already has locked (VmLck).
        already: u64,
        /// Length of the region being set up.
        len: usize,
    },
    /// memfd_create is missing or refuses the flags.
    #[error(
        "memfd_create({flags}) failed: {source}; ufc needs memfd (Linux >= 3.17, and \
         CONFIG_HUGETLBFS for hugepage regions) so DMA memory can be shared by fd"
    )]
    MemfdUnsupported {
        /// The flags that were passed, as text.
        flags: &'static str,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// ftruncate, mmap or mlock failed for another reason.
    #[error("{op} of a {len}-byte DMA region ({page} pages) failed: {source}")]
    Os {
        /// The failing call.
        op: &'static str,
        /// Region length.
        len: usize,
        /// "2 MiB" or "4 KiB".
        page: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The IOVA window has no free span large enough.
    #[error(
        "IOVA window {start:#x}..{end:#x} has no free span of {len} bytes aligned to {align:#x}; \
         free DMA regions or configure a larger window"
    )]
    IovaExhausted {
        /// Window start.
        start: u64,
        /// Window end (exclusive).
        end: u64,
        /// Requested length.
        len: u64,
        /// Requested alignment.
        align: u64,
    },
    /// A pool or region configuration is unusable.
    #[error("invalid DMA configuration: {0}")]
    InvalidConfig(String),
}

/// A device model's DMA access failed; returned to the model, never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DmaError {
    /// No region is mapped at `iova`.
    #[error("DMA of {len} bytes at IOVA {iova:#x}: no DMA region is mapped there")]
    Unmapped {
        /// First byte of the access.
        iova: u64,
        /// Access length.
        len: usize,
    },
    /// The access starts inside a region but runs past its end.
    #[error(
        "DMA of {len} bytes at IOVA {iova:#x} runs past the end of region \
         {region_start:#x}..{region_end:#x}"
    )]
    CrossesRegionEnd {
        /// First byte of the access.
        iova: u64,
        /// Access length.
        len: usize,
        /// Region start IOVA.
        region_start: u64,
        /// Region end IOVA (exclusive).
        region_end: u64,
    },
}

impl DmaError {
    /// IOVA of the failed access.
    pub fn iova(&self) -> u64 {
        match *self {
            DmaError::Unmapped { iova, .. } | DmaError::CrossesRegionEnd { iova, .. } => iova,
        }
    }

    /// Length of the failed access.
    pub fn len(&self) -> usize {
        match *self {
            DmaError::Unmapped { len, .. } | DmaError::CrossesRegionEnd { len, .. } => len,
        }
    }

    /// True when the failed access had length zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Renders the rebind commands for a device on the wrong driver.
fn rebind_hint(bdf: &PciAddress, driver: &Option<String>) -> String {
    let dev = format!("/sys/bus/pci/devices/{bdf}");
    let unbind = if driver.is_some() {
        format!("echo {bdf} > {dev}/driver/unbind; ")
    } else {
        String::new()
    };
    format!(
        "echo vfio-pci > {dev}/driver_override; {unbind}echo {bdf} > /sys/bus/pci/drivers_probe \
         (or `driverctl set-override {bdf} vfio-pci` to persist)"
    )
}

fn group_members(others: &[(String, Option<String>)]) -> String {
    others
        .iter()
        .map(|(bdf, drv)| format!("{bdf} ({})", drv.as_deref().unwrap_or("no driver")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A device operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The PCI address does not parse.
    #[error(
        "malformed PCI address {input:?}: {reason}; expected DDDD:BB:DD.F or BB:DD.F, \
         e.g. 0000:3b:00.0"
    )]
    BadAddress {
        /// What the user gave.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No sysfs node for the address.
    #[error("no PCI device {bdf} ({path} does not exist); list devices with `lspci -D`")]
    NoSuchDevice {
        /// The device.
        bdf: PciAddress,
        /// The sysfs path looked at.
        path: PathBuf,
    },
    /// The device is bound to another driver, or to none.
    #[error(
        "{bdf} is bound to {}, not vfio-pci; rebind it: {}",
        driver.as_deref().unwrap_or("no driver"),
        rebind_hint(bdf, driver)
    )]
    NotBoundToVfio {
        /// The device.
        bdf: PciAddress,
        /// Its current driver.
        driver: Option<String>,
    },
    /// The device has no IOMMU group: the IOMMU is off.
    #[error(
        "{bdf} has no IOMMU group ({path} missing): the IOMMU is off; enable VT-d/AMD-Vi in \
         the BIOS and boot with `intel_iommu=on iommu=pt` or `amd_iommu=on iommu=pt`, or use \
         unsafe no-IOMMU mode: `modprobe vfio enable_unsafe_noiommu_mode=1`"
    )]
    NoIommuGroup {
        /// The device.
        bdf: PciAddress,
        /// The missing link.
        path: PathBuf,
    },
    /// Other devices of the group are on host drivers.
    #[error(
        "IOMMU group {group} of {bdf} is not viable: every device in it must be bound to \
         vfio-pci (or have no driver); these are not: {}; rebind each the same way as {bdf}",
        group_members(others)
    )]
    GroupNotViable {
        /// The device being opened.
        bdf: PciAddress,
        /// The group number.
        group: u32,
        /// (BDF, driver) of each offending device.
        others: Vec<(String, Option<String>)>,
    },
    /// A /dev/vfio node is missing.
    #[error("{path} does not exist: load the VFIO driver with `modprobe vfio-pci`")]
    VfioNodeMissing {
        /// The missing node.
        path: PathBuf,
    },
    /// A /dev/vfio node is not accessible by this user.
    #[error(
        "permission denied opening {path} (owner uid {uid} gid {gid}, mode {mode:o}); run as \
         root or give this user the group: `chown $USER {path}`"
    )]
    PermissionDenied {
        /// The node.
        path: PathBuf,
        /// Owner uid.
        uid: u32,
        /// Owner gid.
        gid: u32,
        /// Permission bits.
        mode: u32,
    },
    /// Reading sysfs or /dev failed unexpectedly.
    #[error("cannot read {path}: {source}")]
    Sysfs {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// DMA memory limits.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// A vfio-ioctls call failed.
    #[error("{bdf}: {op} failed: {source}")]
    Vfio {
        /// The device.
        bdf: PciAddress,
        /// What we were doing.
        op: &'static str,
        /// The vfio-ioctls error.
        #[source]
        source: vfio_ioctls::VfioError,
    },
    /// A config-space access failed in the kernel.
    #[error("{bdf}: config space {op} of {width} bytes at {offset:#x} failed: {source}")]
    ConfigIo {
        /// The device.
        bdf: String,
        /// "read" or "write".
        op: &'static str,
        /// Offset in config space.
        offset: u16,
        /// Access width in bytes.
        width: usize,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A config-space offset outside the space or misaligned.
    #[error(
        "{device}: config space access of {width} bytes at {offset:#x} is outside the \
         {size}-byte space or not naturally aligned"
    )]
    ConfigOutOfRange {
        /// The device.
        device: String,
        /// Offset.
        offset: u16,
        /// Width.
        width: usize,
        /// Config space size.
        size: u64,
    },
    /// The BAR does not exist or is empty.
    #[error("{device}: BAR {bar} does not exist")]
    NoSuchBar {
        /// The device.
        device: String,
        /// BAR index.
        bar: u8,
    },
    /// The kernel does not allow mmap of the BAR.
    #[error("{device}: BAR {bar} cannot be mmapped (VFIO region flags {flags:#x}); ufc needs mmap for MMIO")]
    BarNotMappable {
        /// The device.
        device: String,
        /// BAR index.
        bar: u8,
        /// VFIO region flags.
        flags: u32,
    },
    /// mmap of a BAR failed.
    #[error("{device}: mmap of BAR {bar} ({len} bytes) failed: {source}")]
    BarMmap {
        /// The device.
        device: String,
        /// BAR index.
        bar: u8,
        /// Length.
        len: u64,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A register or window lies outside its BAR, or is misaligned.
    #[error(
        "{device}: BAR {bar} access of {len} bytes at {offset:#x} is outside the {bar_len}-byte \
         window or not naturally aligned"
    )]
    RegisterOutOfRange {
        /// The device.
        device: String,
        /// BAR index.
        bar: u8,
        /// Offset from the BAR start.
        offset: u64,
        /// Width or window length.
        len: u64,
        /// Length of the BAR (or window).
        bar_len: u64,
    },
    /// The model did not declare this register as a doorbell.
    #[error(
        "{device}: BAR {bar} offset {offset:#x} is not a doorbell register of the model; \
         declare it in DeviceModel::doorbells()"
    )]
    NotADoorbell {
        /// The device.
        device: String,
        /// BAR index.
        bar: u8,
        /// Offset.
        offset: u64,
    },
    /// IOMMU map failed.
    #[error("{device}: DMA map of IOVA {iova:#x}+{len:#x} failed: {reason}")]
    DmaMap {
        /// The device.
        device: String,
        /// Region IOVA.
        iova: u64,
        /// Region length.
        len: u64,
        /// Why.
        reason: String,
    },
    /// Unmap of a region that is not mapped.
    #[error("{device}: DMA region at IOVA {iova:#x} is not mapped")]
    NotMapped {
        /// The device.
        device: String,
        /// Region IOVA.
        iova: u64,
    },
    /// The device offers no function reset.
    #[error("{device}: function reset is not supported by the device ({reason})")]
    ResetUnsupported {
        /// The device.
        device: String,
        /// Errno text or explanation.
        reason: String,
    },
    /// A device model panicked while holding its state.
    #[error("device model {device} panicked earlier; the device is dead, recreate it")]
    ModelPoisoned {
        /// The model's name.
        device: String,
    },
    /// The operation needs an in-process model backend.
    #[error("{device}: {op} needs an in-process device model backend")]
    NotAModel {
        /// The device.
        device: String,
        /// What was attempted.
        op: &'static str,
    },
    /// Pinning a thread failed.
    #[error("cannot pin thread to CPU {cpu}: {source}; check `nproc` and the cgroup cpuset")]
    Pin {
        /// The CPU.
        cpu: usize,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// Spawning the model thread failed.
    #[error("cannot start the thread of device model {device}: {source}")]
    Spawn {
        /// The model's name.
        device: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memfd_unsupported_names_the_kernel_requirements() {
        let e = MemoryError::MemfdUnsupported {
            flags: "MFD_CLOEXEC|MFD_HUGETLB|MFD_HUGE_2MB",
            source: nix::Error::EINVAL,
        }
        .to_string();
        assert!(
            e.starts_with("memfd_create(MFD_CLOEXEC|MFD_HUGETLB|MFD_HUGE_2MB) failed"),
            "{e}"
        );
        assert!(e.contains("Linux >= 3.17"), "{e}");
        assert!(e.contains("CONFIG_HUGETLBFS"), "{e}");
    }

    #[test]
    fn dma_error_accessors() {
        let e = DmaError::CrossesRegionEnd {
            iova: 0x1ff8,
            len: 16,
            region_start: 0x1000,
            region_end: 0x2000,
        };
        assert_eq!((e.iova(), e.len(), e.is_empty()), (0x1ff8, 16, false));
        assert_eq!(
            e.to_string(),
            "DMA of 16 bytes at IOVA 0x1ff8 runs past the end of region 0x1000..0x2000"
        );
    }
}
