//! A connection: one NVMe queue of an association, addressed by its connection id.
//! Every CMD IU for the queue goes through [`Connection::handle_fcp`].
//!
//! Per command: decode and check the CMD IU (an IU that fails — wrong format, wrong
//! connection, WRITE/READ flags that disagree with the SQE — is aborted without a
//! response, nvme-fc.md A.2), advance SQHD, execute, choose the response
//! ([`crate::target::response`]). One short lock per command; the command
//! handlers allocate nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use ufc_transport::lldd::{Sge, CMD_IU_LEN};
use ufc_transport::wire::iu::CmdIu;
use ufc_transport::wire::opcode::admin;
use ufc_transport::wire::sqe::SQE_FLAGS_FUSE_MASK;

use crate::host_memory::HostMemory;
use crate::target::assoc::Association;
use crate::target::controller::Controller;
use crate::target::fcp::FcpOutcome;
use crate::target::response::{Completion, ForceErsp, ResponseState};
use crate::target::{admin as admin_cmds, fabrics, io};

/// Counters of one connection (for SMART and for tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Commands executed.
    pub commands: u64,
    /// Read commands completed successfully.
    pub reads: u64,
    /// Write commands completed successfully.
    pub writes: u64,
    /// Bytes read by the host.
    pub bytes_read: u64,
    /// Bytes written by the host.
    pub bytes_written: u64,
    /// CMD IUs aborted without a response (bad IU, A.2).
    pub dropped: u64,
    /// Commands whose CSN was not above the previous one (gaps are allowed, §4.7).
    pub csn_out_of_order: u64,
}

#[derive(Debug)]
struct HeldCmd {
    xchg: u64,
    cid: u16,
    expected: u32,
}

#[derive(Debug)]
pub(crate) struct ConnState {
    pub(crate) ctrl: Option<Arc<Controller>>,
    rsp: ResponseState,
    last_csn: u32,
    pub(crate) stats: ConnStats,
    held: Vec<HeldCmd>,
    deferred: Vec<(u64, FcpOutcome)>,
}

/// One queue's connection.
#[derive(Debug)]
pub struct Connection {
    id: u64,
    qid: u16,
    sqsize: u16,
    assoc: Weak<Association>,
    live: AtomicBool,
    deferred_pending: AtomicBool,
    state: Mutex<ConnState>,
}

/// What a command handler returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exec {
    Done(Completion),
    /// Async Event Request kept for later.
    Hold,
}

/// One decoded command with its data, handed to the handlers.
pub(crate) struct Cmd<'a, M> {
    pub(crate) iu: &'a CmdIu,
    pub(crate) sgl: &'a [Sge],
    pub(crate) mem: &'a M,
}

impl<M> Cmd<'_, M> {
    /// The CMD IU's data length.
    pub(crate) fn data_len(&self) -> u32 {
        self.iu.data_len.get()
    }
}

impl Connection {
    pub(crate) fn new(
        id: u64,
        qid: u16,
        sqsize: u16,
        ersp_ratio: u16,
        assoc: Weak<Association>,
    ) -> Arc<Self> {
        Arc::new(Connection {
            id,
            qid,
            sqsize,
            assoc,
            live: AtomicBool::new(true),
            deferred_pending: AtomicBool::new(false),
            state: Mutex::new(ConnState {
                ctrl: None,
                rsp: ResponseState::new(qid, sqsize, ersp_ratio),
                last_csn: 0,
                stats: ConnStats::default(),
                held: Vec::new(),
                deferred: Vec::new(),
            }),
        })
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, ConnState> {
        // A panicked holder leaves counters and lists consistent (single pushes/pops).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connection id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Queue id.
    pub fn qid(&self) -> u16 {
        self.qid
    }

    /// SQ size, 0's based, from the LS.
    pub fn sqsize(&self) -> u16 {
        self.sqsize
    }

    pub(crate) fn association(&self) -> Option<Arc<Association>> {
        self.assoc.upgrade()
    }

    /// Accepts commands (not torn down, not disconnected).
    #[inline]
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Relaxed)
    }

    /// Counters.
    pub fn stats(&self) -> ConnStats {
        self.state().stats
    }

    /// RSN of the last ERSP sent.
    pub fn last_rsn(&self) -> u32 {
        self.state().rsp.last_rsn()
    }

    /// The controller this queue is connected to.
    pub fn controller(&self) -> Option<Arc<Controller>> {
        self.state().ctrl.clone()
    }

