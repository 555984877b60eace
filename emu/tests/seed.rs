//! Scenario tests of the seed behaviour ("nvme-fc: decouple ns references from
//! lldd references") against fcloop and the emulated target: the LLDD gets its
//! delete callbacks while namespace handles are still held, and controllers
//! resume when the same WWNs come back. Deterministic: manual clock, fcloop
//! inline mode, one thread, no sleeps.

// Test helpers outside #[test] functions: panicking on a broken setup is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use ufc_emu::fcloop::dma::{CarvedAllocator, DmaAllocator};
use ufc_emu::fcloop::{FcloopFabric, FcloopLldd, Mode};
use ufc_emu::host_memory::{HostMemory, VecMemory};
use ufc_emu::target::{Namespace as TargetNs, Subsystem, SubsystemConfig, TargetPort};
use ufc_transport::lldd::{Lldd, LocalPortId, RemotePortId, Sge};
use ufc_transport::wwn::Wwn;
use ufc_transport::{
    Clock, ConnectOptions, Controller, CtrlState, IoCompletion, IoQpair, ManualClock, Namespace,
    NvmeStatus, PortState, Transport,
};

type Mem = Arc<VecMemory>;
type Fc = FcloopLldd<Mem>;
type Qp = IoQpair<<Fc as Lldd>::HwQueue>;

const HOST_NN: Wwn = Wwn(0x2000_0090_fa94_0001);
const HOST_PN: Wwn = Wwn(0x1000_0090_fa94_0001);
const TGT_NN: Wwn = Wwn(0x2000_0090_fa94_2779);
const TGT_PN: Wwn = Wwn(0x1000_0090_fa94_2779);
const SUBNQN: &str = "nqn.2024-01.io.ufc:seed";
const BLOCK: u32 = 512;
const NBLOCKS: u64 = 1 << 16;

const MEM_BASE: u64 = 0x1000_0000;
const MEM_LEN: usize = 24 << 20;
/// Admin buffers live in the top 4 MiB of the host memory.
const ADMIN_OFF: u64 = 20 << 20;

// ---------------------------------------------------------------------------
// The world: one host port, one target port with one RAM namespace.

struct World {
    hand: ManualClock,
    fabric: Arc<FcloopFabric>,
    target: Arc<TargetPort>,
    mem: Mem,
    dma: Arc<dyn DmaAllocator>,
    t: Arc<Transport<Fc>>,
    fc: Arc<Fc>,
    lport: LocalPortId,
    rport: RemotePortId,
    dev_loss: Option<Duration>,
    data_next: u64,
    port_id_next: u32,
}

impl World {
    fn new(dev_loss: Option<Duration>) -> World {
        let (clock, hand) = Clock::manual();
        // One clock for the models and the transport.
        let fabric = FcloopFabric::new(clock.clone());
        let sub = Subsystem::new(
            SubsystemConfig::new(SUBNQN),
            vec![TargetNs::ram(BLOCK, NBLOCKS).unwrap()],
        )
        .unwrap();
        let target = fabric
            .add_target_port(TGT_NN, TGT_PN, 0x0002_0100, vec![sub])
            .unwrap();
        let mem: Mem = Arc::new(VecMemory::new(MEM_BASE, MEM_LEN));
        // Admin data buffers (Connect, Identify) come from the top of host memory.
        let dma: Arc<dyn DmaAllocator> = Arc::new(CarvedAllocator::new(
            Arc::clone(&mem),
            MEM_BASE + ADMIN_OFF,
            4096,
            64,
        ));
        let t = Transport::new(clock);
        let fc = FcloopLldd::with_dma(
            Arc::clone(&fabric),
            Arc::clone(&mem),
            Mode::Inline,
            Arc::clone(&dma),
        );
        let lport = fc
            .add_local_port(&*t, HOST_NN, HOST_PN, 0x0001_0100)
            .unwrap();
        let rport = fc
            .add_remote_port(&*t, lport, TGT_NN, TGT_PN, dev_loss)
            .unwrap();
        World {
            hand,
            fabric,
            target,
            mem,
            dma,
            t,
            fc,
            lport,
            rport,
            dev_loss,
            data_next: MEM_BASE,
            port_id_next: 0x0001_0200,
        }
    }

    /// fcloop's control helpers talk to the transport.
    fn reg(&self) -> &Transport<Fc> {
        &self.t
    }

    fn opts(&self, extra: &str) -> ConnectOptions {
        let s = format!(
            "traddr=nn-{TGT_NN}:pn-{TGT_PN},host_traddr=nn-{HOST_NN}:pn-{HOST_PN},nqn={SUBNQN},nr_io_queues=4,queue_size=64{extra}"
        );
        ConnectOptions::parse(&s).unwrap()
    }

    /// Connects and polls management until LIVE.
    fn connect(&self, extra: &str) -> Controller<Fc> {
        let c = self.t.connect(self.opts(extra)).unwrap();
        assert_eq!(c.state(), CtrlState::Connecting);
        for _ in 0..100 {
            if c.state() == CtrlState::Live {
                return c;
            }
            self.t.poll();
        }
        panic!("controller did not go live: {:?}", c.stats());
    }

    fn poll(&self, n: usize) {
        for _ in 0..n {
            self.t.poll();
        }
    }

    fn advance(&self, d: Duration) {
        self.hand.advance(d);
    }

    /// `bytes` of I/O buffer in host memory.
    fn buf(&mut self, bytes: u32) -> Sge {
        let iova = self.data_next;
        self.data_next += u64::from(bytes);
        assert!(
            self.data_next <= MEM_BASE + ADMIN_OFF,
            "test data region exhausted"
        );
        Sge { iova, len: bytes }
    }

    fn fill(&self, sge: Sge, seed: u64) {
        self.mem.write(sge.iova, &pattern(sge.len, seed)).unwrap();
    }

    fn check(&self, sge: Sge, seed: u64) -> bool {
        let mut got = vec![0u8; sge.len as usize];
        self.mem.read(sge.iova, &mut got).unwrap();
        got == pattern(sge.len, seed)
    }

    /// The LLDD unloads: remote port, then local port.
    fn unregister_all(&self) {
        self.fc.del_remote_port(self.reg(), self.rport).unwrap();
        self.fc.del_local_port(self.reg(), self.lport).unwrap();
    }

    /// A new LLDD instance registers the same WWNs with new N_Port IDs.
    fn new_instance(&mut self) {
        let fc = FcloopLldd::with_dma(
            Arc::clone(&self.fabric),
            Arc::clone(&self.mem),
            Mode::Inline,
            Arc::clone(&self.dma),
        );
        self.port_id_next += 1;
        let reg = self.reg();
        let lport = fc
            .add_local_port(reg, HOST_NN, HOST_PN, self.port_id_next)
            .unwrap();
        assert_eq!(lport, self.lport, "same WWNs revive the same local port");
        let rport = fc
            .add_remote_port(reg, lport, TGT_NN, TGT_PN, self.dev_loss)
            .unwrap();
        assert_eq!(rport, self.rport, "same WWNs revive the same remote port");
        self.fc = fc;
    }

    fn rstats(&self) -> ufc_transport::RemotePortStats {
        self.t.stats().rport(self.rport).cloned().unwrap()
    }
}

