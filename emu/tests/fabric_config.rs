//! The fabric described in TOML: a full file, defaults, and refusals that name
//! the bad key.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (house rules)

use std::io::Write;
use std::time::Duration;

use ufc_emu::clock::Clock;
use ufc_emu::fabric::config::{NamespaceBackend, FC4_TYPE_FCP, FC4_TYPE_NVME};
use ufc_emu::fabric::{ConfigError, Fabric, FabricConfig};
use ufc_transport::wwn::Wwn;

const FULL: &str = r#"
[fabric]
domain = 2
link_speed_gbps = 64
r_a_tov_ms = 20000
e_d_tov_ms = 1000
bb_credit = 8
wwnn = "0x100000051e000009"
wwpn = "0x200000051e000009"
frame_delay_us = 25

[[host_port]]
wwnn = "0x20000090fa000001"
wwpn = "0x10000090fa000001"

[[host_port]]
wwnn = "20000090FA000002"
wwpn = "10000090FA000002"

[[target_port]]
wwnn = "0x20000090fb000001"
wwpn = "0x10000090fb000001"
port_id = "0x020500"
discovery = true
reject_prli = true

[[target_port.subsystem]]
nqn = "nqn.2014-08.org.example:a"
allowed_hosts = ["nqn.2014-08.org.example:host1"]

[[target_port.subsystem.namespace]]
backend = "null"
blocks = 1024

[[target_port.subsystem.namespace]]
backend = "ram"
block_size = 512
blocks = 2048

[[target_port]]
wwnn = "0x20000090fb000002"
wwpn = "0x10000090fb000002"
port_id = 132096
fc4_types = [0x08]
"#;

#[test]
fn full_file_parses_into_typed_config() {
    let c = FabricConfig::from_toml_str(FULL).unwrap();
    assert_eq!(c.domain, 2);
    assert_eq!(c.link_speed_gbps, 64);
    assert_eq!(c.r_a_tov, Duration::from_secs(20));
    assert_eq!(c.e_d_tov, Duration::from_secs(1));
    assert_eq!(c.bb_credit, 8);
    assert_eq!(c.fabric_name.wwnn, Wwn(0x1000_0005_1e00_0009));
    assert_eq!(c.frame_delay, Duration::from_micros(25));
    assert_eq!(c.host_ports.len(), 2);
    assert_eq!(c.host_ports[1].addr.wwpn, Wwn(0x1000_0090_fa00_0002));
    let t = &c.target_ports[0];
    assert_eq!(t.port_id, Some(0x02_0500));
    assert!(t.discovery && t.reject_prli && !t.reject_plogi);
    assert_eq!(t.fc4_types, vec![FC4_TYPE_NVME]);
    assert_eq!(t.subsystems[0].allowed_hosts.len(), 1);
    let ns = &t.subsystems[0].namespaces;
    assert_eq!(
        (ns[0].backend.clone(), ns[0].block_size, ns[0].blocks),
        (NamespaceBackend::Null, 4096, 1024)
    );
    assert_eq!(
        (ns[1].backend.clone(), ns[1].block_size),
        (NamespaceBackend::Ram, 512)
    );
    assert_eq!(c.target_ports[1].port_id, Some(0x02_0400));
    assert_eq!(c.target_ports[1].fc4_types, vec![FC4_TYPE_FCP]);
    assert!(c.target_ports[1].subsystems.is_empty());

    let (clock, _hand) = Clock::manual();
    let f = Fabric::new(c, clock).unwrap();
    let tp = f
        .target_for(0x02_0500)
        .expect("target at its configured id");
    assert_eq!(tp.subsystems()[0].namespace_count(), 2);
    assert!(!tp.subsystems()[0].host_allowed("nqn.2014-08.org.example:other"));
}

#[test]
fn file_backend_and_from_file() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("ns.img");
    let cfg_path = dir.path().join("fabric.toml");
    let mut f = std::fs::File::create(&cfg_path).unwrap();
    write!(
        f,
        r#"
[[host_port]]
wwnn = "0x20000090fa000001"
wwpn = "0x10000090fa000001"
[[target_port]]
wwnn = "0x20000090fb000001"
wwpn = "0x10000090fb000001"
[[target_port.subsystem]]
nqn = "nqn.2014-08.org.example:file"
[[target_port.subsystem.namespace]]
backend = "file"
path = "{}"
blocks = 16
"#,
        img.display()
    )
    .unwrap();
    drop(f);
    let c = FabricConfig::from_file(&cfg_path).unwrap();
    assert_eq!(
        c.target_ports[0].subsystems[0].namespaces[0].backend,
        NamespaceBackend::File(img.clone())
    );
    let (clock, _hand) = Clock::manual();
    let fab = Fabric::new(c, clock).unwrap();
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 16 * 4096);
    // Default ids: hosts first, then targets: 0x010100, 0x010101.
    assert!(fab.target_for(0x01_0101).is_some());
    assert!(fab.target_for(0x01_0100).is_none());

    let missing = FabricConfig::from_file(dir.path().join("nope.toml")).unwrap_err();
    assert!(matches!(missing, ConfigError::Io { .. }), "{missing}");
    assert!(missing.to_string().contains("nope.toml"), "{missing}");
}

