//! Bring-up against the emulated Lancer G6 (if_type 2) and G7 (if_type 6),
//! and the four start failures each with its own error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests may unwrap (house rules)

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{hba_config, host_addr, model, open_err};
use ufc_emu::clock::Clock;
use ufc_emu::fabric::{Fabric, FabricConfig};
use ufc_emu::sli4::{Generation, Sli4Config, StartState};
use ufc_hba::driver::{Hba, HbaError, HbaState};
use ufc_hba::sli4::doorbell::IfType;

fn cfg(g: Generation) -> (Sli4Config, Arc<Fabric>, Clock, ufc_emu::clock::ManualClock) {
    let (clock, hand) = Clock::manual();
    let fabric = Fabric::new(FabricConfig::default(), clock.clone()).unwrap();
    (Sli4Config::new(g, host_addr(&fabric)), fabric, clock, hand)
}

fn bring_up(g: Generation, if_type: IfType, device_id: u16) {
    let (c, fabric, clock, hand) = cfg(g);
    let names = c.addr;
    let (device, faults) = model(c, &fabric, &clock);
    let mut hba = Hba::open(device, hba_config(&clock, &hand), None).expect("bring-up");
    assert_eq!(hba.identity().if_type, if_type);
    assert_eq!(hba.identity().device_id, device_id);
    assert_eq!(hba.state(), HbaState::Online);
    assert_eq!(
        hba.names(),
        (names.wwnn, names.wwpn),
        "names from READ_SPARM64"
    );
    assert!(hba.firmware().is_some_and(|f| !f.is_empty()));
    // INIT_LINK was issued: the link-up attention arrives and login runs.
    for _ in 0..200 {
        hba.poll().unwrap();
        if hba.fabric_login().is_some() {
            break;
        }
        hand.advance(Duration::from_millis(10));
    }
    let login = hba.fabric_login().expect("fabric login after link up");
    assert_ne!(login.n_port_id, 0);
    assert!(hba.link().up);
    assert_eq!(hba.input_errors(), Default::default());
    hba.shutdown().unwrap();
    assert_eq!(hba.state(), HbaState::Shutdown);
    let s = faults.stats();
    assert_eq!(s.mailbox_errors, 0, "{s:?}");
    assert_eq!(
        (s.dma_errors, s.doorbell_errors, s.cq_overflows),
        (0, 0, 0),
        "{s:?}"
    );
}

#[test]
fn bringup_if_type_2() {
    bring_up(Generation::G6, IfType::If2, 0xE300);
}

#[test]
fn bringup_if_type_6() {
    bring_up(Generation::G7, IfType::If6, 0xF400);
}

#[test]
fn bringup_wrong_device_id() {
    let (mut c, ..) = cfg(Generation::G6);
    c.device_id = 0xE200;
    let e = open_err(c);
    assert!(
        matches!(
            e,
            HbaError::UnsupportedDevice {
                device_id: 0xE200,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("10df:e300"), "{e}");
}

#[test]
fn bringup_bad_sli_intf() {
    let (mut c, ..) = cfg(Generation::G7);
    c.sli_intf = 0x8000_6D40; // VALID = 0b100
    let e = open_err(c);
    assert!(
        matches!(
            e,
            HbaError::BadSliIntf {
                value: 0x8000_6D40,
                ..
            }
        ),
        "{e}"
    );
    let (mut c, ..) = cfg(Generation::G7);
    c.sli_intf = 0xC000_2C40; // if_type 2 on a G7 device id
    let e = open_err(c);
    assert!(matches!(e, HbaError::BadSliIntf { .. }), "{e}");
}

#[test]
fn bringup_never_ready() {
    let (mut c, ..) = cfg(Generation::G6);
    c.start = StartState::NeverReady;
    let e = open_err(c);
    let HbaError::PortNotReady { waited, status, .. } = e else {
        panic!("{e}")
    };
    assert!(waited >= Duration::from_secs(2), "{waited:?}");
    assert_eq!(status & (1 << 23), 0, "RDY clear in the report");
}

#[test]
fn bringup_error_at_start() {
    let (mut c, ..) = cfg(Generation::G7);
    c.start = StartState::Error {
        reset_needed: false,
    };
    let e = open_err(c);
    assert!(
        matches!(
            e,
            HbaError::PortError {
                recoverable: false,
                err1: 0x1,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("power-cycle"), "{e}");
}

#[test]
fn bringup_invalid_config() {
    let (c, fabric, clock, hand) = cfg(Generation::G6);
    let (device, _faults) = model(c, &fabric, &clock);
    let mut bad = hba_config(&clock, &hand);
    bad.rq_entries = 1;
    let e = Hba::open(device, bad, None).unwrap_err();
    assert!(matches!(e, HbaError::InvalidConfig(_)), "{e}");
    assert!(e.to_string().contains("rq_entries 1"), "{e}");
}

#[test]
fn bringup_error_with_reset_needed_is_reset() {
    // ERR+RN at power-on: once RDY rises the port reset (SLIPORT_CONTROL.IP)
    // clears it, as LPFC's lpfc_sli4_pdev_status_reg_wait expects.
    let (mut c, fabric, clock, hand) = cfg(Generation::G6);
    c.start = StartState::Error { reset_needed: true };
    let (device, _faults) = model(c, &fabric, &clock);
    let hba = Hba::open(device, hba_config(&clock, &hand), None).expect("reset recovers");
    assert_eq!(hba.state(), HbaState::Online);
}
