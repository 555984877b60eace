//! Target N_Ports on the fabric: PLOGI, NVMe PRLI (accept with the target role,
//! configured and injected rejects), the FC-NVMe LSs routed to the target model,
//! ABTS, target-initiated LSs and LOGO, and the exchange-level entry for FCP.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (house rules)

mod fabric_util;

use fabric_util::{fabric, Host};
use ufc_emu::fabric::FabricConfig;
use ufc_hba::fc::bls::BaAcc;
use ufc_hba::fc::els::els_cmd;
use ufc_hba::fc::header::{fc_type, r_ctl};
use ufc_hba::fc::login::LoginPayload;
use ufc_hba::fc::logo::Logo;
use ufc_hba::fc::ls_rjt::{explanation, reason, LsRjt};
use ufc_hba::fc::prli::{response_code, NvmePrli};
use ufc_transport::wire::ls::encode_disconnect_assoc_acc;
use ufc_transport::wire::ls_host::{
    encode_create_assoc, encode_disconnect_assoc, CreateAssocAcc, CreateAssocParams,
    RcvDisconnectAssoc,
};

const HOSTNQN: &str = "nqn.2014-08.org.example:host1";
const TARGET_ID: u32 = 0x01_0101;

fn create_assoc_ls() -> Vec<u8> {
    encode_create_assoc(&CreateAssocParams {
        ersp_ratio: 8,
        sqsize: 31,
        hostid: [3; 16],
        hostnqn: HOSTNQN,
        subnqn: &FabricConfig::default().target_ports[0].subsystems[0].nqn,
    })
    .unwrap()
}

fn logged_in_host() -> (std::sync::Arc<ufc_emu::fabric::Fabric>, Host) {
    let (f, _hand) = fabric(FabricConfig::default());
    let mut h = Host::attach(&f, 0);
    h.flogi();
    (f, h)
}

#[test]
fn plogi_and_nvme_prli_accepted_with_target_role() {
    let (f, mut h) = logged_in_host();
    let t = f.config().target_ports[0].addr;
    let acc = h.plogi(TARGET_ID);
    assert_eq!(acc.header.r_ctl, r_ctl::ELS_REP);
    assert_eq!(acc.header.s_id(), TARGET_ID);
    assert_eq!(acc.header.d_id(), h.id);
    let sp = LoginPayload::parse(&acc.payload).unwrap();
    assert_eq!(sp.cmd, els_cmd::LS_ACC);
    assert_eq!((sp.sp.wwpn(), sp.sp.wwnn()), (t.wwpn, t.wwnn));
    assert!(!sp.sp.is_f_port());
    assert!(!f.nvme_logged_in(h.id, TARGET_ID));

    let acc = h.nvme_prli(TARGET_ID);
    let prli = NvmePrli::parse(&acc.payload).unwrap();
    assert_eq!(prli.header.cmd, els_cmd::LS_ACC);
    assert_eq!(prli.page.response_code(), response_code::EXECUTED);
    assert!(prli.page.is_target());
    assert!(!prli.page.is_initiator());
    assert!(!prli.page.is_discovery());
    assert!(f.nvme_logged_in(h.id, TARGET_ID));
}

#[test]
fn discovery_target_sets_the_discovery_bit() {
    let mut cfg = FabricConfig::default();
    cfg.target_ports[0].discovery = true;
    let (f, _hand) = fabric(cfg);
    let mut h = Host::attach(&f, 0);
    h.flogi();
    h.plogi(TARGET_ID);
    let prli = NvmePrli::parse(&h.nvme_prli(TARGET_ID).payload).unwrap();
    assert!(prli.page.is_target() && prli.page.is_discovery());
}

fn assert_ls_rjt(payload: &[u8], want_reason: u8, want_expl: u8) {
    let r = LsRjt::parse(payload).unwrap_or_else(|e| panic!("not an LS_RJT ({e}): {payload:02x?}"));
    assert_eq!((r.reason, r.explanation), (want_reason, want_expl));
}

#[test]
fn configured_prli_reject_and_injected_plogi_prli_rejects() {
    let mut cfg = FabricConfig::default();
    cfg.target_ports[0].reject_prli = true;
    let (f, _hand) = fabric(cfg);
    let twwpn = f.config().target_ports[0].addr.wwpn;
    let mut h = Host::attach(&f, 0);
    h.flogi();
    h.plogi(TARGET_ID);
    assert_ls_rjt(
        &h.nvme_prli(TARGET_ID).payload,
        reason::UNABLE_TO_PERFORM,
        explanation::NONE,
    );
    assert!(!f.nvme_logged_in(h.id, TARGET_ID));
    f.set_reject_prli(twwpn, false).unwrap();
    assert_eq!(h.nvme_prli(TARGET_ID).payload[0], els_cmd::LS_ACC);

    // One-shot faults: the next PLOGI and the next PRLI are refused, then accepted.
    f.reject_next_plogi(twwpn, 1).unwrap();
    assert_ls_rjt(
        &h.plogi(TARGET_ID).payload,
        reason::UNABLE_TO_PERFORM,
        explanation::NONE,
    );
    assert_eq!(h.plogi(TARGET_ID).payload[0], els_cmd::LS_ACC);
    f.reject_next_prli(twwpn, 1).unwrap();
    assert_ls_rjt(
        &h.nvme_prli(TARGET_ID).payload,
        reason::UNABLE_TO_PERFORM,
        explanation::NONE,
    );
    assert_eq!(h.nvme_prli(TARGET_ID).payload[0], els_cmd::LS_ACC);
    assert!(f.nvme_logged_in(h.id, TARGET_ID));
}

