//! A minimal driver for the model's unit tests: DMA memory, the BMBX, queue
//! creation through the hba crate's builders, CQ polling with either
//! valid-bit convention. Test-only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use zerocopy::{FromBytes, IntoBytes};

use ufc_hba::sli4::cmds::cq_create::CreateCq;
use ufc_hba::sli4::cmds::eq_create::{eq_count, CreateEq, CreateQueueRsp};
use ufc_hba::sli4::cmds::fcfi::RegFcfi;
use ufc_hba::sli4::cmds::link::InitLink;
use ufc_hba::sli4::cmds::mq_create::{async_event, CreateMqExt};
use ufc_hba::sli4::cmds::post_sgl_pages::{self, SglPages};
use ufc_hba::sli4::cmds::rq_create::CreateRq;
use ufc_hba::sli4::cmds::wq_create::CreateWq;
use ufc_hba::sli4::doorbell::{
    doorbell_offset, EqCqDoorbell, IfType, PostDoorbell, QueueKind, WqDoorbell,
};
use ufc_hba::sli4::mbox::{Mcqe, Mqe, MQE_LEN};
use ufc_hba::sli4::regs::{Bmbx, BMBX};
use ufc_hba::sli4::sge::{Rqe, Sge};
use ufc_hba::sli4::sli_config::{embedded_response, CfgResponseHeader, SliConfig};
use ufc_hba::sli4::wqe::Wqe;
use ufc_transport::wwn::FcAddr;
use ufc_vfio::dma::{DmaMemory, HugePages, IovaAllocator};
use ufc_vfio::Device;

use super::{Generation, Sli4Config, Sli4Faults, Sli4Model};
use crate::clock::{Clock, ManualClock};
use crate::fabric::{Fabric, FabricConfig};

pub(crate) const MEM_LEN: usize = 4 << 20;

/// A CQ as the test driver polls it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TestCq {
    pub(crate) id: u16,
    pub(crate) iova: u64,
    pub(crate) entries: u32,
    pub(crate) idx: u32,
    pub(crate) phase: bool,
    pub(crate) autovalid: bool,
}

/// Queues made by [`Harness::bring_up`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Setup {
    /// The ring of the EQ every CQ reports to (1024 4-byte entries).
    pub(crate) eq_iova: u64,
    pub(crate) mq_cq: TestCq,
    pub(crate) mq: u16,
    pub(crate) mq_iova: u64,
    pub(crate) mq_pidx: u32,
    pub(crate) cq: TestCq,
    pub(crate) wq: u16,
    pub(crate) wq_iova: u64,
    pub(crate) wq_pidx: u32,
    pub(crate) hrq: u16,
    /// Header and data buffers, per RQ index.
    pub(crate) hbuf: u64,
    pub(crate) dbuf: u64,
    pub(crate) fcfi: u16,
    pub(crate) xri_base: u16,
    /// Per-XRI request / response buffers (4 KiB each) and SGL pages.
    pub(crate) bufs: u64,
}

pub(crate) const RQ_ENTRIES: u32 = 64;
pub(crate) const XRIS: u16 = 12;

pub(crate) struct Harness {
    pub(crate) dev: Device,
    pub(crate) mem: DmaMemory,
    pub(crate) hand: ManualClock,
    pub(crate) fabric: Arc<Fabric>,
    pub(crate) faults: Sli4Faults,
    pub(crate) if_type: IfType,
    pub(crate) addr: FcAddr,
    next: usize,
    bmbx_off: usize,
}

impl Harness {
    pub(crate) fn new(generation: Generation) -> Harness {
        Harness::with(generation, |_| {})
    }

    pub(crate) fn with(generation: Generation, tweak: impl FnOnce(&mut Sli4Config)) -> Harness {
        let (clock, hand): (Clock, ManualClock) = Clock::manual();
        let fabric = Fabric::new(FabricConfig::default(), clock.clone()).unwrap();
        let addr = fabric.config().host_ports[0].addr;
        let mut cfg = Sli4Config::new(generation, addr);
        tweak(&mut cfg);
        let model = Sli4Model::new(cfg, Arc::clone(&fabric), clock).unwrap();
        let faults = model.faults();
        let dev = Device::from_model(model);
        let iova = Arc::new(IovaAllocator::default());
        let mem = DmaMemory::allocate(MEM_LEN, HugePages::Never, &iova).unwrap();
        dev.dma_map(&mem).unwrap();
        let mut h = Harness {
            dev,
            mem,
            hand,
            fabric,
            faults,
            if_type: generation.if_type(),
            addr,
            next: 0,
            bmbx_off: 0,
        };
        h.bmbx_off = h.alloc(4096);
        h
    }

