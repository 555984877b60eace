//! `Hba::restart()` from the management thread, 50 times, while threads
//! that own queue pairs keep verified I/O at queue depth 32 going: the
//! delete callbacks arrive while the application holds its namespaces and
//! queue pairs, the controller resumes on the new driver instance, and no
//! error reaches the application.

// Test scaffolding: a failed setup is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::load::{assert_load_clean, Load};
use common::{connect, ram_target_rig_mode, ModelMode};
use ufc_transport::CtrlState;

const RESTARTS: usize = 50;
const THREADS: usize = 2;
const DEPTH: usize = 32;

fn restart_under_load(mode: ModelMode) {
    let mut rig = ram_target_rig_mode(mode);
    let c = connect(&mut rig, THREADS as u16);
    let ns = c.namespaces().into_iter().next().expect("a namespace");
    let lldd = rig.hba.lldd().unwrap();
    let target = rig.fabric.config().target_ports[0].addr;
    let load = Load::start(&c, &lldd, THREADS, DEPTH, 0);
    assert!(
        load.wait_progress(&mut rig, 64, 20_000).is_some(),
        "no I/O before the first restart"
    );
    let mut first_io = Vec::with_capacity(RESTARTS);
    let mut phases = Vec::with_capacity(RESTARTS);
    for k in 0..RESTARTS {
        let t0 = rig.clock.now();
        let rep = rig
            .hba
            .restart()
            .unwrap_or_else(|e| panic!("restart {k}: {e}"));
        // The transport called remoteport_delete while the namespace (and
        // the queue pairs, in the load threads) were still held.
        assert_eq!(rep.rport_deleted.len(), 1, "restart {k}: {rep:?}");
        assert_eq!(rep.rport_deleted[0].0, target);
        assert!(rep.lport_deleted.is_some(), "restart {k}: {rep:?}");
        assert!(rep.unregistered <= rep.rport_deleted[0].1);
        assert!(rep.shut_down <= rep.opened);
        phases.push((rep.rport_deleted[0].1, rep.shut_down, rep.opened));
        assert_eq!(ns.controller().uid(), c.uid());
        // The first I/O completed on the new instance.
        let took = load
            .wait_progress(&mut rig, 1, 20_000)
            .unwrap_or_else(|| panic!("restart {k}: no I/O after it: {:?}", c.stats()));
        first_io.push(rig.clock.now() - t0);
        assert!(took <= rig.clock.now() - t0);
        assert_eq!(load.errors(), 0, "restart {k}");
        assert_eq!(rig.hba.stats().restarts, k as u64 + 1);
        // Enough I/O on the new instance before the next restart.
        assert!(load.wait_progress(&mut rig, 64, 20_000).is_some());
    }
    let reports = load.stop(&mut rig);
    assert_eq!(c.state(), CtrlState::Live);
    assert_load_clean(&reports);
    for r in &reports {
        assert_eq!(r.qpair.errors, 0, "{r:?}");
    }
    rig.assert_model_clean_but_wqes();
    first_io.sort();
    let median = |f: fn(&(Duration, Duration, Duration)) -> Duration| {
        let mut v: Vec<Duration> = phases.iter().map(f).collect();
        v.sort();
        v[v.len() / 2]
    };
    println!(
        "{mode:?}: medians from restart(): remoteport_delete {:?}, old instance down {:?}, \
         new instance open {:?}",
        median(|p| p.0),
        median(|p| p.1),
        median(|p| p.2)
    );
    println!(
        "{mode:?}: {RESTARTS} restarts, shutdown start to first I/O completed after it \
         (manual clock): min {:?} median {:?} max {:?}; {} verified I/Os",
        first_io[0],
        first_io[first_io.len() / 2],
        first_io[first_io.len() - 1],
        reports.iter().map(|r| r.verified).sum::<u64>()
    );
}

#[test]
fn e2e_restart_under_load_inline() {
    restart_under_load(ModelMode::Inline);
}

#[test]
fn e2e_restart_under_load_thread() {
    restart_under_load(ModelMode::Thread);
}
