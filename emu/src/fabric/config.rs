//! The fabric described as data: switch parameters, host ports, target ports with
//! their subsystems and namespaces. Parsed from TOML ([`FabricConfig::from_toml_str`],
//! [`FabricConfig::from_file`]) or built in ([`FabricConfig::default`]: one host
//! port, one target port, one subsystem with one null namespace).
//!
//! ```toml
//! [fabric]
//! domain = 1                  # N_Port IDs are domain.area.port = 0xDD0100 + F_Port index
//! link_speed_gbps = 32
//! r_a_tov_ms = 10000
//! e_d_tov_ms = 2000
//! bb_credit = 16
//! wwnn = "0x100000051e000001" # the switch's names, returned in the FLOGI ACC
//! wwpn = "0x200000051e000001"
//! frame_delay_us = 0          # frames to host ports become visible this much later
//!
//! [[host_port]]
//! wwnn = "0x20000090fa000001"
//! wwpn = "0x10000090fa000001"
//!
//! [[target_port]]
//! wwnn = "0x20000090fb000001"
//! wwpn = "0x10000090fb000001"
//! port_id = "0x010200"        # optional hint
//! fc4_types = [0x28]          # registered with the name server (default NVMe)
//! discovery = false           # PRLI ACC and RFF_ID also claim a discovery service
//! reject_plogi = false        # answer PLOGI with LS_RJT
//! reject_prli = false         # answer NVMe PRLI with LS_RJT
//!
//! [[target_port.subsystem]]
//! nqn = "nqn.2014-08.org.example:sub1"
//! allowed_hosts = []          # empty: any host
//!
//! [[target_port.subsystem.namespace]]
//! backend = "null"            # null | ram | file
//! block_size = 4096
//! blocks = 262144
//! # path = "/var/tmp/ns1.img" # file backend only
//! ```

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use ufc_transport::wwn::{FcAddr, Wwn};

use crate::target::{Namespace, Subsystem, SubsystemConfig};

/// FC-4 TYPE of FC-NVMe (FC-NVMe: 0x28).
pub const FC4_TYPE_NVME: u8 = 0x28;
/// FC-4 TYPE of FCP (SCSI).
pub const FC4_TYPE_FCP: u8 = 0x08;

/// Why a configuration was refused. The message names the key and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, or a key of the wrong type or unknown.
    #[error("fabric config: {0}")]
    Toml(String),
    /// A value is out of range or inconsistent with another.
    #[error("fabric config: key `{key}`: {reason}")]
    Value {
        /// Dotted path of the key, e.g. `target_port[1].wwpn`.
        key: String,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// The file could not be read.
    #[error("fabric config file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Where a namespace keeps its blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamespaceBackend {
    /// No storage (benchmarks).
    Null,
    /// Sparse RAM.
    Ram,
    /// A file, created and sized when the fabric is built.
    File(PathBuf),
}

/// One namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceDef {
    /// Backend.
    pub backend: NamespaceBackend,
    /// 512 or 4096.
    pub block_size: u32,
    /// Capacity in blocks.
    pub blocks: u64,
}

/// One subsystem of a target port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubsystemDef {
    /// Subsystem NQN.
    pub nqn: String,
    /// Hosts allowed in; empty = any host.
    pub allowed_hosts: Vec<String>,
    /// Namespaces, NSID 1.. in order.
    pub namespaces: Vec<NamespaceDef>,
}

/// One host (initiator) port that may attach to the fabric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostPortConfig {
    /// WWNN/WWPN the port logs in with.
    pub addr: FcAddr,
}

/// One target port, served by [`crate::target::TargetPort`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetPortConfig {
    /// WWNN/WWPN.
    pub addr: FcAddr,
    /// N_Port ID to use instead of the F_Port's default.
    pub port_id: Option<u32>,
    /// FC-4 types registered with the name server on the port's behalf.
    pub fc4_types: Vec<u8>,
    /// Claims an NVMe discovery service (PRLI ACC bit 3, RFF_ID feature 0x04).
    pub discovery: bool,
    /// Answers PLOGI with LS_RJT.
    pub reject_plogi: bool,
    /// Answers NVMe PRLI with LS_RJT.
    pub reject_prli: bool,
    /// Subsystems exposed.
    pub subsystems: Vec<SubsystemDef>,
}

