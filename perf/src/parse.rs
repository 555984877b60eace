//! Value parsers for the command line: sizes (`4k`), durations (`2s`, `20us`),
//! core masks (`0x3`, `[0,2-3]`), CPU lists (`0,1`), transport IDs (spdk_nvme_perf
//! `-r`), the I/O pattern and the emulator namespace. Each error names the
//! accepted forms; clap prefixes the option name.

use std::path::PathBuf;
use std::time::Duration;

use ufc_transport::wwn::FcAddr;

use crate::hba_world::DeviceSpec;
use crate::world::NsKind;

const SIZE_FORMS: &str =
    "a byte count with an optional binary suffix: 512, 4k, 128K, 1m, 2MiB, 1g (k = 1024)";
const DURATION_FORMS: &str =
    "a number with an optional unit: 10 (seconds), 2s, 500ms, 20us, 100ns, 1m, 1h";
const MASK_FORMS: &str = "a hex core mask (0x3, 3) or a core list ([0,2-3])";
const CPUS_FORMS: &str = "a comma-separated CPU list with ranges: 0,1 or 0-3,6";

/// Parses a size; `k`, `m`, `g`, `t` (any case, optional `i`/`b`) are powers of 1024.
pub fn size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("'{s}' is not a size; expected {SIZE_FORMS}");
    let n: u64 = num.parse().map_err(|_| bad())?;
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(bad()),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("'{s}' is too large; expected {SIZE_FORMS}"))
}

/// Parses a size that must fit `u32` and be a non-zero multiple of 512 (an I/O size).
pub fn io_size(s: &str) -> Result<u32, String> {
    let n = size(s)?;
    if n == 0 || n % 512 != 0 {
        return Err(format!(
            "'{s}' is not a multiple of 512 bytes; expected 512, 4k, 128k, 1m …"
        ));
    }
    u32::try_from(n).map_err(|_| format!("'{s}' is above 4 GiB; expected 512, 4k, 128k, 1m …"))
}

/// Parses a duration; a bare number is seconds (fio's default unit).
pub fn duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("'{s}' is not a duration; expected {DURATION_FORMS}");
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit.to_ascii_lowercase().as_str() {
        "" | "s" | "sec" => n,
        "ms" | "msec" => n / 1e3,
        "us" | "usec" | "µs" => n / 1e6,
        "ns" | "nsec" => n / 1e9,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

/// A timer that may be switched off: `-1` or `off` gives `None`.
pub fn timer_or_off(s: &str) -> Result<Option<Duration>, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "-1" | "off" => Ok(None),
        _ => duration(s)
            .map(Some)
            .map_err(|e| format!("{e}; or -1/off to disable")),
    }
}

/// Parses an spdk_nvme_perf core mask into CPU numbers, ascending.
pub fn core_mask(s: &str) -> Result<Vec<usize>, String> {
    let t = s.trim();
    if let Some(list) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return cpu_list(list)
            .map_err(|_| format!("'{s}' is not a core mask; expected {MASK_FORMS}"));
    }
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let bad = || format!("'{s}' is not a core mask; expected {MASK_FORMS}");
    let mask = u128::from_str_radix(digits, 16).map_err(|_| bad())?;
    if mask == 0 {
        return Err(format!("'{s}' selects no core; expected {MASK_FORMS}"));
    }
    Ok((0..128).filter(|b| mask & (1u128 << b) != 0).collect())
}

/// Parses `0,1` / `0-3,6` into CPU numbers, ascending, without duplicates.
pub fn cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let bad = || format!("'{s}' is not a CPU list; expected {CPUS_FORMS}");
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let lo: usize = lo.parse().map_err(|_| bad())?;
        let hi: usize = hi.parse().map_err(|_| bad())?;
        if lo > hi || hi >= 4096 {
            return Err(bad());
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// fio's `rw` / spdk_nvme_perf's `-w`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// Sequential reads.
    Read,
    /// Sequential writes.
    Write,
    /// Random reads.
    RandRead,
    /// Random writes.
    RandWrite,
    /// Sequential mix (`rwmixread`).
    Rw,
    /// Random mix (`rwmixread`).
    RandRw,
}

