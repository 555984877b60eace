//! Fabric login and discovery against the emulated port, fabric and targets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests may unwrap (house rules)

mod common;

use std::time::Duration;

use common::{fabric_config, Rig};
use ufc_emu::sli4::{FirmwareError, Generation};
use ufc_hba::driver::HbaState;
use ufc_transport::lldd::PortRoles;
use ufc_transport::wwn::Wwn;

fn wwpn(n: u64) -> Wwn {
    Wwn(0x1000_0090_fb00_0000 + n)
}

fn wwnn(n: u64) -> Wwn {
    Wwn(0x2000_0090_fb00_0000 + n)
}

#[test]
fn login_two_targets_registered() {
    let mut rig = Rig::new(fabric_config(2), Generation::G7);
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 2));
    let lport = rig.hba.local_port().expect("local port registered");
    let stats = rig.transport.stats();
    let l = stats.lport(lport).unwrap();
    assert_eq!((l.wwnn, l.wwpn), rig.hba.names());
    let ports = rig.hba.remote_ports();
    assert_eq!(ports.len(), 2);
    for (i, p) in ports.iter().enumerate() {
        let n = i as u64 + 1;
        assert_eq!((p.wwnn, p.wwpn), (wwnn(n), wwpn(n)));
        let expect_id = rig.fabric.target_port(wwpn(n)).unwrap().port_id();
        assert_eq!(p.n_port_id, expect_id);
        assert!(p.roles.contains(PortRoles::TARGET), "{:?}", p.roles);
        assert!(!p.roles.contains(PortRoles::DISCOVERY));
        let t = stats.rport(p.transport_id.unwrap()).unwrap();
        assert_eq!(
            (t.wwnn, t.wwpn, t.port_id, t.lport),
            (wwnn(n), wwpn(n), expect_id, lport)
        );
    }
    assert_eq!(rig.hba.stats().target_logins, 2);
    assert_eq!(rig.hba.input_errors(), Default::default());
    rig.assert_model_clean();
}

#[test]
fn login_prli_reject_not_registered() {
    let mut cfg = fabric_config(2);
    cfg.target_ports[1].reject_prli = true;
    let mut rig = Rig::new(cfg, Generation::G6);
    assert!(rig.poll_until(500, |r| r.hba.stats().target_logins
        + r.hba.stats().target_login_failures
        == 2));
    assert_eq!(
        rig.online_rports(),
        vec![(wwnn(1), wwpn(1), rig.hba.remote_ports()[0].n_port_id)]
    );
    let err = rig.hba.last_error().unwrap_or_default().to_string();
    assert!(err.contains("PRLI") && err.contains("LS_RJT"), "{err}");
}

#[test]
fn login_port_without_nvme_type_ignored() {
    let mut cfg = fabric_config(2);
    cfg.target_ports[1].fc4_types = vec![0x08];
    let mut rig = Rig::new(cfg, Generation::G7);
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 1));
    // Give discovery time to (wrongly) find the second port.
    rig.poll_until(50, |_| false);
    assert_eq!(rig.online_rports().len(), 1);
    assert_eq!(rig.hba.remote_ports()[0].wwpn, wwpn(1));
    assert_eq!(rig.hba.stats().target_login_failures, 0);
}

#[test]
fn login_discovery_role_from_prli() {
    let mut cfg = fabric_config(1);
    cfg.target_ports[0].discovery = true;
    let mut rig = Rig::new(cfg, Generation::G7);
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 1));
    let roles = rig.hba.remote_ports()[0].roles;
    assert!(
        roles.contains(PortRoles::DISCOVERY) && roles.contains(PortRoles::TARGET),
        "{roles:?}"
    );
}

#[test]
fn login_rscn_add_remove() {
    let mut rig = Rig::new(fabric_config(2), Generation::G7);
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 2));
    rig.fabric.target_leave(wwpn(2)).unwrap();
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 1));
    assert_eq!(rig.online_rports()[0].1, wwpn(1));
    assert!(rig.hba.stats().rscns >= 1);
    rig.fabric.target_return(wwpn(2)).unwrap();
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 2));
    rig.assert_model_clean();
}

#[test]
fn login_link_bounce() {
    let mut rig = Rig::new(fabric_config(2), Generation::G6);
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 2));
    let before = rig.online_rports();
    rig.faults.link_down().unwrap();
    assert!(rig.poll_until(500, |r| r.online_rports().is_empty() && !r.hba.link().up));
    assert!(rig.hba.remote_ports().is_empty());
    assert!(rig.hba.fabric_login().is_none());
    // No controller held them: both delete callbacks came at once.
    assert!(rig.poll_until(10, |r| r.hba.stats().rport_deletes == 2));
    rig.faults.link_up().unwrap();
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 2));
    let after = rig.online_rports();
    let names = |v: &[(Wwn, Wwn, u32)]| v.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>();
    assert_eq!(names(&before), names(&after));
    assert_eq!(rig.hba.stats().link_downs, 1);
    rig.assert_model_clean();
}

