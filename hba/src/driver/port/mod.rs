//! One incarnation of the SLI-4 port: everything the port forgets on a reset
//! (queues, XRI SGL registrations, resource ids, the FCFI) together with the
//! DMA memory that backs it. A firmware reset drops the `Port` and builds a
//! new one (sli4.md §7.2: "every queue id, XRI/RPI/VPI/VFI registration is
//! lost across the reset").
//!
//! Bring-up follows sli4.md §2.7 and §3.6: ready wait, SLIPORT_CONTROL.IP,
//! bootstrap mailbox for READ_CONFIG, GET_SLI4_PARAMETERS, REQUEST_FEATURES,
//! READ_REV, READ_SPARM64 and the queue creates; then the MQ for
//! POST_SGL_PAGES, REG_FCFI and INIT_LINK.

mod service;
mod setup;

use std::collections::VecDeque;
use std::time::Duration;

use super::bringup::{bmbx_exec, Identity};
use super::dma::{DmaArena, Region};
use super::error::HbaError;
use super::mailbox::{check_completion, command_name};
use super::queues::{CompletionQueue, EventQueue, MailboxQueue, ReceiveQueuePair, WorkQueue};
use super::registers::PortRegs;
use super::wait::Waiter;
use super::xri::{Completion, XriPool, XriState};
use super::HbaConfig;
use crate::fc::header::FcHeader;
use crate::fc::login::ServiceParams;
use crate::sli4::mbox::{Mcqe, Mqe};
use crate::sli4::regs::Status;
use crate::sli4::wqe::Wqe;

/// Entries of the EQ.
const EQ_ENTRIES: usize = 1024;
/// Entries of the MQ's CQ.
const MQ_CQ_ENTRIES: usize = 256;
/// Entries of the ELS/RQ CQ.
const ELS_CQ_ENTRIES: usize = 1024;
/// Entries of the MQ.
const MQ_ENTRIES: usize = 16;
/// Entries of the ELS WQ.
const WQ_ENTRIES: usize = 64;
/// Header RQ buffer size (LPFC 128).
const HDR_BUF: usize = 128;
/// Data RQ buffer size.
const DATA_BUF: usize = 2048;
/// Request tag of ABORT WQEs (outside the exchange pool's tags).
const ABORT_TAG: u16 = 0xFFFE;
/// Received frames kept before the oldest is dropped.
const MAX_RX_FRAMES: usize = 256;

/// Resource ranges from READ_CONFIG and the ids the driver picked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resources {
    pub xri_base: u16,
    pub xri_count: u16,
    pub rpi_base: u16,
    pub rpi_count: u16,
    pub vpi: u16,
    pub vfi: u16,
    pub fcfi: u16,
    pub e_d_tov: u16,
    pub r_a_tov: u16,
    free_rpis: Vec<u16>,
}

impl Resources {
    /// Takes an RPI.
    pub fn alloc_rpi(&mut self) -> Option<u16> {
        self.free_rpis.pop()
    }

    /// Returns an RPI (ignores ids outside the range and double frees).
    pub fn free_rpi(&mut self, rpi: u16) {
        let in_range = rpi
            .checked_sub(self.rpi_base)
            .is_some_and(|o| o < self.rpi_count);
        if in_range && !self.free_rpis.contains(&rpi) {
            self.free_rpis.push(rpi);
        }
    }
}

/// Link attention as the driver uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LinkEvent {
    pub up: bool,
    pub attention: u8,
    pub topology: u8,
    pub speed: u8,
    pub event_tag: u32,
}

/// What the port reported asynchronously.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PortEvent {
    Link(LinkEvent),
    SliPort { event_type: u8 },
}

/// An unsolicited frame from the RQ pair.
#[derive(Clone, Debug)]
pub(crate) struct RxFrame {
    pub header: FcHeader,
    pub payload: Vec<u8>,
}

/// Counters of device input the driver refused or could not use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceInputErrors {
    /// WCQEs whose request tag names no outstanding exchange.
    pub bad_wcqe_tag: u64,
    /// WQE-release CQEs naming another WQ or a free slot.
    pub bad_release: u64,
    /// RCQEs with a bad RQ id, index or length.
    pub bad_rcqe: u64,
    /// CQEs of a code the driver does not handle.
    pub unknown_cqe: u64,
    /// MCQEs with no command outstanding.
    pub stray_mcqe: u64,
    /// Received frames dropped (queue full or not parseable).
    pub dropped_frames: u64,
    /// EQEs naming a CQ the port did not bind to its EQ.
    pub bad_eqe_cq: u64,
}

/// The port instance.
pub(crate) struct Port {
    pub name: String,
    pub regs: PortRegs,
    pub waiter: Waiter,
    pub cfg: HbaConfig,
    pub arena: DmaArena,
    bmbx: Region,
    /// 4 KiB for mailbox DMA payloads (one command at a time).
    pub scratch: Region,
    eq: Option<EventQueue>,
    mq_cq: Option<CompletionQueue>,
    els_cq: Option<CompletionQueue>,
    mq: Option<MailboxQueue>,
    wq: Option<WorkQueue>,
    rq: Option<ReceiveQueuePair>,
    pub xris: XriPool,
    pub res: Resources,
    pub sparams: ServiceParams,
    pub fw_name: String,
    mbox_done: Option<Mcqe>,
    pub events: VecDeque<PortEvent>,
    pub frames: VecDeque<RxFrame>,
    pub errors: DeviceInputErrors,
    /// FCP I/O queue pairs created at bring-up, until the driver hands them
    /// to its LLDD.
    pub io: Vec<super::io_queue::IoRings>,
}

