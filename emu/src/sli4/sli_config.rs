//! SLI_CONFIG (mailbox 0x9B, sli4.md §3.2, §3.5): embedded and non-embedded
//! framing, and the sub-commands of the inventory: GET_SLI4_PARAMETERS, the
//! queue create/destroy commands, POST_SGL_PAGES.
//!
//! Errors use the response header: status 2 (illegal request) with additional
//! status 0x1E for an opcode the port does not know and 0x42 for one it knows
//! but does not implement; status 3 (illegal field) for a malformed request;
//! status 1 (failed) when a resource is exhausted or a referenced queue does
//! not exist; status 4 (insufficient buffer) when the response cannot fit.
//! The MQE status and the MCQE repeat the status, the MCQE extended status the
//! additional status (the drivers check all three, §2.6).

use zerocopy::{FromBytes, IntoBytes};

use ufc_hba::sli4::cmds::cq_create::CreateCq;
use ufc_hba::sli4::cmds::eq_create::{eq_count, CreateEq, CreateQueueRsp};
use ufc_hba::sli4::cmds::get_sli4_params::Sli4Params;
use ufc_hba::sli4::cmds::mq_create::{ring_size_entries, CreateMqExt};
use ufc_hba::sli4::cmds::post_sgl_pages;
use ufc_hba::sli4::cmds::queue_destroy::{DestroyQueue, QueueKind};
use ufc_hba::sli4::cmds::rq_create::{CreateRq, CreateRqRsp, RQE_SIZE_8};
use ufc_hba::sli4::cmds::wq_create::{wqe_size, CreateWq, CreateWqRsp};
use ufc_hba::sli4::cmds::PageAddr;
use ufc_hba::sli4::doorbell::{doorbell_offset, IfType, QueueKind as DbKind};
use ufc_hba::sli4::mbox::{Mqe, MQE_LEN};
use ufc_hba::sli4::sli_config::{
    cfg_additional_status as addl, cfg_status, common_op, fc_op, subsystem, CfgRequestHeader,
    CfgResponseHeader, SliConfig, CFG_HEADER_LEN, EMBEDDED_PAYLOAD_MAX,
};

use super::mailbox::Completion;
use super::queues::{
    free_id, CompletionQueue, EventQueue, MailboxQueue, Producer, ReceiveQueue, Ring, WorkQueue,
    PAGE_4K,
};
use super::resources::Sgl;
use super::Sli4Model;

/// Largest non-embedded request the model reads (19 PMDs of a few pages
/// each in practice).
const MAX_EXTERNAL: usize = 1 << 20;
/// Sizes of the queue entries.
const CQE_SIZE: u32 = 16;
const MQE_SIZE: u32 = MQE_LEN as u32;
const RQE_SIZE: u32 = 8;
/// SGL pages must be 64-byte aligned (sli4.md §5.7).
const SGL_ALIGN: u64 = 64;

/// A sub-command's failure: (status, additional status).
type CfgError = (u8, u8);

const ILLEGAL_FIELD: CfgError = (cfg_status::ILLEGAL_FIELD, 0);
const FAILED: CfgError = (cfg_status::FAILED, 0);
const NOT_SUPPORTED: CfgError = (cfg_status::ILLEGAL_REQUEST, addl::CMD_NOT_SUPPORTED);
const INVALID_OPCODE: CfgError = (cfg_status::ILLEGAL_REQUEST, addl::INVALID_OPCODE);

/// Reads a request struct from `payload`, zero-padded when shorter.
fn req<T: FromBytes + IntoBytes>(payload: &[u8]) -> T {
    let mut t = T::new_zeroed();
    let dst = t.as_mut_bytes();
    let n = dst.len().min(payload.len());
    dst[..n].copy_from_slice(&payload[..n]);
    t
}

