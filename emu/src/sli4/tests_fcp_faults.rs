//! Tests of the I/O faults (issue 5): dropped FCP commands, target-initiated
//! ABTS answered with XMIT_BLS_RSP, hostile completions; and the FCP path
//! with the model on its own thread.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use zerocopy::{FromBytes, IntoBytes};

use ufc_hba::fc::header::{f_ctl, FcHeader};
use ufc_hba::sli4::cqe::{
    cqe_code, local_reject, rcqe_status, wcqe_status, Cqe, Rcqe, Wcqe, XriAbortedCqe,
};
use ufc_hba::sli4::sge::Bde;
use ufc_hba::sli4::wqe::{Abort, BlsPayload, Context, FcpIo, FcpKind, GenRequest, Wqe, XmitBlsRsp};
use ufc_transport::lldd::IoDir;
use ufc_transport::wire::fabrics::ConnectData;
use ufc_transport::wire::ls_host::{encode_create_assoc, CreateAssocAcc, CreateAssocParams};
use ufc_transport::wire::registers::{Cc, REG_CC};
use ufc_transport::wire::{CmdIu, ErspIu, NvmeStatus, Sqe};
use ufc_vfio::ModelRunner;

use super::testkit::{Harness, Setup, TestCq};
use super::tests::{logged_in, stage_fcp, target_login, wcqe, OUR_ID, TARGET_ID, TARGET_RPI, VPI};
use super::{Generation, HostileConfig, HostileKind, ResourceConfig};

const HOSTNQN: &str = "nqn.2014-08.org.example:sli4-faults";

/// An association with the default target's first subsystem; its admin
/// connection id and the subsystem NQN.
fn associate(h: &Harness, s: &mut Setup, wait: impl Fn(&Harness, &mut Setup) -> Wcqe) -> u64 {
    let subnqn = h.fabric.config().target_ports[0].subsystems[0].nqn.clone();
    let ls = encode_create_assoc(&CreateAssocParams {
        ersp_ratio: 8,
        sqsize: 31,
        hostid: [7; 16],
        hostnqn: HOSTNQN,
        subnqn: &subnqn,
    })
    .unwrap();
    let (xri, rq, rsp) = h.stage(s, 6, &ls);
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
    h.post_wqe(s, &w);
    let c = wait(h, s);
    assert_eq!((c.request_tag(), c.status()), (71, 0));
    CreateAssocAcc::parse(&h.read(rsp, c.total_data_placed() as usize))
        .unwrap()
        .connection_id
}

/// XRI slot used for the FCP exchanges of these tests.
const IO_SLOT: u16 = 7;

/// The FCP WQE of a staged exchange on slot [`IO_SLOT`].
fn fcp(h: &Harness, s: &Setup, kind: FcpKind, tag: u16, total: u32) -> Wqe {
    fcp_on(h, s, IO_SLOT, kind, tag, total)
}

