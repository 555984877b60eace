//! Tests of the SLI-4 model through its `DeviceModel` interface: raw register
//! and BMBX writes, queues in DMA memory, frames through the fabric.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use proptest::prelude::*;
use zerocopy::{FromBytes, IntoBytes};

use ufc_hba::fc::els::els_cmd;
use ufc_hba::fc::login::{LoginPayload, ServiceParams};
use ufc_hba::fc::nameserver;
use ufc_hba::fc::scr::{scr_function, Scr};
use ufc_hba::sli4::cmds::cq_create::CreateCq;
use ufc_hba::sli4::cmds::eq_create::{eq_count, CreateEq};
use ufc_hba::sli4::cmds::fcfi::RegFcfi;
use ufc_hba::sli4::cmds::get_sli4_params::{self, Sli4Params};
use ufc_hba::sli4::cmds::link::DownLink;
use ufc_hba::sli4::cmds::queue_destroy::{DestroyQueue, QueueKind as DestroyKind};
use ufc_hba::sli4::cmds::read_config::ReadConfig;
use ufc_hba::sli4::cmds::read_rev::ReadRev;
use ufc_hba::sli4::cmds::read_sparm64::ReadSparm64;
use ufc_hba::sli4::cmds::read_topology::{self, ReadTopology};
use ufc_hba::sli4::cmds::request_features::{feature, RequestFeatures};
use ufc_hba::sli4::cmds::rpi::{RegRpi, UnregRpi};
use ufc_hba::sli4::cmds::vfi::{InitVfi, RegVfi, RegVfiParams};
use ufc_hba::sli4::cqe::{
    cqe_code, link_attention, link_speed, local_reject, rcqe_status, wcqe_status, Cqe, CqeKind,
    FcLinkAttention, Rcqe, Wcqe, XriAbortedCqe,
};
use ufc_hba::sli4::doorbell::{EqCqDoorbell, IfType, QueueKind};
use ufc_hba::sli4::mbox::{mbx_cmd, mbx_status, Mqe};
use ufc_hba::sli4::regs::{
    Control, Semaphore, Status, PHYSDEV_CONTROL, SLIPORT_CONTROL, SLIPORT_ERROR1, SLIPORT_ERROR2,
    SLIPORT_SEMAPHORE, SLIPORT_STATUS,
};
use ufc_hba::sli4::sge::{Bde, Sge};
use ufc_hba::sli4::sli_config::{
    cfg_additional_status, cfg_status, common_op, subsystem, SliConfig,
};
use ufc_hba::sli4::wqe::{els_id, Abort, Context, ElsRequest, GenRequest, Wqe};

use super::testkit::{Harness, Setup};
use super::{FirmwareError, Generation, StartState};

const F_PORT: u32 = 0xFF_FFFE;
const FABRIC_CTRL: u32 = 0xFF_FFFD;
const NAME_SERVER: u32 = 0xFF_FFFC;
pub(super) const OUR_ID: u32 = 0x01_0100;
pub(super) const VPI: u16 = 4;
const VFI: u16 = 2;

fn status(h: &Harness) -> Status {
    Status(h.reg(SLIPORT_STATUS))
}

fn els(h: &Harness, s: &Setup, i: u16, tag: u16, payload: &[u8], d_id: u32, id: u32) -> Wqe {
    let (xri, rq, _) = h.stage(s, i, payload);
    ElsRequest {
        xri,
        context: Context::vpi(VPI),
        request_tag: tag,
        temp_rpi: 0x10,
        payload: Bde::host(rq, payload.len() as u32),
        max_rsp_len: 4096,
        s_id: (id == els_id::FLOGI).then_some(0),
        d_id,
        els_id: id,
        timer: 0,
    }
    .build()
}

pub(super) fn wcqe(h: &Harness, s: &mut Setup) -> Wcqe {
    h.dev.poll_model();
    let e = h.next_cqe(&mut s.cq).expect("a WCQE");
    Wcqe::read_from_bytes(&e).unwrap()
}

/// FLOGI through ELS_REQUEST64; the WCQE.
fn flogi(h: &Harness, s: &mut Setup) -> Wcqe {
    let p = LoginPayload::new(
        els_cmd::FLOGI,
        ServiceParams::n_port(h.addr.wwpn, h.addr.wwnn),
    );
    let w = els(h, s, 0, 7, p.as_bytes(), F_PORT, els_id::FLOGI);
    h.post_wqe(s, &w);
    wcqe(h, s)
}

#[test]
fn power_on_ready_and_port_reset_raises_rdy_again() {
    for g in [Generation::G6, Generation::G7] {
        let h = Harness::with(g, |c| c.reset_delay = Duration::from_millis(20));
        assert!(Semaphore(h.reg(SLIPORT_SEMAPHORE)).is_ready());
        assert!(status(&h).rdy() && !status(&h).err());
        assert_eq!(h.dev.config_read32(0x58).unwrap(), g.sli_intf().0);
        h.set_reg(SLIPORT_CONTROL, Control::INIT_PORT.0);
        assert!(!status(&h).rdy(), "RDY drops while the port resets");
        h.advance(Duration::from_millis(19));
        assert!(!status(&h).rdy());
        h.advance(Duration::from_millis(1));
        assert!(status(&h).rdy());
        // The BMBX works again.
        let (rsp, mcqe) = h.bmbx(&ReadConfig::new().to_mqe());
        assert!(mcqe.valid() && mcqe.completed() && rsp.status() == 0);
    }
}

#[test]
fn start_states_never_ready_and_error() {
    let h = Harness::with(Generation::G6, |c| c.start = StartState::NeverReady);
    h.advance(Duration::from_secs(60));
    assert!(!status(&h).rdy() && !status(&h).err());
    assert!(!Semaphore(h.reg(SLIPORT_SEMAPHORE)).is_ready());

    let h = Harness::with(Generation::G7, |c| {
        c.start = StartState::Error {
            reset_needed: false,
        }
    });
    assert!(status(&h).is_unrecoverable());
    assert!(Semaphore(h.reg(SLIPORT_SEMAPHORE)).is_fatal());
    assert_eq!(h.reg(SLIPORT_ERROR1), 1);
    h.set_reg(SLIPORT_CONTROL, Control::INIT_PORT.0);
    assert!(status(&h).err(), "IP does not clear an unrecoverable error");

    let h = Harness::with(Generation::G7, |c| {
        c.start = StartState::Error { reset_needed: true }
    });
    assert!(status(&h).is_recoverable_error());
    h.advance(Duration::from_millis(100));
    assert!(status(&h).rdy() && status(&h).err());
    h.set_reg(SLIPORT_CONTROL, Control::INIT_PORT.0);
    assert!(status(&h).rdy() && !status(&h).err());
}

#[test]
fn bmbx_round_trip_read_config() {
    let h = Harness::new(Generation::G6);
    let (rsp, mcqe) = h.bmbx(&ReadConfig::new().to_mqe());
    assert!(mcqe.valid() && mcqe.completed() && !mcqe.ae());
    assert_eq!(mcqe.completion_status(), 0);
    let c = ReadConfig::from_mqe(&rsp);
    assert_eq!(c.status(), 0);
    assert!(!c.ext());
    let res = super::ResourceConfig::default();
    assert_eq!(
        (c.xri_base(), c.xri_count()),
        (u32::from(res.xri.base), u32::from(res.xri.count))
    );
    assert_eq!(
        (c.rpi_base(), c.rpi_count()),
        (u32::from(res.rpi.base), u32::from(res.rpi.count))
    );
    assert_eq!(
        (c.vpi_base(), c.vfi_base()),
        (u32::from(res.vpi.base), u32::from(res.vfi.base))
    );
    assert_eq!((c.eq_count(), c.cq_count()), (32, 64));
    assert_eq!((c.e_d_tov(), c.r_a_tov()), (2000, 10));
    // The hi write alone does not run anything; RDY after each half.
    assert_eq!(h.faults.stats().mailbox_commands, 1);
}

