//! One job: a thread pinned to its CPU that owns one queue pair and keeps
//! `iodepth` I/Os in flight on it.
//!
//! The loop per poll: reap completions, take one clock reading for the batch,
//! record their latencies, resubmit. Counters for the progress line and the
//! drills are published with plain stores (no read-modify-write). With
//! `--verify`, a read-only pattern first writes every unit of the job's region
//! (not measured), a write-only pattern reads every written unit back at the
//! end, and mixed patterns check reads as they go.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ufc_transport::lldd::{Lldd, Sge};
use ufc_transport::{Clock, IoCompletion, IoQpair, IoSubmitError, Namespace};
use ufc_vfio::dma::DmaBuf;

use crate::cpu_time::{cpu_time, UsageWho};
use crate::error::PerfError;
use crate::parse::Pattern;
use crate::stats::DirStats;
use crate::verify::{self, VerifyKind};
use crate::workload::{Offsets, Rng};

/// What one job does.
#[derive(Clone, Debug)]
pub struct JobSpec {
    /// Job number (0-based).
    pub index: usize,
    /// CPU to pin to.
    pub cpu: Option<usize>,
    /// I/O pattern.
    pub pattern: Pattern,
    /// Percentage of reads.
    pub read_pct: u8,
    /// Bytes per I/O.
    pub bs: u32,
    /// I/Os in flight.
    pub depth: usize,
    /// First LBA of the job's region.
    pub start_lba: u64,
    /// Units of `bs` in the region.
    pub units: u64,
    /// Uniform random offsets instead of the random map.
    pub norandommap: bool,
    /// Check reads.
    pub verify: Option<VerifyKind>,
    /// Run before measuring.
    pub ramp: Duration,
    /// Measured run time (`None`: until `io_limit` bytes).
    pub runtime: Option<Duration>,
    /// Stop after this many bytes (fio `size` without `time_based`).
    pub io_limit: Option<u64>,
    /// How long to wait for outstanding I/O at the end.
    pub drain_timeout: Duration,
    /// Random seed.
    pub seed: u64,
}

/// Counters the main thread reads while the job runs.
#[derive(Debug, Default)]
pub struct JobShared {
    /// Completed I/Os since the start (ramp included).
    pub ios: AtomicU64,
    /// Bytes of them.
    pub bytes: AtomicU64,
    /// Completions with an error status.
    pub errors: AtomicU64,
    /// Reads that did not verify.
    pub verify_errors: AtomicU64,
    /// Transport clock (ns) of the last batch with a successful completion.
    pub last_ok_ns: AtomicU64,
    /// Set by the main thread to end the run early.
    pub stop: AtomicBool,
    /// Set by the job when it returns.
    pub finished: AtomicBool,
}

/// What a job measured.
#[derive(Clone, Debug)]
pub struct JobResult {
    /// Job number.
    pub index: usize,
    /// CPU it ran on.
    pub cpu: Option<usize>,
    /// Reads.
    pub read: DirStats,
    /// Writes.
    pub write: DirStats,
    /// I/O errors (error status, refused submissions, I/O left at the end).
    pub errors: u64,
    /// Reads that did not verify.
    pub verify_errors: u64,
    /// Reads checked against what this run wrote.
    pub verified: u64,
    /// Measured time.
    pub runtime: Duration,
    /// CPU time of the job's thread in user mode while measuring.
    pub usr_cpu: Duration,
    /// CPU time of the job's thread in the kernel while measuring.
    pub sys_cpu: Duration,
    /// The first few error descriptions.
    pub error_log: Vec<String>,
}

const ERROR_LOG_MAX: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Read,
    Write,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Prefill,
    Main,
    Readback,
}

struct Slot {
    buf: DmaBuf,
    sge: Sge,
    unit: u64,
    op: Op,
    generation: u64,
    t0: u64,
}