fn pattern(len: u32, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Polls `qp` (and management) until `want` completions arrived or `rounds` ran out.
fn reap(w: &World, qp: &mut Qp, want: usize, rounds: usize) -> Vec<IoCompletion> {
    let mut got = Vec::new();
    for _ in 0..rounds {
        qp.poll(256, |c| got.push(c));
        if got.len() >= want {
            break;
        }
        w.t.poll();
    }
    got
}

fn ns0(c: &Controller<Fc>) -> Namespace<Fc> {
    let ns = c.namespaces();
    assert_eq!(ns.len(), 1);
    assert_eq!(
        (ns[0].nsid(), ns[0].lba_size(), ns[0].num_lbas()),
        (1, BLOCK, NBLOCKS)
    );
    ns.into_iter().next().unwrap()
}

// ---------------------------------------------------------------------------

#[test]
fn connect_write_read_back() {
    let mut w = World::new(None);
    let c = w.connect("");
    let ns = ns0(&c);
    let st = c.stats().unwrap();
    assert!(st.assoc_active);
    assert_eq!(st.io_queues, 4);
    assert_eq!(w.rstats().act_ctrl_cnt, 1);
    let mut qp = c.alloc_io_qpair().unwrap();
    let wb = w.buf(8 * BLOCK);
    w.fill(wb, 7);
    qp.submit_write(&ns, 100, 8, &[wb], 1).unwrap();
    let done = reap(&w, &mut qp, 1, 10);
    assert_eq!(
        done,
        vec![IoCompletion {
            ctx: 1,
            status: NvmeStatus::SUCCESS
        }]
    );
    let rb = w.buf(8 * BLOCK);
    qp.submit_read(&ns, 100, 8, &[rb], 2).unwrap();
    let done = reap(&w, &mut qp, 1, 10);
    assert_eq!(
        done,
        vec![IoCompletion {
            ctx: 2,
            status: NvmeStatus::SUCCESS
        }]
    );
    assert!(w.check(rb, 7));
    qp.submit_flush(&ns, 3).unwrap();
    qp.submit_write_zeroes(&ns, 100, 8, 4).unwrap();
    let done = reap(&w, &mut qp, 2, 10);
    assert_eq!(done.len(), 2);
    assert!(done.iter().all(|c| c.status.is_success()));
}

#[test]
fn seed_unregister_idle_rport() {
    let w = World::new(None);
    assert_eq!(w.fc.remoteport_delete_count(w.rport), 0);
    w.fc.del_remote_port(w.reg(), w.rport).unwrap();
    // No controller: the callback came before unregister returned.
    assert_eq!(w.fc.remoteport_delete_count(w.rport), 1);
    w.fc.del_local_port(w.reg(), w.lport).unwrap();
    assert_eq!(w.fc.localport_delete_count(w.lport), 1);
    w.poll(3);
    assert_eq!(w.fc.remoteport_delete_count(w.rport), 1);
    assert!(w.t.stats().rports.is_empty() && w.t.stats().lports.is_empty());
}

/// Submits `n` one-block writes at LBAs `base..base + n`, buffers filled with
/// pattern `seed_base + lba`, without polling.
fn submit_writes(
    w: &mut World,
    qp: &mut Qp,
    ns: &Namespace<Fc>,
    base: u64,
    n: u64,
    seed_base: u64,
) -> Vec<Sge> {
    let mut bufs = Vec::new();
    for i in 0..n {
        let b = w.buf(BLOCK);
        w.fill(b, seed_base + base + i);
        qp.submit_write(ns, base + i, 1, &[b], base + i).unwrap();
        bufs.push(b);
    }
    qp.flush();
    bufs
}

/// Reads LBAs `base..base + n` back and checks pattern `seed_base + lba`.
fn verify_blocks(
    w: &mut World,
    qp: &mut Qp,
    ns: &Namespace<Fc>,
    base: u64,
    n: u64,
    seed_base: u64,
) {
    let mut bufs = Vec::new();
    for i in 0..n {
        let b = w.buf(BLOCK);
        qp.submit_read(ns, base + i, 1, &[b], 1_000_000 + i)
            .unwrap();
        bufs.push(b);
    }
    let done = reap(w, qp, n as usize, 50);
    assert_eq!(done.len(), n as usize);
    assert!(done.iter().all(|c| c.status.is_success()), "{done:?}");
    for (i, b) in bufs.iter().enumerate() {
        assert!(
            w.check(*b, seed_base + base + i as u64),
            "block {}",
            base + i as u64
        );
    }
}

/// A live controller with one attached queue pair.
fn live_with_qpair(w: &World, extra: &str) -> (Controller<Fc>, Namespace<Fc>, Qp) {
    let c = w.connect(extra);
    let ns = ns0(&c);
    let mut qp = c.alloc_io_qpair().unwrap();
    qp.poll(1, |_| panic!("nothing submitted"));
    assert!(qp.is_live());
    (c, ns, qp)
}

#[test]
fn seed_unregister_busy_rport() {
    let mut w = World::new(None);
    let (c, ns, mut qp) = live_with_qpair(&w, "");
    submit_writes(&mut w, &mut qp, &ns, 0, 32, 0);
    assert_eq!(qp.outstanding(), 32);
    w.fc.del_remote_port(w.reg(), w.rport).unwrap();
    // A live association: no callback yet.
    assert_eq!(w.fc.remoteport_delete_count(w.rport), 0);
    let r = w.rstats();
    assert_eq!((r.state, r.act_ctrl_cnt), (PortState::Deleted, 1));
    // Management alone cannot finish: the queue pair must hand its queue back.
    w.poll(3);
    assert_eq!(w.fc.remoteport_delete_count(w.rport), 0);
    // The queue pair polls once: its exchanges are aborted and held, none fails.
    let mut done = Vec::new();
    qp.poll(256, |c| done.push(c));
    assert!(done.is_empty(), "{done:?}");
    // One management poll later the LLDD is free, the namespace handle still held.
    w.t.poll();
    assert_eq!(w.fc.remoteport_delete_count(w.rport), 1);
    assert_eq!(w.rstats().act_ctrl_cnt, 0);
    assert!(!c.stats().unwrap().assoc_active);
    assert_eq!(c.state(), CtrlState::Connecting);
    assert_eq!(ns.nsid(), 1);
    assert_eq!(qp.outstanding(), 32);
    assert_eq!(qp.stats().errors, 0);
    // The port comes back: the 32 writes complete and read back.
    w.fc.add_remote_port(w.reg(), w.lport, TGT_NN, TGT_PN, None)
        .unwrap();
    let done = reap(&w, &mut qp, 32, 20);
    assert_eq!(done.len(), 32);
    assert!(done.iter().all(|c| c.status.is_success()), "{done:?}");
    verify_blocks(&mut w, &mut qp, &ns, 0, 32, 0);
    assert_eq!(w.fc.remoteport_delete_count(w.rport), 1);
}

#[test]
fn seed_unregister_localport() {
    let mut w = World::new(None);
    let (_c, ns, mut qp) = live_with_qpair(&w, "");
    submit_writes(&mut w, &mut qp, &ns, 0, 4, 0);
    w.fc.del_remote_port(w.reg(), w.rport).unwrap();
    w.fc.del_local_port(w.reg(), w.lport).unwrap();
    let l = w.t.stats().lport(w.lport).cloned().unwrap();
    assert_eq!(
        (l.state, l.act_rport_cnt, l.deletes_pending),
        (PortState::Deleted, 1, 1)
    );
    w.poll(3);
    assert!(
        w.fc.delete_events().is_empty(),
        "remote port still has an active controller"
    );
    qp.poll(256, |c| panic!("held I/O completed: {c:?}"));
    w.t.poll();
    let ev: Vec<_> = w.fc.delete_events().iter().map(|d| d.event).collect();
    use ufc_emu::fcloop::DeleteEvent;
    assert_eq!(
        ev,
        vec![DeleteEvent::Remote(w.rport), DeleteEvent::Local(w.lport)],
        "localport_delete only after the last remote port went inactive"
    );
    assert_eq!(w.t.stats().lport(w.lport).unwrap().act_rport_cnt, 0);
}

#[test]
fn seed_rebind_before_timeout() {
    let mut w = World::new(None);
    let (c, ns, mut qp) = live_with_qpair(&w, "");
    let assoc1 = c.stats().unwrap().association_id;
    submit_writes(&mut w, &mut qp, &ns, 0, 16, 100);
    w.unregister_all();
    qp.poll(256, |c| panic!("held I/O completed: {c:?}"));
    w.t.poll();
    assert_eq!(w.fc.remoteport_delete_count(w.rport), 1);
    assert_eq!(w.fc.localport_delete_count(w.lport), 1);
    // The transport holds nothing of the old instance: the LLDD can go away.
    let old = std::mem::replace(
        &mut w.fc,
        FcloopLldd::new(Arc::clone(&w.fabric), Arc::clone(&w.mem), Mode::Inline),
    );
    assert_eq!(
        Arc::strong_count(&old),
        1,
        "transport still references the old LLDD"
    );
    drop(old);
    // More I/O while no port exists: held.
    submit_writes(&mut w, &mut qp, &ns, 16, 16, 100);
    qp.poll(256, |c| panic!("held I/O completed: {c:?}"));
    w.advance(Duration::from_millis(500));
    w.poll(2);
    // A new instance registers the same WWNs with new N_Port IDs, well before
    // dev_loss_tmo and before reconnect_delay: the controller reconnects at once.
    w.new_instance();
    let r = w.rstats();
    assert_eq!(
        (r.state, r.port_id, r.registrations),
        (PortState::Online, 0x0002_0100, 2)
    );
    assert_eq!(w.t.stats().lport(w.lport).unwrap().port_id, 0x0001_0201);
    w.poll(30);
    assert_eq!(c.state(), CtrlState::Live);
    assert_ne!(c.stats().unwrap().association_id, assoc1);
    let done = reap(&w, &mut qp, 32, 20);
    assert_eq!(done.len(), 32);
    assert!(done.iter().all(|c| c.status.is_success()), "{done:?}");
    // The same namespace handle works on the new association.
    verify_blocks(&mut w, &mut qp, &ns, 0, 32, 100);
    assert_eq!(qp.stats().errors, 0);
}

fn ctrl_dies(
    w: &World,
    c: &Controller<Fc>,
    qp: &mut Qp,
    step: Duration,
    max: Duration,
) -> (Duration, Vec<IoCompletion>) {
    let mut done = Vec::new();
    let start = w.hand.now();
    while w.hand.now() - start <= max {
        w.t.poll();
        qp.poll(256, |c| done.push(c));
        if c.state() == CtrlState::Deleted {
            qp.poll(256, |c| done.push(c));
            return (w.hand.now() - start, done);
        }
        w.advance(step);
    }
    panic!("controller still {:?} after {max:?}", c.state());
}

#[test]
fn seed_ctrl_loss_expires() {
    let mut w = World::new(None);
    let (c, ns, mut qp) = live_with_qpair(&w, ",ctrl_loss_tmo=6,reconnect_delay=2");
    assert_eq!(c.stats().unwrap().max_reconnects, Some(3));
    submit_writes(&mut w, &mut qp, &ns, 0, 8, 0);
    w.unregister_all();
    qp.poll(256, |c| panic!("held I/O completed early: {c:?}"));
    w.t.poll();
    let (after, done) = ctrl_dies(
        &w,
        &c,
        &mut qp,
        Duration::from_secs(1),
        Duration::from_secs(60),
    );
    // Three attempts at 2, 4, 6 s, then ctrl_loss_tmo: deleted.
    assert_eq!(after, Duration::from_secs(6));
    assert_eq!(done.len(), 8);
    assert!(
        done.iter().all(|c| c.status == NvmeStatus::HOST_PATH_ERROR),
        "{done:?}"
    );
    assert_eq!(qp.outstanding(), 0);
    // New I/O on the deleted controller fails the same way.
    let b = w.buf(BLOCK);
    qp.submit_read(&ns, 0, 1, &[b], 99).unwrap();
    let d = reap(&w, &mut qp, 1, 2);
    assert_eq!(
        d,
        vec![IoCompletion {
            ctx: 99,
            status: NvmeStatus::HOST_PATH_ERROR
        }]
    );
    w.poll(2);
    let s = w.t.stats();
    assert!(
        s.ctrls.is_empty() && s.rports.is_empty() && s.lports.is_empty(),
        "{s:?}"
    );
    assert_eq!(w.fc.remoteport_delete_count(w.rport), 1);
    assert_eq!(w.fc.localport_delete_count(w.lport), 1);
    assert!(c.alloc_io_qpair().is_err());
}

#[test]
fn seed_dev_loss_before_ctrl_loss() {
    let mut w = World::new(Some(Duration::from_secs(5)));
    let (c, ns, mut qp) = live_with_qpair(&w, "");
    assert_eq!(c.stats().unwrap().max_reconnects, Some(300));
    submit_writes(&mut w, &mut qp, &ns, 0, 8, 0);
    w.fc.del_remote_port(w.reg(), w.rport).unwrap();
    qp.poll(256, |c| panic!("held I/O completed early: {c:?}"));
    w.t.poll();
    assert_eq!(w.fc.remoteport_delete_count(w.rport), 1);
    let (after, done) = ctrl_dies(
        &w,
        &c,
        &mut qp,
        Duration::from_millis(500),
        Duration::from_secs(60),
    );
    // Attempts at 2 and 4 s, the next clamped to dev_loss_end at 5 s: deleted
    // there, long before ctrl_loss_tmo (600 s).
    assert_eq!(after, Duration::from_secs(5));
    assert_eq!(done.len(), 8);
    assert!(done.iter().all(|c| c.status == NvmeStatus::HOST_PATH_ERROR));
    assert_eq!(qp.outstanding(), 0);
    assert_eq!(w.fc.remoteport_delete_count(w.rport), 1);
}

#[test]
fn seed_reregister_before_zero() {
    let mut w = World::new(None);
    let (c, ns, mut qp) = live_with_qpair(&w, "");
    submit_writes(&mut w, &mut qp, &ns, 0, 16, 5);
    w.unregister_all();
    let old = Arc::clone(&w.fc);
    // Same WWNs come back while the old association still counts.
    w.new_instance();
    let r = w.rstats();
    assert_eq!(
        (r.state, r.act_ctrl_cnt, r.deletes_pending),
        (PortState::Online, 1, 1)
    );
    assert_eq!(old.remoteport_delete_count(w.rport), 0);
    qp.poll(256, |c| panic!("held I/O completed early: {c:?}"));
    w.poll(30);
    // Exactly one callback for the old registration, none for the new one.
    assert_eq!(old.remoteport_delete_count(w.rport), 1);
    assert_eq!(old.localport_delete_count(w.lport), 1);
    assert!(w.fc.delete_events().is_empty());
    assert_eq!(c.state(), CtrlState::Live);
    let done = reap(&w, &mut qp, 16, 20);
    assert_eq!(done.len(), 16);
    assert!(done.iter().all(|c| c.status.is_success()));
    verify_blocks(&mut w, &mut qp, &ns, 0, 16, 5);
    w.poll(5);
    assert_eq!(old.remoteport_delete_count(w.rport), 1);
    let r = w.rstats();
    assert_eq!(
        (r.deletes_issued, r.deletes_pending, r.act_ctrl_cnt),
        (1, 0, 1)
    );
}

#[test]
fn target_disconnect() {
    let mut w = World::new(None);
    let (c, ns, mut qp) = live_with_qpair(&w, "");
    let assoc = c.stats().unwrap().association_id;
    assert!(w.target.disconnect_association(assoc));
    submit_writes(&mut w, &mut qp, &ns, 0, 4, 9);
    w.t.poll();
    assert_eq!(c.state(), CtrlState::Resetting);
    // The teardown waits for the queue pair: the ACC is still deferred (§3.7).
    w.t.poll();
    assert!(
        w.target.ls_responses().is_empty(),
        "ACC sent before the association's exchanges were aborted"
    );
    qp.poll(256, |c| assert!(c.status.is_success(), "{c:?}"));
    w.poll(30);
    assert_eq!(c.state(), CtrlState::Live);
    let st = c.stats().unwrap();
    assert_ne!(st.association_id, assoc);
    assert_eq!((st.counters.target_disconnects, st.counters.resets), (1, 1));
    // Exactly one response, an LS_ACC, went out after the teardown.
    let rsps = w.target.ls_responses();
    assert_eq!(rsps.len(), 1, "{rsps:?}");
    assert_eq!(rsps[0].1.first(), Some(&2), "LS_ACC expected: {rsps:?}");
    let done = reap(&w, &mut qp, 4, 20);
    assert!(done.iter().all(|c| c.status.is_success()));
    verify_blocks(&mut w, &mut qp, &ns, 0, 4, 9);
    assert_eq!(w.fc.remoteport_delete_count(w.rport), 0);
}

#[test]
fn io_timeout_abort() {
    let mut w = World::new(None);
    let (c, ns, mut qp) = live_with_qpair(&w, ",io_timeout=5");
    w.fabric.faults().drop_next_fcp(1);
    let b = w.buf(BLOCK);
    w.fill(b, 42);
    qp.submit_write(&ns, 7, 1, &[b], 7).unwrap();
    let mut done = Vec::new();
    for _ in 0..4 {
        qp.poll(16, |c| done.push(c));
        w.t.poll();
        w.advance(Duration::from_secs(1));
    }
    assert!(
        done.is_empty(),
        "the lost exchange cannot complete before the timeout"
    );
    w.advance(Duration::from_secs(2));
    let done = reap(&w, &mut qp, 1, 10);
    assert_eq!(
        done,
        vec![IoCompletion {
            ctx: 7,
            status: NvmeStatus::SUCCESS
        }]
    );
    let s = qp.stats();
    assert_eq!((s.timeouts, s.retries, s.errors), (1, 1, 0));
    // Only that command was aborted: the association stayed up.
    assert_eq!(c.state(), CtrlState::Live);
    assert_eq!(c.stats().unwrap().counters.resets, 0);
    verify_blocks(&mut w, &mut qp, &ns, 7, 1, 35);
}

#[test]
fn keep_alive_loss() {
    let w = World::new(None);
    let c = w.connect(",kato=4");
    let assoc = c.stats().unwrap().association_id;
    // The target stops answering (and its own keep-alive timer stops with it).
    w.fabric.set_target_silent(TGT_PN, true).unwrap();
    // Keep-alive every kato/2 = 2 s; this one is never answered.
    w.advance(Duration::from_secs(2));
    w.poll(2);
    assert_eq!(c.state(), CtrlState::Live);
    w.advance(Duration::from_secs(3));
    w.poll(2);
    assert_eq!(c.state(), CtrlState::Live, "the KA is not kato old yet");
    w.advance(Duration::from_secs(1));
    w.poll(1);
    let st = c.stats().unwrap();
    assert_eq!(
        (st.counters.keep_alive_failures, st.counters.resets),
        (1, 1)
    );
    assert_ne!(c.state(), CtrlState::Live);
    w.fabric.set_target_silent(TGT_PN, false).unwrap();
    w.poll(30);
    assert_eq!(c.state(), CtrlState::Live);
    assert_ne!(c.stats().unwrap().association_id, assoc);
}

/// A deterministic xorshift generator for the bounce schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Write { lba: u64, ver: u64, buf: usize },
    Read { lba: u64, ver: u64, buf: usize },
}

