//! Every frame crossing the fabric goes to a pcap file (link type FC-2, 224) that
//! Wireshark decodes: checked with tshark, which must be on PATH
//! (`apt-get install -y tshark`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (house rules)

mod fabric_util;

use std::path::Path;
use std::process::Command;

use fabric_util::{fabric, Host, FABRIC_CTRL_DID};
use ufc_emu::fabric::config::FC4_TYPE_NVME;
use ufc_emu::fabric::{FabricConfig, NAME_SERVER_DID};
use ufc_hba::fc::header::{fc_type, r_ctl};
use ufc_hba::fc::nameserver::{fc4_features, gid_ft, rff_id, rft_id, Fc4Types};
use ufc_hba::fc::scr::{scr_function, Scr};
use ufc_transport::wire::ls_host::{encode_create_assoc, CreateAssocParams};

const TARGET_ID: u32 = 0x01_0101;

fn tshark(args: &[&str]) -> String {
    let out = match Command::new("tshark").args(args).output() {
        Ok(o) => o,
        Err(e) => panic!(
            "tshark could not be run ({e}): this test needs it on PATH; \
             install it with `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y tshark`"
        ),
    };
    assert!(
        out.status.success(),
        "tshark {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The discovery sequence of an FC-NVMe initiator, captured.
fn capture(path: &Path) -> u64 {
    let (f, hand) = fabric(FabricConfig::default());
    f.capture_to_file(path).unwrap();
    let mut h = Host::attach(&f, 0);
    h.flogi();
    hand.advance(std::time::Duration::from_millis(1));
    h.plogi(NAME_SERVER_DID);
    h.ct(&rft_id(h.id, &Fc4Types::from_types(&[FC4_TYPE_NVME])));
    h.ct(&rff_id(h.id, FC4_TYPE_NVME, fc4_features::INITIATOR));
    h.els(FABRIC_CTRL_DID, Scr::new(scr_function::FULL).as_bytes());
    h.ct(&gid_ft(FC4_TYPE_NVME, 0x100));
    h.plogi(TARGET_ID);
    h.nvme_prli(TARGET_ID);
    let ls = encode_create_assoc(&CreateAssocParams {
        ersp_ratio: 8,
        sqsize: 31,
        hostid: [1; 16],
        hostnqn: "nqn.2014-08.org.example:host1",
        subnqn: &f.config().target_ports[0].subsystems[0].nqn,
    })
    .unwrap();
    h.request(r_ctl::FC4_LS_REQ, fc_type::NVME, TARGET_ID, &ls);
    f.target_leave(f.config().target_ports[0].addr.wwpn)
        .unwrap();
    h.collect();
    f.stop_capture().unwrap()
}

#[test]
fn capture_decodes_in_tshark() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fabric.pcap");
    let frames = capture(&path);
    // Eight ELS/CT request/reply pairs, the Create Association pair, one RSCN.
    assert_eq!(frames, 19);
    let p = path.to_str().unwrap();
    let verbose = tshark(&["-r", p, "-V"]);
    assert!(
        !verbose.contains("Malformed"),
        "malformed frame in the capture:\n{verbose}"
    );
    assert!(
        !verbose.contains("Expert Info"),
        "tshark expert warning:\n{verbose}"
    );

    let rows = fields(
        p,
        &[
            "fc.r_ctl",
            "fc.s_id",
            "fc.d_id",
            "fcels.opcode",
            "fcdns.opcode",
        ],
    );
    let row = |n: usize| rows[n - 1].iter().map(String::as_str).collect::<Vec<_>>();
    // R_CTL, S_ID, D_ID, ELS command, name-server command/response.
    assert_eq!(
        row(1),
        ["0x22", "00.00.00", "ff.ff.fe", "0x04", ""],
        "FLOGI"
    );
    assert_eq!(
        row(2),
        ["0x23", "ff.ff.fe", "01.01.00", "0x02", ""],
        "FLOGI ACC"
    );
    assert_eq!(
        row(3),
        ["0x22", "01.01.00", "ff.ff.fc", "0x03", ""],
        "PLOGI to the name server"
    );
    assert_eq!(
        row(5),
        ["0x02", "01.01.00", "ff.ff.fc", "", "0x0217"],
        "RFT_ID"
    );
    assert_eq!(
        row(6),
        ["0x03", "ff.ff.fc", "01.01.00", "", "0x8002"],
        "RFT_ID accept"
    );
    assert_eq!(
        row(7),
        ["0x02", "01.01.00", "ff.ff.fc", "", "0x021f"],
        "RFF_ID"
    );
    assert_eq!(row(9), ["0x22", "01.01.00", "ff.ff.fd", "0x62", ""], "SCR");
    assert_eq!(
        row(11),
        ["0x02", "01.01.00", "ff.ff.fc", "", "0x0171"],
        "GID_FT"
    );
    assert_eq!(
        row(12),
        ["0x03", "ff.ff.fc", "01.01.00", "", "0x8002"],
        "GID_FT accept"
    );
    assert_eq!(
        row(13),
        ["0x22", "01.01.00", "01.01.01", "0x03", ""],
        "PLOGI to the target"
    );
    assert_eq!(
        row(15),
        ["0x22", "01.01.00", "01.01.01", "0x20", ""],
        "PRLI"
    );
    assert_eq!(
        row(16),
        ["0x23", "01.01.01", "01.01.00", "0x02", ""],
        "PRLI ACC"
    );
    assert_eq!(
        row(17)[..3],
        ["0x32", "01.01.00", "01.01.01"],
        "Create Association LS"
    );
    assert_eq!(row(18)[..3], ["0x33", "01.01.01", "01.01.00"], "LS ACC");
    assert_eq!(
        row(19),
        ["0x22", "ff.ff.fd", "01.01.00", "0x61", ""],
        "RSCN"
    );

    // Payload fields as Wireshark reads them.
    let flogi_acc = fields(p, &["fcels.logi.b2b", "fcels.edtov", "fcels.npname"]);
    assert_eq!(flogi_acc[1], ["16", "2000", "20:00:00:05:1e:00:00:01"]);
    let fc4 = fields(
        p,
        &["fcdns.req.portid", "fcdns.req.fc4type", "fcdns.rply.portid"],
    );
    assert_eq!(fc4[6][0], "01.01.00", "RFF_ID port");
    assert_eq!(fc4[6][1], "0x28", "RFF_ID type NVMe");
    assert_eq!(
        fc4[11][2], "01.01.00,01.01.01",
        "GID_FT lists the host and the target"
    );
    let prli = fields(
        p,
        &[
            "fcels.prlilo.type",
            "fcels.prlilo.response_code",
            "fcels.prlilo.service_parameter_response",
        ],
    );
    assert_eq!(
        prli[15],
        ["40", "0x01", "0x00000010"],
        "PRLI ACC: type 40 = 0x28, executed, target"
    );
    let rscn = fields(
        p,
        &["fcels.rscn.domain", "fcels.rscn.area", "fcels.rscn.port"],
    );
    assert_eq!(
        rscn[18],
        ["0x01", "0x01", "0x01"],
        "RSCN names the departed target"
    );
}

/// One row per frame, one column per field (empty where absent).
fn fields(pcap: &str, names: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec![
        "-r",
        pcap,
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ];
    for n in names {
        args.push("-e");
        args.push(n);
    }
    tshark(&args)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}