    /// Offset of a fresh 4 KiB-aligned block.
    pub(crate) fn alloc(&mut self, len: usize) -> usize {
        let at = self.next;
        self.next += len.div_ceil(4096) * 4096;
        assert!(self.next <= MEM_LEN, "test memory exhausted");
        at
    }

    pub(crate) fn iova(&self, off: usize) -> u64 {
        self.mem.iova() + off as u64
    }

    pub(crate) fn off(&self, iova: u64) -> usize {
        (iova - self.mem.iova()) as usize
    }

    pub(crate) fn read(&self, iova: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        self.mem.read_at(self.off(iova), &mut b).unwrap();
        b
    }

    pub(crate) fn write(&self, iova: u64, data: &[u8]) {
        self.mem.write_at(self.off(iova), data).unwrap();
    }

    pub(crate) fn reg(&self, off: u32) -> u32 {
        self.dev.bar(0).unwrap().read32(off.into()).unwrap()
    }

    pub(crate) fn set_reg(&self, off: u32, v: u32) {
        self.dev.bar(0).unwrap().write32(off.into(), v).unwrap()
    }

    pub(crate) fn doorbell(&self, kind: QueueKind, v: u32) {
        let bar = self.if_type.doorbell_bar();
        let off = doorbell_offset(self.if_type, kind);
        self.dev.bar(bar).unwrap().write32(off.into(), v).unwrap();
    }

    pub(crate) fn advance(&self, d: Duration) {
        self.hand.advance(d);
        self.dev.poll_model();
    }

    /// Runs a command through the BMBX; the response MQE and the MCQE.
    pub(crate) fn bmbx(&self, mqe: &Mqe) -> (Mqe, Mcqe) {
        self.try_bmbx(mqe).expect("BMBX did not complete")
    }

    /// As [`Harness::bmbx`], `None` when RDY does not rise.
    pub(crate) fn try_bmbx(&self, mqe: &Mqe) -> Option<(Mqe, Mcqe)> {
        let addr = self.iova(self.bmbx_off);
        self.mem.write_at(self.bmbx_off, &[0u8; 272]).unwrap();
        self.mem.write_at(self.bmbx_off, mqe.as_bytes()).unwrap();
        assert_eq!(self.reg(BMBX) & 1, 1, "BMBX not ready before the command");
        self.set_reg(BMBX, Bmbx::write_hi(addr).0);
        assert_eq!(self.reg(BMBX) & 1, 1);
        self.set_reg(BMBX, Bmbx::write_lo(addr).0);
        if self.reg(BMBX) & 1 == 0 {
            return None;
        }
        Some(self.bmbx_result())
    }

    pub(crate) fn bmbx_result(&self) -> (Mqe, Mcqe) {
        let mut b = [0u8; 272];
        self.mem.read_at(self.bmbx_off, &mut b).unwrap();
        (
            Mqe::from_prefix(&b).unwrap(),
            Mcqe::from_prefix(&b[MQE_LEN..]).unwrap(),
        )
    }

    /// An embedded SLI_CONFIG through the BMBX: its response header and payload.
    pub(crate) fn cfg(&self, mqe: &Mqe) -> (CfgResponseHeader, Vec<u8>, Mcqe) {
        let (rsp, mcqe) = self.bmbx(mqe);
        let c = SliConfig::from_mqe(&rsp);
        let (h, p) = c.response();
        (h, p.to_vec(), mcqe)
    }

    pub(crate) fn queue_id(&self, mqe: &Mqe) -> u16 {
        let (rsp, _) = self.bmbx(mqe);
        let (h, id) = embedded_response::<CreateQueueRsp>(&rsp);
        assert_eq!((h.status(), h.additional_status()), (0, 0), "create failed");
        id.unwrap().queue_id() as u16
    }