/// One queue pair running verified one-block writes and reads on its own LBAs.
struct Load {
    qp: Qp,
    first_lba: u64,
    bufs: Vec<Sge>,
    free: Vec<usize>,
    inflight: std::collections::HashMap<u64, Op>,
    busy: std::collections::HashSet<u64>,
    expected: std::collections::HashMap<u64, u64>,
    next_ctx: u64,
    next_ver: u64,
    completed: u64,
}

const LOAD_LBAS: u64 = 64;

impl Load {
    fn new(w: &mut World, qp: Qp, idx: u64) -> Load {
        let bufs: Vec<Sge> = (0..16).map(|_| w.buf(BLOCK)).collect();
        Load {
            qp,
            first_lba: idx * 1024,
            free: (0..bufs.len()).collect(),
            bufs,
            inflight: Default::default(),
            busy: Default::default(),
            expected: Default::default(),
            next_ctx: 1,
            next_ver: 1,
            completed: 0,
        }
    }

    fn seed(lba: u64, ver: u64) -> u64 {
        lba << 32 | ver
    }

    fn submit_some(&mut self, w: &World, ns: &Namespace<Fc>, rng: &mut Rng) {
        for _ in 0..rng.below(6) {
            let Some(buf) = self.free.pop() else { return };
            let lba = self.first_lba + rng.below(LOAD_LBAS);
            if self.busy.contains(&lba) {
                self.free.push(buf);
                continue;
            }
            let ctx = self.next_ctx;
            self.next_ctx += 1;
            let sge = self.bufs[buf];
            let op = match self.expected.get(&lba) {
                Some(&ver) if rng.below(2) == 0 => {
                    w.mem.write(sge.iova, &vec![0xEE; BLOCK as usize]).unwrap();
                    self.qp.submit_read(ns, lba, 1, &[sge], ctx).unwrap();
                    Op::Read { lba, ver, buf }
                }
                _ => {
                    let ver = self.next_ver;
                    self.next_ver += 1;
                    w.fill(sge, Self::seed(lba, ver));
                    self.qp.submit_write(ns, lba, 1, &[sge], ctx).unwrap();
                    Op::Write { lba, ver, buf }
                }
            };
            self.busy.insert(lba);
            self.inflight.insert(ctx, op);
        }
    }

