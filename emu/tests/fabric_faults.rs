//! Faults: RSCN when a target leaves and returns, host link down/up, frames lost
//! in the fabric, frame delay on the fabric clock.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (house rules)

mod fabric_util;

use std::time::Duration;

use fabric_util::{fabric, Host, FABRIC_CTRL_DID};
use ufc_emu::fabric::{FabricConfig, FabricError, FrameDirection, PortEvent};
use ufc_hba::fc::els::els_cmd;
use ufc_hba::fc::header::{fc_type, r_ctl};
use ufc_hba::fc::rscn::Rscn;
use ufc_hba::fc::scr::{scr_function, Scr};

const TARGET_ID: u32 = 0x01_0101;

fn rscn_ids(h: &mut Host) -> Vec<u32> {
    h.take_els(els_cmd::RSCN)
        .iter()
        .flat_map(|f| {
            assert_eq!(f.header.s_id(), FABRIC_CTRL_DID);
            Rscn::parse(&f.payload)
                .unwrap()
                .pages()
                .map(|p| p.id)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn scr(h: &mut Host) {
    let acc = h.els(FABRIC_CTRL_DID, Scr::new(scr_function::FULL).as_bytes());
    assert_eq!(acc.payload, vec![els_cmd::LS_ACC, 0, 0, 0]);
}

#[test]
fn rscn_when_a_target_leaves_and_returns() {
    let (f, _hand) = fabric(FabricConfig::default());
    let twwpn = f.config().target_ports[0].addr.wwpn;
    let mut h = Host::attach(&f, 0);
    h.flogi();
    h.plogi(TARGET_ID);
    h.nvme_prli(TARGET_ID);
    // Without SCR nobody is told.
    f.target_leave(twwpn).unwrap();
    f.target_return(twwpn).unwrap();
    assert!(rscn_ids(&mut h).is_empty());
    assert!(
        !f.nvme_logged_in(h.id, TARGET_ID),
        "a departure ends the logins"
    );

    scr(&mut h);
    h.plogi(TARGET_ID);
    f.target_leave(twwpn).unwrap();
    assert_eq!(rscn_ids(&mut h), vec![TARGET_ID]);
    // Frames to a departed target are lost.
    let ox = h.send(
        r_ctl::ELS_REQ,
        fc_type::ELS,
        TARGET_ID,
        &h.login_payload(els_cmd::PLOGI),
    );
    assert!(h.reply_to(ox).is_none());
    assert_eq!(f.stats().dropped_bad_d_id, 1);
    f.target_leave(twwpn).unwrap(); // already gone: no second RSCN
    assert!(rscn_ids(&mut h).is_empty());

    f.target_return(twwpn).unwrap();
    assert_eq!(rscn_ids(&mut h), vec![TARGET_ID]);
    assert_eq!(f.stats().rscn_sent, 2);
    // Back under the same id; the host must log in again.
    assert_eq!(h.plogi(TARGET_ID).payload[0], els_cmd::LS_ACC);
    assert_eq!(h.nvme_prli(TARGET_ID).payload[0], els_cmd::LS_ACC);
}

#[test]
fn rscn_acc_from_the_host_is_counted() {
    let (f, _hand) = fabric(FabricConfig::default());
    let twwpn = f.config().target_ports[0].addr.wwpn;
    let mut h = Host::attach(&f, 0);
    h.flogi();
    scr(&mut h);
    f.target_leave(twwpn).unwrap();
    let rscn = h.take_els(els_cmd::RSCN).remove(0);
    let acc = ufc_hba::fc::frame::Frame::new(
        ufc_hba::fc::header::FcHeader::reply_to(&rscn.header, r_ctl::ELS_REP, 0x55),
        vec![els_cmd::LS_ACC, 0, 0, 0],
    );
    h.port.send_frame(acc).unwrap();
    assert_eq!(f.stats().acc_received, 1);
}

#[test]
fn host_link_down_drops_every_login_and_link_up_needs_flogi() {
    let mut cfg = FabricConfig::default();
    let mut h2 = cfg.host_ports[0];
    h2.addr.wwpn.0 += 1;
    h2.addr.wwnn.0 += 1;
    cfg.host_ports.push(h2);
    let (f, _hand) = fabric(cfg);
    let mut a = Host::attach(&f, 0);
    let mut b = Host::attach(&f, 1);
    a.flogi();
    b.flogi();
    scr(&mut b);
    assert_eq!(a.id, 0x01_0100);
    assert_eq!(b.id, 0x01_0101);
    let target_id = 0x01_0102;
    a.plogi(target_id);
    a.nvme_prli(target_id);
    assert!(f.nvme_logged_in(a.id, target_id));

    f.link_down(a.wwpn()).unwrap();
    assert_eq!(a.drain(), vec![PortEvent::LinkDown]);
    assert_eq!(a.port.n_port_id(), None);
    assert!(!f.nvme_logged_in(0x01_0100, target_id));
    // B registered for RSCN and hears of A's departure.
    assert_eq!(rscn_ids(&mut b), vec![0x01_0100]);
    // A cannot send while down.
    let e = a
        .port
        .send(&ufc_hba::fc::frame::Frame::default().to_bytes())
        .unwrap_err();
    assert!(matches!(e, FabricError::LinkDown(_)), "{e}");

    f.link_up(a.wwpn()).unwrap();
    assert!(matches!(
        a.drain()[..],
        [PortEvent::LinkUp { speed_gbps: 32 }]
    ));
    // Old S_ID is no longer valid: the frame is dropped until FLOGI.
    let ox = a.send(
        r_ctl::ELS_REQ,
        fc_type::ELS,
        target_id,
        &a.login_payload(els_cmd::PLOGI),
    );
    assert!(a.reply_to(ox).is_none());
    assert_eq!(f.stats().dropped_bad_s_id, 1);
    a.flogi();
    assert_eq!(a.id, 0x01_0100, "the F_Port hands out the same id again");
    assert_eq!(rscn_ids(&mut b), vec![0x01_0100]);
    assert_eq!(a.plogi(target_id).payload[0], els_cmd::LS_ACC);
    assert_eq!(a.nvme_prli(target_id).payload[0], els_cmd::LS_ACC);
}

#[test]
fn detach_is_a_cable_pull() {
    let mut cfg = FabricConfig::default();
    let mut h2 = cfg.host_ports[0];
    h2.addr.wwpn.0 += 1;
    cfg.host_ports.push(h2);
    let (f, _hand) = fabric(cfg);
    let mut a = Host::attach(&f, 0);
    let mut b = Host::attach(&f, 1);
    a.flogi();
    b.flogi();
    scr(&mut b);
    let wwpn = a.wwpn();
    assert!(matches!(
        f.attach(wwpn),
        Err(FabricError::AlreadyAttached(_))
    ));
    drop(a);
    assert_eq!(rscn_ids(&mut b), vec![0x01_0100]);
    let mut a = Host::attach(&f, 0);
    a.flogi();
    assert_eq!(a.id, 0x01_0100);
}

#[test]
fn dropped_frames_and_frame_delay() {
    let cfg = FabricConfig {
        frame_delay: Duration::from_micros(50),
        ..FabricConfig::default()
    };
    let (f, hand) = fabric(cfg);
    let mut h = Host::attach(&f, 0);
    f.drop_next_frames(1);
    let ox = h.send(
        r_ctl::ELS_REQ,
        fc_type::ELS,
        fabric_util::FABRIC_DID,
        &h.login_payload(els_cmd::FLOGI),
    );
    assert!(h.reply_to(ox).is_none());
    hand.advance(Duration::from_millis(1));
    assert!(h.reply_to(ox).is_none(), "a lost frame never gets a reply");
    assert_eq!(f.stats().dropped_fault, 1);

    let ox = h.send(
        r_ctl::ELS_REQ,
        fc_type::ELS,
        fabric_util::FABRIC_DID,
        &h.login_payload(els_cmd::FLOGI),
    );
    assert!(
        h.reply_to(ox).is_none(),
        "not visible before the frame delay"
    );
    hand.advance(Duration::from_micros(49));
    assert!(h.reply_to(ox).is_none());
    hand.advance(Duration::from_micros(1));
    let acc = h.reply_to(ox).expect("visible once the delay passed");
    assert_eq!(acc.payload[0], els_cmd::LS_ACC);
}

#[test]
fn drop_rule_loses_frames_in_either_direction() {
    let (f, hand) = fabric(FabricConfig::default());
    let mut h = Host::attach(&f, 0);
    h.flogi();
    h.plogi(TARGET_ID);
    // Lose the target's PRLI ACC on its way to the host.
    f.drop_frames_if(|dir, fr| {
        dir == FrameDirection::ToHost
            && fr.header.r_ctl == r_ctl::ELS_REP
            && fr.header.s_id() == TARGET_ID
    });
    let ox = h.send(
        r_ctl::ELS_REQ,
        fc_type::ELS,
        TARGET_ID,
        ufc_hba::fc::prli::NvmePrli::request(ufc_hba::fc::prli::nvme_sp::INITIATOR).as_bytes(),
    );
    assert!(h.reply_to(ox).is_none());
    // The target did accept it: the host would retry, the target sees a re-PRLI.
    assert!(f.nvme_logged_in(h.id, TARGET_ID));
    assert_eq!(f.stats().dropped_fault, 1);
    // Lose everything the host sends.
    f.drop_frames_if(|dir, _| dir == FrameDirection::FromHost);
    let ox = h.send(
        r_ctl::ELS_REQ,
        fc_type::ELS,
        TARGET_ID,
        &h.login_payload(els_cmd::PLOGI),
    );
    assert!(h.reply_to(ox).is_none());
    assert_eq!(f.stats().dropped_fault, 2);
    f.clear_drop_rule();
    assert_eq!(h.nvme_prli(TARGET_ID).payload[0], els_cmd::LS_ACC);
    // Runtime frame delay.
    f.set_frame_delay(Duration::from_millis(2));
    let ox = h.send(
        r_ctl::ELS_REQ,
        fc_type::ELS,
        TARGET_ID,
        &h.login_payload(els_cmd::PLOGI),
    );
    assert!(h.reply_to(ox).is_none());
    hand.advance(Duration::from_millis(2));
    assert!(h.reply_to(ox).is_some());
}

#[test]
fn frames_between_host_ports_are_forwarded() {
    let mut cfg = FabricConfig::default();
    let mut h2 = cfg.host_ports[0];
    h2.addr.wwpn.0 += 1;
    cfg.host_ports.push(h2);
    let (f, _hand) = fabric(cfg);
    let mut a = Host::attach(&f, 0);
    let mut b = Host::attach(&f, 1);
    a.flogi();
    b.flogi();
    let ox = a.send(
        r_ctl::ELS_REQ,
        fc_type::ELS,
        b.id,
        &a.login_payload(els_cmd::PLOGI),
    );
    let got = b.take_els(els_cmd::PLOGI);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].header.s_id(), got[0].header.ox_id.get()),
        (a.id, ox)
    );
    assert_eq!(
        f.stats().frames_to_hosts,
        3,
        "two FLOGI ACCs and the forwarded PLOGI"
    );
}

#[test]
fn a_host_port_added_at_run_time_logs_in() {
    let (f, _hand) = fabric(FabricConfig::default());
    let addr = ufc_transport::wwn::FcAddr {
        wwnn: ufc_transport::wwn::Wwn(0x2000_0090_fa00_0099),
        wwpn: ufc_transport::wwn::Wwn(0x1000_0090_fa00_0099),
    };
    f.add_host_port(addr).unwrap();
    assert!(matches!(
        f.add_host_port(addr),
        Err(FabricError::Duplicate(_))
    ));
    let mut h = Host::new(f.attach(addr.wwpn).unwrap());
    h.flogi();
    assert_eq!(
        h.id, 0x01_0102,
        "after the configured host (0x010100) and target (0x010101)"
    );
    assert_eq!(h.plogi(TARGET_ID).payload[0], els_cmd::LS_ACC);
}
