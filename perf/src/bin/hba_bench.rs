//! The SLI-4 driver benchmark (issue 5): 4 KiB random reads at queue depth 128
//! through the whole stack on the emulated HBA (`Transport` → `IoQpair` →
//! `HbaQueue` → WQ/CQ rings and doorbells → `emu::sli4` → `emu::target`, null
//! namespace). One thread, pinned, owns the queue pair, the `Hba` and the
//! management polls (every 10 ms, `--mgmt-ms`, off the I/O path); the model runs on
//! its own pinned thread (`--mode thread`, the default) or inside the driver's
//! polls (`--mode inline`, for callgrind). Prints IOPS, ns per I/O and the
//! completion latency percentiles.
//!
//! `--rss-pairs P --rss-xris X` instead opens the port with P queue pairs of X
//! exchanges each and prints the resident memory `Hba::open` added
//! (/proc/self/statm), for the per-queue-pair and per-XRI cost.
//!
//! `cargo run --release -p ufc-perf --bin hba_bench -- --ios 5000000`

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use ufc_emu::fabric::{Fabric, FabricConfig};
use ufc_emu::sli4::{Generation, Sli4Config, Sli4Model};
use ufc_hba::{Hba, HbaConfig};
use ufc_perf::backend::{self, Backend};
use ufc_perf::hba_world::{DeviceSpec, HbaSpec, HbaWorld};
use ufc_perf::workload::Rng;
use ufc_perf::world::{connect_options, subsystem_nqn, NsKind};
use ufc_transport::lldd::Sge;
use ufc_transport::{IoCompletion, Transport};
use ufc_vfio::Device;

/// Where the model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// On its own thread, pinned to --emu-cpu.
    Thread,
    /// Inside the driver's polls, on the benchmark thread.
    Inline,
}

/// SLI-4 driver benchmark on the emulated HBA with a null namespace.
#[derive(Debug, Parser)]
#[command(name = "hba_bench")]
struct Args {
    /// Measured I/Os (after warm-up).
    #[arg(long, default_value_t = 5_000_000)]
    ios: u64,
    /// Warm-up I/Os (not measured).
    #[arg(long, default_value_t = 500_000)]
    warmup: u64,
    /// Queue depth.
    #[arg(short = 'q', long, default_value_t = 128)]
    depth: usize,
    /// I/O size in bytes (a multiple of 4096, the namespace's block size).
    #[arg(short = 'o', long, default_value_t = 4096)]
    bs: u32,
    /// Where the model runs.
    #[arg(long, value_enum, default_value = "thread")]
    mode: Mode,
    /// CPU of the benchmark (driver) thread.
    #[arg(long, default_value_t = 0)]
    cpu: usize,
    /// CPU of the model thread (--mode thread).
    #[arg(long, default_value_t = 1)]
    emu_cpu: usize,
    /// The model thread spins when idle instead of yielding its CPU.
    #[arg(long)]
    emu_spin: bool,
    /// Management poll interval in ms (keep-alive, timers); a long one shows
    /// what keep-alive starvation does.
    #[arg(long, default_value_t = 10)]
    mgmt_ms: u64,
    /// Do not record latencies (the loop without its two clock reads per poll).
    #[arg(long)]
    no_lat: bool,
    /// The emulated target's service time (Sli4Config::fcp_latency): 20us …
    #[arg(long, value_parser = ufc_perf::parse::duration, default_value = "0")]
    emu_latency: Duration,
    /// Memory mode: queue pairs to open the port with.
    #[arg(long, requires = "rss_xris")]
    rss_pairs: Option<u16>,
    /// Memory mode: exchanges (XRIs) per queue pair.
    #[arg(long, requires = "rss_pairs")]
    rss_xris: Option<u16>,
}

const LBA: u32 = 4096;
const CAPACITY: u64 = 1 << 40;

fn main() -> ExitCode {
    env_logger::init();
    let args = Args::parse();
    let r = match (args.rss_pairs, args.rss_xris) {
        (Some(p), Some(x)) => rss(p, x),
        _ => run(&args),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hba_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resident pages of this process (/proc/self/statm, second field) in bytes.
fn resident() -> Result<u64, Box<dyn std::error::Error>> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .ok_or("/proc/self/statm has no resident field")?
        .parse()?;
    let page = match nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE) {
        Ok(Some(n)) if n > 0 => n as u64,
        _ => 4096,
    };
    Ok(pages * page)
}

