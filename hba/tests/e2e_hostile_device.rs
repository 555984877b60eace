//! A hostile device end to end (issue 5 "e2e_hostile_device"): the emulated
//! Lancer G7 corrupts one in every few FC-NVMe completions
//! (`Sli4Faults::hostile`, see `ufc_emu::sli4::HostileKind` for what each
//! kind writes and whether the real completion is lost) while verified
//! writes and reads run through the driver and the transport.
//!
//! Each kind, and a mix of all, with the model inline and on its own
//! thread. For every run: nothing panics; every I/O ends, and every one that
//! succeeds read back the data written (no I/O fails: the transport retries
//! what the driver refuses); the recovery the kind needs happened (the
//! transport's abort after its I/O timeout, an association reset after a
//! response the driver or the transport refused); and after `hostile_off`
//! verified I/O runs clean, with no new timeout, retry or transport error.

// Test scaffolding: a failed setup is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{connect, ram_target_rig_mode, ModelMode, Rig};
use ufc_emu::sli4::{HostileConfig, HostileKind, HostileKinds};
use ufc_hba::driver::HbaLldd;
use ufc_transport::lldd::{DmaBuffer, Sge};
use ufc_transport::{CtrlState, IoCompletion, IoQpair, Namespace, QpairStats};

const BLOCK: usize = 4096;
/// I/Os per batch (queue_size 32: all fit at once).
const BLOCKS: usize = 16;
/// Clock bound of one batch: room for several timeout + abort-bound +
/// reconnect cycles (30 s + 10 s + 2 s each).
const BATCH_CLOCK: Duration = Duration::from_secs(1800);
/// Real-time bound of a batch: only turns a hang into a failure, so
/// generous enough for a run under valgrind (about 50 times slower).
const BATCH_WALL: Duration = Duration::from_secs(900);

type Qp = IoQpair<<HbaLldd as ufc_transport::lldd::Lldd>::HwQueue>;

fn pattern(seed: u64, block: usize) -> Vec<u8> {
    (0..BLOCK)
        .map(|i| (i as u8).wrapping_mul(37) ^ (block as u8) ^ (seed as u8).wrapping_mul(11))
        .collect()
}

/// Polls the queue pair, the driver and the transport until `n` completions
/// came, moving the clock `step` a round when a round delivered nothing.
fn reap(rig: &mut Rig, qp: &mut Qp, n: usize) -> Vec<IoCompletion> {
    // Inline, a round runs the model to quiescence; with the model on its
    // own thread the clock moves in small steps so it never outruns the
    // model by more than a fraction of a timeout.
    let step = match rig.mode {
        ModelMode::Inline => Duration::from_millis(10),
        ModelMode::Thread => Duration::from_millis(1),
    };
    let start = Instant::now();
    let mut clock = Duration::ZERO;
    let mut done = Vec::new();
    while done.len() < n {
        let before = done.len();
        qp.poll(64, |d| done.push(d));
        rig.hba.poll().unwrap();
        rig.transport.poll();
        if done.len() == before {
            rig.hand.advance(step);
            clock += step;
            std::thread::yield_now();
        }
        assert!(
            clock < BATCH_CLOCK && start.elapsed() < BATCH_WALL,
            "{} of {n} I/Os ended in {clock:?}: {:?} {:?}",
            done.len(),
            qp.stats(),
            rig.faults.stats()
        );
    }
    done
}