    fn poll(&mut self, w: &World) {
        let mut done = Vec::new();
        self.qp.poll(64, |c| done.push(c));
        for c in done {
            assert!(c.status.is_success(), "I/O failed during bounce: {c:?}");
            let op = self
                .inflight
                .remove(&c.ctx)
                .expect("completion for an unknown ctx");
            self.completed += 1;
            match op {
                Op::Write { lba, ver, buf } => {
                    self.expected.insert(lba, ver);
                    self.busy.remove(&lba);
                    self.free.push(buf);
                }
                Op::Read { lba, ver, buf } => {
                    assert!(
                        w.check(self.bufs[buf], Self::seed(lba, ver)),
                        "lba {lba} read back wrong data"
                    );
                    self.busy.remove(&lba);
                    self.free.push(buf);
                }
            }
        }
    }
}

impl Load {
    /// The application drops this queue pair mid-run and takes a new one: what
    /// was in flight is gone (a write may or may not have landed, so its block
    /// is no longer verified until written again).
    fn requeue(self, w: &World, c: &Controller<Fc>) -> Load {
        let Load {
            qp,
            first_lba,
            bufs,
            inflight,
            mut expected,
            next_ctx,
            next_ver,
            completed,
            ..
        } = self;
        drop(qp);
        for op in inflight.values() {
            if let Op::Write { lba, .. } = op {
                expected.remove(lba);
            }
        }
        let mut qp = None;
        for _ in 0..10 {
            w.t.poll();
            if let Ok(q) = c.alloc_io_qpair() {
                qp = Some(q);
                break;
            }
        }
        let qp = qp.expect("the dropped queue pair's queue was not handed out again");
        Load {
            qp,
            first_lba,
            free: (0..bufs.len()).collect(),
            bufs,
            inflight: Default::default(),
            busy: Default::default(),
            expected,
            next_ctx,
            next_ver,
            completed,
        }
    }
}

