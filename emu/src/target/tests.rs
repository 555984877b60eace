//! Target-level tests: LS validation, command validation, ersp_ratio, properties,
//! AER, keep-alive, target-initiated disconnect. The fcloop path is tested in
//! `tests/fcloop_target.rs`.

use std::sync::Arc;
use std::time::Duration;

use ufc_transport::lldd::{IoDir, Sge};
use ufc_transport::wire::fabrics::{ConnectData, CONNECT_DATA_LEN};
use ufc_transport::wire::ls::{ls_cmd, RjtExplanation, RjtReason};
use ufc_transport::wire::ls_host::{
    encode_create_assoc, encode_create_conn, encode_disconnect_assoc, CreateAssocAcc,
    CreateAssocParams, CreateConnAcc,
};
use ufc_transport::wire::registers::{Cc, REG_CAP, REG_CC, REG_CSTS, REG_VS};
use ufc_transport::wire::{CmdIu, ErspIu, NvmeStatus, Sqe};
use ufc_transport::wwn::{FcAddr, Wwn};

use crate::clock::{Clock, ManualClock};
use crate::host_memory::{HostMemory, VecMemory};
use crate::target::{FcpOutcome, Namespace, Rsp, Subsystem, SubsystemConfig, TargetPort};

const SUBNQN: &str = "nqn.2014-08.org.example:emu-target";
const HOSTNQN: &str = "nqn.2014-08.org.example:host-a";
const HOST: FcAddr = FcAddr {
    wwnn: Wwn(0x2000_0000_0000_0001),
    wwpn: Wwn(0x1000_0000_0000_0001),
};
const BUF: u64 = 0x10_0000;

struct Harness {
    port: Arc<TargetPort>,
    mem: VecMemory,
    hand: ManualClock,
    xchg: u64,
    csn: u32,
}

/// A completed command as the host would see it.
#[derive(Debug)]
struct Done {
    status: NvmeStatus,
    result: u64,
    transferred: u32,
    ersp: Option<ErspIu>,
}

fn rjt_of(rsp: &[u8]) -> (u8, u8, u8, u8) {
    // (w0, rqst ls code, reason, explanation)
    (rsp[0], rsp[16], rsp[33], rsp[34])
}

impl Harness {
    fn new() -> Self {
        let mut cfg = SubsystemConfig::new(SUBNQN);
        cfg.allow_any_host = false;
        cfg.allowed_hosts = vec![HOSTNQN.into()];
        cfg.max_io_queues = 4;
        let subsys = Subsystem::new(
            cfg,
            vec![
                Namespace::ram(512, 1 << 20).unwrap(),
                Namespace::null(4096, 1024).unwrap(),
            ],
        )
        .unwrap();
        let (clock, hand) = Clock::manual();
        let addr = FcAddr {
            wwnn: Wwn(0x2000_0000_0000_00aa),
            wwpn: Wwn(0x1000_0000_0000_00aa),
        };
        Harness {
            port: TargetPort::new(addr, 0x0200, vec![subsys], clock),
            mem: VecMemory::new(BUF, 1 << 20),
            hand,
            xchg: 0,
            csn: 0,
        }
    }

    fn create_assoc(&self, sqsize: u16, ersp_ratio: u16) -> Vec<u8> {
        let rq = encode_create_assoc(&CreateAssocParams {
            ersp_ratio,
            sqsize,
            hostid: [7; 16],
            hostnqn: HOSTNQN,
            subnqn: SUBNQN,
        })
        .unwrap();
        self.port.handle_ls(HOST, &rq)
    }

    fn assoc(&self) -> u64 {
        CreateAssocAcc::parse(&self.create_assoc(31, 8))
            .unwrap()
            .association_id
    }

    fn io_conn(&self, assoc: u64, qid: u16, sqsize: u16, ratio: u16) -> u64 {
        let rsp = self
            .port
            .handle_ls(HOST, &encode_create_conn(assoc, ratio, qid, sqsize));
        CreateConnAcc::parse(&rsp).unwrap().connection_id
    }