/// One batch of writes of `seed`'s pattern to LBAs 0..BLOCKS, then reads;
/// asserts every I/O succeeded and every block read back as written.
fn verified_batch(rig: &mut Rig, qp: &mut Qp, ns: &Namespace<HbaLldd>, seed: u64) {
    let lldd = rig.hba.lldd().unwrap();
    let mut wbuf = lldd.alloc_buffer(BLOCK * BLOCKS).unwrap();
    let rbuf = lldd.alloc_buffer(BLOCK * BLOCKS).unwrap();
    let sge = |buf: &dyn DmaBuffer, b: usize| Sge {
        iova: buf.iova() + (b * BLOCK) as u64,
        len: BLOCK as u32,
    };
    for b in 0..BLOCKS {
        wbuf.write(b * BLOCK, &pattern(seed, b));
        qp.submit_write(ns, b as u64, 1, &[sge(&wbuf, b)], b as u64)
            .unwrap();
    }
    qp.flush();
    let done = reap(rig, qp, BLOCKS);
    assert!(
        done.iter().all(|d| d.status.is_success()),
        "every write ends well: {done:?}"
    );
    for b in 0..BLOCKS {
        qp.submit_read(ns, b as u64, 1, &[sge(&rbuf, b)], 100 + b as u64)
            .unwrap();
    }
    qp.flush();
    let done = reap(rig, qp, BLOCKS);
    assert!(
        done.iter().all(|d| d.status.is_success()),
        "every read ends well: {done:?}"
    );
    for b in 0..BLOCKS {
        let mut got = vec![0u8; BLOCK];
        rbuf.read(b * BLOCK, &mut got);
        assert!(got == pattern(seed, b), "block {b} read back wrong");
    }
}

/// What a hostile run must have shown.
#[derive(Clone, Copy, Debug)]
struct Expect {
    /// Some completions are lost: the transport's abort after its I/O
    /// timeout finds no exchange in the port (local reject "no abort
    /// match"); the driver ties that answer to its victim, ends it as
    /// aborted with its XRI free, and the transport retries the command on
    /// the same association.
    lost: bool,
    /// Some responses are refused (a truncated or garbage ERSP): a transport
    /// error, the association is reset and the command resubmitted.
    refused: bool,
}

fn expect(kinds: HostileKinds) -> Expect {
    let any = |f: fn(HostileKind) -> bool| {
        HostileKind::ALL
            .into_iter()
            .any(|k| kinds.contains(k) && f(k))
    };
    Expect {
        lost: any(|k| matches!(k, HostileKind::BadRequestTag | HostileKind::UnknownCode)),
        refused: any(|k| matches!(k, HostileKind::TruncatedErsp | HostileKind::GarbageErsp)),
    }
}

fn delta(a: QpairStats, b: QpairStats) -> (u64, u64, u64, u64) {
    (
        b.timeouts - a.timeouts,
        b.retries - a.retries,
        b.transport_errors - a.transport_errors,
        b.errors - a.errors,
    )
}