#[test]
fn read_rev_sparm_params_features() {
    let mut h = Harness::new(Generation::G7);
    let (rsp, _) = h.bmbx(&ReadRev::new().to_mqe());
    let r = ReadRev::from_mqe(&rsp);
    assert_eq!(r.sli_level(), 4);
    assert_eq!(r.fw_name(), "14.4.393.31-emu");
    assert!(!r.is_first_g7_asic());

    let vpd = {
        let o = h.alloc(4096);
        h.iova(o)
    };
    let (rsp, _) = h.bmbx(&ReadRev::with_vpd(vpd, 256).to_mqe());
    let r = ReadRev::from_mqe(&rsp);
    assert!(r.returned_vpd_len.get() > 0);
    assert_eq!(h.read(vpd, 1)[0], 0x82);

    let buf = {
        let o = h.alloc(4096);
        h.iova(o)
    };
    let (rsp, _) = h.bmbx(&ReadSparm64::request(buf, VPI).to_mqe());
    assert_eq!(rsp.status(), 0);
    let sp = ServiceParams::parse(&h.read(buf, 112)).unwrap();
    assert_eq!((sp.wwpn(), sp.wwnn()), (h.addr.wwpn, h.addr.wwnn));
    assert_eq!(&h.read(buf + 16, 8), &h.addr.wwpn.0.to_be_bytes());

    let (hdr, p, _) = h.cfg(&get_sli4_params::request());
    assert_eq!(hdr.status(), 0);
    let s = Sli4Params::read_from_prefix(&p).unwrap().0;
    assert_eq!((s.if_type(), s.family()), (6, 0xD));
    assert!(s.eqav() && s.cqav() && s.nvme_capable() && s.sglr() && !s.hdrr() && !s.ext());
    assert_eq!((s.cqv(), s.mqv(), s.wqv(), s.rqv()), (2, 1, 1, 1));
    assert_eq!(s.wqe_sizes(), 1);
    assert_eq!((s.min_rq_buffer(), s.max_rq_buffer()), (64, 2048));

    let want = feature::FCPI | feature::PERFH | feature::VF;
    let (rsp, _) = h.bmbx(&RequestFeatures::request(want, true).to_mqe());
    let f = RequestFeatures::from_mqe(&rsp);
    assert_eq!(f.granted.get(), feature::FCPI | feature::PERFH);

    let g6 = Harness::new(Generation::G6);
    let (_, p, _) = g6.cfg(&get_sli4_params::request());
    let s = Sli4Params::read_from_prefix(&p).unwrap().0;
    assert_eq!((s.if_type(), s.family()), (2, 0xC));
    assert!(!s.eqav() && !s.cqav());
}

#[test]
fn malformed_and_unknown_commands_get_error_statuses() {
    let mut h = Harness::new(Generation::G6);
    // Unknown native command.
    let (rsp, mcqe) = h.bmbx(&Mqe::new(0x77));
    assert_eq!(rsp.status(), u32::from(mbx_status::FAILURE));
    assert_eq!(mcqe.completion_status(), u32::from(mbx_status::FAILURE));
    // Unknown SLI_CONFIG opcode, and a known unimplemented one.
    let m = SliConfig::embedded(subsystem::COMMON, 0xEE, 0, &[], 16).unwrap();
    let (hdr, _, mcqe) = h.cfg(&m);
    assert_eq!(
        (hdr.status(), hdr.additional_status()),
        (
            u32::from(cfg_status::ILLEGAL_REQUEST),
            u32::from(cfg_additional_status::INVALID_OPCODE)
        )
    );
    assert_eq!(
        mcqe.extended_status(),
        u32::from(cfg_additional_status::INVALID_OPCODE)
    );
    let m = SliConfig::embedded(subsystem::COMMON, common_op::GET_PORT_NAME, 0, &[], 16).unwrap();
    assert_eq!(
        h.cfg(&m).0.additional_status(),
        u32::from(cfg_additional_status::CMD_NOT_SUPPORTED)
    );
    // EQ without its VALID bit; EQ autovalid on if_type 2.
    let page = {
        let o = h.alloc(4096);
        h.iova(o)
    };
    let mut eq = CreateEq::new(&[page], eq_count::E1024, false).unwrap();
    eq.set_valid(false);
    assert_eq!(
        h.cfg(&eq.to_mqe().unwrap()).0.status(),
        u32::from(cfg_status::ILLEGAL_FIELD)
    );
    let eq = CreateEq::new(&[page], eq_count::E1024, true).unwrap();
    assert_eq!(
        h.cfg(&eq.to_mqe().unwrap()).0.status(),
        u32::from(cfg_status::ILLEGAL_FIELD)
    );
    // EQ of 4096 entries cannot fit one page.
    let eq = CreateEq::new(&[page], eq_count::E4096, false).unwrap();
    assert_eq!(
        h.cfg(&eq.to_mqe().unwrap()).0.status(),
        u32::from(cfg_status::ILLEGAL_FIELD)
    );
    // CQ on an EQ that does not exist.
    let cq = CreateCq::new(&[page], 256, 9, false).unwrap();
    assert_eq!(
        h.cfg(&cq.to_mqe().unwrap()).0.status(),
        u32::from(cfg_status::FAILED)
    );
    // Destroy of a queue that does not exist.
    let (hdr, _, _) = h.cfg(&DestroyQueue::mqe(DestroyKind::Wq, 5));
    assert_eq!(hdr.status(), u32::from(cfg_status::FAILED));
    // A response that cannot fit the payload length.
    let mut m = CreateEq::new(&[page], eq_count::E1024, false)
        .unwrap()
        .to_mqe()
        .unwrap();
    let mut c = SliConfig::from_mqe(&m);
    c.payload_length.set(16);
    m = c.to_mqe();
    assert_eq!(
        h.cfg(&m).0.status(),
        u32::from(cfg_status::INSUFFICIENT_BUFFER)
    );
    // A non-embedded command whose buffer is outside DMA memory.
    let m =
        SliConfig::external(&[ufc_hba::sli4::sli_config::Pmd::new(0xdead_0000_0000, 64)]).unwrap();
    let (rsp, mcqe) = h.bmbx(&m);
    assert_eq!(rsp.status(), u32::from(cfg_status::FAILED));
    assert_eq!(mcqe.completion_status(), u32::from(cfg_status::FAILED));
    assert!(h.faults.stats().dma_errors >= 1);
    // Registrations without their prerequisites.
    let (rsp, _) = h.bmbx(&RegRpi::login(0x10, 0x01_0101, VPI, page).to_mqe());
    assert_eq!(rsp.status(), u32::from(mbx_status::INVALID_VPI));
    let (rsp, _) = h.bmbx(&RegRpi::login(0x1, 0x01_0101, VPI, page).to_mqe());
    assert_eq!(rsp.status(), u32::from(mbx_status::INVALID_RPI));
    let (rsp, _) = h.bmbx(&UnregRpi::rpi(0x11).to_mqe());
    assert_eq!(rsp.status(), u32::from(mbx_status::RPI_NOT_REGISTERED));
    let (rsp, _) = h.bmbx(&RegFcfi::catch_all(3).to_mqe());
    assert_eq!(rsp.status(), u32::from(mbx_status::FAILURE), "no RQ 3");
    assert!(status(&h).rdy() && !status(&h).err());
}

#[test]
fn non_embedded_post_sgl_pages() {
    let mut h = Harness::new(Generation::G6);
    let buf = h.alloc(4096);
    let sgls: Vec<_> = (0..40u64)
        .map(|i| ufc_hba::sli4::cmds::post_sgl_pages::SglPages::one(0x10_0000 + i * 4096))
        .collect();
    let mut b = vec![0u8; 4096];
    let base = super::ResourceConfig::default().xri.base;
    let n = ufc_hba::sli4::cmds::post_sgl_pages::write_external(&mut b, base, &sgls).unwrap();
    h.write(h.iova(buf), &b[..n]);
    let m =
        SliConfig::external(&[ufc_hba::sli4::sli_config::Pmd::new(h.iova(buf), n as u32)]).unwrap();
    let (rsp, mcqe) = h.bmbx(&m);
    assert_eq!((rsp.status(), mcqe.completion_status()), (0, 0));
    let back = h.read(h.iova(buf), 16);
    assert_eq!(back[4], 0, "response header status in the external buffer");
    // XRIs out of range are refused.
    let n = ufc_hba::sli4::cmds::post_sgl_pages::write_external(&mut b, base - 1, &sgls).unwrap();
    h.write(h.iova(buf), &b[..n]);
    let (rsp, _) = h.bmbx(&m);
    assert_eq!(rsp.status(), u32::from(cfg_status::ILLEGAL_FIELD));
}