/// The whole fabric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FabricConfig {
    /// Domain id, the top byte of every N_Port ID handed out (1..=239).
    pub domain: u8,
    /// Link speed reported to attached ports, in Gb/s.
    pub link_speed_gbps: u32,
    /// R_A_TOV returned in the FLOGI ACC.
    pub r_a_tov: Duration,
    /// E_D_TOV returned in the FLOGI ACC.
    pub e_d_tov: Duration,
    /// Buffer-to-buffer credit returned in the FLOGI ACC.
    pub bb_credit: u16,
    /// The switch's fabric name (WWNN) and F_Port name (WWPN).
    pub fabric_name: FcAddr,
    /// Frames to host ports become visible this long after they were sent.
    pub frame_delay: Duration,
    /// Host ports, F_Port 0.. in order.
    pub host_ports: Vec<HostPortConfig>,
    /// Target ports, F_Ports after the host ports.
    pub target_ports: Vec<TargetPortConfig>,
}

impl Default for FabricConfig {
    /// One host port, one NVMe target port with one subsystem holding one 1 GiB null
    /// namespace of 4 KiB blocks.
    fn default() -> Self {
        FabricConfig {
            domain: 1,
            link_speed_gbps: 32,
            r_a_tov: Duration::from_secs(10),
            e_d_tov: Duration::from_secs(2),
            bb_credit: 16,
            fabric_name: FcAddr {
                wwnn: Wwn(0x1000_0005_1e00_0001),
                wwpn: Wwn(0x2000_0005_1e00_0001),
            },
            frame_delay: Duration::ZERO,
            host_ports: vec![HostPortConfig {
                addr: FcAddr {
                    wwnn: Wwn(0x2000_0090_fa00_0001),
                    wwpn: Wwn(0x1000_0090_fa00_0001),
                },
            }],
            target_ports: vec![TargetPortConfig {
                addr: FcAddr {
                    wwnn: Wwn(0x2000_0090_fb00_0001),
                    wwpn: Wwn(0x1000_0090_fb00_0001),
                },
                port_id: None,
                fc4_types: vec![FC4_TYPE_NVME],
                discovery: false,
                reject_plogi: false,
                reject_prli: false,
                subsystems: vec![SubsystemDef {
                    nqn: "nqn.2014-08.org.example:ufc-emu-sub1".into(),
                    allowed_hosts: Vec::new(),
                    namespaces: vec![NamespaceDef {
                        backend: NamespaceBackend::Null,
                        block_size: 4096,
                        blocks: 1 << 18,
                    }],
                }],
            }],
        }
    }
}

// Raw TOML shapes: strings and plain numbers, checked into the typed config with
// the key path so every error names the key.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    fabric: RawFabric,
    #[serde(default)]
    host_port: Vec<RawHost>,
    #[serde(default)]
    target_port: Vec<RawTarget>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFabric {
    domain: Option<u8>,
    link_speed_gbps: Option<u32>,
    r_a_tov_ms: Option<u64>,
    e_d_tov_ms: Option<u64>,
    bb_credit: Option<u16>,
    wwnn: Option<String>,
    wwpn: Option<String>,
    frame_delay_us: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    wwnn: String,
    wwpn: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    wwnn: String,
    wwpn: String,
    port_id: Option<RawInt>,
    fc4_types: Option<Vec<u8>>,
    #[serde(default)]
    discovery: bool,
    #[serde(default)]
    reject_plogi: bool,
    #[serde(default)]
    reject_prli: bool,
    #[serde(default)]
    subsystem: Vec<RawSubsystem>,
}

