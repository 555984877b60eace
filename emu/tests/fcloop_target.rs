//! The target driven through fcloop's `Lldd`/`HwQueue` methods with hand-built LSs
//! and CMD IUs, data in DMA memory seen through a `DmaView`. The full transport
//! over fcloop is exercised by the transport's scenario tests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (house rules)
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ufc_emu::clock::{Clock, ManualClock};
use ufc_emu::fcloop::{
    DeleteEvent, FcloopError, FcloopFabric, FcloopLldd, LsFault, Mode, PortRegistry,
};
use ufc_emu::target::{Namespace, Subsystem, SubsystemConfig, TargetPort};
use ufc_transport::lldd::{
    FcpDone, FcpReq, FcpStatus, HwQueue, IoDir, Lldd, LlddRport, LocalPortId, LsError, LsEvent,
    LsReq, PortInfo, PortRoles, RemotePortId, Sge,
};
use ufc_transport::wire::fabrics::{ConnectData, CONNECT_DATA_LEN};
use ufc_transport::wire::ls::{ls_cmd, RjtReason};
use ufc_transport::wire::ls_host::{
    encode_create_assoc, encode_create_conn, CreateAssocAcc, CreateAssocParams, CreateConnAcc,
};
use ufc_transport::wire::registers::{Cc, REG_CC, REG_CSTS};
use ufc_transport::wire::{CmdIu, ErspIu, IdentifyController, NvmeStatus, Sqe};
use ufc_transport::wwn::Wwn;
use ufc_vfio::dma::{DmaMemory, DmaView, HugePages, IovaAllocator};

const SUBNQN: &str = "nqn.2014-08.org.example:fcloop";
const HOSTNQN: &str = "nqn.2014-08.org.example:host";
const LNN: Wwn = Wwn(0x1000_1100_aa00_0001);
const LPN: Wwn = Wwn(0x2000_1100_aa00_0001);
const TNN: Wwn = Wwn(0x1000_1100_ab00_0001);
const TPN: Wwn = Wwn(0x2000_1100_ab00_0001);
const LS_TIMEOUT: Duration = Duration::from_secs(20);

type Lld = FcloopLldd<DmaView>;

/// Registration calls recorded, ids handed out like a transport would.
#[derive(Default)]
struct FakeTransport {
    next: Mutex<u32>,
    remotes: Mutex<Vec<(RemotePortId, PortInfo)>>,
    unregistered: Mutex<Vec<String>>,
}

impl PortRegistry<Lld> for FakeTransport {
    type Error = String;
    fn register_localport(&self, info: PortInfo, _lldd: Arc<Lld>) -> Result<LocalPortId, String> {
        assert_eq!(info.roles, PortRoles::INITIATOR);
        let mut n = self.next.lock().unwrap();
        *n += 1;
        Ok(LocalPortId(*n))
    }
    fn register_remoteport(
        &self,
        _lport: LocalPortId,
        info: PortInfo,
    ) -> Result<RemotePortId, String> {
        let mut n = self.next.lock().unwrap();
        *n += 1;
        let id = RemotePortId(*n);
        self.remotes.lock().unwrap().push((id, info));
        Ok(id)
    }
    fn unregister_remoteport(&self, rport: RemotePortId) -> Result<(), String> {
        self.unregistered.lock().unwrap().push(format!("{rport:?}"));
        Ok(())
    }
    fn unregister_localport(&self, lport: LocalPortId) -> Result<(), String> {
        self.unregistered.lock().unwrap().push(format!("{lport:?}"));
        Ok(())
    }
}

struct Rig {
    hand: ManualClock,
    fabric: Arc<FcloopFabric>,
    target: Arc<TargetPort>,
    lldd: Arc<Lld>,
    transport: FakeTransport,
    lport: LocalPortId,
    rport: RemotePortId,
    token: LlddRport,
    mem: DmaMemory,
    tag: u16,
    csn: u32,
    ls_tag: u64,
}

impl Rig {
    fn new() -> Rig {
        Rig::with_mode(Mode::Inline)
    }