fn cq_phase_wrap(g: Generation) {
    let mut h = Harness::new(g);
    let mut s = h.bring_up();
    // 300 NOPs through the MQ: more than the 256-entry CQ, so the CQ wraps
    // (and, with autovalid, the expected phase flips).
    let nop = SliConfig::embedded(subsystem::COMMON, common_op::NOP, 0, &[], 0).unwrap();
    for i in 0..300u32 {
        h.post_mqe(&mut s, &nop);
        let e = h.next_cqe(&mut s.mq_cq).expect("MCQE");
        let c = Cqe::read_from_bytes(&e).unwrap();
        assert_eq!(c.kind(true), CqeKind::Mcqe);
        let m = ufc_hba::sli4::mbox::Mcqe::read_from_bytes(&e).unwrap();
        assert!(m.completed() && m.consumed() && m.completion_status() == 0);
        assert_eq!(h.mq_slot(&s, i % 16).status(), 0);
        if g == Generation::G7 {
            assert_eq!(
                m.valid(),
                (i / 256) % 2 == 0,
                "autovalid phase at entry {i}"
            );
        } else {
            assert!(m.valid());
        }
    }
    assert_eq!(h.next_cqe(&mut s.mq_cq), None);
    assert_eq!(h.faults.stats().cq_overflows, 0);
}

#[test]
fn mq_and_cq_phase_wrap_if_type_2() {
    cq_phase_wrap(Generation::G6);
}

#[test]
fn mq_and_cq_phase_wrap_if_type_6() {
    cq_phase_wrap(Generation::G7);
}

#[test]
fn cq_without_credits_overflows_and_counts() {
    let mut h = Harness::new(Generation::G7);
    let mut s = h.bring_up();
    let nop = SliConfig::embedded(subsystem::COMMON, common_op::NOP, 0, &[], 0).unwrap();
    for _ in 0..257 {
        h.post_mqe(&mut s, &nop);
    }
    assert_eq!(h.faults.stats().cq_overflows, 1);
    // An armed CQ raises an EQE on its EQ.
    let d = EqCqDoorbell {
        id: s.cq.id,
        popped: 0,
        arm: true,
        flag: false,
    };
    h.doorbell(QueueKind::Cq, d.encode_cq(IfType::If6));
    assert!(flogi_or_link(&mut h, &mut s));
}

/// Link up and a FLOGI: the ELS CQ was armed, so an EQE for it appears.
fn flogi_or_link(h: &mut Harness, s: &mut Setup) -> bool {
    // Credits for the MQ's CQ so the link ACQE fits.
    let d = EqCqDoorbell {
        id: s.mq_cq.id,
        popped: 256,
        arm: false,
        flag: false,
    };
    h.doorbell(QueueKind::Cq, d.encode_cq(h.if_type));
    // 256 entries were written (the 257th overflowed): the next one is
    // entry 0 of the second pass.
    s.mq_cq.idx = 0;
    s.mq_cq.phase = false;
    h.link_up(s);
    let w = flogi(h, s);
    let eqe = h.read(h.iova(0) + 4096, 4);
    w.status() == 0
        && u32::from_le_bytes([eqe[0], eqe[1], eqe[2], eqe[3]]) >> 16 == u32::from(s.cq.id)
}

fn flogi_assigns_d_id(g: Generation) {
    let mut h = Harness::new(g);
    let mut s = h.bring_up();
    let acqe = h.link_up(&mut s);
    let la = FcLinkAttention::read_from_bytes(&acqe).unwrap();
    assert!(la.ae() && la.valid());
    assert_eq!(la.attention_type(), u32::from(link_attention::LINK_UP));
    assert_eq!(la.speed(), u32::from(link_speed::G32));
    let (rsp, _) = h.bmbx(&ReadTopology::new().to_mqe());
    let t = ReadTopology::from_mqe(&rsp);
    assert!(t.link_up());
    assert_eq!(t.event_tag.get(), la.event_tag());
    assert_eq!(t.link_speed(), read_topology::speed::G32);
    let (rsp, _) = h.bmbx(&InitVfi::fc(VFI, s.fcfi, VPI).to_mqe());
    assert_eq!(rsp.status(), 0);

    let w = flogi(&h, &mut s);
    assert_eq!(w.request_tag(), 7);
    assert_eq!(w.status(), u32::from(wcqe_status::SUCCESS));
    assert_eq!(w.code(), u32::from(cqe_code::WCQE));
    assert_eq!(w.els_d_id(), OUR_ID, "our N_Port ID in WCQE dword 2");
    assert_eq!(w.total_data_placed(), 116);
    let (_, _, rs) = h.xri_bufs(&s, 0);
    let acc = LoginPayload::parse(&h.read(rs, 116)).unwrap();
    assert_eq!(h.read(rs, 1)[0], els_cmd::LS_ACC);
    assert!(acc.sp.is_f_port());

    // REG_VFI with the ACC's parameters registers the VPI.
    let p = RegVfiParams {
        vfi: VFI,
        fcfi: s.fcfi,
        vpi: VPI,
        wwpn: h.addr.wwpn,
        sparm_addr: rs + 4,
        n_port_id: OUR_ID,
        e_d_tov_ms: 2000,
        r_a_tov_s: 10,
    };
    let (rsp, _) = h.bmbx(&RegVfi::after_flogi(&p).to_mqe());
    assert_eq!(rsp.status(), 0);
    let (rsp, _) = h.bmbx(&RegVfi::after_flogi(&p).to_mqe());
    assert_eq!(rsp.status(), u32::from(mbx_status::VFI_IN_USE));
}

#[test]
fn flogi_via_els_request64_if_type_2() {
    flogi_assigns_d_id(Generation::G6);
}

#[test]
fn flogi_via_els_request64_if_type_6() {
    flogi_assigns_d_id(Generation::G7);
}

/// Link up, FLOGI, REG_VFI: a logged-in port.
pub(super) fn logged_in(g: Generation) -> (Harness, Setup) {
    logged_in_with(g, |_| {})
}

/// [`logged_in`] with the model's configuration changed by `tweak`.
pub(super) fn logged_in_with(
    g: Generation,
    tweak: impl FnOnce(&mut super::Sli4Config),
) -> (Harness, Setup) {
    let mut h = Harness::with(g, tweak);
    let mut s = h.bring_up();
    h.link_up(&mut s);
    let w = flogi(&h, &mut s);
    assert_eq!(w.els_d_id(), OUR_ID);
    let (_, _, rs) = h.xri_bufs(&s, 0);
    let p = RegVfiParams {
        vfi: VFI,
        fcfi: s.fcfi,
        vpi: VPI,
        wwpn: h.addr.wwpn,
        sparm_addr: rs + 4,
        n_port_id: OUR_ID,
        e_d_tov_ms: 2000,
        r_a_tov_s: 10,
    };
    assert_eq!(h.bmbx(&RegVfi::after_flogi(&p).to_mqe()).0.status(), 0);
    (h, s)
}

