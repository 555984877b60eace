//! The management side of one controller: its state machine, the queue-pair
//! links, keep-alive and AER while live, error recovery and the reconnect
//! policy (nvme-fc.md §2.5, §3.1, §3.4, §3.5, §3.9).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::ctrl::admin::AdminTag;
use crate::ctrl::assoc::{Assoc, BuildStep};
use crate::ctrl::options::ConnectOptions;
use crate::ctrl::reconnect::{self, GiveUp, Reconnect, ReconnectInput};
use crate::ctrl::state::{BadTransition, CtrlState, StateMachine};
use crate::ctrl::CtrlShared;
use crate::lldd::{IoDir, Lldd, LocalPortId, RemotePortId};
use crate::port::{ActMark, DeleteCall, PortState, Registry};
use crate::qpair::link::{Attach, QpairLink, ToMgmt, ToQpair};
use crate::transport::TransportConfig;
use crate::wire::{NvmeStatus, Sqe};

/// What management needs while driving controllers.
pub(crate) struct Ctx<'a, L: Lldd> {
    pub now: Duration,
    pub reg: &'a mut Registry<L>,
    pub calls: &'a mut Vec<DeleteCall<L>>,
    pub cfg: &'a TransportConfig,
    pub next_ls_tag: &'a mut u64,
    pub limits_max_hw_queues: u16,
}

impl<L: Lldd> Ctx<'_, L> {
    pub fn new_ls_tag(&mut self) -> u64 {
        *self.next_ls_tag += 1;
        *self.next_ls_tag
    }
}

/// What follows a teardown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum After {
    /// Reconnect (after a reset) or decide (after a failed attempt).
    Reconnect { dnr: bool },
    /// The controller is being deleted.
    Delete,
}

/// Where the controller's association is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// No association.
    Idle,
    Build(BuildStep),
    Live,
    Teardown {
        after: After,
        deadline: Duration,
    },
}

/// Management's end of one I/O queue's link.
pub(crate) struct LinkSlot<Q> {
    pub link: Arc<QpairLink<Q>>,
    /// An `IoQpair` exists for this queue.
    pub claimed: bool,
    /// The hardware queue while management holds it.
    pub parked: Option<Q>,
    pub connection_id: u64,
    pub csn: u32,
    /// Generation attached to the queue pair.
    pub attached: Option<u32>,
    /// Waiting for `Quiesced`.
    pub quiescing: bool,
    outbox: VecDeque<ToQpair<Q>>,
}

impl<Q> LinkSlot<Q> {
    pub(crate) fn new(qid: u16) -> Self {
        LinkSlot {
            link: Arc::new(QpairLink::new(qid)),
            claimed: false,
            parked: None,
            connection_id: 0,
            csn: 0,
            attached: None,
            quiescing: false,
            outbox: VecDeque::new(),
        }
    }

    /// Posts in order; keeps what the link cannot take yet.
    pub fn send(&mut self, msg: ToQpair<Q>) {
        self.outbox.push_back(msg);
        self.flush();
    }

    fn flush(&mut self) {
        while let Some(m) = self.outbox.pop_front() {
            if let Err(m) = self.link.post(m) {
                self.outbox.push_front(m);
                break;
            }
        }
    }
}

/// Management counters of one controller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtrlCounters {
    /// Associations that reached LIVE.
    pub connects: u64,
    /// Association attempts that failed.
    pub failed_attempts: u64,
    /// Resets of a live association (errors, target disconnect, port loss).
    pub resets: u64,
    /// Queue pairs that did not answer Quiesce within the bound.
    pub quiesce_timeouts: u64,
    /// Aborted exchanges reclaimed at the bound without a completion.
    pub stuck_exchanges: u64,
    /// Keep-alive failures.
    pub keep_alive_failures: u64,
    /// Async events received.
    pub async_events: u64,
    /// Disconnect Association LSs received from the target.
    pub target_disconnects: u64,
}