fn pages(list: &[PageAddr], n: u32) -> Result<Vec<u64>, CfgError> {
    let n = n as usize;
    if n == 0 || n > list.len() {
        return Err(ILLEGAL_FIELD);
    }
    let v: Vec<u64> = list[..n].iter().map(|p| p.addr()).collect();
    if v.iter().any(|a| *a == 0 || a % PAGE_4K != 0) {
        return Err(ILLEGAL_FIELD);
    }
    Ok(v)
}

/// Page size in bytes of a "page size in 4 KiB units" field (0 read as 1).
fn page_bytes(units: u32) -> Result<u64, CfgError> {
    match units {
        0 | 1 => Ok(PAGE_4K),
        2 | 4 | 8 | 16 => Ok(PAGE_4K * u64::from(units)),
        _ => Err(ILLEGAL_FIELD),
    }
}

fn queue_id_rsp(id: u16) -> Vec<u8> {
    let mut r = CreateQueueRsp::default();
    r.set_queue_id(id.into());
    r.as_bytes().to_vec()
}

/// Least response room a sub-command needs (the queue id of the creates).
fn min_response(sub: u8, op: u8) -> usize {
    match (sub, op) {
        (
            subsystem::COMMON,
            common_op::CREATE_EQ | common_op::CREATE_CQ | common_op::CREATE_MQ_EXT,
        )
        | (subsystem::FC, fc_op::WQ_CREATE | fc_op::RQ_CREATE) => 4,
        _ => 0,
    }
}

impl Sli4Model {
    /// Executes a SLI_CONFIG MQE in place.
    pub(crate) fn sli_config(&mut self, mqe: &mut Mqe) -> Completion {
        let mut c = SliConfig::from_mqe(mqe);
        let (status, additional) = if c.is_embedded() {
            self.sli_config_embedded(&mut c)
        } else {
            self.sli_config_external(&c)
        };
        *mqe = c.to_mqe();
        mqe.set_status(status.into());
        Completion {
            status: status.into(),
            extended: additional.into(),
        }
    }

    fn sli_config_embedded(&mut self, c: &mut SliConfig) -> CfgError {
        let (hdr, body) = c.request();
        let len = hdr.request_length.get() as usize;
        let room = (c.payload_length.get() as usize)
            .saturating_sub(CFG_HEADER_LEN)
            .min(EMBEDDED_PAYLOAD_MAX);
        let (sub, op) = (hdr.subsystem() as u8, hdr.opcode() as u8);
        let result = if len > EMBEDDED_PAYLOAD_MAX {
            Err(ILLEGAL_FIELD)
        } else if room < min_response(sub, op) {
            Err((cfg_status::INSUFFICIENT_BUFFER, 0))
        } else {
            let payload = body[..len].to_vec();
            self.cfg_command(&hdr, &payload)
        };
        let (rh, rsp) = response(&hdr, result, room);
        c.set_response_header(&rh);
        c.payload_after_header_mut()[..rsp.len()].copy_from_slice(&rsp);
        (rh.status() as u8, rh.additional_status() as u8)
    }

    fn sli_config_external(&mut self, c: &SliConfig) -> CfgError {
        let pmds: Vec<_> = c.pmds().collect();
        let total: usize = pmds.iter().map(|p| p.len() as usize).sum();
        if pmds.is_empty() || !(CFG_HEADER_LEN..=MAX_EXTERNAL).contains(&total) {
            return ILLEGAL_FIELD;
        }
        let mut buf = vec![0u8; total];
        let mut at = 0;
        for p in &pmds {
            let n = p.len() as usize;
            if let Err(e) = self.view.read(p.addr(), &mut buf[at..at + n]) {
                self.dma_failed("SLI_CONFIG external buffer", &e);
                return FAILED;
            }
            at += n;
        }
        let hdr = req::<CfgRequestHeader>(&buf);
        let len = (hdr.request_length.get() as usize).min(total - CFG_HEADER_LEN);
        let room = total - CFG_HEADER_LEN;
        let (sub, op) = (hdr.subsystem() as u8, hdr.opcode() as u8);
        let result = if room < min_response(sub, op) {
            Err((cfg_status::INSUFFICIENT_BUFFER, 0))
        } else {
            let payload = buf[CFG_HEADER_LEN..CFG_HEADER_LEN + len].to_vec();
            self.cfg_command(&hdr, &payload)
        };
        let (rh, rsp) = response(&hdr, result, room);
        buf[..CFG_HEADER_LEN].copy_from_slice(rh.as_bytes());
        buf[CFG_HEADER_LEN..CFG_HEADER_LEN + rsp.len()].copy_from_slice(&rsp);
        let mut at = 0;
        for p in &pmds {
            let n = p.len() as usize;
            if let Err(e) = self.view.write(p.addr(), &buf[at..at + n]) {
                self.dma_failed("SLI_CONFIG external response", &e);
                return FAILED;
            }
            at += n;
        }
        (rh.status() as u8, rh.additional_status() as u8)
    }