fn rss(pairs: u16, xris: u16) -> Result<(), Box<dyn std::error::Error>> {
    let cfg = HbaConfig {
        io_queue_pairs: pairs,
        io_xris: xris,
        ..HbaConfig::default()
    };
    let fabric = Fabric::new(FabricConfig::default(), cfg.clock.clone())?;
    let me = fabric.config().host_ports[0].addr;
    let model = Sli4Model::new(
        Sli4Config::new(Generation::G7, me),
        fabric,
        cfg.clock.clone(),
    )?;
    let device = Device::from_model(model);
    let transport = Transport::new(cfg.clock.clone());
    let before = resident()?;
    let mut hba = Hba::open(device, cfg, Some(transport))?;
    let after = resident()?;
    println!(
        "hba_bench: Hba::open with {pairs} queue pairs x {xris} XRIs: resident +{} KiB",
        (after.saturating_sub(before)) / 1024
    );
    hba.shutdown()?;
    Ok(())
}

/// On-CPU and run-queue wait time (ns) of every thread of this process, by
/// name (/proc/self/task/*/schedstat): how much of the machine the run got.
fn thread_times() -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in dir.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        let mut f = stat
            .split_whitespace()
            .map(|x| x.parse::<u64>().unwrap_or(0));
        if let (Some(run), Some(wait)) = (f.next(), f.next()) {
            out.push((comm.trim().to_owned(), run, wait));
        }
    }
    out
}

