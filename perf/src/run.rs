//! One fcperf run: resolve the options, build the backend (the SLI-4 driver on
//! its device, or fcloop), connect, start one thread per job, drive management
//! and the drills on this thread, print progress, collect the results.

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use ufc_hba::driver::MAX_IO_XRIS;
use ufc_transport::wwn::FcAddr;
use ufc_transport::{ConnectOptions, Controller};

use crate::backend::{connect, Backend, Reachable};
use crate::cli::{Cli, LlddKind, OutputFormat};
use crate::drill::{DrillKind, Drills};
use crate::error::PerfError;
use crate::hba_world::{DeviceSpec, HbaSpec, HbaWorld};
use crate::job::{self, JobShared, JobSpec};
use crate::report::{self, JobInfo, Report};
use crate::world::{EmuSpec, NsKind, World};

/// Default measured time when neither --runtime nor --size is given.
const DEFAULT_RUNTIME: Duration = Duration::from_secs(10);
/// Bound on waiting for I/O still outstanding at the end.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Most units a verifying job tracks (8 bytes each).
const MAX_VERIFY_UNITS: u64 = 1 << 26;
/// No drill starts this close to the end of a timed run.
const DRILL_MARGIN: Duration = Duration::from_millis(100);
/// Management poll interval (keep-alive is kato/2 = 2.5 s; timers have
/// millisecond granularity).
const MGMT_INTERVAL: Duration = Duration::from_millis(1);
/// Management poll interval while a drill runs: reconnection takes a handful of
/// management passes, each of which would otherwise wait a full interval.
const MGMT_INTERVAL_DRILL: Duration = Duration::from_micros(20);

fn usage(option: &'static str, reason: impl Into<String>) -> PerfError {
    PerfError::Usage {
        option,
        reason: reason.into(),
    }
}

/// One connection target: a subsystem behind a target port, optionally one
/// namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    traddr: FcAddr,
    subnqn: String,
    nsid: Option<u32>,
}

fn list(available: &[Reachable]) -> String {
    available
        .iter()
        .map(|r| format!("{} {}", r.traddr, r.subnqn))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The subsystems (and namespaces) the run connects to: every one the fabric
/// reports, or those `--traddr`, `--subnqn` and `-r` pick.
fn targets(cli: &Cli, available: &[Reachable], host: FcAddr) -> Result<Vec<Target>, PerfError> {
    let pick = |option: &'static str,
                traddr: Option<FcAddr>,
                subnqn: Option<&str>,
                nsid: Option<u32>|
     -> Result<Vec<Target>, PerfError> {
        let found: Vec<Target> = available
            .iter()
            .filter(|r| traddr.is_none_or(|a| a == r.traddr))
            .filter(|r| subnqn.is_none_or(|n| n == r.subnqn))
            .map(|r| Target {
                traddr: r.traddr,
                subnqn: r.subnqn.clone(),
                nsid,
            })
            .collect();
        if found.is_empty() {
            let what = match (traddr, subnqn) {
                (Some(a), Some(n)) => format!("subsystem {n} behind {a}"),
                (Some(a), None) => format!("target port {a}"),
                (None, Some(n)) => format!("subsystem {n}"),
                (None, None) => "any subsystem".to_owned(),
            };
            return Err(usage(
                option,
                format!(
                    "{what} is not on the fabric; it has: {}",
                    if available.is_empty() {
                        "nothing".to_owned()
                    } else {
                        list(available)
                    }
                ),
            ));
        }
        Ok(found)
    };
    let mut out = Vec::new();
    for t in &cli.trids {
        if let Some(h) = t.host_traddr {
            if h != host {
                return Err(usage(
                    "--transport host_traddr",
                    format!("{h} is not this host's port; it is {host}"),
                ));
            }
        }
        for k in &t.ignored {
            log::warn!("transport ID key '{k}' is not used by fcperf; ignored");
        }
        out.extend(pick(
            "--transport",
            t.traddr.or(cli.traddr),
            t.subnqn.as_deref(),
            t.nsid,
        )?);
    }
    if out.is_empty() {
        let option = if cli.subnqn.is_some() {
            "--subnqn"
        } else {
            "--traddr"
        };
        out = pick(option, cli.traddr, cli.subnqn.as_deref(), None)?;
    }
    out.dedup();
    Ok(out)
}

/// The options as fio's `global options` (strings, as fio prints them).
fn global_options(cli: &Cli, ioengine: &str) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_owned(), Value::String(v));
    };
    put("rw", cli.rw.name().to_owned());
    put("bs", cli.bs.to_string());
    put("iodepth", cli.iodepth.to_string());
    put("ioengine", ioengine.to_owned());
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

