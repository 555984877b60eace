//! Checks made before any VFIO ioctl, each failure reported with its own fix.
//!
//! The kernel's own failures here are unhelpful (a bare ENOENT from a readlink, EBUSY from
//! the group ioctl, ENOMEM from the DMA map with the reason only in dmesg), so we read
//! sysfs ourselves first. Roots are parameters so every path is tested on a fake tree.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::dma::MemlockBudget;
use crate::error::DeviceError;
use crate::pci_address::PciAddress;

/// Where the kernel's interfaces live, and what the caller will lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VfioOptions {
    /// sysfs mount point, normally `/sys`.
    pub sysfs_root: PathBuf,
    /// devtmpfs mount point, normally `/dev`.
    pub dev_root: PathBuf,
    /// Bytes of DMA memory the driver will map (checked against RLIMIT_MEMLOCK up front;
    /// 0 skips the check).
    pub dma_bytes: u64,
}

impl Default for VfioOptions {
    fn default() -> Self {
        VfioOptions {
            sysfs_root: PathBuf::from("/sys"),
            dev_root: PathBuf::from("/dev"),
            dma_bytes: 0,
        }
    }
}

/// What the checks established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preflight {
    /// The device.
    pub bdf: PciAddress,
    /// Its sysfs directory.
    pub sysfs_path: PathBuf,
    /// Its IOMMU group.
    pub group: u32,
    /// The group's character device.
    pub group_node: PathBuf,
}

/// Drivers that do not stop a group from being viable: VFIO drivers own the device for
/// userspace, pci-stub and pcieport leave DMA to the group owner (the kernel's
/// "driver_managed_dma" set), and an unbound device does nothing.
fn driver_is_vfio_compatible(driver: &str) -> bool {
    driver.contains("vfio") || driver == "pci-stub" || driver == "pcieport"
}