    /// Executes one exchange. `xchg` names it for a later [`Connection::abort`] or
    /// deferred completion.
    pub fn handle_fcp<M: HostMemory>(
        &self,
        xchg: u64,
        cmd_iu: &[u8; CMD_IU_LEN],
        sgl: &[Sge],
        mem: &M,
    ) -> FcpOutcome {
        let iu = match CmdIu::parse(cmd_iu) {
            Ok(iu) if iu.connection_id.get() == self.id => iu,
            _ => {
                self.state().stats.dropped += 1;
                return FcpOutcome::Abort;
            }
        };
        let mut st = self.state();
        if !self.is_live() {
            st.stats.dropped += 1;
            return FcpOutcome::Abort;
        }
        let csn = iu.csn.get();
        if csn <= st.last_csn {
            st.stats.csn_out_of_order += 1;
        }
        st.last_csn = csn;
        st.rsp.consume();
        st.stats.commands += 1;
        let sqe = &iu.sqe;
        let cmd = Cmd { iu: &iu, sgl, mem };
        let exec = if st.ctrl.is_none() {
            // Only Connect may run on a queue that is not connected yet.
            drop(st);
            let e = fabrics::connect(self, &cmd);
            st = self.state();
            e
        } else if self.qid == 0 {
            // Admin handlers take the controller and association locks; the
            // connection lock is not held meanwhile.
            let ctrl = st.ctrl.clone();
            drop(st);
            let e = match ctrl {
                Some(ctrl) => admin_cmds::execute(self, &ctrl, &cmd),
                None => Exec::Done(Completion::error(fabrics::NOT_CONNECTED)),
            };
            st = self.state();
            e
        } else {
            let st = &mut *st;
            match &st.ctrl {
                Some(ctrl) => io::execute(self, ctrl, &mut st.stats, &cmd),
                None => Exec::Done(Completion::error(fabrics::NOT_CONNECTED)),
            }
        };
        let expected = iu.data_len.get();
        match exec {
            Exec::Hold => {
                st.held.push(HeldCmd {
                    xchg,
                    cid: sqe.cid(),
                    expected,
                });
                let ctrl = st.ctrl.clone();
                drop(st);
                // An event queued since the handler looked is delivered now.
                if let Some(ctrl) = ctrl {
                    self.deliver_events(&ctrl);
                }
                FcpOutcome::Held
            }
            Exec::Done(c) => {
                let force = ForceErsp {
                    fabrics: sqe.opcode == admin::FABRICS,
                    fused: sqe.flags & SQE_FLAGS_FUSE_MASK != 0,
                };
                let rsp = st.rsp.respond(sqe.cid(), expected, &c, force);
                FcpOutcome::Complete {
                    transferred: c.transferred,
                    rsp,
                }
            }
        }
    }

    /// Number of commands held (Async Event Requests).
    pub fn held(&self) -> usize {
        self.state().held.len()
    }

    /// Completes held Async Event Requests with the controller's queued events,
    /// oldest first. Called after an event is queued and after an AER is held, so
    /// neither can miss the other; lock order connection → controller.
    pub(crate) fn deliver_events(&self, ctrl: &Controller) {
        let mut st = self.state();
        while !st.held.is_empty() {
            let Some(ev) = ctrl.state().pending_events.pop_front() else {
                break;
            };
            let h = st.held.remove(0);
            let c = Completion::result(u64::from(ev));
            let rsp = st.rsp.respond(h.cid, h.expected, &c, ForceErsp::default());
            st.deferred.push((
                h.xchg,
                FcpOutcome::Complete {
                    transferred: 0,
                    rsp,
                },
            ));
            self.deferred_pending.store(true, Ordering::Release);
        }
    }

    /// The host aborted exchange `xchg`: forget it if held.
    pub fn abort(&self, xchg: u64) {
        let mut st = self.state();
        if let Some(i) = st.held.iter().position(|h| h.xchg == xchg) {
            st.held.remove(i);
            st.rsp.forget();
        }
        st.deferred.retain(|(x, _)| *x != xchg);
    }

    /// True when a held exchange has completed (a relaxed check for pollers).
    #[inline]
    pub fn has_deferred(&self) -> bool {
        self.deferred_pending.load(Ordering::Acquire)
    }

    /// The completion of held exchange `xchg`, if it has one.
    pub fn take_deferred(&self, xchg: u64) -> Option<FcpOutcome> {
        let mut st = self.state();
        let i = st.deferred.iter().position(|(x, _)| *x == xchg)?;
        let (_, outcome) = st.deferred.swap_remove(i);
        if st.deferred.is_empty() {
            self.deferred_pending.store(false, Ordering::Release);
        }
        Some(outcome)
    }

    /// Stops the queue: later commands are aborted, held ones complete as aborted.
    pub(crate) fn terminate(&self) {
        self.live.store(false, Ordering::Relaxed);
        let mut st = self.state();
        let held: Vec<HeldCmd> = st.held.drain(..).collect();
        for h in held {
            st.deferred.push((h.xchg, FcpOutcome::Abort));
        }
        if !st.deferred.is_empty() {
            self.deferred_pending.store(true, Ordering::Release);
        }
    }

    /// Binds the queue to its controller (successful Connect).
    pub(crate) fn bind(&self, ctrl: Arc<Controller>) {
        self.state().ctrl = Some(ctrl);
    }

    /// Fabrics Disconnect on an I/O queue: no more commands after this one.
    pub(crate) fn disconnect(&self) {
        self.live.store(false, Ordering::Relaxed);
    }
}