/// The FCP WQE of a staged exchange on XRI slot `slot`.
fn fcp_on(h: &Harness, s: &Setup, slot: u16, kind: FcpKind, tag: u16, total: u32) -> Wqe {
    let (xri, iu_at, _) = h.xri_bufs(s, slot);
    FcpIo {
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
}

/// Stages the Fabrics Connect of the admin queue on [`IO_SLOT`]; its WQE.
fn stage_connect(h: &Harness, s: &Setup, conn: u64, tag: u16) -> Wqe {
    let subnqn = h.fabric.config().target_ports[0].subsystems[0].nqn.clone();
    let iu = CmdIu::new_admin(conn, 1, 1024, IoDir::Write, &Sqe::connect(0, 31, 10_000, 0));
    let (_, _, _, data) = stage_fcp(h, s, IO_SLOT, iu.as_bytes(), 1024);
    let cd = ConnectData::new([7; 16], 0xFFFF, &subnqn, HOSTNQN).unwrap();
    h.write(data, cd.as_bytes());
    fcp(h, s, FcpKind::Write, tag, 1024)
}

/// Connect and CC.EN: a controller that answers Identify.
fn enable(h: &Harness, s: &mut Setup, conn: u64) {
    let w = stage_connect(h, s, conn, 72);
    h.post_wqe(s, &w);
    let c = wcqe(h, s);
    assert_eq!(
        (c.request_tag(), c.status()),
        (72, u32::from(wcqe_status::FCP_RSP_FAILURE))
    );
    let cc = u64::from(Cc::host_default(Cc::CSS_NVM).with_en(true).0);
    let iu = CmdIu::new_admin(
        conn,
        2,
        0,
        IoDir::None,
        &Sqe::property_set(REG_CC, cc, false),
    );
    stage_fcp(h, s, IO_SLOT, iu.as_bytes(), 0);
    let w = fcp(h, s, FcpKind::Cmnd, 73, 0);
    h.post_wqe(s, &w);
    assert_eq!(wcqe(h, s).request_tag(), 73);
}

/// Stages Identify Controller (4096 bytes) with command id `cid`; the WQE
/// and the data buffer.
fn stage_identify(h: &Harness, s: &Setup, conn: u64, cid: u32, tag: u16) -> (Wqe, u64) {
    stage_identify_on(h, s, IO_SLOT, conn, cid, tag)
}

/// [`stage_identify`] on XRI slot `slot`.
fn stage_identify_on(
    h: &Harness,
    s: &Setup,
    slot: u16,
    conn: u64,
    cid: u32,
    tag: u16,
) -> (Wqe, u64) {
    let iu = CmdIu::new_admin(conn, cid, 4096, IoDir::Read, &Sqe::identify(1, 0));
    let (_, _, _, data) = stage_fcp(h, s, slot, iu.as_bytes(), 4096);
    h.write(data, &[0u8; 4096]);
    (fcp_on(h, s, slot, FcpKind::Read, tag, 4096), data)
}

/// A logged-in G7 port with an association; its admin connection id.
fn ready() -> (Harness, Setup, u64) {
    let (h, mut s) = logged_in(Generation::G7);
    target_login(&h, &mut s);
    let conn = associate(&h, &mut s, wcqe);
    (h, s, conn)
}

fn abort_xri(xri: u16, tag: u16) -> Wqe {
    Abort {
        criteria: 1,
        tag: xri.into(),
        request_tag: tag,
        local_only: false,
        no_retry: true,
    }
    .build()
}

fn bls_rsp(s: &Setup, ox_id: u16, rx_id: u16, tag: u16, payload: BlsPayload) -> Wqe {
    XmitBlsRsp {
        xri: s.xri_base + 9,
        context: Context::vpi(VPI),
        request_tag: tag,
        ox_id,
        rx_id,
        local_id: OUR_ID,
        remote_id: TARGET_ID,
        temp_rpi: 0,
        originator: true,
        payload,
    }
    .build()
}

const BA_ACC: BlsPayload = BlsPayload::Acc {
    seq_id: 0,
    seq_id_valid: false,
    low_seq_cnt: 0,
    high_seq_cnt: 0xFFFF,
};

/// Every CQE now on the test CQ.
fn drain(h: &Harness, cq: &mut TestCq) -> Vec<Cqe> {
    h.dev.poll_model();
    std::iter::from_fn(|| h.next_cqe(cq))
        .map(|e| Cqe::read_from_bytes(&e).unwrap())
        .collect()
}

fn as_wcqe(c: &Cqe) -> Wcqe {
    Wcqe::read_from_bytes(c.as_bytes()).unwrap()
}

/// `got` is what an ABORT (tag `abort`) of the exchange `victim` on `xri` in
/// flight brings: the victim "abort requested" with XB, the ABORT's own
/// success, then the XRI-aborted CQE after the target's BA_ACC.
fn assert_aborted_with_abts(got: &[Cqe], victim: u32, abort: u32, xri: u16) {
    assert_eq!(got.len(), 3, "victim, abort, XRI aborted: {got:?}");
    let v = as_wcqe(&got[0]);
    assert_eq!(
        (v.request_tag(), v.status(), v.local_reject_reason(), v.xb()),
        (
            victim,
            u32::from(wcqe_status::LOCAL_REJECT),
            local_reject::ABORT_REQUESTED,
            true
        )
    );
    assert_eq!(
        (as_wcqe(&got[1]).request_tag(), as_wcqe(&got[1]).status()),
        (abort, 0)
    );
    let x = XriAbortedCqe::read_from_bytes(got[2].as_bytes()).unwrap();
    assert_eq!(
        (x.code(), x.xri(), x.br()),
        (u32::from(cqe_code::XRI_ABORTED), u32::from(xri), false)
    );
}

#[test]
fn dropped_fcp_command_waits_for_abort_then_retry_succeeds() {
    let (h, mut s, conn) = ready();
    h.faults.drop_next_fcp(1);
    let w = stage_connect(&h, &s, conn, 72);
    h.post_wqe(&mut s, &w);
    h.advance(Duration::from_secs(120));
    assert!(drain(&h, &mut s.cq).is_empty(), "no data, no RSP, no WCQE");
    assert_eq!(h.faults.stats().fcp_dropped, 1);
    // ABORT by XRI: the victim completes "abort requested" with XB, the ABTS
    // goes to the target and its BA_ACC brings the XRI-aborted CQE.
    let xri = h.xri_bufs(&s, IO_SLOT).0;
    h.post_wqe(&mut s, &abort_xri(xri, 90));
    assert_aborted_with_abts(&drain(&h, &mut s.cq), 72, 90, xri);
    // The retry reaches the target: the Connect's ERSP.
    let w = stage_connect(&h, &s, conn, 74);
    h.post_wqe(&mut s, &w);
    let c = wcqe(&h, &mut s);
    assert_eq!((c.request_tag(), c.status(), c.parameter()), (74, 1, 32));
    let (_, iu_at, _) = h.xri_bufs(&s, IO_SLOT);
    let e = ErspIu::parse(&h.read(iu_at + 2048, 32)).unwrap();
    assert_eq!(e.cqe.nvme_status(), NvmeStatus::SUCCESS);
    assert_eq!(h.faults.stats().fcp_dropped, 1, "only the armed one");
}

/// The ABTS frame the target sent; its header.
fn abts_header(h: &Harness, s: &mut Setup) -> FcHeader {
    h.dev.poll_model();
    let r = Rcqe::read_from_bytes(&h.next_cqe(&mut s.cq).expect("RCQE of the ABTS")).unwrap();
    assert_eq!(r.status(), u32::from(rcqe_status::SUCCESS));
    assert_eq!(r.payload_len(), 0);
    let idx = u64::from(r.rq_element_index());
    FcHeader::parse(&h.read(s.hbuf + idx * 128, 24)).unwrap()
}

#[test]
fn target_abts_answered_with_ba_acc_ends_the_exchange_without_xb() {
    let (h, mut s, conn) = ready();
    h.faults.target_abts_next_fcp(1);
    let w = stage_connect(&h, &s, conn, 72);
    h.post_wqe(&mut s, &w);
    let hdr = abts_header(&h, &mut s);
    let xri = h.xri_bufs(&s, IO_SLOT).0;
    assert_eq!((hdr.r_ctl, hdr.fc_type), (0x81, 0x00), "BA_ABTS, BLS");
    assert_ne!(
        hdr.f_ctl() & f_ctl::EXCH_RESPONDER,
        0,
        "from the exchange responder"
    );
    assert_eq!((hdr.s_id(), hdr.d_id()), (TARGET_ID, OUR_ID));
    assert_eq!(hdr.ox_id.get(), xri);
    let rx_id = hdr.rx_id.get();
    assert_ne!(rx_id, 0xFFFF);
    assert_eq!(h.faults.stats().abts_sent, 1);
    assert!(
        drain(&h, &mut s.cq).is_empty(),
        "the command waits for the answer"
    );

    // A BA_ACC naming another RX_ID answers nothing: it goes on the wire.
    let sent = h.faults.stats().frames_sent;
    let w = bls_rsp(&s, xri, rx_id ^ 1, 80, BA_ACC);
    h.post_wqe(&mut s, &w);
    let got = drain(&h, &mut s.cq);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(as_wcqe(&got[0]).request_tag(), 80);
    assert_eq!(h.faults.stats().frames_sent, sent + 1);
    assert_eq!(h.faults.stats().bls_responses, 0);

    // The right one: the victim completes "remote stop" without XB, and no
    // XRI-aborted CQE follows.
    let w = bls_rsp(&s, xri, rx_id, 81, BA_ACC);
    h.post_wqe(&mut s, &w);
    let got = drain(&h, &mut s.cq);
    assert_eq!(got.len(), 2, "{got:?}");
    let v = as_wcqe(&got[0]);
    assert_eq!(
        (v.request_tag(), v.status(), v.xb()),
        (72, u32::from(wcqe_status::REMOTE_STOP), false)
    );
    assert_eq!(
        (as_wcqe(&got[1]).request_tag(), as_wcqe(&got[1]).status()),
        (81, 0)
    );
    let st = h.faults.stats();
    assert_eq!((st.abts_sent, st.bls_responses, st.ba_rjts), (1, 1, 0));
    assert_eq!(
        st.frames_sent,
        sent + 1,
        "the BA_ACC went to the target, not the wire"
    );
    // The XRI is free again: the retry completes.
    let w = stage_connect(&h, &s, conn, 74);
    h.post_wqe(&mut s, &w);
    assert_eq!(wcqe(&h, &mut s).request_tag(), 74);
}

#[test]
fn target_abts_rejected_or_expired_leaves_the_command_to_the_driver_abort() {
    let (h, mut s, conn) = ready();
    let xri = h.xri_bufs(&s, IO_SLOT).0;
    h.faults.target_abts_next_fcp(2);
    // BA_RJT: counted; the command stays pending until ABORT.
    let w = stage_connect(&h, &s, conn, 72);
    h.post_wqe(&mut s, &w);
    let rx_id = abts_header(&h, &mut s).rx_id.get();
    let rjt = BlsPayload::Rjt {
        reason: 0x03,
        explanation: 0x03,
        vendor: 0,
    };
    let w = bls_rsp(&s, xri, rx_id, 80, rjt);
    h.post_wqe(&mut s, &w);
    let got = drain(&h, &mut s.cq);
    assert_eq!(got.len(), 1, "only the BLS WQE completes: {got:?}");
    let st = h.faults.stats();
    assert_eq!((st.bls_responses, st.ba_rjts), (1, 1));
    h.post_wqe(&mut s, &abort_xri(xri, 90));
    let got = drain(&h, &mut s.cq);
    assert_eq!(got.len(), 3, "victim, abort, XRI aborted: {got:?}");
    assert_eq!(as_wcqe(&got[0]).request_tag(), 72);
    assert_eq!(got[2].code(), cqe_code::XRI_ABORTED);

    // No answer within 2 x R_A_TOV: the ABTS expires, a late BA_ACC matches
    // nothing, the command still waits for ABORT.
    let w = stage_connect(&h, &s, conn, 73);
    h.post_wqe(&mut s, &w);
    let rx_id = abts_header(&h, &mut s).rx_id.get();
    h.advance(2 * h.fabric.config().r_a_tov + Duration::from_secs(1));
    let w = bls_rsp(&s, xri, rx_id, 81, BA_ACC);
    h.post_wqe(&mut s, &w);
    let got = drain(&h, &mut s.cq);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(as_wcqe(&got[0]).request_tag(), 81);
    assert_eq!(
        h.faults.stats().bls_responses,
        1,
        "the late answer is not counted"
    );
    h.post_wqe(&mut s, &abort_xri(xri, 91));
    let got = drain(&h, &mut s.cq);
    assert_eq!(as_wcqe(&got[0]).request_tag(), 73);
    assert_eq!(h.faults.stats().abts_sent, 2);
}

/// One Identify under hostile mode `kind` (every completion corrupted);
/// what the CQ got, the data buffer and the RSP buffer.
fn hostile_identify(
    h: &Harness,
    s: &mut Setup,
    conn: u64,
    kind: HostileKind,
    cid: u32,
) -> (Vec<Cqe>, u64, u64) {
    h.faults.hostile(HostileConfig {
        admin: true,
        ..HostileConfig::only(kind, 1, u64::from(cid))
    });
    let (w, data) = stage_identify(h, s, conn, cid, 100 + cid as u16);
    h.post_wqe(s, &w);
    let got = drain(h, &mut s.cq);
    h.faults.hostile_off();
    let rsp = h.xri_bufs(s, IO_SLOT).1 + 2048;
    (got, data, rsp)
}

#[test]
fn hostile_kinds_write_what_they_document() {
    let (h, mut s, conn) = ready();
    enable(&h, &mut s, conn);
    let subnqn = h.fabric.config().target_ports[0].subsystems[0].nqn.clone();
    let xris = ResourceConfig::default().xri;
    let mut cid = 10;
    for kind in HostileKind::ALL {
        cid += 1;
        let tag = 100 + cid as u16;
        let (got, data, rsp) = hostile_identify(&h, &mut s, conn, kind, cid);
        let extra = usize::from(matches!(kind, HostileKind::BadXri));
        assert_eq!(got.len(), 1 + extra, "{kind:?}: {got:?}");
        let last = as_wcqe(&got[extra]);
        match kind {
            HostileKind::BadRequestTag => {
                assert!(last.request_tag() >= 0x8000 && last.request_tag() != 0xFFFF);
            }
            HostileKind::BadXri => {
                let x = XriAbortedCqe::read_from_bytes(got[0].as_bytes()).unwrap();
                assert_eq!(x.code(), u32::from(cqe_code::XRI_ABORTED));
                let end = u32::from(xris.base) + u32::from(xris.count);
                assert!(x.xri() >= end || x.xri() < u32::from(xris.base), "{x:?}");
                assert_eq!(last.request_tag(), u32::from(tag), "the real one follows");
            }
            HostileKind::BadLength => {
                assert_eq!(last.request_tag(), u32::from(tag));
                assert!(last.total_data_placed() > 4096);
                // The data itself is right.
                assert_eq!(h.read(data + 768, subnqn.len()), subnqn.as_bytes());
            }
            HostileKind::UnknownCode => {
                assert!([0x03, 0x0E, 0x1F, 0x3F, 0x7F].contains(&got[0].code()));
            }
            HostileKind::BadEqCqId => {
                assert_eq!(last.request_tag(), u32::from(tag), "the real one is kept");
                // One EQE names a CQ id no queue has.
                let bogus: Vec<u32> = (0..1024u64)
                    .map(|i| {
                        let mut e = [0u8; 4];
                        e.copy_from_slice(&h.read(s.eq_iova + 4 * i, 4));
                        u32::from_le_bytes(e)
                    })
                    .filter(|e| e & 1 == 1 && e >> 16 >= 0x8000)
                    .collect();
                assert_eq!(bogus.len(), 1, "{bogus:x?}");
            }
            HostileKind::TruncatedErsp => {
                assert_eq!(last.status(), u32::from(wcqe_status::FCP_RSP_FAILURE));
                assert!((1..32).contains(&last.parameter()));
            }
            HostileKind::GarbageErsp => {
                assert_eq!((last.status(), last.parameter()), (1, 32));
                let b = h.read(rsp, 32);
                assert!(ErspIu::parse(&b).is_err(), "garbage never parses: {b:?}");
            }
        }
    }
    assert_eq!(h.faults.stats().hostile_cqes, HostileKind::ALL.len() as u64);
    // Without `admin`, admin queue completions are left alone.
    h.faults
        .hostile(HostileConfig::only(HostileKind::BadRequestTag, 1, 3));
    let (w, _) = stage_identify(&h, &s, conn, 39, 139);
    h.post_wqe(&mut s, &w);
    assert_eq!(wcqe(&h, &mut s).request_tag(), 139);
    h.faults.hostile_off();
    // Off: a clean completion.
    let (w, data) = stage_identify(&h, &s, conn, 40, 140);
    h.post_wqe(&mut s, &w);
    let c = wcqe(&h, &mut s);
    assert_eq!((c.request_tag(), c.total_data_placed()), (140, 4096));
    assert_eq!(
        c.status(),
        u32::from(wcqe_status::SUCCESS),
        "zero response: {c:?}"
    );
    assert_eq!(h.read(data + 768, subnqn.len()), subnqn.as_bytes());
    assert_eq!(h.faults.stats().hostile_cqes, HostileKind::ALL.len() as u64);
}

#[test]
fn hostile_mix_is_deterministic_per_seed() {
    let run = || {
        let (h, mut s, conn) = ready();
        enable(&h, &mut s, conn);
        h.faults.hostile(HostileConfig {
            admin: true,
            ..HostileConfig::mix(2, 99)
        });
        let mut seen = Vec::new();
        for cid in 0..24u32 {
            let (w, _) = stage_identify(&h, &s, conn, 20 + cid, 200 + cid as u16);
            h.post_wqe(&mut s, &w);
            seen.extend(drain(&h, &mut s.cq));
        }
        (seen, h.faults.stats().hostile_cqes)
    };
    let (a, n) = run();
    assert_eq!(n, 12, "one in two of 24");
    assert_eq!(a, run().0, "same seed, same entries");
}

/// Waits (bounded, in real time) for the model thread to write a CQE.
fn wait_cqe(h: &Harness, cq: &mut TestCq) -> [u8; 16] {
    let start = Instant::now();
    loop {
        if let Some(e) = h.next_cqe(cq) {
            return e;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the model thread wrote no CQE"
        );
        std::thread::yield_now();
    }
}

fn wait_wcqe(h: &Harness, s: &mut Setup) -> Wcqe {
    Wcqe::read_from_bytes(&wait_cqe(h, &mut s.cq)).unwrap()
}

/// The FCP path with the model on its own thread: the test only writes WQEs
/// and doorbells and reads CQEs; the runner moves the data.
#[test]
fn fcp_io_and_faults_with_the_model_on_its_own_thread() {
    let (h, mut s) = logged_in(Generation::G6);
    target_login(&h, &mut s);
    let runner = ModelRunner::spawn(&h.dev, None).unwrap();
    let conn = associate(&h, &mut s, wait_wcqe);
    let w = stage_connect(&h, &s, conn, 72);
    h.post_wqe(&mut s, &w);
    let c = wait_wcqe(&h, &mut s);
    assert_eq!((c.request_tag(), c.status(), c.parameter()), (72, 1, 32));
    let cc = u64::from(Cc::host_default(Cc::CSS_NVM).with_en(true).0);
    let iu = CmdIu::new_admin(
        conn,
        2,
        0,
        IoDir::None,
        &Sqe::property_set(REG_CC, cc, false),
    );
    stage_fcp(&h, &s, IO_SLOT, iu.as_bytes(), 0);
    let w = fcp(&h, &s, FcpKind::Cmnd, 73, 0);
    h.post_wqe(&mut s, &w);
    assert_eq!(wait_wcqe(&h, &mut s).request_tag(), 73);
    let subnqn = h.fabric.config().target_ports[0].subsystems[0].nqn.clone();
    for i in 0..32u32 {
        let (w, data) = stage_identify(&h, &s, conn, 3 + i, 300 + i as u16);
        h.post_wqe(&mut s, &w);
        let c = wait_wcqe(&h, &mut s);
        assert_eq!((c.request_tag(), c.total_data_placed()), (300 + i, 4096));
        assert_eq!(h.read(data + 768, subnqn.len()), subnqn.as_bytes());
    }
    // A dropped command and its abort, and a target ABTS answered BA_ACC.
    let xri = h.xri_bufs(&s, IO_SLOT).0;
    h.faults.drop_next_fcp(1);
    let (w, _) = stage_identify(&h, &s, conn, 50, 400);
    h.post_wqe(&mut s, &w);
    h.post_wqe(&mut s, &abort_xri(xri, 90));
    let v = wait_wcqe(&h, &mut s);
    assert_eq!((v.request_tag(), v.xb()), (400, true));
    assert_eq!(wait_wcqe(&h, &mut s).request_tag(), 90);
    let x = XriAbortedCqe::read_from_bytes(&wait_cqe(&h, &mut s.cq)).unwrap();
    assert_eq!(x.xri(), u32::from(xri));
    h.faults.target_abts_next_fcp(1);
    let (w, _) = stage_identify(&h, &s, conn, 51, 401);
    h.post_wqe(&mut s, &w);
    let r = Rcqe::read_from_bytes(&wait_cqe(&h, &mut s.cq)).unwrap();
    let idx = u64::from(r.rq_element_index());
    let hdr = FcHeader::parse(&h.read(s.hbuf + idx * 128, 24)).unwrap();
    assert_eq!((hdr.r_ctl, hdr.ox_id.get()), (0x81, xri));
    let w = bls_rsp(&s, xri, hdr.rx_id.get(), 81, BA_ACC);
    h.post_wqe(&mut s, &w);
    let v = wait_wcqe(&h, &mut s);
    assert_eq!((v.request_tag(), v.status(), v.xb()), (401, 2, false));
    assert_eq!(wait_wcqe(&h, &mut s).request_tag(), 81);
    runner.stop();
    let st = h.faults.stats();
    assert_eq!((st.fcp_dropped, st.abts_sent, st.bls_responses), (1, 1, 1));
    assert_eq!((st.dma_errors, st.cq_overflows), (0, 0));
}

/// Completion latency of the tests below.
const LATENCY: Duration = Duration::from_micros(200);

fn placed_ok(c: &Wcqe, tag: u16) {
    assert_eq!(c.request_tag(), u32::from(tag));
    assert!(
        c.status() == u32::from(wcqe_status::SUCCESS)
            || c.status() == u32::from(wcqe_status::FCP_RSP_FAILURE),
        "a completed exchange (zero RSP or ERSP): {c:?}"
    );
}

#[test]
fn fcp_latency_posts_the_completion_at_the_due_time_not_before() {
    let (h, mut s, conn) = ready();
    enable(&h, &mut s, conn);
    h.faults.set_fcp_latency(Some(LATENCY));
    let (w, data) = stage_identify(&h, &s, conn, 3, 75);
    h.post_wqe(&mut s, &w);
    assert!(drain(&h, &mut s.cq).is_empty(), "in flight until due");
    assert!(
        h.read(data, 4096).iter().any(|b| *b != 0),
        "the data moved when the WQE ran"
    );
    h.advance(LATENCY - Duration::from_nanos(1));
    assert!(drain(&h, &mut s.cq).is_empty(), "1 ns early");
    h.advance(Duration::from_nanos(1));
    let got = drain(&h, &mut s.cq);
    assert_eq!(got.len(), 1, "{got:?}");
    let c = as_wcqe(&got[0]);
    placed_ok(&c, 75);
    assert_eq!(c.total_data_placed(), 4096);

    // Later than due is fine too; and the XRI is free again afterwards.
    let (w, _) = stage_identify(&h, &s, conn, 4, 76);
    h.post_wqe(&mut s, &w);
    h.advance(3 * LATENCY);
    let got = drain(&h, &mut s.cq);
    assert_eq!(got.len(), 1, "{got:?}");
    placed_ok(&as_wcqe(&got[0]), 76);

    // Off again: at once.
    h.faults.set_fcp_latency(None);
    let (w, _) = stage_identify(&h, &s, conn, 5, 77);
    h.post_wqe(&mut s, &w);
    let got = drain(&h, &mut s.cq);
    assert_eq!(got.len(), 1, "{got:?}");
    placed_ok(&as_wcqe(&got[0]), 77);
    let st = h.faults.stats();
    assert_eq!(st.wqe_errors, 0);
}

#[test]
fn fcp_latency_from_the_configuration_delays_the_connect_and_its_ersp() {
    let (h, mut s) =
        super::tests::logged_in_with(Generation::G7, |c| c.fcp_latency = Some(LATENCY));
    target_login(&h, &mut s);
    let conn = associate(&h, &mut s, wcqe);
    let w = stage_connect(&h, &s, conn, 72);
    h.post_wqe(&mut s, &w);
    let (_, iu_at, _) = h.xri_bufs(&s, IO_SLOT);
    h.write(iu_at + 2048, &[0u8; 32]);
    h.advance(LATENCY / 2);
    assert!(drain(&h, &mut s.cq).is_empty());
    assert_eq!(
        h.read(iu_at + 2048, 32),
        vec![0u8; 32],
        "no ERSP before due"
    );
    h.advance(LATENCY / 2);
    let got = drain(&h, &mut s.cq);
    assert_eq!(got.len(), 1, "{got:?}");
    let c = as_wcqe(&got[0]);
    assert_eq!((c.request_tag(), c.status(), c.parameter()), (72, 1, 32));
    let e = ErspIu::parse(&h.read(iu_at + 2048, 32)).unwrap();
    assert_eq!(e.cqe.nvme_status(), NvmeStatus::SUCCESS);
}

#[test]
fn fcp_latency_completions_are_fifo_even_when_the_latency_drops() {
    let (h, mut s, conn) = ready();
    enable(&h, &mut s, conn);
    h.faults.set_fcp_latency(Some(5 * LATENCY));
    let (a, _) = stage_identify_on(&h, &s, 8, conn, 10, 80);
    h.post_wqe(&mut s, &a);
    h.advance(LATENCY);
    h.faults.set_fcp_latency(Some(LATENCY));
    let (b, _) = stage_identify_on(&h, &s, 10, conn, 11, 81);
    h.post_wqe(&mut s, &b);
    let (c, _) = stage_identify_on(&h, &s, 11, conn, 12, 82);
    h.post_wqe(&mut s, &c);
    h.advance(LATENCY);
    assert!(
        drain(&h, &mut s.cq).is_empty(),
        "B and C are due but wait behind A"
    );
    h.advance(3 * LATENCY);
    let got = drain(&h, &mut s.cq);
    let tags: Vec<u32> = got.iter().map(|c| as_wcqe(c).request_tag()).collect();
    assert_eq!(tags, [80, 81, 82], "submission order");
    for (c, tag) in got.iter().zip([80, 81, 82]) {
        placed_ok(&as_wcqe(c), tag);
    }
}

#[test]
fn fcp_latency_abort_ends_the_delayed_exchange_and_its_entry_stays_dead() {
    let (h, mut s, conn) = ready();
    enable(&h, &mut s, conn);
    h.faults.set_fcp_latency(Some(2 * LATENCY));
    let xri = h.xri_bufs(&s, IO_SLOT).0;
    let (w, _) = stage_identify(&h, &s, conn, 3, 75);
    h.post_wqe(&mut s, &w);
    assert!(drain(&h, &mut s.cq).is_empty());
    // As any aborted exchange in flight: abort requested with XB, the ABTS's
    // BA_ACC brings the XRI-aborted CQE.
    h.post_wqe(&mut s, &abort_xri(xri, 90));
    assert_aborted_with_abts(&drain(&h, &mut s.cq), 75, 90, xri);
    // The same XRI again before the aborted one's due time: the dead entry
    // falls due first and must not complete the new exchange early.
    h.advance(LATENCY);
    let (w, _) = stage_identify(&h, &s, conn, 4, 76);
    h.post_wqe(&mut s, &w);
    h.advance(LATENCY);
    assert!(drain(&h, &mut s.cq).is_empty(), "the new one is not due");
    h.advance(LATENCY);
    let got = drain(&h, &mut s.cq);
    assert_eq!(got.len(), 1, "{got:?}");
    placed_ok(&as_wcqe(&got[0]), 76);
    h.advance(10 * LATENCY);
    assert!(drain(&h, &mut s.cq).is_empty(), "nothing completes twice");
}

#[test]
fn fcp_latency_link_down_fails_the_delayed_exchange() {
    let (h, mut s, conn) = ready();
    enable(&h, &mut s, conn);
    h.faults.set_fcp_latency(Some(LATENCY));
    let (w, _) = stage_identify(&h, &s, conn, 3, 75);
    h.post_wqe(&mut s, &w);
    assert!(drain(&h, &mut s.cq).is_empty());
    h.faults.link_down().unwrap();
    let got = drain(&h, &mut s.cq);
    assert_eq!(got.len(), 1, "{got:?}");
    let v = as_wcqe(&got[0]);
    assert_eq!(
        (v.request_tag(), v.status(), v.local_reject_reason()),
        (
            75,
            u32::from(wcqe_status::LOCAL_REJECT),
            local_reject::LINK_DOWN
        )
    );
    h.advance(2 * LATENCY);
    assert!(drain(&h, &mut s.cq).is_empty(), "nothing completes twice");
}

#[test]
fn fcp_latency_port_reset_drops_the_delayed_exchange() {
    use ufc_hba::sli4::regs::{Control, SLIPORT_CONTROL};
    let (mut h, mut s, conn) = ready();
    enable(&h, &mut s, conn);
    h.faults.set_fcp_latency(Some(LATENCY));
    let (w, _) = stage_identify(&h, &s, conn, 3, 75);
    h.post_wqe(&mut s, &w);
    assert!(drain(&h, &mut s.cq).is_empty());
    let before = h.faults.stats();
    h.set_reg(SLIPORT_CONTROL, Control::INIT_PORT.0);
    h.advance(2 * LATENCY);
    // The port comes back empty: the exchange's completion reaches neither
    // the old queues (gone) nor the new ones.
    let mut s2 = h.bring_up();
    h.advance(2 * LATENCY);
    assert!(drain(&h, &mut s2.cq).is_empty());
    let after = h.faults.stats();
    assert_eq!(
        (after.ersps, after.wqe_errors, after.cq_overflows),
        (before.ersps, before.wqe_errors, before.cq_overflows)
    );
}
