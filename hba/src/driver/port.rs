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

use std::collections::VecDeque;
use std::time::Duration;

use super::bringup::{bmbx_exec, reset_port, wait_ready, Identity};
use super::dma::{DmaArena, Region};
use super::error::HbaError;
use super::mailbox::{check_completion, check_external_header, command_name};
use super::queues::{
    pages, CompletionQueue, EventQueue, MailboxQueue, ReceiveQueuePair, WorkQueue, PAGE,
};
use super::registers::{queue_doorbell, PortRegs};
use super::wait::Waiter;
use super::xri::{Completion, XriPool, XriState};
use super::HbaConfig;
use crate::fc::header::{FcHeader, FC_HEADER_LEN};
use crate::fc::login::{ServiceParams, SERVICE_PARAMS_LEN};
use crate::sli4::cmds::cq_create::CreateCq;
use crate::sli4::cmds::eq_create::{eq_count, CreateEq, CreateQueueRsp};
use crate::sli4::cmds::fcfi::RegFcfi;
use crate::sli4::cmds::get_sli4_params::{self, Sli4Params};
use crate::sli4::cmds::link::InitLink;
use crate::sli4::cmds::mq_create::{async_event, CreateMqExt};
use crate::sli4::cmds::post_sgl_pages;
use crate::sli4::cmds::read_config::ReadConfig;
use crate::sli4::cmds::read_rev::ReadRev;
use crate::sli4::cmds::read_sparm64::ReadSparm64;
use crate::sli4::cmds::request_features::{feature, RequestFeatures};
use crate::sli4::cmds::rq_create::{CreateRq, CreateRqRsp};
use crate::sli4::cmds::wq_create::{CreateWq, CreateWqRsp};
use crate::sli4::cqe::{
    acqe_code, rcqe_status, Acqe, CqeKind, FcLinkAttention, Rcqe, RcqeV1, Wcqe, WqeReleaseCqe,
    XriAbortedCqe,
};
use crate::sli4::doorbell::{IfType, QueueKind};
use crate::sli4::mbox::{Mcqe, Mqe};
use crate::sli4::regs::Status;
use crate::sli4::sli_config::{embedded_response, Pmd, SliConfig};
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
}

fn arena_len(cfg: &HbaConfig) -> usize {
    let xri = usize::from(cfg.els_xris)
        * (super::xri::SGL_LEN + super::xri::REQ_LEN + super::xri::RSP_LEN + 192);
    let rq = usize::from(cfg.rq_entries) * (HDR_BUF + DATA_BUF) + 2 * PAGE;
    let rings =
        EQ_ENTRIES * 4 + (MQ_CQ_ENTRIES + ELS_CQ_ENTRIES) * 16 + MQ_ENTRIES * 256 + WQ_ENTRIES * 64;
    (xri + rq + rings + 8 * PAGE).next_multiple_of(PAGE)
}

