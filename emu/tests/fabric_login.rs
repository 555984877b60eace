//! Fabric login and discovery as an FC-NVMe initiator does it (sli4.md §6.1):
//! FLOGI, PLOGI to the name server, RFT_ID, RFF_ID, SCR, GID_FT, GID_PT.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (house rules)

mod fabric_util;

use fabric_util::{fabric, Host, FABRIC_CTRL_DID, FABRIC_DID};
use ufc_emu::fabric::config::{TargetPortConfig, FC4_TYPE_FCP, FC4_TYPE_NVME};
use ufc_emu::fabric::{FabricConfig, NAME_SERVER_DID};
use ufc_hba::fc::ct::{ct_reason, ns_explanation, CtResponse};
use ufc_hba::fc::els::els_cmd;
use ufc_hba::fc::header::{fc_type, r_ctl};
use ufc_hba::fc::login::LoginPayload;
use ufc_hba::fc::nameserver::{
    fc4_features, gid_ft, gid_pt, port_type, rff_id, rft_id, Fc4Types, GidList,
};
use ufc_hba::fc::scr::{scr_function, Scr};
use ufc_transport::wwn::Wwn;

fn accept_ids(payload: &[u8]) -> Vec<u32> {
    match CtResponse::parse(payload).unwrap().1 {
        CtResponse::Accept(rest) => {
            let l = GidList::parse(rest).unwrap();
            assert!(l.is_complete(), "last-entry bit missing");
            l.ids().collect()
        }
        CtResponse::Reject {
            reason,
            explanation,
        } => panic!("CT reject {reason:#x}/{explanation:#x}"),
    }
}

fn assert_ct_accept(payload: &[u8]) {
    assert!(
        matches!(CtResponse::parse(payload).unwrap().1, CtResponse::Accept(_)),
        "{payload:02x?}"
    );
}

/// Two NVMe targets and one FCP-only port.
fn two_targets() -> FabricConfig {
    let mut cfg = FabricConfig::default();
    let t0 = cfg.target_ports[0].clone();
    let mut t1 = t0.clone();
    t1.addr.wwpn = Wwn(t0.addr.wwpn.0 + 1);
    t1.addr.wwnn = Wwn(t0.addr.wwnn.0 + 1);
    t1.port_id = Some(0x01_0a00);
    let fcp = TargetPortConfig {
        addr: ufc_transport::wwn::FcAddr {
            wwnn: Wwn(0x2000_0090_fc00_0001),
            wwpn: Wwn(0x1000_0090_fc00_0001),
        },
        port_id: None,
        fc4_types: vec![FC4_TYPE_FCP],
        discovery: false,
        reject_plogi: false,
        reject_prli: false,
        subsystems: Vec::new(),
    };
    cfg.target_ports = vec![t0, t1, fcp];
    cfg
}

#[test]
fn flogi_assigns_the_n_port_id_and_returns_f_port_parameters() {
    let (f, _hand) = fabric(FabricConfig::default());
    let mut h = Host::attach(&f, 0);
    assert_eq!(h.port.n_port_id(), None);
    let acc = h.flogi();
    assert_eq!(acc.header.r_ctl, r_ctl::ELS_REP);
    assert_eq!(acc.header.s_id(), FABRIC_DID);
    assert_eq!(acc.header.d_id(), 0x01_0100, "domain 1, area 1, port 0");
    assert_eq!(h.port.n_port_id(), Some(0x01_0100));
    let p = LoginPayload::parse(&acc.payload).unwrap();
    assert_eq!(p.cmd, els_cmd::LS_ACC);
    assert!(p.sp.is_f_port());
    assert_eq!(p.sp.r_a_tov_ms(), 10_000);
    assert_eq!(p.sp.e_d_tov_ms(), 2_000);
    assert_eq!(p.sp.bb_credit(), 16);
    assert_eq!(p.sp.wwnn(), f.config().fabric_name.wwnn);
    assert_eq!(p.sp.wwpn(), f.config().fabric_name.wwpn);
    assert!(p.sp.class3.is_valid());
}

#[test]
fn frames_before_flogi_and_with_a_wrong_s_id_are_dropped() {
    let (f, _hand) = fabric(FabricConfig::default());
    let mut h = Host::attach(&f, 0);
    let ox = h.send(
        r_ctl::ELS_REQ,
        fc_type::ELS,
        NAME_SERVER_DID,
        &h.login_payload(els_cmd::PLOGI),
    );
    assert!(h.reply_to(ox).is_none());
    h.flogi();
    h.id = 0x01_0777;
    let ox = h.send(
        r_ctl::ELS_REQ,
        fc_type::ELS,
        NAME_SERVER_DID,
        &h.login_payload(els_cmd::PLOGI),
    );
    assert!(h.reply_to(ox).is_none());
    assert_eq!(f.stats().dropped_bad_s_id, 2);
}