impl Port {
    fn bug(&self, what: &str) -> HbaError {
        HbaError::BadResponse {
            device: self.name.clone(),
            what: format!("driver bug: {what} request does not fit"),
        }
    }

    /// The port status; an error when ERR is set or the device is gone.
    pub fn check_status(&self) -> Result<(), HbaError> {
        let raw = self.regs.status.read();
        if raw == u32::MAX {
            return Err(HbaError::DeviceGone {
                device: self.name.clone(),
            });
        }
        let s = Status(raw);
        if s.err() {
            let snap = self.regs.snapshot();
            return Err(HbaError::PortError {
                device: self.name.clone(),
                status: snap.status,
                err1: snap.err1,
                err2: snap.err2,
                recoverable: s.rn(),
            });
        }
        Ok(())
    }

    /// Runs one mailbox command: through the MQ once it exists, else the
    /// bootstrap mailbox. Waits for the completion with the mailbox timeout.
    pub fn mbox(&mut self, mqe: &Mqe) -> Result<Mqe, HbaError> {
        let command = command_name(mqe);
        let Some(mq) = self.mq.as_mut() else {
            return bmbx_exec(
                &self.regs,
                &self.arena,
                &self.bmbx,
                &self.waiter,
                self.cfg.mailbox_timeout,
                mqe,
            );
        };
        self.mbox_done = None;
        let slot = mq.post(&self.arena, mqe)?;
        let timeout = self.cfg.mailbox_timeout;
        let deadline = self.waiter.now().saturating_add(timeout);
        let mcqe = loop {
            self.service()?;
            if let Some(m) = self.mbox_done.take() {
                break m;
            }
            self.check_status()?;
            if self.waiter.now() >= deadline {
                return Err(HbaError::MailboxTimeout {
                    device: self.name.clone(),
                    command,
                    timeout,
                });
            }
            self.waiter.pause();
        };
        let rsp = match self.mq.as_ref() {
            Some(mq) => mq.read(&self.arena, slot)?,
            None => *mqe,
        };
        check_completion(&self.name, command, &mcqe, &rsp)?;
        Ok(rsp)
    }

    /// Posts a WQE built for exchange `tag`.
    pub fn post_wqe(&mut self, wqe: Wqe) -> Result<(), HbaError> {
        let name = self.name.clone();
        let wq = self.wq.as_mut().ok_or(HbaError::NotRunning {
            device: name.clone(),
            state: "without queues",
        })?;
        wq.post(&self.arena, wqe).map_err(|e| match e {
            HbaError::Exhausted { what, .. } => HbaError::Exhausted { device: name, what },
            e => e,
        })
    }

    /// Waits for exchange `tag`. Gives up at the ELS timeout, when the link
    /// goes down or the port fails; the exchange is then detached (its late
    /// completion frees it).
    pub fn wait_exchange(
        &mut self,
        tag: u16,
        during: &'static str,
        d_id: u32,
        timeout: Duration,
    ) -> Result<Completion, HbaError> {
        let deadline = self.waiter.now().saturating_add(timeout);
        loop {
            let r = self.service();
            if let Err(e) = r {
                self.xris.detach(tag);
                return Err(e);
            }
            if let Some(c) = self.xris.take_result(tag) {
                return Ok(c);
            }
            if self.xris.get(tag).map(|x| x.state) == Some(XriState::Free) {
                return Err(self.bug("exchange freed while waited for"));
            }
            let link_down = self
                .events
                .iter()
                .any(|e| matches!(e, PortEvent::Link(l) if !l.up));
            let status = self.check_status();
            if link_down || status.is_err() || self.waiter.now() >= deadline {
                self.xris.detach(tag);
                status?;
                // End the exchange in the port (§5.9): without ABTS when the
                // link is down (LPFC sets IA then). Its late completion frees
                // the XRI.
                self.abort_exchange(tag, link_down);
                if link_down {
                    return Err(HbaError::LinkDown {
                        device: self.name.clone(),
                        during,
                    });
                }
                return Err(HbaError::ExchangeTimeout {
                    device: self.name.clone(),
                    request: during,
                    d_id,
                    timeout,
                });
            }
            self.waiter.pause();
        }
    }

    /// Posts an ABORT WQE for exchange `tag` (criteria XRI), best effort.
    fn abort_exchange(&mut self, tag: u16, local_only: bool) {
        use crate::sli4::wqe::{abort_criteria, Abort};
        let Some(xri) = self.xris.get(tag).map(|x| x.xri) else {
            return;
        };
        let wqe = Abort {
            criteria: abort_criteria::XRI_TAG,
            tag: xri.into(),
            request_tag: ABORT_TAG,
            local_only,
            no_retry: true,
        }
        .build();
        if let Err(e) = self.post_wqe(wqe) {
            log::warn!("{}: abort of XRI {xri:#x} not posted: {e}", self.name);
        }
    }

    /// Copies `len` response bytes of exchange `tag`.
    pub fn response(&self, tag: u16, len: usize) -> Result<Vec<u8>, HbaError> {
        self.xris.response(&self.arena, tag, len)
    }

    /// Writes `data` into the scratch page and returns its IOVA.
    pub fn scratch_with(&self, data: &[u8]) -> Result<u64, HbaError> {
        self.arena.write(&self.scratch, 0, data)?;
        Ok(self.scratch.iova)
    }

    /// Whether any MCQE/ACQE/CQE arrived for nothing (for tests and stats).
    pub fn input_errors(&self) -> DeviceInputErrors {
        self.errors
    }
}
