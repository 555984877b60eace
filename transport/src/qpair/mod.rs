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
    /// Resubmissions after a timeout abort.
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
    held: Vec<u16>,
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
    last_now: Duration,
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
                status: NvmeStatus::SUCCESS,
            })
            .collect();
        // Free list pops low tags first.
        let free: Vec<u16> = (0..depth)
            .rev()
            .filter_map(|t| u16::try_from(t).ok())
            .collect();
        let now = clock.now();
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
                held: Vec::with_capacity(depth),
                done: Vec::with_capacity(depth),
                mode: Mode::Detached,
                gen: 0,
                connection_id: 0,
                rport: LlddRport(0),
                limit: depth,
                active: 0,
                quiescing: 0,
                csn: 0,
                sqhd: 0,
                seq: 0,
                last_now: now,
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
                let Some(hwq) = self.hwq.as_mut() else {
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
                        c.hold(tag);
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
            if !self.core.held.is_empty() {
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
        delivered
    }

    fn handle_messages(&mut self, now: Duration) {
        self.core.seen = self.core.link.posted();
        while let Some(msg) = self.core.link.take() {
            match msg {
                ToQpair::Attach(a) => self.attach(a),
                ToQpair::Quiesce { gen, bound } => self.quiesce(gen, now + bound),
                ToQpair::FailHeld { status } => {
                    self.core.fail_held(status);
                    if self.core.mode == Mode::Detached {
                        self.core.mode = Mode::Failing(status);
                    }
                }
                ToQpair::Deleted => {
                    if let Mode::Quiescing { gen, .. } = self.core.mode {
                        self.finish_quiesce(gen);
                    }
                    self.core.fail_held(NvmeStatus::HOST_PATH_ERROR);
                    self.core.mode = Mode::Deleted;
                }
            }
        }
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
        self.hwq = Some(a.hwq);
        self.replay();
    }

    /// Resubmits held requests, oldest first, as far as the queue takes them.
    fn replay(&mut self) {
        let Some(hwq) = self.hwq.as_mut() else {
            return;
        };
        let c = &mut self.core;
        {
            let slots = &c.slots;
            c.held
                .sort_unstable_by_key(|t| std::cmp::Reverse(slots[usize::from(*t)].seq));
        }
        while c.active < c.limit {
            let Some(tag) = c.held.pop() else { break };
            match c.start(hwq, tag) {
                Ok(()) => c.stats.replayed += 1,
                Err(SubmitError::Busy) => {
                    c.held.push(tag);
                    break;
                }
                Err(SubmitError::Failed) => {
                    c.held.push(tag);
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
            if let Err(ToMgmt::Quiesced { hwq, .. }) =
                c.link.report(ToMgmt::Quiesced { gen, hwq, stuck })
            {
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
            next.max(now + c.io_timeout / 16)
        };
    }
}

impl<Q> Core<Q> {
    fn hold(&mut self, tag: u16) {
        self.slots[usize::from(tag)].state = SlotState::Held;
        self.held.push(tag);
    }

    fn finish(&mut self, tag: u16, status: NvmeStatus) {
        let slot = &mut self.slots[usize::from(tag)];
        slot.state = SlotState::Done;
        slot.status = status;
        self.done.push(tag);
    }

    fn fail_held(&mut self, status: NvmeStatus) {
        while let Some(tag) = self.held.pop() {
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
        self.csn = self.csn.wrapping_add(1);
        let slot = &mut self.slots[t];
        iu::set_conn(&mut slot.iu, self.connection_id, self.csn);
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
        slot.state = SlotState::Active;
        slot.deadline = self.last_now + self.io_timeout;
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
                let slot = &mut self.slots[t];
                slot.retries += 1;
                if slot.retries > MAX_RETRIES {
                    self.finish(d.tag, NvmeStatus::HOST_ABORTED_CMD);
                } else {
                    self.stats.retries += 1;
                    // Resubmitted by replay() at the end of this poll.
                    self.hold(d.tag);
                }
                false
            }
            (_, Err(e)) => {
                log::warn!(
                    "qpair {} tag {}: {e}; resetting the association",
                    self.link.qid,
                    d.tag
                );
                self.hold(d.tag);
                self.transport_error();
                false
            }
        }
    }
}

impl<Q: HwQueue> Drop for IoQpair<Q> {
    fn drop(&mut self) {
        if let Some(hwq) = self.hwq.as_mut() {
            for (t, slot) in self.core.slots.iter().enumerate() {
                if matches!(
                    slot.state,
                    SlotState::Active | SlotState::Aborting | SlotState::Quiescing
                ) {
                    // t fits u16 (see new()).
                    hwq.abort(t as u16);
                }
            }
            hwq.flush();
        }
        let msg = ToMgmt::Released {
            gen: self.core.gen,
            hwq: self.hwq.take(),
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