impl Pattern {
    /// Random offsets.
    pub fn random(self) -> bool {
        matches!(
            self,
            Pattern::RandRead | Pattern::RandWrite | Pattern::RandRw
        )
    }

    /// Percentage of reads implied by the pattern, or `None` for the mixes.
    pub fn fixed_read_pct(self) -> Option<u8> {
        match self {
            Pattern::Read | Pattern::RandRead => Some(100),
            Pattern::Write | Pattern::RandWrite => Some(0),
            Pattern::Rw | Pattern::RandRw => None,
        }
    }

    /// The fio spelling.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Read => "read",
            Pattern::Write => "write",
            Pattern::RandRead => "randread",
            Pattern::RandWrite => "randwrite",
            Pattern::Rw => "rw",
            Pattern::RandRw => "randrw",
        }
    }
}

/// Parses an I/O pattern (fio `rw`, perf `-w`; `readwrite` is `rw`).
pub fn pattern(s: &str) -> Result<Pattern, String> {
    Ok(match s.trim().to_ascii_lowercase().as_str() {
        "read" => Pattern::Read,
        "write" => Pattern::Write,
        "randread" => Pattern::RandRead,
        "randwrite" => Pattern::RandWrite,
        "rw" | "readwrite" => Pattern::Rw,
        "randrw" => Pattern::RandRw,
        _ => {
            return Err(format!(
                "'{s}' is not an I/O pattern; expected read, write, randread, randwrite, rw, randrw"
            ))
        }
    })
}

/// Parses `--emu-namespace null|ram|file:PATH`.
pub fn namespace(s: &str) -> Result<NsKind, String> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "null" => return Ok(NsKind::Null),
        "ram" => return Ok(NsKind::Ram),
        _ => {}
    }
    match t.split_once(':') {
        Some((kind, path)) if kind.eq_ignore_ascii_case("file") && !path.is_empty() => {
            Ok(NsKind::File(PathBuf::from(path)))
        }
        _ => Err(format!(
            "'{s}' is not a namespace kind; expected null, ram or file:PATH"
        )),
    }
}

/// Parses `--device emu|emu:FILE.toml|PCI-ADDRESS`.
pub fn device(s: &str) -> Result<DeviceSpec, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("emu") {
        return Ok(DeviceSpec::Emu(None));
    }
    if let Some((kind, path)) = t.split_once(':') {
        if kind.eq_ignore_ascii_case("emu") {
            if path.is_empty() {
                return Err(format!(
                    "'{s}' names no fabric file; expected emu:FILE.toml"
                ));
            }
            return Ok(DeviceSpec::Emu(Some(PathBuf::from(path))));
        }
    }
    ufc_vfio::PciAddress::parse(t)
        .map(DeviceSpec::Pci)
        .map_err(|e| {
            format!(
                "'{s}' is not a device ({e}); expected emu, emu:FILE.toml or a PCI address such as 0000:3b:00.0"
            )
        })
}

/// Parses a read percentage 0–100.
pub fn percent(s: &str) -> Result<u8, String> {
    match s.trim().parse::<u8>() {
        Ok(n) if n <= 100 => Ok(n),
        _ => Err(format!("'{s}' is not a percentage; expected 0 to 100")),
    }
}

/// Parses a queue depth 1–1023 (the queue size is depth + 1, at most 1024).
pub fn depth(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=1023).contains(&n) => Ok(n),
        _ => Err(format!("'{s}' is not a queue depth; expected 1 to 1023")),
    }
}