fn hostile_run(mode: ModelMode, cfg: HostileConfig) {
    let mut rig = ram_target_rig_mode(mode);
    let c = connect(&mut rig, 1);
    let ns = c.namespaces().into_iter().next().expect("a namespace");
    let mut qp = c.alloc_io_qpair().unwrap();
    // The first poll attaches the queue pair to the association.
    qp.poll(1, |d| panic!("nothing submitted yet: {d:?}"));
    let model0 = rig.faults.stats();
    let q0 = qp.stats();
    assert_eq!(q0.attaches, 1, "{q0:?}");

    rig.faults.hostile(cfg);
    verified_batch(&mut rig, &mut qp, &ns, cfg.seed);
    rig.faults.hostile_off();

    let model1 = rig.faults.stats();
    let q1 = qp.stats();
    let hostile = model1.hostile_cqes - model0.hostile_cqes;
    assert!(hostile > 0, "the device was hostile: {model1:?}");
    let (timeouts, retries, transport_errors, errors) = delta(q0, q1);
    assert_eq!(errors, 0, "no I/O failed: {q1:?}");
    let want = expect(cfg.kinds);
    let resets = q1.attaches - q0.attaches;
    let stuck = q1.stuck - q0.stuck;
    // With refused responses in the mix, an association reset may take a
    // lost exchange back before its I/O timeout.
    if want.lost && !want.refused {
        assert!(
            timeouts > 0 && retries > 0,
            "lost completions are found by the I/O timeout and retried: {q1:?}"
        );
        assert_eq!(
            (stuck, resets),
            (0, 0),
            "the abort ends a lost exchange; no association reset: {q1:?}"
        );
    }
    if want.refused {
        assert!(
            transport_errors > 0 && retries > 0 && resets > 0,
            "refused responses reset the association: {q1:?}"
        );
    }
    if !want.lost && !want.refused {
        // Nothing lost, nothing refused (the driver bounds the length, drops
        // the stray XRI-aborted CQE, drains the EQ): no recovery needed.
        assert_eq!(
            (timeouts, retries, transport_errors, stuck, resets),
            (0, 0, 0, 0, 0),
            "{cfg:?}: {q1:?}"
        );
    }
    // The management path saw none of it but the stray EQEs (the port's one
    // EQ is drained there): the other bad entries were all on the I/O
    // queues' CQs, counted in `Hba::io_input_errors`.
    let mgmt = rig.hba.input_errors();
    let stray_eqes = mgmt.bad_eqe_cq;
    assert_eq!(
        ufc_hba::driver::DeviceInputErrors {
            bad_eqe_cq: 0,
            ..mgmt
        },
        Default::default()
    );
    let io = rig.hba.io_input_errors();
    let drawn: Vec<HostileKind> = HostileKind::ALL
        .into_iter()
        .filter(|k| cfg.kinds.contains(*k))
        .collect();
    if drawn.len() > 1 {
        // A mix draws some kinds only: something was refused and counted.
        let sum =
            io.bad_tag + io.bad_xri + io.bad_length + io.unknown_cqe + io.bad_rsp + stray_eqes;
        assert!(sum > 0, "the mix counted in io_input_errors: {io:?}");
    }
    if let [k] = drawn[..] {
        let counted = match k {
            HostileKind::BadRequestTag => Some(io.bad_tag),
            HostileKind::BadXri => Some(io.bad_xri),
            HostileKind::BadLength => Some(io.bad_length),
            HostileKind::UnknownCode => Some(io.unknown_cqe),
            HostileKind::TruncatedErsp => Some(io.bad_rsp),
            // 32 bytes are an ERSP's length: the transport decodes them and
            // refuses the garbage (a transport error, asserted above).
            HostileKind::GarbageErsp => None,
            HostileKind::BadEqCqId => Some(stray_eqes),
        };
        if let Some(n) = counted {
            assert!(n > 0, "{k:?} counted in io_input_errors: {io:?}");
        }
    }
    // The port never failed over it: no reset, no port error.
    assert_eq!(rig.hba.stats().resets, 0, "{:?}", rig.hba.stats());
    assert_eq!(model1.dma_errors, 0, "{model1:?}");

    // Clean again: the controller is (or comes back) LIVE and verified I/O
    // needs no recovery.
    let live = rig.poll_until(10_000, |_| c.state() == CtrlState::Live);
    assert!(
        live,
        "controller not live after hostile mode: {:?}",
        c.stats()
    );
    let q2 = qp.stats();
    verified_batch(&mut rig, &mut qp, &ns, cfg.seed + 1);
    let q3 = qp.stats();
    assert_eq!(
        delta(q2, q3),
        (0, 0, 0, 0),
        "clean after hostile_off: {q3:?}"
    );
    let model3 = rig.faults.stats();
    assert_eq!(model3.hostile_cqes, model1.hostile_cqes);
    assert_eq!(
        (
            model3.doorbell_errors,
            model3.dma_errors,
            model3.mailbox_errors
        ),
        (0, 0, 0),
        "{model3:?}"
    );
    // Every exchange comes back: once the controller is gone, each pair is
    // idle and each XRI free, lost completions included.
    drop(qp);
    c.delete().unwrap();
    let lldd = rig.hba.lldd().unwrap();
    let idle = rig.poll_until(10_000, |_| {
        let s = lldd.io_pool_stats();
        s.idle == s.pairs && s.idle_xris_xb_wait == 0
    });
    let pool = lldd.io_pool_stats();
    assert!(idle, "{pool:?}");
    assert_eq!(pool.idle_xris_orphaned, 0, "{pool:?} {q1:?}");
    assert_eq!(pool.idle_xris_free, pool.idle_xris, "{pool:?}");
    rig.hba.shutdown().unwrap();
}