struct Job<'a, L: Lldd> {
    spec: &'a JobSpec,
    qp: IoQpair<L::HwQueue>,
    ns: Namespace<L>,
    clock: Clock,
    shared: Arc<JobShared>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    retry: Vec<usize>,
    done: Vec<IoCompletion>,
    rng: Rng,
    offsets: Offsets,
    nlb: u32,
    lba_per_unit: u64,
    /// Per unit: last generation written (verify only; 0 = never, MAX = unknown).
    gens: Vec<u64>,
    /// Per unit: an I/O is in flight (verify only).
    busy: Vec<bool>,
    next_gen: u64,
    read: DirStats,
    write: DirStats,
    errors: u64,
    verify_errors: u64,
    verified: u64,
    error_log: Vec<String>,
    total_ios: u64,
    issued_bytes: u64,
    seq_next: u64,
    recording: bool,
    measure_start: u64,
    /// Thread CPU time (user, kernel) over the measured part of the main phase.
    cpu: (Duration, Duration),
    scratch: Vec<u8>,
    /// Completions of one batch share a clock reading, and at high depth most were
    /// submitted in the same batch too: equal latencies go into the histogram as
    /// one run.
    run: LatRun,
    /// The current batch had a successful completion.
    batch_ok: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct LatRun {
    write: bool,
    lat: u64,
    n: u64,
}

/// Runs a job to its end on the calling thread (pinned first).
pub fn run<L: Lldd>(
    spec: &JobSpec,
    qp: IoQpair<L::HwQueue>,
    ns: Namespace<L>,
    bufs: Vec<DmaBuf>,
    clock: Clock,
    shared: Arc<JobShared>,
) -> Result<JobResult, PerfError> {
    if let Some(cpu) = spec.cpu {
        pin(cpu).map_err(|reason| PerfError::Job {
            job: spec.index,
            reason,
        })?;
    }
    let lba = ns.lba_size();
    if spec.bs % lba != 0 {
        return Err(PerfError::Job {
            job: spec.index,
            reason: format!(
                "--bs {} is not a multiple of the {lba}-byte block size",
                spec.bs
            ),
        });
    }
    let nlb = spec.bs / lba;
    let mut rng = Rng::new(spec.seed);
    let offsets = Offsets::new(
        spec.pattern.random(),
        spec.norandommap,
        spec.units,
        &mut rng,
    );
    let slots = bufs
        .into_iter()
        .take(spec.depth)
        .map(|buf| Slot {
            sge: Sge {
                iova: buf.iova(),
                len: spec.bs,
            },
            buf,
            unit: 0,
            op: Op::Read,
            generation: 0,
            t0: 0,
        })
        .collect::<Vec<_>>();
    let depth = slots.len();
    let verify_units = if spec.verify.is_some() {
        usize::try_from(spec.units).unwrap_or(usize::MAX)
    } else {
        0
    };
    let mut job = Job {
        spec,
        qp,
        ns,
        clock,
        shared,
        free: (0..depth).rev().collect(),
        retry: Vec::with_capacity(depth),
        done: Vec::with_capacity(depth),
        slots,
        rng,
        offsets,
        nlb,
        lba_per_unit: u64::from(nlb),
        gens: vec![0; verify_units],
        busy: vec![false; verify_units],
        next_gen: 1,
        read: DirStats::new(),
        write: DirStats::new(),
        errors: 0,
        verify_errors: 0,
        verified: 0,
        error_log: Vec::new(),
        total_ios: 0,
        issued_bytes: 0,
        seq_next: 0,
        recording: false,
        measure_start: 0,
        cpu: (Duration::ZERO, Duration::ZERO),
        scratch: vec![0; spec.bs as usize],
        run: LatRun::default(),
        batch_ok: false,
    };
    job.wait_live()?;
    let only_reads = spec.pattern.fixed_read_pct() == Some(100);
    let only_writes = spec.pattern.fixed_read_pct() == Some(0);
    if spec.verify.is_some() && only_reads {
        job.phase(Phase::Prefill);
    }
    let runtime = job.phase(Phase::Main);
    if spec.verify.is_some() && only_writes {
        job.seq_next = 0;
        job.phase(Phase::Readback);
    }
    job.publish(job.now());
    job.shared.finished.store(true, Ordering::Release);
    Ok(JobResult {
        index: spec.index,
        cpu: spec.cpu,
        read: job.read,
        write: job.write,
        errors: job.errors,
        verify_errors: job.verify_errors,
        verified: job.verified,
        runtime,
        usr_cpu: job.cpu.0,
        sys_cpu: job.cpu.1,
        error_log: job.error_log,
    })
}

/// CPU time of the calling thread (user, kernel); a syscall, never on the I/O path.
fn thread_cpu() -> (Duration, Duration) {
    cpu_time(UsageWho::RUSAGE_THREAD)
}

pub(crate) fn pin(cpu: usize) -> Result<(), String> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)
        .map_err(|e| format!("CPU {cpu} is out of range: {e}"))?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).map_err(|e| {
        format!(
            "cannot pin to CPU {cpu}: {e}; pick CPUs from `nproc`/taskset -p $$ with --cpus or -c"
        )
    })
}