#[test]
fn prli_before_plogi_is_rejected_and_ls_before_login_draws_logo() {
    let (f, mut h) = logged_in_host();
    assert_ls_rjt(
        &h.nvme_prli(TARGET_ID).payload,
        reason::UNABLE_TO_PERFORM,
        explanation::PLOGI_REQUIRED,
    );
    // An LS from a port that never logged in is discarded and answered with LOGO.
    let ox = h.send(
        r_ctl::FC4_LS_REQ,
        fc_type::NVME,
        TARGET_ID,
        &create_assoc_ls(),
    );
    assert!(h.reply_to(ox).is_none());
    let logos = h.take_els(els_cmd::LOGO);
    assert_eq!(logos.len(), 1);
    let logo = Logo::parse(&logos[0].payload).unwrap();
    assert_eq!(logo.n_port_id(), TARGET_ID);
    assert_eq!(f.stats().dropped_not_logged_in, 1);
    assert!(f.target_for(TARGET_ID).unwrap().associations().is_empty());
}

#[test]
fn create_association_is_routed_to_the_target_and_answered() {
    let (f, mut h) = logged_in_host();
    h.plogi(TARGET_ID);
    h.nvme_prli(TARGET_ID);
    let rsp = h.request(
        r_ctl::FC4_LS_REQ,
        fc_type::NVME,
        TARGET_ID,
        &create_assoc_ls(),
    );
    assert_eq!(rsp.header.r_ctl, r_ctl::FC4_LS_REP);
    assert_eq!(rsp.header.fc_type, fc_type::NVME);
    let acc = CreateAssocAcc::parse(&rsp.payload).unwrap();
    let tp = f.target_for(TARGET_ID).unwrap();
    let assocs = tp.associations();
    assert_eq!(assocs.len(), 1);
    assert_eq!(assocs[0].id(), acc.association_id);
    // The target learnt the host's names from its PLOGI.
    assert_eq!(assocs[0].params().host, h.port.addr());
    assert_eq!(assocs[0].params().hostnqn, HOSTNQN);

    // Host-initiated Disconnect Association.
    let rsp = h.request(
        r_ctl::FC4_LS_REQ,
        fc_type::NVME,
        TARGET_ID,
        &encode_disconnect_assoc(acc.association_id),
    );
    assert_eq!(rsp.payload, encode_disconnect_assoc_acc());
    assert!(tp.associations().is_empty());
}

#[test]
fn target_initiated_disconnect_reaches_the_host_and_its_acc_the_target() {
    let (f, mut h) = logged_in_host();
    h.plogi(TARGET_ID);
    h.nvme_prli(TARGET_ID);
    let rsp = h.request(
        r_ctl::FC4_LS_REQ,
        fc_type::NVME,
        TARGET_ID,
        &create_assoc_ls(),
    );
    let assoc = CreateAssocAcc::parse(&rsp.payload).unwrap().association_id;
    let tp = f.target_for(TARGET_ID).unwrap();
    assert!(tp.disconnect_association(assoc));
    h.collect();
    assert_eq!(h.unsolicited.len(), 1);
    let ls = h.unsolicited.remove(0);
    assert_eq!(
        (ls.header.r_ctl, ls.header.fc_type),
        (r_ctl::FC4_LS_REQ, fc_type::NVME)
    );
    assert_eq!((ls.header.s_id(), ls.header.d_id()), (TARGET_ID, h.id));
    assert_eq!(
        RcvDisconnectAssoc::decode(&ls.payload)
            .unwrap()
            .association_id,
        assoc
    );
    // The host answers on the target's exchange.
    let reply = ufc_hba::fc::frame::Frame::new(
        ufc_hba::fc::header::FcHeader::reply_to(&ls.header, r_ctl::FC4_LS_REP, 0x77),
        encode_disconnect_assoc_acc(),
    );
    h.port.send_frame(reply).unwrap();
    let got = tp.ls_responses();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, encode_disconnect_assoc_acc());
    assert_eq!(f.stats().acc_received, 1);
}

#[test]
fn abts_is_answered_with_ba_acc() {
    let (_f, mut h) = logged_in_host();
    h.plogi(TARGET_ID);
    let rsp = h.request(r_ctl::BLS_ABTS, fc_type::BLS, TARGET_ID, &[]);
    assert_eq!(rsp.header.r_ctl, r_ctl::BLS_BA_ACC);
    let ba = BaAcc::parse(&rsp.payload).unwrap();
    assert_eq!(ba.ox_id.get(), rsp.header.ox_id.get());
    assert_eq!(ba.high_seq_cnt.get(), 0xffff);
}

