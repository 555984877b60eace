//! A target-initiated Disconnect Association end to end: the emulated target
//! sends the LS, the SLI-4 model delivers it through the RQ pair, the driver
//! hands it to the transport, the transport tears the association down and
//! answers LS_ACC, the driver sends it with XMIT_SEQUENCE64, the target
//! receives it; the controller reconnects and I/O resumes.

// Test scaffolding: a failed setup is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{connect, ram_target_rig, Rig};
use ufc_hba::driver::{HbaLldd, HbaQueue};
use ufc_transport::lldd::{DmaBuffer, Sge};
use ufc_transport::{CtrlState, IoCompletion, IoQpair, Namespace};

const BLOCK: usize = 4096;
const BLOCKS: usize = 4;
/// FC-NVMe LS command code of an LS_ACC (nvme-fc.md §4.3).
const LS_ACC: u8 = 0x02;

fn pattern(block: usize, seed: u8) -> Vec<u8> {
    (0..BLOCK)
        .map(|i| (i as u8).wrapping_mul(31) ^ (block as u8).wrapping_add(seed))
        .collect()
}

/// Writes `BLOCKS` blocks at `lba`, reads them back and checks them.
fn verified_io(
    rig: &mut Rig,
    qp: &mut IoQpair<HbaQueue>,
    ns: &Namespace<HbaLldd>,
    lba: u64,
    seed: u8,
) {
    let lldd = rig.hba.lldd().unwrap();
    let mut wbuf = lldd.alloc_buffer(BLOCK * BLOCKS).unwrap();
    let rbuf = lldd.alloc_buffer(BLOCK * BLOCKS).unwrap();
    for b in 0..BLOCKS {
        wbuf.write(b * BLOCK, &pattern(b, seed));
    }
    let sge = |buf: &dyn DmaBuffer, b: usize| Sge {
        iova: buf.iova() + (b * BLOCK) as u64,
        len: BLOCK as u32,
    };
    let run = |rig: &mut Rig, qp: &mut IoQpair<HbaQueue>| {
        let mut done: Vec<IoCompletion> = Vec::new();
        rig.poll_until(200, |_| {
            qp.poll(64, |d| done.push(d));
            done.len() >= BLOCKS
        });
        assert_eq!(done.len(), BLOCKS, "{done:?}");
        assert!(done.iter().all(|d| d.status.is_success()), "{done:?}");
    };
    for b in 0..BLOCKS {
        qp.submit_write(ns, lba + b as u64, 1, &[sge(&wbuf, b)], b as u64)
            .unwrap();
    }
    qp.flush();
    run(rig, qp);
    for b in 0..BLOCKS {
        qp.submit_read(ns, lba + b as u64, 1, &[sge(&rbuf, b)], 100 + b as u64)
            .unwrap();
    }
    qp.flush();
    run(rig, qp);
    for b in 0..BLOCKS {
        let mut got = vec![0u8; BLOCK];
        rbuf.read(b * BLOCK, &mut got);
        assert_eq!(got, pattern(b, seed), "block {b}");
    }
}

#[test]
fn e2e_target_disconnect() {
    let mut rig = ram_target_rig();
    let c = connect(&mut rig, 1);
    let ns = c.namespaces().into_iter().next().expect("a namespace");
    let mut qp = c.alloc_io_qpair().unwrap();
    verified_io(&mut rig, &mut qp, &ns, 10, 0x5A);

    // ERSPs are counted apart: verified I/O leaves no WQE error.
    assert_eq!(rig.faults.stats().wqe_errors, 0, "{:?}", rig.faults.stats());
    let assoc = c.stats().unwrap().association_id;
    let wwpn = rig.fabric.config().target_ports[0].addr.wwpn;
    let tport = rig.fabric.target_port(wwpn).expect("the target port");
    assert!(tport.disconnect_association(assoc));

    // The queue pair keeps polling: the teardown waits for it.
    let back = rig.poll_until(1000, |_| {
        qp.poll(64, |d| panic!("no I/O was outstanding: {d:?}"));
        c.state() == CtrlState::Live && c.stats().is_some_and(|s| s.association_id != assoc)
    });
    assert!(back, "controller did not reconnect: {:?}", c.stats());
    let st = c.stats().unwrap();
    assert_eq!(st.counters.target_disconnects, 1, "{st:?}");

    // Exactly one answer reached the target, an LS_ACC.
    let rsps = tport.ls_responses();
    assert_eq!(rsps.len(), 1, "{rsps:?}");
    assert_eq!(rsps[0].1.first(), Some(&LS_ACC), "{rsps:?}");
    let hs = rig.hba.stats();
    assert_eq!(
        (hs.ls_received, hs.ls_responses, hs.ls_dropped),
        (1, 1, 0),
        "{hs:?}"
    );

    // The model counts every WCQE with a status other than 0 or 0x01 as a
    // WQE error. The teardown leaves exactly one, and it is the target's
    // doing: the target ends the association's outstanding Async Event
    // Request and the model completes that FCP exchange with status 0x02
    // (remote stop). The transport's abort of the AER crosses that
    // completion; the driver reaps the CQ before sending ABORT_WQE, so no
    // ABORT finds a finished exchange (local reject 0x0C, no abort match),
    // which was the second error counted before. I/O after the reconnect
    // adds none.
    let teardown_errors = rig.faults.stats().wqe_errors;
    assert_eq!(teardown_errors, 1, "{:?}", rig.faults.stats());

    // I/O resumes on the new association through the same queue pair.
    verified_io(&mut rig, &mut qp, &ns, 200, 0xA5);
    rig.hand.advance(Duration::from_millis(10));
    assert_eq!(rig.hba.input_errors(), Default::default());
    let s = rig.assert_model_clean_but_wqes();
    assert_eq!(s.wqe_errors, teardown_errors, "{s:?}");
    assert!(s.ersps > 0, "fabrics commands always get an ERSP: {s:?}");
}