#[test]
fn unsolicited_rscn_arrives_through_the_rq_pair() {
    let (h, mut s) = logged_in(Generation::G7);
    let scr = Scr::new(scr_function::FULL);
    let w = els(&h, &s, 1, 8, scr.as_bytes(), FABRIC_CTRL, els_id::OTHER);
    h.post_wqe(&mut s, &w);
    let w = wcqe(&h, &mut s);
    assert_eq!((w.request_tag(), w.status()), (8, 0));

    let target = h.fabric.config().target_ports[0].addr.wwpn;
    h.fabric.target_leave(target).unwrap();
    h.dev.poll_model();
    let e = h.next_cqe(&mut s.cq).expect("RCQE");
    let r = Rcqe::read_from_bytes(&e).unwrap();
    assert_eq!(r.code(), u32::from(cqe_code::RCQE));
    assert_eq!(r.status(), u32::from(rcqe_status::SUCCESS));
    assert_eq!((r.rq_id(), r.fcfi()), (u32::from(s.hrq), u32::from(s.fcfi)));
    assert_eq!(r.header_len(), 24);
    let idx = u64::from(r.rq_element_index());
    let hdr = h.read(s.hbuf + idx * 128, 24);
    assert_eq!(hdr[0], 0x22, "R_CTL ELS request");
    assert_eq!(&hdr[1..4], &[0x01, 0x01, 0x00], "D_ID = our N_Port ID");
    assert_eq!(
        &hdr[5..8],
        &[0xFF, 0xFF, 0xFD],
        "from the fabric controller"
    );
    let payload = h.read(s.dbuf + idx * 2048, r.payload_len() as usize);
    assert_eq!(payload[0], els_cmd::RSCN);
    assert_eq!(
        &payload[5..8],
        &[0x01, 0x01, 0x01],
        "the target's N_Port ID"
    );

    // ACC through XMIT_ELS_RSP64 reaches the fabric controller.
    let ox_id = u16::from_be_bytes([hdr[16], hdr[17]]);
    let (xri, rq, _) = h.stage(&s, 2, &ufc_hba::fc::els::ls_acc());
    let w = ufc_hba::sli4::wqe::XmitElsRsp {
        xri,
        context: Context::vpi(VPI),
        request_tag: 9,
        ox_id,
        temp_rpi: 0,
        payload: Bde::host(rq, 4),
        s_id: None,
        d_id: FABRIC_CTRL,
    }
    .build();
    let before = h.fabric.stats().acc_received;
    h.post_wqe(&mut s, &w);
    let w = wcqe(&h, &mut s);
    assert_eq!((w.request_tag(), w.status()), (9, 0));
    assert_eq!(h.fabric.stats().acc_received, before + 1);
}

#[test]
fn name_server_login_and_gid_ft_through_gen_request64() {
    let (h, mut s) = logged_in(Generation::G6);
    let p = LoginPayload::new(
        els_cmd::PLOGI,
        ServiceParams::n_port(h.addr.wwpn, h.addr.wwnn),
    );
    let w = els(&h, &s, 1, 11, p.as_bytes(), NAME_SERVER, els_id::PLOGI);
    h.post_wqe(&mut s, &w);
    let w = wcqe(&h, &mut s);
    assert_eq!((w.request_tag(), w.status()), (11, 0));
    let (_, _, rs) = h.xri_bufs(&s, 1);
    let rpi = 0x20;
    assert_eq!(
        h.bmbx(&RegRpi::login(rpi, NAME_SERVER, VPI, rs + 4).to_mqe())
            .0
            .status(),
        0
    );
    assert_eq!(
        h.bmbx(&RegRpi::login(rpi, NAME_SERVER, VPI, rs + 4).to_mqe())
            .0
            .status(),
        u32::from(mbx_status::RPI_REGISTERED)
    );

    let ct = nameserver::gid_ft(0x28, 0);
    let (xri, rq, rsp) = h.stage(&s, 3, &ct);
    let w = GenRequest {
        xri,
        rpi,
        request_tag: 12,
        payload: Bde::host(rq, ct.len() as u32),
        max_rsp_len: 4096,
        r_ctl: 0x02,
        fc_type: 0x20,
        timer: 30,
    }
    .build();
    h.post_wqe(&mut s, &w);
    let w = wcqe(&h, &mut s);
    assert_eq!((w.request_tag(), w.status()), (12, 0));
    let body = h.read(rsp, w.total_data_placed() as usize);
    assert_eq!(&body[8..10], &[0x80, 0x02], "CT accept");
    // The default target is NVMe: one entry, flagged last.
    assert_eq!(w.total_data_placed(), 16 + 4);
    assert_eq!(body[16] & 0x80, 0x80);
    assert_eq!(&body[17..20], &[0x01, 0x01, 0x01]);

    // GEN_REQUEST64 to an unregistered RPI is a local reject.
    assert_eq!(h.bmbx(&UnregRpi::rpi(rpi).to_mqe()).0.status(), 0);
    h.post_wqe(&mut s, &w_gen(xri, rpi, rq, ct.len()));
    let w = wcqe(&h, &mut s);
    assert_eq!(w.status(), u32::from(wcqe_status::LOCAL_REJECT));
    assert_eq!(w.local_reject_reason(), local_reject::INVALID_RPI);
}

fn w_gen(xri: u16, rpi: u16, rq: u64, len: usize) -> Wqe {
    GenRequest {
        xri,
        rpi,
        request_tag: 13,
        payload: Bde::host(rq, len as u32),
        max_rsp_len: 4096,
        r_ctl: 0x02,
        fc_type: 0x20,
        timer: 30,
    }
    .build()
}

#[test]
fn link_down_fails_exchanges_and_posts_acqe_link_up_again() {
    let (h, mut s) = logged_in(Generation::G7);
    // An ELS to nobody stays open (the fabric drops it).
    let p = LoginPayload::new(
        els_cmd::PLOGI,
        ServiceParams::n_port(h.addr.wwpn, h.addr.wwnn),
    );
    let w = els(&h, &s, 1, 21, p.as_bytes(), 0x01_0999, els_id::PLOGI);
    h.post_wqe(&mut s, &w);
    h.dev.poll_model();
    assert!(h.next_cqe(&mut s.cq).is_none());
    h.faults.link_down().unwrap();
    let w = wcqe(&h, &mut s);
    assert_eq!(
        (w.request_tag(), w.status()),
        (21, u32::from(wcqe_status::LOCAL_REJECT))
    );
    assert_eq!(w.local_reject_reason(), local_reject::LINK_DOWN);
    let la = FcLinkAttention::read_from_bytes(&h.next_cqe(&mut s.mq_cq).unwrap()).unwrap();
    assert_eq!(la.attention_type(), u32::from(link_attention::LINK_DOWN));
    // Sending while down: local reject at once.
    let w = flogi(&h, &mut s);
    assert_eq!(w.local_reject_reason(), local_reject::LINK_DOWN);
    h.faults.link_up().unwrap();
    h.dev.poll_model();
    let la2 = FcLinkAttention::read_from_bytes(&h.next_cqe(&mut s.mq_cq).unwrap()).unwrap();
    assert_eq!(la2.attention_type(), u32::from(link_attention::LINK_UP));
    assert_eq!(la2.event_tag(), la.event_tag() + 1);
    assert_eq!(flogi(&h, &mut s).els_d_id(), OUR_ID);
    // DOWN_LINK leaves the fabric with a link-down event.
    assert_eq!(h.bmbx(&DownLink::new().to_mqe()).0.status(), 0);
    let la3 = FcLinkAttention::read_from_bytes(&h.next_cqe(&mut s.mq_cq).unwrap()).unwrap();
    assert_eq!(la3.attention_type(), u32::from(link_attention::LINK_DOWN));
    assert_eq!(h.fabric.config().host_ports[0].addr, h.addr);
}