#[test]
fn target_logo_and_host_logo_end_the_login_and_its_associations() {
    let (f, mut h) = logged_in_host();
    let twwpn = f.config().target_ports[0].addr.wwpn;
    h.plogi(TARGET_ID);
    h.nvme_prli(TARGET_ID);
    h.request(
        r_ctl::FC4_LS_REQ,
        fc_type::NVME,
        TARGET_ID,
        &create_assoc_ls(),
    );
    let tp = f.target_for(TARGET_ID).unwrap();
    assert_eq!(tp.associations().len(), 1);

    assert!(f.target_logo(twwpn, h.wwpn()).unwrap());
    let logos = h.take_els(els_cmd::LOGO);
    assert_eq!(logos.len(), 1);
    assert_eq!(Logo::parse(&logos[0].payload).unwrap().wwpn(), twwpn);
    assert!(tp.associations().is_empty());
    assert!(!f.nvme_logged_in(h.id, TARGET_ID));
    assert!(!f.target_logo(twwpn, h.wwpn()).unwrap());

    // Log in again, then log out from the host side.
    h.plogi(TARGET_ID);
    h.nvme_prli(TARGET_ID);
    h.request(
        r_ctl::FC4_LS_REQ,
        fc_type::NVME,
        TARGET_ID,
        &create_assoc_ls(),
    );
    let logo = Logo::new(h.id, h.wwpn());
    assert_eq!(
        h.els(TARGET_ID, logo.as_bytes()).payload,
        vec![els_cmd::LS_ACC, 0, 0, 0]
    );
    assert!(tp.associations().is_empty());
    assert!(!f.nvme_logged_in(h.id, TARGET_ID));
}

#[test]
fn target_for_is_the_exchange_level_entry() {
    let (f, mut h) = logged_in_host();
    let twwpn = f.config().target_ports[0].addr.wwpn;
    let tp = f.target_for(TARGET_ID).unwrap();
    assert_eq!(tp.addr().wwpn, twwpn);
    assert_eq!(tp.port_id(), TARGET_ID);
    assert!(f.target_for(h.id).is_none(), "a host port is no target");
    assert!(f.target_for(0x01_0555).is_none());
    // FCP frames are not routed frame by frame.
    h.plogi(TARGET_ID);
    h.send(r_ctl::FCP_CMND, fc_type::NVME, TARGET_ID, &[0; 96]);
    h.collect();
    assert!(h.unsolicited.is_empty());
    assert_eq!(f.stats().dropped_unsupported, 1);
    f.target_leave(twwpn).unwrap();
    assert!(f.target_for(TARGET_ID).is_none());
    assert!(f.target_port(twwpn).is_some());
}

#[test]
fn target_initiated_plogi_logs_the_host_in_when_accepted() {
    let (f, mut h) = logged_in_host();
    let twwpn = f.config().target_ports[0].addr.wwpn;
    assert!(f.target_plogi(twwpn, h.wwpn()).unwrap());
    let plogi = h.take_els(els_cmd::PLOGI).remove(0);
    assert_eq!(plogi.header.s_id(), TARGET_ID);
    assert_eq!(
        LoginPayload::parse(&plogi.payload).unwrap().sp.wwpn(),
        twwpn
    );
    // The host answers with its own service parameters.
    let mut acc = h.login_payload(els_cmd::PLOGI);
    acc[0] = els_cmd::LS_ACC;
    let reply = ufc_hba::fc::frame::Frame::new(
        ufc_hba::fc::header::FcHeader::reply_to(&plogi.header, r_ctl::ELS_REP, 0x42),
        acc,
    );
    h.port.send_frame(reply).unwrap();
    assert_eq!(f.stats().acc_received, 1);
    // Logged in: PRLI needs no PLOGI from the host now.
    assert_eq!(h.nvme_prli(TARGET_ID).payload[0], els_cmd::LS_ACC);

    // A refused target PLOGI leaves nothing behind.
    f.target_logo(twwpn, h.wwpn()).unwrap();
    h.take_els(els_cmd::LOGO);
    assert!(f.target_plogi(twwpn, h.wwpn()).unwrap());
    let plogi = h.take_els(els_cmd::PLOGI).remove(0);
    let rjt = ufc_hba::fc::frame::Frame::new(
        ufc_hba::fc::header::FcHeader::reply_to(&plogi.header, r_ctl::ELS_REP, 0x43),
        LsRjt::new(reason::UNABLE_TO_PERFORM, explanation::NONE)
            .as_bytes()
            .to_vec(),
    );
    h.port.send_frame(rjt).unwrap();
    assert_eq!(f.stats().rjt_received, 1);
    assert_ls_rjt(
        &h.nvme_prli(TARGET_ID).payload,
        reason::UNABLE_TO_PERFORM,
        explanation::PLOGI_REQUIRED,
    );
}