    /// Sends one command with `data_len` bytes at BUF (host memory) in `dir`.
    fn cmd(&mut self, conn: u64, sqe: Sqe, data_len: u32, dir: IoDir) -> Result<Done, FcpOutcome> {
        self.csn += 1;
        self.xchg += 1;
        let mut sqe = sqe;
        sqe.set_cid(self.csn as u16);
        let iu = CmdIu::new(conn, self.csn, data_len, dir, &sqe);
        let sgl = [Sge {
            iova: BUF,
            len: data_len,
        }];
        match self.port.handle_fcp(
            self.xchg,
            iu.as_bytes(),
            &sgl[..usize::from(data_len != 0)],
            &self.mem,
        ) {
            FcpOutcome::Complete { transferred, rsp } => Ok(done(transferred, rsp, sqe.cid())),
            other => Err(other),
        }
    }

    fn connect(
        &mut self,
        conn: u64,
        qid: u16,
        sqsize: u16,
        cntlid: u16,
        subnqn: &str,
        hostnqn: &str,
    ) -> Done {
        let data = ConnectData::new([7; 16], cntlid, subnqn, hostnqn).unwrap();
        self.mem
            .write(BUF, zerocopy::IntoBytes::as_bytes(&data))
            .unwrap();
        self.cmd(
            conn,
            Sqe::connect(qid, sqsize, 10_000, 0),
            CONNECT_DATA_LEN as u32,
            IoDir::Write,
        )
        .unwrap()
    }

    /// Association with a connected, enabled admin queue; returns (assoc, cntlid).
    fn live_admin(&mut self) -> (u64, u16) {
        let a = self.assoc();
        let d = self.connect(a, 0, 31, 0xffff, SUBNQN, HOSTNQN);
        assert_eq!(d.status, NvmeStatus::SUCCESS);
        let cntlid = d.result as u16;
        let cc = u64::from(Cc::host_default(Cc::CSS_NVM).with_en(true).0);
        let d = self
            .cmd(a, Sqe::property_set(REG_CC, cc, false), 0, IoDir::None)
            .unwrap();
        assert_eq!(d.status, NvmeStatus::SUCCESS);
        (a, cntlid)
    }

    fn live_io(&mut self, ratio: u16) -> (u64, u64) {
        let (a, cntlid) = self.live_admin();
        let c = self.io_conn(a, 1, 127, ratio);
        let d = self.connect(c, 1, 127, cntlid, SUBNQN, HOSTNQN);
        assert_eq!(d.status, NvmeStatus::SUCCESS, "{d:?}");
        (a, c)
    }
}

fn done(transferred: u32, rsp: Rsp, cid: u16) -> Done {
    match rsp {
        Rsp::Zero => Done {
            status: NvmeStatus::SUCCESS,
            result: 0,
            transferred,
            ersp: None,
        },
        Rsp::Ersp(b) => {
            let e = ErspIu::parse(&b).unwrap();
            assert_eq!(
                e.xfrd_len(),
                transferred,
                "ERSP xfrd_len must equal the transfer"
            );
            assert_eq!(e.cqe.cid(), cid, "CQE CID must echo the SQE");
            Done {
                status: e.cqe.nvme_status(),
                result: e.cqe.result(),
                transferred,
                ersp: Some(e),
            }
        }
    }
}