    /// Dispatches a sub-command; the response payload on success.
    fn cfg_command(&mut self, hdr: &CfgRequestHeader, p: &[u8]) -> Result<Vec<u8>, CfgError> {
        let version = hdr.version();
        match (hdr.subsystem() as u8, hdr.opcode() as u8) {
            (subsystem::COMMON, common_op::GET_SLI4_PARAMETERS) => Ok(self.sli4_params()),
            (subsystem::COMMON, common_op::CREATE_EQ) => self.create_eq(version, p),
            (subsystem::COMMON, common_op::CREATE_CQ) => self.create_cq(version, p),
            (subsystem::COMMON, common_op::CREATE_MQ_EXT) => self.create_mq(version, p),
            (subsystem::FC, fc_op::WQ_CREATE) => self.create_wq(version, p),
            (subsystem::FC, fc_op::RQ_CREATE) => self.create_rq(version, p),
            (subsystem::FC, fc_op::POST_SGL_PAGES) => self.post_sgl_pages(p),
            (subsystem::COMMON, common_op::NOP | common_op::MODIFY_EQ_DELAY) => Ok(Vec::new()),
            (sub, op) => match QueueKind::from_destroy_opcode(sub, op) {
                Some(kind) => self.destroy(kind, req::<DestroyQueue>(p).queue_id() as u16),
                None => Err(match (sub, op) {
                    (
                        subsystem::COMMON,
                        common_op::FUNCTION_RESET
                        | common_op::QUERY_FW_CONFIG
                        | common_op::GET_PORT_NAME
                        | common_op::GET_CNTL_ATTRIBUTES
                        | common_op::SET_FEATURES,
                    )
                    | (
                        subsystem::FC,
                        fc_op::REMOVE_SGL_PAGES
                        | fc_op::READ_FCF_TABLE
                        | fc_op::POST_HDR_TEMPLATES
                        | fc_op::CQ_CREATE_SET,
                    ) => NOT_SUPPORTED,
                    _ => INVALID_OPCODE,
                }),
            },
        }
    }

    fn sli4_params(&self) -> Vec<u8> {
        let mut s = Sli4Params::default();
        let if6 = self.if_type == IfType::If6;
        // Dword 1 repeats SLI_INTF bits 28-0 (FT, SLI rev, family, if_type, hints).
        s.dw1.set(self.config_space.sli_intf() & 0x1FFF_FFFF);
        // EQ: up to 8 pages, 4-byte EQEs; autovalid on if_type 6.
        s.dw2.set(8 | 1 << 8 | 1 << 16);
        s.set_eqav(if6);
        s.dw3.set(0x1F00); // 256..4096 entries
        s.dw4.set(8 | 1 << 8 | 1 << 16);
        s.set_cqv(2);
        s.set_cqav(if6);
        s.dw5.set(0xF_FFFF);
        s.dw6.set(8 | 1 << 16);
        s.set_mqv(1);
        s.dw7.set(0xF0); // 16..128 entries
        s.dw8.set(8 | 1 << 16);
        s.set_wqe_sizes(if self.cfg.wqe128 { 0b11 } else { 0b01 });
        s.set_wqv(1);
        s.dw9.set(0xF_FFFF);
        s.dw10.set(8 | 1 << 16);
        s.set_rqv(1);
        s.dw11.set(0xF_FFFF);
        s.set_ext(false);
        s.set_hdrr(false);
        s.set_sglr(true);
        s.dw13.set(self.cfg.max_sge_len);
        s.set_sgl_page_count(2);
        s.set_sgl_page_sizes(1);
        s.set_min_rq_buffer(self.cfg.rq_buffer.0);
        s.dw16.set(self.cfg.rq_buffer.1);
        let res = &self.cfg.resources;
        s.set_max_xri(res.xri.count.into());
        s.set_max_rpi(res.rpi.count.into());
        s.dw18
            .set(u32::from(res.vpi.count) | u32::from(res.vfi.count) << 16);
        s.set_nvme(true);
        s.set_xib(true);
        s.set_xecb(self.cfg.wqe128);
        s.set_pbde(self.cfg.pbde);
        s.as_bytes().to_vec()
    }

