//! Firmware errors with RN (SLIPORT_STATUS ERR + RN) while threads that own
//! queue pairs keep verified I/O at queue depth 32 going: the driver resets
//! and rebuilds the port, the pairs of the old incarnation fail what they
//! had (the transport holds and replays it), the controller reconnects on
//! new pairs, and no error reaches the application.

// Test scaffolding: a failed setup is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::load::{assert_load_clean, Load};
use common::{connect, ram_target_rig_mode, ModelMode};
use ufc_emu::sli4::FirmwareError;
use ufc_hba::driver::HbaState;
use ufc_transport::CtrlState;

const ERRORS: u64 = 4;
const THREADS: usize = 2;
const DEPTH: usize = 32;

fn fw_error_under_load(mode: ModelMode) {
    let mut rig = ram_target_rig_mode(mode);
    let c = connect(&mut rig, THREADS as u16);
    let lldd = rig.hba.lldd().unwrap();
    let load = Load::start(&c, &lldd, THREADS, DEPTH, 0);
    assert!(load.wait_progress(&mut rig, 64, 20_000).is_some());
    for k in 0..ERRORS {
        rig.faults
            .firmware_error(FirmwareError::restart(Duration::from_millis(100)));
        let reset = (0..20_000).any(|_| {
            rig.step();
            rig.hba.stats().resets == k + 1
        });
        assert!(
            reset,
            "error {k}: no port reset: {:?}",
            rig.hba.last_error()
        );
        assert!(
            load.wait_progress(&mut rig, 64, 20_000).is_some(),
            "error {k}: I/O did not resume: {:?}",
            c.stats()
        );
        assert_eq!(rig.hba.state(), HbaState::Online);
        assert_eq!(load.errors(), 0, "error {k}");
    }
    let reports = load.stop(&mut rig);
    assert_eq!(c.state(), CtrlState::Live);
    assert_load_clean(&reports);
    rig.assert_model_clean_but_wqes();
}

#[test]
fn e2e_fw_error_under_load_inline() {
    fw_error_under_load(ModelMode::Inline);
}

#[test]
fn e2e_fw_error_under_load_thread() {
    fw_error_under_load(ModelMode::Thread);
}
