//! Hugepage policy and the kernel's hugepage pool as /proc/meminfo reports it.

use std::path::Path;

/// Size of the hugepages ufc uses (MFD_HUGE_2MB).
pub const HUGE_PAGE_SIZE: usize = 2 << 20;
/// Size of a base page.
pub const BASE_PAGE_SIZE: usize = 4096;

/// Whether a DMA region is backed by 2 MiB hugepages.
///
/// Hugepages matter for the IOMMU (one IOTLB entry covers 2 MiB) and for the CPU TLB;
/// 4 KiB pages work everywhere but cost IOTLB misses under load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HugePages {
    /// Fail with a message naming the sysctl when the hugepage pool is too small.
    Require,
    /// Use hugepages when the pool has enough free pages, else 4 KiB pages (logged).
    #[default]
    Prefer,
    /// Always 4 KiB pages.
    Never,
}

/// The hugepage pool as read from /proc/meminfo.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HugePagePool {
    /// HugePages_Total.
    pub total: u64,
    /// HugePages_Free.
    pub free: u64,
    /// Hugepagesize in bytes (the default hugepage size; memfd asks for 2 MiB explicitly).
    pub page_size: u64,
}

impl HugePagePool {
    /// Reads `path` (normally /proc/meminfo); a missing file or field reads as an empty pool.
    pub fn read(path: &Path) -> Self {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text),
            Err(e) => {
                log::debug!("cannot read {}: {e}; assuming no hugepages", path.display());
                HugePagePool::default()
            }
        }
    }

    /// Reads /proc/meminfo.
    pub fn current() -> Self {
        Self::read(Path::new("/proc/meminfo"))
    }

    /// Parses meminfo text.
    pub fn parse(text: &str) -> Self {
        let mut pool = HugePagePool::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let (Some(key), Some(value)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            match key {
                "HugePages_Total:" => pool.total = value,
                "HugePages_Free:" => pool.free = value,
                "Hugepagesize:" => pool.page_size = value.saturating_mul(1024),
                _ => {}
            }
        }
        pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meminfo() {
        let text = "MemTotal: 100 kB\nHugePages_Total:      64\nHugePages_Free:       12\n\
                    HugePages_Rsvd: 0\nHugepagesize:       2048 kB\n";
        let p = HugePagePool::parse(text);
        assert_eq!(
            p,
            HugePagePool {
                total: 64,
                free: 12,
                page_size: 2 << 20
            }
        );
        assert_eq!(HugePagePool::parse("garbage\n:\n"), HugePagePool::default());
        assert_eq!(
            HugePagePool::read(Path::new("/nonexistent/meminfo")),
            HugePagePool::default()
        );
    }
}