#[test]
fn create_association_accepts_and_rejects() {
    let h = Harness::new();
    let acc = CreateAssocAcc::parse(&h.create_assoc(31, 8)).unwrap();
    assert_eq!(acc.association_id & 0xffff, 0, "low 16 bits are the qid");
    assert_eq!(acc.connection_id, acc.association_id, "admin connection id");
    let acc2 = CreateAssocAcc::parse(&h.create_assoc(31, 8)).unwrap();
    assert_ne!(acc.association_id, acc2.association_id);
    // ersp_ratio must be 0 < ratio < sqsize.
    for (sqsize, ratio) in [(31, 0), (31, 31), (8, 9)] {
        assert_eq!(
            rjt_of(&h.create_assoc(sqsize, ratio)),
            (
                ls_cmd::RJT,
                ls_cmd::CREATE_ASSOC,
                RjtReason::LOGIC.0,
                RjtExplanation::INV_ERSP_RAT.0
            )
        );
    }
    // Truncated below 592 bytes.
    let mut rq = encode_create_assoc(&CreateAssocParams {
        ersp_ratio: 8,
        sqsize: 31,
        hostid: [0; 16],
        hostnqn: HOSTNQN,
        subnqn: SUBNQN,
    })
    .unwrap();
    rq.truncate(591);
    let r = rjt_of(&h.port.handle_ls(HOST, &rq));
    assert_eq!(
        (r.0, r.2, r.3),
        (ls_cmd::RJT, RjtReason::LOGIC.0, RjtExplanation::INV_LEN.0)
    );
    // Unknown LS code.
    let r = rjt_of(&h.port.handle_ls(HOST, &[9, 0, 0, 0, 0, 0, 0, 0]));
    assert_eq!((r.0, r.1, r.2), (ls_cmd::RJT, 9, RjtReason::INVAL.0));
    assert_eq!(h.port.associations().len(), 2);
}

#[test]
fn create_connection_checks() {
    let h = Harness::new();
    let a = h.assoc();
    let c = h.io_conn(a, 1, 127, 25);
    assert_eq!(c, a | 1);
    let rj = |rq: Vec<u8>| rjt_of(&h.port.handle_ls(HOST, &rq));
    assert_eq!(
        rj(encode_create_conn(a ^ 0x1_0000, 25, 2, 127)).2,
        RjtReason::INV_ASSOC.0
    );
    assert_eq!(
        rj(encode_create_conn(a, 25, 1, 127)).2,
        RjtReason::LOGIC.0,
        "qid in use"
    );
    assert_eq!(
        rj(encode_create_conn(a, 25, 0, 127)).2,
        RjtReason::LOGIC.0,
        "qid 0"
    );
    assert_eq!(
        rj(encode_create_conn(a, 0, 2, 127)).2,
        RjtReason::LOGIC.0,
        "ratio 0"
    );
    let mut bad_len = encode_create_conn(a, 25, 2, 127);
    bad_len[7] = 71; // desc_list_len must be exactly 72
    assert_eq!(rj(bad_len).2, RjtReason::LOGIC.0);
    assert_eq!(rj(encode_create_conn(a, 25, 2, 127)).0, ls_cmd::ACC);
}

#[test]
fn disconnect_association_and_connection() {
    let mut h = Harness::new();
    let (a, c) = h.live_io(25);
    // Disconnect Connection: Linux nvmet has no handler and rejects with INVAL.
    let mut dc = encode_disconnect_assoc(a);
    dc[0] = ls_cmd::DISCONN_CONN;
    let r = rjt_of(&h.port.handle_ls(HOST, &dc));
    assert_eq!(
        (r.0, r.1, r.2),
        (ls_cmd::RJT, ls_cmd::DISCONN_CONN, RjtReason::INVAL.0)
    );
    assert_eq!(
        h.port.handle_ls(HOST, &encode_disconnect_assoc(a))[0],
        ls_cmd::ACC
    );
    assert!(h.port.associations().is_empty());
    assert!(h.port.connection(c).is_none());
    let r = rjt_of(&h.port.handle_ls(HOST, &encode_disconnect_assoc(a)));
    assert_eq!(r.2, RjtReason::INV_ASSOC.0);
    // Malformed (old r1.14 connection scope in the DISCONN_CMD's reserved word).
    let a2 = h.assoc();
    let mut old = encode_disconnect_assoc(a2);
    old[35] = 1;
    assert_eq!(rjt_of(&h.port.handle_ls(HOST, &old)).2, RjtReason::LOGIC.0);
    // I/O on the gone connection is aborted (no queue for its id).
    assert_eq!(
        h.cmd(c, Sqe::read(1, 0, 0, 512), 512, IoDir::Read)
            .unwrap_err(),
        FcpOutcome::Abort
    );
}