/// A transport ID from spdk_nvme_perf's `-r`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trid {
    /// `traddr`: the remote port.
    pub traddr: Option<FcAddr>,
    /// `subnqn`.
    pub subnqn: Option<String>,
    /// `host_traddr` / `hostaddr`: the local port.
    pub host_traddr: Option<FcAddr>,
    /// `hostnqn`.
    pub hostnqn: Option<String>,
    /// `ns`: one namespace id.
    pub nsid: Option<u32>,
    /// Keys we do not use (SPDK logs and ignores them too).
    pub ignored: Vec<String>,
}

/// Parses `'trtype:FC traddr:nn-0x…:pn-0x… subnqn:…'`: whitespace-separated
/// pairs, keys case-insensitive, the first `:` or `=` ends the key.
pub fn trid(s: &str) -> Result<Trid, String> {
    const FORM: &str = "'trtype:FC traddr:nn-0x<16 hex>:pn-0x<16 hex> subnqn:<nqn>' (key:value or key=value pairs)";
    let mut pairs = Vec::new();
    for pair in s.split_whitespace() {
        let Some(at) = pair.find([':', '=']) else {
            return Err(format!(
                "'{pair}' in transport ID '{s}' has no value; expected {FORM}"
            ));
        };
        pairs.push((pair[..at].to_ascii_lowercase(), &pair[at + 1..]));
    }
    // The transport type decides how the rest reads: check it first.
    match pairs.iter().find(|(k, _)| k == "trtype") {
        Some((_, tt)) if tt.eq_ignore_ascii_case("fc") => {}
        Some((_, tt)) => {
            return Err(format!(
                "trtype:{tt} is not supported; fcperf speaks trtype:FC only, e.g. {FORM}"
            ))
        }
        None => return Err(format!("transport ID '{s}' has no trtype; expected {FORM}")),
    }
    let mut t = Trid::default();
    for (key, value) in pairs {
        match key.as_str() {
            "trtype" => {}
            "traddr" => t.traddr = Some(FcAddr::parse(value).map_err(|e| format!("traddr: {e}"))?),
            "host_traddr" | "hostaddr" => {
                t.host_traddr = Some(FcAddr::parse(value).map_err(|e| format!("host_traddr: {e}"))?)
            }
            "subnqn" => t.subnqn = Some(value.to_owned()),
            "hostnqn" => t.hostnqn = Some(value.to_owned()),
            "ns" => {
                t.nsid = Some(value.parse().map_err(|_| {
                    format!("ns:'{value}' in transport ID is not a namespace id; expected ns:1")
                })?)
            }
            _ => t.ignored.push(key),
        }
    }
    if t.traddr.is_none() {
        return Err(format!("transport ID '{s}' has no traddr; expected {FORM}"));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ufc_transport::wwn::Wwn;

    #[test]
    fn sizes() {
        assert_eq!(size("512"), Ok(512));
        assert_eq!(size("4k"), Ok(4096));
        assert_eq!(size("4K"), Ok(4096));
        assert_eq!(size("128KiB"), Ok(128 << 10));
        assert_eq!(size("1m"), Ok(1 << 20));
        assert_eq!(size("2g"), Ok(2 << 30));
        let e = size("4x").unwrap_err();
        assert!(e.contains("'4x' is not a size") && e.contains("4k"), "{e}");
        assert!(size("").is_err() && size("k").is_err());
        assert!(size("99999999999t").unwrap_err().contains("too large"));
    }

    #[test]
    fn io_sizes() {
        assert_eq!(io_size("4k"), Ok(4096));
        assert_eq!(io_size("1m"), Ok(1 << 20));
        let e = io_size("1000").unwrap_err();
        assert!(e.contains("multiple of 512"), "{e}");
        assert!(io_size("0").is_err());
        assert!(io_size("8g").unwrap_err().contains("above 4 GiB"));
    }

    #[test]
    fn durations() {
        assert_eq!(duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("20us"), Ok(Duration::from_micros(20)));
        assert_eq!(duration("100ns"), Ok(Duration::from_nanos(100)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("1m"), Ok(Duration::from_secs(60)));
        let e = duration("2 fortnights").unwrap_err();
        assert!(e.contains("not a duration") && e.contains("20us"), "{e}");
        assert!(duration("-1").is_err());
        assert_eq!(timer_or_off("-1"), Ok(None));
        assert_eq!(timer_or_off("off"), Ok(None));
        assert_eq!(timer_or_off("5"), Ok(Some(Duration::from_secs(5))));
        assert!(timer_or_off("x").unwrap_err().contains("-1/off"));
    }

    #[test]
    fn masks_and_lists() {
        assert_eq!(core_mask("0x1"), Ok(vec![0]));
        assert_eq!(core_mask("0x5"), Ok(vec![0, 2]));
        assert_eq!(core_mask("F"), Ok(vec![0, 1, 2, 3]));
        assert_eq!(core_mask("[0,2-3]"), Ok(vec![0, 2, 3]));
        let e = core_mask("0xg").unwrap_err();
        assert!(e.contains("hex core mask"), "{e}");
        assert!(core_mask("0").unwrap_err().contains("selects no core"));
        assert_eq!(cpu_list("0,1"), Ok(vec![0, 1]));
        assert_eq!(cpu_list("3,0-1,1"), Ok(vec![0, 1, 3]));
        let e = cpu_list("a").unwrap_err();
        assert!(e.contains("CPU list") && e.contains("0-3,6"), "{e}");
        assert!(cpu_list("3-1").is_err());
    }

    #[test]
    fn patterns_and_numbers() {
        assert_eq!(pattern("randread"), Ok(Pattern::RandRead));
        assert_eq!(pattern("READWRITE"), Ok(Pattern::Rw));
        assert!(pattern("trim").unwrap_err().contains("randrw"));
        assert_eq!(percent("70"), Ok(70));
        assert!(percent("101").unwrap_err().contains("0 to 100"));
        assert_eq!(depth("128"), Ok(128));
        assert!(depth("0").unwrap_err().contains("1 to 1023"));
        assert!(depth("1024").is_err());
        assert_eq!(namespace("null"), Ok(NsKind::Null));
        assert_eq!(namespace("RAM"), Ok(NsKind::Ram));
        assert_eq!(
            namespace("file:/tmp/x"),
            Ok(NsKind::File(PathBuf::from("/tmp/x")))
        );
        assert!(namespace("file:").unwrap_err().contains("file:PATH"));
    }

    #[test]
    fn trids() {
        let t = trid(
            "trtype:FC traddr:nn-0x20000090FA942779:pn-10000090fa942779 subnqn:nqn.2024-01.io.ufc:a ns:1 adrfam:x",
        )
        .unwrap();
        assert_eq!(
            t.traddr,
            Some(FcAddr {
                wwnn: Wwn(0x2000_0090_fa94_2779),
                wwpn: Wwn(0x1000_0090_fa94_2779)
            })
        );
        // The value keeps its colons: only the first separator ends the key.
        assert_eq!(t.subnqn.as_deref(), Some("nqn.2024-01.io.ufc:a"));
        assert_eq!(t.nsid, Some(1));
        assert_eq!(t.ignored, vec!["adrfam".to_owned()]);
        // Keys are case-insensitive; '=' works as separator.
        let t = trid("TRTYPE=fc TrAddr=nn-0x0000000000000001:pn-0x0000000000000002").unwrap();
        assert_eq!(
            t.traddr.map(|a| a.to_string()).as_deref(),
            Some("nn-0x0000000000000001:pn-0x0000000000000002")
        );
        let e = trid("trtype:PCIe traddr:0000:04:00.0").unwrap_err();
        assert!(e.contains("trtype:PCIe is not supported"), "{e}");
        let e = trid("traddr:nn-0x1:pn-0x2 trtype:FC").unwrap_err();
        assert!(e.contains("traddr") && e.contains("16 hex"), "{e}");
        assert!(trid("trtype:FC").unwrap_err().contains("no traddr"));
        assert!(trid("trtype").unwrap_err().contains("has no value"));
    }
}
