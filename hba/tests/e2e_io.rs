//! FC-NVMe I/O end to end through the driver, the emulated HBA and the
//! target (two RAM namespaces: 4 KiB and 512 B blocks): four queue pairs
//! owned by four threads, verified writes then reads of 512 B, 4 KiB and
//! 1 MiB, from buffers of one or many segments.

// Test scaffolding: a failed setup is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::{connect, fabric_config, ModelMode, Rig};
use ufc_emu::fabric::config::{NamespaceBackend, NamespaceDef};
use ufc_emu::sli4::Generation;
use ufc_hba::driver::{HbaDmaBuffer, HbaLldd, HbaQueue};
use ufc_transport::lldd::{DmaBuffer, Sge};
use ufc_transport::{IoCompletion, IoQpair, Namespace};

const THREADS: usize = 4;
const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u64).wrapping_mul(0x9E37_79B9) >> 7 ^ seed.wrapping_mul(31)) as u8)
        .collect()
}

/// One I/O: a range of blocks and the segments of its buffer, in data order.
struct Io {
    lba: u64,
    blocks: u32,
    /// (offset in the buffer, length).
    segs: Vec<(usize, u32)>,
}

fn sgl(buf: &HbaDmaBuffer, segs: &[(usize, u32)]) -> Vec<Sge> {
    segs.iter()
        .map(|&(off, len)| Sge {
            iova: buf.iova() + off as u64,
            len,
        })
        .collect()
}

/// Submits everything in `ios` (writes or reads), then polls until all
/// completed; every one must succeed.
fn run(
    qp: &mut IoQpair<HbaQueue>,
    ns: &Namespace<HbaLldd>,
    buf: &HbaDmaBuffer,
    ios: &[Io],
    write: bool,
    t: usize,
) {
    for (i, io) in ios.iter().enumerate() {
        let s = sgl(buf, &io.segs);
        let r = if write {
            qp.submit_write(ns, io.lba, io.blocks, &s, i as u64)
        } else {
            qp.submit_read(ns, io.lba, io.blocks, &s, i as u64)
        };
        r.unwrap_or_else(|e| panic!("thread {t}: submit {i}: {e}"));
    }
    qp.flush();
    let mut done: Vec<IoCompletion> = Vec::new();
    for _ in 0..2_000_000 {
        qp.poll(64, |d| done.push(d));
        if done.len() == ios.len() {
            break;
        }
        std::thread::yield_now();
    }
    assert_eq!(done.len(), ios.len(), "thread {t}: {done:?}");
    assert!(
        done.iter().all(|d| d.status.is_success()),
        "thread {t}: {done:?}"
    );
}

/// Writes `ios` from a buffer holding `data` where each I/O's segments say,
/// reads them back into a second buffer laid out the same way, and compares.
#[allow(clippy::too_many_arguments)]
fn verified(
    qp: &mut IoQpair<HbaQueue>,
    ns: &Namespace<HbaLldd>,
    lldd: &HbaLldd,
    ios: &[Io],
    len: usize,
    seed: u64,
    t: usize,
) {
    let data = pattern(len, seed);
    let mut wbuf = lldd.alloc_buffer(len).unwrap();
    wbuf.write(0, &data);
    run(qp, ns, &wbuf, ios, true, t);
    let rbuf = lldd.alloc_buffer(len).unwrap();
    run(qp, ns, &rbuf, ios, false, t);
    let mut got = vec![0u8; len];
    rbuf.read(0, &mut got);
    for (i, io) in ios.iter().enumerate() {
        for &(off, l) in &io.segs {
            let r = off..off + l as usize;
            assert!(
                got[r.clone()] == data[r.clone()],
                "thread {t}: I/O {i} segment at {off}+{l} differs"
            );
        }
    }
}

fn e2e_io(mode: ModelMode) {
    let mut cfg = fabric_config(1);
    let nss = &mut cfg.target_ports[0].subsystems[0].namespaces;
    nss[0].backend = NamespaceBackend::Ram;
    nss.push(NamespaceDef {
        backend: NamespaceBackend::Ram,
        block_size: 512,
        blocks: 1 << 16,
    });
    let mut rig = Rig::with_mode(cfg, Generation::G7, mode);
    assert!(
        rig.poll_until(200, |r| !r.online_rports().is_empty()),
        "target not registered"
    );
    let c = connect(&mut rig, THREADS as u16);
    assert_eq!(c.stats().unwrap().io_queues, THREADS as u16);
    let nss = c.namespaces();
    let ns4k = nss.iter().find(|n| n.lba_size() == 4096).expect("4 KiB ns");
    let ns512 = nss.iter().find(|n| n.lba_size() == 512).expect("512 B ns");
    let lldd = rig.hba.lldd().unwrap();
    let qps: Vec<_> = (0..THREADS).map(|_| c.alloc_io_qpair().unwrap()).collect();
    std::thread::scope(|s| {
        for (t, mut qp) in qps.into_iter().enumerate() {
            let (ns4k, ns512, lldd) = (ns4k.clone(), ns512.clone(), &lldd);
            s.spawn(move || {
                let seed = t as u64 * 1000;
                // 4 KiB blocks, one segment each, 16 in flight.
                let base = (t * 4096) as u64;
                let ios: Vec<Io> = (0..16)
                    .map(|i| Io {
                        lba: base + i,
                        blocks: 1,
                        segs: vec![(i as usize * 4 * KIB, 4 * KIB as u32)],
                    })
                    .collect();
                verified(&mut qp, &ns4k, lldd, &ios, 16 * 4 * KIB, seed + 1, t);

                // 512 B blocks; every other one split across two
                // segments of 256 B placed apart in the buffer.
                let base = (t * 4096) as u64;
                let ios: Vec<Io> = (0..16)
                    .map(|i| {
                        let at = i as usize * 1024;
                        let segs = if i % 2 == 0 {
                            vec![(at, 512)]
                        } else {
                            vec![(at + 512, 256), (at, 256)]
                        };
                        Io {
                            lba: base + i,
                            blocks: 1,
                            segs,
                        }
                    })
                    .collect();
                verified(&mut qp, &ns512, lldd, &ios, 16 * KIB, seed + 2, t);

                // 1 MiB, twice: one segment, and 31 segments (15 × 64 KiB
                // and 16 × 4 KiB) in shuffled buffer order.
                let base = (4 * 4096 + t * 512) as u64;
                let mut segs = Vec::new();
                let mut off = 0;
                for i in 0..31 {
                    let l = if i % 2 == 0 && segs.len() < 30 && i / 2 < 15 {
                        64 * KIB
                    } else {
                        4 * KIB
                    };
                    segs.push((off, l as u32));
                    off += l;
                }
                assert_eq!(off, MIB, "the segments make 1 MiB");
                // Data order differs from buffer order: reverse pairs.
                segs.chunks_mut(2).for_each(|c| c.reverse());
                let ios = vec![
                    Io {
                        lba: base,
                        blocks: 256,
                        segs: vec![(0, MIB as u32)],
                    },
                    Io {
                        lba: base + 256,
                        blocks: 256,
                        segs,
                    },
                ];
                verified(&mut qp, &ns4k, lldd, &ios, MIB, seed + 3, t);
            });
        }
    });
    rig.assert_model_clean();
    assert_eq!(rig.hba.input_errors(), Default::default());
    assert_eq!(rig.hba.io_input_errors(), Default::default());
    rig.hba.shutdown().unwrap();
}

#[test]
fn e2e_io_inline() {
    e2e_io(ModelMode::Inline);
}

#[test]
fn e2e_io_thread() {
    e2e_io(ModelMode::Thread);
}
