//! I/O queue pairs: one per application thread, polled by it.
//!
//! An [`IoQpair`] owns its hardware queue while the association is live, a fixed
//! array of request slots (sized at creation, no allocation after), the CSN
//! counter and the SQ head shadow. Submit and poll take no lock, do no atomic
//! read-modify-write and call the LLDD through the generic [`HwQueue`].
//!
//! Requests are never lost across an association change: exchanges active at
//! teardown are aborted and kept as *held*, submissions while not live are held
//! too, and the next `Attach` replays them in submission order. Held requests
//! fail with host-path error 0x370 only when management says so
//! (fast_io_fail_tmo, ctrl_loss_tmo, dev_loss_tmo, deletion).

pub(crate) mod iu;
pub(crate) mod link;

use std::cell::Cell;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::ctrl::namespace::Namespace;
use crate::lldd::{FcpDone, FcpReq, HwQueue, IoDir, Lldd, LlddRport, Sge, SubmitError};
use crate::wire::{CmdIu, NvmeStatus, Sqe};
use link::{Attach, QpairLink, ToMgmt, ToQpair};

/// Retries of a timed-out command (Linux `nvme_max_retries`).
pub const MAX_RETRIES: u8 = 5;

/// Hardware polls a dropped queue pair spends, at most, draining the exchanges
/// it aborted (also bounded in time by the abort bound). A queue that is not
/// drained by then is reported dirty and deleted, never reused.
const DROP_DRAIN_POLLS: u32 = 10_000;

/// One finished request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoCompletion {
    /// The caller's context value.
    pub ctx: u64,
    /// NVMe status (host-generated for path errors).
    pub status: NvmeStatus,
}

/// Why a submission was refused; nothing was queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IoSubmitError {
    /// Every slot is in use (or the association's queue depth is reached).
    #[error("queue pair full; poll for completions and retry")]
    QueueFull,
    /// The LLDD is out of exchanges; poll and retry.
    #[error("LLDD busy; poll for completions and retry")]
    Busy,
    /// More data segments than the queue pair was created for.
    #[error("{got} data segments, this queue pair takes at most {max}")]
    TooManySegments {
        /// Given.
        got: usize,
        /// Allowed.
        max: usize,
    },
    /// The segments do not add up to the blocks requested.
    #[error("data segments hold {got} bytes, the command moves {expected}")]
    LengthMismatch {
        /// Bytes the command moves.
        expected: u64,
        /// Bytes in the segments.
        got: u64,
    },
    /// Block count 0, above 65536, or past the end of the namespace.
    #[error("LBA range {slba}+{nlb} is invalid for this namespace")]
    BadRange {
        /// First block.
        slba: u64,
        /// Number of blocks.
        nlb: u32,
    },
    /// The namespace belongs to another controller.
    #[error("namespace belongs to another controller than this queue pair")]
    WrongController,
}

/// Counters of one queue pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QpairStats {
    /// Requests accepted.
    pub submitted: u64,
    /// Completions delivered (any status).
    pub completed: u64,
    /// Completions delivered with a non-success status.
    pub errors: u64,
    /// Commands aborted because they exceeded io_timeout.
    pub timeouts: u64,
    /// Resubmissions after a timeout abort or a transport error.
    pub retries: u64,
    /// Requests resubmitted on a new association.
    pub replayed: u64,
    /// Transport-level failures reported to management.
    pub transport_errors: u64,
    /// Completions for tags that were not active (ignored).
    pub stale_completions: u64,
    /// Exchanges that did not complete within the quiesce bound.
    pub stuck: u64,
    /// Associations attached.
    pub attaches: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    Free,
    /// Exchange started.
    Active,
    /// Timed out; abort issued, waiting for its completion.
    Aborting,
    /// Association going down; abort issued.
    Quiescing,
    /// Waiting for an association.
    Held,
    /// Finished; delivered on the next poll.
    Done,
}

#[derive(Debug)]
struct Slot {
    state: SlotState,
    iu: CmdIu,
    dir: IoDir,
    nsge: u16,
    retries: u8,
    ctx: u64,
    seq: u64,
    /// I/O timeout while Active; abort bound while Aborting.
    deadline: Duration,
    /// `Core::polls` when the exchange was started: tells a deadline stamped
    /// between polls (with the last poll's clock) from one stamped in a poll.
    started_in: u64,
    status: NvmeStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// No association: hold new requests.
    Detached,
    /// Association live.
    Live,
    /// Association going down: aborts issued, waiting for their completions.
    Quiescing { gen: u32, deadline: Duration },
    /// No association and held requests failed: fail new ones too.
    Failing(NvmeStatus),
    /// Controller deleted.
    Deleted,
}

/// Everything but the hardware queue, so that the queue's poll callback can
/// borrow it.
#[derive(Debug)]
struct Core<Q> {
    link: Arc<QpairLink<Q>>,
    clock: Clock,
    ctrl_uid: u64,
    slots: Box<[Slot]>,
    sges: Box<[Sge]>,
    max_sge: usize,
    free: Vec<u16>,
    /// Requests waiting for an exchange, oldest first.
    held: VecDeque<u16>,
    done: Vec<u16>,
    mode: Mode,
    gen: u32,
    connection_id: u64,
    rport: LlddRport,
    limit: usize,
    active: usize,
    quiescing: usize,
    csn: u32,
    sqhd: u16,
    seq: u64,
    seen: u32,
    /// The clock as read by the last poll. Submissions stamp their deadline
    /// with it (no clock read per I/O); the next poll corrects the stamps when
    /// more than `stamp_slack` passed since (an idle queue pair).
    last_now: Duration,
    /// Polls finished; see `Slot::started_in`.
    polls: u64,
    /// Error a deadline stamped with `last_now` may carry without correction:
    /// the timer's granularity (io_timeout / 16).
    stamp_slack: Duration,
    next_scan: Duration,
    io_timeout: Duration,
    abort_bound: Duration,
    error_reported: bool,
    stuck_reported: bool,
    dirty: bool,
    stats: QpairStats,
}

/// An I/O queue pair. `Send` but not `Sync`: one thread owns and polls it.
#[derive(Debug)]
pub struct IoQpair<Q: HwQueue> {
    hwq: Option<Q>,
    core: Core<Q>,
    _one_thread: PhantomData<Cell<()>>,
}

/// Creation parameters (from the controller).
#[derive(Debug)]
pub(crate) struct QpairParams {
    pub ctrl_uid: u64,
    pub depth: u16,
    pub max_sge: u16,
    pub io_timeout: Duration,
    pub abort_bound: Duration,
}