    fn with_mode(mode: Mode) -> Rig {
        let (clock, hand) = Clock::manual();
        let fabric = FcloopFabric::new(clock);
        let subsys = Subsystem::new(
            SubsystemConfig::new(SUBNQN),
            vec![
                Namespace::ram(512, 1 << 21).unwrap(),
                Namespace::null(4096, 1 << 18).unwrap(),
            ],
        )
        .unwrap();
        let target = fabric
            .add_target_port(TNN, TPN, 0x0002_0100, vec![subsys])
            .unwrap();
        let iova = Arc::new(IovaAllocator::default());
        let mem = DmaMemory::allocate(1 << 20, HugePages::Never, &iova).unwrap();
        let lldd = FcloopLldd::new(Arc::clone(&fabric), DmaView::of(&[&mem]), mode);
        let transport = FakeTransport::default();
        let lport = lldd
            .add_local_port(&transport, LNN, LPN, 0x0001_0100)
            .unwrap();
        let rport = lldd
            .add_remote_port(&transport, lport, TNN, TPN, None)
            .unwrap();
        let (_, info) = transport.remotes.lock().unwrap()[0].clone();
        assert_eq!(info.roles, PortRoles::TARGET.union(PortRoles::DISCOVERY));
        assert_eq!(info.port_id, 0x0002_0100);
        Rig {
            hand,
            fabric,
            target,
            lldd,
            transport,
            lport,
            rport,
            token: info.lldd_token,
            mem,
            tag: 0,
            csn: 0,
            ls_tag: 0,
        }
    }

    fn iova(&self, off: u64) -> u64 {
        self.mem.iova() + off
    }

    fn ls_start(&mut self, payload: Vec<u8>) -> u64 {
        self.ls_tag += 1;
        let req = LsReq {
            tag: self.ls_tag,
            rport: self.token,
            payload,
            rsp_max: 1024,
            timeout: LS_TIMEOUT,
        };
        self.lldd.ls_req(self.lport, req).unwrap();
        self.ls_tag
    }

    fn ls_events(&self) -> Vec<LsEvent> {
        let mut v = Vec::new();
        self.lldd.poll_ls(self.lport, &mut |e| v.push(e));
        v
    }

    fn ls(&mut self, payload: Vec<u8>) -> Result<Vec<u8>, LsError> {
        let tag = self.ls_start(payload);
        match self.ls_events().pop() {
            Some(LsEvent::Done { tag: t, result }) if t == tag => result,
            other => panic!("expected Done for LS {tag}, got {other:?}"),
        }
    }

    fn create_assoc(&mut self) -> u64 {
        let rq = encode_create_assoc(&CreateAssocParams {
            ersp_ratio: 8,
            sqsize: 31,
            hostid: [1; 16],
            hostnqn: HOSTNQN,
            subnqn: SUBNQN,
        })
        .unwrap();
        CreateAssocAcc::parse(&self.ls(rq).unwrap())
            .unwrap()
            .association_id
    }

    /// Submits one command; data at byte 0 of the DMA region. Returns the tag.
    fn submit(
        &mut self,
        q: &mut <Lld as Lldd>::HwQueue,
        conn: u64,
        sqe: Sqe,
        len: u32,
        dir: IoDir,
    ) -> u16 {
        self.tag += 1;
        self.csn += 1;
        let mut sqe = sqe;
        sqe.set_cid(self.tag);
        let iu = CmdIu::new(conn, self.csn, len, dir, &sqe);
        // Two segments, to exercise the SGL walk.
        let half = len / 2;
        let sgl = [
            Sge {
                iova: self.iova(0),
                len: half,
            },
            Sge {
                iova: self.iova(u64::from(half)),
                len: len - half,
            },
        ];
        let req = FcpReq {
            tag: self.tag,
            rport: self.token,
            cmd_iu: iu.as_bytes(),
            dir,
            payload_len: len,
            sgl: if len == 0 { &[] } else { &sgl },
        };
        q.submit(&req).unwrap();
        q.flush();
        self.tag
    }

    fn poll(q: &mut <Lld as Lldd>::HwQueue) -> Vec<FcpDone> {
        let mut v = Vec::new();
        q.poll(64, |d| v.push(d));
        v
    }

