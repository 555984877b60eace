//! `fcperf --check PCI-ADDRESS`: every prerequisite of a real HBA as a
//! checklist. The VFIO checks are ufc_vfio's kernel preflight (it stops at the
//! first failure, so later items show as not checked); hugepages and the
//! memlock limit are checked on their own.

use std::fmt::Write as _;

use ufc_vfio::dma::{HugePagePool, MemlockBudget, HUGE_PAGE_SIZE};
use ufc_vfio::kernel::{preflight_with, VfioOptions};
use ufc_vfio::DeviceError;

/// The VFIO items in the order preflight checks them.
const VFIO_ITEMS: [&str; 6] = [
    "PCI address parses",
    "device present in sysfs",
    "bound to vfio-pci",
    "has an IOMMU group",
    "IOMMU group viable (every device on a VFIO-compatible driver)",
    "/dev/vfio/vfio and the group node open read-write",
];

/// Which item a preflight error belongs to.
fn failed_item(e: &DeviceError) -> usize {
    match e {
        DeviceError::BadAddress { .. } => 0,
        DeviceError::NoSuchDevice { .. } => 1,
        DeviceError::NotBoundToVfio { .. } => 2,
        DeviceError::NoIommuGroup { .. } => 3,
        DeviceError::GroupNotViable { .. } | DeviceError::Sysfs { .. } => 4,
        _ => 5,
    }
}

/// The outcome of one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// Fine.
    Ok(String),
    /// Needs fixing; the message says how.
    Fail(String),
    /// Not checked because an earlier item failed.
    Skipped(String),
}

/// Runs every check. `dma_bytes` is what a run would lock.
pub fn check(
    address: &str,
    opts: &VfioOptions,
    budget: &MemlockBudget,
    huge: &HugePagePool,
) -> Vec<Item> {
    let mut items = Vec::new();
    // Memlock is reported as its own item below.
    let vfio_opts = VfioOptions {
        dma_bytes: 0,
        ..opts.clone()
    };
    match preflight_with(address, &vfio_opts, budget) {
        Ok(p) => {
            for (i, name) in VFIO_ITEMS.iter().enumerate() {
                let detail = match i {
                    1 => format!(" ({})", p.sysfs_path.display()),
                    3 => format!(" (group {})", p.group),
                    5 => format!(" ({})", p.group_node.display()),
                    _ => String::new(),
                };
                items.push(Item::Ok(format!("{name}{detail}")));
            }
        }
        Err(e) => {
            let at = failed_item(&e);
            for (i, name) in VFIO_ITEMS.iter().enumerate() {
                items.push(match i.cmp(&at) {
                    std::cmp::Ordering::Less => Item::Ok((*name).to_owned()),
                    std::cmp::Ordering::Equal => Item::Fail(format!("{name}: {e}")),
                    std::cmp::Ordering::Greater => Item::Skipped((*name).to_owned()),
                });
            }
        }
    }
    let pages = opts.dma_bytes.div_ceil(HUGE_PAGE_SIZE as u64);
    items.push(if huge.free >= pages {
        Item::Ok(format!(
            "hugepages: {} of {} free, {pages} × 2 MiB needed",
            huge.free, huge.total
        ))
    } else {
        Item::Fail(format!(
            "hugepages: need {pages} × 2 MiB, {} free (HugePages_Free in /proc/meminfo); \
             echo {} > /proc/sys/vm/nr_hugepages (4 KiB pages work too, with more IOTLB misses)",
            huge.free,
            huge.total + pages - huge.free
        ))
    });
    let bytes = usize::try_from(opts.dma_bytes).unwrap_or(usize::MAX);
    items.push(match budget.check(bytes) {
        Ok(()) => Item::Ok(format!(
            "memlock: {} bytes lockable ({})",
            opts.dma_bytes,
            match (budget.limit, budget.cap_ipc_lock) {
                (_, true) => "CAP_IPC_LOCK".to_owned(),
                (None, _) => "unlimited".to_owned(),
                (Some(l), _) => format!("limit {l}, {} locked", budget.locked),
            }
        )),
        Err(e) => Item::Fail(format!("memlock: {e}")),
    });
    items
}

/// The checklist as text; true when every item passed.
pub fn render(address: &str, items: &[Item]) -> (String, bool) {
    let mut out = format!("Prerequisites for {address}:\n");
    let mut ok = true;
    for it in items {
        let _ = match it {
            Item::Ok(s) => writeln!(out, "  [ ok ] {s}"),
            Item::Fail(s) => {
                ok = false;
                writeln!(out, "  [FAIL] {s}")
            }
            Item::Skipped(s) => {
                writeln!(out, "  [ -- ] {s} (not checked: fix the item above first)")
            }
        };
    }
    (out, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_device_fails_that_item_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let opts = VfioOptions {
            sysfs_root: dir.path().join("sys"),
            dev_root: dir.path().join("dev"),
            dma_bytes: 8 << 20,
        };
        let budget = MemlockBudget {
            limit: Some(1 << 20),
            locked: 0,
            cap_ipc_lock: false,
        };
        let huge = HugePagePool {
            total: 0,
            free: 0,
            page_size: 2 << 20,
        };
        let items = check("0000:3b:00.0", &opts, &budget, &huge);
        assert!(matches!(&items[0], Item::Ok(s) if s == "PCI address parses"));
        assert!(
            matches!(&items[1], Item::Fail(s) if s.contains("0000:3b:00.0") && s.contains("lspci"))
        );
        assert!(items[2..6].iter().all(|i| matches!(i, Item::Skipped(_))));
        assert!(
            matches!(&items[6], Item::Fail(s) if s.contains("need 4 × 2 MiB") && s.contains("nr_hugepages"))
        );
        assert!(matches!(&items[7], Item::Fail(s) if s.starts_with("memlock")));
        let (text, ok) = render("0000:3b:00.0", &items);
        assert!(!ok);
        assert!(text.contains("[FAIL] device present in sysfs"), "{text}");
        assert!(text.contains("[ -- ] bound to vfio-pci"), "{text}");
    }

    #[test]
    fn bad_address_is_the_first_item() {
        let items = check(
            "zz",
            &VfioOptions::default(),
            &MemlockBudget {
                limit: None,
                locked: 0,
                cap_ipc_lock: false,
            },
            &HugePagePool::default(),
        );
        assert!(matches!(&items[0], Item::Fail(s) if s.contains("DDDD:BB:DD.F")));
        assert!(matches!(&items[7], Item::Ok(s) if s.contains("unlimited")));
        assert!(
            matches!(&items[6], Item::Ok(_)),
            "0 bytes need no hugepages"
        );
    }
}