#[test]
fn els_timeout_and_abort_with_abts() {
    let (h, mut s) = logged_in(Generation::G6);
    let p = LoginPayload::new(
        els_cmd::PLOGI,
        ServiceParams::n_port(h.addr.wwpn, h.addr.wwnn),
    );
    // Timer 5 s: local reject "sequence timeout" after 5 s.
    let mut w = els(&h, &s, 1, 31, p.as_bytes(), 0x01_0999, els_id::PLOGI);
    w.set_timer(5);
    h.post_wqe(&mut s, &w);
    h.advance(Duration::from_millis(4999));
    assert!(h.next_cqe(&mut s.cq).is_none());
    h.advance(Duration::from_millis(1));
    let c = Wcqe::read_from_bytes(&h.next_cqe(&mut s.cq).unwrap()).unwrap();
    assert_eq!(
        (c.request_tag(), c.local_reject_reason()),
        (31, local_reject::SEQUENCE_TIMEOUT)
    );

    // ABORT by XRI: the victim completes "abort requested" with XB, the
    // ABORT itself succeeds, and the XRI-aborted CQE follows (nobody answers
    // the ABTS: after 2 x R_A_TOV).
    let w = els(&h, &s, 2, 32, p.as_bytes(), 0x01_0999, els_id::PLOGI);
    let xri = w.xri_tag() as u16;
    h.post_wqe(&mut s, &w);
    let a = Abort {
        criteria: 1,
        tag: xri.into(),
        request_tag: 33,
        local_only: false,
        no_retry: true,
    }
    .build();
    h.post_wqe(&mut s, &a);
    let v = wcqe(&h, &mut s);
    assert_eq!(
        (v.request_tag(), v.local_reject_reason()),
        (32, local_reject::ABORT_REQUESTED)
    );
    assert!(v.xb());
    let ab = wcqe(&h, &mut s);
    assert_eq!((ab.request_tag(), ab.status()), (33, 0));
    // The XRI is busy until the XRI-aborted CQE.
    h.post_wqe(&mut s, &w);
    assert_eq!(wcqe(&h, &mut s).local_reject_reason(), local_reject::NO_XRI);
    h.advance(Duration::from_secs(20));
    let x = XriAbortedCqe::read_from_bytes(&h.next_cqe(&mut s.cq).unwrap()).unwrap();
    assert_eq!(
        (x.code(), x.xri()),
        (u32::from(cqe_code::XRI_ABORTED), xri.into())
    );
    // No match.
    h.post_wqe(&mut s, &a);
    assert_eq!(
        wcqe(&h, &mut s).local_reject_reason(),
        local_reject::NO_ABORT_MATCH
    );
}

#[test]
fn firmware_error_with_rn_then_port_reset_starts_empty() {
    let (h, mut s) = logged_in(Generation::G7);
    h.faults
        .firmware_error(FirmwareError::restart(Duration::from_millis(50)));
    let st = status(&h);
    assert!(st.err() && st.rn() && !st.rdy());
    assert_eq!((h.reg(SLIPORT_ERROR1), h.reg(SLIPORT_ERROR2)), (2, 0));
    // Nothing completes while in error.
    let nop = SliConfig::embedded(subsystem::COMMON, common_op::NOP, 0, &[], 0).unwrap();
    h.post_mqe(&mut s, &nop);
    assert!(h.next_cqe(&mut s.mq_cq).is_none());
    h.advance(Duration::from_millis(50));
    let st = status(&h);
    assert!(
        st.err() && st.rn() && st.rdy(),
        "ERR+RN+RDY: the host may reset"
    );
    h.set_reg(SLIPORT_CONTROL, Control::INIT_PORT.0);
    let st = status(&h);
    assert!(st.rdy() && !st.err());
    // Queues are gone: destroying the old MQ fails.
    let (hdr, _, _) = h.cfg(&DestroyQueue::mqe(DestroyKind::Mq, s.mq));
    assert_eq!(hdr.status(), u32::from(cfg_status::FAILED));
    // The port left its F_Port: it can be attached again.
    assert!(h.fabric.attach(h.addr.wwpn).is_ok());

    let h = Harness::new(Generation::G6);
    h.faults.firmware_error(FirmwareError::fatal());
    h.advance(Duration::from_secs(10));
    assert!(status(&h).is_unrecoverable());
    // PHYSDEV_CONTROL.FRST: firmware reset, ERR+RN with 2/0, RDY later.
    let h = Harness::new(Generation::G6);
    h.set_reg(PHYSDEV_CONTROL, 0x2);
    assert!(status(&h).is_recoverable_error());
    h.advance(Duration::from_millis(100));
    assert!(status(&h).rdy());
}

#[test]
fn hung_and_slow_mailbox() {
    let h = Harness::new(Generation::G6);
    h.faults.slow_mailbox(Some(Duration::from_millis(30)));
    assert!(h.try_bmbx(&ReadConfig::new().to_mqe()).is_none());
    h.advance(Duration::from_millis(29));
    assert_eq!(h.reg(ufc_hba::sli4::regs::BMBX) & 1, 0);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.reg(ufc_hba::sli4::regs::BMBX) & 1, 1);
    let (rsp, mcqe) = h.bmbx_result();
    assert!(mcqe.valid() && rsp.command() == u32::from(mbx_cmd::READ_CONFIG));
    h.faults.slow_mailbox(None);
    h.faults.hang_next_mailbox();
    assert!(h.try_bmbx(&ReadConfig::new().to_mqe()).is_none());
    h.advance(Duration::from_secs(3600));
    assert_eq!(h.reg(ufc_hba::sli4::regs::BMBX) & 1, 0, "never completes");
    // A port reset clears it.
    h.set_reg(SLIPORT_CONTROL, Control::INIT_PORT.0);
    assert!(h.try_bmbx(&ReadConfig::new().to_mqe()).is_some());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Arbitrary MQEs through the BMBX and the MQ, arbitrary WQEs and
    /// doorbell values: the model never panics and stays usable.
    #[test]
    fn arbitrary_commands_never_panic(
        mqes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 256), 1..6),
        wqes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 64), 1..6),
        bells in proptest::collection::vec((0usize..5, any::<u32>()), 0..12),
        sli_config: bool,
    ) {
        let mut h = Harness::new(Generation::G7);
        let mut s = h.bring_up();
        h.link_up(&mut s);
        for m in &mqes {
            let mut mqe = Mqe::read_from_bytes(m).unwrap();
            if sli_config {
                mqe.set_command(u32::from(mbx_cmd::SLI_CONFIG));
            }
            let _ = h.try_bmbx(&mqe);
            h.post_mqe(&mut s, &mqe);
            h.dev.poll_model();
        }
        for w in &wqes {
            let wqe = Wqe::read_from_bytes(w).unwrap();
            h.post_wqe(&mut s, &wqe);
            h.dev.poll_model();
        }
        let kinds = [QueueKind::Eq, QueueKind::Cq, QueueKind::Mq, QueueKind::Wq, QueueKind::Rq];
        for (k, v) in &bells {
            h.doorbell(kinds[*k], *v);
        }
        h.advance(Duration::from_secs(30));
        // Still answering (unless a random command reset or failed the port).
        let st = status(&h);
        if st.rdy() && !st.err() && h.reg(ufc_hba::sli4::regs::BMBX) & 1 == 1 {
            let (rsp, _) = h.bmbx(&ReadConfig::new().to_mqe());
            prop_assert_eq!(rsp.status(), 0);
        }
    }
}

pub(super) const TARGET_ID: u32 = 0x01_0101;
pub(super) const TARGET_RPI: u16 = 0x30;

/// PLOGI, REG_RPI and NVMe PRLI with the default target.
pub(super) fn target_login(h: &Harness, s: &mut Setup) {
    let p = LoginPayload::new(
        els_cmd::PLOGI,
        ServiceParams::n_port(h.addr.wwpn, h.addr.wwnn),
    );
    let w = els(h, s, 4, 41, p.as_bytes(), TARGET_ID, els_id::PLOGI);
    h.post_wqe(s, &w);
    let c = wcqe(h, s);
    assert_eq!((c.request_tag(), c.status()), (41, 0));
    let (_, _, rs) = h.xri_bufs(s, 4);
    let reg = RegRpi::login(TARGET_RPI, TARGET_ID, VPI, rs + 4);
    assert_eq!(h.bmbx(&reg.to_mqe()).0.status(), 0);
    let prli = ufc_hba::fc::prli::NvmePrli::request(0x20);
    let (xri, rq, rs) = h.stage(s, 5, prli.as_bytes());
    let w = ElsRequest {
        xri,
        context: Context::rpi(TARGET_RPI),
        request_tag: 42,
        temp_rpi: TARGET_RPI,
        payload: Bde::host(rq, prli.as_bytes().len() as u32),
        max_rsp_len: 4096,
        s_id: None,
        d_id: TARGET_ID,
        els_id: els_id::OTHER,
        timer: 0,
    }
    .build();
    h.post_wqe(s, &w);
    let c = wcqe(h, s);
    assert_eq!((c.request_tag(), c.status()), (42, 0));
    let acc = ufc_hba::fc::prli::NvmePrli::parse(&h.read(rs, 24)).unwrap();
    assert!(acc.page.is_target());
}

