//! The HBA's link goes down and up several times while threads that own
//! queue pairs keep verified I/O at queue depth 32 going: the driver
//! unregisters the target on link down and registers it again after the
//! new login; the transport holds and replays what was in flight; no error
//! reaches the application.

// Test scaffolding: a failed setup is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::load::{assert_load_clean, Load};
use common::{connect, ram_target_rig_mode, ModelMode};
use ufc_transport::CtrlState;

const BOUNCES: u64 = 5;
const THREADS: usize = 2;
const DEPTH: usize = 32;
/// Manual-clock milliseconds the link stays down (far below dev_loss_tmo).
const DOWN_MS: usize = 200;

fn link_bounce_under_load(mode: ModelMode) {
    let mut rig = ram_target_rig_mode(mode);
    let c = connect(&mut rig, THREADS as u16);
    let lldd = rig.hba.lldd().unwrap();
    let load = Load::start(&c, &lldd, THREADS, DEPTH, 0);
    assert!(load.wait_progress(&mut rig, 64, 20_000).is_some());
    for k in 0..BOUNCES {
        rig.faults.link_down().unwrap();
        let gone = (0..DOWN_MS).any(|_| {
            rig.step();
            rig.online_rports().is_empty()
        });
        assert!(gone, "bounce {k}: the target stayed registered");
        for _ in 0..DOWN_MS {
            rig.step();
        }
        assert!(!rig.hba.link().up, "bounce {k}");
        rig.faults.link_up().unwrap();
        assert!(
            load.wait_progress(&mut rig, 64, 20_000).is_some(),
            "bounce {k}: I/O did not resume: {:?}",
            c.stats()
        );
        assert_eq!(load.errors(), 0, "bounce {k}");
    }
    let reports = load.stop(&mut rig);
    assert_eq!(c.state(), CtrlState::Live);
    assert_load_clean(&reports);
    for r in &reports {
        assert!(r.qpair.replayed > 0, "{r:?}");
    }
    let hs = rig.hba.stats();
    assert_eq!((hs.link_downs, hs.resets), (BOUNCES, 0), "{hs:?}");
    rig.assert_model_clean_but_wqes();
    assert_eq!(rig.hba.input_errors(), Default::default());
    assert_eq!(rig.hba.io_input_errors(), Default::default());
}

#[test]
fn e2e_link_bounce_under_load_inline() {
    link_bounce_under_load(ModelMode::Inline);
}

#[test]
fn e2e_link_bounce_under_load_thread() {
    link_bounce_under_load(ModelMode::Thread);
}
