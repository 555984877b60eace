//! FC-NVMe I/O end to end: the driver on the emulated Lancer G7, the
//! transport connecting a controller to the emulated target (RAM namespace)
//! through the driver's FCP queues, blocks written and read back.

// Test scaffolding: a failed setup is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{connect, ram_target_rig, Rig};
use ufc_transport::lldd::{DmaBuffer, Sge};
use ufc_transport::{CtrlState, IoCompletion};

const BLOCK: usize = 4096;
const BLOCKS: usize = 4;

fn pattern(block: usize) -> Vec<u8> {
    (0..BLOCK)
        .map(|i| (i as u8).wrapping_mul(31) ^ (block as u8).wrapping_add(0x5A))
        .collect()
}

#[test]
fn e2e_io_smoke_write_then_read_back() {
    let mut rig = ram_target_rig();
    let c = connect(&mut rig, 1);
    let ns = c.namespaces().into_iter().next().expect("a namespace");
    assert_eq!(ns.lba_size() as usize, BLOCK);
    let lldd = rig.hba.lldd().unwrap();
    let mut qp = c.alloc_io_qpair().unwrap();

    let mut wbuf = lldd.alloc_buffer(BLOCK * BLOCKS).unwrap();
    for b in 0..BLOCKS {
        wbuf.write(b * BLOCK, &pattern(b));
    }
    let rbuf = lldd.alloc_buffer(BLOCK * BLOCKS).unwrap();
    let sge = |buf: &dyn DmaBuffer, b: usize| Sge {
        iova: buf.iova() + (b * BLOCK) as u64,
        len: BLOCK as u32,
    };

    let run = |rig: &mut Rig, qp: &mut ufc_transport::IoQpair<_>, n: usize| {
        let mut done: Vec<IoCompletion> = Vec::new();
        for _ in 0..200 {
            qp.poll(64, |d| done.push(d));
            if done.len() >= n {
                break;
            }
            rig.hba.poll().unwrap();
            rig.transport.poll();
            rig.hand.advance(Duration::from_millis(1));
        }
        done
    };

    for b in 0..BLOCKS {
        qp.submit_write(&ns, 10 + b as u64, 1, &[sge(&wbuf, b)], b as u64)
            .unwrap();
    }
    qp.flush();
    let done = run(&mut rig, &mut qp, BLOCKS);
    assert_eq!(done.len(), BLOCKS, "{done:?}");
    assert!(done.iter().all(|d| d.status.is_success()), "{done:?}");

    for b in 0..BLOCKS {
        qp.submit_read(&ns, 10 + b as u64, 1, &[sge(&rbuf, b)], 100 + b as u64)
            .unwrap();
    }
    qp.flush();
    let done = run(&mut rig, &mut qp, BLOCKS);
    assert_eq!(done.len(), BLOCKS, "{done:?}");
    assert!(done.iter().all(|d| d.status.is_success()), "{done:?}");
    for b in 0..BLOCKS {
        let mut got = vec![0u8; BLOCK];
        rbuf.read(b * BLOCK, &mut got);
        assert_eq!(got, pattern(b), "block {b}");
    }
    // WCQEs with status 0x01 (an ERSP: every fabrics command, and every
    // ersp_ratio-th I/O) are counted apart from WQE errors in the model.
    let s = rig.faults.stats();
    assert!(s.ersps > 0, "{s:?}");
    rig.assert_model_clean();
    assert_eq!(rig.hba.input_errors(), Default::default());

    // One 16 KiB write from four scattered segments (in reverse buffer
    // order), read back as one segment.
    let segs: Vec<Sge> = (0..BLOCKS).rev().map(|b| sge(&wbuf, b)).collect();
    qp.submit_write(&ns, 100, BLOCKS as u32, &segs, 7).unwrap();
    qp.flush();
    let done = run(&mut rig, &mut qp, 1);
    assert!(done.len() == 1 && done[0].status.is_success(), "{done:?}");
    let whole = Sge {
        iova: rbuf.iova(),
        len: (BLOCK * BLOCKS) as u32,
    };
    qp.submit_read(&ns, 100, BLOCKS as u32, &[whole], 8)
        .unwrap();
    qp.flush();
    let done = run(&mut rig, &mut qp, 1);
    assert!(done.len() == 1 && done[0].status.is_success(), "{done:?}");
    for (i, b) in (0..BLOCKS).rev().enumerate() {
        let mut got = vec![0u8; BLOCK];
        rbuf.read(i * BLOCK, &mut got);
        assert_eq!(got, pattern(b), "segment {i}");
    }

    // Admin and I/O queue lent out; both come back after the controller
    // is deleted and the queue pair dropped.
    let all = lldd.free_io_queues() + 2;
    drop(qp);
    c.delete().unwrap();
    let back = rig.poll_until(100, |_| lldd.free_io_queues() == all);
    assert!(
        back,
        "queue pairs not returned: {} free",
        lldd.free_io_queues()
    );
    // Shutdown destroys the idle pairs' WQs and CQs through the mailbox.
    rig.hba.shutdown().unwrap();
    assert_eq!(rig.faults.stats().mailbox_errors, 0);
}