    /// Polls until `n` completions came (at once in inline mode; a worker thread
    /// in threaded mode). The bound only stops a broken test from hanging.
    fn wait(q: &mut <Lld as Lldd>::HwQueue, n: usize) -> Vec<FcpDone> {
        let mut v = Vec::new();
        for _ in 0..50_000_000u64 {
            q.poll(64, |d| v.push(d));
            if v.len() >= n {
                return v;
            }
            std::thread::yield_now();
        }
        panic!("only {} of {n} completions arrived", v.len());
    }

    /// Submits and polls one command to completion; returns status, result, bytes.
    fn run(
        &mut self,
        q: &mut <Lld as Lldd>::HwQueue,
        conn: u64,
        sqe: Sqe,
        len: u32,
        dir: IoDir,
    ) -> (NvmeStatus, u64, u32) {
        let tag = self.submit(q, conn, sqe, len, dir);
        let done = Self::wait(q, 1);
        assert_eq!(done.len(), 1, "{done:?}");
        let d = done[0];
        assert_eq!((d.tag, d.status), (tag, FcpStatus::Good));
        match d.rsp_len {
            12 => (NvmeStatus::SUCCESS, 0, d.transferred),
            32 => {
                let e = ErspIu::parse(&d.rsp).unwrap();
                assert_eq!(e.xfrd_len(), d.transferred);
                assert_eq!(e.cqe.cid(), tag);
                (e.cqe.nvme_status(), e.cqe.result(), d.transferred)
            }
            n => panic!("bad rsp_len {n}"),
        }
    }

    fn connect(
        &mut self,
        q: &mut <Lld as Lldd>::HwQueue,
        conn: u64,
        qid: u16,
        sqsize: u16,
        cntlid: u16,
    ) -> u16 {
        let data = ConnectData::new([1; 16], cntlid, SUBNQN, HOSTNQN).unwrap();
        self.mem
            .write_at(0, zerocopy::IntoBytes::as_bytes(&data))
            .unwrap();
        let (st, res, n) = self.run(
            q,
            conn,
            Sqe::connect(qid, sqsize, 5000, 0),
            CONNECT_DATA_LEN as u32,
            IoDir::Write,
        );
        assert_eq!((st, n), (NvmeStatus::SUCCESS, 1024));
        res as u16
    }

    /// Association, admin queue connected and enabled.
    fn admin(&mut self) -> (u64, <Lld as Lldd>::HwQueue, u16) {
        let a = self.create_assoc();
        let mut q = self.lldd.create_queue(self.lport, 0, 32).unwrap();
        let cntlid = self.connect(&mut q, a, 0, 31, 0xffff);
        let cc = Cc::host_default(Cc::CSS_NVM).with_en(true);
        let (st, _, _) = self.run(
            &mut q,
            a,
            Sqe::property_set(REG_CC, u64::from(cc.0), false),
            0,
            IoDir::None,
        );
        assert_eq!(st, NvmeStatus::SUCCESS);
        let (_, csts, _) = self.run(
            &mut q,
            a,
            Sqe::property_get(REG_CSTS, false),
            0,
            IoDir::None,
        );
        assert_eq!(csts & 1, 1);
        (a, q, cntlid)
    }

    fn io(&mut self, a: u64, cntlid: u16) -> (u64, <Lld as Lldd>::HwQueue) {
        let c = CreateConnAcc::parse(&self.ls(encode_create_conn(a, 25, 1, 127)).unwrap())
            .unwrap()
            .connection_id;
        let mut q = self.lldd.create_queue(self.lport, 1, 128).unwrap();
        assert_eq!(self.connect(&mut q, c, 1, 127, cntlid), cntlid);
        (c, q)
    }
}