#[test]
fn connect_validation() {
    let mut h = Harness::new();
    let a = h.assoc();
    // Anything but Connect on an unconnected queue.
    let d = h.cmd(a, Sqe::keep_alive(), 0, IoDir::None).unwrap();
    assert_eq!(d.status, NvmeStatus::INVALID_OPCODE.with_dnr());
    let d = h.connect(a, 0, 31, 0x0001, SUBNQN, HOSTNQN);
    assert_eq!(
        (d.status, d.result),
        (NvmeStatus::CONNECT_INVALID_PARAM.with_dnr(), 1 << 16 | 16)
    );
    let d = h.connect(a, 0, 31, 0xffff, "nqn.other", HOSTNQN);
    assert_eq!(
        (d.status, d.result),
        (NvmeStatus::CONNECT_INVALID_PARAM.with_dnr(), 1 << 16 | 256)
    );
    let d = h.connect(a, 0, 31, 0xffff, SUBNQN, "nqn.intruder");
    assert_eq!(
        (d.status, d.result),
        (NvmeStatus::CONNECT_INVALID_HOST.with_dnr(), 1 << 16 | 512)
    );
    let d = h.connect(a, 0, 15, 0xffff, SUBNQN, HOSTNQN);
    assert_eq!(
        (d.status, d.result),
        (NvmeStatus::CONNECT_INVALID_PARAM.with_dnr(), 44),
        "sqsize ≠ LS"
    );
    let d = h.connect(a, 1, 31, 0xffff, SUBNQN, HOSTNQN);
    assert_eq!(
        (d.status, d.result),
        (NvmeStatus::CONNECT_INVALID_PARAM.with_dnr(), 42),
        "qid ≠ queue"
    );
    let d = h.connect(a, 0, 31, 0xffff, SUBNQN, HOSTNQN);
    assert_eq!(d.status, NvmeStatus::SUCCESS);
    assert!(d.ersp.is_some(), "fabrics commands always get an ERSP");
    let cntlid = d.result as u16;
    assert_ne!(cntlid, 0xffff);
    // I/O queue: the controller id, host and subsystem must match the admin Connect.
    let c = h.io_conn(a, 1, 127, 25);
    let d = h.connect(c, 1, 127, cntlid ^ 1, SUBNQN, HOSTNQN);
    assert_eq!(d.status, NvmeStatus::CONNECT_INVALID_PARAM.with_dnr());
    let d = h.connect(c, 1, 127, cntlid, SUBNQN, HOSTNQN);
    assert_eq!(
        (d.status, d.result),
        (NvmeStatus::SUCCESS, u64::from(cntlid))
    );
    // The CMD IU's data_len must be the 1024 bytes of Connect data.
    let c2 = h.io_conn(a, 2, 127, 25);
    let d = h
        .cmd(c2, Sqe::connect(2, 127, 0, 0), 512, IoDir::Write)
        .unwrap();
    assert_eq!(d.status.code(), crate::target::io::SGL_INVALID_DATA);
}

