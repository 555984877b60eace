//! What the HBA sees, like `nvme list`: local ports, remote ports (names,
//! N_Port IDs, PRLI roles), then one controller per NVMe subsystem reachable
//! through a target port, with its namespaces.
//! `cargo run -p ufc-examples --example identify`
//!
//! The fabric is the built-in one with a second target port, each port
//! exporting its own subsystem, all in-process models.

use std::sync::Arc;

use ufc_emu::fabric::{Fabric, FabricConfig};
use ufc_emu::sli4::{Generation, Sli4Config, Sli4Model};
use ufc_examples::{poll_until, Result};
use ufc_hba::{Hba, HbaConfig, HbaLldd};
use ufc_transport::wwn::{FcAddr, Wwn};
use ufc_transport::{ConnectOptions, Controller, CtrlState, Transport};
use ufc_vfio::Device;

/// The built-in fabric with a second target port: a copy of the first under
/// new names and its own subsystem NQN, so that both show up as controllers.
fn fabric_config() -> FabricConfig {
    let mut cfg = FabricConfig::default();
    let mut second = cfg.target_ports[0].clone();
    second.addr = FcAddr {
        wwnn: Wwn(second.addr.wwnn.0 + 1),
        wwpn: Wwn(second.addr.wwpn.0 + 1),
    };
    second.subsystems[0].nqn = format!("{}-port2", second.subsystems[0].nqn);
    cfg.target_ports.push(second);
    cfg
}

fn main() -> Result {
    let config = HbaConfig::default(); // the real monotonic clock
    let clock = config.clock.clone();
    let fabric = Fabric::new(fabric_config(), clock.clone())?;
    let sli4 = Sli4Config::new(Generation::G7, fabric.config().host_ports[0].addr);
    let model = Sli4Model::new(sli4, Arc::clone(&fabric), clock.clone())?;
    let transport = Transport::new(clock);
    let mut hba = Hba::open(Device::from_model(model), config, Some(transport.clone()))?;

    // Discovery is done when every target port of the fabric is registered.
    let targets = fabric.config().target_ports.len();
    let found = |h: &Hba| {
        h.remote_ports()
            .iter()
            .filter(|r| r.transport_id.is_some())
            .count()
    };
    poll_until(&mut hba, &transport, "every target port", |h| {
        found(h) >= targets
    })?;

    // Wwn's Display writes 0x + 16 digits and ignores widths: 18 columns.
    println!("Local ports");
    println!(
        "  {:<18} {:<18} {:<8} {:<8} Firmware",
        "WWNN", "WWPN", "Port ID", "State"
    );
    let (nn, pn) = hba.names();
    let id = hba.fabric_login().map_or(0, |l| l.n_port_id);
    let fw = hba.firmware().unwrap_or("-").to_owned();
    let state = format!("{:?}", hba.state());
    println!("  {nn} {pn} 0x{id:06x} {state:<8} {fw}");

    println!("\nRemote ports");
    println!("  {:<18} {:<18} {:<8} Roles", "WWNN", "WWPN", "Port ID");
    let mut rports = hba.remote_ports();
    rports.sort_by_key(|r| r.n_port_id);
    for r in &rports {
        let (rn, rp, id) = (r.wwnn, r.wwpn, r.n_port_id);
        println!("  {rn} {rp} 0x{id:06x} {}", r.roles);
    }

    // One controller per subsystem of each target port, connected in turn.
    let mut ctrls: Vec<Controller<HbaLldd>> = Vec::new();
    for t in &fabric.config().target_ports {
        for s in &t.subsystems {
            let (tn, tp, nqn) = (t.addr.wwnn, t.addr.wwpn, &s.nqn);
            let opts = format!("traddr=nn-{tn}:pn-{tp},host_traddr=nn-{nn}:pn-{pn},nqn={nqn}");
            let ctrl = transport.connect(ConnectOptions::parse(&opts)?)?;
            let live = |_: &Hba| ctrl.state() == CtrlState::Live;
            poll_until(&mut hba, &transport, &format!("{nqn} to go LIVE"), live)?;
            ctrls.push(ctrl);
        }
    }

    println!("\nControllers and namespaces");
    println!(
        "  {:<6} {:<5} {:<6} {:>4} {:>10} {:>6}  {:<44} SubNQN",
        "Node", "State", "CntlID", "NSID", "Usage", "Format", "Address"
    );
    for c in &ctrls {
        let s = c.stats().ok_or("a controller went away")?;
        let addr = format!("nn-{}:pn-{}", s.traddr.wwnn, s.traddr.wwpn);
        let (uid, state, cntlid, nqn) = (s.uid, format!("{:?}", s.state), s.cntlid, &s.subnqn);
        for ns in c.namespaces() {
            let gb = (ns.num_lbas() * u64::from(ns.lba_size())) as f64 / 1e9;
            let (nsid, usage, format) = (ns.nsid(), format!("{gb:.2} GB"), ns.lba_size());
            println!(
                "  ctrl{uid:<2} {state:<5} {cntlid:<6} {nsid:>4} {usage:>10} {format:>4} B  {addr:<44} {nqn}"
            );
        }
    }

    for c in ctrls {
        c.delete()?;
    }
    let gone = |_: &Hba| transport.stats().ctrls.is_empty();
    poll_until(&mut hba, &transport, "the controllers to be deleted", gone)?;
    hba.shutdown()?;
    Ok(())
}