impl Port {
    /// Resets the port and brings it up to INIT_LINK.
    pub fn start(ident: Identity, cfg: &HbaConfig, waiter: Waiter) -> Result<Port, HbaError> {
        let device = waiter.device.clone();
        let name = device.name().to_owned();
        let regs = PortRegs::new(&device)?;
        // §2.7 step 2: a port in ERR+RN can still be reset; ERR without RN cannot.
        wait_ready(
            &regs,
            &waiter,
            cfg.ready_timeout,
            "waiting for SLIPORT_STATUS.RDY",
            true,
        )?;
        let mut arena = DmaArena::new(&device, arena_len(cfg), cfg.hugepages, &cfg.iova)?;
        let bmbx = arena.alloc(PAGE, PAGE, "DMA memory for the bootstrap mailbox")?;
        let scratch = arena.alloc(PAGE, PAGE, "DMA memory for mailbox payloads")?;
        let eq_mem = arena.alloc(EQ_ENTRIES * 4, PAGE, "DMA memory for the EQ")?;
        let mq_cq_mem = arena.alloc(MQ_CQ_ENTRIES * 16, PAGE, "DMA memory for CQs")?;
        let els_cq_mem = arena.alloc(ELS_CQ_ENTRIES * 16, PAGE, "DMA memory for CQs")?;
        let mq_mem = arena.alloc(MQ_ENTRIES * 256, PAGE, "DMA memory for the MQ")?;
        let wq_mem = arena.alloc(WQ_ENTRIES * 64, PAGE, "DMA memory for the WQ")?;
        let rq_entries = usize::from(cfg.rq_entries);
        let hrq_mem = arena.alloc(rq_entries * 8, PAGE, "DMA memory for the RQs")?;
        let drq_mem = arena.alloc(rq_entries * 8, PAGE, "DMA memory for the RQs")?;
        let mut hdr_bufs = Vec::with_capacity(rq_entries);
        let mut data_bufs = Vec::with_capacity(rq_entries);
        for _ in 0..rq_entries {
            hdr_bufs.push(arena.alloc(HDR_BUF, 64, "DMA memory for RQ buffers")?);
            data_bufs.push(arena.alloc(DATA_BUF, 64, "DMA memory for RQ buffers")?);
        }
        let mut xris = XriPool::new(&mut arena, 0, cfg.els_xris)?;
        reset_port(&regs, &waiter, cfg.ready_timeout)?;

        let bm = |m: &Mqe| bmbx_exec(&regs, &arena, &bmbx, &waiter, cfg.mailbox_timeout, m);
        let bad = |what: String| HbaError::BadResponse {
            device: name.clone(),
            what,
        };
        let unsupported = |what: String| HbaError::Unsupported {
            device: name.clone(),
            what,
        };

        // READ_CONFIG (§3.4).
        let rc = ReadConfig::from_mqe(&bm(&ReadConfig::new().to_mqe())?);
        if rc.ext() {
            return Err(unsupported(
                "READ_CONFIG reports extent-allocated resources, which this driver does not support"
                    .into(),
            ));
        }
        let (xri_base, xri_count) = (rc.xri_base() as u16, rc.xri_count() as u16);
        xris.rebase(xri_base);
        let (rpi_base, rpi_count) = (rc.rpi_base() as u16, rc.rpi_count() as u16);
        if xri_count < cfg.els_xris || rpi_count < 4 || rc.vpi_count() == 0 || rc.vfi_count() == 0 {
            return Err(bad(format!(
                "READ_CONFIG resources too small: {xri_count} XRIs (need {}), {rpi_count} RPIs, {} VPIs, {} VFIs",
                cfg.els_xris,
                rc.vpi_count(),
                rc.vfi_count()
            )));
        }
        let res = Resources {
            xri_base,
            xri_count,
            rpi_base,
            rpi_count,
            vpi: rc.vpi_base() as u16,
            vfi: rc.vfi_base() as u16,
            fcfi: 0,
            e_d_tov: rc.e_d_tov() as u16,
            r_a_tov: rc.r_a_tov() as u16,
            free_rpis: (rpi_base..rpi_base.saturating_add(rpi_count))
                .rev()
                .collect(),
        };

        // GET_SLI4_PARAMETERS (§3.5).
        let (_, params) = embedded_response::<Sli4Params>(&bm(&get_sli4_params::request())?);
        let params = params.unwrap_or_default();
        if params.hdrr() {
            return Err(unsupported(
                "the port requires RPI header templates (GET_SLI4_PARAMETERS.HDRR), which this driver does not post".into(),
            ));
        }
        if !params.nvme_capable() {
            log::warn!("{name}: GET_SLI4_PARAMETERS reports no FC-NVMe support (NVME and XIB); login continues, I/O will not work");
        }
        let autovalid_eq = params.eqav();
        let autovalid_cq = params.cqav();

        // REQUEST_FEATURES: FCP initiator (§3.4, LPFC's initiator set without NPIV/DIF).
        let rf = RequestFeatures::from_mqe(&bm(
            &RequestFeatures::request(feature::FCPI, false).to_mqe()
        )?);
        if rf.granted.get() & feature::FCPI == 0 {
            return Err(unsupported(format!(
                "REQUEST_FEATURES did not grant the FCP initiator feature (granted {:#x})",
                rf.granted.get()
            )));
        }

        // READ_REV (§3.4).
        let rev = ReadRev::from_mqe(&bm(&ReadRev::new().to_mqe())?);
        let fw_name = rev.fw_name();

        // READ_SPARM64 into the scratch page (§3.4).
        bm(&ReadSparm64::request(scratch.iova, res.vpi).to_mqe())?;
        let mut sp = [0u8; SERVICE_PARAMS_LEN];
        arena.read(&scratch, 0, &mut sp)?;
        let sparams = ServiceParams::parse(&sp).map_err(|e| bad(format!("READ_SPARM64: {e}")))?;

        // Queues (§3.5, §4): EQ, CQ for the MQ, CQ for ELS + RQ, MQ, WQ, RQ pair.
        let if_type = ident.if_type;
        let id_of = |m: &Mqe, what: &str| -> Result<u16, HbaError> {
            let (_, r) = embedded_response::<CreateQueueRsp>(m);
            r.map(|r| r.queue_id() as u16)
                .ok_or_else(|| bad(format!("{what}: no queue id")))
        };

        let create = |m: Option<Mqe>, what: &str| -> Result<Mqe, HbaError> {
            let m = m.ok_or_else(|| bad(format!("driver bug: {what} request does not fit")))?;
            bm(&m)
        };
        let eq_code = eq_count::for_entries(EQ_ENTRIES as u32).unwrap_or(eq_count::E1024);
        let eq_id = id_of(
            &create(
                CreateEq::new(&pages(&eq_mem), eq_code, autovalid_eq).and_then(|c| c.to_mqe()),
                "COMMON_CREATE_EQ",
            )?,
            "COMMON_CREATE_EQ",
        )?;
        let mq_cq_id = id_of(
            &create(
                CreateCq::new(
                    &pages(&mq_cq_mem),
                    MQ_CQ_ENTRIES as u32,
                    eq_id,
                    autovalid_cq,
                )
                .and_then(|c| c.to_mqe()),
                "COMMON_CREATE_CQ",
            )?,
            "COMMON_CREATE_CQ",
        )?;
        let els_cq_id = id_of(
            &create(
                CreateCq::new(
                    &pages(&els_cq_mem),
                    ELS_CQ_ENTRIES as u32,
                    eq_id,
                    autovalid_cq,
                )
                .and_then(|c| c.to_mqe()),
                "COMMON_CREATE_CQ",
            )?,
            "COMMON_CREATE_CQ",
        )?;
        let mq_version = if params.mqv() >= 1 { 1 } else { 0 };
        let events = async_event::FC | async_event::SLI_PORT;
        let mq_id = id_of(
            &create(
                CreateMqExt::new(
                    &pages(&mq_mem),
                    MQ_ENTRIES as u32,
                    mq_cq_id,
                    events,
                    mq_version,
                )
                .and_then(|c| c.to_mqe(mq_version)),
                "COMMON_CREATE_MQ_EXT",
            )?,
            "COMMON_CREATE_MQ_EXT",
        )?;
        let wq_rsp = create(
            CreateWq::new(&pages(&wq_mem), WQ_ENTRIES as u16, els_cq_id).and_then(|c| c.to_mqe()),
            "FCOE_WQ_CREATE",
        )?;
        let wq_id = embedded_response::<CreateWqRsp>(&wq_rsp)
            .1
            .map(|r| r.queue_id() as u16)
            .ok_or_else(|| bad("FCOE_WQ_CREATE: no queue id".into()))?;
        let rq_id = |m: &Mqe| -> Result<u16, HbaError> {
            embedded_response::<CreateRqRsp>(m)
                .1
                .map(|r| r.queue_id() as u16)
                .ok_or_else(|| bad("FCOE_RQ_CREATE: no queue id".into()))
        };
        let hdr_id = rq_id(&create(
            CreateRq::new(&pages(&hrq_mem), cfg.rq_entries, HDR_BUF as u32, els_cq_id)
                .and_then(|c| c.to_mqe()),
            "FCOE_RQ_CREATE",
        )?)?;
        let data_id = rq_id(&create(
            CreateRq::new(&pages(&drq_mem), cfg.rq_entries, DATA_BUF as u32, els_cq_id)
                .and_then(|c| c.to_mqe()),
            "FCOE_RQ_CREATE",
        )?)?;
        if hdr_id % 2 != 0 || data_id != hdr_id.wrapping_add(1) {
            // OCS refuses such a pair; LPFC does not check. Keep going.
            log::warn!("{name}: RQ pair ids {hdr_id}/{data_id} are not even/odd consecutive");
        }

        let db = |k| queue_doorbell(&device, if_type, k);
        let mut port = Port {
            name: name.clone(),
            regs: regs.clone(),
            waiter: waiter.clone(),
            cfg: cfg.clone(),
            eq: Some(EventQueue::new(
                eq_id,
                eq_mem,
                autovalid_eq,
                db(QueueKind::Eq)?,
                if_type,
            )),
            mq_cq: Some(CompletionQueue::new(
                mq_cq_id,
                mq_cq_mem,
                autovalid_cq,
                db(QueueKind::Cq)?,
                if_type,
            )),
            els_cq: Some(CompletionQueue::new(
                els_cq_id,
                els_cq_mem,
                autovalid_cq,
                db(QueueKind::Cq)?,
                if_type,
            )),
            mq: Some(MailboxQueue::new(mq_id, mq_mem, db(QueueKind::Mq)?)),
            wq: Some(WorkQueue::new(wq_id, wq_mem, db(QueueKind::Wq)?, if_type)),
            rq: Some(ReceiveQueuePair::new(
                hdr_id,
                data_id,
                hrq_mem,
                drq_mem,
                hdr_bufs,
                data_bufs,
                db(QueueKind::Rq)?,
            )),
            arena,
            bmbx,
            scratch,
            xris,
            res,
            sparams,
            fw_name,
            mbox_done: None,
            events: VecDeque::new(),
            frames: VecDeque::new(),
            errors: DeviceInputErrors::default(),
        };
        log::info!(
            "{name}: if_type {} firmware '{}', queues EQ {eq_id} CQ {mq_cq_id}/{els_cq_id} MQ {mq_id} WQ {wq_id} RQ {hdr_id}/{data_id}",
            match if_type { IfType::If2 => 2, IfType::If6 => 6 },
            port.fw_name
        );

        // From here the MQ carries the commands.
        port.post_sgls()?;
        if let Some(rq) = port.rq.as_mut() {
            rq.post_all(&port.arena)?;
        }
        let fcfi = RegFcfi::from_mqe(&port.mbox(&RegFcfi::catch_all(hdr_id).to_mqe())?);
        port.res.fcfi = fcfi.fcfi() as u16;
        port.mbox(&InitLink::fabric().to_mqe())?;
        Ok(port)
    }