    fn create_eq(&mut self, version: u32, p: &[u8]) -> Result<Vec<u8>, CfgError> {
        let c: CreateEq = req(p);
        // Autovalid needs create version 2 and a port that offers EQAV (if_type 6).
        let autovalid = c.autovalid();
        if !c.valid()
            || !matches!(version, 0 | 2)
            || (autovalid && (version != 2 || self.if_type != IfType::If6))
        {
            return Err(ILLEGAL_FIELD);
        }
        let entries = eq_count::entries(c.count()).ok_or(ILLEGAL_FIELD)?;
        let size = if c.eqe_size_16() { 16 } else { 4 };
        let ring = Ring::new(pages(&c.pages, c.num_pages())?, PAGE_4K, size, entries)
            .ok_or(ILLEGAL_FIELD)?;
        let q = &mut self.func.queues;
        let id = free_id(&q.eqs, self.cfg.resources.eq_count.into()).ok_or(FAILED)?;
        q.eqs.insert(
            id,
            EventQueue {
                prod: Producer::new(ring, autovalid),
            },
        );
        Ok(queue_id_rsp(id))
    }

    fn create_cq(&mut self, version: u32, p: &[u8]) -> Result<Vec<u8>, CfgError> {
        let c: CreateCq = req(p);
        if version != 2 || !c.valid() || !c.evt() {
            return Err(ILLEGAL_FIELD);
        }
        if c.autovalid() && self.if_type != IfType::If6 {
            return Err(ILLEGAL_FIELD);
        }
        let eq_id = c.eq_id() as u16;
        if !self.func.queues.eqs.contains_key(&eq_id) {
            return Err(FAILED);
        }
        let ring = Ring::new(
            pages(&c.pages, c.num_pages())?,
            page_bytes(c.page_size())?,
            CQE_SIZE,
            c.entries(),
        )
        .ok_or(ILLEGAL_FIELD)?;
        let q = &mut self.func.queues;
        let id = free_id(&q.cqs, self.cfg.resources.cq_count.into()).ok_or(FAILED)?;
        q.cqs.insert(
            id,
            CompletionQueue {
                prod: Producer::new(ring, c.autovalid()),
                eq_id,
                armed: c.arm(),
            },
        );
        Ok(queue_id_rsp(id))
    }

    fn create_mq(&mut self, version: u32, p: &[u8]) -> Result<Vec<u8>, CfgError> {
        let c: CreateMqExt = req(p);
        if version > 1 || !c.valid() {
            return Err(ILLEGAL_FIELD);
        }
        let entries = ring_size_entries(c.ring_size()).ok_or(ILLEGAL_FIELD)?;
        let q = &mut self.func.queues;
        let cq_id = c.cq_id(version as u8);
        if !q.cqs.contains_key(&cq_id) {
            return Err(FAILED);
        }
        let async_cq = match version {
            1 => c.async_cq_id_v1() as u16,
            _ => cq_id,
        };
        let async_cq_id = if q.cqs.contains_key(&async_cq) {
            async_cq
        } else {
            cq_id
        };
        let ring = Ring::new(pages(&c.pages, c.num_pages())?, PAGE_4K, MQE_SIZE, entries)
            .ok_or(ILLEGAL_FIELD)?;
        let id = free_id(&q.mqs, self.cfg.resources.mq_count.into()).ok_or(FAILED)?;
        q.mqs.insert(
            id,
            MailboxQueue {
                ring,
                cq_id,
                async_cq_id,
                events: c.async_events.get(),
                cidx: 0,
                posted: 0,
            },
        );
        Ok(queue_id_rsp(id))
    }

