//! Aborted FC-NVMe exchanges end to end (issue 5 "e2e_abort"): the driver
//! on the emulated Lancer G7, the transport, the emulated target with a RAM
//! namespace.
//!
//! - The target drops one command (`Sli4Faults::drop_next_fcp`): the
//!   transport's I/O timeout fires, the driver sends ABORT_WQE, the port
//!   completes the exchange "abort requested" with XB and sends the ABTS,
//!   the target's BA_ACC brings the XRI-aborted CQE, and the transport
//!   resubmits the command, which succeeds. The application sees no error.
//! - The target aborts one command itself (`Sli4Faults::target_abts_next_fcp`):
//!   its ABTS reaches the driver through the RQ pair, the driver answers
//!   BA_ACC with XMIT_BLS_RSP, the port completes the exchange as aborted
//!   (status 0x02, XB=0); the transport takes the unexpected abort as a
//!   transport error, resets the association and resubmits the command on
//!   the new one. No application error.
//!
//! Each runs with the model inline (driven by the driver's polls) and on its
//! own thread. The manual clock moves only where a test says so.

// Test scaffolding: a failed setup is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{connect, ram_target_rig_mode, ModelMode, Rig};
use ufc_emu::sli4::Sli4Stats;
use ufc_hba::driver::HbaLldd;
use ufc_transport::lldd::{DmaBuffer, Sge};
use ufc_transport::{IoCompletion, IoQpair};

const BLOCK: usize = 4096;
/// Where the test writes.
const LBA: u64 = 40;
/// The transport's default I/O timeout (Linux `nvme_io_timeout`).
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Real-time bound of a wait for the model thread (never reached when the
/// test passes; it only turns a hang into a failure).
const WAIT: Duration = Duration::from_secs(30);

type Qp = IoQpair<<HbaLldd as ufc_transport::lldd::Lldd>::HwQueue>;

fn pattern(seed: u8) -> Vec<u8> {
    (0..BLOCK)
        .map(|i| (i as u8).wrapping_mul(29) ^ seed.wrapping_add(0x3C))
        .collect()
}

/// Polls the queue pair, the driver and the transport until `until` holds
/// (no clock movement), bounded in real time; the completions seen.
fn poll_until(
    rig: &mut Rig,
    qp: &mut Qp,
    mut until: impl FnMut(&Rig, &Qp, &[IoCompletion]) -> bool,
) -> Vec<IoCompletion> {
    let start = Instant::now();
    let mut done = Vec::new();
    loop {
        qp.poll(64, |d| done.push(d));
        rig.hba.poll().unwrap();
        rig.transport.poll();
        if until(rig, qp, &done) {
            return done;
        }
        assert!(
            start.elapsed() < WAIT,
            "no progress: {done:?} {:?} {:?}",
            qp.stats(),
            rig.faults.stats()
        );
        std::thread::yield_now();
    }
}

/// Polls while advancing the clock 1 ms a round until `until` holds, at
/// most `clock_limit` of clock time.
fn poll_advancing(
    rig: &mut Rig,
    qp: &mut Qp,
    clock_limit: Duration,
    mut until: impl FnMut(&Rig, &Qp, &[IoCompletion]) -> bool,
) -> Vec<IoCompletion> {
    let mut done = Vec::new();
    let step = Duration::from_millis(1);
    let mut spent = Duration::ZERO;
    while spent < clock_limit {
        qp.poll(64, |d| done.push(d));
        rig.hba.poll().unwrap();
        rig.transport.poll();
        if until(rig, qp, &done) {
            return done;
        }
        rig.hand.advance(step);
        spent += step;
        std::thread::yield_now();
    }
    panic!(
        "not done within {clock_limit:?}: {done:?} {:?} {:?}",
        qp.stats(),
        rig.faults.stats()
    );
}

/// Reads block `lba` back (no clock movement) and compares it with `want`.
fn read_back(rig: &mut Rig, qp: &mut Qp, ns: &ufc_transport::Namespace<HbaLldd>, want: &[u8]) {
    let lldd = rig.hba.lldd().unwrap();
    let rbuf = lldd.alloc_buffer(BLOCK).unwrap();
    let sge = Sge {
        iova: rbuf.iova(),
        len: BLOCK as u32,
    };
    qp.submit_read(ns, LBA, 1, &[sge], 99).unwrap();
    qp.flush();
    let done = poll_until(rig, qp, |_, _, d| !d.is_empty());
    assert_eq!(done.len(), 1, "{done:?}");
    assert!(done[0].status.is_success(), "{done:?}");
    let mut got = vec![0u8; BLOCK];
    rbuf.read(0, &mut got);
    assert!(
        got == want,
        "the block read back differs from the one written"
    );
}

/// The model saw no driver mistake (mailbox, doorbell, DMA, CQ overflow)
/// and exactly `aborted` WQE errors since `before`: the aborted exchanges.
fn assert_no_driver_mistake(rig: &Rig, before: &Sli4Stats, aborted: u64) {
    let s = rig.assert_model_clean_but_wqes();
    assert_eq!(s.wqe_errors - before.wqe_errors, aborted, "{s:?}");
}

fn dropped_command_is_aborted_and_retried(mode: ModelMode) {
    let mut rig = ram_target_rig_mode(mode);
    let c = connect(&mut rig, 1);
    let ns = c.namespaces().into_iter().next().expect("a namespace");
    let lldd = rig.hba.lldd().unwrap();
    let mut qp = c.alloc_io_qpair().unwrap();
    let mut wbuf = lldd.alloc_buffer(BLOCK).unwrap();
    let data = pattern(1);
    wbuf.write(0, &data);
    let sge = Sge {
        iova: wbuf.iova(),
        len: BLOCK as u32,
    };
    let before = rig.faults.stats();

    // The next FCP command is the write: the target never answers it.
    rig.faults.drop_next_fcp(1);
    qp.submit_write(&ns, LBA, 1, &[sge], 7).unwrap();
    qp.flush();
    let done = poll_until(&mut rig, &mut qp, |r, _, _| {
        r.faults.stats().fcp_dropped == before.fcp_dropped + 1
    });
    assert!(done.is_empty(), "{done:?}");
    assert_eq!(qp.outstanding(), 1);

    // The I/O timeout fires: ABORT_WQE, the victim completes "abort
    // requested" with XB, the transport resubmits; the retry succeeds.
    let done = poll_advancing(
        &mut rig,
        &mut qp,
        IO_TIMEOUT + Duration::from_secs(5),
        |_, q, _| q.stats().timeouts == 1,
    );
    assert!(
        done.is_empty(),
        "the application sees nothing yet: {done:?}"
    );
    let done = poll_until(&mut rig, &mut qp, |_, _, d| !d.is_empty());
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].ctx, 7);
    assert!(
        done[0].status.is_success(),
        "no application error: {done:?}"
    );
    let q = qp.stats();
    assert_eq!(
        (q.timeouts, q.retries, q.errors, q.transport_errors),
        (1, 1, 0, 0),
        "{q:?}"
    );
    // The port aborted the exchange with an ABTS: the target's BA_ACC
    // reached the model (frames received) and the XRI-aborted CQE followed;
    // the XRI is reused below without a WQE error.
    let s = rig.faults.stats();
    assert_eq!(s.fcp_dropped, before.fcp_dropped + 1, "{s:?}");
    assert!(s.frames_received > before.frames_received, "{s:?}");
    read_back(&mut rig, &mut qp, &ns, &data);
    assert_eq!(qp.stats().errors, 0);
    assert_no_driver_mistake(&rig, &before, 1);
    assert_eq!(rig.hba.input_errors(), Default::default());
    drop(qp);
    c.delete().unwrap();
    rig.hba.shutdown().unwrap();
}

