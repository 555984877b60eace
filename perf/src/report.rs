//! The end-of-run reports: fio's text (per job and per run group), the
//! spdk_nvme_perf `Device Information` table, and fio-compatible JSON
//! (`--output-format json`) with the drills added.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::drill::DrillRecord;
use crate::job::JobResult;
use crate::stats::{DirStats, LatSummary};

/// What the report says about a job besides its numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobInfo {
    /// `job0`, `job1`, …
    pub name: String,
    /// spdk_nvme_perf-style device name: `FC (traddr:… subnqn:…) NSID 1`.
    pub device: String,
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct Report {
    /// Per job.
    pub jobs: Vec<(JobInfo, JobResult)>,
    /// Drills, in order.
    pub drills: Vec<DrillRecord>,
    /// The options, as fio's `global options`.
    pub options: Map<String, Value>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// `part` as a percentage of `whole` (fio's `usr_cpu`, `sys_cpu`).
fn pct(part: Duration, whole: Duration) -> f64 {
    if whole.is_zero() {
        0.0
    } else {
        100.0 * part.as_secs_f64() / whole.as_secs_f64()
    }
}

fn per_sec(count: u64, runtime: Duration) -> f64 {
    let s = runtime.as_secs_f64();
    if s > 0.0 {
        count as f64 / s
    } else {
        0.0
    }
}

fn lat_json(s: &LatSummary) -> Value {
    let pct: Map<String, Value> = s
        .percentiles
        .iter()
        .map(|(p, v)| (format!("{p:.6}"), json!(v)))
        .collect();
    json!({
        "min": s.min,
        "max": s.max,
        "mean": s.mean,
        "stddev": s.stddev,
        "N": s.n,
        "percentile": pct,
    })
}

/// fio's per-direction object.
pub fn dir_json(d: &DirStats, runtime: Duration) -> Value {
    let s = d.summary();
    let bw_bytes = per_sec(d.bytes, runtime).round() as u64;
    let zero = LatSummary {
        n: 0,
        min: 0,
        max: 0,
        mean: 0.0,
        stddev: 0.0,
        percentiles: Vec::new(),
    };
    let mut slat = lat_json(&zero);
    if let Some(o) = slat.as_object_mut() {
        o.remove("percentile");
    }
    json!({
        "io_bytes": d.bytes,
        "io_kbytes": d.bytes / 1024,
        "bw_bytes": bw_bytes,
        "bw": bw_bytes / 1024,
        "iops": per_sec(d.ios, runtime),
        "runtime": runtime.as_millis() as u64,
        "total_ios": d.ios,
        "short_ios": 0,
        "drop_ios": 0,
        "slat_ns": slat,
        // Submission is a synchronous call: completion latency is measured from
        // just before it, so lat and clat are the same samples.
        "clat_ns": lat_json(&s),
        "lat_ns": lat_json(&s),
    })
}

fn total(jobs: &[(JobInfo, JobResult)]) -> (DirStats, DirStats, Duration) {
    let mut r = DirStats::new();
    let mut w = DirStats::new();
    let mut rt = Duration::ZERO;
    for (_, j) in jobs {
        r.merge(&j.read);
        w.merge(&j.write);
        rt = rt.max(j.runtime);
    }
    (r, w, rt)
}

impl Report {
    /// I/O errors plus verify failures over all jobs.
    pub fn failures(&self) -> (u64, u64) {
        self.jobs
            .iter()
            .fold((0, 0), |(e, v), (_, j)| (e + j.errors, v + j.verify_errors))
    }

    /// `--output-format json`.
    pub fn json(&self) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let jobs: Vec<Value> = self
            .jobs
            .iter()
            .map(|(info, j)| {
                json!({
                    "jobname": info.name,
                    "groupid": 0,
                    "error": u64::from(j.errors + j.verify_errors > 0),
                    "elapsed": self.elapsed.as_secs(),
                    "job options": { "cpus_allowed": j.cpu.map(|c| c.to_string()) },
                    "device": info.device,
                    "read": dir_json(&j.read, j.runtime),
                    "write": dir_json(&j.write, j.runtime),
                    "usr_cpu": pct(j.usr_cpu, j.runtime),
                    "sys_cpu": pct(j.sys_cpu, j.runtime),
                    "errors": j.errors,
                    "verify_errors": j.verify_errors,
                    "verified_ios": j.verified,
                    "error_log": j.error_log,
                })
            })
            .collect();
        let (r, w, rt) = total(&self.jobs);
        json!({
            "fio version": concat!("fcperf-", env!("CARGO_PKG_VERSION")),
            "timestamp": now.as_secs(),
            "timestamp_ms": now.as_millis() as u64,
            "global options": self.options,
            "jobs": jobs,
            "total": { "read": dir_json(&r, rt), "write": dir_json(&w, rt) },
            "drills": self.drills,
        })
    }

    /// fio's normal output, then the spdk_nvme_perf table.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (info, j) in &self.jobs {
            let err = u64::from(j.errors + j.verify_errors > 0);
            let _ = writeln!(
                out,
                "{}: (groupid=0, jobs=1): err={err:2}: {}",
                info.name, info.device
            );
            for (name, d) in [("read", &j.read), ("write", &j.write)] {
                if d.ios > 0 {
                    dir_text(&mut out, name, d, j.runtime);
                }
            }
            let _ = writeln!(
                out,
                "  errors: {}, verify errors: {} of {} checked{}",
                j.errors,
                j.verify_errors,
                j.verified,
                j.cpu.map(|c| format!(", cpu {c}")).unwrap_or_default()
            );
            let _ = writeln!(
                out,
                "  cpu          : usr={:.2}%, sys={:.2}%",
                pct(j.usr_cpu, j.runtime),
                pct(j.sys_cpu, j.runtime)
            );
            for e in &j.error_log {
                let _ = writeln!(out, "    {e}");
            }
        }
        let (r, w, rt) = total(&self.jobs);
        let _ = writeln!(out, "\nRun status group 0 (all jobs):");
        for (name, d) in [("READ", &r), ("WRITE", &w)] {
            if d.ios > 0 {
                let bw = per_sec(d.bytes, rt);
                let _ = writeln!(
                    out,
                    "  {name:>5}: bw={} ({}), io={} ({}), run={}msec",
                    bin_rate(bw),
                    dec_rate(bw),
                    bin_bytes(d.bytes),
                    dec_bytes(d.bytes),
                    rt.as_millis()
                );
            }
        }
        if !self.drills.is_empty() {
            let _ = writeln!(out, "\nDrills:");
            for d in &self.drills {
                let _ = writeln!(
                    out,
                    "  {:<11} at {:7.3}s: rport_delete {} ms, resume {} ms, failed I/Os {}",
                    d.kind.name(),
                    d.start_s,
                    opt_ms(d.rport_delete_ms),
                    opt_ms(d.resume_ms),
                    d.failed_ios
                );
            }
        }
        out.push('\n');
        out.push_str(&self.spdk_table());
        out
    }

    /// spdk_nvme_perf's `Device Information` table (latency in µs).
    pub fn spdk_table(&self) -> String {
        let rows: Vec<(String, DirStats, Duration)> = self
            .jobs
            .iter()
            .map(|(info, j)| {
                let mut d = j.read.clone();
                d.merge(&j.write);
                let core = j.cpu.map_or_else(|| "-".to_owned(), |c| c.to_string());
                (format!("{} from core {core:>2}", info.device), d, j.runtime)
            })
            .collect();
        let width = rows
            .iter()
            .map(|r| r.0.len())
            .max()
            .unwrap_or(0)
            .max("Device Information".len());
        let mut out = String::new();
        let rule = "=".repeat(width + 57);
        let _ = writeln!(out, "{rule}");
        let _ = writeln!(out, "{:>w$}", "Latency(us)", w = width + 57);
        let _ = writeln!(
            out,
            "{:<width$} : {:>10} {:>10} {:>10} {:>10} {:>10}",
            "Device Information", "IOPS", "MiB/s", "Average", "min", "max"
        );
        let (mut iops, mut mibs, mut n, mut sum) = (0.0, 0.0, 0u64, 0.0);
        let (mut min, mut max) = (u64::MAX, 0u64);
        for (name, d, rt) in &rows {
            let s = d.summary();
            let i = per_sec(d.ios, *rt);
            let m = per_sec(d.bytes, *rt) / (1024.0 * 1024.0);
            let _ = writeln!(
                out,
                "{name:<width$} : {i:10.2} {m:10.2} {:10.2} {:10.2} {:10.2}",
                s.mean / 1e3,
                s.min as f64 / 1e3,
                s.max as f64 / 1e3
            );
            iops += i;
            mibs += m;
            n += s.n;
            sum += s.mean * s.n as f64;
            if s.n > 0 {
                min = min.min(s.min);
                max = max.max(s.max);
            }
        }
        let avg = if n > 0 { sum / n as f64 } else { 0.0 };
        let min = if n > 0 { min } else { 0 };
        let _ = writeln!(out, "{rule}");
        let _ = writeln!(
            out,
            "{:<width$} : {iops:10.2} {mibs:10.2} {:10.2} {:10.2} {:10.2}",
            "Total",
            avg / 1e3,
            min as f64 / 1e3,
            max as f64 / 1e3
        );
        out
    }
}

