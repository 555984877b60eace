//! Connect options with the names and defaults of Linux fabrics / nvme-cli
//! (nvme-fc.md §3.3, style-ecosystem.md table (i)).
//!
//! The string form is nvme-cli's comma-separated `key=value` list, e.g.
//! `traddr=nn-0x…:pn-0x…,host_traddr=nn-0x…:pn-0x…,nqn=nqn.…,ctrl_loss_tmo=-1`.

use std::time::Duration;

use crate::wwn::FcAddr;

/// `NVMF_DEF_CTRL_LOSS_TMO`.
pub const DEFAULT_CTRL_LOSS_TMO: Duration = Duration::from_secs(600);
/// `NVME_FC_DEFAULT_RECONNECT_TMO`: FC's reconnect_delay when ctrl_loss_tmo is
/// enforced and the user left the delay at its default (nvme-fc.md §3.3; Linux
/// `nvme_fc_init_ctrl` since v5.10).
pub const DEFAULT_RECONNECT_DELAY: Duration = Duration::from_secs(2);
/// `NVMF_DEF_RECONNECT_DELAY`: the generic fabrics default, kept by FC when
/// ctrl_loss_tmo is not enforced (`ctrl_loss_tmo=-1`).
pub const FABRICS_DEFAULT_RECONNECT_DELAY: Duration = Duration::from_secs(10);
/// `NVME_DEFAULT_KATO`.
pub const DEFAULT_KATO: Duration = Duration::from_secs(5);
/// Default I/O queue depth.
pub const DEFAULT_QUEUE_SIZE: u16 = 128;
/// Smallest accepted `queue_size` (`NVMF_MIN_QUEUE_SIZE`).
pub const MIN_QUEUE_SIZE: u16 = 16;
/// Largest accepted `queue_size` (`NVMF_MAX_QUEUE_SIZE`).
pub const MAX_QUEUE_SIZE: u16 = 1024;
/// Linux `nvme_io_timeout` module default.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a connect option was refused; each message names the option and the
/// form it accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    /// The key is not a known option.
    #[error("unknown connect option '{0}'; known: traddr, host_traddr, nqn/subnqn, hostnqn, hostid, nr_io_queues, queue_size, keep_alive_tmo/kato, reconnect_delay, ctrl_loss_tmo, fast_io_fail_tmo, io_timeout")]
    Unknown(String),
    /// The value does not parse or is out of range.
    #[error("bad value '{value}' for connect option {option}: expected {expected}")]
    BadValue {
        /// Option name.
        option: &'static str,
        /// The offending value.
        value: String,
        /// The accepted form.
        expected: &'static str,
    },
    /// A required option is absent.
    #[error("missing connect option {option}: expected {expected}")]
    Missing {
        /// Option name.
        option: &'static str,
        /// The accepted form.
        expected: &'static str,
    },
    /// An entry is not `key=value`.
    #[error("bad connect option entry '{0}': expected key=value, entries separated by commas")]
    Syntax(String),
}

/// Options of one controller connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The remote (target) port, `traddr`.
    pub traddr: FcAddr,
    /// The local (initiator) port, `host_traddr`.
    pub host_traddr: FcAddr,
    /// Subsystem NQN, `nqn` / `subnqn`.
    pub subnqn: String,
    /// Host NQN; default `nqn.2014-08.org.nvmexpress:uuid:<hostid>`.
    pub hostnqn: String,
    /// Host identifier (UUID); default random.
    pub hostid: [u8; 16],
    /// Upper bound on I/O queues; default: online CPUs.
    pub nr_io_queues: u16,
    /// Requested I/O queue depth (16..=1024, default 128).
    pub queue_size: u16,
    /// Keep-alive timeout; zero disables keep-alive.
    pub kato: Duration,
    /// Delay between reconnect attempts (must be > 0). Default as in Linux FC:
    /// 2 s while ctrl_loss_tmo is enforced, 10 s with `ctrl_loss_tmo=-1`
    /// (`parse` applies this; `new` starts with ctrl_loss_tmo 600 s, hence 2 s).
    pub reconnect_delay: Duration,
    /// How long to keep reconnecting; `None` = forever (`ctrl_loss_tmo=-1`).
    pub ctrl_loss_tmo: Option<Duration>,
    /// While reconnecting, fail queued I/O after this long; `None` = off.
    pub fast_io_fail_tmo: Option<Duration>,
    /// Per-command timeout on I/O queues (ufc extension; Linux module default).
    pub io_timeout: Duration,
}