fn pin(cpu: usize) -> Result<(), Box<dyn std::error::Error>> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)?;
    Ok(())
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.bs == 0 || args.bs % LBA != 0 || !(1..=247).contains(&args.depth) {
        return Err("--bs must be a non-zero multiple of 4096 and --depth 1..=247".into());
    }
    pin(args.cpu)?;
    let mut w = HbaWorld::build(&HbaSpec {
        device: DeviceSpec::Emu(None),
        namespace: NsKind::Null,
        lba_size: LBA,
        capacity: CAPACITY,
        subsystems: 1,
        emu_cpu: Some(args.emu_cpu),
        inline_model: args.mode == Mode::Inline,
        emu_spin: args.emu_spin,
        emu_latency: args.emu_latency,
        pcap: None,
        dev_loss_tmo: None,
        io_queue_pairs: 3,
        io_xris: (args.depth + 1) as u16,
        data_buf: args.bs as usize,
        data_bufs: args.depth,
        subnqns: Vec::new(),
    })?;
    let queue_size = u16::try_from(args.depth + 1)?.max(16);
    let ctrl = backend::connect(
        &mut w,
        connect_options(&subsystem_nqn(0), 1, queue_size),
        Duration::from_secs(10),
    )?;
    let ns = ctrl
        .namespaces()
        .into_iter()
        .next()
        .ok_or("the emulated subsystem reported no namespace")?;
    let mut qp = ctrl.alloc_io_qpair()?;
    let bufs = (0..args.depth)
        .map(|_| w.pool.alloc(args.bs as usize))
        .collect::<Option<Vec<_>>>()
        .ok_or("DMA pool exhausted")?;
    let sges: Vec<Sge> = bufs
        .iter()
        .map(|b| Sge {
            iova: b.iova(),
            len: args.bs,
        })
        .collect();
    let nlb = args.bs / LBA;
    let units = ns.num_lbas() / u64::from(nlb);
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let mut done: Vec<IoCompletion> = Vec::with_capacity(args.depth);
    // Bounds and precision are constants within hdrhistogram's limits.
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let mut t0 = vec![0u64; args.depth];
    let origin = Instant::now();
    let now_ns = || origin.elapsed().as_nanos() as u64;

    while !qp.is_live() {
        qp.poll(1, |_| {});
        w.poll()?;
    }
    let t = now_ns();
    for (i, sge) in sges.iter().enumerate() {
        t0[i] = t;
        let lba = rng.below(units) * u64::from(nlb);
        qp.submit_read(&ns, lba, nlb, std::slice::from_ref(sge), i as u64)?;
    }
    qp.flush();

    let mut errors = 0u64;
    let mut completed = 0u64;
    let total = args.warmup + args.ios;
    let mut start = Instant::now();
    let mut times0 = thread_times();
    let mut measuring = args.warmup == 0;
    let mut mgmt_tick = 0u32;
    let mut mgmt_at = Instant::now();
    let mut first_error = None;
    let mut polls = 0u64;
    let mut busy_polls = 0u64;
    while completed < total {
        qp.poll(args.depth as u32, |c| done.push(c));
        polls += 1;
        if !done.is_empty() {
            busy_polls += 1;
            let now = if args.no_lat { 0 } else { now_ns() };
            for c in done.drain(..) {
                completed += 1;
                if !c.status.is_success() {
                    errors += 1;
                    first_error.get_or_insert(c.status);
                }
                let slot = c.ctx as usize;
                if measuring && !args.no_lat {
                    hist.saturating_record(now.saturating_sub(t0[slot]).max(1));
                }
                t0[slot] = now;
                let lba = rng.below(units) * u64::from(nlb);
                qp.submit_read(&ns, lba, nlb, std::slice::from_ref(&sges[slot]), c.ctx)?;
            }
            qp.flush();
        }
        if !measuring && completed >= args.warmup {
            measuring = true;
            start = Instant::now();
            times0 = thread_times();
            (polls, busy_polls) = (0, 0);
        }
        // Keep-alive and timers: one clock read per 64 polls, management every 10 ms.
        mgmt_tick = mgmt_tick.wrapping_add(1);
        if mgmt_tick % 64 == 0 && mgmt_at.elapsed() >= Duration::from_millis(args.mgmt_ms) {
            w.poll()?;
            mgmt_at = Instant::now();
        }
    }
    let elapsed = start.elapsed();
    let times1 = thread_times();
    let measured = completed - args.warmup;
    let ns_per_io = elapsed.as_nanos() as f64 / measured as f64;
    println!(
        "hba_bench: emulated G7 (model {}), null namespace, {} B random read, QD {}: {} I/Os in {:.3} s",
        match args.mode {
            Mode::Thread => format!("thread on cpu {}", args.emu_cpu),
            Mode::Inline => "inline".to_owned(),
        },
        args.bs,
        args.depth,
        measured,
        elapsed.as_secs_f64()
    );
    println!(
        "  {:.0} IOPS ({:.3} M), {:.1} ns per I/O, {} errors, {:.1} completions per busy poll, {:.0} % of polls busy",
        1e9 / ns_per_io,
        1e3 / ns_per_io,
        ns_per_io,
        errors,
        measured as f64 / busy_polls.max(1) as f64,
        100.0 * busy_polls as f64 / polls.max(1) as f64
    );
    if !args.no_lat {
        let q = |p: f64| hist.value_at_quantile(p) as f64 / 1e3;
        println!(
            "  latency (us): p50 {:.1}, p99 {:.1}, p99.9 {:.1}, max {:.1}, mean {:.1}",
            q(0.50),
            q(0.99),
            q(0.999),
            hist.max() as f64 / 1e3,
            hist.mean() / 1e3
        );
    }
    // A shared machine takes CPU time away from either thread: say how much.
    for (name, run1, wait1) in &times1 {
        let (run0, wait0) = times0
            .iter()
            .find(|t| &t.0 == name)
            .map_or((0, 0), |t| (t.1, t.2));
        let (run, wait) = (run1 - run0.min(*run1), wait1 - wait0.min(*wait1));
        if run > elapsed.as_nanos() as u64 / 100 {
            println!(
                "  thread {name}: on CPU {:.0} %, waiting for a CPU {:.0} % of the run",
                100.0 * run as f64 / elapsed.as_nanos() as f64,
                100.0 * wait as f64 / elapsed.as_nanos() as f64
            );
        }
    }
    let st = qp.stats();
    println!(
        "  queue pair: {} submitted, {} completed, {} errors, {} replayed, {} timeouts",
        st.submitted, st.completed, st.errors, st.replayed, st.timeouts
    );
    drop(qp);
    ctrl.delete()?;
    let start = Instant::now();
    while !w.transport.stats().ctrls.is_empty() && start.elapsed() < Duration::from_secs(10) {
        w.poll()?;
    }
    if errors > 0 {
        return Err(format!("{errors} I/O errors, the first {first_error:?}").into());
    }
    Ok(())
}