/// The target disconnects while writes are in flight: the transport aborts
/// them with the association, answers LS_ACC only after that, reconnects and
/// retries them; the application sees only successes and the data is there.
#[test]
fn e2e_target_disconnect_with_io_in_flight() {
    let mut rig = ram_target_rig();
    let c = connect(&mut rig, 1);
    let ns = c.namespaces().into_iter().next().expect("a namespace");
    let mut qp = c.alloc_io_qpair().unwrap();
    let lldd = rig.hba.lldd().unwrap();
    let mut wbuf = lldd.alloc_buffer(BLOCK * BLOCKS).unwrap();
    for b in 0..BLOCKS {
        wbuf.write(b * BLOCK, &pattern(b, 0x33));
    }
    let assoc = c.stats().unwrap().association_id;
    let wwpn = rig.fabric.config().target_ports[0].addr.wwpn;
    let tport = rig.fabric.target_port(wwpn).expect("the target port");
    assert!(tport.disconnect_association(assoc));
    for b in 0..BLOCKS {
        let sge = Sge {
            iova: wbuf.iova() + (b * BLOCK) as u64,
            len: BLOCK as u32,
        };
        qp.submit_write(&ns, 300 + b as u64, 1, &[sge], b as u64)
            .unwrap();
    }
    qp.flush();
    let mut done: Vec<IoCompletion> = Vec::new();
    let back = rig.poll_until(1000, |_| {
        qp.poll(64, |d| done.push(d));
        done.len() == BLOCKS
            && c.state() == CtrlState::Live
            && c.stats().is_some_and(|s| s.association_id != assoc)
    });
    assert!(back, "{done:?} {:?}", c.stats());
    assert!(done.iter().all(|d| d.status.is_success()), "{done:?}");
    assert_eq!(c.stats().unwrap().counters.target_disconnects, 1);
    // All four were caught by the teardown and resubmitted on the new one.
    let qs = qp.stats();
    assert_eq!((qs.replayed, qs.attaches, qs.errors), (4, 2, 0), "{qs:?}");
    let rsps = tport.ls_responses();
    assert_eq!(rsps.len(), 1, "{rsps:?}");
    assert_eq!(rsps[0].1.first(), Some(&LS_ACC), "{rsps:?}");

    // The writes landed: read them back.
    let rbuf = lldd.alloc_buffer(BLOCK * BLOCKS).unwrap();
    let whole = Sge {
        iova: rbuf.iova(),
        len: (BLOCK * BLOCKS) as u32,
    };
    qp.submit_read(&ns, 300, BLOCKS as u32, &[whole], 9)
        .unwrap();
    qp.flush();
    let mut done: Vec<IoCompletion> = Vec::new();
    rig.poll_until(200, |_| {
        qp.poll(64, |d| done.push(d));
        !done.is_empty()
    });
    assert!(done.len() == 1 && done[0].status.is_success(), "{done:?}");
    for b in 0..BLOCKS {
        let mut got = vec![0u8; BLOCK];
        rbuf.read(b * BLOCK, &mut got);
        assert_eq!(got, pattern(b, 0x33), "block {b}");
    }
    assert_eq!(rig.hba.input_errors(), Default::default());
}