fn refused(toml: &str) -> String {
    FabricConfig::from_toml_str(toml)
        .expect_err("config should be refused")
        .to_string()
}

const HOST: &str = "[[host_port]]\nwwnn = \"0x20000090fa000001\"\nwwpn = \"0x10000090fa000001\"\n";

#[test]
fn bad_configs_name_the_key() {
    // Unknown key (typo), reported by the TOML layer with its name.
    let e = refused("[fabric]\ndomian = 3\n");
    assert!(e.contains("domian"), "{e}");
    // Wrong type.
    let e = refused("[fabric]\ndomain = \"one\"\n");
    assert!(e.contains("domain"), "{e}");
    // Bad WWN.
    let e = refused("[[host_port]]\nwwnn = \"0x2000\"\nwwpn = \"0x10000090fa000001\"\n");
    assert!(
        e.contains("host_port[0].wwnn") && e.contains("16 hex digits"),
        "{e}"
    );
    // Duplicate WWPN.
    let e = refused(&format!("{HOST}{HOST}"));
    assert!(
        e.contains("host_port[1].wwpn") && e.contains("host_port[0].wwpn"),
        "{e}"
    );
    // Domain out of range.
    let e = refused("[fabric]\ndomain = 0\n");
    assert!(e.contains("fabric.domain"), "{e}");
    // Port id: well-known address, and not a number.
    let t = "[[target_port]]\nwwnn = \"0x20000090fb000001\"\nwwpn = \"0x10000090fb000001\"\n";
    let e = refused(&format!("{t}port_id = \"0xFFFFFC\"\n"));
    assert!(
        e.contains("target_port[0].port_id") && e.contains("N_Port ID"),
        "{e}"
    );
    let e = refused(&format!("{t}port_id = \"twelve\"\n"));
    assert!(e.contains("target_port[0].port_id"), "{e}");
    // Namespace backend, block size, path.
    let ns = |body: &str| {
        format!("{t}[[target_port.subsystem]]\nnqn = \"nqn.x\"\n[[target_port.subsystem.namespace]]\n{body}")
    };
    let e = refused(&ns("backend = \"tape\"\nblocks = 1\n"));
    assert!(
        e.contains("target_port[0].subsystem[0].namespace[0].backend") && e.contains("tape"),
        "{e}"
    );
    let e = refused(&ns("backend = \"ram\"\nblock_size = 1000\nblocks = 1\n"));
    assert!(e.contains("namespace[0].block_size"), "{e}");
    let e = refused(&ns("backend = \"file\"\nblocks = 1\n"));
    assert!(e.contains("namespace[0].path"), "{e}");
    let e = refused(&ns("backend = \"null\"\nblocks = 0\n"));
    assert!(e.contains("namespace[0].blocks"), "{e}");
    let e = refused(&format!("{t}fc4_types = []\n"));
    assert!(e.contains("target_port[0].fc4_types"), "{e}");
    // Two targets on one id.
    let e = refused(&format!(
        "{t}port_id = \"0x010500\"\n[[target_port]]\nwwnn = \"0x20000090fb000002\"\nwwpn = \"0x10000090fb000002\"\nport_id = \"0x010500\"\n"
    ));
    assert!(e.contains("target_port[1].port_id"), "{e}");
}

#[test]
fn default_is_one_host_one_target_one_null_namespace() {
    let c = FabricConfig::default();
    assert_eq!(c.host_ports.len(), 1);
    assert_eq!(c.target_ports.len(), 1);
    let t = &c.target_ports[0];
    assert_eq!(t.subsystems.len(), 1);
    assert_eq!(t.subsystems[0].namespaces.len(), 1);
    assert_eq!(
        t.subsystems[0].namespaces[0].backend,
        NamespaceBackend::Null
    );
    let (clock, _hand) = Clock::manual();
    let f = Fabric::new(c, clock).unwrap();
    assert!(f.target_for(0x01_0101).is_some());
}