#[test]
fn login_firmware_error_recovery() {
    let mut rig = Rig::new(fabric_config(2), Generation::G7);
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 2));
    rig.faults
        .firmware_error(FirmwareError::restart(Duration::from_millis(100)));
    assert!(rig.poll_until(500, |r| r.online_rports().is_empty()));
    assert!(rig.poll_until(1000, |r| r.online_rports().len() == 2
        && r.hba.state() == HbaState::Online));
    assert_eq!(rig.hba.stats().resets, 1);
    let err = rig.hba.last_error().unwrap_or_default().to_string();
    assert!(err.contains("RN set"), "{err}");
}

#[test]
fn login_fatal_firmware_error_fails_port() {
    let mut rig = Rig::new(fabric_config(1), Generation::G6);
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 1));
    rig.faults.firmware_error(FirmwareError::fatal());
    let mut failed = None;
    for _ in 0..100 {
        if let Err(e) = rig.hba.poll() {
            failed = Some(e);
            break;
        }
        rig.hand.advance(Duration::from_millis(10));
    }
    let e = failed.expect("poll reports the dead port");
    assert!(e.to_string().contains("not recoverable"), "{e}");
    assert_eq!(rig.hba.state(), HbaState::Failed);
    rig.transport.poll();
    assert!(rig.online_rports().is_empty());
    // The fast shutdown path touches nothing on the device.
    rig.hba.shutdown().unwrap();
}

#[test]
fn login_shutdown_unregisters_and_logs_out() {
    let mut rig = Rig::new(fabric_config(2), Generation::G7);
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 2));
    let lport = rig.hba.local_port().unwrap();
    let me = rig.hba.fabric_login().unwrap().n_port_id;
    let targets: Vec<u32> = rig.hba.remote_ports().iter().map(|p| p.n_port_id).collect();
    assert!(targets.iter().all(|&t| rig.fabric.nvme_logged_in(me, t)));
    rig.hba.shutdown().unwrap();
    assert!(rig.online_rports().is_empty());
    let stats = rig.transport.stats();
    // Deleted, or already gone once its delete callback ran.
    assert!(stats
        .lport(lport)
        .is_none_or(|l| l.state == ufc_transport::port::PortState::Deleted));
    // LOGO reached the targets.
    assert!(targets.iter().all(|&t| !rig.fabric.nvme_logged_in(me, t)));
    let s = rig.faults.stats();
    assert_eq!(s.mailbox_errors, 0, "{s:?}");
}

#[test]
fn login_pcap_decodes_in_tshark() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("login.pcap");
    let (clock, hand) = ufc_emu::clock::Clock::manual();
    let fabric = ufc_emu::fabric::Fabric::new(fabric_config(1), clock.clone()).unwrap();
    fabric.capture_to_file(&path).unwrap();
    let mut rig = Rig::on(fabric, clock, hand, Generation::G7);
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 1));
    rig.fabric.stop_capture().unwrap();
    let tshark = |args: &[&str]| {
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .args(args)
            .output()
            .expect("tshark runs (install it: apt-get install -y tshark)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let summary = tshark(&[]);
    let detail = tshark(&["-V"]);
    assert!(
        !detail.contains("Malformed"),
        "malformed frames:\n{summary}"
    );
    // The login in order, each request answered.
    let order = [
        "FLOGI",
        "ACC (FLOGI)",
        "PLOGI",
        "ACC (PLOGI)",
        "RFT_ID",
        "ACC (RFT_ID)",
        "RFF_ID",
        "ACC (RFF_ID)",
        "SCR",
        "ACC (SCR)",
        "GID_FT",
        "ACC (GID_FT)",
        "PLOGI",
        "ACC (PLOGI)",
        "PRLI",
        "ACC (PRLI)",
    ];
    let lines: Vec<&str> = summary.lines().collect();
    assert_eq!(lines.len(), order.len(), "{summary}");
    for (line, what) in lines.iter().zip(order) {
        assert!(line.trim_end().ends_with(what), "expected {what}: {line}");
    }
    // Fields: FLOGI from S_ID 0 with our WWPN, the ACC to the assigned N_Port
    // ID, FC-4 type 0x28 in GID_FT and PRLI.
    let me = rig.hba.fabric_login().unwrap().n_port_id;
    let dotted = format!(
        "{:02x}.{:02x}.{:02x}",
        me >> 16,
        (me >> 8) & 0xFF,
        me & 0xFF
    );
    assert!(lines[0].contains("00.00.00 → ff.ff.fe"), "{}", lines[0]);
    assert!(
        lines[1].contains(&format!("ff.ff.fe → {dotted}")),
        "{}",
        lines[1]
    );
    let wwpn = rig.hba.names().1 .0.to_be_bytes();
    let wwpn = wwpn
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    assert!(
        detail.contains(&format!("N_Port Port_Name: Emulex ({wwpn})")),
        "{wwpn}"
    );
    // Type names differ between tshark versions ("Unknown", "NVMe"); the value does not.
    let line = |prefix: &str, value: &str| {
        detail
            .lines()
            .any(|l| l.trim_start().starts_with(prefix) && l.contains(value))
    };
    assert!(line("Opcode: GID_FT", "0x0171") && line("FC-4 Type:", "(0x28)"));
    assert!(line("Cmd Code: PRLI", "0x20") && line("TYPE:", "(40)"));
}

#[test]
fn login_mailbox_hang_resets_and_logs_in_again() {
    let mut rig = Rig::new(fabric_config(2), Generation::G7);
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 2));
    // The UNREG_RPI of the port that leaves never completes: the port is
    // reset (OCS treats a mailbox timeout as a port-level failure) and
    // everything is rebuilt.
    rig.faults.hang_next_mailbox();
    rig.fabric.target_leave(wwpn(2)).unwrap();
    assert!(rig.poll_until(2000, |r| r.hba.stats().resets == 1
        && r.hba.state() == HbaState::Online
        && r.online_rports().len() == 1));
    let err = rig.hba.last_error().unwrap_or_default().to_string();
    assert!(err.contains("did not complete"), "{err}");
    assert_eq!(rig.online_rports()[0].1, wwpn(1));
}