impl<Q: HwQueue> IoQpair<Q> {
    pub(crate) fn new(link: Arc<QpairLink<Q>>, clock: Clock, p: QpairParams) -> Self {
        let depth = usize::from(p.depth.max(1));
        let max_sge = usize::from(p.max_sge.max(1));
        let slots: Box<[Slot]> = (0..depth)
            .map(|_| Slot {
                state: SlotState::Free,
                iu: iu::template(iu::CAT_NVM),
                dir: IoDir::None,
                nsge: 0,
                retries: 0,
                ctx: 0,
                seq: 0,
                deadline: Duration::ZERO,
                started_in: 0,
                status: NvmeStatus::SUCCESS,
            })
            .collect();
        // Free list pops low tags first.
        let free: Vec<u16> = (0..depth)
            .rev()
            .filter_map(|t| u16::try_from(t).ok())
            .collect();
        let now = clock.now();
        let gen = link.latest_gen();
        IoQpair {
            hwq: None,
            core: Core {
                seen: link.posted().wrapping_sub(1),
                link,
                clock,
                ctrl_uid: p.ctrl_uid,
                slots,
                sges: vec![Sge::default(); depth * max_sge].into_boxed_slice(),
                max_sge,
                free,
                held: VecDeque::with_capacity(depth),
                done: Vec::with_capacity(depth),
                mode: Mode::Detached,
                gen,
                connection_id: 0,
                rport: LlddRport(0),
                limit: depth,
                active: 0,
                quiescing: 0,
                csn: 0,
                sqhd: 0,
                seq: 0,
                last_now: now,
                polls: 0,
                stamp_slack: p.io_timeout / 16,
                next_scan: Duration::MAX,
                io_timeout: p.io_timeout,
                abort_bound: p.abort_bound,
                error_reported: false,
                stuck_reported: false,
                dirty: false,
                stats: QpairStats::default(),
            },
            _one_thread: PhantomData,
        }
    }

    /// The NVMe queue id of this queue pair (1-based).
    pub fn qid(&self) -> u16 {
        self.core.link.qid
    }

    /// Number of request slots.
    pub fn depth(&self) -> usize {
        self.core.slots.len()
    }

    /// Requests accepted and not yet delivered.
    pub fn outstanding(&self) -> usize {
        self.core.slots.len() - self.core.free.len()
    }

    /// True while an association is attached and live.
    pub fn is_live(&self) -> bool {
        self.core.mode == Mode::Live
    }

    /// Counters.
    pub fn stats(&self) -> QpairStats {
        self.core.stats
    }

    /// Reads `nlb` blocks at `slba` into `sgl`.
    pub fn submit_read<L: Lldd<HwQueue = Q>>(
        &mut self,
        ns: &Namespace<L>,
        slba: u64,
        nlb: u32,
        sgl: &[Sge],
        ctx: u64,
    ) -> Result<(), IoSubmitError> {
        self.submit_rw(ns, IoDir::Read, slba, nlb, sgl, ctx)
    }

    /// Writes `nlb` blocks at `slba` from `sgl`.
    pub fn submit_write<L: Lldd<HwQueue = Q>>(
        &mut self,
        ns: &Namespace<L>,
        slba: u64,
        nlb: u32,
        sgl: &[Sge],
        ctx: u64,
    ) -> Result<(), IoSubmitError> {
        self.submit_rw(ns, IoDir::Write, slba, nlb, sgl, ctx)
    }

    /// Writes zeroes to `nlb` blocks at `slba` (no data phase).
    pub fn submit_write_zeroes<L: Lldd<HwQueue = Q>>(
        &mut self,
        ns: &Namespace<L>,
        slba: u64,
        nlb: u32,
        ctx: u64,
    ) -> Result<(), IoSubmitError> {
        self.submit_rw(ns, IoDir::None, slba, nlb, &[], ctx)
    }

    /// Flushes the namespace's volatile write cache.
    pub fn submit_flush<L: Lldd<HwQueue = Q>>(
        &mut self,
        ns: &Namespace<L>,
        ctx: u64,
    ) -> Result<(), IoSubmitError> {
        let info = ns.io_info();
        if info.ctrl_uid != self.core.ctrl_uid {
            return Err(IoSubmitError::WrongController);
        }
        let tag = self.core.free.pop().ok_or(IoSubmitError::QueueFull)?;
        let slot = &mut self.core.slots[usize::from(tag)];
        iu::set_command(&mut slot.iu, Sqe::flush(info.nsid), tag, IoDir::None, 0);
        self.finish_submit(tag, IoDir::None, &[], ctx)
    }

    #[allow(clippy::too_many_arguments)]
    fn submit_rw<L: Lldd<HwQueue = Q>>(
        &mut self,
        ns: &Namespace<L>,
        dir: IoDir,
        slba: u64,
        nlb: u32,
        sgl: &[Sge],
        ctx: u64,
    ) -> Result<(), IoSubmitError> {
        let info = ns.io_info();
        if info.ctrl_uid != self.core.ctrl_uid {
            return Err(IoSubmitError::WrongController);
        }
        let end = slba.checked_add(u64::from(nlb));
        if nlb == 0 || nlb > 65536 || end.is_none_or(|e| e > info.num_lbas) {
            return Err(IoSubmitError::BadRange { slba, nlb });
        }
        if sgl.len() > self.core.max_sge {
            return Err(IoSubmitError::TooManySegments {
                got: sgl.len(),
                max: self.core.max_sge,
            });
        }
        let data_len = if dir == IoDir::None {
            0
        } else {
            let expected = u64::from(nlb) * u64::from(info.lba_size);
            let got: u64 = sgl.iter().map(|s| u64::from(s.len)).sum();
            if got != expected || got > u64::from(u32::MAX) {
                return Err(IoSubmitError::LengthMismatch { expected, got });
            }
            // Proven above: got <= u32::MAX.
            got as u32
        };
        // nlb is 1..=65536, so nlb - 1 fits the 16-bit NLB field.
        let nlb0 = (nlb - 1) as u16;
        let sqe = match dir {
            IoDir::Read => Sqe::read(info.nsid, slba, nlb0, data_len),
            IoDir::Write => Sqe::write(info.nsid, slba, nlb0, data_len),
            IoDir::None => Sqe::write_zeroes(info.nsid, slba, nlb0),
        };
        let tag = self.core.free.pop().ok_or(IoSubmitError::QueueFull)?;
        let slot = &mut self.core.slots[usize::from(tag)];
        iu::set_command(&mut slot.iu, sqe, tag, dir, data_len);
        self.finish_submit(tag, dir, sgl, ctx)
    }

    fn finish_submit(
        &mut self,
        tag: u16,
        dir: IoDir,
        sgl: &[Sge],
        ctx: u64,
    ) -> Result<(), IoSubmitError> {
        // Off the live path only: an association may have arrived since the last
        // poll, so a request is not failed or held on stale news.
        if self.core.mode != Mode::Live && self.core.link.posted() != self.core.seen {
            self.handle_messages(self.core.last_now);
        }
        let c = &mut self.core;
        let t = usize::from(tag);
        let base = t * c.max_sge;
        c.sges[base..base + sgl.len()].copy_from_slice(sgl);
        c.seq += 1;
        let slot = &mut c.slots[t];
        slot.dir = dir;
        // sgl.len() <= max_sge <= u16::MAX, checked by the callers.
        slot.nsge = sgl.len() as u16;
        slot.retries = 0;
        slot.ctx = ctx;
        slot.seq = c.seq;
        match c.mode {
            Mode::Live => {
                if c.active >= c.limit {
                    c.slots[t].state = SlotState::Free;
                    c.free.push(tag);
                    return Err(IoSubmitError::QueueFull);
                }
                // After a transport error the association is being reset:
                // hold until the next attach rather than spend retries on it.
                let Some(hwq) = self.hwq.as_mut().filter(|_| !c.error_reported) else {
                    c.hold(tag);
                    c.stats.submitted += 1;
                    return Ok(());
                };
                match c.start(hwq, tag) {
                    Ok(()) => {}
                    Err(SubmitError::Busy) => {
                        c.slots[t].state = SlotState::Free;
                        c.free.push(tag);
                        return Err(IoSubmitError::Busy);
                    }
                    Err(SubmitError::Failed) => {
                        c.retry_or_fail(tag);
                        c.transport_error();
                    }
                }
            }
            Mode::Detached | Mode::Quiescing { .. } => c.hold(tag),
            Mode::Failing(status) => c.finish(tag, status),
            Mode::Deleted => c.finish(tag, NvmeStatus::HOST_PATH_ERROR),
        }
        c.stats.submitted += 1;
        Ok(())
    }