fn link_name(path: &Path) -> Result<Option<String>, DeviceError> {
    match fs::read_link(path) {
        Ok(target) => Ok(target.file_name().map(|n| n.to_string_lossy().into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DeviceError::Sysfs {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Runs every check, in the order a user would fix them.
pub fn preflight(address: &str, opts: &VfioOptions) -> Result<Preflight, DeviceError> {
    preflight_with(address, opts, &MemlockBudget::current())
}

/// [`preflight`] with the memlock budget given (for tests).
pub fn preflight_with(
    address: &str,
    opts: &VfioOptions,
    budget: &MemlockBudget,
) -> Result<Preflight, DeviceError> {
    let bdf = PciAddress::parse(address)?;
    let sysfs_path = opts
        .sysfs_root
        .join("bus/pci/devices")
        .join(bdf.to_string());
    if !sysfs_path.exists() {
        return Err(DeviceError::NoSuchDevice {
            bdf,
            path: sysfs_path,
        });
    }
    let driver = link_name(&sysfs_path.join("driver"))?;
    if driver.as_deref() != Some("vfio-pci") {
        return Err(DeviceError::NotBoundToVfio { bdf, driver });
    }
    let group_link = sysfs_path.join("iommu_group");
    let group = link_name(&group_link)?
        .and_then(|g| g.parse::<u32>().ok())
        .ok_or(DeviceError::NoIommuGroup {
            bdf,
            path: group_link,
        })?;
    check_group_viable(bdf, group, opts)?;
    let vfio_dir = opts.dev_root.join("vfio");
    let container = vfio_dir.join("vfio");
    let group_node = vfio_dir.join(group.to_string());
    for node in [&container, &group_node] {
        open_node(node)?;
    }
    if opts.dma_bytes > 0 {
        budget.check(usize::try_from(opts.dma_bytes).unwrap_or(usize::MAX))?;
    }
    Ok(Preflight {
        bdf,
        sysfs_path,
        group,
        group_node,
    })
}

fn check_group_viable(bdf: PciAddress, group: u32, opts: &VfioOptions) -> Result<(), DeviceError> {
    let devices = opts
        .sysfs_root
        .join("kernel/iommu_groups")
        .join(group.to_string())
        .join("devices");
    let entries = fs::read_dir(&devices).map_err(|source| DeviceError::Sysfs {
        path: devices.clone(),
        source,
    })?;
    let mut others = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| DeviceError::Sysfs {
            path: devices.clone(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == bdf.to_string() {
            continue;
        }
        let driver = link_name(&entry.path().join("driver"))?;
        if driver
            .as_deref()
            .is_some_and(|d| !driver_is_vfio_compatible(d))
        {
            others.push((name, driver));
        }
    }
    if others.is_empty() {
        return Ok(());
    }
    others.sort();
    Err(DeviceError::GroupNotViable { bdf, group, others })
}

fn open_node(path: &Path) -> Result<(), DeviceError> {
    match fs::OpenOptions::new().read(true).write(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) => Err(classify_open_error(path, e)),
    }
}

/// Turns a failed open of a /dev/vfio node into the error that names the fix.
pub(crate) fn classify_open_error(path: &Path, err: io::Error) -> DeviceError {
    match err.kind() {
        io::ErrorKind::NotFound => DeviceError::VfioNodeMissing {
            path: path.to_owned(),
        },
        io::ErrorKind::PermissionDenied => {
            let (uid, gid, mode) = fs::metadata(path)
                .map(|m| (m.uid(), m.gid(), m.mode() & 0o7777))
                .unwrap_or((0, 0, 0));
            DeviceError::PermissionDenied {
                path: path.to_owned(),
                uid,
                gid,
                mode,
            }
        }
        _ => DeviceError::Sysfs {
            path: path.to_owned(),
            source: err,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    const BDF: &str = "0000:3b:00.0";

    /// A fake /sys and /dev laid out as the kernel does: device directories under
    /// devices/, symlinks from bus/pci/devices, `driver` and `iommu_group` links, and the
    /// group's devices/ directory linking back.
    struct FakeSys {
        dir: tempfile::TempDir,
    }

    impl FakeSys {
        fn new() -> Self {
            let f = FakeSys {
                dir: tempfile::tempdir().unwrap(),
            };
            for d in [
                "sys/bus/pci/devices",
                "sys/bus/pci/drivers",
                "sys/kernel/iommu_groups",
                "dev/vfio",
            ] {
                fs::create_dir_all(f.root().join(d)).unwrap();
            }
            f
        }
        fn root(&self) -> &Path {
            self.dir.path()
        }
        fn opts(&self) -> VfioOptions {
            VfioOptions {
                sysfs_root: self.root().join("sys"),
                dev_root: self.root().join("dev"),
                dma_bytes: 0,
            }
        }
        fn add_device(&self, bdf: &str) -> PathBuf {
            let dev = self.root().join("sys/devices/pci0000:00").join(bdf);
            fs::create_dir_all(&dev).unwrap();
            symlink(
                format!("../../../devices/pci0000:00/{bdf}"),
                self.root().join("sys/bus/pci/devices").join(bdf),
            )
            .unwrap();
            dev
        }
        fn bind(&self, bdf: &str, driver: &str) {
            let drv = self.root().join("sys/bus/pci/drivers").join(driver);
            fs::create_dir_all(&drv).unwrap();
            let dev = self.root().join("sys/devices/pci0000:00").join(bdf);
            symlink(
                format!("../../../bus/pci/drivers/{driver}"),
                dev.join("driver"),
            )
            .unwrap();
        }
        fn group(&self, bdf: &str, group: u32) {
            let g = self
                .root()
                .join("sys/kernel/iommu_groups")
                .join(group.to_string());
            fs::create_dir_all(g.join("devices")).unwrap();
            let dev = self.root().join("sys/devices/pci0000:00").join(bdf);
            symlink(
                format!("../../../kernel/iommu_groups/{group}"),
                dev.join("iommu_group"),
            )
            .unwrap();
            symlink(
                format!("../../../../devices/pci0000:00/{bdf}"),
                g.join("devices").join(bdf),
            )
            .unwrap();
        }
        fn dev_nodes(&self, group: u32) {
            for n in ["vfio".to_string(), group.to_string()] {
                fs::write(self.root().join("dev/vfio").join(n), b"").unwrap();
            }
        }
        /// A device ready for VFIO in group 12.
        fn good() -> Self {
            let f = FakeSys::new();
            f.add_device(BDF);
            f.bind(BDF, "vfio-pci");
            f.group(BDF, 12);
            f.dev_nodes(12);
            f
        }
        fn check(&self, addr: &str) -> Result<Preflight, DeviceError> {
            preflight_with(addr, &self.opts(), &unlimited())
        }
    }

    fn unlimited() -> MemlockBudget {
        MemlockBudget {
            limit: None,
            locked: 0,
            cap_ipc_lock: false,
        }
    }

    #[test]
    fn ready_device_passes_with_short_address() {
        let f = FakeSys::good();
        let p = f.check("3b:00.0").unwrap();
        assert_eq!(p.bdf.to_string(), BDF);
        assert_eq!(p.group, 12);
        assert_eq!(p.group_node, f.root().join("dev/vfio/12"));
        assert!(p.sysfs_path.ends_with("bus/pci/devices/0000:3b:00.0"));
    }

    #[test]
    fn malformed_address() {
        let f = FakeSys::good();
        let e = f.check("3b:00").unwrap_err().to_string();
        assert!(e.starts_with("malformed PCI address \"3b:00\""), "{e}");
        assert!(e.contains("e.g. 0000:3b:00.0"), "{e}");
    }

    #[test]
    fn no_such_device() {
        let f = FakeSys::good();
        let e = f.check("0000:5e:00.1").unwrap_err().to_string();
        assert!(e.starts_with("no PCI device 0000:5e:00.1"), "{e}");
        assert!(
            e.contains("bus/pci/devices/0000:5e:00.1 does not exist"),
            "{e}"
        );
        assert!(e.contains("lspci -D"), "{e}");
    }

    #[test]
    fn bound_to_another_driver_gives_rebind_commands() {
        let f = FakeSys::new();
        f.add_device(BDF);
        f.bind(BDF, "lpfc");
        f.group(BDF, 12);
        let e = f.check(BDF).unwrap_err().to_string();
        assert!(
            e.starts_with("0000:3b:00.0 is bound to lpfc, not vfio-pci"),
            "{e}"
        );
        assert!(
            e.contains("echo vfio-pci > /sys/bus/pci/devices/0000:3b:00.0/driver_override"),
            "{e}"
        );
        assert!(
            e.contains("echo 0000:3b:00.0 > /sys/bus/pci/devices/0000:3b:00.0/driver/unbind"),
            "{e}"
        );
        assert!(
            e.contains("echo 0000:3b:00.0 > /sys/bus/pci/drivers_probe"),
            "{e}"
        );
    }

    #[test]
    fn unbound_device_needs_no_unbind() {
        let f = FakeSys::new();
        f.add_device(BDF);
        f.group(BDF, 12);
        let e = f.check(BDF).unwrap_err().to_string();
        assert!(e.contains("is bound to no driver"), "{e}");
        assert!(!e.contains("driver/unbind"), "{e}");
        assert!(e.contains("driver_override"), "{e}");
    }

    #[test]
    fn no_iommu_group() {
        let f = FakeSys::new();
        f.add_device(BDF);
        f.bind(BDF, "vfio-pci");
        let e = f.check(BDF).unwrap_err().to_string();
        assert!(e.starts_with("0000:3b:00.0 has no IOMMU group"), "{e}");
        assert!(e.contains("0000:3b:00.0/iommu_group missing"), "{e}");
        assert!(e.contains("intel_iommu=on"), "{e}");
        assert!(e.contains("amd_iommu=on"), "{e}");
        assert!(
            e.contains("modprobe vfio enable_unsafe_noiommu_mode=1"),
            "{e}"
        );
    }

    #[test]
    fn group_not_viable_lists_other_devices_and_drivers() {
        let f = FakeSys::good();
        for (bdf, drv) in [
            ("0000:3b:00.1", Some("lpfc")),
            ("0000:3a:00.0", Some("pcieport")),
            ("0000:3b:00.2", None),
            ("0000:3b:00.3", Some("nvme")),
        ] {
            f.add_device(bdf);
            if let Some(d) = drv {
                f.bind(bdf, d);
            }
            f.group(bdf, 12);
        }
        let e = f.check(BDF).unwrap_err().to_string();
        assert!(
            e.starts_with("IOMMU group 12 of 0000:3b:00.0 is not viable"),
            "{e}"
        );
        assert!(e.contains("0000:3b:00.1 (lpfc)"), "{e}");
        assert!(e.contains("0000:3b:00.3 (nvme)"), "{e}");
        assert!(
            !e.contains("pcieport"),
            "bridges do not block viability: {e}"
        );
        assert!(
            !e.contains("0000:3b:00.2"),
            "unbound devices do not block: {e}"
        );
    }

    #[test]
    fn vfio_nodes_missing() {
        let f = FakeSys::new();
        f.add_device(BDF);
        f.bind(BDF, "vfio-pci");
        f.group(BDF, 12);
        let e = f.check(BDF).unwrap_err().to_string();
        assert!(
            e.ends_with(
                "dev/vfio/vfio does not exist: load the VFIO driver with `modprobe vfio-pci`"
            ),
            "{e}"
        );
        fs::write(f.root().join("dev/vfio/vfio"), b"").unwrap();
        let e = f.check(BDF).unwrap_err().to_string();
        assert!(e.contains("dev/vfio/12 does not exist"), "{e}");
    }

    #[test]
    fn permission_denied_names_owner_mode_and_fix() {
        // Tests run as root, which bypasses file modes, so the open's EACCES is injected;
        // owner and mode are read from the fake node.
        let f = FakeSys::good();
        let node = f.root().join("dev/vfio/12");
        fs::set_permissions(&node, fs::Permissions::from_mode(0o600)).unwrap();
        let e = classify_open_error(&node, io::Error::from_raw_os_error(libc::EACCES)).to_string();
        assert!(
            e.starts_with(&format!("permission denied opening {}", node.display())),
            "{e}"
        );
        assert!(e.contains("mode 600"), "{e}");
        assert!(
            e.contains(&format!("owner uid {}", fs::metadata(&node).unwrap().uid())),
            "{e}"
        );
        assert!(e.contains("chown $USER"), "{e}");
    }

    #[test]
    fn memlock_too_low() {
        let f = FakeSys::good();
        let mut opts = f.opts();
        opts.dma_bytes = 64 << 20;
        let budget = MemlockBudget {
            limit: Some(8 << 20),
            locked: 0,
            cap_ipc_lock: false,
        };
        let e = preflight_with(BDF, &opts, &budget).unwrap_err().to_string();
        assert!(e.starts_with("RLIMIT_MEMLOCK is 8388608 bytes"), "{e}");
        assert!(e.contains("needs 67108864 bytes"), "{e}");
        assert!(e.contains("ulimit -l 65536"), "{e}");
    }

    #[test]
    fn device_open_reports_preflight_errors_then_wraps_vfio_errors_with_the_bdf() {
        let f = FakeSys::new();
        f.add_device(BDF);
        f.bind(BDF, "ixgbe");
        let e = crate::Device::open_vfio("3b:00.0", &f.opts())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("0000:3b:00.0 is bound to ixgbe"), "{e}");
        // A tree that passes every check reaches vfio-ioctls, which opens the real
        // /dev/vfio/vfio (absent here) or the real group; its error carries our BDF.
        let g = FakeSys::good();
        match crate::Device::open_vfio(BDF, &g.opts()) {
            Err(DeviceError::Vfio { bdf, op, .. }) => {
                assert_eq!(bdf.to_string(), BDF);
                assert!(op.starts_with("open "), "{op}");
            }
            other => panic!("expected a wrapped vfio-ioctls error, got {other:?}"),
        }
    }

    #[test]
    fn sysfs_read_errors_name_the_path() {
        let f = FakeSys::good();
        // The group directory vanishes: the read error names it.
        fs::remove_dir_all(f.root().join("sys/kernel/iommu_groups/12")).unwrap();
        let e = f.check(BDF).unwrap_err().to_string();
        assert!(e.starts_with("cannot read "), "{e}");
        assert!(e.contains("kernel/iommu_groups/12/devices"), "{e}");
    }
}