#[test]
fn association_identify_write_read_back() {
    let mut r = Rig::new();
    let (a, mut admin, cntlid) = r.admin();
    let (st, _, n) = r.run(&mut admin, a, Sqe::identify(1, 0), 4096, IoDir::Read);
    assert_eq!((st, n), (NvmeStatus::SUCCESS, 4096));
    let mut page = vec![0u8; 4096];
    r.mem.read_at(0, &mut page).unwrap();
    let id = IdentifyController::parse(&page).unwrap();
    assert_eq!(
        (id.cntlid(), id.subnqn(), id.icdoff()),
        (cntlid, SUBNQN.to_string(), 0)
    );

    let (c, mut io) = r.io(a, cntlid);
    let pattern: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 253) as u8).collect();
    r.mem.write_at(0, &pattern).unwrap();
    let (st, _, n) = r.run(
        &mut io,
        c,
        Sqe::write(1, 4096, 127, 65536),
        65536,
        IoDir::Write,
    );
    assert_eq!((st, n), (NvmeStatus::SUCCESS, 65536));
    r.mem.write_at(0, &vec![0u8; 65536]).unwrap();
    let (st, _, n) = r.run(
        &mut io,
        c,
        Sqe::read(1, 4096, 127, 65536),
        65536,
        IoDir::Read,
    );
    assert_eq!((st, n), (NvmeStatus::SUCCESS, 65536));
    let mut back = vec![0u8; 65536];
    r.mem.read_at(0, &mut back).unwrap();
    assert_eq!(back, pattern);
    // Unwritten blocks read back as zeros.
    let (_, _, _) = r.run(&mut io, c, Sqe::read(1, 0, 7, 4096), 4096, IoDir::Read);
    r.mem.read_at(0, &mut back[..4096]).unwrap();
    assert!(back[..4096].iter().all(|&b| b == 0));
    // Errors come back in an ERSP.
    let (st, _, _) = r.run(&mut io, c, Sqe::read(1, 1 << 21, 0, 512), 512, IoDir::Read);
    assert_eq!(st, NvmeStatus::LBA_RANGE.with_dnr());
    assert_eq!(r.target.association(a).unwrap().connections().len(), 2);
}

#[test]
fn abort_wins_over_a_late_completion() {
    let mut r = Rig::new();
    let (a, _admin, cntlid) = r.admin();
    let (c, mut io) = r.io(a, cntlid);
    let tag = r.submit(&mut io, c, Sqe::read(2, 0, 0, 4096), 4096, IoDir::Read);
    io.abort(tag);
    io.abort(tag);
    let done = Rig::poll(&mut io);
    assert_eq!(done.len(), 1, "exactly one completion: {done:?}");
    assert_eq!((done[0].tag, done[0].status), (tag, FcpStatus::Aborted));
    assert!(Rig::poll(&mut io).is_empty());
    io.abort(999); // unknown tags are ignored
    assert!(Rig::poll(&mut io).is_empty());
}

#[test]
fn dropped_command_completes_only_when_aborted() {
    let mut r = Rig::new();
    let (a, _admin, cntlid) = r.admin();
    let (c, mut io) = r.io(a, cntlid);
    r.fabric.faults().drop_next_fcp(1);
    let lost = r.submit(&mut io, c, Sqe::read(2, 0, 0, 4096), 4096, IoDir::Read);
    let ok = r.submit(&mut io, c, Sqe::read(2, 1, 0, 4096), 4096, IoDir::Read);
    let done = Rig::poll(&mut io);
    assert_eq!(done.iter().map(|d| d.tag).collect::<Vec<_>>(), [ok]);
    r.hand.advance(Duration::from_secs(60));
    assert!(
        Rig::poll(&mut io).is_empty(),
        "a lost exchange never completes by itself"
    );
    io.abort(lost);
    let done = Rig::poll(&mut io);
    assert_eq!((done[0].tag, done[0].status), (lost, FcpStatus::Aborted));
    // A drop rule: keep-alives vanish, other admin commands pass.
    r.fabric
        .faults()
        .drop_fcp_if(|i| i.qidx == 0 && i.opcode == 0x18);
    let mut admin = _admin;
    let ka = r.submit(&mut admin, a, Sqe::keep_alive(), 0, IoDir::None);
    assert!(Rig::poll(&mut admin).is_empty());
    let (st, _, _) = r.run(&mut admin, a, Sqe::get_features(0x0f, 0), 0, IoDir::None);
    assert_eq!(st, NvmeStatus::SUCCESS);
    r.fabric.faults().clear_drop_rule();
    admin.abort(ka);
    assert_eq!(Rig::poll(&mut admin)[0].status, FcpStatus::Aborted);
}