    /// Rings the doorbell for everything submitted since the last flush. `poll`
    /// does this itself; call it when submitting without polling right after.
    pub fn flush(&mut self) {
        if self.core.dirty {
            if let Some(hwq) = self.hwq.as_mut() {
                hwq.flush();
            }
            self.core.dirty = false;
        }
    }

    /// Processes management messages, rings the doorbell for the last submit
    /// burst, reaps up to `budget` hardware completions, checks timeouts (one
    /// clock read per call) and delivers finished requests to `f`. Returns the
    /// number of completions delivered.
    pub fn poll<F: FnMut(IoCompletion)>(&mut self, budget: u32, mut f: F) -> u32 {
        let now = self.core.clock.now();
        if now.saturating_sub(self.core.last_now) > self.core.stamp_slack {
            self.core.restamp(now);
        }
        self.core.last_now = now;
        if self.core.link.posted() != self.core.seen {
            self.handle_messages(now);
        }
        self.flush();
        let mut delivered = 0;
        if let Some(hwq) = self.hwq.as_mut() {
            let core = &mut self.core;
            hwq.poll(budget, |d| {
                if core.on_done(&d, &mut f) {
                    delivered += 1;
                }
            });
        }
        if let Mode::Quiescing { gen, deadline } = self.core.mode {
            if self.core.quiescing == 0 || now >= deadline {
                self.finish_quiesce(gen);
            }
        }
        if self.core.mode == Mode::Live {
            if now >= self.core.next_scan {
                self.scan_timeouts(now);
            }
            // A transport error was reported on this association: management
            // resets it, and the held requests go out on the next one. Linux
            // quiesces the queue for the reset the same way, so a dying
            // association (a link down not yet seen) cannot use up a
            // request's retries in a tight loop.
            if !self.core.held.is_empty() && !self.core.error_reported {
                self.replay();
            }
        }
        self.flush();
        while let Some(tag) = self.core.done.pop() {
            let slot = &mut self.core.slots[usize::from(tag)];
            let c = IoCompletion {
                ctx: slot.ctx,
                status: slot.status,
            };
            slot.state = SlotState::Free;
            self.core.free.push(tag);
            self.core.stats.completed += 1;
            if !c.status.is_success() {
                self.core.stats.errors += 1;
            }
            f(c);
            delivered += 1;
        }
        self.core.polls = self.core.polls.wrapping_add(1);
        delivered
    }

    fn handle_messages(&mut self, now: Duration) {
        self.core.seen = self.core.link.posted();
        while let Some(msg) = self.core.link.take() {
            match msg {
                ToQpair::Attach(a) => self.attach(a),
                ToQpair::Quiesce { gen, bound } => self.quiesce(gen, now + bound),
                ToQpair::FailHeld { status } => {
                    // Management sends this only after it finished the teardown,
                    // with or without our answer: stop waiting for the aborts.
                    if let Mode::Quiescing { gen, .. } = self.core.mode {
                        self.finish_quiesce(gen);
                    }
                    self.core.fail_held(status);
                    if self.core.mode == Mode::Detached {
                        self.core.mode = Mode::Failing(status);
                    }
                }
            }
        }
        if self.core.mode != Mode::Deleted && self.core.link.is_deleted() {
            self.deleted();
        }
    }

    /// The controller is gone: fail everything from now on.
    fn deleted(&mut self) {
        // Nobody reads our reports any more: delete a queue we still hold here
        // rather than parking it in the link.
        let stale = self.hwq.take();
        if let Mode::Quiescing { gen, .. } = self.core.mode {
            self.finish_quiesce(gen);
        }
        drop(stale);
        self.core.fail_held(NvmeStatus::HOST_PATH_ERROR);
        self.core.mode = Mode::Deleted;
    }

    fn attach(&mut self, a: Attach<Q>) {
        if let Mode::Quiescing { gen, .. } = self.core.mode {
            self.finish_quiesce(gen);
        }
        if let Some(old) = self.hwq.take() {
            // Management moved on without our Quiesced: give the stale queue back.
            let _ = self.core.link.report(ToMgmt::Quiesced {
                gen: self.core.gen,
                hwq: old,
                stuck: 0,
                csn: self.core.csn,
            });
        }
        let c = &mut self.core;
        c.gen = a.gen;
        c.connection_id = a.connection_id;
        c.rport = a.rport;
        c.limit = usize::from(a.sqsize).clamp(1, c.slots.len());
        c.csn = a.csn;
        c.error_reported = false;
        c.stuck_reported = false;
        c.mode = Mode::Live;
        c.next_scan = Duration::MAX;
        c.stats.attaches += 1;
        // The teardown held requests in tag and completion order; put them
        // back in submission order once per association, not on every poll.
        let slots = &c.slots;
        c.held
            .make_contiguous()
            .sort_unstable_by_key(|t| slots[usize::from(*t)].seq);
        self.hwq = Some(a.hwq);
        self.replay();
    }

    /// Resubmits held requests in queue order (submission order after an
    /// attach; retries join at the back) as far as the queue takes them.
    fn replay(&mut self) {
        let Some(hwq) = self.hwq.as_mut() else {
            return;
        };
        let c = &mut self.core;
        while c.active < c.limit {
            let Some(tag) = c.held.pop_front() else {
                break;
            };
            match c.start(hwq, tag) {
                Ok(()) => c.stats.replayed += 1,
                Err(SubmitError::Busy) => {
                    c.held.push_front(tag);
                    break;
                }
                Err(SubmitError::Failed) => {
                    c.retry_or_fail(tag);
                    c.transport_error();
                    break;
                }
            }
        }
    }

    fn quiesce(&mut self, gen: u32, deadline: Duration) {
        if self.core.mode != Mode::Live || gen != self.core.gen {
            return;
        }
        let Some(hwq) = self.hwq.as_mut() else {
            self.core.mode = Mode::Detached;
            return;
        };
        let c = &mut self.core;
        for (t, slot) in c.slots.iter_mut().enumerate() {
            if matches!(slot.state, SlotState::Active | SlotState::Aborting) {
                slot.state = SlotState::Quiescing;
                c.quiescing += 1;
                c.active -= 1;
                // t < depth <= u16::MAX + 1 and tags are u16 by construction.
                hwq.abort(t as u16);
            }
        }
        hwq.flush();
        c.mode = Mode::Quiescing { gen, deadline };
    }

    fn finish_quiesce(&mut self, gen: u32) {
        let c = &mut self.core;
        let mut stuck = 0;
        for t in 0..c.slots.len() {
            if c.slots[t].state == SlotState::Quiescing {
                stuck += 1;
                // t < slots.len() which fits u16 (see new()).
                c.hold(t as u16);
            }
        }
        c.quiescing = 0;
        c.stats.stuck += u64::from(stuck);
        c.mode = Mode::Detached;
        if let Some(hwq) = self.hwq.take() {
            let csn = c.csn;
            if let Err(ToMgmt::Quiesced { hwq, .. }) = c.link.report(ToMgmt::Quiesced {
                gen,
                hwq,
                stuck,
                csn,
            }) {
                log::error!("qpair {}: link full, dropping quiesced queue", c.link.qid);
                drop(hwq);
            }
        }
    }