    pub(crate) fn make_cq(&mut self, eq: u16, entries: u32) -> TestCq {
        let autovalid = self.if_type == IfType::If6;
        let pages = (entries as usize * 16).div_ceil(4096);
        let off = self.alloc(pages * 4096);
        let list: Vec<u64> = (0..pages).map(|i| self.iova(off + i * 4096)).collect();
        let c = CreateCq::new(&list, entries, eq, autovalid).unwrap();
        let id = self.queue_id(&c.to_mqe().unwrap());
        TestCq {
            id,
            iova: self.iova(off),
            entries,
            idx: 0,
            phase: true,
            autovalid,
        }
    }

    /// The next valid CQE of `cq` (returns its credit), or `None`.
    pub(crate) fn next_cqe(&self, cq: &mut TestCq) -> Option<[u8; 16]> {
        let at = cq.iova + u64::from(cq.idx) * 16;
        let mut e = [0u8; 16];
        e.copy_from_slice(&self.read(at, 16));
        let valid = e[15] & 0x80 != 0;
        let expect = !cq.autovalid || cq.phase;
        if valid != expect {
            return None;
        }
        if !cq.autovalid {
            let mut cleared = e;
            cleared[15] &= 0x7F;
            self.write(at, &cleared);
        }
        cq.idx += 1;
        if cq.idx == cq.entries {
            cq.idx = 0;
            if cq.autovalid {
                cq.phase = !cq.phase;
            }
        }
        let d = EqCqDoorbell {
            id: cq.id,
            popped: 1,
            arm: false,
            flag: false,
        };
        let v = match self.if_type {
            IfType::If2 => d.encode_cq(IfType::If2),
            IfType::If6 => d.encode_cq(IfType::If6),
        };
        self.doorbell(QueueKind::Cq, v);
        Some(e)
    }

    /// Everything a driver does before INIT_LINK (sli4.md §3.6).
    pub(crate) fn bring_up(&mut self) -> Setup {
        let autovalid = self.if_type == IfType::If6;
        let eq_off = self.alloc(4096);
        let eq = self.queue_id(
            &CreateEq::new(&[self.iova(eq_off)], eq_count::E1024, autovalid)
                .unwrap()
                .to_mqe()
                .unwrap(),
        );
        let mq_cq = self.make_cq(eq, 256);
        let mq_off = self.alloc(4096);
        let mq_iova = self.iova(mq_off);
        let mq = self.queue_id(
            &CreateMqExt::new(
                &[mq_iova],
                16,
                mq_cq.id,
                async_event::FC | async_event::SLI_PORT,
                1,
            )
            .unwrap()
            .to_mqe(1)
            .unwrap(),
        );
        let cq = self.make_cq(eq, 256);
        let wq_off = self.alloc(4096);
        let wq_iova = self.iova(wq_off);
        let wq = self.queue_id(
            &CreateWq::new(&[wq_iova], 64, cq.id)
                .unwrap()
                .to_mqe()
                .unwrap(),
        );
        let hrq_off = self.alloc(4096);
        let drq_off = self.alloc(4096);
        let hrq = self.queue_id(
            &CreateRq::new(&[self.iova(hrq_off)], RQ_ENTRIES as u16, 128, cq.id)
                .unwrap()
                .to_mqe()
                .unwrap(),
        );
        let drq = self.queue_id(
            &CreateRq::new(&[self.iova(drq_off)], RQ_ENTRIES as u16, 2048, cq.id)
                .unwrap()
                .to_mqe()
                .unwrap(),
        );
        assert_eq!((hrq % 2, drq), (0, hrq + 1), "header RQ even, data RQ next");
        let hbuf_off = self.alloc(RQ_ENTRIES as usize * 128);
        let hbuf = self.iova(hbuf_off);
        let dbuf_off = self.alloc(RQ_ENTRIES as usize * 2048);
        let dbuf = self.iova(dbuf_off);
        for i in 0..u64::from(RQ_ENTRIES) {
            self.write(
                self.iova(hrq_off) + i * 8,
                Rqe::new(hbuf + i * 128).as_bytes(),
            );
            self.write(
                self.iova(drq_off) + i * 8,
                Rqe::new(dbuf + i * 2048).as_bytes(),
            );
        }
        let post = PostDoorbell {
            id: hrq,
            posted: RQ_ENTRIES as u16,
        };
        self.doorbell(QueueKind::Rq, post.encode());
        // XRIs: SGL page, request and response buffers of 4 KiB each.
        let xri_base = super::ResourceConfig::default().xri.base;
        let bufs_off = self.alloc(XRIS as usize * 3 * 4096);
        let bufs = self.iova(bufs_off);
        let sgls: Vec<SglPages> = (0..u64::from(XRIS))
            .map(|i| SglPages::one(bufs + i * 3 * 4096))
            .collect();
        let (h, _, _) = self.cfg(&post_sgl_pages::embedded(xri_base, &sgls).unwrap());
        assert_eq!(h.status(), 0);
        let (rsp, _) = self.bmbx(&RegFcfi::catch_all(hrq).to_mqe());
        assert_eq!(rsp.status(), 0);
        let fcfi = RegFcfi::from_mqe(&rsp).fcfi() as u16;
        Setup {
            eq_iova: self.iova(eq_off),
            mq_cq,
            mq,
            mq_iova,
            mq_pidx: 0,
            cq,
            wq,
            wq_iova,
            wq_pidx: 0,
            hrq,
            hbuf,
            dbuf,
            fcfi,
            xri_base,
            bufs,
        }
    }

