//! NVMe subsystems: an NQN, the hosts allowed in, the namespaces (fixed at creation,
//! so the I/O path reads them without a lock) and the limits its controllers report.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use crate::target::namespace::Namespace;

/// Longest NQN in bytes, NUL excluded (NVMe base spec: 223).
pub const NQN_MAX: usize = 223;
/// Highest controller ID a dynamic-model subsystem hands out (0xFFF0.. are reserved).
const CNTLID_MAX: u16 = 0xffef;

/// Why a subsystem could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubsystemError {
    /// Empty or longer than 223 bytes.
    #[error("subsystem NQN '{0}' must be 1..=223 bytes (e.g. nqn.2014-08.org.example:sub1)")]
    BadNqn(String),
    /// A limit is zero or out of range.
    #[error("subsystem '{nqn}': {what}")]
    BadLimit {
        /// The subsystem.
        nqn: String,
        /// Which limit and the allowed range.
        what: &'static str,
    },
}

/// Settings of a subsystem; start from [`SubsystemConfig::new`] and adjust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubsystemConfig {
    /// Subsystem NQN.
    pub nqn: String,
    /// Serial number (Identify SN, 20 ASCII bytes).
    pub serial: String,
    /// Model number (Identify MN, 40 ASCII bytes).
    pub model: String,
    /// Any host NQN may connect (nvmet `attr_allow_any_host`).
    pub allow_any_host: bool,
    /// Host NQNs allowed when `allow_any_host` is false.
    pub allowed_hosts: Vec<String>,
    /// I/O queues per controller (qid 1..=max_io_queues).
    pub max_io_queues: u16,
    /// CAP.MQES, 0's based; also bounds every queue's sqsize.
    pub mqes: u16,
    /// Identify MDTS: max transfer 2^mdts × 4 KiB; 0 means no limit.
    pub mdts: u8,
    /// Identify KAS, keep-alive granularity in 100 ms units.
    pub kas: u16,
    /// Identify AERL, 0's based number of outstanding Async Event Requests.
    pub aerl: u8,
}

impl SubsystemConfig {
    /// Defaults close to Linux nvmet: any host, 128 I/O queues of up to 1024
    /// entries, 1 MiB max transfer, 1 s keep-alive granularity, 4 AERs.
    pub fn new(nqn: impl Into<String>) -> Self {
        SubsystemConfig {
            nqn: nqn.into(),
            serial: "ufc-emu-0001".into(),
            model: "ufc-emu NVMe/FC target".into(),
            allow_any_host: true,
            allowed_hosts: Vec::new(),
            max_io_queues: 128,
            mqes: 1023,
            mdts: 8,
            kas: 10,
            aerl: 3,
        }
    }
}

/// One NVMe subsystem.
#[derive(Debug)]
pub struct Subsystem {
    config: SubsystemConfig,
    namespaces: Vec<Namespace>,
    next_cntlid: AtomicU16,
}

impl Subsystem {
    /// A subsystem whose namespaces get NSIDs 1, 2, … in the given order.
    pub fn new(
        config: SubsystemConfig,
        namespaces: Vec<Namespace>,
    ) -> Result<Arc<Self>, SubsystemError> {
        if config.nqn.is_empty() || config.nqn.len() > NQN_MAX || config.nqn.contains('\0') {
            return Err(SubsystemError::BadNqn(config.nqn));
        }
        let bad = |what| SubsystemError::BadLimit {
            nqn: config.nqn.clone(),
            what,
        };
        if config.max_io_queues == 0 || config.max_io_queues > 0xfffe {
            return Err(bad("max_io_queues must be 1..=65534"));
        }
        if config.mqes == 0 {
            return Err(bad("mqes (0's based) must be at least 1"));
        }
        if config.aerl > 15 {
            return Err(bad("aerl must be 0..=15"));
        }
        if namespaces.len() > 1024 {
            return Err(bad("at most 1024 namespaces"));
        }
        Ok(Arc::new(Subsystem {
            config,
            namespaces,
            next_cntlid: AtomicU16::new(1),
        }))
    }

    /// The NQN.
    pub fn nqn(&self) -> &str {
        &self.config.nqn
    }

    /// The settings.
    pub fn config(&self) -> &SubsystemConfig {
        &self.config
    }

    /// Number of namespaces (Identify NN).
    pub fn namespace_count(&self) -> u32 {
        // Bounded to 1024 at creation.
        self.namespaces.len() as u32
    }

    /// The namespace with this NSID, if active.
    #[inline]
    pub fn namespace(&self, nsid: u32) -> Option<&Namespace> {
        let idx = usize::try_from(nsid).ok()?.checked_sub(1)?;
        self.namespaces.get(idx)
    }

    /// True when `hostnqn` may connect.
    pub fn host_allowed(&self, hostnqn: &str) -> bool {
        self.config.allow_any_host || self.config.allowed_hosts.iter().any(|h| h == hostnqn)
    }

    /// A fresh controller ID (1..=0xFFEF, wrapping).
    pub fn alloc_cntlid(&self) -> u16 {
        let mut cur = self.next_cntlid.load(Ordering::Relaxed);
        loop {
            let next = if cur >= CNTLID_MAX { 1 } else { cur + 1 };
            match self.next_cntlid.compare_exchange_weak(
                cur,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return cur,
                Err(seen) => cur = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsids_and_hosts() {
        let mut cfg = SubsystemConfig::new("nqn.2014-08.org.example:s1");
        cfg.allow_any_host = false;
        cfg.allowed_hosts = vec!["nqn.host:a".into()];
        let s = Subsystem::new(
            cfg,
            vec![
                Namespace::null(512, 8).unwrap(),
                Namespace::ram(4096, 8).unwrap(),
            ],
        )
        .unwrap();
        assert_eq!(s.namespace_count(), 2);
        assert!(s.namespace(0).is_none());
        assert_eq!(s.namespace(1).unwrap().block_size(), 512);
        assert_eq!(s.namespace(2).unwrap().block_size(), 4096);
        assert!(s.namespace(3).is_none());
        assert!(s.namespace(u32::MAX).is_none());
        assert!(s.host_allowed("nqn.host:a"));
        assert!(!s.host_allowed("nqn.host:b"));
        assert_eq!(s.alloc_cntlid(), 1);
        assert_eq!(s.alloc_cntlid(), 2);
    }

    #[test]
    fn refuses_bad_config() {
        assert!(matches!(
            Subsystem::new(SubsystemConfig::new(""), vec![]),
            Err(SubsystemError::BadNqn(_))
        ));
        assert!(Subsystem::new(SubsystemConfig::new("x".repeat(224)), vec![]).is_err());
        let mut cfg = SubsystemConfig::new("nqn.ok");
        cfg.max_io_queues = 0;
        let e = Subsystem::new(cfg, vec![]).unwrap_err().to_string();
        assert!(e.contains("nqn.ok") && e.contains("max_io_queues"), "{e}");
    }
}