/// spdk_nvme_perf's `-L` cutoffs.
const SPDK_CUTOFFS: [f64; 15] = [
    1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 98.0, 99.0, 99.5, 99.9, 99.99, 99.999, 99.9999,
    99.99999,
];

impl Report {
    /// spdk_nvme_perf `-L` (level 1: percentile summary) and `-LL` (level 2: plus
    /// the histogram of recorded latencies), per job, in µs.
    pub fn spdk_latency(&self, level: u8) -> String {
        let mut out = String::new();
        if level == 0 {
            return out;
        }
        for (info, j) in &self.jobs {
            let mut d = j.read.clone();
            d.merge(&j.write);
            let core = j.cpu.map_or_else(|| "-".to_owned(), |c| c.to_string());
            let name = format!("{} from core {core}", info.device);
            let h = &d.hist;
            let _ = writeln!(out, "Summary latency data for {name}:");
            let _ = writeln!(out, "{}", "=".repeat(81));
            for p in SPDK_CUTOFFS {
                let v = if h.is_empty() {
                    0
                } else {
                    h.value_at_quantile(p / 100.0)
                };
                let _ = writeln!(out, "{p:>10.5}% : {:>12.3}us", v as f64 / 1e3);
            }
            out.push('\n');
            if level < 2 {
                continue;
            }
            let _ = writeln!(out, "Latency histogram for {name}:");
            let _ = writeln!(out, "{}", "=".repeat(78));
            let _ = writeln!(out, "       Range in us     Cumulative    IO count");
            let total = h.len().max(1) as f64;
            let mut seen = 0u64;
            for v in h.iter_recorded() {
                seen += v.count_at_value();
                let lo = h.lowest_equivalent(v.value_iterated_to());
                let hi = h.highest_equivalent(v.value_iterated_to());
                let _ = writeln!(
                    out,
                    "{:>12.3} - {:>12.3}: {:>9.4}%  ({:>9})",
                    lo as f64 / 1e3,
                    hi as f64 / 1e3,
                    100.0 * seen as f64 / total,
                    v.count_at_value()
                );
            }
            out.push('\n');
        }
        out
    }
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

fn dir_text(out: &mut String, name: &str, d: &DirStats, runtime: Duration) {
    let s = d.summary();
    let iops = per_sec(d.ios, runtime);
    let bw = per_sec(d.bytes, runtime);
    let _ = writeln!(
        out,
        "  {name}: IOPS={}, BW={} ({})({}/{}msec)",
        count(iops),
        bin_rate(bw),
        dec_rate(bw),
        bin_bytes(d.bytes),
        runtime.as_millis()
    );
    for label in ["clat", " lat"] {
        let _ = writeln!(
            out,
            "    {label} (nsec): min={}, max={}, avg={:.2}, stdev={:.2}",
            s.min, s.max, s.mean, s.stddev
        );
    }
    let _ = writeln!(out, "    clat percentiles (nsec):");
    for row in s.percentiles.chunks(4) {
        let cells: Vec<String> = row
            .iter()
            .map(|(p, v)| format!("{p:5.2}th=[{v:>8}]"))
            .collect();
        let _ = writeln!(out, "     | {}", cells.join(", "));
    }
}

/// fio-style count: 1234, 12.3k, 2.01M.
pub fn count(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn scaled(v: f64, base: f64, units: [&str; 5]) -> String {
    let mut v = v;
    let mut i = 0;
    while v >= base * 10.0 && i < units.len() - 1 {
        v /= base;
        i += 1;
    }
    if v >= 100.0 || i == 0 {
        format!("{v:.0}{}", units[i])
    } else {
        format!("{v:.1}{}", units[i])
    }
}

/// Bytes per second, binary units (fio's `BW=…MiB/s`).
pub fn bin_rate(v: f64) -> String {
    scaled(v, 1024.0, ["B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s"])
}

/// Bytes per second, decimal units.
pub fn dec_rate(v: f64) -> String {
    scaled(v, 1000.0, ["B/s", "kB/s", "MB/s", "GB/s", "TB/s"])
}

/// Bytes, binary units.
pub fn bin_bytes(v: u64) -> String {
    scaled(v as f64, 1024.0, ["B", "KiB", "MiB", "GiB", "TiB"])
}

/// Bytes, decimal units.
pub fn dec_bytes(v: u64) -> String {
    scaled(v as f64, 1000.0, ["B", "kB", "MB", "GB", "TB"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::DrillKind;

    fn sample() -> Report {
        let mut read = DirStats::new();
        for i in 0..1000u64 {
            read.record(10_000 + i, 4096);
        }
        let job = JobResult {
            index: 0,
            cpu: Some(0),
            read,
            write: DirStats::new(),
            errors: 0,
            verify_errors: 0,
            verified: 0,
            runtime: Duration::from_secs(1),
            usr_cpu: Duration::from_millis(990),
            sys_cpu: Duration::from_millis(10),
            error_log: Vec::new(),
        };
        Report {
            jobs: vec![(
                JobInfo {
                    name: "job0".into(),
                    device: "FC (traddr:nn-0x2000000000000001:pn-0x1000000000000001 subnqn:nqn.x) NSID 1".into(),
                },
                job,
            )],
            drills: vec![DrillRecord {
                kind: DrillKind::Restart,
                start_s: 1.0,
                rport_delete_ms: Some(0.5),
                resume_ms: Some(1.5),
                failed_ios: 0,
            }],
            options: Map::new(),
            elapsed: Duration::from_secs(1),
        }
    }

    #[test]
    fn json_has_fio_field_names_and_units() {
        let v = sample().json();
        let r = &v["jobs"][0]["read"];
        assert_eq!(r["total_ios"], 1000);
        assert_eq!(r["io_bytes"], 4096 * 1000);
        assert_eq!(r["bw_bytes"], 4096 * 1000);
        assert_eq!(r["bw"], 4000, "bw is KiB/s");
        assert_eq!(r["runtime"], 1000, "runtime is ms");
        assert_eq!(r["iops"], 1000.0);
        for lat in ["clat_ns", "lat_ns"] {
            for k in ["min", "max", "mean", "stddev", "N"] {
                assert!(r[lat][k].is_number(), "{lat}.{k}");
            }
            for p in ["1.000000", "50.000000", "99.000000", "99.990000"] {
                assert!(r[lat]["percentile"][p].is_number(), "{lat}.percentile.{p}");
            }
        }
        assert_eq!(r["clat_ns"]["min"], 10_000);
        assert_eq!(v["jobs"][0]["write"]["total_ios"], 0);
        assert_eq!(v["jobs"][0]["errors"], 0);
        assert_eq!(v["jobs"][0]["verify_errors"], 0);
        assert_eq!(v["jobs"][0]["usr_cpu"], 99.0, "percent of runtime");
        assert_eq!(v["jobs"][0]["sys_cpu"], 1.0);
        assert_eq!(v["jobs"][0]["jobname"], "job0");
        let d = &v["drills"][0];
        assert_eq!(d["kind"], "restart");
        assert_eq!(d["start_s"], 1.0);
        assert_eq!(d["rport_delete_ms"], 0.5);
        assert_eq!(d["resume_ms"], 1.5);
        assert_eq!(d["failed_ios"], 0);
    }

    #[test]
    fn text_has_fio_lines_and_spdk_table() {
        let t = sample().text();
        assert!(t.contains("job0: (groupid=0, jobs=1): err= 0"), "{t}");
        assert!(
            t.contains("  read: IOPS=1000, BW=4000KiB/s (4096kB/s)"),
            "{t}"
        );
        assert!(t.contains("clat percentiles (nsec):"), "{t}");
        assert!(t.contains("99.99th=["), "{t}");
        assert!(t.contains("Run status group 0 (all jobs):"), "{t}");
        assert!(t.contains("Device Information"), "{t}");
        assert!(t.contains("Latency(us)"), "{t}");
        let row = t
            .lines()
            .find(|l| l.contains("NSID 1 from core  0"))
            .unwrap_or_else(|| panic!("{t}"));
        assert!(row.contains("1000.00") && row.contains("3.91"), "{row}");
        assert!(t.lines().any(|l| l.starts_with("Total ")), "{t}");
        assert!(
            t.contains("restart     at   1.000s: rport_delete 0.500 ms, resume 1.500 ms"),
            "{t}"
        );
    }

    #[test]
    fn spdk_latency_summary_and_histogram() {
        let r = sample();
        assert_eq!(r.spdk_latency(0), "");
        let t = r.spdk_latency(1);
        assert!(t.contains("Summary latency data for FC (traddr:"), "{t}");
        assert!(t.contains("from core 0:"), "{t}");
        assert!(t.contains("  50.00000% :"), "{t}");
        assert!(t.contains("99.99999% :"), "{t}");
        assert!(!t.contains("Latency histogram"), "{t}");
        let t = r.spdk_latency(2);
        assert!(t.contains("Range in us     Cumulative    IO count"), "{t}");
        assert!(
            t.contains("100.0000%"),
            "the last bucket is cumulative 100 %: {t}"
        );
    }

    #[test]
    fn units() {
        assert_eq!(count(2_013_000.0), "2.01M");
        assert_eq!(count(12_345.0), "12.3k");
        assert_eq!(bin_rate(8.0 * 1024.0 * 1024.0 * 1024.0), "8192MiB/s");
        assert_eq!(bin_rate(100.0 * 1024.0 * 1024.0 * 1024.0), "100GiB/s");
        assert_eq!(dec_bytes(41_200_000_000), "41.2GB");
    }
}
