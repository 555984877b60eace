//! One fcperf run: resolve the options, build the emulated fabric, connect,
//! start one thread per job, drive management and the drills on this thread,
//! print progress, collect the results.

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use ufc_transport::wwn::FcAddr;

use crate::cli::{Cli, OutputFormat};
use crate::drill::{DrillKind, Drills};
use crate::error::PerfError;
use crate::job::{self, JobShared, JobSpec};
use crate::report::{self, JobInfo, Report};
use crate::world::{self, Ctrl, EmuSpec, NsKind, World, HOST_ADDR, TARGET_ADDR};

/// Default measured time when neither --runtime nor --size is given.
const DEFAULT_RUNTIME: Duration = Duration::from_secs(10);
/// Bound on waiting for I/O still outstanding at the end.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Most units a verifying job tracks (8 bytes each).
const MAX_VERIFY_UNITS: u64 = 1 << 26;
/// No drill starts this close to the end of a timed run.
const DRILL_MARGIN: Duration = Duration::from_millis(100);
/// Management poll interval.
const MGMT_INTERVAL: Duration = Duration::from_micros(500);
/// Management poll interval while a drill runs: reconnection takes a handful of
/// management passes, each of which would otherwise wait a full interval.
const MGMT_INTERVAL_DRILL: Duration = Duration::from_micros(20);

fn usage(option: &'static str, reason: impl Into<String>) -> PerfError {
    PerfError::Usage {
        option,
        reason: reason.into(),
    }
}

/// One connection target: a subsystem, optionally one namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    subnqn: String,
    nsid: Option<u32>,
}

fn check_traddr(option: &'static str, a: FcAddr, want: FcAddr) -> Result<(), PerfError> {
    if a == want {
        Ok(())
    } else {
        Err(usage(
            option,
            format!("{a} is not on the emulated fabric; the fcloop target port is {want}"),
        ))
    }
}

/// The subsystems (and namespaces) the run connects to.
fn targets(cli: &Cli, available: &[String]) -> Result<Vec<Target>, PerfError> {
    let known = |option: &'static str, nqn: &str| {
        if available.iter().any(|a| a == nqn) {
            Ok(())
        } else {
            Err(usage(
                option,
                format!(
                    "subsystem {nqn} is not on the emulated target; it has: {}",
                    available.join(", ")
                ),
            ))
        }
    };
    if let Some(a) = cli.traddr {
        check_traddr("--traddr", a, TARGET_ADDR)?;
    }
    let mut out = Vec::new();
    for t in &cli.trids {
        if let Some(a) = t.traddr {
            check_traddr("--transport traddr", a, TARGET_ADDR)?;
        }
        if let Some(h) = t.host_traddr {
            check_traddr("--transport host_traddr", h, HOST_ADDR)?;
        }
        for k in &t.ignored {
            log::warn!("transport ID key '{k}' is not used by fcperf; ignored");
        }
        match &t.subnqn {
            Some(nqn) => {
                known("--transport subnqn", nqn)?;
                out.push(Target {
                    subnqn: nqn.clone(),
                    nsid: t.nsid,
                });
            }
            None => out.extend(available.iter().map(|n| Target {
                subnqn: n.clone(),
                nsid: t.nsid,
            })),
        }
    }
    if out.is_empty() {
        match &cli.subnqn {
            Some(nqn) => {
                known("--subnqn", nqn)?;
                out.push(Target {
                    subnqn: nqn.clone(),
                    nsid: None,
                });
            }
            None => out.extend(available.iter().map(|n| Target {
                subnqn: n.clone(),
                nsid: None,
            })),
        }
    }
    out.dedup();
    Ok(out)
}