    /// FCOE_POST_SGL_PAGES for the ELS XRIs (§3.5, §5.7): embedded when they
    /// fit, else one non-embedded buffer in the scratch page.
    fn post_sgls(&mut self) -> Result<(), HbaError> {
        let sgls = self.xris.sgl_pages();
        let first = self.xris.base;
        if sgls.len() <= post_sgl_pages::EMBEDDED_MAX_XRIS {
            let m = post_sgl_pages::embedded(first, &sgls).ok_or_else(|| self.bug("SGL post"))?;
            self.mbox(&m)?;
            return Ok(());
        }
        for (i, chunk) in sgls.chunks((PAGE - 20) / 16).enumerate() {
            let mut buf = vec![0u8; PAGE];
            let start = first + (i * ((PAGE - 20) / 16)) as u16;
            let len = post_sgl_pages::write_external(&mut buf, start, chunk)
                .ok_or_else(|| self.bug("SGL post"))?;
            self.arena.write(&self.scratch, 0, &buf[..len])?;
            let m = SliConfig::external(&[Pmd::new(self.scratch.iova, len as u32)])
                .ok_or_else(|| self.bug("SGL post"))?;
            self.mbox(&m)?;
            let mut rsp = [0u8; 16];
            self.arena.read(&self.scratch, 0, &mut rsp)?;
            check_external_header(&self.name, "FCOE_POST_SGL_PAGES", &rsp)?;
        }
        Ok(())
    }

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