/// An integer written as a number or as a `0x…` string.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawInt {
    Num(u64),
    Str(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubsystem {
    nqn: String,
    #[serde(default)]
    allowed_hosts: Vec<String>,
    #[serde(default)]
    namespace: Vec<RawNamespace>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNamespace {
    backend: String,
    #[serde(default = "default_block_size")]
    block_size: u32,
    blocks: u64,
    path: Option<PathBuf>,
}

fn default_block_size() -> u32 {
    4096
}

fn bad(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Value {
        key: key.into(),
        reason: reason.into(),
    }
}

fn wwn(key: String, s: &str) -> Result<Wwn, ConfigError> {
    let w = Wwn::parse(s).map_err(|e| bad(key.clone(), e.to_string()))?;
    if w.0 == 0 {
        return Err(bad(key, "a WWN must be non-zero"));
    }
    Ok(w)
}

fn addr(key: &str, nn: &str, pn: &str) -> Result<FcAddr, ConfigError> {
    Ok(FcAddr {
        wwnn: wwn(format!("{key}.wwnn"), nn)?,
        wwpn: wwn(format!("{key}.wwpn"), pn)?,
    })
}

fn port_id(key: String, raw: &RawInt) -> Result<u32, ConfigError> {
    let v = match raw {
        RawInt::Num(n) => *n,
        RawInt::Str(s) => {
            let digits = s
                .strip_prefix("0x")
                .or_else(|| s.strip_prefix("0X"))
                .ok_or_else(|| {
                    bad(
                        key.clone(),
                        format!("'{s}' is not a number; write e.g. \"0x010200\" or 66048"),
                    )
                })?;
            u64::from_str_radix(digits, 16).map_err(|_| {
                bad(
                    key.clone(),
                    format!("'{s}' is not a hex number; write e.g. \"0x010200\""),
                )
            })?
        }
    };
    // 0xFFFFF0.. are the well-known addresses, 0 is "no address yet".
    if v == 0 || v >= 0x00ff_fff0 {
        return Err(bad(
            key,
            format!("{v:#x} is not an N_Port ID: use 0x000001..=0xFFFFEF"),
        ));
    }
    // Below 0xFFFFF0, so it fits 24 bits.
    Ok(v as u32)
}

impl FabricConfig {
    /// Parses a TOML description (schema in the module docs). Unset keys of
    /// `[fabric]` take the [`FabricConfig::default`] values; no `[[host_port]]` or
    /// `[[target_port]]` tables means none.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        let d = FabricConfig::default();
        let f = raw.fabric;
        let fabric_name = FcAddr {
            wwnn: match &f.wwnn {
                Some(s) => wwn("fabric.wwnn".into(), s)?,
                None => d.fabric_name.wwnn,
            },
            wwpn: match &f.wwpn {
                Some(s) => wwn("fabric.wwpn".into(), s)?,
                None => d.fabric_name.wwpn,
            },
        };
        let host_ports = raw
            .host_port
            .iter()
            .enumerate()
            .map(|(i, h)| {
                Ok(HostPortConfig {
                    addr: addr(&format!("host_port[{i}]"), &h.wwnn, &h.wwpn)?,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let mut target_ports = Vec::with_capacity(raw.target_port.len());
        for (i, t) in raw.target_port.iter().enumerate() {
            let key = format!("target_port[{i}]");
            let mut subsystems = Vec::with_capacity(t.subsystem.len());
            for (j, s) in t.subsystem.iter().enumerate() {
                let skey = format!("{key}.subsystem[{j}]");
                let mut namespaces = Vec::with_capacity(s.namespace.len());
                for (k, n) in s.namespace.iter().enumerate() {
                    let nkey = format!("{skey}.namespace[{k}]");
                    let backend = match (n.backend.as_str(), &n.path) {
                        ("null", None) => NamespaceBackend::Null,
                        ("ram", None) => NamespaceBackend::Ram,
                        ("file", Some(p)) => NamespaceBackend::File(p.clone()),
                        ("file", None) => {
                            return Err(bad(
                                format!("{nkey}.path"),
                                "backend \"file\" needs a path",
                            ))
                        }
                        ("null" | "ram", Some(_)) => {
                            return Err(bad(
                                format!("{nkey}.path"),
                                "only backend \"file\" takes a path",
                            ))
                        }
                        (other, _) => {
                            return Err(bad(
                                format!("{nkey}.backend"),
                                format!(
                                    "'{other}' is not a backend: use \"null\", \"ram\" or \"file\""
                                ),
                            ))
                        }
                    };
                    namespaces.push(NamespaceDef {
                        backend,
                        block_size: n.block_size,
                        blocks: n.blocks,
                    });
                }
                subsystems.push(SubsystemDef {
                    nqn: s.nqn.clone(),
                    allowed_hosts: s.allowed_hosts.clone(),
                    namespaces,
                });
            }
            target_ports.push(TargetPortConfig {
                addr: addr(&key, &t.wwnn, &t.wwpn)?,
                port_id: t
                    .port_id
                    .as_ref()
                    .map(|p| port_id(format!("{key}.port_id"), p))
                    .transpose()?,
                fc4_types: t.fc4_types.clone().unwrap_or_else(|| vec![FC4_TYPE_NVME]),
                discovery: t.discovery,
                reject_plogi: t.reject_plogi,
                reject_prli: t.reject_prli,
                subsystems,
            });
        }
        let cfg = FabricConfig {
            domain: f.domain.unwrap_or(d.domain),
            link_speed_gbps: f.link_speed_gbps.unwrap_or(d.link_speed_gbps),
            r_a_tov: f.r_a_tov_ms.map_or(d.r_a_tov, Duration::from_millis),
            e_d_tov: f.e_d_tov_ms.map_or(d.e_d_tov, Duration::from_millis),
            bb_credit: f.bb_credit.unwrap_or(d.bb_credit),
            fabric_name,
            frame_delay: f
                .frame_delay_us
                .map_or(d.frame_delay, Duration::from_micros),
            host_ports,
            target_ports,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// Checks ranges and uniqueness (also run by [`crate::fabric::Fabric::new`]
    /// for configurations built in code).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=239).contains(&self.domain) {
            return Err(bad(
                "fabric.domain",
                format!("{} is not a domain id: use 1..=239", self.domain),
            ));
        }
        if self.link_speed_gbps == 0 {
            return Err(bad("fabric.link_speed_gbps", "must be non-zero, e.g. 32"));
        }
        let ms = |d: Duration| d.as_millis();
        if ms(self.r_a_tov) == 0 || ms(self.r_a_tov) > u128::from(u32::MAX) {
            return Err(bad("fabric.r_a_tov_ms", "must be 1..=4294967295 ms"));
        }
        if ms(self.e_d_tov) == 0 || ms(self.e_d_tov) > u128::from(u32::MAX) {
            return Err(bad("fabric.e_d_tov_ms", "must be 1..=4294967295 ms"));
        }
        if self.bb_credit == 0 {
            return Err(bad("fabric.bb_credit", "must be at least 1"));
        }
        // Default N_Port IDs are 0xDD0100 + index: at most 0xFF00 F_Ports fit.
        if self.host_ports.len() + self.target_ports.len() > 0xff00 {
            return Err(bad("host_port", "too many ports: at most 65280 in all"));
        }
        let mut wwpns: Vec<(Wwn, String)> = Vec::new();
        let names = self
            .host_ports
            .iter()
            .enumerate()
            .map(|(i, h)| (h.addr.wwpn, format!("host_port[{i}].wwpn")))
            .chain(
                self.target_ports
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (t.addr.wwpn, format!("target_port[{i}].wwpn"))),
            );
        for (w, key) in names {
            if let Some((_, first)) = wwpns.iter().find(|(x, _)| *x == w) {
                return Err(bad(
                    key,
                    format!("WWPN {w} is already used by {first}; WWPNs must be unique"),
                ));
            }
            wwpns.push((w, key));
        }
        let mut ids: Vec<(u32, String)> = Vec::new();
        for (i, t) in self.target_ports.iter().enumerate() {
            let key = format!("target_port[{i}]");
            if let Some(id) = t.port_id {
                if id == 0 || id >= 0x00ff_fff0 {
                    return Err(bad(
                        format!("{key}.port_id"),
                        format!("{id:#x} is not an N_Port ID: use 0x000001..=0xFFFFEF"),
                    ));
                }
                if let Some((_, first)) = ids.iter().find(|(x, _)| *x == id) {
                    return Err(bad(
                        format!("{key}.port_id"),
                        format!("{id:#08x} is already used by {first}"),
                    ));
                }
                ids.push((id, format!("{key}.port_id")));
            }
            if t.fc4_types.is_empty() {
                return Err(bad(
                    format!("{key}.fc4_types"),
                    "list at least one FC-4 type, e.g. [0x28]",
                ));
            }
            for (j, s) in t.subsystems.iter().enumerate() {
                for (k, n) in s.namespaces.iter().enumerate() {
                    let nkey = format!("{key}.subsystem[{j}].namespace[{k}]");
                    if n.block_size != 512 && n.block_size != 4096 {
                        return Err(bad(
                            format!("{nkey}.block_size"),
                            format!("{} is not supported: use 512 or 4096", n.block_size),
                        ));
                    }
                    if n.blocks == 0 {
                        return Err(bad(format!("{nkey}.blocks"), "must be at least 1"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The N_Port ID F_Port `index` hands out when nothing else is configured
    /// (saturating at 0xFFFFFF for absurd indices, which callers refuse).
    pub fn default_port_id(&self, index: usize) -> u32 {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        ((u32::from(self.domain) << 16) + 0x0100)
            .saturating_add(index)
            .min(0x00ff_ffff)
    }
}

impl TargetPortConfig {
    /// Builds the subsystems and their namespaces (files are created and sized).
    /// `key` prefixes error messages (e.g. `target_port[0]`).
    pub fn build_subsystems(&self, key: &str) -> Result<Vec<Arc<Subsystem>>, ConfigError> {
        let mut out = Vec::with_capacity(self.subsystems.len());
        for (j, s) in self.subsystems.iter().enumerate() {
            let skey = format!("{key}.subsystem[{j}]");
            let mut namespaces = Vec::with_capacity(s.namespaces.len());
            for (k, n) in s.namespaces.iter().enumerate() {
                let nkey = format!("{skey}.namespace[{k}]");
                let ns = match &n.backend {
                    NamespaceBackend::Null => Namespace::null(n.block_size, n.blocks),
                    NamespaceBackend::Ram => Namespace::ram(n.block_size, n.blocks),
                    NamespaceBackend::File(p) => {
                        let file = OpenOptions::new()
                            .read(true)
                            .write(true)
                            .create(true)
                            .truncate(false)
                            .open(p)
                            .map_err(|e| {
                                bad(
                                    format!("{nkey}.path"),
                                    format!("cannot open {}: {e}", p.display()),
                                )
                            })?;
                        Namespace::file(file, n.block_size, n.blocks)
                    }
                }
                .map_err(|e| bad(nkey.clone(), e.to_string()))?;
                namespaces.push(ns);
            }
            let mut cfg = SubsystemConfig::new(s.nqn.clone());
            if !s.allowed_hosts.is_empty() {
                cfg.allow_any_host = false;
                cfg.allowed_hosts = s.allowed_hosts.clone();
            }
            out.push(
                Subsystem::new(cfg, namespaces)
                    .map_err(|e| bad(format!("{skey}.nqn"), e.to_string()))?,
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_validates_and_builds() {
        let c = FabricConfig::default();
        c.validate().unwrap();
        assert_eq!(c.host_ports.len(), 1);
        assert_eq!(c.target_ports.len(), 1);
        let subs = c.target_ports[0]
            .build_subsystems("target_port[0]")
            .unwrap();
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0].namespace_count(), 1);
        assert_eq!(c.default_port_id(0), 0x01_0100);
        assert_eq!(c.default_port_id(3), 0x01_0103);
    }

    #[test]
    fn empty_toml_takes_fabric_defaults() {
        let c = FabricConfig::from_toml_str("").unwrap();
        assert_eq!(c.domain, 1);
        assert_eq!(c.r_a_tov, Duration::from_secs(10));
        assert!(c.host_ports.is_empty() && c.target_ports.is_empty());
    }
}