macro_rules! hostile_tests {
    ($($name:ident: $mode:expr, $cfg:expr;)*) => {
        $(
            #[test]
            fn $name() {
                hostile_run($mode, $cfg);
            }
        )*
    };
}

const EVERY: u32 = 5;

hostile_tests! {
    e2e_hostile_device_bad_request_tag_inline: ModelMode::Inline, HostileConfig::only(HostileKind::BadRequestTag, EVERY, 1);
    e2e_hostile_device_bad_request_tag_thread: ModelMode::Thread, HostileConfig::only(HostileKind::BadRequestTag, EVERY, 1);
    e2e_hostile_device_bad_xri_inline: ModelMode::Inline, HostileConfig::only(HostileKind::BadXri, EVERY, 2);
    e2e_hostile_device_bad_xri_thread: ModelMode::Thread, HostileConfig::only(HostileKind::BadXri, EVERY, 2);
    e2e_hostile_device_bad_length_inline: ModelMode::Inline, HostileConfig::only(HostileKind::BadLength, EVERY, 3);
    e2e_hostile_device_bad_length_thread: ModelMode::Thread, HostileConfig::only(HostileKind::BadLength, EVERY, 3);
    e2e_hostile_device_unknown_code_inline: ModelMode::Inline, HostileConfig::only(HostileKind::UnknownCode, EVERY, 4);
    e2e_hostile_device_unknown_code_thread: ModelMode::Thread, HostileConfig::only(HostileKind::UnknownCode, EVERY, 4);
    e2e_hostile_device_bad_eq_cq_id_inline: ModelMode::Inline, HostileConfig::only(HostileKind::BadEqCqId, EVERY, 5);
    e2e_hostile_device_bad_eq_cq_id_thread: ModelMode::Thread, HostileConfig::only(HostileKind::BadEqCqId, EVERY, 5);
    e2e_hostile_device_truncated_ersp_inline: ModelMode::Inline, HostileConfig::only(HostileKind::TruncatedErsp, EVERY, 6);
    e2e_hostile_device_truncated_ersp_thread: ModelMode::Thread, HostileConfig::only(HostileKind::TruncatedErsp, EVERY, 6);
    e2e_hostile_device_garbage_ersp_inline: ModelMode::Inline, HostileConfig::only(HostileKind::GarbageErsp, EVERY, 7);
    e2e_hostile_device_garbage_ersp_thread: ModelMode::Thread, HostileConfig::only(HostileKind::GarbageErsp, EVERY, 7);
    e2e_hostile_device_mix_inline: ModelMode::Inline, HostileConfig::mix(EVERY, 8);
    e2e_hostile_device_mix_thread: ModelMode::Thread, HostileConfig::mix(EVERY, 8);
}

/// A completion the port lost (here: written with a request tag out of
/// range) costs no XRI: the transport's abort finds nothing in the port,
/// the ABORT_WQE's "no abort match" names its victim through the ABORT's
/// request tag, and the driver ends the exchange with its XRI free.
#[test]
fn e2e_hostile_device_lost_completions_leave_no_xri_behind() {
    let mut rig = ram_target_rig_mode(ModelMode::Inline);
    let c = connect(&mut rig, 1);
    let ns = c.namespaces().into_iter().next().expect("a namespace");
    let mut qp = c.alloc_io_qpair().unwrap();
    rig.faults
        .hostile(HostileConfig::only(HostileKind::BadRequestTag, EVERY, 1));
    verified_batch(&mut rig, &mut qp, &ns, 1);
    rig.faults.hostile_off();
    assert!(rig.faults.stats().hostile_cqes > 0);
    drop(qp);
    c.delete().unwrap();
    let lldd = rig.hba.lldd().unwrap();
    let clean = rig.poll_until(10_000, |_| {
        let s = lldd.io_pool_stats();
        s.idle == s.pairs && s.idle_xris_free == s.idle_xris
    });
    assert!(clean, "XRIs left behind: {:?}", lldd.io_pool_stats());
}