    fn create_wq(&mut self, version: u32, p: &[u8]) -> Result<Vec<u8>, CfgError> {
        let (ring, cq_id) = match version {
            1 => {
                let c: CreateWq = req(p);
                let size = match c.wqe_size() {
                    wqe_size::B64 => 64,
                    wqe_size::B128 if self.cfg.wqe128 => 128,
                    _ => return Err(ILLEGAL_FIELD),
                };
                let ring = Ring::new(
                    pages(&c.pages, c.num_pages())?,
                    page_bytes(c.page_size())?,
                    size,
                    c.wqe_count(),
                )
                .ok_or(ILLEGAL_FIELD)?;
                (ring, c.cq_id() as u16)
            }
            0 => {
                // v0: pages 7-0 and CQ id 31-16 in dword 0, four page
                // addresses, 64-byte WQEs filling the pages.
                let dw0 = req::<[u32; 1]>(p)[0];
                let list: [PageAddr; 4] = req(p.get(4..).unwrap_or(&[]));
                let n = dw0 & 0xFF;
                let ring = Ring::new(pages(&list, n)?, PAGE_4K, 64, n * 64).ok_or(ILLEGAL_FIELD)?;
                (ring, (dw0 >> 16) as u16)
            }
            _ => return Err(ILLEGAL_FIELD),
        };
        let q = &mut self.func.queues;
        if !q.cqs.contains_key(&cq_id) {
            return Err(FAILED);
        }
        let id = free_id(&q.wqs, self.cfg.resources.wq_count.into()).ok_or(FAILED)?;
        q.wqs.insert(
            id,
            WorkQueue {
                ring,
                cq_id,
                cidx: 0,
                posted: 0,
            },
        );
        let mut r = CreateWqRsp::default();
        r.set_queue_id(id.into());
        // Doorbell in the fixed register of §1.4: BAR0 = register set 0,
        // BAR2 = register set 1 (OCS numbering).
        r.set_bar_set(match self.if_type {
            IfType::If2 => 0,
            IfType::If6 => 1,
        });
        r.db_offset.set(doorbell_offset(self.if_type, DbKind::Wq));
        Ok(if version == 0 {
            queue_id_rsp(id)
        } else {
            r.as_bytes().to_vec()
        })
    }