const FC_ADDR_FORM: &str = "nn-0x<16 hex>:pn-0x<16 hex>";
const SECONDS_FORM: &str = "whole seconds >= 0";
const SECONDS_OR_OFF_FORM: &str = "whole seconds >= 0, or -1 for off/forever";

impl ConnectOptions {
    /// Options with every default filled in.
    pub fn new(traddr: FcAddr, host_traddr: FcAddr, subnqn: impl Into<String>) -> Self {
        let hostid = generate_uuid();
        ConnectOptions {
            traddr,
            host_traddr,
            subnqn: subnqn.into(),
            hostnqn: hostnqn_from_uuid(&hostid),
            hostid,
            nr_io_queues: std::thread::available_parallelism()
                .map(|n| u16::try_from(n.get()).unwrap_or(u16::MAX))
                .unwrap_or(1),
            queue_size: DEFAULT_QUEUE_SIZE,
            kato: DEFAULT_KATO,
            reconnect_delay: DEFAULT_RECONNECT_DELAY,
            ctrl_loss_tmo: Some(DEFAULT_CTRL_LOSS_TMO),
            fast_io_fail_tmo: None,
            io_timeout: DEFAULT_IO_TIMEOUT,
        }
    }

    /// Parses nvme-cli's `key=value,key=value` form.
    pub fn parse(s: &str) -> Result<Self, OptionsError> {
        let mut traddr = None;
        let mut host_traddr = None;
        let mut subnqn = None;
        let mut hostnqn = None;
        let mut hostid = None;
        let mut rest: Vec<(&str, &str)> = Vec::new();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (key, value) = entry
                .split_once('=')
                .ok_or_else(|| OptionsError::Syntax(entry.to_owned()))?;
            let (key, value) = (key.trim(), value.trim());
            match key.to_ascii_lowercase().as_str() {
                "traddr" => traddr = Some(parse_addr("traddr", value)?),
                "host_traddr" => host_traddr = Some(parse_addr("host_traddr", value)?),
                "nqn" | "subnqn" => subnqn = Some(parse_nqn("nqn", value)?),
                "hostnqn" => hostnqn = Some(parse_nqn("hostnqn", value)?),
                "hostid" => hostid = Some(parse_uuid(value)?),
                _ => rest.push((key, value)),
            }
        }
        let traddr = traddr.ok_or(OptionsError::Missing {
            option: "traddr",
            expected: FC_ADDR_FORM,
        })?;
        let host_traddr = host_traddr.ok_or(OptionsError::Missing {
            option: "host_traddr",
            expected: FC_ADDR_FORM,
        })?;
        let subnqn = subnqn.ok_or(OptionsError::Missing {
            option: "nqn",
            expected: "an NQN such as nqn.2014-08.org.nvmexpress:uuid:…",
        })?;
        let mut o = ConnectOptions::new(traddr, host_traddr, subnqn);
        if let Some(id) = hostid {
            o.hostid = id;
            o.hostnqn = hostnqn_from_uuid(&id);
        }
        if let Some(nqn) = hostnqn {
            o.hostnqn = nqn;
        }
        let mut delay_given = false;
        for (key, value) in rest {
            match key.to_ascii_lowercase().as_str() {
                "nr_io_queues" => {
                    o.nr_io_queues = parse_int("nr_io_queues", value, 1, 65535, "1..=65535")?
                }
                "queue_size" => {
                    o.queue_size = parse_int(
                        "queue_size",
                        value,
                        MIN_QUEUE_SIZE.into(),
                        MAX_QUEUE_SIZE.into(),
                        "16..=1024",
                    )?
                }
                "keep_alive_tmo" | "kato" => o.kato = parse_secs("keep_alive_tmo", value)?,
                "reconnect_delay" => {
                    let d = parse_secs("reconnect_delay", value)?;
                    if d.is_zero() {
                        return Err(OptionsError::BadValue {
                            option: "reconnect_delay",
                            value: value.to_owned(),
                            expected: "whole seconds > 0",
                        });
                    }
                    o.reconnect_delay = d;
                    delay_given = true;
                }
                "ctrl_loss_tmo" => o.ctrl_loss_tmo = parse_secs_or_off("ctrl_loss_tmo", value)?,
                "fast_io_fail_tmo" => {
                    o.fast_io_fail_tmo = parse_secs_or_off("fast_io_fail_tmo", value)?
                }
                "io_timeout" => {
                    let d = parse_secs("io_timeout", value)?;
                    if d.is_zero() {
                        return Err(OptionsError::BadValue {
                            option: "io_timeout",
                            value: value.to_owned(),
                            expected: "whole seconds > 0",
                        });
                    }
                    o.io_timeout = d;
                }
                _ => return Err(OptionsError::Unknown(key.to_owned())),
            }
        }
        if !delay_given && o.ctrl_loss_tmo.is_none() {
            // FC shortens the delay only when ctrl_loss_tmo bounds the attempts.
            o.reconnect_delay = FABRICS_DEFAULT_RECONNECT_DELAY;
        }
        o.validate()?;
        Ok(o)
    }

    /// Checks ranges of a hand-built value (the parser calls it too).
    pub fn validate(&self) -> Result<(), OptionsError> {
        if !(MIN_QUEUE_SIZE..=MAX_QUEUE_SIZE).contains(&self.queue_size) {
            return Err(OptionsError::BadValue {
                option: "queue_size",
                value: self.queue_size.to_string(),
                expected: "16..=1024",
            });
        }
        if self.nr_io_queues == 0 {
            return Err(OptionsError::BadValue {
                option: "nr_io_queues",
                value: "0".into(),
                expected: "1..=65535",
            });
        }
        if self.reconnect_delay.is_zero() {
            return Err(OptionsError::BadValue {
                option: "reconnect_delay",
                value: "0".into(),
                expected: "whole seconds > 0",
            });
        }
        if self.io_timeout.is_zero() {
            return Err(OptionsError::BadValue {
                option: "io_timeout",
                value: "0".into(),
                expected: "whole seconds > 0",
            });
        }
        for (option, addr) in [("traddr", self.traddr), ("host_traddr", self.host_traddr)] {
            if addr.wwnn.0 == 0 || addr.wwpn.0 == 0 {
                return Err(OptionsError::BadValue {
                    option,
                    value: addr.to_string(),
                    expected: "non-zero WWNN and WWPN",
                });
            }
        }
        if self.subnqn.is_empty() || self.subnqn.len() > 223 {
            return Err(OptionsError::BadValue {
                option: "nqn",
                value: self.subnqn.clone(),
                expected: "1..=223 bytes",
            });
        }
        if self.hostnqn.is_empty() || self.hostnqn.len() > 223 {
            return Err(OptionsError::BadValue {
                option: "hostnqn",
                value: self.hostnqn.clone(),
                expected: "1..=223 bytes",
            });
        }
        Ok(())
    }

    /// `max_reconnects = ceil(ctrl_loss_tmo / reconnect_delay)`; `None` = unlimited.
    pub fn max_reconnects(&self) -> Option<u32> {
        let tmo = self.ctrl_loss_tmo?;
        let delay = self.reconnect_delay.as_nanos().max(1);
        let n = tmo.as_nanos().div_ceil(delay);
        Some(u32::try_from(n).unwrap_or(u32::MAX))
    }
}