#[test]
fn nvme_ls_through_gen_request64_with_wqe_release() {
    let (h, mut s) = logged_in(Generation::G7);
    target_login(&h, &mut s);
    let ls = ufc_transport::wire::ls_host::encode_disconnect_assoc(0x1234);
    let (xri, rq, rsp) = h.stage(&s, 6, &ls);
    let mut w = GenRequest {
        xri,
        rpi: TARGET_RPI,
        request_tag: 51,
        payload: Bde::host(rq, ls.len() as u32),
        max_rsp_len: 4096,
        r_ctl: 0x32,
        fc_type: 0x28,
        timer: 30,
    }
    .build();
    w.set_wqec(true);
    let index = s.wq_pidx;
    h.post_wqe(&mut s, &w);
    h.dev.poll_model();
    let rel = h.next_cqe(&mut s.cq).expect("WQE release CQE");
    let rel = ufc_hba::sli4::cqe::WqeReleaseCqe::read_from_bytes(&rel).unwrap();
    assert_eq!(rel.code(), u32::from(cqe_code::WQE_RELEASE));
    assert_eq!((rel.wq_id(), rel.wqe_index()), (u32::from(s.wq), index));
    let c = wcqe(&h, &mut s);
    assert_eq!((c.request_tag(), c.status()), (51, 0));
    // The target does not know association 0x1234: an LS_RJT comes back.
    let body = h.read(rsp, c.total_data_placed() as usize);
    assert_eq!(body[0], 0x01, "FC-NVMe LS_RJT");
}

#[test]
fn target_plogi_and_logo_arrive_unsolicited() {
    let (h, mut s) = logged_in(Generation::G6);
    let target = h.fabric.config().target_ports[0].addr.wwpn;
    assert!(h.fabric.target_plogi(target, h.addr.wwpn).unwrap());
    h.dev.poll_model();
    let r = Rcqe::read_from_bytes(&h.next_cqe(&mut s.cq).expect("RCQE")).unwrap();
    let idx = u64::from(r.rq_element_index());
    let hdr = h.read(s.hbuf + idx * 128, 24);
    assert_eq!(&hdr[5..8], &[0x01, 0x01, 0x01]);
    assert_eq!(h.read(s.dbuf + idx * 2048, 1)[0], els_cmd::PLOGI);
    assert_eq!(r.payload_len(), 116);
    // ACC with our service parameters: the target logs us in.
    let acc = LoginPayload::new(
        els_cmd::LS_ACC,
        ServiceParams::n_port(h.addr.wwpn, h.addr.wwnn),
    );
    let (xri, rq, _) = h.stage(&s, 7, acc.as_bytes());
    let w = ufc_hba::sli4::wqe::XmitElsRsp {
        xri,
        context: Context::vpi(VPI),
        request_tag: 61,
        ox_id: u16::from_be_bytes([hdr[16], hdr[17]]),
        temp_rpi: 0,
        payload: Bde::host(rq, 116),
        s_id: None,
        d_id: TARGET_ID,
    }
    .build();
    let before = h.fabric.stats().acc_received;
    h.post_wqe(&mut s, &w);
    assert_eq!(wcqe(&h, &mut s).status(), 0);
    assert_eq!(h.fabric.stats().acc_received, before + 1);
    // The target now logs us out.
    assert!(h.fabric.target_logo(target, h.addr.wwpn).unwrap());
    h.dev.poll_model();
    let r = Rcqe::read_from_bytes(&h.next_cqe(&mut s.cq).expect("RCQE")).unwrap();
    let idx = u64::from(r.rq_element_index());
    assert_eq!(h.read(s.dbuf + idx * 2048, 1)[0], els_cmd::LOGO);

    // XMIT_BLS_RSP goes out and completes.
    let w = ufc_hba::sli4::wqe::XmitBlsRsp {
        xri: s.xri_base + 8,
        context: Context::vpi(VPI),
        request_tag: 62,
        ox_id: 0x55,
        rx_id: 0x66,
        local_id: OUR_ID,
        remote_id: TARGET_ID,
        temp_rpi: 0,
        originator: false,
        payload: ufc_hba::sli4::wqe::BlsPayload::Acc {
            seq_id: 0,
            seq_id_valid: false,
            low_seq_cnt: 0,
            high_seq_cnt: 0xFFFF,
        },
    }
    .build();
    let sent = h.faults.stats().frames_sent;
    h.post_wqe(&mut s, &w);
    assert_eq!(wcqe(&h, &mut s).request_tag(), 62);
    assert_eq!(h.faults.stats().frames_sent, sent + 1);
}

#[test]
fn xmit_sequence_rejects_unknown_rpi_and_bad_lengths() {
    let (h, mut s) = logged_in(Generation::G6);
    let (xri, at, _) = h.stage(&s, 7, &[2, 0, 0, 0]);
    let seq = |rpi: u16, d_id: u32, bde_len: u32, len: u32, tag: u16| {
        let mut w = ufc_hba::sli4::wqe::XmitSequence {
            xri,
            rpi,
            request_tag: tag,
            ox_id: 0x10,
            d_id,
            payload: Bde::host(at, bde_len),
            r_ctl: 0x33,
            fc_type: 0x28,
            flags: ufc_hba::sli4::wqe::xmit_seq::LS,
        }
        .build();
        w.dw12.set(len);
        w
    };
    let sent = h.faults.stats().frames_sent;
    // No D_ID and an RPI nobody registered: nobody to send to.
    h.post_wqe(&mut s, &seq(0x77, 0, 4, 4, 1));
    let c = wcqe(&h, &mut s);
    assert_eq!(
        (c.request_tag(), c.status(), c.local_reject_reason()),
        (
            1,
            u32::from(wcqe_status::LOCAL_REJECT),
            local_reject::INVALID_RPI
        )
    );
    // A sequence longer than its buffer, or than a frame.
    for (tag, len) in [(2, 5), (3, 4096)] {
        h.post_wqe(&mut s, &seq(0x77, TARGET_ID, 4, len, tag));
        let c = wcqe(&h, &mut s);
        assert_eq!(
            (c.request_tag(), c.local_reject_reason()),
            (u32::from(tag), local_reject::ILLEGAL_LENGTH)
        );
    }
    assert_eq!(h.faults.stats().frames_sent, sent, "nothing left the port");
}

#[test]
fn frames_wait_for_rq_buffers() {
    let (h, mut s) = logged_in(Generation::G7);
    // Use up every posted RQ buffer with target PLOGIs, then one more waits.
    let target = h.fabric.config().target_ports[0].addr.wwpn;
    for _ in 0..super::testkit::RQ_ENTRIES + 1 {
        assert!(h.fabric.target_plogi(target, h.addr.wwpn).unwrap());
    }
    h.dev.poll_model();
    for _ in 0..super::testkit::RQ_ENTRIES {
        let r = Rcqe::read_from_bytes(&h.next_cqe(&mut s.cq).expect("RCQE")).unwrap();
        assert_eq!(r.status(), u32::from(rcqe_status::SUCCESS));
    }
    assert!(
        h.next_cqe(&mut s.cq).is_none(),
        "no buffer: the frame waits"
    );
    let post = ufc_hba::sli4::doorbell::PostDoorbell {
        id: s.hrq,
        posted: 1,
    };
    h.doorbell(QueueKind::Rq, post.encode());
    let r = Rcqe::read_from_bytes(&h.next_cqe(&mut s.cq).expect("RCQE")).unwrap();
    assert_eq!(r.rq_element_index(), 0, "the ring wrapped");
}

