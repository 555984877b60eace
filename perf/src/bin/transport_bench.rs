//! The transport benchmark: one thread, fcloop inline, a null namespace, 4 KiB
//! random reads at queue depth 128 through the whole host stack
//! (`Transport` → `IoQpair` → `FcloopLldd` → `TargetPort`). Prints IOPS and ns
//! per I/O. The loop is the minimum an application does: poll, count, resubmit.
//!
//! `cargo run --release -p ufc-perf --bin transport_bench -- --ios 5000000`

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use ufc_transport::lldd::Sge;
use ufc_transport::IoCompletion;
use ufc_vfio::dma::DmaBuf;

use ufc_perf::backend;
use ufc_perf::cpu_time::{cpu_time, UsageWho};
use ufc_perf::workload::Rng;
use ufc_perf::world::{self, EmuSpec, NsKind, World};

/// Single-thread transport benchmark on fcloop with a null namespace.
#[derive(Debug, Parser)]
#[command(name = "transport_bench")]
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
    /// I/O size in bytes (a multiple of 512).
    #[arg(short = 'o', long, default_value_t = 4096)]
    bs: u32,
}

const LBA: u32 = 512;
const CAPACITY: u64 = 1 << 40;

/// CPU time of this process (user + kernel); the benchmark is one thread.
fn process_cpu() -> Duration {
    let (usr, sys) = cpu_time(UsageWho::RUSAGE_SELF);
    usr + sys
}

fn main() -> ExitCode {
    env_logger::init();
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("transport_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.bs == 0 || args.bs % LBA != 0 || !(1..=1023).contains(&args.depth) {
        return Err("--bs must be a non-zero multiple of 512 and --depth 1..=1023".into());
    }
    let mut w = World::build(&EmuSpec {
        namespace: NsKind::Null,
        lba_size: LBA,
        capacity: CAPACITY,
        subsystems: 1,
        latency: Duration::ZERO,
        dev_loss_tmo: None,
        data_buf: args.bs as usize,
        data_bufs: args.depth,
    })?;
    let queue_size = u16::try_from(args.depth + 1)?.max(16);
    let ctrl = backend::connect(
        &mut w,
        world::connect_options(&world::subsystem_nqn(0), 1, queue_size),
        Duration::from_secs(10),
    )?;
    let ns = ctrl
        .namespaces()
        .into_iter()
        .next()
        .ok_or("the emulated subsystem reported no namespace")?;
    let mut qp = ctrl.alloc_io_qpair()?;
    let bufs: Vec<DmaBuf> = (0..args.depth)
        .map(|_| w.pool.alloc(args.bs as usize))
        .collect::<Option<_>>()
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

    // Bring the queue pair live before the first submission.
    while !qp.is_live() {
        qp.poll(1, |_| {});
        w.transport.poll();
    }
    for (i, sge) in sges.iter().enumerate() {
        qp.submit_read(
            &ns,
            rng.below(units) * u64::from(nlb),
            nlb,
            std::slice::from_ref(sge),
            i as u64,
        )?;
    }

    let mut errors = 0u64;
    let mut completed = 0u64;
    let total = args.warmup + args.ios;
    let mut start = Instant::now();
    let mut cpu_start = process_cpu();
    let mut measuring = args.warmup == 0;
    let mut mgmt_tick = 0u32;
    while completed < total {
        qp.poll(args.depth as u32, |c| done.push(c));
        for c in done.drain(..) {
            completed += 1;
            errors += u64::from(!c.status.is_success());
            let slot = c.ctx as usize;
            let lba = rng.below(units) * u64::from(nlb);
            qp.submit_read(&ns, lba, nlb, std::slice::from_ref(&sges[slot]), c.ctx)?;
        }
        if !measuring && completed >= args.warmup {
            measuring = true;
            start = Instant::now();
            cpu_start = process_cpu();
        }
        // Keep-alive and timers: management every 64 K polls, off the I/O path.
        mgmt_tick = mgmt_tick.wrapping_add(1);
        if mgmt_tick % 65536 == 0 {
            w.transport.poll();
        }
    }
    let elapsed = start.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_start);
    let measured = completed - args.warmup;
    let ns_per_io = elapsed.as_nanos() as f64 / measured as f64;
    println!(
        "transport_bench: fcloop inline, null namespace, {} B random read, QD {}: {} I/Os in {:.3} s",
        args.bs,
        args.depth,
        measured,
        elapsed.as_secs_f64()
    );
    println!(
        "  {:.0} IOPS ({:.2} M), {:.1} ns per I/O, {} errors",
        1e9 / ns_per_io,
        1e3 / ns_per_io,
        ns_per_io,
        errors
    );
    // On a shared machine the thread loses its CPU now and then: the rate per
    // CPU-second is what compares with fcperf's (its jobs' usr_cpu + sys_cpu).
    println!(
        "  {:.0} I/Os per CPU-second ({:.2} M), {:.1} CPU-ns per I/O, {:.1} % of the time on CPU",
        measured as f64 / cpu.as_secs_f64(),
        measured as f64 / cpu.as_secs_f64() / 1e6,
        cpu.as_nanos() as f64 / measured as f64,
        100.0 * cpu.as_secs_f64() / elapsed.as_secs_f64()
    );
    let st = qp.stats();
    println!(
        "  queue pair: {} submitted, {} completed, {} errors, {} replayed, {} timeouts",
        st.submitted, st.completed, st.errors, st.replayed, st.timeouts
    );
    if errors > 0 {
        return Err(format!("{errors} I/O errors").into());
    }
    Ok(())
}