impl<L: Lldd> Job<'_, L> {
    #[inline]
    fn now(&self) -> u64 {
        u64::try_from(self.clock.now().as_nanos()).unwrap_or(u64::MAX)
    }

    fn log_error(&mut self, msg: String) {
        if self.error_log.len() < ERROR_LOG_MAX {
            log::error!("job{}: {msg}", self.spec.index);
            self.error_log.push(msg);
        }
    }

    /// The queue pair attaches when management polls; wait for it (10 s bound).
    fn wait_live(&mut self) -> Result<(), PerfError> {
        let start = self.now();
        while !self.qp.is_live() {
            self.qp.poll(1, |_| {});
            if self.now() - start > 10_000_000_000 {
                return Err(PerfError::Job {
                    job: self.spec.index,
                    reason: "queue pair did not attach within 10 s".into(),
                });
            }
            std::thread::yield_now();
        }
        Ok(())
    }

    fn publish(&self, now: u64) {
        let s = &self.shared;
        s.ios.store(self.total_ios, Ordering::Relaxed);
        s.bytes
            .store(self.total_ios * u64::from(self.spec.bs), Ordering::Relaxed);
        s.errors.store(self.errors, Ordering::Relaxed);
        s.verify_errors.store(self.verify_errors, Ordering::Relaxed);
        if self.batch_ok {
            s.last_ok_ns.store(now, Ordering::Release);
        }
    }

    /// The next I/O of `phase`, or `None` when the phase has issued everything.
    #[inline]
    fn next_op<const V: bool>(&mut self, phase: Phase) -> Option<(u64, Op)> {
        if V || phase != Phase::Main {
            return self.next_op_tracked(phase);
        }
        if let Some(limit) = self.spec.io_limit {
            if self.issued_bytes >= limit {
                return None;
            }
        }
        let op = self.pick_op();
        Some((self.offsets.next(&mut self.rng), op))
    }

    #[inline]
    fn pick_op(&mut self) -> Op {
        match self.spec.read_pct {
            100 => Op::Read,
            0 => Op::Write,
            pct if (self.rng.below(100) as u8) < pct => Op::Read,
            _ => Op::Write,
        }
    }

    /// [`Self::next_op`] for the verify phases and with `--verify` (units tracked).
    #[inline(never)]
    fn next_op_tracked(&mut self, phase: Phase) -> Option<(u64, Op)> {
        match phase {
            Phase::Prefill => {
                let u = self.seq_next;
                self.seq_next += 1;
                (u < self.spec.units).then_some((u, Op::Write))
            }
            Phase::Readback => loop {
                let u = self.seq_next;
                if u >= self.spec.units {
                    return None;
                }
                self.seq_next += 1;
                if self
                    .gens
                    .get(u as usize)
                    .is_some_and(|&g| g != 0 && g != u64::MAX)
                {
                    return Some((u, Op::Read));
                }
            },
            Phase::Main => {
                if let Some(limit) = self.spec.io_limit {
                    if self.issued_bytes >= limit {
                        return None;
                    }
                }
                let op = self.pick_op();
                let mut u = self.offsets.next(&mut self.rng);
                if !self.busy.is_empty() {
                    // Never two I/Os on one unit at once: their order is undefined.
                    let mut tries = 0;
                    while self.busy[u as usize] {
                        u = if u + 1 >= self.spec.units { 0 } else { u + 1 };
                        tries += 1;
                        if tries > self.spec.units {
                            return None;
                        }
                    }
                }
                Some((u, op))
            }
        }
    }

    /// Prepares slot `i` for (unit, op) and submits it.
    #[inline]
    fn start<const V: bool>(&mut self, i: usize, unit: u64, op: Op, now: u64) {
        let slot = &mut self.slots[i];
        slot.unit = unit;
        slot.op = op;
        slot.t0 = now;
        if V {
            self.prepare_verify(i, unit, op);
        }
        self.submit(i);
    }

    /// Tags a write's buffer, or clears a read's, and marks the unit busy.
    #[inline(never)]
    fn prepare_verify(&mut self, i: usize, unit: u64, op: Op) {
        let lba = self.spec.start_lba + unit * self.lba_per_unit;
        let slot = &mut self.slots[i];
        match op {
            Op::Write => {
                slot.generation = self.next_gen;
                self.next_gen += 1;
                verify::fill(
                    &mut self.scratch,
                    lba,
                    slot.generation,
                    self.spec.index as u32,
                );
                let _ = slot.buf.write_at(0, &self.scratch);
            }
            // Stale buffer contents must not pass for the data read.
            Op::Read => {
                let _ = slot.buf.write_at(0, &[0u8; verify::HEADER_LEN]);
            }
        }
        self.busy[unit as usize] = true;
    }

    #[inline]
    fn submit(&mut self, i: usize) {
        let slot = &self.slots[i];
        let lba = self.spec.start_lba + slot.unit * self.lba_per_unit;
        let sgl = std::slice::from_ref(&slot.sge);
        let r = match slot.op {
            Op::Read => self.qp.submit_read(&self.ns, lba, self.nlb, sgl, i as u64),
            Op::Write => self.qp.submit_write(&self.ns, lba, self.nlb, sgl, i as u64),
        };
        match r {
            Ok(()) => self.issued_bytes += u64::from(self.spec.bs),
            Err(IoSubmitError::QueueFull | IoSubmitError::Busy) => self.retry.push(i),
            Err(e) => self.submit_failed(i, lba, e),
        }
    }

    #[cold]
    fn submit_failed(&mut self, i: usize, lba: u64, e: IoSubmitError) {
        self.errors += 1;
        self.log_error(format!("submit at LBA {lba} refused: {e}"));
        self.release(i);
    }

    fn release(&mut self, i: usize) {
        if !self.busy.is_empty() {
            self.busy[self.slots[i].unit as usize] = false;
        }
        self.free.push(i);
    }

    /// Accounts one completion; returns its slot, still marked busy, for the
    /// caller to reuse or release.
    #[inline]
    fn complete<const V: bool>(
        &mut self,
        c: IoCompletion,
        now: u64,
        phase: Phase,
    ) -> Option<usize> {
        let i = c.ctx as usize;
        let Some(slot) = self.slots.get(i) else {
            self.unknown_completion(c.ctx);
            return None;
        };
        let (op, t0) = (slot.op, slot.t0);
        if !c.status.is_success() {
            self.failed(i, &c);
            return Some(i);
        }
        self.total_ios += 1;
        self.batch_ok = true;
        if phase == Phase::Main && self.recording {
            // Completions of one poll share `now`, and most of them were
            // submitted in one batch too: equal latencies are one run.
            let lat = now.saturating_sub(t0);
            let write = op == Op::Write;
            if self.run.lat == lat && self.run.write == write && self.run.n > 0 {
                self.run.n += 1;
            } else {
                self.flush_run();
                self.run = LatRun { write, lat, n: 1 };
            }
        }
        if V {
            self.check_verify(i);
        }
        Some(i)
    }

    #[cold]
    fn unknown_completion(&mut self, ctx: u64) {
        self.errors += 1;
        self.log_error(format!("completion for unknown context {ctx}"));
    }

    #[cold]
    fn failed(&mut self, i: usize, c: &IoCompletion) {
        let (unit, op) = (self.slots[i].unit, self.slots[i].op);
        let lba = self.spec.start_lba + unit * self.lba_per_unit;
        self.errors += 1;
        self.log_error(format!("{op:?} at LBA {lba} failed: status {:?}", c.status));
        if op == Op::Write && !self.gens.is_empty() {
            self.gens[unit as usize] = u64::MAX;
        }
    }

    /// A write's generation is now the unit's; a read of a written unit is checked.
    #[inline(never)]
    fn check_verify(&mut self, i: usize) {
        let Some(kind) = self.spec.verify else {
            return;
        };
        let (unit, op, generation) = (
            self.slots[i].unit,
            self.slots[i].op,
            self.slots[i].generation,
        );
        let lba = self.spec.start_lba + unit * self.lba_per_unit;
        match op {
            Op::Write => self.gens[unit as usize] = generation,
            Op::Read => {
                let want = self.gens[unit as usize];
                if want != 0 && want != u64::MAX {
                    self.verified += 1;
                    let _ = self.slots[i].buf.read_at(0, &mut self.scratch);
                    if let Err(m) = verify::check(&self.scratch, lba, want, kind) {
                        self.verify_errors += 1;
                        self.log_error(format!("verify of LBA {lba}: {m}"));
                    }
                }
            }
        }
    }

    fn flush_run(&mut self) {
        let r = std::mem::take(&mut self.run);
        if r.n > 0 {
            let d = if r.write {
                &mut self.write
            } else {
                &mut self.read
            };
            d.record_n(r.lat, r.n, u64::from(self.spec.bs));
        }
    }

    /// Runs one phase to its end; returns the measured time (Main only).
    fn phase(&mut self, phase: Phase) -> Duration {
        // Without --verify the loop carries no unit tracking at all.
        if self.spec.verify.is_some() {
            self.run_phase::<true>(phase)
        } else {
            self.run_phase::<false>(phase)
        }
    }

    /// The loop of one phase; `V`: units are tracked (`--verify`).
    fn run_phase<const V: bool>(&mut self, phase: Phase) -> Duration {
        let start = self.now();
        // --size counts the I/O of this phase only (not the verify prefill).
        self.issued_bytes = 0;
        let ramp_end = start + dur_ns(self.spec.ramp);
        self.recording = phase == Phase::Main && self.spec.ramp.is_zero();
        self.measure_start = start;
        let mut cpu_start = if self.recording {
            thread_cpu()
        } else {
            (Duration::ZERO, Duration::ZERO)
        };
        let mut end = match (phase, self.spec.runtime) {
            (Phase::Main, Some(rt)) => ramp_end.saturating_add(dur_ns(rt)),
            _ => u64::MAX,
        };
        let mut exhausted = false;
        let mut exhausted_at = 0;
        while let Some(i) = self.free.pop() {
            match self.next_op::<V>(phase) {
                Some((u, op)) => self.start::<V>(i, u, op, start),
                None => {
                    self.free.push(i);
                    exhausted = true;
                    exhausted_at = start;
                    break;
                }
            }
        }
        let depth = self.slots.len();
        let mut idle = 0u32;
        loop {
            if exhausted && self.free.len() == depth {
                break;
            }
            let done = &mut self.done;
            self.qp.poll(depth as u32, |c| done.push(c));
            let got = !self.done.is_empty();
            if !got {
                idle = idle.wrapping_add(1);
                if idle % 1024 != 0 && self.retry.is_empty() {
                    continue;
                }
            }
            let now = self.now();
            if !exhausted && (now >= end || self.shared.stop.load(Ordering::Relaxed)) {
                exhausted = true;
                exhausted_at = now;
            }
            let mut batch = std::mem::take(&mut self.done);
            for c in batch.drain(..) {
                let Some(i) = self.complete::<V>(c, now, phase) else {
                    continue;
                };
                if V {
                    self.busy[self.slots[i].unit as usize] = false;
                }
                // Reuse the slot at once: the common case never touches the free list.
                match (!exhausted).then(|| self.next_op::<V>(phase)).flatten() {
                    Some((u, op)) => self.start::<V>(i, u, op, now),
                    None => {
                        if !exhausted {
                            exhausted = true;
                            exhausted_at = now;
                        }
                        self.free.push(i);
                    }
                }
            }
            self.flush_run();
            self.done = batch;
            if phase == Phase::Main && !self.recording && now >= ramp_end {
                self.read.reset();
                self.write.reset();
                self.recording = true;
                self.measure_start = now;
                cpu_start = thread_cpu();
                if let Some(rt) = self.spec.runtime {
                    end = now.saturating_add(dur_ns(rt));
                }
            }
            while let Some(i) = self.retry.pop() {
                if exhausted {
                    self.release(i);
                    continue;
                }
                self.submit(i);
                if self.retry.last() == Some(&i) {
                    break;
                }
            }
            if !exhausted {
                while let Some(i) = self.free.pop() {
                    match self.next_op::<V>(phase) {
                        Some((u, op)) => self.start::<V>(i, u, op, now),
                        None => {
                            self.free.push(i);
                            exhausted = true;
                            exhausted_at = now;
                            break;
                        }
                    }
                }
            } else if now.saturating_sub(exhausted_at) > dur_ns(self.spec.drain_timeout) {
                let left = depth - self.free.len();
                self.errors += left as u64;
                self.log_error(format!(
                    "{left} I/Os still outstanding {:?} after the end of the run",
                    self.spec.drain_timeout
                ));
                break;
            }
            if got {
                self.publish(now);
                self.batch_ok = false;
            }
        }
        let stop = if exhausted_at > 0 {
            exhausted_at
        } else {
            self.now()
        };
        if phase == Phase::Main && self.recording {
            let end = thread_cpu();
            self.cpu = (
                end.0.saturating_sub(cpu_start.0),
                end.1.saturating_sub(cpu_start.1),
            );
        }
        Duration::from_nanos(stop.saturating_sub(self.measure_start))
    }
}

fn dur_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