#[test]
fn login_slow_mailbox() {
    let (clock, hand) = ufc_emu::clock::Clock::manual();
    let fabric = ufc_emu::fabric::Fabric::new(fabric_config(1), clock.clone()).unwrap();
    let mut rig = Rig::on(fabric, clock, hand, Generation::G6);
    rig.faults.slow_mailbox(Some(Duration::from_millis(300)));
    let t0 = rig.clock.now();
    assert!(rig.poll_until(2000, |r| r.online_rports().len() == 1));
    // REG_VFI, REG_RPI (name server and target) each took 300 ms of model time.
    assert!(rig.clock.now() - t0 >= Duration::from_millis(900));
}

#[test]
fn login_lost_plogi_is_retried() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use ufc_emu::fabric::FrameDirection;
    use ufc_hba::fc::els::els_cmd;

    let (clock, hand) = ufc_emu::clock::Clock::manual();
    let fabric = ufc_emu::fabric::Fabric::new(fabric_config(1), clock.clone()).unwrap();
    let target_id = fabric.target_port(wwpn(1)).unwrap().port_id();
    let dropped = Arc::new(AtomicU32::new(0));
    let d = Arc::clone(&dropped);
    // The first PLOGI to the target is lost: the exchange times out, is
    // aborted, and the next discovery pass logs in.
    fabric.drop_frames_if(move |dir, f| {
        let hit = dir == FrameDirection::FromHost
            && f.header.d_id() == target_id
            && f.payload.first() == Some(&els_cmd::PLOGI)
            && d.load(Ordering::Relaxed) == 0;
        if hit {
            d.store(1, Ordering::Relaxed);
        }
        hit
    });
    let mut rig = Rig::on(fabric, clock, hand, Generation::G7);
    assert!(rig.poll_until(3000, |r| r.online_rports().len() == 1));
    assert_eq!(dropped.load(Ordering::Relaxed), 1);
    assert_eq!(rig.hba.stats().target_login_failures, 1);
    let err = rig.hba.last_error().unwrap_or_default().to_string();
    assert!(err.contains("PLOGI"), "{err}");
    // The abort's completion and the aborted exchange's were both expected.
    assert_eq!(rig.hba.input_errors(), Default::default());
}

#[test]
fn login_logo_from_target_unregisters_then_logs_in_again() {
    let mut rig = Rig::new(fabric_config(2), Generation::G7);
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 2));
    let host = rig.hba.names().1;
    assert!(rig.fabric.target_logo(wwpn(1), host).unwrap());
    assert!(rig.poll_until(50, |r| r.online_rports().len() == 1));
    assert_eq!(rig.online_rports()[0].1, wwpn(2));
    assert!(rig.hba.remote_ports().iter().all(|p| p.wwpn != wwpn(1)));
    // Still in the name server: a new login follows after login_retry (2 s).
    let t0 = rig.clock.now();
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 2));
    assert!(rig.clock.now() - t0 >= Duration::from_secs(2));
    assert_eq!(rig.hba.stats().target_logins, 3);
    assert_eq!(rig.hba.input_errors(), Default::default());
    rig.assert_model_clean();
}