#[test]
fn seed_bounce_under_load() {
    let mut w = World::new(None);
    let c = w.connect("");
    let ns = ns0(&c);
    let mut loads: Vec<Load> = (0..4)
        .map(|i| {
            let qp = c.alloc_io_qpair().unwrap();
            Load::new(&mut w, qp, i)
        })
        .collect();
    assert!(c.alloc_io_qpair().is_err(), "only 4 I/O queues");
    let mut rng = Rng(0x5EED_0000_0000_0001);
    let mut instances = vec![Arc::clone(&w.fc)];
    // Remote-port unregisters made through each instance.
    let mut unregs_by_instance = vec![0usize];
    let mut unregisters = 0u64;
    let mut requeues = 0;
    let mut dropped_stats = Vec::new();
    let round = |w: &World, loads: &mut Vec<Load>, rng: &mut Rng| {
        for l in loads.iter_mut() {
            l.submit_some(w, &ns, rng);
            l.poll(w);
        }
        w.t.poll();
    };
    for cycle in 0..200 {
        for _ in 0..rng.below(8) {
            round(&w, &mut loads, &mut rng);
        }
        let whole_lldd = rng.below(2) == 0;
        if whole_lldd {
            w.unregister_all();
        } else {
            w.fc.del_remote_port(w.reg(), w.rport).unwrap();
        }
        unregisters += 1;
        *unregs_by_instance.last_mut().unwrap() += 1;
        // Mid-run, while a teardown may be under way, one application thread
        // drops its queue pair and takes a new one.
        if cycle == 66 || cycle == 133 {
            let i = (cycle / 66) as usize;
            let l = loads.remove(i);
            dropped_stats.push(l.qp.stats());
            loads.insert(i, l.requeue(&w, &c));
            requeues += 1;
        }
        // Sometimes re-register at once (before the count drained), sometimes later.
        for _ in 0..rng.below(4) {
            round(&w, &mut loads, &mut rng);
            w.advance(Duration::from_millis(rng.below(1500)));
        }
        if whole_lldd {
            w.new_instance();
            instances.push(Arc::clone(&w.fc));
            unregs_by_instance.push(0);
        } else {
            w.fc.add_remote_port(w.reg(), w.lport, TGT_NN, TGT_PN, None)
                .unwrap();
        }
    }
    // Drain.
    for _ in 0..200 {
        round(&w, &mut loads, &mut rng);
        if c.state() == CtrlState::Live && loads.iter().all(|l| l.inflight.len() < 6) {
            break;
        }
    }
    for _ in 0..100 {
        for l in loads.iter_mut() {
            l.poll(&w);
        }
        w.t.poll();
        if loads.iter().all(|l| l.inflight.is_empty()) {
            break;
        }
    }
    assert_eq!(c.state(), CtrlState::Live);
    let mut total = 0;
    for l in &mut loads {
        assert!(
            l.inflight.is_empty(),
            "{} requests never completed",
            l.inflight.len()
        );
        assert_eq!(l.qp.stats().errors, 0);
        total += l.completed;
        // Every block reads back its last written version.
        let expected: Vec<(u64, u64)> = l.expected.iter().map(|(a, b)| (*a, *b)).collect();
        for (lba, ver) in expected {
            let sge = l.bufs[0];
            l.qp.submit_read(&ns, lba, 1, &[sge], 0).unwrap();
            let done = reap(&w, &mut l.qp, 1, 10);
            assert_eq!(done.len(), 1);
            assert!(done[0].status.is_success());
            assert!(w.check(sge, Load::seed(lba, ver)), "lba {lba}");
        }
    }
    assert!(total > 1000, "only {total} I/Os completed");
    let stats: Vec<_> = loads
        .iter()
        .map(|l| l.qp.stats())
        .chain(dropped_stats.iter().copied())
        .collect();
    let replayed: u64 = stats.iter().map(|s| s.replayed).sum();
    let attaches: u64 = stats.iter().map(|s| s.attaches).sum();
    assert!(stats.iter().all(|s| s.errors == 0));
    eprintln!(
        "bounce: {total} I/Os, {replayed} replayed, {attaches} attaches, {:?}",
        c.stats().unwrap().counters
    );
    assert!(
        replayed > 100,
        "bounces should interrupt I/O ({replayed} replayed)"
    );
    // Many bounces land while the controller is still connecting; still, it
    // must have come back many times.
    let connects = c.stats().unwrap().counters.connects;
    assert!(connects >= 30, "{connects} connects");
    assert!(
        attaches >= 4 * (connects - 1),
        "{attaches} attaches for {connects} connects"
    );
    // Every unregister got exactly one remoteport_delete.
    let remote: usize = instances
        .iter()
        .map(|f| f.remoteport_delete_count(w.rport))
        .sum();
    assert_eq!(remote as u64, unregisters);
    let local: usize = instances
        .iter()
        .map(|f| f.localport_delete_count(w.lport))
        .sum();
    assert_eq!(local, instances.len() - 1);
    let r = w.rstats();
    assert_eq!((r.deletes_issued, r.deletes_pending), (unregisters, 0));
    // Per instance: one remoteport_delete per unregister made through it, one
    // localport_delete for each instance that went away, none for the last.
    for (i, f) in instances.iter().enumerate() {
        assert_eq!(
            f.remoteport_delete_count(w.rport),
            unregs_by_instance[i],
            "instance {i}"
        );
        let gone = usize::from(i + 1 < instances.len());
        assert_eq!(f.localport_delete_count(w.lport), gone, "instance {i}");
    }
    assert_eq!(requeues, 2);
}