fn target_abts_is_answered_and_retried(mode: ModelMode) {
    let mut rig = ram_target_rig_mode(mode);
    let c = connect(&mut rig, 1);
    let ns = c.namespaces().into_iter().next().expect("a namespace");
    let lldd = rig.hba.lldd().unwrap();
    let mut qp = c.alloc_io_qpair().unwrap();
    let mut wbuf = lldd.alloc_buffer(BLOCK).unwrap();
    let data = pattern(2);
    wbuf.write(0, &data);
    let sge = Sge {
        iova: wbuf.iova(),
        len: BLOCK as u32,
    };
    let before = rig.faults.stats();

    rig.faults.target_abts_next_fcp(1);
    qp.submit_write(&ns, LBA, 1, &[sge], 8).unwrap();
    qp.flush();
    // The ABTS reaches the driver through the RQ pair, the driver answers
    // BA_ACC, the exchange ends aborted and the transport retries it on a
    // new association (the clock moves for the reconnect, never up to the
    // I/O timeout).
    let done = poll_advancing(
        &mut rig,
        &mut qp,
        IO_TIMEOUT - Duration::from_secs(1),
        |_, _, d| !d.is_empty(),
    );
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].ctx, 8);
    assert!(
        done[0].status.is_success(),
        "no application error: {done:?}"
    );
    let s = rig.faults.stats();
    assert_eq!(s.abts_sent, before.abts_sent + 1, "{s:?}");
    assert_eq!(
        (s.bls_responses, s.ba_rjts),
        (before.bls_responses + 1, before.ba_rjts),
        "the driver answered BA_ACC: {s:?}"
    );
    let h = rig.hba.stats();
    assert_eq!(
        (h.abts_received, h.ba_accs, h.ba_rjts),
        (1, 1, 0),
        "the driver's side: {h:?}"
    );
    // An abort the transport did not ask for is a transport error:
    // management resets the association and the write is retried on the
    // new one.
    let q = qp.stats();
    assert_eq!(
        (q.timeouts, q.errors, q.transport_errors, q.retries),
        (0, 0, 1, 1),
        "{q:?}"
    );
    // Held, not resubmitted on the association being reset: the write went
    // out again once, on the new association.
    assert_eq!((q.attaches, q.replayed), (2, 1), "{q:?}");
    read_back(&mut rig, &mut qp, &ns, &data);
    assert_eq!(qp.stats().errors, 0);
    // Two WQE errors: the victim's "remote stop", and the admin queue's
    // Async Event Request aborted by the association reset.
    assert_no_driver_mistake(&rig, &before, 2);
    assert_eq!(rig.hba.input_errors(), Default::default());
    drop(qp);
    c.delete().unwrap();
    rig.hba.shutdown().unwrap();
}

#[test]
fn e2e_abort_dropped_command_inline() {
    dropped_command_is_aborted_and_retried(ModelMode::Inline);
}

#[test]
fn e2e_abort_dropped_command_thread() {
    dropped_command_is_aborted_and_retried(ModelMode::Thread);
}

#[test]
fn e2e_abort_target_abts_inline() {
    target_abts_is_answered_and_retried(ModelMode::Inline);
}

#[test]
fn e2e_abort_target_abts_thread() {
    target_abts_is_answered_and_retried(ModelMode::Thread);
}