/// Four I/O queue pairs, each owned and polled by its own thread: verified
/// writes then reads, each thread on its own LBAs.
#[test]
fn e2e_io_smoke_four_queue_pairs_on_four_threads() {
    const THREADS: usize = 4;
    let mut rig = ram_target_rig();
    let c = connect(&mut rig, THREADS as u16);
    assert_eq!(c.stats().unwrap().io_queues, THREADS as u16);
    let ns = c.namespaces().into_iter().next().expect("a namespace");
    let lldd = rig.hba.lldd().unwrap();
    let qps: Vec<_> = (0..THREADS).map(|_| c.alloc_io_qpair().unwrap()).collect();
    std::thread::scope(|s| {
        for (t, mut qp) in qps.into_iter().enumerate() {
            let ns = ns.clone();
            let mut wbuf = lldd.alloc_buffer(BLOCK * BLOCKS).unwrap();
            let rbuf = lldd.alloc_buffer(BLOCK * BLOCKS).unwrap();
            s.spawn(move || {
                let lba = |b: usize| (1000 * (t + 1) + b) as u64;
                let reap = |qp: &mut ufc_transport::IoQpair<_>| {
                    let mut done: Vec<IoCompletion> = Vec::new();
                    for _ in 0..100_000 {
                        qp.poll(64, |d| done.push(d));
                        if done.len() == BLOCKS {
                            break;
                        }
                        std::thread::yield_now();
                    }
                    assert_eq!(done.len(), BLOCKS, "thread {t}: {done:?}");
                    assert!(done.iter().all(|d| d.status.is_success()), "{done:?}");
                };
                for b in 0..BLOCKS {
                    wbuf.write(b * BLOCK, &pattern(t * BLOCKS + b));
                    let sge = Sge {
                        iova: wbuf.iova() + (b * BLOCK) as u64,
                        len: BLOCK as u32,
                    };
                    qp.submit_write(&ns, lba(b), 1, &[sge], b as u64).unwrap();
                }
                qp.flush();
                reap(&mut qp);
                for b in 0..BLOCKS {
                    let sge = Sge {
                        iova: rbuf.iova() + (b * BLOCK) as u64,
                        len: BLOCK as u32,
                    };
                    qp.submit_read(&ns, lba(b), 1, &[sge], b as u64).unwrap();
                }
                qp.flush();
                reap(&mut qp);
                for b in 0..BLOCKS {
                    let mut got = vec![0u8; BLOCK];
                    rbuf.read(b * BLOCK, &mut got);
                    assert_eq!(got, pattern(t * BLOCKS + b), "thread {t} block {b}");
                }
            });
        }
    });
    rig.assert_model_clean_but_wqes();
    rig.hba.shutdown().unwrap();
}