/// The options as fio's `global options` (strings, as fio prints them).
fn global_options(cli: &Cli) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_owned(), Value::String(v));
    };
    put("rw", cli.rw.name().to_owned());
    put("bs", cli.bs.to_string());
    put("iodepth", cli.iodepth.to_string());
    put("ioengine", "ufc-fcloop".to_owned());
    if let Some(p) = cli.rwmixread {
        put("rwmixread", p.to_string());
    }
    if let Some(r) = cli.runtime {
        put("runtime", format!("{}ms", r.as_millis()));
    }
    if let Some(s) = cli.size {
        put("size", s.to_string());
    }
    if cli.time_based {
        put("time_based", "1".to_owned());
    }
    if let Some(v) = cli.verify {
        put("verify", format!("{v:?}").to_lowercase());
    }
    put(
        "emu_namespace",
        match &cli.emu_namespace {
            NsKind::Null => "null".to_owned(),
            NsKind::Ram => "ram".to_owned(),
            NsKind::File(p) => format!("file:{}", p.display()),
        },
    );
    m
}

/// Runs fcperf as `cli` says; the caller prints the report.
pub fn run(cli: &Cli) -> Result<Report, PerfError> {
    if let Some(d) = &cli.device {
        return Err(PerfError::NotAvailable {
            what: format!("--device {d}"),
        });
    }
    if cli.fw_error_every.is_some() {
        return Err(usage(
            "--fw-error-every",
            "not available on fcloop: firmware errors are a drill of the SLI-4 HBA model (issue #5); use --restart-every or --link-bounce-every",
        ));
    }
    if let Some(c) = cli.emu_cpu {
        eprintln!("fcperf: --emu-cpu {c} applies to the SLI-4 HBA model; fcloop runs the target inline on each job's thread");
    }
    if let Some(p) = &cli.pcap {
        eprintln!(
            "fcperf: --pcap {} applies to the SLI-4 HBA model; fcloop has no link to capture",
            p.display()
        );
    }
    if cli.verify.is_some() && cli.emu_namespace == NsKind::Null {
        return Err(usage(
            "--verify",
            "a null namespace keeps no data; use --emu-namespace ram or file:PATH",
        ));
    }
    if cli.emu_lba_size != 512 && cli.emu_lba_size != 4096 {
        return Err(usage("--emu-lba-size", "expected 512 or 4096"));
    }
    if cli.bs % cli.emu_lba_size != 0 {
        return Err(usage(
            "--bs",
            format!(
                "{} is not a multiple of the {}-byte block size (--emu-lba-size)",
                cli.bs, cli.emu_lba_size
            ),
        ));
    }
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_list = cli
        .cpus
        .as_ref()
        .or(cli.core_mask.as_ref())
        .map(|c| c.0.clone());
    let numjobs = cli.numjobs.or(cpu_list.as_ref().map(Vec::len)).unwrap_or(1);
    if numjobs == 0 || numjobs > 16 {
        return Err(usage(
            "--numjobs",
            "expected 1 to 16 (fcloop offers 16 hardware queues)",
        ));
    }
    let cpu_of = |i: usize| match &cpu_list {
        Some(l) => l[i % l.len()],
        None => i % ncpu,
    };
    let read_pct = cli
        .rw
        .fixed_read_pct()
        .unwrap_or(cli.rwmixread.unwrap_or(50));
    let capacity = cli.emu_ns_size.unwrap_or(match cli.emu_namespace {
        NsKind::Null => 1 << 40,
        NsKind::Ram | NsKind::File(_) => 1 << 30,
    });
    let bs = u64::from(cli.bs);
    if cli.offset % u64::from(cli.emu_lba_size) != 0 || cli.offset >= capacity {
        return Err(usage(
            "--offset",
            format!(
                "{} must be a multiple of the block size and below the namespace size {capacity}",
                cli.offset
            ),
        ));
    }
    let size = cli.size.unwrap_or(capacity - cli.offset);
    if cli.offset + size > capacity || size < bs {
        return Err(usage(
            "--size",
            format!(
                "{size} bytes from offset {} do not fit the {capacity}-byte namespace or hold one {bs}-byte I/O; set --emu-ns-size or a smaller --size",
                cli.offset
            ),
        ));
    }
    let units = size / bs;
    let split = cli.verify.is_some() && numjobs > 1;
    let units_per_job = if split { units / numjobs as u64 } else { units };
    if units_per_job == 0 {
        return Err(usage("--size", "too small for one I/O per job"));
    }
    if cli.verify.is_some() && units_per_job > MAX_VERIFY_UNITS {
        return Err(usage(
            "--verify",
            format!("{units_per_job} blocks per job is too many to track; give --size (at most {} with --bs {bs})", MAX_VERIFY_UNITS * bs),
        ));
    }
    let io_limit = (!cli.time_based).then_some(cli.size).flatten();
    let runtime = match (cli.runtime, io_limit) {
        (Some(r), _) => Some(r),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_RUNTIME),
    };
    let ramp = cli.ramp_time.unwrap_or_default();

    let world = World::build(&EmuSpec {
        namespace: cli.emu_namespace.clone(),
        lba_size: cli.emu_lba_size,
        capacity,
        subsystems: cli.emu_subsystems.max(1),
        latency: cli.emu_latency,
        dev_loss_tmo: cli.dev_loss_tmo,
        data_buf: cli.bs as usize,
        data_bufs: cli.iodepth * numjobs,
    })?;
    let targets = targets(cli, &world.subsystems())?;
    let normal = cli.output_format == OutputFormat::Normal;
    if normal {
        println!("Initializing NVMe Controllers");
    }
    let per_ctrl = numjobs.div_ceil(targets.len());
    let queue_size = u16::try_from(cli.iodepth + 1).unwrap_or(1024).max(16);
    let mut ctrls: Vec<(Ctrl, &Target)> = Vec::new();
    for t in targets.iter().take(numjobs) {
        let mut o = world::connect_options(&t.subnqn, per_ctrl as u16, queue_size);
        if let Some(x) = cli.ctrl_loss_tmo {
            o.ctrl_loss_tmo = x.0;
        }
        if let Some(d) = cli.reconnect_delay {
            if d.is_zero() {
                return Err(usage("--reconnect-delay", "must be above 0"));
            }
            o.reconnect_delay = d;
        }
        if let Some(x) = cli.fast_io_fail_tmo {
            o.fast_io_fail_tmo = x.0;
        }
        let c = world.connect(o, Duration::from_secs(10))?;
        if normal {
            println!(
                "Attached to NVMe over FC Controller at traddr:{TARGET_ADDR} subnqn:{}",
                t.subnqn
            );
        }
        ctrls.push((c, t));
    }

    let clock = world.transport.clock().clone();
    let mut handles = Vec::new();
    let mut shared = Vec::new();
    let mut infos = Vec::new();
    for i in 0..numjobs {
        let (ctrl, t) = &ctrls[i % ctrls.len()];
        let ns = ctrl
            .namespaces()
            .into_iter()
            .find(|n| t.nsid.is_none_or(|id| id == n.nsid()))
            .ok_or_else(|| {
                usage(
                    "--transport ns",
                    format!("controller for {} has no namespace {:?}", t.subnqn, t.nsid),
                )
            })?;
        let qp = ctrl.alloc_io_qpair()?;
        let bufs = (0..cli.iodepth)
            .map(|_| world.pool.alloc(cli.bs as usize))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| PerfError::Emu("DMA pool exhausted".into()))?;
        let cpu = cpu_of(i);
        let lba = u64::from(ns.lba_size());
        let start_lba = (cli.offset
            + if split {
                i as u64 * units_per_job * bs
            } else {
                0
            })
            / lba;
        let spec = JobSpec {
            index: i,
            cpu: Some(cpu),
            pattern: cli.rw,
            read_pct,
            bs: cli.bs,
            depth: cli.iodepth,
            start_lba,
            units: units_per_job,
            norandommap: cli.norandommap,
            verify: cli.verify,
            ramp,
            runtime,
            io_limit: io_limit.map(|l| if split { l / numjobs as u64 } else { l }),
            drain_timeout: DRAIN_TIMEOUT,
            seed: cli.seed.wrapping_add(i as u64 * 0x9E37_79B9),
        };
        infos.push(JobInfo {
            name: format!("job{i}"),
            device: format!(
                "FC (traddr:{TARGET_ADDR} subnqn:{}) NSID {}",
                t.subnqn,
                ns.nsid()
            ),
        });
        if normal {
            println!("Associating {} with lcore {cpu}", infos[i].device);
        }
        let sh = Arc::new(JobShared::default());
        shared.push(Arc::clone(&sh));
        let clock = clock.clone();
        let h = std::thread::Builder::new()
            .name(format!("fcperf-job{i}"))
            .spawn(move || job::run(&spec, qp, ns, bufs, clock, sh))
            .map_err(|e| PerfError::Job {
                job: i,
                reason: format!("cannot start thread: {e}"),
            })?;
        handles.push(h);
    }
    if normal {
        println!("Initialization complete. Launching workers.");
        let _ = std::io::stdout().flush();
    }

    let origin = clock.now();
    let mut every = Vec::new();
    if let Some(e) = cli.restart_every {
        every.push((DrillKind::Restart, e));
    }
    if let Some(e) = cli.link_bounce_every {
        every.push((DrillKind::LinkBounce, e));
    }
    let mut drills = Drills::new(&every, origin);
    let run_end = runtime.map(|r| origin + ramp + r);
    let progress = std::io::stderr().is_terminal();
    let mut next_report = origin + Duration::from_secs(1);
    let (mut last_ios, mut last_bytes) = (0u64, 0u64);
    let hard_stop =
        origin + ramp + runtime.unwrap_or(Duration::from_secs(3600)) + DRAIN_TIMEOUT * 3;
    let mut drill_error = None;
    loop {
        world.transport.poll();
        let now = clock.now();
        let finished = shared
            .iter()
            .filter(|s| s.finished.load(Ordering::Acquire))
            .count();
        if drill_error.is_none() {
            // A drill needs I/O after it to measure the resume: none in the last
            // DRILL_MARGIN of a timed run.
            let start_new = finished == 0 && run_end.is_none_or(|end| now + DRILL_MARGIN < end);
            if let Err(e) = drills.tick(&world, now, &shared, start_new) {
                log::error!("{e}");
                drill_error = Some(e);
                for s in &shared {
                    s.stop.store(true, Ordering::Relaxed);
                }
            }
        }
        if finished == shared.len() && (drills.active().is_none() || drill_error.is_some()) {
            break;
        }
        if now >= hard_stop {
            for s in &shared {
                s.stop.store(true, Ordering::Relaxed);
            }
        }
        if progress && now >= next_report {
            let ios: u64 = shared.iter().map(|s| s.ios.load(Ordering::Relaxed)).sum();
            let bytes: u64 = shared.iter().map(|s| s.bytes.load(Ordering::Relaxed)).sum();
            let errors: u64 = shared
                .iter()
                .map(|s| s.errors.load(Ordering::Relaxed))
                .sum();
            let verr: u64 = shared
                .iter()
                .map(|s| s.verify_errors.load(Ordering::Relaxed))
                .sum();
            let active = drills
                .active()
                .map(|k| format!(" ({} in progress)", k.name()))
                .unwrap_or_default();
            eprint!(
                "\r[{:6.1}s] {} IOPS, {}, errors {errors}, verify errors {verr}, drills {}{active}\x1b[K",
                (now - origin).as_secs_f64(),
                report::count((ios - last_ios) as f64),
                report::bin_rate((bytes - last_bytes) as f64),
                drills.records.len()
            );
            last_ios = ios;
            last_bytes = bytes;
            next_report += Duration::from_secs(1);
        }
        std::thread::sleep(if drills.active().is_some() {
            MGMT_INTERVAL_DRILL
        } else {
            MGMT_INTERVAL
        });
    }
    if progress {
        eprintln!();
    }
    let elapsed = clock.now() - origin;
    let mut jobs = Vec::new();
    for (h, info) in handles.into_iter().zip(infos) {
        let r = h.join().map_err(|_| PerfError::Job {
            job: jobs.len(),
            reason: "thread panicked".into(),
        })??;
        jobs.push((info, r));
    }
    if let Some(e) = drill_error {
        return Err(e);
    }
    let mut options = global_options(cli);
    options.insert("numjobs".into(), json!(numjobs.to_string()));
    Ok(Report {
        jobs,
        drills: drills.records,
        options,
        elapsed,
    })
}