/// Stages an FC-NVMe exchange on XRI number `i`: CMD IU, 32-byte RSP buffer,
/// one data buffer of `data_len` bytes; the XRI and the three addresses.
pub(super) fn stage_fcp(
    h: &Harness,
    s: &Setup,
    i: u16,
    iu: &[u8],
    data_len: u32,
) -> (u16, u64, u64, u64) {
    let (xri, iu_at, data) = h.xri_bufs(s, i);
    let rsp = iu_at + 2048;
    h.write(iu_at, iu);
    let sgl = s.bufs + u64::from(i) * 3 * 4096;
    h.write(sgl, Sge::data(iu_at, iu.len() as u32, 0, false).as_bytes());
    let last = data_len == 0;
    h.write(sgl + 16, Sge::data(rsp, 32, 0, last).as_bytes());
    h.write(sgl + 32, Sge::data(data, data_len, 0, true).as_bytes());
    (xri, iu_at, rsp, data)
}

#[test]
fn nvme_connect_and_identify_through_fcp_wqes() {
    use ufc_transport::lldd::IoDir;
    use ufc_transport::wire::fabrics::ConnectData;
    use ufc_transport::wire::ls_host::{encode_create_assoc, CreateAssocAcc, CreateAssocParams};
    use ufc_transport::wire::registers::{Cc, REG_CC};
    use ufc_transport::wire::{CmdIu, ErspIu, NvmeStatus, Sqe};

    let (h, mut s) = logged_in(Generation::G7);
    target_login(&h, &mut s);
    let subnqn = h.fabric.config().target_ports[0].subsystems[0].nqn.clone();
    let hostnqn = "nqn.2014-08.org.example:sli4-host";
    let ls = encode_create_assoc(&CreateAssocParams {
        ersp_ratio: 8,
        sqsize: 31,
        hostid: [7; 16],
        hostnqn,
        subnqn: &subnqn,
    })
    .unwrap();
    let (xri, rq, rsp) = h.stage(&s, 6, &ls);
    let w = GenRequest {
        xri,
        rpi: TARGET_RPI,
        request_tag: 71,
        payload: Bde::host(rq, ls.len() as u32),
        max_rsp_len: 4096,
        r_ctl: 0x32,
        fc_type: 0x28,
        timer: 30,
    }
    .build();
    h.post_wqe(&mut s, &w);
    let c = wcqe(&h, &mut s);
    assert_eq!((c.request_tag(), c.status()), (71, 0));
    let acc = CreateAssocAcc::parse(&h.read(rsp, c.total_data_placed() as usize)).unwrap();
    let conn = acc.connection_id;

    // Connect: FCP_IWRITE64 with the 1024-byte connect data; fabrics
    // commands always get an ERSP: WCQE status 0x01, dword 2 = 32.
    let sqe = Sqe::connect(0, 31, 10_000, 0);
    let iu = CmdIu::new_admin(conn, 1, 1024, IoDir::Write, &sqe);
    let (xri, iu_at, rsp, data) = stage_fcp(&h, &s, 7, iu.as_bytes(), 1024);
    let cd = ConnectData::new([7; 16], 0xFFFF, &subnqn, hostnqn).unwrap();
    h.write(data, cd.as_bytes());
    let io = |kind, tag: u16, total: u32| {
        ufc_hba::sli4::wqe::FcpIo {
            kind,
            xri,
            rpi: TARGET_RPI,
            request_tag: tag,
            cmd_iu: Bde::host(iu_at, 96),
            payload_offset_len: 96 + 32,
            total_len: total,
            first_burst: 0,
            timer: 0,
            pbde: None,
            erp: false,
        }
        .build()
    };
    h.post_wqe(&mut s, &io(ufc_hba::sli4::wqe::FcpKind::Write, 72, 1024));
    let c = wcqe(&h, &mut s);
    assert_eq!(c.request_tag(), 72);
    assert_eq!(c.status(), u32::from(wcqe_status::FCP_RSP_FAILURE));
    assert_eq!((c.parameter(), c.total_data_placed()), (32, 1024));
    // An ERSP is a normal response, not a WQE error.
    let st = h.faults.stats();
    assert_eq!((st.ersps, st.wqe_errors), (1, 0));
    let e = ErspIu::parse(&h.read(rsp, 32)).unwrap();
    assert_eq!(e.cqe.nvme_status(), NvmeStatus::SUCCESS);

    // CC.EN through Property Set (no data: FCP_ICMND64).
    let cc = u64::from(Cc::host_default(Cc::CSS_NVM).with_en(true).0);
    let iu = CmdIu::new_admin(
        conn,
        2,
        0,
        IoDir::None,
        &Sqe::property_set(REG_CC, cc, false),
    );
    h.write(iu_at, iu.as_bytes());
    h.post_wqe(&mut s, &io(ufc_hba::sli4::wqe::FcpKind::Cmnd, 73, 0));
    let c = wcqe(&h, &mut s);
    assert_eq!(c.request_tag(), 73);
    assert_eq!(
        ErspIu::parse(&h.read(rsp, 32)).unwrap().cqe.nvme_status(),
        NvmeStatus::SUCCESS
    );

    // Identify Controller: 4096 bytes read into the data buffer.
    let iu = CmdIu::new_admin(conn, 3, 4096, IoDir::Read, &Sqe::identify(1, 0));
    h.write(iu_at, iu.as_bytes());
    let sgl = s.bufs + 7 * 3 * 4096;
    h.write(sgl + 32, Sge::data(data, 4096, 0, true).as_bytes());
    h.post_wqe(&mut s, &io(ufc_hba::sli4::wqe::FcpKind::Read, 74, 4096));
    let c = wcqe(&h, &mut s);
    assert_eq!(c.request_tag(), 74);
    assert_eq!(
        c.status(),
        u32::from(wcqe_status::SUCCESS),
        "zero response: {c:?}"
    );
    assert_eq!(c.total_data_placed(), 4096);
    // SUBNQN at byte 768 of the controller data.
    let id = h.read(data + 768, subnqn.len());
    assert_eq!(id, subnqn.as_bytes());

    // An Async Event Request is held by the target; ABORT sends an ABTS, the
    // victim completes "abort requested" with XB, the target's BA_ACC brings
    // the XRI-aborted CQE.
    let iu = CmdIu::new_admin(conn, 4, 0, IoDir::None, &Sqe::async_event());
    h.write(iu_at, iu.as_bytes());
    h.post_wqe(&mut s, &io(ufc_hba::sli4::wqe::FcpKind::Cmnd, 76, 0));
    h.dev.poll_model();
    assert!(h.next_cqe(&mut s.cq).is_none(), "AER held");
    let a = Abort {
        criteria: 3,
        tag: 76,
        request_tag: 77,
        local_only: false,
        no_retry: true,
    }
    .build();
    h.post_wqe(&mut s, &a);
    let v = wcqe(&h, &mut s);
    assert_eq!(
        (v.request_tag(), v.local_reject_reason()),
        (76, local_reject::ABORT_REQUESTED)
    );
    assert!(v.xb());
    assert_eq!(wcqe(&h, &mut s).request_tag(), 77);
    let x = XriAbortedCqe::read_from_bytes(&h.next_cqe(&mut s.cq).expect("XRI aborted")).unwrap();
    assert_eq!(x.xri(), u32::from(xri));
    assert!(!x.br(), "BA_ACC, not BA_RJT");

    // A CMD IU for a connection the target does not know: ABTS, remote stop.
    let iu = CmdIu::new_admin(0xdead, 5, 0, IoDir::None, &Sqe::identify(1, 0));
    h.write(iu_at, iu.as_bytes());
    h.post_wqe(&mut s, &io(ufc_hba::sli4::wqe::FcpKind::Cmnd, 75, 0));
    assert_eq!(
        wcqe(&h, &mut s).status(),
        u32::from(wcqe_status::REMOTE_STOP)
    );

    // The target disconnects the association: its LS arrives unsolicited
    // through the RQ pair (R_CTL 0x32, TYPE 0x28) and XMIT_SEQUENCE64 carries
    // the LS_ACC back on the same exchange.
    let tport = h
        .fabric
        .target_port(h.fabric.config().target_ports[0].addr.wwpn)
        .unwrap();
    assert!(tport.disconnect_association(acc.association_id));
    h.fabric.poll();
    h.dev.poll_model();
    let r = Rcqe::read_from_bytes(&h.next_cqe(&mut s.cq).expect("RCQE")).unwrap();
    let idx = u64::from(r.rq_element_index());
    let hdr = h.read(s.hbuf + idx * 128, 24);
    assert_eq!((hdr[0], hdr[8]), (0x32, 0x28), "R_CTL, TYPE");
    let ls = h.read(s.dbuf + idx * 2048, r.payload_len() as usize);
    assert_eq!(ls[0], 0x05, "Disconnect Association");
    let ox_id = u16::from_be_bytes([hdr[16], hdr[17]]);
    let rsp = ufc_transport::wire::ls::encode_disconnect_assoc_acc();
    let (xri, at, _) = h.stage(&s, 8, &rsp);
    let w = ufc_hba::sli4::wqe::XmitSequence {
        xri,
        rpi: TARGET_RPI,
        request_tag: 78,
        ox_id,
        d_id: 0,
        payload: Bde::host(at, rsp.len() as u32),
        r_ctl: 0x33,
        fc_type: 0x28,
        flags: ufc_hba::sli4::wqe::xmit_seq::LS,
    }
    .build();
    h.post_wqe(&mut s, &w);
    let c = wcqe(&h, &mut s);
    assert_eq!((c.request_tag(), c.status()), (78, 0));
    let got = tport.ls_responses();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1, rsp);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// WQEs with a real command, an XRI in range and random everything else,
    /// on a logged-in port: every one completes or stays open, nothing panics.
    #[test]
    fn structured_wqes_never_panic(
        wqes in proptest::collection::vec(
            (0usize..9, 0u16..12, proptest::collection::vec(any::<u32>(), 16)),
            1..8,
        ),
    ) {
        let (h, mut s) = logged_in(Generation::G6);
        let cmds = [0x8A_u32, 0xC2, 0x95, 0x97, 0x0F, 0x98, 0x9A, 0x9C, 0x82];
        for (c, xri, dws) in &wqes {
            let mut w = Wqe::default();
            for (i, d) in dws.iter().enumerate() {
                w.as_mut_bytes()[i * 4..i * 4 + 4].copy_from_slice(&d.to_le_bytes());
            }
            w.set_command(cmds[*c]);
            w.set_xri_tag(u32::from(s.xri_base + xri));
            w.set_cq_id(0xFFFF);
            h.post_wqe(&mut s, &w);
            h.dev.poll_model();
            while h.next_cqe(&mut s.cq).is_some() {}
        }
        h.advance(Duration::from_secs(300));
        while h.next_cqe(&mut s.cq).is_some() {}
        prop_assert!(status(&h).rdy());
        prop_assert_eq!(h.bmbx(&ReadConfig::new().to_mqe()).0.status(), 0);
    }

    /// Embedded SLI_CONFIG commands of the inventory with random payloads.
    #[test]
    fn structured_sli_config_never_panics(
        op in 0usize..12,
        version in 0u8..4,
        payload in proptest::collection::vec(any::<u8>(), 0..216),
        room in 0u32..300,
    ) {
        let h = Harness::new(Generation::G7);
        let ops = [
            (subsystem::COMMON, common_op::CREATE_EQ),
            (subsystem::COMMON, common_op::CREATE_CQ),
            (subsystem::COMMON, common_op::CREATE_MQ_EXT),
            (subsystem::COMMON, common_op::DESTROY_EQ),
            (subsystem::COMMON, common_op::GET_SLI4_PARAMETERS),
            (subsystem::FC, ufc_hba::sli4::sli_config::fc_op::WQ_CREATE),
            (subsystem::FC, ufc_hba::sli4::sli_config::fc_op::RQ_CREATE),
            (subsystem::FC, ufc_hba::sli4::sli_config::fc_op::POST_SGL_PAGES),
            (subsystem::FC, ufc_hba::sli4::sli_config::fc_op::RQ_DESTROY),
            (subsystem::COMMON, common_op::NOP),
            (subsystem::DMTF, 0x01),
            (subsystem::FC, 0x77),
        ];
        let (sub, o) = ops[op];
        let mut m = SliConfig::embedded(sub, o, version, &payload, 0).unwrap();
        let mut c = SliConfig::from_mqe(&m);
        c.payload_length.set(room);
        m = c.to_mqe();
        let (rsp, mcqe) = h.bmbx(&m);
        prop_assert!(mcqe.valid());
        prop_assert_eq!(rsp.status(), mcqe.completion_status());
    }
}