    fn scan_timeouts(&mut self, now: Duration) {
        let Some(hwq) = self.hwq.as_mut() else {
            return;
        };
        let c = &mut self.core;
        let mut next = Duration::MAX;
        for (t, slot) in c.slots.iter_mut().enumerate() {
            match slot.state {
                SlotState::Active if now >= slot.deadline => {
                    // t fits u16 (see new()).
                    hwq.abort(t as u16);
                    slot.state = SlotState::Aborting;
                    slot.deadline = now + c.abort_bound;
                    c.stats.timeouts += 1;
                    next = next.min(slot.deadline);
                }
                SlotState::Aborting if now >= slot.deadline && !c.stuck_reported => {
                    c.stuck_reported = true;
                    let _ = c.link.report(ToMgmt::AbortStuck { gen: c.gen });
                }
                SlotState::Aborting if now >= slot.deadline => {}
                SlotState::Active | SlotState::Aborting => next = next.min(slot.deadline),
                _ => {}
            }
        }
        // Coarse timer: no need to rescan more often than 1/16 of the timeout.
        c.next_scan = if next == Duration::MAX {
            Duration::MAX
        } else {
            next.max(now + c.stamp_slack)
        };
    }
}

impl<Q> Core<Q> {
    /// The queue pair was not polled for longer than the timer's granularity:
    /// exchanges started since the last poll carry that poll's time as their
    /// start; give them their full io_timeout from now instead. Runs only
    /// after such a gap, never on a busy queue pair.
    #[cold]
    fn restamp(&mut self, now: Duration) {
        let deadline = now + self.io_timeout;
        for slot in self.slots.iter_mut() {
            if slot.state == SlotState::Active && slot.started_in == self.polls {
                slot.deadline = deadline;
            }
        }
    }

    /// Another attempt for `tag` after a timeout abort or a transport error,
    /// unless it used up MAX_RETRIES: then it completes with host aborted
    /// command, as Linux does past `nvme_max_retries`.
    fn retry_or_fail(&mut self, tag: u16) {
        let slot = &mut self.slots[usize::from(tag)];
        slot.retries = slot.retries.saturating_add(1);
        if slot.retries > MAX_RETRIES {
            self.finish(tag, NvmeStatus::HOST_ABORTED_CMD);
        } else {
            self.stats.retries += 1;
            self.hold(tag);
        }
    }

    fn hold(&mut self, tag: u16) {
        self.slots[usize::from(tag)].state = SlotState::Held;
        self.held.push_back(tag);
    }

    fn finish(&mut self, tag: u16, status: NvmeStatus) {
        let slot = &mut self.slots[usize::from(tag)];
        slot.state = SlotState::Done;
        slot.status = status;
        self.done.push(tag);
    }

    fn fail_held(&mut self, status: NvmeStatus) {
        while let Some(tag) = self.held.pop_front() {
            self.finish(tag, status);
        }
    }

    fn transport_error(&mut self) {
        self.stats.transport_errors += 1;
        if !self.error_reported {
            self.error_reported = true;
            let _ = self.link.report(ToMgmt::TransportError { gen: self.gen });
        }
    }

    fn start<H: HwQueue>(&mut self, hwq: &mut H, tag: u16) -> Result<(), SubmitError> {
        let t = usize::from(tag);
        // Consumed only if the LLDD takes the exchange: a refused submission
        // leaves no gap in the connection's sequence.
        let csn = self.csn.wrapping_add(1);
        let slot = &mut self.slots[t];
        iu::set_conn(&mut slot.iu, self.connection_id, csn);
        let base = t * self.max_sge;
        let req = FcpReq {
            tag,
            rport: self.rport,
            cmd_iu: slot.iu.as_bytes(),
            dir: slot.dir,
            payload_len: slot.iu.data_len.get(),
            sgl: &self.sges[base..base + usize::from(slot.nsge)],
        };
        hwq.submit(&req)?;
        self.csn = csn;
        slot.state = SlotState::Active;
        slot.deadline = self.last_now + self.io_timeout;
        slot.started_in = self.polls;
        self.next_scan = self.next_scan.min(slot.deadline);
        self.active += 1;
        self.dirty = true;
        Ok(())
    }

    /// Handles one hardware completion; true when it was delivered to `f`.
    fn on_done<F: FnMut(IoCompletion)>(&mut self, d: &FcpDone, f: &mut F) -> bool {
        let t = usize::from(d.tag);
        let Some(slot) = self.slots.get(t) else {
            self.stats.stale_completions += 1;
            return false;
        };
        let state = slot.state;
        let checked = iu::check_done(d, d.tag, slot.iu.data_len.get(), self.sqhd);
        match state {
            SlotState::Active | SlotState::Aborting | SlotState::Quiescing => {}
            _ => {
                self.stats.stale_completions += 1;
                return false;
            }
        }
        match state {
            SlotState::Quiescing => self.quiescing -= 1,
            _ => self.active -= 1,
        }
        match (state, checked) {
            (_, Ok(cqe)) => {
                self.sqhd = cqe.sqhd;
                let slot = &mut self.slots[t];
                let c = IoCompletion {
                    ctx: slot.ctx,
                    status: cqe.status,
                };
                slot.state = SlotState::Free;
                self.free.push(d.tag);
                self.stats.completed += 1;
                if !c.status.is_success() {
                    self.stats.errors += 1;
                }
                f(c);
                true
            }
            (SlotState::Quiescing, Err(_)) => {
                self.hold(d.tag);
                false
            }
            (SlotState::Aborting, Err(_)) => {
                // Resubmitted by replay() at the end of this poll.
                self.retry_or_fail(d.tag);
                false
            }
            (_, Err(e)) => {
                log::warn!(
                    "qpair {} tag {}: {e}; resetting the association",
                    self.link.qid,
                    d.tag
                );
                self.retry_or_fail(d.tag);
                self.transport_error();
                false
            }
        }
    }
}

impl<Q: HwQueue> IoQpair<Q> {
    /// Aborts every exchange still on the queue and polls, bounded, until all
    /// of them completed. True when the queue has nothing in flight: only such
    /// a queue may be handed to another queue pair, which reuses the tags.
    fn drain_for_release(&mut self) -> bool {
        let Some(hwq) = self.hwq.as_mut() else {
            return true;
        };
        let c = &mut self.core;
        let mut pending = 0usize;
        for (t, slot) in c.slots.iter_mut().enumerate() {
            match slot.state {
                SlotState::Active => {
                    // t fits u16 (see new()).
                    hwq.abort(t as u16);
                    slot.state = SlotState::Quiescing;
                    pending += 1;
                }
                // Abort already issued.
                SlotState::Aborting => {
                    slot.state = SlotState::Quiescing;
                    pending += 1;
                }
                SlotState::Quiescing => pending += 1,
                _ => {}
            }
        }
        if pending == 0 {
            return true;
        }
        hwq.flush();
        let deadline = c.clock.now() + c.abort_bound;
        for round in 0..DROP_DRAIN_POLLS {
            let slots = &mut c.slots;
            hwq.poll(64, |d| {
                // Any completion of an aborted tag (aborted, or it won the
                // race and finished) ends that exchange.
                if let Some(slot) = slots.get_mut(usize::from(d.tag)) {
                    if slot.state == SlotState::Quiescing {
                        slot.state = SlotState::Free;
                        pending -= 1;
                    }
                }
            });
            if pending == 0 {
                return true;
            }
            // A threaded LLDD completes the aborts on another thread.
            std::thread::yield_now();
            if round % 64 == 63 && c.clock.now() >= deadline {
                break;
            }
        }
        log::error!(
            "qpair {}: {pending} aborted exchange(s) still outstanding at drop; the queue will be deleted, not reused",
            c.link.qid
        );
        false
    }
}