#[test]
fn login_plogi_from_target_logs_in_again() {
    let mut rig = Rig::new(fabric_config(1), Generation::G6);
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 1));
    let me = rig.hba.fabric_login().unwrap().n_port_id;
    let host = rig.hba.names().1;
    let target_id = rig.hba.remote_ports()[0].n_port_id;
    // The target's PLOGI replaces the login: we accept, register the RPI
    // again and send our PRLI; the remote port comes back.
    assert!(rig.fabric.target_plogi(wwpn(1), host).unwrap());
    assert!(rig.poll_until(500, |r| r.hba.stats().target_logins == 2));
    assert!(rig.poll_until(100, |r| r.online_rports().len() == 1));
    assert!(rig.fabric.nvme_logged_in(me, target_id));
    let p = &rig.hba.remote_ports()[0];
    assert_eq!((p.wwpn, p.n_port_id), (wwpn(1), target_id));
    assert!(p.roles.contains(PortRoles::TARGET));
    assert_eq!(rig.hba.input_errors(), Default::default());
    rig.assert_model_clean();
}

#[test]
fn login_lost_flogi_is_retried() {
    use ufc_emu::fabric::FrameDirection;
    use ufc_hba::fc::els::els_cmd;

    let (clock, hand) = ufc_emu::clock::Clock::manual();
    let fabric = ufc_emu::fabric::Fabric::new(fabric_config(1), clock.clone()).unwrap();
    let mut first = true;
    fabric.drop_frames_if(move |dir, f| {
        let hit =
            first && dir == FrameDirection::FromHost && f.payload.first() == Some(&els_cmd::FLOGI);
        first &= !hit;
        hit
    });
    let mut rig = Rig::on(fabric, clock, hand, Generation::G7);
    assert!(rig.poll_until(3000, |r| r.online_rports().len() == 1));
    assert_eq!(rig.hba.stats().fabric_login_failures, 1);
    assert_eq!(rig.hba.stats().fabric_logins, 1);
    assert_eq!(rig.hba.input_errors(), Default::default());
}

#[test]
fn login_nvme_ls_over_gen_request64() {
    use std::time::Duration;
    use ufc_transport::lldd::{Lldd, LlddRport, LsEvent, LsReq};
    use ufc_transport::wire::ls_host::{encode_create_assoc, CreateAssocAcc, CreateAssocParams};

    let mut rig = Rig::new(fabric_config(1), Generation::G7);
    assert!(rig.poll_until(500, |r| r.online_rports().len() == 1));
    let lldd = rig.hba.lldd().unwrap();
    let lport = rig.hba.local_port().unwrap();
    let p = rig.hba.remote_ports()[0].clone();
    let payload = encode_create_assoc(&CreateAssocParams {
        ersp_ratio: 8,
        sqsize: 31,
        hostid: [7; 16],
        hostnqn: "nqn.2014-08.org.example:ufc-host",
        subnqn: "nqn.2014-08.org.example:ufc-emu-sub1",
    })
    .unwrap();
    let req = |tag, rport| LsReq {
        tag,
        rport,
        payload: payload.clone(),
        rsp_max: 512,
        timeout: Duration::from_secs(20),
    };
    lldd.ls_req(
        lport,
        req(
            1,
            LlddRport(u64::from(p.rpi) << 32 | u64::from(p.n_port_id)),
        ),
    )
    .unwrap();
    // A token that names no logged-in port fails without touching the wire.
    lldd.ls_req(lport, req(2, LlddRport(0x0042_0000_0000_0001)))
        .unwrap();
    // Not through Transport::poll: it would take these events for its own
    // (unknown) tags.
    let mut events = Vec::new();
    for _ in 0..100 {
        rig.hba.poll().unwrap();
        lldd.poll_ls(lport, &mut |e| events.push(e));
        if events.len() == 2 {
            break;
        }
        rig.hand.advance(Duration::from_millis(10));
    }
    assert_eq!(events.len(), 2);
    let mut ok = None;
    for e in events {
        match e {
            LsEvent::Done { tag: 1, result } => ok = Some(result.unwrap()),
            LsEvent::Done { tag: 2, result } => assert!(result.is_err()),
            other => panic!("{other:?}"),
        }
    }
    let acc = CreateAssocAcc::parse(&ok.unwrap()).unwrap();
    assert_ne!(acc.association_id, 0);
    let target = rig.fabric.target_port(wwpn(1)).unwrap();
    assert_eq!(target.associations().len(), 1);
}