#[test]
fn properties_and_controller_enable() {
    let mut h = Harness::new();
    let a = h.assoc();
    h.connect(a, 0, 31, 0xffff, SUBNQN, HOSTNQN);
    let get = |h: &mut Harness, off, wide| {
        let d = h
            .cmd(a, Sqe::property_get(off, wide), 0, IoDir::None)
            .unwrap();
        assert_eq!(d.status, NvmeStatus::SUCCESS);
        d.result
    };
    let cap = get(&mut h, REG_CAP, true);
    assert_eq!(cap & 0xffff, 1023, "MQES");
    assert_ne!((cap >> 24) & 0xff, 0, "TO");
    assert_eq!(get(&mut h, REG_VS, false), 0x0001_0400);
    assert_eq!(get(&mut h, REG_CSTS, false), 0);
    // Before CC.EN, admin commands other than fabrics ones are refused.
    let d = h.cmd(a, Sqe::identify(1, 0), 4096, IoDir::Read).unwrap();
    assert_eq!(d.status, NvmeStatus::CMD_SEQ_ERROR.with_dnr());
    let cc = Cc::host_default(Cc::CSS_NVM);
    h.cmd(
        a,
        Sqe::property_set(REG_CC, u64::from(cc.0), false),
        0,
        IoDir::None,
    )
    .unwrap();
    assert_eq!(get(&mut h, REG_CSTS, false), 0);
    h.cmd(
        a,
        Sqe::property_set(REG_CC, u64::from(cc.with_en(true).0), false),
        0,
        IoDir::None,
    )
    .unwrap();
    assert_eq!(get(&mut h, REG_CSTS, false) & 1, 1, "CSTS.RDY");
    assert_eq!(get(&mut h, REG_CC, false), u64::from(cc.with_en(true).0));
    // Shutdown notification completes at once.
    let shn = cc.with_en(true).with_shn(Cc::SHN_NORMAL);
    h.cmd(
        a,
        Sqe::property_set(REG_CC, u64::from(shn.0), false),
        0,
        IoDir::None,
    )
    .unwrap();
    assert_eq!((get(&mut h, REG_CSTS, false) >> 2) & 3, 2, "SHST complete");
    // Bad offset / size, and a write to CAP.
    let d = h
        .cmd(a, Sqe::property_get(0x30, false), 0, IoDir::None)
        .unwrap();
    assert_eq!(d.status, NvmeStatus::INVALID_FIELD.with_dnr());
    let d = h
        .cmd(a, Sqe::property_set(REG_CAP, 0, true), 0, IoDir::None)
        .unwrap();
    assert_eq!(d.status, NvmeStatus::INVALID_FIELD.with_dnr());
}