    /// Drains the EQ and both CQs: MCQEs complete the mailbox, ACQEs become
    /// [`PortEvent`]s, WCQEs complete exchanges, RCQEs become [`RxFrame`]s.
    pub fn service(&mut self) -> Result<usize, HbaError> {
        let mut n = 0;
        if let Some(eq) = self.eq.as_mut() {
            eq.drain(&self.arena)?;
        }
        if let Some(mut cq) = self.mq_cq.take() {
            let r = self.drain_mq_cq(&mut cq);
            cq.release();
            self.mq_cq = Some(cq);
            n += r?;
        }
        if let Some(mut cq) = self.els_cq.take() {
            let r = self.drain_els_cq(&mut cq);
            cq.release();
            self.els_cq = Some(cq);
            n += r?;
        }
        Ok(n)
    }

    fn drain_mq_cq(&mut self, cq: &mut CompletionQueue) -> Result<usize, HbaError> {
        let mut n = 0;
        while let Some(c) = cq.next(&self.arena)? {
            n += 1;
            match c.kind(true) {
                CqeKind::Mcqe => {
                    let m: Mcqe = c.view();
                    // A first MCQE may only say "consumed" (§3.1).
                    if m.completed() {
                        if self.mbox_done.is_some() {
                            self.errors.stray_mcqe += 1;
                        }
                        self.mbox_done = Some(m);
                    }
                }
                CqeKind::Acqe => self.on_acqe(c.view()),
                _ => self.errors.unknown_cqe += 1,
            }
        }
        Ok(n)
    }