fn parse_addr(option: &'static str, value: &str) -> Result<FcAddr, OptionsError> {
    FcAddr::parse(value).map_err(|_| OptionsError::BadValue {
        option,
        value: value.to_owned(),
        expected: FC_ADDR_FORM,
    })
}

fn parse_nqn(option: &'static str, value: &str) -> Result<String, OptionsError> {
    if value.is_empty() || value.len() > 223 || !value.is_ascii() {
        return Err(OptionsError::BadValue {
            option,
            value: value.to_owned(),
            expected: "an ASCII NQN of 1..=223 bytes",
        });
    }
    Ok(value.to_owned())
}

fn parse_int(
    option: &'static str,
    value: &str,
    min: u32,
    max: u32,
    expected: &'static str,
) -> Result<u16, OptionsError> {
    let bad = || OptionsError::BadValue {
        option,
        value: value.to_owned(),
        expected,
    };
    let n: u32 = value.parse().map_err(|_| bad())?;
    if !(min..=max).contains(&n) {
        return Err(bad());
    }
    u16::try_from(n).map_err(|_| bad())
}

fn parse_secs(option: &'static str, value: &str) -> Result<Duration, OptionsError> {
    value
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| OptionsError::BadValue {
            option,
            value: value.to_owned(),
            expected: SECONDS_FORM,
        })
}