#[test]
fn stuck_qpair_does_not_hold_the_lldd() {
    let mut w = World::new(None);
    let (c, ns, mut qp) = live_with_qpair(&w, "");
    submit_writes(&mut w, &mut qp, &ns, 0, 8, 3);
    w.fc.del_remote_port(w.reg(), w.rport).unwrap();
    // The application thread stops polling its queue pair.
    w.poll(3);
    assert_eq!(w.fc.remoteport_delete_count(w.rport), 0);
    // Teardown bound (2 × R_A_TOV): management proceeds without it.
    w.advance(Duration::from_secs(20));
    w.t.poll();
    assert_eq!(w.fc.remoteport_delete_count(w.rport), 1);
    let st = c.stats().unwrap();
    assert_eq!(st.counters.quiesce_timeouts, 1);
    assert!(!st.assoc_active);
    // The thread comes back: its stale queue goes back, its requests are held and
    // complete once the port returns.
    assert!(reap(&w, &mut qp, 1, 3).is_empty());
    w.fc.add_remote_port(w.reg(), w.lport, TGT_NN, TGT_PN, None)
        .unwrap();
    let done = reap(&w, &mut qp, 8, 30);
    assert_eq!(done.len(), 8);
    assert!(done.iter().all(|c| c.status.is_success()), "{done:?}");
    verify_blocks(&mut w, &mut qp, &ns, 0, 8, 3);
}

#[test]
fn fast_io_fail_fails_held_io_but_keeps_reconnecting() {
    let mut w = World::new(None);
    let (c, ns, mut qp) = live_with_qpair(&w, ",fast_io_fail_tmo=3");
    submit_writes(&mut w, &mut qp, &ns, 0, 4, 0);
    w.fc.del_remote_port(w.reg(), w.rport).unwrap();
    let mut done = reap(&w, &mut qp, 4, 3);
    assert!(done.is_empty());
    w.advance(Duration::from_millis(2900));
    done.extend(reap(&w, &mut qp, 4, 3));
    assert!(done.is_empty(), "held until fast_io_fail_tmo");
    w.advance(Duration::from_millis(100));
    done.extend(reap(&w, &mut qp, 4, 3));
    assert_eq!(done.len(), 4);
    assert!(done.iter().all(|c| c.status == NvmeStatus::HOST_PATH_ERROR));
    assert_eq!(c.state(), CtrlState::Connecting);
    // New I/O fails fast too, until the controller is live again.
    let b = w.buf(BLOCK);
    qp.submit_read(&ns, 0, 1, &[b], 77).unwrap();
    assert_eq!(
        reap(&w, &mut qp, 1, 2)[0].status,
        NvmeStatus::HOST_PATH_ERROR
    );
    w.fc.add_remote_port(w.reg(), w.lport, TGT_NN, TGT_PN, None)
        .unwrap();
    w.poll(30);
    assert_eq!(c.state(), CtrlState::Live);
    submit_writes(&mut w, &mut qp, &ns, 8, 2, 1);
    let done = reap(&w, &mut qp, 2, 10);
    assert!(done.len() == 2 && done.iter().all(|c| c.status.is_success()));
}

#[test]
fn async_event_request_is_rearmed() {
    let w = World::new(None);
    let c = w.connect("");
    w.target.raise_async_event(SUBNQN, 0x0002_0002);
    w.poll(3);
    assert_eq!(c.stats().unwrap().counters.async_events, 1);
    w.target.raise_async_event(SUBNQN, 0x0002_0002);
    w.poll(3);
    assert_eq!(c.stats().unwrap().counters.async_events, 2);
    assert_eq!(c.state(), CtrlState::Live);
}

#[test]
fn connect_refused_with_dnr_deletes_the_controller() {
    let w = World::new(None);
    let tnn = Wwn(0x2000_0090_fa94_3000);
    let tpn = Wwn(0x1000_0090_fa94_3000);
    let mut cfg = SubsystemConfig::new("nqn.2024-01.io.ufc:closed");
    cfg.allow_any_host = false;
    cfg.allowed_hosts = vec!["nqn.2014-08.org.nvmexpress:uuid:someone-else".into()];
    let sub = Subsystem::new(cfg, vec![TargetNs::null(BLOCK, 8).unwrap()]).unwrap();
    w.fabric
        .add_target_port(tnn, tpn, 0x0002_0300, vec![sub])
        .unwrap();
    let rport =
        w.fc.add_remote_port(w.reg(), w.lport, tnn, tpn, None)
            .unwrap();
    let opts = ConnectOptions::parse(&format!(
        "traddr=nn-{tnn}:pn-{tpn},host_traddr=nn-{HOST_NN}:pn-{HOST_PN},nqn=nqn.2024-01.io.ufc:closed"
    ))
    .unwrap();
    let c = w.t.connect(opts).unwrap();
    w.poll(10);
    // CONNECT_INVALID_HOST with DNR: no reconnect, the controller is deleted and
    // its association accounting is back to zero.
    assert_eq!(c.state(), CtrlState::Deleted);
    assert_eq!(w.t.stats().rport(rport).unwrap().act_ctrl_cnt, 0);
    assert!(c.namespaces().is_empty());
}

/// Waits (yielding) for `cond`; the wall-clock bound only guards against a hang.
fn wait_for(mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "condition not reached"
        );
        std::thread::yield_now();
    }
}

#[test]
fn queue_pairs_on_their_own_threads_with_the_poller_thread() {
    let mut w = World::new(None);
    let poller = w.t.spawn_poller(Duration::from_micros(100)).unwrap();
    let c = w.t.connect(w.opts("")).unwrap();
    wait_for(|| c.state() == CtrlState::Live);
    let ns = ns0(&c);
    let mem = Arc::clone(&w.mem);
    let mut threads = Vec::new();
    for i in 0..4u64 {
        let mut qp = c.alloc_io_qpair().unwrap();
        let ns = ns.clone();
        let mem = Arc::clone(&mem);
        let wb = w.buf(BLOCK);
        let rb = w.buf(BLOCK);
        threads.push(std::thread::spawn(move || {
            for n in 0..200u64 {
                let lba = i * 1000 + n;
                let data = pattern(BLOCK, lba);
                mem.write(wb.iova, &data).unwrap();
                qp.submit_write(&ns, lba, 1, &[wb], 1).unwrap();
                let mut done = Vec::new();
                wait_for(|| {
                    qp.poll(8, |c| done.push(c));
                    !done.is_empty()
                });
                assert!(done[0].status.is_success());
                qp.submit_read(&ns, lba, 1, &[rb], 2).unwrap();
                done.clear();
                wait_for(|| {
                    qp.poll(8, |c| done.push(c));
                    !done.is_empty()
                });
                assert!(done[0].status.is_success());
                let mut got = vec![0u8; BLOCK as usize];
                mem.read(rb.iova, &mut got).unwrap();
                assert_eq!(got, data, "lba {lba}");
            }
            qp.stats()
        }));
    }
    for t in threads {
        let s = t.join().unwrap();
        assert_eq!((s.completed, s.errors), (400, 0));
    }
    drop(poller);
    w.t.poll();
    assert_eq!(
        c.stats().unwrap().qpairs_claimed,
        0,
        "dropped queue pairs came back"
    );
}

