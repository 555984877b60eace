//! Verified I/O load: threads that each own a queue pair and keep `depth`
//! slots busy, each slot writing a fresh pattern to its own block, reading
//! it back and checking it. The threads only spin-poll their queue pairs;
//! the test thread drives the driver, the transport and the clock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ufc_hba::driver::{HbaLldd, HbaQueue};
use ufc_transport::lldd::{DmaBuffer, Sge};
use ufc_transport::{Controller, IoCompletion, IoQpair, IoSubmitError, Namespace, QpairStats};

use super::Rig;

/// Block size of the load (the RAM namespace's LBA size).
pub const BLOCK: usize = 4096;

/// The pattern of generation `gen` of slot `slot` of thread `t`.
fn fill(buf: &mut [u8], t: usize, slot: usize, gen: u64) {
    let seed = (t as u64) << 56 | (slot as u64) << 40 | gen;
    for (i, w) in buf.chunks_exact_mut(8).enumerate() {
        w.copy_from_slice(&(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_le_bytes());
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Idle,
    Writing(u64),
    /// Written; the read is not accepted yet.
    Written(u64),
    Reading(u64),
}

/// What one load thread saw.
#[derive(Debug, Default)]
pub struct WorkerReport {
    /// Thread index.
    pub thread: usize,
    /// Verified write+read rounds.
    pub verified: u64,
    /// Completions with an error status (ctx, status) — at most 16 kept.
    pub errors: Vec<(u64, u16)>,
    /// Error completions in all.
    pub error_count: u64,
    /// Submissions refused with something else than QueueFull/Busy.
    pub submit_errors: Vec<IoSubmitError>,
    /// Read-back mismatches.
    pub mismatches: u64,
    /// The queue pair's counters at the end.
    pub qpair: QpairStats,
}

/// Running load threads.
pub struct Load {
    stop: Arc<AtomicBool>,
    completed: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
    threads: Vec<JoinHandle<WorkerReport>>,
}

/// Stops the load threads if the test panics, so the panic is reported
/// instead of a hang.
impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl Load {
    /// Starts `threads` threads on queue pairs of `c`, `depth` slots each,
    /// at LBAs from `lba_base` (thread t uses `lba_base + t * depth ..`).
    pub fn start(
        c: &Controller<HbaLldd>,
        lldd: &HbaLldd,
        threads: usize,
        depth: usize,
        lba_base: u64,
    ) -> Load {
        let ns = c.namespaces().into_iter().next().expect("a namespace");
        assert_eq!(ns.lba_size() as usize, BLOCK);
        let stop = Arc::new(AtomicBool::new(false));
        let completed = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let handles = (0..threads)
            .map(|t| {
                let qp = c.alloc_io_qpair().expect("queue pair");
                let wbuf = lldd.alloc_buffer(BLOCK * depth).expect("buffer");
                let rbuf = lldd.alloc_buffer(BLOCK * depth).expect("buffer");
                let (ns, stop, completed, errors) = (
                    ns.clone(),
                    Arc::clone(&stop),
                    Arc::clone(&completed),
                    Arc::clone(&errors),
                );
                let base = lba_base + (t * depth) as u64;
                std::thread::Builder::new()
                    .name(format!("load-{t}"))
                    .spawn(move || {
                        worker(
                            t, qp, ns, wbuf, rbuf, depth, base, &stop, &completed, &errors,
                        )
                    })
                    .expect("thread")
            })
            .collect();
        Load {
            stop,
            completed,
            errors,
            threads: handles,
        }
    }

    /// Completions so far, all threads.
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Acquire)
    }

    /// Error completions so far, all threads.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Acquire)
    }

    /// Drives the rig (1 ms per step) until `n` more completions than now,
    /// at most `limit` steps; the clock time it took, or None.
    pub fn wait_progress(&self, rig: &mut Rig, n: u64, limit: usize) -> Option<Duration> {
        let t0 = rig.clock.now();
        let want = self.completed() + n;
        for _ in 0..limit {
            if self.completed() >= want {
                return Some(rig.clock.now() - t0);
            }
            rig.step();
        }
        None
    }

    /// Stops submitting, drives the rig until every thread drained its
    /// slots, and joins them.
    pub fn stop(mut self, rig: &mut Rig) -> Vec<WorkerReport> {
        self.stop.store(true, Ordering::Release);
        for _ in 0..100_000 {
            if self.threads.iter().all(|h| h.is_finished()) {
                break;
            }
            rig.step();
        }
        assert!(
            self.threads.iter().all(|h| h.is_finished()),
            "load threads did not drain"
        );
        std::mem::take(&mut self.threads)
            .into_iter()
            .map(|h| h.join().expect("load thread panicked"))
            .collect()
    }
}

