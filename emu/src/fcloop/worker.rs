//! Threaded mode: the target of one fcloop queue runs on its own thread.
//!
//! Exchanges cross over in `crossbeam_queue::ArrayQueue`s sized at queue creation;
//! the CMD IU is copied and the SGL goes in a `Vec` recycled between the two sides,
//! so nothing is allocated per exchange after the first use of a slot. Each exchange
//! has a slot on the queue side; its exchange id carries the slot index and a
//! sequence number, so a completion that arrives after the host aborted the exchange
//! (and the slot was reused) is recognised as stale and dropped: an aborted
//! exchange completes exactly once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use ufc_transport::lldd::{FcpDone, FcpStatus, LlddRport, Sge, CMD_IU_LEN};

use crate::fcloop::hwqueue::{done, outcome_done, route, Route};
use crate::fcloop::lldd::Inner;
use crate::host_memory::HostMemory;
use crate::target::connection::Connection;
use crate::target::fcp::FcpOutcome;

/// Idle spins before the worker parks (it is woken by `flush`).
const IDLE_SPINS: u32 = 256;
/// Longest park, so a held exchange whose event came from elsewhere is seen.
const PARK: Duration = Duration::from_micros(200);

/// One exchange handed to the worker.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) xchg: u64,
    pub(crate) rport: LlddRport,
    pub(crate) cmd_iu: [u8; CMD_IU_LEN],
    pub(crate) sgl: Vec<Sge>,
}

/// What the worker reports for an exchange.
#[derive(Debug)]
pub(crate) enum Report {
    /// The exchange ended (`done.tag` is not set by the worker).
    Done(FcpDone),
    /// The target keeps it; a `Done` follows later.
    Held,
    /// It will never complete by itself (silent target).
    Lost,
}

/// A worker's message back.
#[derive(Debug)]
pub(crate) struct Back {
    pub(crate) xchg: u64,
    pub(crate) report: Report,
    /// The job's SGL buffer, for reuse.
    pub(crate) sgl: Option<Vec<Sge>>,
}

#[derive(Debug)]
pub(crate) struct Channels {
    pub(crate) jobs: ArrayQueue<Job>,
    pub(crate) back: ArrayQueue<Back>,
    pub(crate) aborts: ArrayQueue<u64>,
    stop: AtomicBool,
}

/// The queue side's handle on its worker thread.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) ch: Arc<Channels>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    pub(crate) fn spawn<M: HostMemory + Clone + 'static>(
        inner: Arc<Inner<M>>,
        capacity: usize,
        name: String,
    ) -> std::io::Result<Worker> {
        let ch = Arc::new(Channels {
            jobs: ArrayQueue::new(capacity.max(1)),
            // Room for one report per job plus one per held completion.
            back: ArrayQueue::new(capacity.max(1) * 2),
            aborts: ArrayQueue::new(capacity.max(1)),
            stop: AtomicBool::new(false),
        });
        let ch2 = Arc::clone(&ch);
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(&inner, &ch2))?;
        Ok(Worker {
            ch,
            thread: Some(thread),
        })
    }

    /// Wakes the worker if it parked.
    pub(crate) fn kick(&self) {
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.ch.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            // A panicking worker already reported through the panic hook.
            let _ = t.join();
        }
    }
}

struct HeldX {
    xchg: u64,
    conn: Arc<Connection>,
}

fn push_back(ch: &Channels, mut b: Back) {
    // The back queue holds two entries per slot, so it cannot stay full; spin
    // until the queue side drains it (it polls) or stops us.
    while let Err(again) = ch.back.push(b) {
        if ch.stop.load(Ordering::Acquire) {
            return;
        }
        b = again;
        std::thread::yield_now();
    }
}

fn run<M: HostMemory + Clone + 'static>(inner: &Inner<M>, ch: &Channels) {
    let mut cache: Option<Route> = None;
    let mut held: Vec<HeldX> = Vec::new();
    // Aborts that overtook their job (the job was still queued): the job is
    // skipped when it arrives. Exchange ids grow with submission order, so entries
    // older than the newest job can never match and are pruned.
    let mut early_aborts: Vec<u64> = Vec::new();
    let mut idle = 0u32;
    while !ch.stop.load(Ordering::Acquire) {
        let mut busy = false;
        while let Some(x) = ch.aborts.pop() {
            busy = true;
            if let Some(i) = held.iter().position(|h| h.xchg == x) {
                let h = held.swap_remove(i);
                h.conn.abort(x);
            } else {
                early_aborts.push(x);
            }
        }
        while let Some(job) = ch.jobs.pop() {
            busy = true;
            if !early_aborts.is_empty() {
                let skip = early_aborts.contains(&job.xchg);
                early_aborts.retain(|&x| x >> 16 > job.xchg >> 16);
                if skip {
                    // The host already saw this exchange complete as aborted.
                    push_back(
                        ch,
                        Back {
                            xchg: job.xchg,
                            report: Report::Lost,
                            sgl: Some(job.sgl),
                        },
                    );
                    continue;
                }
            }
            let conn_id = crate::target::fcp::cmd_iu_connection_id(&job.cmd_iu);
            let report = match route(&mut cache, inner, job.rport, conn_id) {
                None => Report::Done(done(0, FcpStatus::TransportError)),
                Some(r) if !r.target.present() => Report::Done(done(0, FcpStatus::TransportError)),
                Some(r) if !r.target.answering() => Report::Lost,
                Some(r) => match &r.conn {
                    None => Report::Done(done(0, FcpStatus::Aborted)),
                    Some(c) => match c.handle_fcp(job.xchg, &job.cmd_iu, &job.sgl, &inner.mem) {
                        FcpOutcome::Held => {
                            held.push(HeldX {
                                xchg: job.xchg,
                                conn: Arc::clone(c),
                            });
                            Report::Held
                        }
                        o => Report::Done(outcome_done(0, &o)),
                    },
                },
            };
            push_back(
                ch,
                Back {
                    xchg: job.xchg,
                    report,
                    sgl: Some(job.sgl),
                },
            );
        }
        let mut i = 0;
        while i < held.len() {
            let h = &held[i];
            let outcome = if h.conn.has_deferred() {
                h.conn.take_deferred(h.xchg)
            } else {
                None
            };
            match outcome {
                Some(o) => {
                    busy = true;
                    let h = held.swap_remove(i);
                    push_back(
                        ch,
                        Back {
                            xchg: h.xchg,
                            report: Report::Done(outcome_done(0, &o)),
                            sgl: None,
                        },
                    );
                }
                None => i += 1,
            }
        }
        if busy {
            idle = 0;
        } else if idle < IDLE_SPINS {
            idle += 1;
            std::hint::spin_loop();
        } else {
            std::thread::park_timeout(PARK);
        }
    }
    for h in held {
        h.conn.abort(h.xchg);
    }
}