    fn create_rq(&mut self, version: u32, p: &[u8]) -> Result<Vec<u8>, CfgError> {
        let (min, max) = self.cfg.rq_buffer;
        let (ring, cq_id, buffer_size) = match version {
            1 => {
                let c: CreateRq = req(p);
                if c.rqe_size() != RQE_SIZE_8 {
                    return Err(ILLEGAL_FIELD);
                }
                let ring = Ring::new(
                    pages(&c.pages, c.num_pages())?,
                    page_bytes(c.page_size())?,
                    RQE_SIZE,
                    c.rqe_count(),
                )
                .ok_or(ILLEGAL_FIELD)?;
                (ring, c.cq_id() as u16, c.buffer_size.get())
            }
            0 => {
                // v0: pages 15-0 in dword 0, log2 count 19-16 in dword 1,
                // buffer size 15-0 and CQ id 31-16 in dword 3, pages from dword 5.
                let d = req::<[u32; 5]>(p);
                let list: [PageAddr; 8] = req(p.get(20..).unwrap_or(&[]));
                let log2 = (d[1] >> 16) & 0xF;
                if !(9..=12).contains(&log2) {
                    return Err(ILLEGAL_FIELD);
                }
                let ring = Ring::new(pages(&list, d[0] & 0xFFFF)?, PAGE_4K, RQE_SIZE, 1 << log2)
                    .ok_or(ILLEGAL_FIELD)?;
                (ring, (d[3] >> 16) as u16, d[3] & 0xFFFF)
            }
            _ => return Err(ILLEGAL_FIELD),
        };
        if buffer_size < min || buffer_size > max {
            return Err(ILLEGAL_FIELD);
        }
        let q = &mut self.func.queues;
        if !q.cqs.contains_key(&cq_id) {
            return Err(FAILED);
        }
        let id = free_id(&q.rqs, self.cfg.resources.rq_count.into()).ok_or(FAILED)?;
        q.rqs.insert(
            id,
            ReceiveQueue {
                ring,
                cq_id,
                buffer_size,
                cidx: 0,
                available: 0,
            },
        );
        let mut r = CreateRqRsp::default();
        r.set_queue_id(id.into());
        r.db_offset.set(doorbell_offset(self.if_type, DbKind::Rq));
        Ok(r.as_bytes().to_vec())
    }

    fn destroy(&mut self, kind: QueueKind, id: u16) -> Result<Vec<u8>, CfgError> {
        let q = &mut self.func.queues;
        let gone = match kind {
            QueueKind::Eq => q.eqs.remove(&id).is_some(),
            QueueKind::Cq => q.cqs.remove(&id).is_some(),
            QueueKind::Mq => q.mqs.remove(&id).is_some(),
            QueueKind::Wq => {
                let gone = q.wqs.remove(&id).is_some();
                // The port flushes the exchanges of a destroyed WQ silently.
                self.func.xchg.drop_wq(id);
                gone
            }
            QueueKind::Rq => q.rqs.remove(&id).is_some(),
        };
        if gone {
            Ok(Vec::new())
        } else {
            log::debug!("sli4 model: destroy of unknown {} {id}", kind.name());
            Err(FAILED)
        }
    }

    fn post_sgl_pages(&mut self, p: &[u8]) -> Result<Vec<u8>, CfgError> {
        let (first, entries) = post_sgl_pages::parse(p).ok_or(ILLEGAL_FIELD)?;
        let list: Vec<_> = entries.collect();
        let range = self.cfg.resources.xri;
        let last = u32::from(first) + list.len() as u32 - 1;
        let start = range.offset(first.into()).ok_or(ILLEGAL_FIELD)?;
        if !range.contains(last) {
            return Err(ILLEGAL_FIELD);
        }
        let aligned = |a: u64| a % SGL_ALIGN == 0;
        if list
            .iter()
            .any(|s| s.page0.addr() == 0 || !aligned(s.page0.addr()) || !aligned(s.page1.addr()))
        {
            return Err(ILLEGAL_FIELD);
        }
        for (i, s) in list.iter().enumerate() {
            self.func.res.sgls[start + i] = Some(Sgl {
                page0: s.page0.addr(),
                page1: s.page1.addr(),
            });
        }
        Ok(Vec::new())
    }
}

/// The response header for `result`, and the payload bytes that fit `room`.
fn response(
    hdr: &CfgRequestHeader,
    result: Result<Vec<u8>, CfgError>,
    room: usize,
) -> (CfgResponseHeader, Vec<u8>) {
    let mut rh = CfgResponseHeader::default();
    rh.set_opcode(hdr.opcode());
    rh.set_subsystem(hdr.subsystem());
    match result {
        Ok(mut rsp) => {
            rh.actual_response_length.set(rsp.len() as u32);
            rsp.truncate(room);
            rh.response_length.set(rsp.len() as u32);
            (rh, rsp)
        }
        Err((status, additional)) => {
            rh.set_status(status.into());
            rh.set_additional_status(additional.into());
            (rh, Vec::new())
        }
    }
}