/// Every thread verified I/O and saw no error completion, refused
/// submission or read-back mismatch.
pub fn assert_load_clean(reports: &[WorkerReport]) {
    for r in reports {
        assert_eq!(
            (r.error_count, r.mismatches, r.submit_errors.len()),
            (0, 0, 0),
            "{r:?}"
        );
        assert!(r.verified > 0, "{r:?}");
    }
}

#[allow(clippy::too_many_arguments)]
fn worker(
    t: usize,
    mut qp: IoQpair<HbaQueue>,
    ns: Namespace<HbaLldd>,
    mut wbuf: ufc_hba::driver::HbaDmaBuffer,
    rbuf: ufc_hba::driver::HbaDmaBuffer,
    depth: usize,
    base: u64,
    stop: &AtomicBool,
    completed: &AtomicU64,
    errors: &AtomicU64,
) -> WorkerReport {
    let mut rep = WorkerReport {
        thread: t,
        ..WorkerReport::default()
    };
    let mut slots = vec![Slot::Idle; depth];
    let mut gens = vec![0u64; depth];
    let mut done: Vec<IoCompletion> = Vec::with_capacity(depth);
    let mut expect = vec![0u8; BLOCK];
    let mut got = vec![0u8; BLOCK];
    let mut block = vec![0u8; BLOCK];
    let sge = |buf: &dyn DmaBuffer, i: usize| Sge {
        iova: buf.iova() + (i * BLOCK) as u64,
        len: BLOCK as u32,
    };
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let mut submitted = false;
        for i in 0..depth {
            let lba = base + i as u64;
            let r = match slots[i] {
                Slot::Idle if !stopping => {
                    gens[i] += 1;
                    fill(&mut block, t, i, gens[i]);
                    wbuf.write(i * BLOCK, &block);
                    qp.submit_write(&ns, lba, 1, &[sge(&wbuf, i)], i as u64)
                        .map(|()| Slot::Writing(gens[i]))
                }
                Slot::Written(g) => qp
                    .submit_read(&ns, lba, 1, &[sge(&rbuf, i)], i as u64)
                    .map(|()| Slot::Reading(g)),
                s => Ok(s),
            };
            match r {
                Ok(s) => {
                    submitted |= s != slots[i];
                    slots[i] = s;
                }
                Err(IoSubmitError::QueueFull | IoSubmitError::Busy) => {}
                Err(e) => {
                    if rep.submit_errors.len() < 16 {
                        rep.submit_errors.push(e);
                    }
                }
            }
        }
        if submitted {
            qp.flush();
        }
        done.clear();
        qp.poll(depth as u32, |d| done.push(d));
        for d in &done {
            completed.fetch_add(1, Ordering::AcqRel);
            let i = d.ctx as usize;
            if !d.status.is_success() {
                errors.fetch_add(1, Ordering::AcqRel);
                rep.error_count += 1;
                if rep.errors.len() < 16 {
                    rep.errors.push((d.ctx, d.status.0));
                }
                slots[i] = Slot::Idle;
                continue;
            }
            slots[i] = match slots[i] {
                Slot::Writing(g) => Slot::Written(g),
                Slot::Reading(g) => {
                    fill(&mut expect, t, i, g);
                    rbuf.read(i * BLOCK, &mut got);
                    if got == expect {
                        rep.verified += 1;
                    } else {
                        rep.mismatches += 1;
                    }
                    Slot::Idle
                }
                s => s,
            };
        }
        if stopping && slots.iter().all(|s| *s == Slot::Idle) {
            break;
        }
        std::thread::yield_now();
    }
    rep.qpair = qp.stats();
    rep
}