/// Item 1 of the review: the old registration's `remoteport_delete` must not
/// wait for associations of the new registration.
#[test]
fn seed_reregister_before_zero_two_controllers() {
    let mut w = World::new(None);
    let (c1, ns, mut qp) = live_with_qpair(&w, "");
    let c2 = w.connect("");
    submit_writes(&mut w, &mut qp, &ns, 0, 4, 0);
    assert_eq!(w.rstats().act_ctrl_cnt, 2);
    w.fc.del_remote_port(w.reg(), w.rport).unwrap();
    w.poll(3); // c2 torn down; c1 waits for its queue pair
    assert_eq!(w.rstats().act_ctrl_cnt, 1);
    assert_eq!(w.rstats().deletes_pending, 1);
    // The same instance registers the port again at once; c2 reconnects.
    w.fc.add_remote_port(w.reg(), w.lport, TGT_NN, TGT_PN, None)
        .unwrap();
    w.poll(30);
    assert_eq!(c2.state(), CtrlState::Live);
    assert_eq!(w.rstats().deletes_pending, 1, "c1's teardown still counts");
    // c1's queue pair answers: the old association ends and is paid for while
    // c2's association (new registration) stays active.
    let done = reap(&w, &mut qp, 4, 30);
    assert_eq!(done.len(), 4);
    assert!(done.iter().all(|c| c.status.is_success()), "{done:?}");
    w.poll(30);
    assert_eq!(c1.state(), CtrlState::Live);
    assert_eq!(c2.state(), CtrlState::Live);
    let r = w.rstats();
    assert_eq!(
        (r.deletes_pending, r.deletes_issued, r.act_ctrl_cnt),
        (0, 1, 2),
        "{r:?}"
    );
    assert_eq!(w.fc.remoteport_delete_count(w.rport), 1);
}

/// Item 2 of the review: a dropped queue pair's queue goes to the next queue
/// pair only once the exchanges it aborted have completed, so no stale
/// completion reaches a request of the new queue pair on the same tag.
#[test]
fn dropped_qpair_drains_its_queue_before_reuse() {
    let mut w = World::new(None);
    let (c, ns, mut qp) = live_with_qpair(&w, "");
    w.fabric
        .faults()
        .delay_next_fcp(1, Duration::from_millis(10));
    let b = w.buf(BLOCK);
    qp.submit_read(&ns, 1, 1, &[b], 1).unwrap();
    qp.poll(16, |_| {});
    assert_eq!(qp.outstanding(), 1);
    drop(qp);
    w.t.poll();
    let mut qp2 = c.alloc_io_qpair().unwrap();
    let b2 = w.buf(BLOCK);
    w.fill(b2, 5); // verify_blocks expects seed 3 + lba 2
    qp2.submit_write(&ns, 2, 1, &[b2], 2).unwrap();
    w.advance(Duration::from_millis(20));
    let done = reap(&w, &mut qp2, 1, 10);
    assert_eq!(done.len(), 1);
    assert!(done[0].status.is_success(), "{done:?}");
    assert_eq!(done[0].ctx, 2);
    assert_eq!(qp2.stats().stale_completions, 0);
    assert_eq!(qp2.stats().transport_errors, 0);
    let st = c.stats().unwrap();
    assert_eq!(
        st.counters.resets, 0,
        "stale completion reset the association"
    );
    assert_eq!(c.state(), CtrlState::Live);
    verify_blocks(&mut w, &mut qp2, &ns, 2, 1, 3);
}

/// Total CSN regressions the target saw on its live connections.
fn csn_out_of_order(w: &World) -> u64 {
    w.target
        .associations()
        .iter()
        .flat_map(|a| a.connections())
        .map(|c| c.stats().csn_out_of_order)
        .sum()
}

/// Item 3 of the review: a queue pair allocated on a queue another one
/// released continues the connection's CSN sequence (§4.7: CSNs only go up).
#[test]
fn csn_continues_when_a_queue_is_reclaimed() {
    let mut w = World::new(None);
    let (c, ns, mut qp) = live_with_qpair(&w, "");
    let qid = qp.qid();
    submit_writes(&mut w, &mut qp, &ns, 0, 8, 0);
    assert_eq!(reap(&w, &mut qp, 8, 10).len(), 8);
    drop(qp);
    w.t.poll();
    let mut qp2 = c.alloc_io_qpair().unwrap();
    assert_eq!(qp2.qid(), qid, "the released queue is handed out again");
    submit_writes(&mut w, &mut qp2, &ns, 8, 4, 0);
    let done = reap(&w, &mut qp2, 4, 10);
    assert_eq!(done.len(), 4);
    assert!(done.iter().all(|d| d.status.is_success()), "{done:?}");
    assert_eq!(csn_out_of_order(&w), 0);
    assert_eq!(c.stats().unwrap().counters.resets, 0);
}

/// Item 8 of the review: the remote port comes back while an association
/// attempt is failing because it left; the next attempt starts at once, not
/// after reconnect_delay (§2.6 step 5: resume queues the connect with 0 delay).
#[test]
fn reregister_during_a_failing_attempt_reconnects_at_once() {
    let w = World::new(None);
    let c = w.t.connect(w.opts("")).unwrap();
    w.t.poll(); // attempt 1 started: Create Association in flight
    assert_eq!(c.state(), CtrlState::Connecting);
    assert!(c.stats().unwrap().assoc_active);
    w.fc.del_remote_port(w.reg(), w.rport).unwrap();
    let rport =
        w.fc.add_remote_port(w.reg(), w.lport, TGT_NN, TGT_PN, w.dev_loss)
            .unwrap();
    assert_eq!(rport, w.rport);
    // No time passes: only an immediate attempt can bring the controller up.
    for _ in 0..30 {
        if c.state() == CtrlState::Live {
            break;
        }
        w.t.poll();
    }
    assert_eq!(c.state(), CtrlState::Live, "{:?}", c.stats());
    let st = c.stats().unwrap();
    assert_eq!(st.counters.failed_attempts, 1);
    assert_eq!(st.counters.connects, 1);
}