fn parse_secs_or_off(option: &'static str, value: &str) -> Result<Option<Duration>, OptionsError> {
    match value.parse::<i64>() {
        Ok(n) if n < 0 => Ok(None),
        Ok(n) => Ok(Some(Duration::from_secs(n.unsigned_abs()))),
        Err(_) => Err(OptionsError::BadValue {
            option,
            value: value.to_owned(),
            expected: SECONDS_OR_OFF_FORM,
        }),
    }
}

fn parse_uuid(value: &str) -> Result<[u8; 16], OptionsError> {
    let bad = || OptionsError::BadValue {
        option: "hostid",
        value: value.to_owned(),
        expected: "a UUID such as 1b4e28ba-2fa1-11d2-883f-0016d3cca427",
    };
    let groups: Vec<&str> = value.split('-').collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    if lens != [8, 4, 4, 4, 12] {
        return Err(bad());
    }
    let hex: String = groups.concat();
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = hex.get(2 * i..2 * i + 2).ok_or_else(bad)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// Formats a UUID in the canonical 8-4-4-4-12 form.
pub fn format_uuid(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn hostnqn_from_uuid(u: &[u8; 16]) -> String {
    format!("nqn.2014-08.org.nvmexpress:uuid:{}", format_uuid(u))
}

/// A version-4 style random UUID from the standard library's randomly keyed hasher
/// (no extra crate: uniqueness, not secrecy, is what a host id needs).
fn generate_uuid() -> [u8; 16] {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; 16];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out[6] = (out[6] & 0x0f) | 0x40;
    out[8] = (out[8] & 0x3f) | 0x80;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wwn::Wwn;

    const T: &str = "traddr=nn-0x20000090fa942779:pn-0x10000090fa942779";
    const H: &str = "host_traddr=nn-0x20000090fa940001:pn-0x10000090fa940001";

    fn base() -> String {
        format!("{T},{H},nqn=nqn.2024-01.io.ufc:sub1")
    }

    #[test]
    fn defaults_follow_linux_fc() {
        let o = ConnectOptions::parse(&base()).unwrap();
        assert_eq!(o.traddr.wwpn, Wwn(0x1000_0090_fa94_2779));
        assert_eq!(o.host_traddr.wwnn, Wwn(0x2000_0090_fa94_0001));
        assert_eq!(o.subnqn, "nqn.2024-01.io.ufc:sub1");
        assert_eq!(o.queue_size, 128);
        assert_eq!(o.kato, Duration::from_secs(5));
        assert_eq!(o.reconnect_delay, Duration::from_secs(2));
        assert_eq!(o.ctrl_loss_tmo, Some(Duration::from_secs(600)));
        assert_eq!(o.fast_io_fail_tmo, None);
        assert_eq!(o.io_timeout, Duration::from_secs(30));
        assert!(o.nr_io_queues >= 1);
        assert!(o.hostnqn.starts_with("nqn.2014-08.org.nvmexpress:uuid:"));
        assert_eq!(
            o.hostnqn.len(),
            "nqn.2014-08.org.nvmexpress:uuid:".len() + 36
        );
        assert_eq!(o.max_reconnects(), Some(300));
    }

    #[test]
    fn every_option_parses() {
        let s = format!(
            "{},hostnqn=nqn.2014-08.org.nvmexpress:uuid:host,hostid=1b4e28ba-2fa1-11d2-883f-0016d3cca427,\
             nr_io_queues=4,queue_size=64,kato=10,reconnect_delay=3,ctrl_loss_tmo=10,fast_io_fail_tmo=5,io_timeout=7",
            base()
        );
        let o = ConnectOptions::parse(&s).unwrap();
        assert_eq!(o.hostnqn, "nqn.2014-08.org.nvmexpress:uuid:host");
        assert_eq!(
            format_uuid(&o.hostid),
            "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
        );
        assert_eq!(o.nr_io_queues, 4);
        assert_eq!(o.queue_size, 64);
        assert_eq!(o.kato, Duration::from_secs(10));
        assert_eq!(o.reconnect_delay, Duration::from_secs(3));
        assert_eq!(o.ctrl_loss_tmo, Some(Duration::from_secs(10)));
        assert_eq!(o.fast_io_fail_tmo, Some(Duration::from_secs(5)));
        assert_eq!(o.io_timeout, Duration::from_secs(7));
        // ceil(10 / 3) = 4
        assert_eq!(o.max_reconnects(), Some(4));
    }

    #[test]
    fn hostid_alone_derives_hostnqn() {
        let s = format!("{},hostid=1b4e28ba-2fa1-11d2-883f-0016d3cca427", base());
        let o = ConnectOptions::parse(&s).unwrap();
        assert_eq!(
            o.hostnqn,
            "nqn.2014-08.org.nvmexpress:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427"
        );
    }

    /// Review item 11: the FC 2 s reconnect_delay applies only while
    /// ctrl_loss_tmo is enforced; forever keeps the fabrics 10 s.
    #[test]
    fn reconnect_delay_default_depends_on_ctrl_loss() {
        let o = ConnectOptions::parse(&format!("{},ctrl_loss_tmo=-1", base())).unwrap();
        assert_eq!(o.reconnect_delay, Duration::from_secs(10));
        let o = ConnectOptions::parse(&format!("{},ctrl_loss_tmo=-1,reconnect_delay=3", base()))
            .unwrap();
        assert_eq!(o.reconnect_delay, Duration::from_secs(3));
        let o = ConnectOptions::parse(&format!("{},ctrl_loss_tmo=60", base())).unwrap();
        assert_eq!(o.reconnect_delay, Duration::from_secs(2));
        assert_eq!(o.max_reconnects(), Some(30));
    }

    #[test]
    fn ctrl_loss_forever_and_zero() {
        let o = ConnectOptions::parse(&format!("{},ctrl_loss_tmo=-1", base())).unwrap();
        assert_eq!(o.ctrl_loss_tmo, None);
        assert_eq!(o.max_reconnects(), None);
        let o = ConnectOptions::parse(&format!("{},ctrl_loss_tmo=0", base())).unwrap();
        assert_eq!(o.max_reconnects(), Some(0));
        let o = ConnectOptions::parse(&format!("{},ctrl_loss_tmo=5,reconnect_delay=2", base()))
            .unwrap();
        assert_eq!(o.max_reconnects(), Some(3));
    }

    #[test]
    fn errors_name_option_and_form() {
        let e = ConnectOptions::parse(&format!("{},queue_size=8", base()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("queue_size") && e.contains("16..=1024"), "{e}");
        let e = ConnectOptions::parse(&format!("{},queue_size=2048", base()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("queue_size"), "{e}");
        let e = ConnectOptions::parse(&format!("{H},nqn=x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("traddr") && e.contains("nn-0x<16 hex>"), "{e}");
        let e = ConnectOptions::parse("traddr=nn-0x1:pn-0x2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("traddr") && e.contains("nn-0x<16 hex>"), "{e}");
        let e = ConnectOptions::parse(&format!("{},bogus=1", base()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = ConnectOptions::parse(&format!("{},reconnect_delay=0", base()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("reconnect_delay") && e.contains("> 0"), "{e}");
        let e = ConnectOptions::parse(&format!("{},kato=abc", base()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("keep_alive_tmo") && e.contains("seconds"), "{e}");
        let e = ConnectOptions::parse(&format!("{},hostid=xyz", base()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("hostid") && e.contains("UUID"), "{e}");
        let e = ConnectOptions::parse(&format!("{},justakey", base()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("key=value"), "{e}");
        let e = ConnectOptions::parse(&format!("{T},{H}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nqn"), "{e}");
    }

    #[test]
    fn generated_hostids_differ() {
        assert_ne!(generate_uuid(), generate_uuid());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_option_strings_never_panic(s in ".{0,120}") {
            let _ = ConnectOptions::parse(&s);
        }

        #[test]
        fn max_reconnects_covers_ctrl_loss(tmo in 0u64..100_000, delay in 1u64..1000) {
            let mut o = ConnectOptions::parse(&base()).unwrap();
            o.ctrl_loss_tmo = Some(Duration::from_secs(tmo));
            o.reconnect_delay = Duration::from_secs(delay);
            let n = u64::from(o.max_reconnects().unwrap());
            proptest::prop_assert!(n * delay >= tmo && n.saturating_sub(1) * delay < tmo.max(1));
        }
    }
}