/// What the options resolve to, before anything is built.
#[derive(Clone, Debug)]
struct Plan {
    numjobs: usize,
    cpus: Vec<usize>,
    read_pct: u8,
    capacity: u64,
    io_limit: Option<u64>,
    runtime: Option<Duration>,
    ramp: Duration,
}

fn plan(cli: &Cli, max_jobs: usize) -> Result<Plan, PerfError> {
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
    if numjobs == 0 || numjobs > max_jobs {
        return Err(usage(
            "--numjobs",
            format!("expected 1 to {max_jobs} (one hardware queue per job)"),
        ));
    }
    let cpus = (0..numjobs)
        .map(|i| match &cpu_list {
            Some(l) => l[i % l.len()],
            None => i % ncpu,
        })
        .collect();
    let read_pct = cli
        .rw
        .fixed_read_pct()
        .unwrap_or(cli.rwmixread.unwrap_or(50));
    let capacity = cli.emu_ns_size.unwrap_or(match cli.emu_namespace {
        NsKind::Null => 1 << 40,
        NsKind::Ram | NsKind::File(_) => 1 << 30,
    });
    // Checked again against each namespace the run connects to.
    region(cli, capacity, cli.emu_lba_size, numjobs)?;
    let io_limit = (!cli.time_based).then_some(cli.size).flatten();
    let runtime = match (cli.runtime, io_limit) {
        (Some(r), _) => Some(r),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_RUNTIME),
    };
    Ok(Plan {
        numjobs,
        cpus,
        read_pct,
        capacity,
        io_limit,
        runtime,
        ramp: cli.ramp_time.unwrap_or_default(),
    })
}