    /// INIT_LINK and the link-up ACQE.
    pub(crate) fn link_up(&mut self, s: &mut Setup) -> [u8; 16] {
        let (rsp, _) = self.bmbx(&InitLink::fabric().to_mqe());
        assert_eq!(rsp.status(), 0);
        self.dev.poll_model();
        self.next_cqe(&mut s.mq_cq).expect("link-up ACQE")
    }

    /// Request (SGE 0) and response (SGE 1) buffers of XRI number `i`.
    pub(crate) fn xri_bufs(&self, s: &Setup, i: u16) -> (u16, u64, u64) {
        let base = s.bufs + u64::from(i) * 3 * 4096;
        (s.xri_base + i, base + 4096, base + 8192)
    }

    /// Writes the request into XRI `i`'s buffer and its SGL; the BDE-ready
    /// request address.
    pub(crate) fn stage(&self, s: &Setup, i: u16, req: &[u8]) -> (u16, u64, u64) {
        let (xri, rq, rs) = self.xri_bufs(s, i);
        self.write(rq, req);
        let sgl = s.bufs + u64::from(i) * 3 * 4096;
        self.write(sgl, Sge::data(rq, req.len() as u32, 0, false).as_bytes());
        self.write(sgl + 16, Sge::data(rs, 4096, 0, true).as_bytes());
        (xri, rq, rs)
    }

    /// Posts one WQE and rings the WQ doorbell.
    pub(crate) fn post_wqe(&self, s: &mut Setup, w: &Wqe) {
        self.write(s.wq_iova + u64::from(s.wq_pidx) * 64, w.as_bytes());
        let d = WqDoorbell {
            id: s.wq,
            index: s.wq_pidx as u8,
            posted: 1,
        };
        s.wq_pidx = (s.wq_pidx + 1) % 64;
        self.doorbell(QueueKind::Wq, d.encode(self.if_type));
    }

    /// Posts one MQE on the MQ and rings its doorbell.
    pub(crate) fn post_mqe(&self, s: &mut Setup, m: &Mqe) {
        self.write(s.mq_iova + u64::from(s.mq_pidx) * 256, m.as_bytes());
        s.mq_pidx = (s.mq_pidx + 1) % 16;
        self.doorbell(
            QueueKind::Mq,
            PostDoorbell {
                id: s.mq,
                posted: 1,
            }
            .encode(),
        );
    }

    /// The MQE slot `i` of the MQ.
    pub(crate) fn mq_slot(&self, s: &Setup, i: u32) -> Mqe {
        Mqe::read_from_bytes(&self.read(s.mq_iova + u64::from(i) * 256, 256)).unwrap()
    }
}
