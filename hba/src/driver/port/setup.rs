//! Port bring-up to INIT_LINK (sli4.md §2.7, §3.6) and queue teardown.

use super::*;
use crate::driver::bringup::{reset_port, wait_ready};
use crate::driver::mailbox::check_external_header;
use crate::driver::queues::{pages, PAGE};
use crate::driver::registers::queue_doorbell;
use crate::fc::login::SERVICE_PARAMS_LEN;
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
use crate::sli4::doorbell::{IfType, QueueKind};
use crate::sli4::sli_config::{embedded_response, Pmd, SliConfig};

fn arena_len(cfg: &HbaConfig) -> usize {
    let xri = usize::from(cfg.els_xris)
        * (crate::driver::xri::SGL_LEN
            + crate::driver::xri::REQ_LEN
            + crate::driver::xri::RSP_LEN
            + 192);
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
            io: Vec::new(),
        };
        log::info!(
            "{name}: if_type {} firmware '{}', queues EQ {eq_id} CQ {mq_cq_id}/{els_cq_id} MQ {mq_id} WQ {wq_id} RQ {hdr_id}/{data_id}",
            match if_type { IfType::If2 => 2, IfType::If6 => 6 },
            port.fw_name
        );

        // From here the MQ carries the commands.
        port.post_sgls()?;
        let io = crate::driver::io_queue::IoCreate {
            if_type,
            eq_id,
            autovalid_cq,
        };
        port.io = crate::driver::io_queue::create_io_rings(&mut port, &device, io)?;
        let mut cqs = vec![mq_cq_id, els_cq_id];
        cqs.extend(port.io.iter().map(|r| r.ids().cq_id));
        if let Some(eq) = port.eq.as_mut() {
            eq.set_cqs(cqs);
        }
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
        self.post_sgl_list(first, &sgls)
    }

    /// FCOE_POST_SGL_PAGES for `sgls`, one per XRI from `first`.
    pub(crate) fn post_sgl_list(
        &mut self,
        first: u16,
        sgls: &[post_sgl_pages::SglPages],
    ) -> Result<(), HbaError> {
        if sgls.len() <= post_sgl_pages::EMBEDDED_MAX_XRIS {
            let m = post_sgl_pages::embedded(first, sgls).ok_or_else(|| self.bug("SGL post"))?;
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
}