/// Item 9 of the review: a Disconnect Association that arrives through a new
/// LLDD instance (the ports were registered again while the old association
/// was still being torn down) is answered, after the teardown, through the
/// instance that received it.
#[test]
fn target_disconnect_during_rebind_is_answered_by_the_receiving_instance() {
    let mut w = World::new(None);
    let (c, ns, mut qp) = live_with_qpair(&w, "");
    let assoc = c.stats().unwrap().association_id;
    submit_writes(&mut w, &mut qp, &ns, 0, 4, 21);
    w.unregister_all();
    w.new_instance();
    assert!(w.target.disconnect_association(assoc));
    w.t.poll();
    assert_eq!(c.stats().unwrap().counters.target_disconnects, 1);
    assert!(
        w.target.ls_responses().is_empty(),
        "ACC deferred until the teardown"
    );
    qp.poll(256, |c| panic!("held I/O completed early: {c:?}"));
    w.poll(30);
    assert_eq!(c.state(), CtrlState::Live);
    let rsps = w.target.ls_responses();
    assert_eq!(rsps.len(), 1, "{rsps:?}");
    assert_eq!(rsps[0].1.first(), Some(&2), "LS_ACC: {rsps:?}");
    let done = reap(&w, &mut qp, 4, 20);
    assert_eq!(done.len(), 4);
    assert!(done.iter().all(|d| d.status.is_success()), "{done:?}");
    verify_blocks(&mut w, &mut qp, &ns, 0, 4, 21);
}

/// Item 10 of the review: fast_io_fail_tmo of an earlier outage must not reach
/// a queue pair claimed during a later one: its I/O is held, not failed.
#[test]
fn queue_pair_claimed_later_does_not_see_an_old_fast_io_fail() {
    let mut w = World::new(None);
    let (c, ns, mut qp) = live_with_qpair(&w, ",fast_io_fail_tmo=3");
    // First outage: fast_io_fail_tmo fires while queues 2..4 have no queue pair.
    w.fc.del_remote_port(w.reg(), w.rport).unwrap();
    reap(&w, &mut qp, 1, 3);
    w.advance(Duration::from_secs(4));
    reap(&w, &mut qp, 1, 3);
    w.fc.add_remote_port(w.reg(), w.lport, TGT_NN, TGT_PN, None)
        .unwrap();
    w.poll(30);
    assert_eq!(c.state(), CtrlState::Live);
    // Second outage, fast_io_fail_tmo not reached: a new queue pair holds.
    w.fc.del_remote_port(w.reg(), w.rport).unwrap();
    reap(&w, &mut qp, 1, 3);
    assert_eq!(c.state(), CtrlState::Connecting);
    let mut qp2 = c.alloc_io_qpair().unwrap();
    assert_ne!(qp2.qid(), qp.qid());
    let bufs = submit_writes(&mut w, &mut qp2, &ns, 40, 2, 6);
    assert_eq!(bufs.len(), 2);
    let early = reap(&w, &mut qp2, 1, 3);
    assert!(early.is_empty(), "held, not failed: {early:?}");
    w.fc.add_remote_port(w.reg(), w.lport, TGT_NN, TGT_PN, None)
        .unwrap();
    w.poll(30);
    assert_eq!(c.state(), CtrlState::Live);
    let done = reap(&w, &mut qp2, 2, 20);
    assert_eq!(done.len(), 2);
    assert!(done.iter().all(|d| d.status.is_success()), "{done:?}");
    verify_blocks(&mut w, &mut qp2, &ns, 40, 2, 6);
}

/// Item 12 of the review: dev_loss_tmo timing is exact. The controller is
/// deleted by the first management poll at dev_loss_tmo, not before, even when
/// reconnect_delay (10 s with ctrl_loss_tmo=-1) would come later.
#[test]
fn dev_loss_deletes_exactly_at_its_deadline() {
    let mut w = World::new(Some(Duration::from_secs(7)));
    let (c, ns, mut qp) = live_with_qpair(&w, ",ctrl_loss_tmo=-1");
    submit_writes(&mut w, &mut qp, &ns, 0, 3, 0);
    w.fc.del_remote_port(w.reg(), w.rport).unwrap();
    qp.poll(256, |c| panic!("held I/O completed early: {c:?}"));
    w.poll(3);
    assert_eq!(c.state(), CtrlState::Connecting);
    w.advance(Duration::from_millis(6999));
    w.poll(3);
    qp.poll(256, |c| panic!("failed before dev_loss_tmo: {c:?}"));
    assert_eq!(
        c.state(),
        CtrlState::Connecting,
        "deleted before dev_loss_tmo"
    );
    w.advance(Duration::from_millis(1));
    w.t.poll();
    assert_eq!(
        c.state(),
        CtrlState::Deleted,
        "not deleted by the first poll at dev_loss_tmo"
    );
    let done = reap(&w, &mut qp, 3, 1);
    assert_eq!(done.len(), 3);
    assert!(done.iter().all(|d| d.status == NvmeStatus::HOST_PATH_ERROR));
    assert_eq!(w.fc.remoteport_delete_count(w.rport), 1);
}

/// Item 12 of the review: two controllers on the remote port, the whole LLDD
/// goes away and a new instance registers the same WWNs while both old
/// associations are still being torn down. The old instance gets exactly one
/// remoteport_delete and one localport_delete, after both associations ended;
/// the new instance gets none; both controllers resume with no I/O error.
#[test]
fn seed_rebind_two_controllers_new_instance() {
    let mut w = World::new(None);
    let (c1, ns1, mut qp1) = live_with_qpair(&w, "");
    let (c2, ns2, mut qp2) = live_with_qpair(&w, "");
    submit_writes(&mut w, &mut qp1, &ns1, 0, 4, 31);
    submit_writes(&mut w, &mut qp2, &ns2, 100, 4, 32);
    assert_eq!(w.rstats().act_ctrl_cnt, 2);
    w.unregister_all();
    let old = Arc::clone(&w.fc);
    w.new_instance();
    w.poll(3);
    assert_eq!(old.remoteport_delete_count(w.rport), 0);
    // c1's queue pair answers first: one association still counts.
    qp1.poll(256, |c| panic!("held I/O completed early: {c:?}"));
    w.poll(3);
    assert_eq!(old.remoteport_delete_count(w.rport), 0, "c2 still active");
    assert_eq!(old.localport_delete_count(w.lport), 0);
    qp2.poll(256, |c| panic!("held I/O completed early: {c:?}"));
    w.poll(30);
    assert_eq!(old.remoteport_delete_count(w.rport), 1);
    assert_eq!(old.localport_delete_count(w.lport), 1);
    assert!(
        w.fc.delete_events().is_empty(),
        "new instance got a callback"
    );
    assert_eq!((c1.state(), c2.state()), (CtrlState::Live, CtrlState::Live));
    for (qp, ns, base, seed) in [(&mut qp1, &ns1, 0, 31), (&mut qp2, &ns2, 100, 32)] {
        let done = reap(&w, qp, 4, 20);
        assert_eq!(done.len(), 4);
        assert!(done.iter().all(|d| d.status.is_success()), "{done:?}");
        verify_blocks(&mut w, qp, ns, base, 4, seed);
    }
    w.poll(5);
    assert_eq!(old.remoteport_delete_count(w.rport), 1);
    assert_eq!(old.localport_delete_count(w.lport), 1);
    let r = w.rstats();
    assert_eq!(
        (r.deletes_issued, r.deletes_pending, r.act_ctrl_cnt),
        (1, 0, 2)
    );
}