/// One controller, as management sees it.
pub(crate) struct CtrlEntry<L: Lldd> {
    pub shared: Arc<CtrlShared>,
    pub opts: ConnectOptions,
    pub max_reconnects: Option<u32>,
    pub lport: LocalPortId,
    pub rport: RemotePortId,
    sm: StateMachine,
    /// The seed's `ASSOC_ACTIVE` mark, stamped with the registrations it was
    /// counted under (§2.4).
    pub act_mark: Option<ActMark>,
    pub nr_reconnects: u32,
    pub assoc: Option<Box<Assoc<L>>>,
    pub step: Step,
    pub next_attempt: Option<Duration>,
    /// The remote port was registered again while an attempt was in progress
    /// or being unwound: the next attempt goes at once (§2.6 step 5).
    pub resume_pending: bool,
    pub failfast_at: Option<Duration>,
    pub failfast_fired: bool,
    pub gen: u32,
    pub ioq_count: u16,
    pub links: Vec<LinkSlot<L::HwQueue>>,
    pub counters: CtrlCounters,
    /// Why the controller was deleted, for stats.
    pub delete_reason: Option<&'static str>,
}

impl<L: Lldd> CtrlEntry<L> {
    pub fn new(
        shared: Arc<CtrlShared>,
        opts: ConnectOptions,
        lport: LocalPortId,
        rport: RemotePortId,
    ) -> Self {
        CtrlEntry {
            shared,
            max_reconnects: opts.max_reconnects(),
            opts,
            lport,
            rport,
            sm: StateMachine::new(),
            act_mark: None,
            nr_reconnects: 0,
            assoc: None,
            step: Step::Idle,
            next_attempt: None,
            resume_pending: false,
            failfast_at: None,
            failfast_fired: false,
            gen: 0,
            ioq_count: 0,
            links: Vec::new(),
            counters: CtrlCounters::default(),
            delete_reason: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub fn state(&self) -> CtrlState {
        self.sm.get()
    }

    /// Moves the state machine (nvme-fc.md §3.1) and publishes the new state;
    /// the caller handles a refusal.
    pub fn set_state(&mut self, s: CtrlState) -> Result<(), BadTransition> {
        self.sm.become_(s)?;
        self.shared.publish_state(s);
        Ok(())
    }

    /// [`Self::set_state`] for transitions the callers' checks make legal: a
    /// refusal is a bug, logged with what was attempted; false tells the
    /// caller to leave everything as it is.
    fn transition(&mut self, s: CtrlState, what: &str) -> bool {
        match self.set_state(s) {
            Ok(()) => true,
            Err(e) => {
                log::error!("{}: {what}: {e}", self.shared.name);
                false
            }
        }
    }

    /// `connect`: NEW → CONNECTING, first attempt at the next poll.
    pub fn begin(&mut self, now: Duration) {
        if self.transition(CtrlState::Connecting, "connect") {
            self.next_attempt = Some(now);
        }
    }

    /// One management pass; true when something changed.
    pub fn drive(&mut self, ctx: &mut Ctx<'_, L>) -> bool {
        let mut progress = self.handle_reports(ctx);
        for slot in &mut self.links {
            slot.flush();
        }
        for _ in 0..64 {
            let moved = match self.step {
                Step::Idle => self.drive_idle(ctx),
                Step::Build(_) => self.drive_build(ctx),
                Step::Live => self.drive_live(ctx),
                Step::Teardown { .. } => self.drive_teardown(ctx),
            };
            if !moved {
                break;
            }
            progress = true;
        }
        progress
    }

    fn drive_idle(&mut self, ctx: &mut Ctx<'_, L>) -> bool {
        if self.state() != CtrlState::Connecting {
            return false;
        }
        if let Some(at) = self.failfast_at {
            if !self.failfast_fired && ctx.now >= at {
                self.failfast_fired = true;
                log::warn!(
                    "{}: fast_io_fail_tmo expired; failing queued I/O",
                    self.name()
                );
                // Only to queue pairs that exist: one claimed later learns it
                // from alloc_io_qpair, never from a stale message.
                for slot in self.links.iter_mut().filter(|s| s.claimed) {
                    slot.send(ToQpair::FailHeld {
                        status: NvmeStatus::HOST_PATH_ERROR,
                    });
                }
            }
        }
        match self.next_attempt {
            Some(at) if ctx.now >= at => {
                self.start_attempt(ctx);
                true
            }
            _ => false,
        }
    }

    fn drive_live(&mut self, ctx: &mut Ctx<'_, L>) -> bool {
        let now = ctx.now;
        let kato = self.opts.kato;
        let Some(a) = self.assoc.as_mut() else {
            return false;
        };
        let mut progress = a.admin.poll() != 0;
        // Keep-alive (§3.9): every kato/2; an answer later than kato is a loss.
        if !kato.is_zero() {
            if let Some(r) = a.admin.take_done(AdminTag::KeepAlive) {
                progress = true;
                if let Err(e) = r {
                    log::warn!("{}: keep-alive failed: {e}", self.shared.name);
                    self.counters.keep_alive_failures += 1;
                    self.error_recovery(ctx, "keep-alive failed");
                    return true;
                }
            }
            if a.admin.busy(AdminTag::KeepAlive) {
                if now >= a.admin.sent_at(AdminTag::KeepAlive) + kato {
                    log::warn!("{}: keep-alive not answered within kato", self.shared.name);
                    self.counters.keep_alive_failures += 1;
                    self.error_recovery(ctx, "keep-alive timeout");
                    return true;
                }
            } else if now >= a.last_ka + kato / 2 {
                a.last_ka = now;
                if a.admin
                    .submit(
                        AdminTag::KeepAlive,
                        Sqe::keep_alive(),
                        IoDir::None,
                        None,
                        now,
                    )
                    .is_err()
                {
                    self.error_recovery(ctx, "keep-alive could not be sent");
                    return true;
                }
                progress = true;
            }
        }
        // One Async Event Request outstanding, re-armed on completion.
        match a.admin.take_done(AdminTag::Aer) {
            Some(Ok(c)) => {
                progress = true;
                self.counters.async_events += u64::from(c.status.is_success());
                log::info!("{}: async event {:#x}", self.shared.name, c.result);
            }
            Some(Err(e)) => {
                log::warn!("{}: AER exchange failed: {e}", self.shared.name);
                self.error_recovery(ctx, "AER exchange failed");
                return true;
            }
            None => {}
        }
        let Some(a) = self.assoc.as_mut() else {
            return progress;
        };
        if !a.admin.busy(AdminTag::Aer)
            && a.admin
                .submit(AdminTag::Aer, Sqe::async_event(), IoDir::None, None, now)
                .is_ok()
        {
            progress = true;
        }
        // Stale build-tag completions while live are ignored.
        let _ = a.admin.take_done(AdminTag::Build);
        progress
    }

    /// `nvme_fc_error_recovery`: reset from LIVE; fail the attempt while
    /// CONNECTING; ignore otherwise.
    pub fn error_recovery(&mut self, ctx: &mut Ctx<'_, L>, why: &str) {
        match (self.state(), self.step) {
            (CtrlState::Live, _) => {
                log::warn!("{}: {why}; resetting the association", self.name());
                self.reset(ctx);
            }
            (CtrlState::Connecting, Step::Build(_)) => {
                if let Some(a) = self.assoc.as_mut() {
                    a.failed = true;
                }
            }
            _ => {}
        }
    }

    /// LIVE → RESETTING, teardown, then reconnect.
    pub fn reset(&mut self, ctx: &mut Ctx<'_, L>) -> bool {
        if self.state() != CtrlState::Live || !self.transition(CtrlState::Resetting, "reset") {
            return false;
        }
        self.counters.resets += 1;
        self.start_teardown(ctx, After::Reconnect { dnr: false });
        true
    }

    /// `nvme_delete_ctrl`.
    pub fn delete(&mut self, ctx: &mut Ctx<'_, L>, reason: &'static str) {
        if matches!(self.state(), CtrlState::Deleting | CtrlState::Deleted) {
            return;
        }
        if !self.transition(CtrlState::Deleting, reason) {
            return;
        }
        log::info!("{}: deleting ({reason})", self.name());
        self.delete_reason = Some(reason);
        self.next_attempt = None;
        self.start_teardown(ctx, After::Delete);
    }

    /// Connectivity loss (`unregister_remoteport`, §3.5 with the 2025 rule:
    /// an attempt in progress fails).
    pub fn connectivity_loss(&mut self, ctx: &mut Ctx<'_, L>, dev_loss_tmo: Duration) {
        if dev_loss_tmo.is_zero() {
            self.delete(ctx, "dev_loss_tmo is 0");
            return;
        }
        match self.state() {
            CtrlState::Live => {
                self.reset(ctx);
            }
            CtrlState::Connecting => {
                if let Some(a) = self.assoc.as_mut() {
                    a.failed = true;
                    if let Some((tag, _)) = a.ls_tag.take() {
                        a.lldd.ls_abort(a.lport, tag);
                        a.ls_result = Some(Err(crate::lldd::LsError::Aborted));
                    }
                }
                // A wait scheduled while the port was online ends no later than
                // dev_loss_tmo, as reconnect_or_delete clamps it (§2.5): the
                // controller goes when dev_loss_tmo expires, not at the next
                // reconnect_delay tick after it.
                let dev_loss_end = ctx.now + dev_loss_tmo;
                if let Some(at) = self.next_attempt.as_mut() {
                    *at = (*at).min(dev_loss_end);
                }
            }
            _ => {}
        }
    }

    /// The remote port came back (§2.6 step 5): CONNECTING reconnects with no
    /// delay — now if waiting, else as soon as the attempt in progress has
    /// failed and been unwound. RESETTING reconnects by itself after teardown.
    pub fn resume(&mut self, now: Duration) {
        if self.state() != CtrlState::Connecting {
            return;
        }
        if self.step == Step::Idle {
            self.next_attempt = Some(now);
        } else {
            self.resume_pending = true;
        }
    }

    /// `nvme_fc_reconnect_or_delete`, run after a failed attempt.
    pub fn reconnect_or_delete(&mut self, ctx: &mut Ctx<'_, L>, dnr: bool) {
        let (online, dev_loss_end) = ctx
            .reg
            .rports
            .get(&self.rport)
            .map_or((false, Some(ctx.now)), |r| {
                (r.state == PortState::Online, r.dev_loss_end)
            });
        let d = reconnect::decide(ReconnectInput {
            now: ctx.now,
            rport_online: online,
            dev_loss_end,
            nr_reconnects: self.nr_reconnects,
            max_reconnects: self.max_reconnects,
            reconnect_delay: self.opts.reconnect_delay,
            dnr,
        });
        match d {
            Reconnect::At(_) if std::mem::take(&mut self.resume_pending) => {
                self.next_attempt = Some(ctx.now);
            }
            Reconnect::At(t) => self.next_attempt = Some(t),
            Reconnect::Delete(why) => {
                let reason = match why {
                    GiveUp::Dnr => "target said do not retry",
                    GiveUp::DevLoss => "dev_loss_tmo expired",
                    GiveUp::CtrlLoss => "ctrl_loss_tmo expired (max reconnects reached)",
                };
                self.delete(ctx, reason);
            }
        }
    }

    /// What follows a finished teardown.
    pub fn after_teardown(&mut self, ctx: &mut Ctx<'_, L>, after: After) {
        match after {
            After::Delete => {
                // Only delete() asks for this teardown, after entering DELETING.
                if !self.transition(CtrlState::Deleted, "teardown for deletion finished") {
                    return;
                }
                for slot in &mut self.links {
                    // Sticky: survives a full link and this entry being dropped.
                    slot.link.mark_deleted();
                    slot.outbox.clear();
                    drop(slot.parked.take());
                }
                log::info!("{}: deleted", self.name());
            }
            After::Reconnect { dnr } => {
                if self.state() == CtrlState::Resetting
                    && self.transition(CtrlState::Connecting, "reset teardown finished")
                {
                    self.failfast_at = self.opts.fast_io_fail_tmo.map(|t| ctx.now + t);
                    self.failfast_fired = false;
                    let online = ctx
                        .reg
                        .rports
                        .get(&self.rport)
                        .is_some_and(|r| r.state == PortState::Online);
                    if online {
                        self.next_attempt = Some(ctx.now);
                        return;
                    }
                }
                self.reconnect_or_delete(ctx, dnr);
            }
        }
    }

    /// Hands the parked queues to their queue pairs (LIVE).
    pub fn attach_links(&mut self) {
        let Some(a) = self.assoc.as_ref() else {
            return;
        };
        let (gen, token, sqsize) = (a.gen, a.rport_token, a.sqsize);
        for slot in &mut self.links {
            slot.link.set_latest_gen(gen);
            if slot.claimed {
                if let Some(hwq) = slot.parked.take() {
                    slot.attached = Some(gen);
                    let attach = Attach {
                        gen,
                        hwq,
                        connection_id: slot.connection_id,
                        csn: slot.csn,
                        rport: token,
                        sqsize,
                    };
                    slot.send(ToQpair::Attach(attach));
                }
            }
        }
    }

    /// Reads what the queue pairs said.
    fn handle_reports(&mut self, ctx: &mut Ctx<'_, L>) -> bool {
        let gen = self.assoc.as_ref().map(|a| a.gen);
        let live = self.step == Step::Live;
        let mut progress = false;
        let mut recover = None;
        let mut dirty_release = false;
        for slot in &mut self.links {
            while let Some(r) = slot.link.next_report() {
                progress = true;
                match r {
                    ToMgmt::Quiesced {
                        gen: g,
                        hwq,
                        stuck,
                        csn,
                    } => {
                        if Some(g) == gen && slot.quiescing {
                            slot.quiescing = false;
                            slot.attached = None;
                            slot.parked = Some(hwq);
                            slot.csn = csn;
                            self.counters.stuck_exchanges += u64::from(stuck);
                        } else {
                            // A late answer after the bound: delete the stale queue.
                            drop(hwq);
                        }
                    }
                    ToMgmt::TransportError { gen: g } | ToMgmt::AbortStuck { gen: g } => {
                        if Some(g) == gen && live {
                            recover = Some(g);
                        }
                    }
                    ToMgmt::Released {
                        gen: g,
                        hwq,
                        dirty,
                        csn,
                    } => {
                        slot.claimed = false;
                        if slot.attached == Some(g) {
                            slot.attached = None;
                            slot.quiescing = false;
                        }
                        match hwq {
                            Some(hwq) if dirty => {
                                // Completions of its aborted exchanges may still
                                // arrive: delete the queue. While live the
                                // association has no queue for this qid any more
                                // and is reset, which creates a fresh one.
                                log::warn!(
                                    "{}: I/O queue {} released with exchanges outstanding; deleted",
                                    self.shared.name,
                                    slot.link.qid
                                );
                                drop(hwq);
                                if Some(g) == gen && live {
                                    dirty_release = true;
                                }
                            }
                            Some(hwq) if Some(g) == gen && slot.parked.is_none() => {
                                // The connection lives on: its next queue pair
                                // continues the CSN sequence.
                                slot.parked = Some(hwq);
                                slot.csn = csn;
                            }
                            Some(hwq) => drop(hwq),
                            None => {}
                        }
                    }
                }
            }
            if slot.link.is_released() && !slot.claimed {
                while let Some(m) = slot.link.reclaim() {
                    if let ToQpair::Attach(a) = m {
                        if Some(a.gen) == gen && slot.parked.is_none() {
                            slot.parked = Some(a.hwq);
                        }
                        slot.attached = None;
                        slot.quiescing = false;
                    }
                }
                slot.outbox.clear();
            }
        }
        if recover.is_some() {
            self.error_recovery(ctx, "transport error on an I/O queue");
        } else if dirty_release {
            self.error_recovery(ctx, "an I/O queue was released with exchanges outstanding");
        }
        progress
    }
}