/// A job's region on a namespace of `ns_bytes` bytes in `lba`-byte blocks:
/// (units of `--bs` per job, whether the jobs split the region).
fn region(cli: &Cli, ns_bytes: u64, lba: u32, numjobs: usize) -> Result<(u64, bool), PerfError> {
    let bs = u64::from(cli.bs);
    if cli.bs % lba != 0 {
        return Err(usage(
            "--bs",
            format!(
                "{} is not a multiple of the namespace's {lba}-byte block size",
                cli.bs
            ),
        ));
    }
    if cli.offset % u64::from(lba) != 0 || cli.offset >= ns_bytes {
        return Err(usage(
            "--offset",
            format!(
                "{} must be a multiple of the block size and below the namespace size {ns_bytes}",
                cli.offset
            ),
        ));
    }
    let size = cli.size.unwrap_or(ns_bytes - cli.offset);
    if cli.offset + size > ns_bytes || size < bs {
        return Err(usage(
            "--size",
            format!(
                "{size} bytes from offset {} do not fit the {ns_bytes}-byte namespace or hold one {bs}-byte I/O; set --emu-ns-size or a smaller --size",
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
    Ok((units_per_job, split))
}

/// Controllers the run connects (one per target, at most one per job) and
/// I/O queues per controller.
fn controllers(targets: usize, numjobs: usize) -> (usize, usize) {
    let n = targets.min(numjobs).max(1);
    (n, numjobs.div_ceil(n))
}

/// Runs fcperf as `cli` says; the caller prints the report.
pub fn run(cli: &Cli) -> Result<Report, PerfError> {
    if cli.lldd == Some(LlddKind::Fcloop) {
        return run_fcloop(cli);
    }
    let device = cli.device.clone().unwrap_or(DeviceSpec::Emu(None));
    if !cli.emu_latency.is_zero() && matches!(device, DeviceSpec::Pci(_)) {
        return Err(usage(
            "--emu-latency",
            "sets the emulated target's service time; a real HBA's latency is the fabric's. Use --device emu",
        ));
    }
    if cli.pcap.is_some() && matches!(device, DeviceSpec::Pci(_)) {
        return Err(usage(
            "--pcap",
            "captures the emulated link only; use --device emu",
        ));
    }
    if cli.emu_cpu.is_some() && matches!(device, DeviceSpec::Pci(_)) {
        return Err(usage(
            "--emu-cpu",
            "places the emulated HBA's model thread; a real HBA has none",
        ));
    }
    // The driver's queue pairs: an admin queue and per_ctrl I/O queues per
    // controller, and a spare.
    let max_jobs = 16;
    let p = plan(cli, max_jobs)?;
    if cli.iodepth > usize::from(MAX_IO_XRIS) {
        return Err(usage(
            "--iodepth",
            format!(
                "{} is deeper than an HBA queue pair's {MAX_IO_XRIS} exchanges",
                cli.iodepth
            ),
        ));
    }
    let ctrls_max = cli
        .emu_subsystems
        .max(1)
        .max(cli.trids.len())
        .min(p.numjobs);
    let per_ctrl = p.numjobs.div_ceil(ctrls_max.max(1));
    let pairs = ctrls_max * (1 + per_ctrl) + 1;
    // Beyond the job's depth: the admin queue and held requests during a
    // reconnection stay within it.
    let io_xris = (cli.iodepth as u16 + 1).clamp(32, MAX_IO_XRIS);
    // Spread the model thread away from the jobs when there is a free CPU.
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let emu_cpu = cli
        .emu_cpu
        .or_else(|| (0..ncpu).rev().find(|c| !p.cpus.contains(c)));
    let mut subnqns: Vec<String> = cli.trids.iter().filter_map(|t| t.subnqn.clone()).collect();
    subnqns.extend(cli.subnqn.clone());
    let mut world = HbaWorld::build(&HbaSpec {
        device,
        namespace: cli.emu_namespace.clone(),
        lba_size: cli.emu_lba_size,
        capacity: p.capacity,
        subsystems: cli.emu_subsystems.max(1),
        emu_cpu,
        inline_model: false,
        emu_spin: false,
        emu_latency: cli.emu_latency,
        pcap: cli.pcap.clone(),
        dev_loss_tmo: cli.dev_loss_tmo,
        io_queue_pairs: u16::try_from(pairs).unwrap_or(u16::MAX),
        io_xris,
        data_buf: cli.bs as usize,
        data_bufs: cli.iodepth * p.numjobs,
        subnqns,
    })?;
    let normal = cli.output_format == OutputFormat::Normal;
    if normal {
        if let Some(c) = emu_cpu {
            println!("Emulated HBA model thread on lcore {c}");
        }
    }
    run_on(&mut world, cli, &p)
}

fn run_fcloop(cli: &Cli) -> Result<Report, PerfError> {
    if let Some(c) = cli.emu_cpu {
        eprintln!("fcperf: --emu-cpu {c} applies to the SLI-4 HBA model; fcloop runs the target inline on each job's thread");
    }
    if let Some(p) = &cli.pcap {
        eprintln!(
            "fcperf: --pcap {} applies to the SLI-4 HBA model; fcloop has no link to capture",
            p.display()
        );
    }
    let p = plan(cli, 16)?;
    let mut world = World::build(&EmuSpec {
        namespace: cli.emu_namespace.clone(),
        lba_size: cli.emu_lba_size,
        capacity: p.capacity,
        subsystems: cli.emu_subsystems.max(1),
        latency: cli.emu_latency,
        dev_loss_tmo: cli.dev_loss_tmo,
        data_buf: cli.bs as usize,
        data_bufs: cli.iodepth * p.numjobs,
    })?;
    run_on(&mut world, cli, &p)
}

fn run_on<B: Backend>(world: &mut B, cli: &Cli, p: &Plan) -> Result<Report, PerfError> {
    let numjobs = p.numjobs;
    let bs = u64::from(cli.bs);
    // The drills asked for, with their intervals.
    let every: Vec<(DrillKind, Duration)> = [
        (DrillKind::Restart, cli.restart_every),
        (DrillKind::LinkBounce, cli.link_bounce_every),
        (DrillKind::FwError, cli.fw_error_every),
    ]
    .into_iter()
    .filter_map(|(kind, every)| Some((kind, every?)))
    .collect();
    for &(kind, _) in &every {
        if let Err(reason) = world.supports(kind) {
            let option = match kind {
                DrillKind::Restart => "--restart-every",
                DrillKind::LinkBounce => "--link-bounce-every",
                DrillKind::FwError => "--fw-error-every",
            };
            return Err(usage(option, reason));
        }
    }
    let targets = targets(cli, &world.reachable(), world.host_addr())?;
    let normal = cli.output_format == OutputFormat::Normal;
    if normal {
        println!("Initializing NVMe Controllers");
    }
    let (nctrl, per_ctrl) = controllers(targets.len(), numjobs);
    let queue_size = u16::try_from(cli.iodepth + 1).unwrap_or(1024).max(16);
    let host = world.host_addr();
    let mut ctrls: Vec<(Controller<B::L>, &Target)> = Vec::new();
    for t in targets.iter().take(nctrl) {
        let mut o = ConnectOptions::new(t.traddr, host, &t.subnqn);
        o.nr_io_queues = per_ctrl as u16;
        o.queue_size = queue_size;
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
        let c = connect(world, o, Duration::from_secs(10))?;
        if normal {
            println!(
                "Attached to NVMe over FC Controller at traddr:{} subnqn:{}",
                t.traddr, t.subnqn
            );
        }
        ctrls.push((c, t));
    }

    let clock = world.transport().clock().clone();
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
            .map(|_| world.pool().alloc(cli.bs as usize))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| PerfError::Emu("DMA pool exhausted".into()))?;
        let cpu = p.cpus[i];
        let lba = u64::from(ns.lba_size());
        let (units_per_job, split) = region(cli, ns.num_lbas() * lba, ns.lba_size(), numjobs)?;
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
            read_pct: p.read_pct,
            bs: cli.bs,
            depth: cli.iodepth,
            start_lba,
            units: units_per_job,
            norandommap: cli.norandommap,
            verify: cli.verify,
            ramp: p.ramp,
            runtime: p.runtime,
            io_limit: p
                .io_limit
                .map(|l| if split { l / numjobs as u64 } else { l }),
            drain_timeout: DRAIN_TIMEOUT,
            seed: cli.seed.wrapping_add(i as u64 * 0x9E37_79B9),
        };
        infos.push(JobInfo {
            name: format!("job{i}"),
            device: format!(
                "FC (traddr:{} subnqn:{}) NSID {}",
                t.traddr,
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
            .spawn(move || job::run::<B::L>(&spec, qp, ns, bufs, clock, sh))
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
    // Management wakes up every MGMT_INTERVAL: on a CPU of its own when there
    // is one (it would preempt a job or the model thread); otherwise where the
    // scheduler puts it.
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = world.model_cpu();
    if let Some(cpu) = (0..ncpu)
        .rev()
        .find(|c| !p.cpus.contains(c) && model != Some(*c))
    {
        if let Err(e) = job::pin(cpu) {
            log::warn!("management thread stays unpinned: {e}");
        }
    }

    let origin = clock.now();
    let mut drills = Drills::new(&every, origin);
    let ramp = p.ramp;
    let run_end = p.runtime.map(|r| origin + ramp + r);
    let progress = std::io::stderr().is_terminal();
    let mut next_report = origin + Duration::from_secs(1);
    let (mut last_ios, mut last_bytes) = (0u64, 0u64);
    let hard_stop =
        origin + ramp + p.runtime.unwrap_or(Duration::from_secs(3600)) + DRAIN_TIMEOUT * 3;
    let mut run_error = None;
    let stop_all = |shared: &[Arc<JobShared>]| {
        for s in shared {
            s.stop.store(true, Ordering::Relaxed);
        }
    };
    loop {
        if run_error.is_none() {
            if let Err(e) = world.poll() {
                log::error!("{e}");
                run_error = Some(e);
                stop_all(&shared);
            }
        }
        let now = clock.now();
        let finished = shared
            .iter()
            .filter(|s| s.finished.load(Ordering::Acquire))
            .count();
        if run_error.is_none() {
            // A drill needs I/O after it to measure the resume: none in the last
            // DRILL_MARGIN of a timed run.
            let start_new = finished == 0 && run_end.is_none_or(|end| now + DRILL_MARGIN < end);
            if let Err(e) = drills.tick(world, now, &shared, start_new) {
                log::error!("{e}");
                run_error = Some(e);
                stop_all(&shared);
            }
        }
        if finished == shared.len() && (drills.active().is_none() || run_error.is_some()) {
            break;
        }
        if now >= hard_stop {
            stop_all(&shared);
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
    if let Some(e) = run_error {
        return Err(e);
    }
    disconnect(world, ctrls.into_iter().map(|(c, _)| c).collect());
    let mut options = global_options(cli, world.ioengine());
    options.insert("numjobs".into(), json!(numjobs.to_string()));
    Ok(Report {
        jobs,
        drills: drills.records,
        options,
        elapsed,
    })
}

/// Deletes the controllers and waits (bounded) until the transport let them go,
/// so the driver shuts down with no association left.
fn disconnect<B: Backend>(world: &mut B, ctrls: Vec<Controller<B::L>>) {
    for c in ctrls {
        if let Err(e) = c.delete() {
            log::warn!("deleting controller {}: {e}", c.name());
        }
    }
    let clock = world.transport().clock().clone();
    let start = clock.now();
    while !world.transport().stats().ctrls.is_empty() {
        if let Err(e) = world.poll() {
            log::warn!("{e}");
            return;
        }
        if clock.now() - start > DRAIN_TIMEOUT {
            log::warn!("controllers still present {DRAIN_TIMEOUT:?} after their delete");
            return;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}