/// A firmware error with RN: the port is reset and rebuilt, the lent queue
/// pairs of the old incarnation fail what they had, the controller
/// reconnects on new pairs and the data written before is read back.
#[test]
fn e2e_io_smoke_survives_firmware_reset() {
    use ufc_emu::sli4::FirmwareError;
    use ufc_hba::driver::HbaState;

    let mut rig = ram_target_rig();
    let c = connect(&mut rig, 1);
    let ns = c.namespaces().into_iter().next().expect("a namespace");
    let lldd = rig.hba.lldd().unwrap();
    let mut qp = c.alloc_io_qpair().unwrap();
    let mut wbuf = lldd.alloc_buffer(BLOCK).unwrap();
    wbuf.write(0, &pattern(9));
    let w = Sge {
        iova: wbuf.iova(),
        len: BLOCK as u32,
    };
    qp.submit_write(&ns, 5, 1, &[w], 1).unwrap();
    qp.flush();
    let mut done = Vec::new();
    for _ in 0..100 {
        qp.poll(8, |d| done.push(d));
        if !done.is_empty() {
            break;
        }
        rig.hba.poll().unwrap();
    }
    assert!(done.len() == 1 && done[0].status.is_success(), "{done:?}");

    rig.faults
        .firmware_error(FirmwareError::restart(Duration::from_millis(100)));
    let mut gone = false;
    let mut back = false;
    for _ in 0..20_000 {
        qp.poll(8, |_| {});
        rig.hba.poll().unwrap();
        rig.transport.poll();
        gone |= rig.online_rports().is_empty();
        if gone && rig.hba.state() == HbaState::Online && c.state() == CtrlState::Live {
            back = true;
            break;
        }
        rig.hand.advance(Duration::from_millis(10));
    }
    assert!(
        back,
        "not back: gone {gone}, {:?}, {:?}",
        rig.hba.state(),
        c.stats()
    );
    assert_eq!(rig.hba.stats().resets, 1);

    let rbuf = lldd.alloc_buffer(BLOCK).unwrap();
    let r = Sge {
        iova: rbuf.iova(),
        len: BLOCK as u32,
    };
    let mut done = Vec::new();
    for _ in 0..1000 {
        if done.is_empty() && qp.submit_read(&ns, 5, 1, &[r], 2).is_ok() {
            qp.flush();
            let mut got = Vec::new();
            for _ in 0..100 {
                qp.poll(8, |d| got.push(d));
                if !got.is_empty() {
                    break;
                }
                rig.hba.poll().unwrap();
                rig.transport.poll();
            }
            done = got;
            break;
        }
        qp.poll(8, |_| {});
        rig.hba.poll().unwrap();
        rig.transport.poll();
        rig.hand.advance(Duration::from_millis(10));
    }
    assert!(done.len() == 1 && done[0].status.is_success(), "{done:?}");
    let mut got = vec![0u8; BLOCK];
    rbuf.read(0, &mut got);
    assert_eq!(got, pattern(9));
    rig.hba.shutdown().unwrap();
}

/// The target aborts a write (ABTS) instead of answering it: the driver
/// answers BA_ACC with XMIT_BLS_RSP on the ELS WQ, the port completes the
/// write as stopped by the target, the transport retries it, and the
/// application sees a success; the data is there.
#[test]
fn e2e_io_smoke_target_abts_is_accepted_and_the_write_retried() {
    let mut rig = ram_target_rig();
    let c = connect(&mut rig, 1);
    let ns = c.namespaces().into_iter().next().expect("a namespace");
    let lldd = rig.hba.lldd().unwrap();
    let mut qp = c.alloc_io_qpair().unwrap();
    let mut wbuf = lldd.alloc_buffer(BLOCK).unwrap();
    wbuf.write(0, &pattern(3));
    let w = Sge {
        iova: wbuf.iova(),
        len: BLOCK as u32,
    };
    rig.faults.target_abts_next_fcp(1);
    qp.submit_write(&ns, 40, 1, &[w], 1).unwrap();
    qp.flush();
    let mut done = Vec::new();
    assert!(rig.poll_until(500, |_| {
        qp.poll(8, |d| done.push(d));
        !done.is_empty()
    }));
    assert!(done.len() == 1 && done[0].status.is_success(), "{done:?}");
    let hs = rig.hba.stats();
    assert_eq!(
        (hs.abts_received, hs.ba_accs, hs.ba_rjts),
        (1, 1, 0),
        "{hs:?}"
    );
    let s = rig.faults.stats();
    assert_eq!(
        (s.abts_sent, s.bls_responses, s.ba_rjts),
        (1, 1, 0),
        "{s:?}"
    );
    assert_eq!(qp.stats().retries, 1, "{:?}", qp.stats());

    let rbuf = lldd.alloc_buffer(BLOCK).unwrap();
    let r = Sge {
        iova: rbuf.iova(),
        len: BLOCK as u32,
    };
    qp.submit_read(&ns, 40, 1, &[r], 2).unwrap();
    qp.flush();
    let mut done = Vec::new();
    assert!(rig.poll_until(500, |_| {
        qp.poll(8, |d| done.push(d));
        !done.is_empty()
    }));
    assert!(done.len() == 1 && done[0].status.is_success(), "{done:?}");
    let mut got = vec![0u8; BLOCK];
    rbuf.read(0, &mut got);
    assert_eq!(got, pattern(3));
    assert_eq!(rig.hba.input_errors(), Default::default());
}