#[test]
fn latency_and_delayed_frames_follow_the_clock() {
    let mut r = Rig::new();
    let (a, _admin, cntlid) = r.admin();
    let (c, mut io) = r.io(a, cntlid);
    r.fabric.faults().set_latency(Duration::from_micros(10));
    let t1 = r.submit(&mut io, c, Sqe::read(2, 0, 0, 4096), 4096, IoDir::Read);
    assert!(Rig::poll(&mut io).is_empty());
    r.hand.advance(Duration::from_micros(10));
    assert_eq!(Rig::poll(&mut io)[0].tag, t1);
    r.fabric.faults().set_latency(Duration::ZERO);
    r.fabric
        .faults()
        .delay_next_fcp(1, Duration::from_millis(1));
    let slow = r.submit(&mut io, c, Sqe::read(2, 0, 0, 4096), 4096, IoDir::Read);
    let fast = r.submit(&mut io, c, Sqe::read(2, 0, 0, 4096), 4096, IoDir::Read);
    assert_eq!(
        Rig::poll(&mut io).iter().map(|d| d.tag).collect::<Vec<_>>(),
        [fast]
    );
    r.hand.advance(Duration::from_millis(1));
    assert_eq!(
        Rig::poll(&mut io).iter().map(|d| d.tag).collect::<Vec<_>>(),
        [slow]
    );
}

#[test]
fn fail_next_ls_and_silent_target() {
    let mut r = Rig::new();
    r.fabric.faults().fail_next_ls([
        LsFault::Error(LsError::Transport),
        LsFault::Reject {
            reason: RjtReason::UNAB.0,
            explanation: 0,
        },
    ]);
    let rq = encode_create_assoc(&CreateAssocParams {
        ersp_ratio: 8,
        sqsize: 31,
        hostid: [1; 16],
        hostnqn: HOSTNQN,
        subnqn: SUBNQN,
    })
    .unwrap();
    assert_eq!(r.ls(rq.clone()), Err(LsError::Transport));
    let rjt = r.ls(rq.clone()).unwrap();
    assert_eq!(
        (rjt[0], rjt[16], rjt[33]),
        (ls_cmd::RJT, ls_cmd::CREATE_ASSOC, RjtReason::UNAB.0)
    );
    assert!(
        r.target.associations().is_empty(),
        "failed LSs never reached the target"
    );
    assert!(CreateAssocAcc::parse(&r.ls(rq.clone()).unwrap()).is_ok());

    // A silent target: the LS stays pending until its timeout, then Timeout.
    r.fabric.set_target_silent(TPN, true).unwrap();
    let tag = r.ls_start(rq.clone());
    assert!(r.ls_events().is_empty());
    r.hand.advance(LS_TIMEOUT - Duration::from_nanos(1));
    assert!(r.ls_events().is_empty());
    r.hand.advance(Duration::from_nanos(1));
    match r.ls_events().as_slice() {
        [LsEvent::Done {
            tag: t,
            result: Err(LsError::Timeout),
        }] => assert_eq!(*t, tag),
        other => panic!("{other:?}"),
    }
    // ls_abort reports Aborted at the next poll.
    let tag = r.ls_start(rq);
    r.lldd.ls_abort(r.lport, tag);
    match r.ls_events().as_slice() {
        [LsEvent::Done {
            tag: t,
            result: Err(LsError::Aborted),
        }] => assert_eq!(*t, tag),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.lldd.pending_ls(), 0);
}

#[test]
fn target_disconnect_reaches_the_host_and_aborts_held_aer() {
    let mut r = Rig::new();
    let (a, mut admin, _) = r.admin();
    let aer = r.submit(&mut admin, a, Sqe::async_event(), 0, IoDir::None);
    assert!(Rig::poll(&mut admin).is_empty(), "AER is held");
    // An event completes it.
    r.target.raise_async_event(SUBNQN, 0x0000_0102);
    let d = Rig::poll(&mut admin);
    assert_eq!((d[0].tag, d[0].rsp_len), (aer, 32));
    assert_eq!(ErspIu::parse(&d[0].rsp).unwrap().cqe.result(), 0x102);
    let aer = r.submit(&mut admin, a, Sqe::async_event(), 0, IoDir::None);
    assert_eq!(r.fabric.disconnect_target(TPN).unwrap(), 1);
    let (rport, xchg, payload) = match r.ls_events().pop() {
        Some(LsEvent::Received {
            rport,
            xchg,
            payload,
        }) => (rport, xchg, payload),
        other => panic!("{other:?}"),
    };
    assert_eq!(rport, r.rport);
    assert_eq!(payload, ufc_transport::wire::encode_disconnect_assoc(a));
    let acc = ufc_transport::wire::encode_disconnect_assoc_acc();
    r.lldd.xmt_ls_rsp(r.lport, xchg, &acc);
    assert_eq!(r.target.ls_responses().len(), 1);
    r.lldd.xmt_ls_rsp(r.lport, xchg, &acc); // a second response is a no-op
    assert_eq!(r.target.ls_responses().len(), 1);
    let d = Rig::poll(&mut admin);
    assert_eq!((d[0].tag, d[0].status), (aer, FcpStatus::Aborted));
    // New commands on the dead association are aborted by the target.
    let t = r.submit(&mut admin, a, Sqe::keep_alive(), 0, IoDir::None);
    let d = Rig::poll(&mut admin);
    assert_eq!((d[0].tag, d[0].status), (t, FcpStatus::Aborted));
}