    fn on_acqe(&mut self, a: Acqe) {
        match a.event_code() as u8 {
            acqe_code::FC_LINK => {
                let la: FcLinkAttention = zerocopy::transmute!(a);
                let attention = la.attention_type() as u8;
                use crate::sli4::cqe::link_attention as at;
                let up = match attention {
                    at::LINK_UP => true,
                    at::LINK_DOWN | at::MDS_LINK_DOWN => false,
                    other => {
                        log::info!("{}: link attention type {other} ignored", self.name);
                        return;
                    }
                };
                self.events.push_back(PortEvent::Link(LinkEvent {
                    up,
                    attention,
                    topology: la.topology() as u8,
                    speed: la.speed() as u8,
                    event_tag: la.event_tag(),
                }));
            }
            acqe_code::SLI_PORT => self.events.push_back(PortEvent::SliPort {
                event_type: a.event_type() as u8,
            }),
            other => log::debug!("{}: async event code {other:#x} ignored", self.name),
        }
    }

    fn drain_els_cq(&mut self, cq: &mut CompletionQueue) -> Result<usize, HbaError> {
        let mut n = 0;
        while let Some(c) = cq.next(&self.arena)? {
            n += 1;
            match c.kind(false) {
                CqeKind::Wcqe => {
                    let w: Wcqe = c.into();
                    let done = Completion {
                        status: w.status() as u8,
                        parameter: w.parameter(),
                        rsp_len: w.total_data_placed() as usize,
                        xb: w.xb(),
                    };
                    let tag = w.request_tag() as u16;
                    if tag == ABORT_TAG {
                        // The aborted exchange completes on its own tag.
                        continue;
                    }
                    if !self.xris.complete(tag, done) {
                        self.errors.bad_wcqe_tag += 1;
                    }
                }
                CqeKind::WqeRelease => {
                    let r: WqeReleaseCqe = c.into();
                    let ok = self.wq.as_mut().is_some_and(|wq| {
                        r.wq_id() as u16 == wq.id && wq.released(r.wqe_index() as u16)
                    });
                    if !ok {
                        self.errors.bad_release += 1;
                    }
                }
                CqeKind::XriAborted => {
                    let x: XriAbortedCqe = c.into();
                    self.xris.xri_aborted(x.xri() as u16);
                }
                CqeKind::Rcqe => {
                    let r: Rcqe = c.into();
                    self.on_rcqe(
                        r.status() as u8,
                        r.rq_id() as u16,
                        r.rq_element_index(),
                        r.header_len() as usize,
                        r.payload_len() as usize,
                    )?;
                }
                CqeKind::RcqeV1 => {
                    let r: RcqeV1 = c.into();
                    self.on_rcqe(
                        r.status() as u8,
                        r.rq_id() as u16,
                        r.rq_element_index(),
                        r.header_len() as usize,
                        r.payload_len() as usize,
                    )?;
                }
                _ => self.errors.unknown_cqe += 1,
            }
        }
        Ok(n)
    }