#[test]
fn identify_and_features() {
    let mut h = Harness::new();
    let (a, cntlid) = h.live_admin();
    let d = h.cmd(a, Sqe::identify(1, 0), 4096, IoDir::Read).unwrap();
    assert_eq!((d.status, d.transferred), (NvmeStatus::SUCCESS, 4096));
    let mut page = vec![0u8; 4096];
    h.mem.read(BUF, &mut page).unwrap();
    let id = ufc_transport::wire::IdentifyController::parse(&page).unwrap();
    assert_eq!(id.cntlid(), cntlid);
    assert_eq!(id.icdoff(), 0);
    assert!(id.sgls_supported());
    assert_eq!((id.ioccsz(), id.iorcsz()), (4, 1));
    assert_eq!(id.nn(), 2);
    assert_eq!(id.maxcmd(), 1024);
    assert_eq!(id.subnqn(), SUBNQN);
    assert_eq!(id.ver(), 0x0001_0400);
    assert_eq!(id.kas_ms(), 1000);
    assert_eq!(id.mdts(), 8);
    h.cmd(a, Sqe::identify(0, 2), 4096, IoDir::Read).unwrap();
    h.mem.read(BUF, &mut page).unwrap();
    let ns = ufc_transport::wire::IdentifyNamespace::parse(&page).unwrap();
    assert_eq!((ns.nsze(), ns.lba_size()), (1024, Some(4096)));
    let d = h.cmd(a, Sqe::identify(0, 3), 4096, IoDir::Read).unwrap();
    assert_eq!(d.status, NvmeStatus::INVALID_NS.with_dnr());
    h.cmd(a, Sqe::identify(2, 0), 4096, IoDir::Read).unwrap();
    h.mem.read(BUF, &mut page).unwrap();
    assert_eq!(&page[..12], &[1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    let d = h.cmd(a, Sqe::identify(0x55, 0), 4096, IoDir::Read).unwrap();
    assert_eq!(d.status, NvmeStatus::INVALID_FIELD.with_dnr());
    // Number of Queues: asks 8, the subsystem allows 4 (0's based 3).
    let d = h
        .cmd(a, Sqe::set_features(0x07, 7 | 7 << 16), 0, IoDir::None)
        .unwrap();
    assert_eq!(d.result, 3 | 3 << 16);
    let d = h
        .cmd(a, Sqe::get_features(0x0f, 0), 0, IoDir::None)
        .unwrap();
    assert_eq!(d.result, 10_000, "KATO from the admin Connect");
    let d = h
        .cmd(a, Sqe::set_features(0x42, 0), 0, IoDir::None)
        .unwrap();
    assert_eq!(d.status, NvmeStatus::INVALID_FIELD.with_dnr());
    // Error log and SMART.
    let d = h
        .cmd(
            a,
            Sqe::get_log_page(0x02, 0xffff_ffff, 127, 0),
            512,
            IoDir::Read,
        )
        .unwrap();
    assert_eq!((d.status, d.transferred), (NvmeStatus::SUCCESS, 512));
    let d = h
        .cmd(a, Sqe::get_log_page(0x01, 0, 15, 0), 64, IoDir::Read)
        .unwrap();
    assert_eq!(d.status, NvmeStatus::SUCCESS);
    let d = h
        .cmd(a, Sqe::get_log_page(0x7e, 0, 15, 0), 64, IoDir::Read)
        .unwrap();
    assert_eq!(d.status, NvmeStatus::INVALID_FIELD.with_dnr());
    let d = h.cmd(a, Sqe::with_opcode(0x99, 0), 0, IoDir::None).unwrap();
    assert_eq!(d.status, NvmeStatus::INVALID_OPCODE.with_dnr());
}

#[test]
fn io_command_validation() {
    let mut h = Harness::new();
    let (_, c) = h.live_io(25);
    let st = |h: &mut Harness, sqe: Sqe, len, dir| h.cmd(c, sqe, len, dir).unwrap().status;
    assert_eq!(
        st(&mut h, Sqe::read(9, 0, 0, 512), 512, IoDir::Read),
        NvmeStatus::INVALID_NS.with_dnr()
    );
    assert_eq!(
        st(
            &mut h,
            Sqe::read(1, (1 << 20) - 1, 1, 1024),
            1024,
            IoDir::Read
        ),
        NvmeStatus::LBA_RANGE.with_dnr()
    );
    assert_eq!(
        st(&mut h, Sqe::write_zeroes(1, 1 << 20, 0), 0, IoDir::None),
        NvmeStatus::LBA_RANGE.with_dnr()
    );
    assert_eq!(
        st(&mut h, Sqe::read(1, 0, 1, 512), 512, IoDir::Read).code(),
        crate::target::io::SGL_INVALID_DATA,
        "data_len ≠ NLB × block size"
    );
    assert_eq!(
        st(&mut h, Sqe::with_opcode(0x09, 0), 0, IoDir::None),
        NvmeStatus::INVALID_OPCODE.with_dnr()
    );
    assert_eq!(
        st(&mut h, Sqe::flush(1), 0, IoDir::None),
        NvmeStatus::SUCCESS
    );
    assert_eq!(
        st(&mut h, Sqe::flush(0xffff_ffff), 0, IoDir::None),
        NvmeStatus::SUCCESS
    );
    // A READ flag on a write command, and data on a no-data command: dropped (A.2).
    let dropped_before = h.port.connection(c).unwrap().stats().dropped;
    assert_eq!(
        h.cmd(c, Sqe::write(1, 0, 0, 512), 512, IoDir::Read)
            .unwrap_err(),
        FcpOutcome::Abort
    );
    assert_eq!(
        h.cmd(c, Sqe::flush(1), 512, IoDir::None).unwrap_err(),
        FcpOutcome::Abort
    );
    assert_eq!(
        h.port.connection(c).unwrap().stats().dropped,
        dropped_before + 2
    );
}

#[test]
fn write_read_back_through_the_sgl() {
    let mut h = Harness::new();
    let (_, c) = h.live_io(25);
    let pattern: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    h.mem.write(BUF, &pattern).unwrap();
    let d = h
        .cmd(c, Sqe::write(1, 100, 7, 4096), 4096, IoDir::Write)
        .unwrap();
    assert_eq!((d.status, d.transferred), (NvmeStatus::SUCCESS, 4096));
    h.mem.write(BUF, &[0; 4096]).unwrap();
    let d = h
        .cmd(c, Sqe::read(1, 100, 7, 4096), 4096, IoDir::Read)
        .unwrap();
    assert_eq!(d.transferred, 4096);
    let mut back = vec![0u8; 4096];
    h.mem.read(BUF, &mut back).unwrap();
    assert_eq!(back, pattern);
    h.cmd(c, Sqe::write_zeroes(1, 101, 0), 0, IoDir::None)
        .unwrap();
    h.cmd(c, Sqe::read(1, 100, 7, 4096), 4096, IoDir::Read)
        .unwrap();
    h.mem.read(BUF, &mut back).unwrap();
    assert_eq!(&back[..512], &pattern[..512]);
    assert!(back[512..1024].iter().all(|&b| b == 0));
    assert_eq!(&back[1024..], &pattern[1024..]);
}

#[test]
fn ersp_every_nth_and_rsn_sequence() {
    let mut h = Harness::new();
    let (_, c) = h.live_io(4);
    // The I/O Connect got an ERSP with RSN 1; ratio counting includes it.
    assert_eq!(h.port.connection(c).unwrap().last_rsn(), 1);
    let mut rsns = Vec::new();
    let mut zero = 0;
    for _ in 0..11 {
        let d = h
            .cmd(c, Sqe::read(2, 0, 0, 4096), 4096, IoDir::Read)
            .unwrap();
        assert_eq!(d.status, NvmeStatus::SUCCESS);
        match d.ersp {
            Some(e) => rsns.push(e.rsn()),
            None => zero += 1,
        }
    }
    // Responses 4, 8, 12 of the connection (Connect was the 1st) are ERSPs.
    assert_eq!(rsns, [2, 3, 4]);
    assert_eq!(zero, 8);
    // An error forces an ERSP and advances the RSN.
    let d = h
        .cmd(c, Sqe::read(9, 0, 0, 4096), 4096, IoDir::Read)
        .unwrap();
    assert_eq!(d.ersp.unwrap().rsn(), 5);
    let e = h
        .cmd(c, Sqe::read(2, 0, 0, 4096), 4096, IoDir::Read)
        .unwrap();
    assert!(e.ersp.is_none());
}

#[test]
fn aer_held_until_event_or_teardown() {
    let mut h = Harness::new();
    let (a, _) = h.live_admin();
    let conn = h.port.connection(a).unwrap();
    assert_eq!(
        h.cmd(a, Sqe::async_event(), 0, IoDir::None).unwrap_err(),
        FcpOutcome::Held
    );
    let held_xchg = h.xchg;
    assert_eq!(conn.held(), 1);
    assert!(!conn.has_deferred());
    h.port.raise_async_event(SUBNQN, 0x0002_0002);
    assert!(conn.has_deferred());
    match conn.take_deferred(held_xchg) {
        Some(FcpOutcome::Complete {
            rsp: Rsp::Ersp(b), ..
        }) => {
            let e = ErspIu::parse(&b).unwrap();
            assert_eq!(e.cqe.result(), 0x0002_0002);
        }
        other => panic!("expected an ERSP, got {other:?}"),
    }
    // An event with no AER outstanding waits for the next AER.
    h.port.raise_async_event(SUBNQN, 0x0004_0002);
    let d = h.cmd(a, Sqe::async_event(), 0, IoDir::None).unwrap();
    assert_eq!(d.result, 0x0004_0002);
    // AERL 3 → four may be outstanding, the fifth is refused.
    for _ in 0..4 {
        assert_eq!(
            h.cmd(a, Sqe::async_event(), 0, IoDir::None).unwrap_err(),
            FcpOutcome::Held
        );
    }
    let d = h.cmd(a, Sqe::async_event(), 0, IoDir::None).unwrap();
    assert_eq!(d.status, NvmeStatus::ASYNC_LIMIT.with_dnr());
    // Teardown completes the held ones as aborted.
    let last = h.xchg - 1;
    assert!(h.port.disconnect_association(a));
    assert_eq!(conn.take_deferred(last), Some(FcpOutcome::Abort));
}

#[test]
fn keep_alive_expiry_disconnects_from_the_target() {
    let mut h = Harness::new();
    let (a, _) = h.live_admin();
    h.hand.advance(Duration::from_secs(9));
    h.cmd(a, Sqe::keep_alive(), 0, IoDir::None).unwrap();
    h.hand.advance(Duration::from_secs(9));
    assert_eq!(h.port.poll(), 0, "the keep-alive restarted the 10 s timer");
    let ctrl = h.port.association(a).unwrap().controller().unwrap();
    h.hand.advance(Duration::from_secs(2));
    assert_eq!(h.port.poll(), 1);
    assert_eq!(ctrl.csts() & 2, 2, "CSTS.CFS after keep-alive expiry");
    assert!(h.port.association(a).is_none());
    let (xchg, ls) = h.port.take_outgoing_ls(HOST).unwrap();
    assert_eq!(ls, encode_disconnect_assoc(a));
    assert!(h.port.take_outgoing_ls(HOST).is_none());
    h.port.handle_ls_rsp(xchg, &[2]);
    assert_eq!(h.port.ls_responses(), vec![(xchg, vec![2])]);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Arbitrary LS payloads get an answer (ACC or RJT), never a panic.
        #[test]
        fn arbitrary_ls_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1100), code in 0u8..8) {
            let h = Harness::new();
            let mut b = bytes;
            if let Some(first) = b.first_mut() {
                *first = code;
            }
            let rsp = h.port.handle_ls(HOST, &b);
            prop_assert!(rsp.first() == Some(&ls_cmd::ACC) || rsp.first() == Some(&ls_cmd::RJT));
        }

        /// Arbitrary CMD IUs on a live admin and I/O queue: an outcome, never a
        /// panic, and a response's transfer never exceeds the SGL.
        #[test]
        fn arbitrary_cmd_iu_never_panics(iu in proptest::array::uniform32(any::<u8>()), tail in proptest::array::uniform32(any::<u8>()), sqe_tail in proptest::array::uniform32(any::<u8>()), io in any::<bool>(), len in 0u32..9000) {
            let mut h = Harness::new();
            let (a, c) = h.live_io(25);
            let mut bytes = [0u8; 96];
            bytes[..32].copy_from_slice(&iu);
            bytes[32..64].copy_from_slice(&tail);
            bytes[64..].copy_from_slice(&sqe_tail);
            // Keep the IU header valid half of the time so the SQE gets exercised.
            if iu[0] & 1 == 0 {
                let conn = if io { c } else { a };
                bytes[0] = 0xfd;
                bytes[1] = 0x28;
                bytes[2..4].copy_from_slice(&24u16.to_be_bytes());
                bytes[8..16].copy_from_slice(&conn.to_be_bytes());
            }
            let sgl = [Sge { iova: BUF, len }];
            let out = h.port.handle_fcp(1, &bytes, &sgl, &h.mem);
            if let FcpOutcome::Complete { transferred, .. } = out {
                prop_assert!(transferred <= len);
            }
        }
    }
}