impl<Q: HwQueue> Drop for IoQpair<Q> {
    fn drop(&mut self) {
        let clean = self.drain_for_release();
        let msg = ToMgmt::Released {
            gen: self.core.gen,
            hwq: self.hwq.take(),
            dirty: !clean,
            csn: self.core.csn,
        };
        if self.core.link.report(msg).is_err() {
            log::error!(
                "qpair {}: link full at drop; queue deleted here",
                self.core.link.qid
            );
        }
        self.core.link.set_released(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::ctrl::{Controller, CtrlShared};
    use crate::lldd::*;
    use crate::transport::Transport;
    use std::collections::VecDeque;

    /// A hardware queue that completes on demand.
    #[derive(Debug, Default)]
    struct FakeQ {
        /// (tag, csn, connection id) per submission.
        submitted: Vec<(u16, u32, u64)>,
        ready: VecDeque<FcpDone>,
        /// Tags whose exchange is lost until aborted.
        lost: Vec<u16>,
        aborted: Vec<u16>,
        flushes: u32,
        /// Complete every submission at once with a zero RSP.
        auto: bool,
        busy: bool,
    }

    fn good(tag: u16, transferred: u32) -> FcpDone {
        FcpDone {
            tag,
            status: FcpStatus::Good,
            transferred,
            rsp_len: 12,
            rsp: [0; 32],
        }
    }

    impl HwQueue for FakeQ {
        fn submit(&mut self, req: &FcpReq<'_>) -> Result<(), SubmitError> {
            if self.busy {
                return Err(SubmitError::Busy);
            }
            let b = req.cmd_iu;
            let csn = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
            let conn = u64::from_be_bytes(b[8..16].try_into().unwrap());
            assert_eq!(req.payload_len, req.sgl.iter().map(|s| s.len).sum::<u32>());
            self.submitted.push((req.tag, csn, conn));
            if self.auto {
                self.ready.push_back(good(req.tag, req.payload_len));
            } else {
                self.lost.push(req.tag);
            }
            Ok(())
        }
        fn flush(&mut self) {
            self.flushes += 1;
        }
        fn abort(&mut self, tag: u16) {
            self.aborted.push(tag);
            if let Some(i) = self.lost.iter().position(|t| *t == tag) {
                self.lost.swap_remove(i);
                let mut d = good(tag, 0);
                d.status = FcpStatus::Aborted;
                d.rsp_len = 0;
                self.ready.push_back(d);
            }
        }
        fn poll<F: FnMut(FcpDone)>(&mut self, budget: u32, mut f: F) -> u32 {
            let mut n = 0;
            while n < budget {
                let Some(d) = self.ready.pop_front() else {
                    break;
                };
                f(d);
                n += 1;
            }
            n
        }
    }

    #[derive(Debug)]
    struct FakeLldd;

    impl Lldd for FakeLldd {
        type HwQueue = FakeQ;
        fn limits(&self) -> Limits {
            Limits {
                max_hw_queues: 1,
                max_sgl_segments: 4,
                max_dif_sgl_segments: 4,
                dma_boundary: u64::MAX,
            }
        }
        fn create_queue(&self, _: LocalPortId, _: u16, _: u16) -> Result<FakeQ, LlddError> {
            Ok(FakeQ::default())
        }
        fn ls_req(&self, _: LocalPortId, _: LsReq) -> Result<(), LlddError> {
            Ok(())
        }
        fn ls_abort(&self, _: LocalPortId, _: u64) {}
        fn xmt_ls_rsp(&self, _: LocalPortId, _: u64, _: &[u8]) {}
        fn poll_ls(&self, _: LocalPortId, _: &mut dyn FnMut(LsEvent)) {}
        fn localport_delete(&self, _: LocalPortId) {}
        fn remoteport_delete(&self, _: RemotePortId) {}
    }

    struct Rig {
        hand: ManualClock,
        link: Arc<QpairLink<FakeQ>>,
        qp: IoQpair<FakeQ>,
        ns: Namespace<FakeLldd>,
        gen: u32,
    }

    const UID: u64 = 7;

    fn rig(depth: u16) -> Rig {
        let (clock, hand) = Clock::manual();
        let t = Transport::<FakeLldd>::new(clock.clone());
        let ctrl = Controller::new(t, Arc::new(CtrlShared::new(UID, "ctrl7".into())));
        let ns = Namespace::new(ctrl, 1, 512, 1000);
        let link = Arc::new(QpairLink::new(1));
        let qp = IoQpair::new(
            Arc::clone(&link),
            clock,
            QpairParams {
                ctrl_uid: UID,
                depth,
                max_sge: 2,
                io_timeout: Duration::from_secs(30),
                abort_bound: Duration::from_secs(10),
            },
        );
        Rig {
            hand,
            link,
            qp,
            ns,
            gen: 0,
        }
    }

    impl Rig {
        fn attach(&mut self, q: FakeQ, sqsize: u16) {
            self.gen += 1;
            self.link
                .post(ToQpair::Attach(Attach {
                    gen: self.gen,
                    hwq: q,
                    connection_id: 0xC0 + u64::from(self.gen),
                    csn: 1,
                    rport: LlddRport(3),
                    sqsize,
                }))
                .unwrap();
        }
        fn hwq(&mut self) -> &mut FakeQ {
            self.qp.hwq.as_mut().unwrap()
        }
        fn poll(&mut self) -> Vec<IoCompletion> {
            let mut v = Vec::new();
            self.qp.poll(64, |c| v.push(c));
            v
        }
        fn write(&mut self, lba: u64, ctx: u64) -> Result<(), IoSubmitError> {
            let sge = Sge {
                iova: 0x1000 * (lba + 1),
                len: 512,
            };
            let ns = self.ns.clone();
            self.qp.submit_write(&ns, lba, 1, &[sge], ctx)
        }
    }

    fn ok(ctx: u64) -> IoCompletion {
        IoCompletion {
            ctx,
            status: NvmeStatus::SUCCESS,
        }
    }

    #[test]
    fn held_until_attached_then_replayed_in_order() {
        let mut r = rig(8);
        r.write(5, 50).unwrap();
        r.write(6, 60).unwrap();
        r.write(7, 70).unwrap();
        assert!(r.poll().is_empty());
        assert_eq!(r.qp.outstanding(), 3);
        r.attach(
            FakeQ {
                auto: true,
                ..FakeQ::default()
            },
            31,
        );
        // The attach replays (CSNs continue after the Connect's, 1) and the same
        // poll reaps the completions.
        assert_eq!(r.poll(), vec![ok(50), ok(60), ok(70)]);
        let subs = r.hwq().submitted.clone();
        let tags: Vec<u16> = subs.iter().map(|s| s.0).collect();
        assert_eq!(tags, vec![0, 1, 2], "submission order");
        assert!(subs.iter().all(|s| s.2 == 0xC1));
        assert_eq!(subs.iter().map(|s| s.1).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(r.qp.outstanding(), 0);
        assert_eq!(r.qp.stats().replayed, 3);
    }

    /// Review item 11: requests held by a teardown (their aborts completing
    /// out of order, tags reused out of order) replay in submission order.
    #[test]
    fn teardown_replays_in_submission_order() {
        let mut r = rig(8);
        r.attach(FakeQ::default(), 31);
        r.poll();
        r.write(0, 10).unwrap(); // tag 0
        r.write(1, 11).unwrap(); // tag 1
        r.write(2, 12).unwrap(); // tag 2
        r.poll();
        let q = r.hwq();
        q.lost.retain(|t| *t != 0);
        q.ready.push_back(good(0, 512));
        assert_eq!(r.poll(), vec![ok(10)]);
        r.write(3, 13).unwrap(); // tag 0 again, newest
        r.poll();
        r.link
            .post(ToQpair::Quiesce {
                gen: 1,
                bound: Duration::from_secs(10),
            })
            .unwrap();
        r.poll();
        assert!(matches!(
            r.link.next_report(),
            Some(ToMgmt::Quiesced { stuck: 0, .. })
        ));
        r.attach(
            FakeQ {
                auto: true,
                ..FakeQ::default()
            },
            31,
        );
        assert_eq!(r.poll(), vec![ok(11), ok(12), ok(13)]);
        let tags: Vec<u16> = r.hwq().submitted.iter().map(|s| s.0).collect();
        assert_eq!(tags, vec![1, 2, 0]);
    }

    #[test]
    fn one_doorbell_per_burst() {
        let mut r = rig(8);
        r.attach(
            FakeQ {
                auto: true,
                ..FakeQ::default()
            },
            31,
        );
        r.poll();
        let before = r.hwq().flushes;
        for i in 0..5 {
            r.write(i, i).unwrap();
        }
        let done = r.poll();
        assert_eq!(done.len(), 5);
        assert_eq!(r.hwq().flushes - before, 1, "one flush for the burst of 5");
        r.poll();
        assert_eq!(r.hwq().flushes - before, 1, "no flush without submissions");
    }

    #[test]
    fn slots_and_limits() {
        let mut r = rig(4);
        let ns = r.ns.clone();
        for i in 0..4 {
            r.write(i, i).unwrap();
        }
        assert_eq!(r.write(9, 9), Err(IoSubmitError::QueueFull));
        let big = [Sge { iova: 0, len: 512 }; 3];
        assert!(matches!(
            r.qp.submit_write(&ns, 0, 3, &big, 0),
            Err(IoSubmitError::TooManySegments { got: 3, max: 2 })
        ));
        let sge = [Sge { iova: 0, len: 100 }];
        r.poll();
        assert!(matches!(
            r.qp.submit_read(&ns, 0, 1, &sge, 0),
            Err(IoSubmitError::QueueFull) | Err(IoSubmitError::LengthMismatch { .. })
        ));
        // The association's sqsize caps what is in flight.
        let mut r = rig(8);
        r.attach(FakeQ::default(), 2);
        r.poll();
        r.write(0, 0).unwrap();
        r.write(1, 1).unwrap();
        assert_eq!(r.write(2, 2), Err(IoSubmitError::QueueFull));
        assert_eq!(r.qp.outstanding(), 2);
        let sge = [Sge { iova: 0, len: 100 }];
        assert!(matches!(
            r.qp.submit_read(&ns, 0, 1, &sge, 0),
            Err(IoSubmitError::LengthMismatch {
                expected: 512,
                got: 100
            })
        ));
        assert!(matches!(
            r.qp.submit_read(&ns, 999, 2, &[], 0),
            Err(IoSubmitError::BadRange { .. })
        ));
        assert!(matches!(
            r.qp.submit_write_zeroes(&ns, 0, 0, 0),
            Err(IoSubmitError::BadRange { .. })
        ));
    }

    #[test]
    fn busy_lldd_refuses_without_losing_the_slot() {
        let mut r = rig(4);
        r.attach(
            FakeQ {
                busy: true,
                ..FakeQ::default()
            },
            31,
        );
        r.poll();
        assert_eq!(r.write(0, 0), Err(IoSubmitError::Busy));
        assert_eq!(r.qp.outstanding(), 0);
    }

    #[test]
    fn bad_ersp_holds_the_request_and_reports_a_transport_error() {
        let mut r = rig(4);
        r.attach(FakeQ::default(), 31);
        r.poll();
        r.write(1, 10).unwrap();
        r.poll();
        let mut d = good(0, 512);
        d.rsp_len = 32;
        d.rsp = crate::qpair::iu::tests::ersp(9, 512, 0, 0, 0); // wrong CID
        r.hwq().lost.clear();
        r.hwq().ready.push_back(d);
        assert!(r.poll().is_empty(), "held, not failed");
        assert!(matches!(
            r.link.next_report(),
            Some(ToMgmt::TransportError { gen: 1 })
        ));
        assert_eq!(r.qp.outstanding(), 1);
        assert_eq!(r.qp.stats().transport_errors, 1);
        // Management quiesces; the queue comes back; the next association replays.
        r.link
            .post(ToQpair::Quiesce {
                gen: 1,
                bound: Duration::from_secs(10),
            })
            .unwrap();
        r.poll();
        assert!(matches!(
            r.link.next_report(),
            Some(ToMgmt::Quiesced {
                gen: 1,
                stuck: 0,
                ..
            })
        ));
        r.attach(
            FakeQ {
                auto: true,
                ..FakeQ::default()
            },
            31,
        );
        assert_eq!(r.poll(), vec![ok(10)]);
        assert_eq!(r.hwq().submitted[0].2, 0xC2, "new connection id");
    }

    #[test]
    fn timeout_aborts_then_retries_up_to_five_times() {
        let mut r = rig(4);
        r.attach(FakeQ::default(), 31);
        r.poll();
        r.write(3, 33).unwrap();
        r.poll();
        for attempt in 1..=MAX_RETRIES {
            r.hand.advance(Duration::from_secs(31));
            assert!(r.poll().is_empty());
            // The abort was issued; its completion arrives and the command is resent.
            assert_eq!(r.hwq().aborted.len(), usize::from(attempt));
            assert!(r.poll().is_empty());
            assert_eq!(r.hwq().submitted.len(), usize::from(attempt) + 1);
        }
        r.hand.advance(Duration::from_secs(31));
        r.poll();
        let done = r.poll();
        assert_eq!(
            done,
            vec![IoCompletion {
                ctx: 33,
                status: NvmeStatus::HOST_ABORTED_CMD
            }]
        );
        let s = r.qp.stats();
        assert_eq!((s.timeouts, s.retries, s.errors), (6, 5, 1));
        assert!(r.link.next_report().is_none(), "no association reset");
    }

    #[test]
    fn stuck_abort_asks_management_for_a_reset() {
        let mut r = rig(4);
        r.attach(FakeQ::default(), 31);
        r.poll();
        r.write(0, 1).unwrap();
        r.poll();
        r.hand.advance(Duration::from_secs(31));
        r.poll();
        // The abort never completes.
        r.hwq().ready.clear();
        r.hand.advance(Duration::from_secs(9));
        r.poll();
        assert!(
            r.link.next_report().is_none(),
            "the abort bound has not passed"
        );
        r.hand.advance(Duration::from_secs(2));
        r.poll();
        assert!(matches!(
            r.link.next_report(),
            Some(ToMgmt::AbortStuck { gen: 1 })
        ));
    }

    #[test]
    fn quiesce_bound_then_fail_held() {
        let mut r = rig(4);
        r.attach(FakeQ::default(), 31);
        r.poll();
        r.write(0, 1).unwrap();
        r.write(1, 2).unwrap();
        r.poll();
        r.hwq().lost.clear(); // aborts will never complete
        r.link
            .post(ToQpair::Quiesce {
                gen: 1,
                bound: Duration::from_secs(10),
            })
            .unwrap();
        assert!(r.poll().is_empty());
        assert!(r.link.next_report().is_none(), "waiting for the aborts");
        r.hand.advance(Duration::from_secs(10));
        assert!(r.poll().is_empty());
        assert!(matches!(
            r.link.next_report(),
            Some(ToMgmt::Quiesced {
                gen: 1,
                stuck: 2,
                ..
            })
        ));
        // New I/O while detached is held too; then fast_io_fail: all fail.
        r.write(2, 3).unwrap();
        r.link
            .post(ToQpair::FailHeld {
                status: NvmeStatus::HOST_PATH_ERROR,
            })
            .unwrap();
        let mut done = r.poll();
        done.sort_by_key(|c| c.ctx);
        assert_eq!(done.len(), 3);
        assert!(done.iter().all(|c| c.status == NvmeStatus::HOST_PATH_ERROR));
        // Still failing fast until an association comes back.
        r.write(3, 4).unwrap();
        assert_eq!(r.poll()[0].status, NvmeStatus::HOST_PATH_ERROR);
        r.link.mark_deleted();
        r.poll();
        r.write(3, 5).unwrap();
        assert_eq!(r.poll()[0].status, NvmeStatus::HOST_PATH_ERROR);
        assert_eq!(r.qp.outstanding(), 0);
    }

    #[test]
    fn dropping_returns_the_queue() {
        let mut r = rig(4);
        r.attach(FakeQ::default(), 31);
        r.poll();
        r.write(0, 1).unwrap();
        r.poll();
        let link = Arc::clone(&r.link);
        drop(r);
        assert!(link.is_released());
        match link.next_report() {
            Some(ToMgmt::Released {
                gen: 1,
                hwq: Some(q),
                dirty: false,
                ..
            }) => {
                assert_eq!(q.aborted, vec![0], "active exchanges aborted first");
                assert!(q.ready.is_empty(), "the abort's completion was drained");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dropping_with_an_undrained_abort_reports_the_queue_dirty() {
        let mut r = rig(4);
        r.attach(FakeQ::default(), 31);
        r.poll();
        r.write(0, 1).unwrap();
        r.write(1, 2).unwrap();
        r.poll();
        // Tag 1's abort will never complete.
        r.hwq().lost.retain(|t| *t == 0);
        let link = Arc::clone(&r.link);
        drop(r);
        match link.next_report() {
            Some(ToMgmt::Released {
                gen: 1,
                hwq: Some(q),
                dirty: true,
                ..
            }) => assert_eq!(q.aborted, vec![0, 1]),
            other => panic!("{other:?}"),
        }
    }

    /// Review item 3: the CSN a queue pair reached goes back to management
    /// with the queue, so the next queue pair on it continues from there.
    #[test]
    fn released_and_quiesced_carry_the_csn_reached() {
        let mut r = rig(4);
        r.attach(
            FakeQ {
                auto: true,
                ..FakeQ::default()
            },
            31,
        );
        r.poll();
        for i in 0..3 {
            r.write(i, i).unwrap();
        }
        assert_eq!(r.poll().len(), 3);
        let link = Arc::clone(&r.link);
        link.post(ToQpair::Quiesce {
            gen: 1,
            bound: Duration::from_secs(1),
        })
        .unwrap();
        r.poll();
        match link.next_report() {
            Some(ToMgmt::Quiesced { gen: 1, csn: 4, .. }) => {}
            other => panic!("{other:?}"),
        }
        r.attach(FakeQ::default(), 31);
        r.poll();
        r.write(7, 7).unwrap();
        r.poll();
        drop(r);
        match link.next_report() {
            Some(ToMgmt::Released { gen: 2, csn: 2, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    /// Review item 4: a command submitted after the queue pair sat idle (no
    /// poll) gets its full io_timeout, not one measured from the last poll.
    #[test]
    fn command_after_an_idle_period_gets_its_full_timeout() {
        let mut r = rig(4);
        r.attach(FakeQ::default(), 31);
        r.poll();
        r.hand.advance(Duration::from_secs(300));
        r.write(0, 1).unwrap();
        assert!(r.poll().is_empty());
        assert!(r.hwq().aborted.is_empty(), "aborted right after submission");
        assert_eq!(r.qp.stats().timeouts, 0);
        r.hand.advance(Duration::from_secs(29));
        r.poll();
        assert!(r.hwq().aborted.is_empty(), "aborted before io_timeout");
        r.hand.advance(Duration::from_secs(2));
        r.poll();
        assert_eq!(r.hwq().aborted, vec![0], "aborted once io_timeout passed");
        assert_eq!(r.qp.stats().timeouts, 1);
    }

    /// Review item 4, the busy path: with other commands in flight the
    /// submission still reads no clock, and a poll soon after keeps the stamp.
    #[test]
    fn busy_submissions_keep_the_poll_stamp() {
        let mut r = rig(4);
        r.attach(FakeQ::default(), 31);
        r.poll();
        r.write(0, 1).unwrap();
        r.poll();
        r.hand.advance(Duration::from_secs(1));
        r.write(1, 2).unwrap(); // stamped with the last poll (0 s)
        r.hand.advance(Duration::from_millis(1));
        r.poll();
        r.hand.advance(Duration::from_millis(29_000));
        r.poll();
        assert_eq!(r.hwq().aborted, vec![0, 1], "both due at 30 s");
    }

    /// Review item 5: a command that keeps failing with a transport error is
    /// resubmitted at most MAX_RETRIES times, then completed with host
    /// aborted command. Each retry waits for the next association: after a
    /// transport error nothing more goes out on the one being reset.
    #[test]
    fn transport_error_retries_are_capped() {
        let mut r = rig(4);
        r.attach(FakeQ::default(), 31);
        r.poll();
        r.write(2, 22).unwrap();
        r.poll();
        let t22 = r.hwq().submitted[0].0;
        let tries = |r: &mut Rig| r.hwq().submitted.iter().filter(|s| s.0 == t22).count();
        let mut done = Vec::new();
        for attempt in 0..=MAX_RETRIES {
            assert_eq!(tries(&mut r), 1, "attempt {attempt}: once per association");
            let q = r.hwq();
            q.lost.retain(|t| *t != t22);
            let mut d = good(t22, 0);
            d.status = FcpStatus::Aborted;
            d.rsp_len = 0;
            q.ready.push_back(d);
            done.extend(r.poll());
            done.extend(r.poll());
            assert_eq!(tries(&mut r), 1, "held while the reset runs");
            if attempt == 0 {
                r.write(3, 33).unwrap();
                assert_eq!(r.hwq().submitted.len(), 1, "a new request waits too");
            }
            let gen = r.gen;
            let reports: Vec<_> = std::iter::from_fn(|| r.link.next_report()).collect();
            assert!(
                reports
                    .iter()
                    .any(|m| matches!(m, ToMgmt::TransportError { gen: g } if *g == gen)),
                "attempt {attempt}: the transport error is reported"
            );
            r.attach(FakeQ::default(), 31);
            done.extend(r.poll());
            if attempt == 0 {
                let q = r.hwq();
                let t33 = q.submitted.iter().map(|s| s.0).find(|t| *t != t22).unwrap();
                q.lost.retain(|t| *t != t33);
                q.ready.push_back(good(t33, 512));
                done.extend(r.poll());
                assert_eq!(done, vec![ok(33)]);
                done.clear();
            }
        }
        done.extend(r.poll());
        assert_eq!(
            done,
            vec![IoCompletion {
                ctx: 22,
                status: NvmeStatus::HOST_ABORTED_CMD
            }]
        );
        assert_eq!(tries(&mut r), 0, "not resubmitted after the last attempt");
        assert_eq!(r.qp.outstanding(), 0);
    }

    /// Review item 6: a submission the LLDD refuses with Busy uses no CSN.
    #[test]
    fn busy_submission_consumes_no_csn() {
        let mut r = rig(4);
        r.attach(FakeQ::default(), 31);
        r.poll();
        r.hwq().busy = true;
        assert_eq!(r.write(0, 1), Err(IoSubmitError::Busy));
        assert_eq!(r.write(0, 1), Err(IoSubmitError::Busy));
        r.hwq().busy = false;
        r.write(0, 1).unwrap();
        r.write(1, 2).unwrap();
        let csns: Vec<u32> = r.hwq().submitted.iter().map(|s| s.1).collect();
        assert_eq!(
            csns,
            vec![2, 3],
            "CSNs follow the Connect's (1) without gaps"
        );
    }

    /// Review item 10: deletion is sticky in the link, so a queue pair learns
    /// it even when the Deleted message was lost, and one created afterwards
    /// on the same link fails its I/O at once instead of holding it forever.
    #[test]
    fn deletion_is_sticky_without_the_message() {
        let mut r = rig(4);
        r.write(0, 1).unwrap();
        r.poll();
        r.link.mark_deleted();
        let done = r.poll();
        assert_eq!(
            done,
            vec![IoCompletion {
                ctx: 1,
                status: NvmeStatus::HOST_PATH_ERROR
            }]
        );
        let (clock, _) = Clock::manual();
        let mut late = IoQpair::new(
            Arc::clone(&r.link),
            clock,
            QpairParams {
                ctrl_uid: UID,
                depth: 4,
                max_sge: 2,
                io_timeout: Duration::from_secs(30),
                abort_bound: Duration::from_secs(10),
            },
        );
        let ns = r.ns.clone();
        let sge = Sge {
            iova: 0x1000,
            len: 512,
        };
        late.submit_write(&ns, 0, 1, &[sge], 9).unwrap();
        let mut v = Vec::new();
        late.poll(8, |c| v.push(c));
        assert_eq!(
            v,
            vec![IoCompletion {
                ctx: 9,
                status: NvmeStatus::HOST_PATH_ERROR
            }]
        );
    }

    /// Review item 10: a queue pair created on a link starts from the latest
    /// association generation management published there.
    #[test]
    fn new_queue_pair_starts_at_the_latest_generation() {
        let r = rig(4);
        r.link.set_latest_gen(7);
        let (clock, _) = Clock::manual();
        let qp: IoQpair<FakeQ> = IoQpair::new(
            Arc::clone(&r.link),
            clock,
            QpairParams {
                ctrl_uid: UID,
                depth: 4,
                max_sge: 2,
                io_timeout: Duration::from_secs(30),
                abort_bound: Duration::from_secs(10),
            },
        );
        drop(qp);
        assert!(r
            .link
            .next_report()
            .is_some_and(|m| matches!(m, ToMgmt::Released { gen: 7, .. })));
    }

    #[test]
    fn namespace_of_another_controller_is_refused() {
        let mut r = rig(4);
        let (clock, _) = Clock::manual();
        let t = Transport::<FakeLldd>::new(clock);
        let other = Controller::new(t, Arc::new(CtrlShared::new(UID + 1, "x".into())));
        let ns = Namespace::new(other, 1, 512, 10);
        assert_eq!(
            r.qp.submit_flush(&ns, 0),
            Err(IoSubmitError::WrongController)
        );
    }

    #[derive(Clone, Debug)]
    enum Step {
        Submit,
        CompleteOldest,
        TargetAborts,
        Reset,
        Poll,
        Advance(u8),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            4 => Just(Step::Submit),
            3 => Just(Step::CompleteOldest),
            1 => Just(Step::TargetAborts),
            1 => Just(Step::Reset),
            3 => Just(Step::Poll),
            1 => (0u8..40).prop_map(Step::Advance),
        ]
    }

    proptest::proptest! {
        /// Whatever happens to the association, every accepted request is
        /// delivered exactly once and every slot comes back.
        #[test]
        fn every_request_is_delivered_exactly_once(steps in proptest::collection::vec(step(), 1..120)) {
            let mut r = rig(8);
            r.attach(FakeQ::default(), 31);
            let mut accepted = Vec::new();
            let mut delivered: Vec<u64> = Vec::new();
            let mut next_ctx = 0u64;
            for s in steps {
                match s {
                    Step::Submit => {
                        next_ctx += 1;
                        if r.write(next_ctx % 900, next_ctx).is_ok() {
                            accepted.push(next_ctx);
                        }
                    }
                    Step::CompleteOldest => {
                        if let Some(q) = r.qp.hwq.as_mut() {
                            if !q.lost.is_empty() {
                                let tag = q.lost.remove(0);
                                q.ready.push_back(good(tag, 512));
                            }
                        }
                    }
                    Step::TargetAborts => {
                        if let Some(q) = r.qp.hwq.as_mut() {
                            if let Some(tag) = q.lost.pop() {
                                let mut d = good(tag, 0);
                                d.status = FcpStatus::Aborted;
                                q.ready.push_back(d);
                            }
                        }
                    }
                    Step::Reset => {
                        let gen = r.gen;
                        r.link.post(ToQpair::Quiesce { gen, bound: Duration::from_secs(10) }).unwrap();
                        r.qp.poll(64, |c| delivered.push(c.ctx));
                        r.hand.advance(Duration::from_secs(10));
                        r.qp.poll(64, |c| delivered.push(c.ctx));
                        while let Some(m) = r.link.next_report() {
                            drop(m);
                        }
                        r.attach(FakeQ::default(), 31);
                    }
                    Step::Poll => {
                        r.qp.poll(64, |c| delivered.push(c.ctx));
                        while r.link.next_report().is_some() {}
                    }
                    Step::Advance(secs) => r.hand.advance(Duration::from_secs(u64::from(secs))),
                }
            }
            // A healthy association to drain everything.
            r.hand.advance(Duration::from_secs(1));
            r.link.post(ToQpair::Quiesce { gen: r.gen, bound: Duration::from_secs(0) }).unwrap();
            r.qp.poll(64, |c| delivered.push(c.ctx));
            r.attach(FakeQ { auto: true, ..FakeQ::default() }, 31);
            for _ in 0..10 {
                r.qp.poll(64, |c| delivered.push(c.ctx));
            }
            delivered.sort_unstable();
            accepted.sort_unstable();
            proptest::prop_assert_eq!(&delivered, &accepted);
            proptest::prop_assert_eq!(r.qp.outstanding(), 0);
        }
    }
}
