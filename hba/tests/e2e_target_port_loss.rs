//! The target port leaves the fabric with I/O in flight and stays gone past
//! ctrl_loss_tmo: the driver unregisters it, the transport holds the I/O,
//! then fails it with a host path error and deletes the controller. Every
//! exchange (XRI), queue pair and DMA buffer comes back: the pool counters
//! after are those before.

// Test scaffolding: a failed setup is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{ram_target_rig_mode, ModelMode, Rig};
use ufc_hba::driver::IoPoolStats;
use ufc_transport::lldd::{DmaBuffer, Sge};
use ufc_transport::{ConnectOptions, CtrlState, IoCompletion, NvmeStatus};

const BLOCK: usize = 4096;
/// Writes in flight when the target leaves, and submitted while it is gone.
const IN_FLIGHT: usize = 8;
const QUEUED: usize = 8;
/// Seconds of ctrl_loss_tmo (reconnect_delay 1 s).
const CTRL_LOSS_S: u64 = 3;

/// The pool with every pair home and every exchange free.
fn assert_pool_clean(s: IoPoolStats, what: &str) {
    assert!(s.pairs > 0, "{what}: {s:?}");
    assert_eq!(s.idle, s.pairs, "{what}: every pair home: {s:?}");
    assert_eq!(
        (s.idle_xris_free, s.idle_xris_xb_wait, s.idle_xris_orphaned),
        (s.idle_xris, 0, 0),
        "{what}: every XRI free: {s:?}"
    );
}

fn target_port_loss(mode: ModelMode) {
    let mut rig: Rig = ram_target_rig_mode(mode);
    let lldd = rig.hba.lldd().unwrap();
    let before = lldd.io_pool_stats();
    assert_pool_clean(before, "before");
    let dma_before = lldd.dma_buffers_in_use();

    let t = rig.fabric.config().target_ports[0].clone();
    let (nn, pn) = rig.hba.names();
    let opts = format!(
        "traddr=nn-{}:pn-{},host_traddr=nn-{nn}:pn-{pn},nqn={},nr_io_queues=1,queue_size=32,\
         ctrl_loss_tmo={CTRL_LOSS_S},reconnect_delay=1",
        t.addr.wwnn, t.addr.wwpn, t.subsystems[0].nqn
    );
    let c = rig
        .transport
        .connect(ConnectOptions::parse(&opts).unwrap())
        .unwrap();
    assert!(rig.poll_until(500, |_| c.state() == CtrlState::Live));
    let ns = c.namespaces().into_iter().next().expect("a namespace");
    let mut qp = c.alloc_io_qpair().unwrap();
    let mut wbuf = lldd.alloc_buffer(BLOCK * (IN_FLIGHT + QUEUED)).unwrap();
    wbuf.write(0, &vec![0x5A; BLOCK * (IN_FLIGHT + QUEUED)]);
    let sge = |i: usize| Sge {
        iova: wbuf.iova() + (i * BLOCK) as u64,
        len: BLOCK as u32,
    };

    // Writes reach the port; the target holds them unanswered (so that the
    // model thread cannot finish one first) and leaves.
    rig.faults.drop_next_fcp(IN_FLIGHT as u32);
    for i in 0..IN_FLIGHT {
        qp.submit_write(&ns, i as u64, 1, &[sge(i)], i as u64)
            .unwrap();
    }
    qp.flush();
    rig.fabric.target_leave(t.addr.wwpn).unwrap();
    let mut done: Vec<IoCompletion> = Vec::new();
    assert!(
        rig.poll_until(2_000, |r| {
            qp.poll(64, |d| done.push(d));
            r.online_rports().is_empty()
        }),
        "the target was not unregistered"
    );
    // More writes while it is gone: the transport holds them.
    for i in IN_FLIGHT..IN_FLIGHT + QUEUED {
        qp.submit_write(&ns, i as u64, 1, &[sge(i)], i as u64)
            .unwrap();
    }
    qp.flush();
    let t0 = rig.clock.now();
    assert!(
        rig.poll_until(100_000, |_| {
            qp.poll(64, |d| done.push(d));
            done.len() == IN_FLIGHT + QUEUED
        }),
        "I/O not failed: {} of {}, {:?}",
        done.len(),
        IN_FLIGHT + QUEUED,
        c.stats()
    );
    let waited = rig.clock.now() - t0;
    assert!(
        waited >= Duration::from_secs(CTRL_LOSS_S) - Duration::from_secs(1),
        "failed only past ctrl_loss_tmo: {waited:?}"
    );
    // Every request fails once, with the host path error.
    let mut ctxs: Vec<u64> = done.iter().map(|d| d.ctx).collect();
    ctxs.sort();
    assert_eq!(ctxs, (0..(IN_FLIGHT + QUEUED) as u64).collect::<Vec<_>>());
    assert!(
        done.iter().all(|d| d.status == NvmeStatus::HOST_PATH_ERROR),
        "{done:?}"
    );
    assert!(rig.poll_until(1_000, |_| c.state() == CtrlState::Deleted));
    // A deleted controller takes no new I/O, or fails it the same way.
    let late = qp.submit_write(&ns, 0, 1, &[sge(0)], 99);
    println!("{mode:?}: failed after {waited:?}; a write after deletion: {late:?}");
    if late.is_ok() {
        qp.flush();
        let mut got = Vec::new();
        assert!(rig.poll_until(100, |_| {
            qp.poll(8, |d| got.push(d));
            !got.is_empty()
        }));
        assert_eq!(got[0].status, NvmeStatus::HOST_PATH_ERROR, "{got:?}");
    }

    // The application lets go; everything comes back. Exchanges aborted
    // with ABTS to a port that is gone end after 2 x R_A_TOV.
    drop(qp);
    drop(ns);
    drop(wbuf);
    drop(c);
    let clean = rig.poll_until(10_000, |_| {
        let s = lldd.io_pool_stats();
        s.idle == s.pairs && s.idle_xris_free == s.idle_xris
    });
    let after = lldd.io_pool_stats();
    println!("{mode:?}: pool before {before:?}, after {after:?}");
    assert!(clean, "{after:?}");
    assert_pool_clean(after, "after");
    assert_eq!(after, before);
    assert_eq!(lldd.free_io_queues(), before.pairs);
    assert_eq!(lldd.dma_buffers_in_use(), dma_before, "DMA buffers leaked");
    rig.assert_model_clean_but_wqes();
    assert_eq!(rig.hba.input_errors(), Default::default());
    assert_eq!(rig.hba.io_input_errors(), Default::default());
    rig.hba.shutdown().unwrap();
}

#[test]
fn e2e_target_port_loss_inline() {
    target_port_loss(ModelMode::Inline);
}

#[test]
fn e2e_target_port_loss_thread() {
    target_port_loss(ModelMode::Thread);
}