#[test]
fn keep_alive_loss_makes_the_target_disconnect() {
    let mut r = Rig::new();
    let (a, _admin, _) = r.admin();
    r.hand.advance(Duration::from_millis(4999));
    assert!(r.ls_events().is_empty());
    r.hand.advance(Duration::from_millis(1));
    match r.ls_events().as_slice() {
        [LsEvent::Received { payload, .. }] => {
            assert_eq!(*payload, ufc_transport::wire::encode_disconnect_assoc(a))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn removed_target_port_fails_exchanges_and_times_out_ls() {
    let mut r = Rig::new();
    let (a, _admin, cntlid) = r.admin();
    let (c, mut io) = r.io(a, cntlid);
    r.fabric.del_target_port(TPN).unwrap();
    assert!(matches!(
        r.fabric.del_target_port(TPN),
        Err(FcloopError::NotFound(_))
    ));
    let t = r.submit(&mut io, c, Sqe::read(2, 0, 0, 4096), 4096, IoDir::Read);
    let d = Rig::poll(&mut io);
    assert_eq!((d[0].tag, d[0].status), (t, FcpStatus::TransportError));
    let tag = r.ls_start(encode_create_conn(a, 25, 2, 127));
    r.hand.advance(LS_TIMEOUT);
    match r.ls_events().as_slice() {
        [LsEvent::Done {
            tag: t,
            result: Err(LsError::Timeout),
        }] => assert_eq!(*t, tag),
        other => panic!("{other:?}"),
    }
}

#[test]
fn delete_callbacks_are_logged_and_a_restarted_lldd_reuses_the_wwns() {
    let r = Rig::new();
    r.lldd.del_remote_port(&r.transport, r.rport).unwrap();
    r.lldd.del_local_port(&r.transport, r.lport).unwrap();
    assert_eq!(r.transport.unregistered.lock().unwrap().len(), 2);
    // The transport calls the delete callbacks when it is done with the ports.
    r.hand.advance(Duration::from_secs(1));
    r.lldd.remoteport_delete(r.rport);
    r.lldd.localport_delete(r.lport);
    assert_eq!(r.lldd.remoteport_delete_count(r.rport), 1);
    assert_eq!(r.lldd.localport_delete_count(r.lport), 1);
    let log = r.lldd.delete_events();
    assert_eq!(
        log.iter().map(|d| d.event).collect::<Vec<_>>(),
        [DeleteEvent::Remote(r.rport), DeleteEvent::Local(r.lport)]
    );
    assert_eq!(log[0].at, Duration::from_secs(1));
    assert!(
        r.lldd.create_queue(r.lport, 0, 32).is_err(),
        "local port is gone"
    );
    // A new instance on the same fabric registers the same names.
    let iova = Arc::new(IovaAllocator::default());
    let mem = DmaMemory::allocate(1 << 16, HugePages::Never, &iova).unwrap();
    let again = FcloopLldd::new(Arc::clone(&r.fabric), DmaView::of(&[&mem]), Mode::Inline);
    let lport = again
        .add_local_port(&r.transport, LNN, LPN, 0x0001_0100)
        .unwrap();
    again
        .add_remote_port(&r.transport, lport, TNN, TPN, Some(Duration::from_secs(5)))
        .unwrap();
    assert!(again.create_queue(lport, 0, 32).is_ok());
    assert!(matches!(
        again.add_remote_port(&r.transport, lport, TNN, Wwn(0x2000_1100_ab00_0099), None),
        Err(FcloopError::NotFound(_))
    ));
}

#[test]
fn on_pool_provides_admin_dma_the_target_can_reach() {
    use ufc_vfio::dma::{DmaPool, PoolConfig};
    let (clock, _hand) = Clock::manual();
    let fabric = FcloopFabric::new(clock);
    let cfg = PoolConfig {
        hugepages: HugePages::Never,
        ..PoolConfig::default()
    };
    let pool = DmaPool::new(&cfg, &Arc::new(IovaAllocator::default())).unwrap();
    let lldd = FcloopLldd::on_pool(Arc::clone(&fabric), &pool, Mode::Inline);
    let mut buf = lldd.alloc_dma(LocalPortId(1), 4096).unwrap();
    assert!(buf.len() >= 4096);
    buf.write(0, b"connect data");
    let view = DmaView::of(&[pool.memory()]);
    let mut back = [0u8; 12];
    view.read(buf.iova(), &mut back).unwrap();
    assert_eq!(&back, b"connect data");
    let plain = FcloopLldd::new(fabric, view, Mode::Inline);
    assert!(plain.alloc_dma(LocalPortId(1), 4096).is_err());
}

#[test]
fn threaded_mode_moves_data_and_aborts_once() {
    let mut r = Rig::with_mode(Mode::Threaded);
    let (a, mut admin, cntlid) = r.admin();
    let (c, mut io) = r.io(a, cntlid);
    let pattern: Vec<u8> = (0..8192u32).map(|i| (i % 241) as u8).collect();
    r.mem.write_at(0, &pattern).unwrap();
    let (st, _, n) = r.run(&mut io, c, Sqe::write(1, 64, 15, 8192), 8192, IoDir::Write);
    assert_eq!((st, n), (NvmeStatus::SUCCESS, 8192));
    r.mem.write_at(0, &[0u8; 8192]).unwrap();
    let (st, _, _) = r.run(&mut io, c, Sqe::read(1, 64, 15, 8192), 8192, IoDir::Read);
    assert_eq!(st, NvmeStatus::SUCCESS);
    let mut back = vec![0u8; 8192];
    r.mem.read_at(0, &mut back).unwrap();
    assert_eq!(back, pattern);
    // A batch: every exchange completes exactly once, whatever the order.
    let mut tags: Vec<u16> = (0..32)
        .map(|i| r.submit(&mut io, c, Sqe::read(2, i, 0, 4096), 4096, IoDir::Read))
        .collect();
    let mut got: Vec<u16> = Rig::wait(&mut io, 32).iter().map(|d| d.tag).collect();
    tags.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, tags);
    // An AER is held by the worker's target; aborting it completes it once, and
    // the worker forgets it.
    let aer = r.submit(&mut admin, a, Sqe::async_event(), 0, IoDir::None);
    let conn = r.target.connection(a).unwrap();
    for _ in 0..50_000_000u64 {
        if conn.held() == 1 {
            break;
        }
        std::thread::yield_now();
    }
    assert_eq!(conn.held(), 1);
    admin.abort(aer);
    let d = Rig::wait(&mut admin, 1);
    assert_eq!((d[0].tag, d[0].status), (aer, FcpStatus::Aborted));
    for _ in 0..50_000_000u64 {
        if conn.held() == 0 {
            break;
        }
        std::thread::yield_now();
    }
    assert_eq!(conn.held(), 0);
    // An event for a new AER comes back through the worker.
    let aer = r.submit(&mut admin, a, Sqe::async_event(), 0, IoDir::None);
    for _ in 0..50_000_000u64 {
        if conn.held() == 1 {
            break;
        }
        std::thread::yield_now();
    }
    r.target.raise_async_event(SUBNQN, 0x0000_0302);
    let d = Rig::wait(&mut admin, 1);
    assert_eq!(
        (d[0].tag, d[0].status, d[0].rsp_len),
        (aer, FcpStatus::Good, 32)
    );
    assert_eq!(ErspIu::parse(&d[0].rsp).unwrap().cqe.result(), 0x302);
}