#[test]
fn constructor_refuses_bad_configs_and_presents_overrides() {
    use crate::clock::Clock;
    use crate::fabric::{Fabric, FabricConfig};
    let (clock, _hand) = Clock::manual();
    let fabric = Fabric::new(FabricConfig::default(), clock.clone()).unwrap();
    let host = fabric.config().host_ports[0].addr;
    let target = fabric.config().target_ports[0].addr;
    let mut cfg = super::Sli4Config::new(Generation::G6, host);
    cfg.firmware_rev = "a firmware name longer than sixteen".into();
    assert!(super::Sli4Model::new(cfg, fabric.clone(), clock.clone()).is_err());
    let cfg = super::Sli4Config::new(Generation::G6, target);
    assert!(super::Sli4Model::new(cfg, fabric.clone(), clock.clone()).is_err());
    // A WWPN the fabric does not know gets its own F_Port.
    let other = ufc_transport::wwn::FcAddr {
        wwnn: ufc_transport::wwn::Wwn(0x2000_0000_c9aa_bbcc),
        wwpn: ufc_transport::wwn::Wwn(0x1000_0000_c9aa_bbcc),
    };
    let mut cfg = super::Sli4Config::new(Generation::G6, other);
    cfg.device_id = 0x1234;
    cfg.sli_intf = 0;
    let dev =
        ufc_vfio::Device::from_model(super::Sli4Model::new(cfg, fabric.clone(), clock).unwrap());
    assert_eq!(dev.config_read16(2).unwrap(), 0x1234);
    assert_eq!(dev.config_read32(0x58).unwrap(), 0);
    // if_type 2 also maps SLI_INTF at BAR0+0x58.
    assert_eq!(dev.bar(0).unwrap().read32(0x58).unwrap(), 0);
    assert!(dev.bar(2).is_err(), "no BAR2 on if_type 2");
    assert!(fabric.attach(other.wwpn).is_ok());
}

#[test]
fn slow_and_hung_mailbox_on_the_mq() {
    let mut h = Harness::new(Generation::G6);
    let mut s = h.bring_up();
    let nop = SliConfig::embedded(subsystem::COMMON, common_op::NOP, 0, &[], 0).unwrap();
    h.faults.slow_mailbox(Some(Duration::from_millis(10)));
    h.post_mqe(&mut s, &nop);
    h.post_mqe(&mut s, &nop);
    assert!(h.next_cqe(&mut s.mq_cq).is_none());
    h.advance(Duration::from_millis(10));
    assert!(h.next_cqe(&mut s.mq_cq).is_some(), "first after the delay");
    assert!(
        h.next_cqe(&mut s.mq_cq).is_none(),
        "second waits its own delay"
    );
    h.advance(Duration::from_millis(10));
    assert!(h.next_cqe(&mut s.mq_cq).is_some());
    h.faults.slow_mailbox(None);
    h.faults.hang_next_mailbox();
    h.post_mqe(&mut s, &nop);
    h.post_mqe(&mut s, &nop);
    h.advance(Duration::from_secs(3600));
    assert!(
        h.next_cqe(&mut s.mq_cq).is_none(),
        "hung, and the next waits behind it"
    );
    assert_eq!(h.faults.stats().mailbox_commands, 2 + 9);
}