#[test]
fn name_server_registration_and_gid_ft_with_two_targets() {
    let (f, _hand) = fabric(two_targets());
    let mut h = Host::attach(&f, 0);
    h.flogi();
    // CT before PLOGI to the directory: discarded, LOGO from 0xFFFFFC.
    let ox = h.send(
        r_ctl::UNSOL_CTL,
        fc_type::CT,
        NAME_SERVER_DID,
        &gid_ft(FC4_TYPE_NVME, 0),
    );
    assert!(h.reply_to(ox).is_none());
    let logo = h.take_els(els_cmd::LOGO);
    assert_eq!(logo.len(), 1);
    assert_eq!(logo[0].header.s_id(), NAME_SERVER_DID);

    let acc = h.plogi(NAME_SERVER_DID);
    assert_eq!(acc.payload[0], els_cmd::LS_ACC);
    assert_eq!(acc.header.s_id(), NAME_SERVER_DID);

    // Only the targets so far (the FCP-only port is not of type 0x28).
    let rsp = h.ct(&gid_ft(FC4_TYPE_NVME, 0x100));
    assert_eq!(rsp.header.r_ctl, r_ctl::SOL_CTL);
    assert_eq!(rsp.header.fc_type, fc_type::CT);
    assert_eq!(accept_ids(&rsp.payload), vec![0x01_0101, 0x01_0a00]);

    assert_ct_accept(
        &h.ct(&rft_id(h.id, &Fc4Types::from_types(&[FC4_TYPE_NVME])))
            .payload,
    );
    assert_ct_accept(
        &h.ct(&rff_id(h.id, FC4_TYPE_NVME, fc4_features::INITIATOR))
            .payload,
    );
    let acc = h.els(FABRIC_CTRL_DID, Scr::new(scr_function::FULL).as_bytes());
    assert_eq!(acc.payload, vec![els_cmd::LS_ACC, 0, 0, 0]);

    // Now the host is listed too; FCP shows only the FCP-only port.
    assert_eq!(
        accept_ids(&h.ct(&gid_ft(FC4_TYPE_NVME, 0x100)).payload),
        vec![0x01_0100, 0x01_0101, 0x01_0a00]
    );
    assert_eq!(
        accept_ids(&h.ct(&gid_ft(FC4_TYPE_FCP, 0x100)).payload),
        vec![0x01_0103]
    );
    assert_eq!(
        accept_ids(&h.ct(&gid_pt(port_type::NX_PORT, 0x100)).payload),
        vec![0x01_0100, 0x01_0101, 0x01_0103, 0x01_0a00]
    );
    // Registering for another port is refused.
    match CtResponse::parse(&h.ct(&rft_id(0x01_0101, &Fc4Types::default())).payload)
        .unwrap()
        .1
    {
        CtResponse::Reject { explanation, .. } => {
            assert_eq!(explanation, ns_explanation::INVALID_PORT_ID)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn gid_ft_with_nothing_registered_is_a_reject() {
    let mut cfg = FabricConfig::default();
    cfg.target_ports.clear();
    let (f, _hand) = fabric(cfg);
    let mut h = Host::attach(&f, 0);
    h.flogi();
    h.plogi(NAME_SERVER_DID);
    match CtResponse::parse(&h.ct(&gid_ft(FC4_TYPE_NVME, 0x100)).payload)
        .unwrap()
        .1
    {
        CtResponse::Reject {
            reason,
            explanation,
        } => {
            assert_eq!(reason, ct_reason::UNABLE_TO_PERFORM);
            assert_eq!(explanation, ns_explanation::FC4_TYPES_NOT_REGISTERED);
        }
        other => panic!("expected a reject, got {other:?}"),
    }
    match CtResponse::parse(&h.ct(&gid_pt(port_type::NL_PORT, 0)).payload)
        .unwrap()
        .1
    {
        CtResponse::Reject { explanation, .. } => {
            assert_eq!(explanation, ns_explanation::PORT_TYPE_NOT_REGISTERED)
        }
        other => panic!("expected a reject, got {other:?}"),
    }
    // An unknown command is not supported; a truncated one has a bad size.
    let mut unknown = gid_ft(FC4_TYPE_NVME, 0);
    unknown[8..10].copy_from_slice(&0x0199u16.to_be_bytes());
    match CtResponse::parse(&h.ct(&unknown).payload).unwrap().1 {
        CtResponse::Reject { reason, .. } => assert_eq!(reason, ct_reason::CMD_NOT_SUPPORTED),
        other => panic!("{other:?}"),
    }
    let short = &gid_ft(FC4_TYPE_NVME, 0)[..17];
    match CtResponse::parse(&h.ct(short).payload).unwrap().1 {
        CtResponse::Reject { reason, .. } => assert_eq!(reason, ct_reason::INVALID_IU_SIZE),
        other => panic!("{other:?}"),
    }
}

#[test]
fn fabric_logo_ends_the_fabric_login() {
    let (f, _hand) = fabric(FabricConfig::default());
    let mut h = Host::attach(&f, 0);
    h.flogi();
    h.plogi(NAME_SERVER_DID);
    let logo = ufc_hba::fc::logo::Logo::new(h.id, h.wwpn());
    assert_eq!(
        h.els(FABRIC_DID, logo.as_bytes()).payload[0],
        els_cmd::LS_ACC
    );
    assert_eq!(h.port.n_port_id(), None);
    let ox = h.send(
        r_ctl::UNSOL_CTL,
        fc_type::CT,
        NAME_SERVER_DID,
        &gid_ft(FC4_TYPE_NVME, 0),
    );
    assert!(h.reply_to(ox).is_none());
    // A second FLOGI gets the same address back.
    h.flogi();
    assert_eq!(h.id, 0x01_0100);
}
