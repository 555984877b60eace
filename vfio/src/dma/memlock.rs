//! RLIMIT_MEMLOCK: checked before we lock DMA memory, because the failure the kernel
//! gives later (mlock ENOMEM, or a VFIO map ENOMEM explained only in dmesg) names
//! neither the limit nor the fix.

use crate::error::MemoryError;

/// CAP_IPC_LOCK lifts the limit entirely (capabilities(7)).
const CAP_IPC_LOCK: u32 = 14;

/// What limits how much memory this process may lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemlockBudget {
    /// Soft RLIMIT_MEMLOCK in bytes; `None` means unlimited.
    pub limit: Option<u64>,
    /// Bytes already locked (VmLck in /proc/self/status).
    pub locked: u64,
    /// The process has CAP_IPC_LOCK, so the limit does not apply.
    pub cap_ipc_lock: bool,
}

impl MemlockBudget {
    /// The budget of the calling process.
    pub fn current() -> Self {
        let limit =
            match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_MEMLOCK) {
                Ok((soft, _hard)) if soft == libc::RLIM_INFINITY => None,
                Ok((soft, _hard)) => Some(soft),
                Err(e) => {
                    log::warn!("getrlimit(RLIMIT_MEMLOCK) failed: {e}; not checking the limit");
                    None
                }
            };
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let mut locked = 0;
        let mut cap_ipc_lock = false;
        for line in status.lines() {
            if let Some(v) = line.strip_prefix("VmLck:") {
                let kib = v.trim().trim_end_matches("kB").trim();
                locked = kib.parse::<u64>().unwrap_or(0).saturating_mul(1024);
            } else if let Some(v) = line.strip_prefix("CapEff:") {
                let caps = u64::from_str_radix(v.trim(), 16).unwrap_or(0);
                cap_ipc_lock = caps & (1 << CAP_IPC_LOCK) != 0;
            }
        }
        MemlockBudget {
            limit,
            locked,
            cap_ipc_lock,
        }
    }

    /// Checks that `len` more bytes can be locked.
    pub fn check(&self, len: usize) -> Result<(), MemoryError> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        if self.cap_ipc_lock {
            return Ok(());
        }
        let needed = self.locked.saturating_add(len as u64);
        if needed <= limit {
            return Ok(());
        }
        Err(MemoryError::MemlockTooLow {
            current: limit,
            needed,
            needed_kib: needed.div_ceil(1024),
            already: self.locked,
            len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_low_limit_names_both_values_and_the_fixes() {
        let b = MemlockBudget {
            limit: Some(64 << 10),
            locked: 4096,
            cap_ipc_lock: false,
        };
        let msg = b.check(1 << 20).unwrap_err().to_string();
        assert!(msg.contains("RLIMIT_MEMLOCK is 65536 bytes"), "{msg}");
        assert!(msg.contains("needs 1052672 bytes"), "{msg}");
        assert!(msg.contains("ulimit -l 1028"), "{msg}");
        assert!(msg.contains("/etc/security/limits.conf"), "{msg}");
        assert!(msg.contains("LimitMEMLOCK=1052672"), "{msg}");
    }

    #[test]
    fn unlimited_capable_or_sufficient_passes() {
        let mut b = MemlockBudget {
            limit: Some(1 << 20),
            locked: 0,
            cap_ipc_lock: false,
        };
        assert!(b.check(1 << 20).is_ok());
        assert!(b.check((1 << 20) + 1).is_err());
        b.cap_ipc_lock = true;
        assert!(b.check(1 << 30).is_ok());
        b.limit = None;
        b.cap_ipc_lock = false;
        assert!(b.check(1 << 30).is_ok());
    }

    #[test]
    fn reads_this_process() {
        let b = MemlockBudget::current();
        let (soft, _) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_MEMLOCK).unwrap();
        assert_eq!(b.limit, (soft != libc::RLIM_INFINITY).then_some(soft));
    }
}