    fn on_rcqe(
        &mut self,
        status: u8,
        rq_id: u16,
        index: u32,
        hdr_len: usize,
        data_len: usize,
    ) -> Result<(), HbaError> {
        let Some(rq) = self.rq.as_mut() else {
            return Ok(());
        };
        if rq_id != rq.hdr_id {
            self.errors.bad_rcqe += 1;
            return Ok(());
        }
        // §4.3: buffers were consumed on success, truncation and DMA failure.
        let consumed = matches!(
            status,
            rcqe_status::SUCCESS | rcqe_status::TRUNCATED | rcqe_status::DMA_FAILURE
        );
        let frame = if status == rcqe_status::SUCCESS {
            match rq.buffers(index) {
                Some((h, d))
                    if hdr_len >= FC_HEADER_LEN && hdr_len <= h.len && data_len <= d.len =>
                {
                    let mut hb = [0u8; FC_HEADER_LEN];
                    self.arena.read(&h, 0, &mut hb)?;
                    let mut payload = vec![0u8; data_len];
                    self.arena.read(&d, 0, &mut payload)?;
                    FcHeader::parse(&hb)
                        .ok()
                        .map(|header| RxFrame { header, payload })
                }
                _ => None,
            }
        } else {
            None
        };
        if consumed {
            rq.repost(&self.arena)?;
        }
        match frame {
            Some(f) if self.frames.len() < MAX_RX_FRAMES => self.frames.push_back(f),
            Some(_) => self.errors.dropped_frames += 1,
            None if status == rcqe_status::SUCCESS => self.errors.bad_rcqe += 1,
            None => self.errors.dropped_frames += 1,
        }
        Ok(())
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

    /// Destroys the queues (best effort; the first failure is returned after
    /// all were tried). Like LPFC (`lpfc_sli4_queue_unset`, MBX_POLL) every
    /// destroy goes through the bootstrap mailbox, the MQ first.
    pub fn destroy_queues(&mut self) -> Result<(), HbaError> {
        use crate::sli4::cmds::queue_destroy::{DestroyQueue, QueueKind as K};
        let mut list = Vec::new();
        if let Some(mq) = self.mq.take() {
            list.push((K::Mq, mq.id));
        }
        if let Some(wq) = self.wq.take() {
            list.push((K::Wq, wq.id));
        }
        if let Some(rq) = self.rq.take() {
            list.push((K::Rq, rq.hdr_id));
            list.push((K::Rq, rq.data_id));
        }
        for cq in [self.els_cq.take(), self.mq_cq.take()]
            .into_iter()
            .flatten()
        {
            list.push((K::Cq, cq.id));
        }
        if let Some(eq) = self.eq.take() {
            list.push((K::Eq, eq.id));
        }
        let mut first = None;
        for (k, id) in list {
            if let Err(e) = self.mbox(&DestroyQueue::mqe(k, id)) {
                log::warn!("{}: destroying {} {id}: {e}", self.name, k.name());
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Whether any MCQE/ACQE/CQE arrived for nothing (for tests and stats).
    pub fn input_errors(&self) -> DeviceInputErrors {
        self.errors
    }
}
