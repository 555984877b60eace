//! Hello, Fibre Channel: log in, connect an NVMe/FC controller, write a block, read it back.
//! HBA, switch and target are in-process models (no hardware, no root; real hardware differs
//! only in how the `Device` is opened). `cargo run -p ufc-examples --example hello_world`
use std::sync::Arc;

use ufc_emu::fabric::{config::NamespaceBackend, Fabric, FabricConfig};
use ufc_emu::sli4::{Generation, Sli4Config, Sli4Model};
use ufc_examples::{ensure, poll_until, Result};
use ufc_hba::{Hba, HbaConfig};
use ufc_transport::lldd::{DmaBuffer, Sge};
use ufc_transport::{ConnectOptions, CtrlState, IoQpair, Transport};
use ufc_vfio::Device;

fn main() -> Result {
    const BLOCK: usize = 4096;
    // The built-in fabric with a RAM namespace (not null) so that reads return data.
    let mut fabric_cfg = FabricConfig::default();
    fabric_cfg.target_ports[0].subsystems[0].namespaces[0].backend = NamespaceBackend::Ram;
    let config = HbaConfig::default(); // the real monotonic clock
    let fabric = Fabric::new(fabric_cfg, config.clock.clone())?;
    let sli4 = Sli4Config::new(Generation::G7, fabric.config().host_ports[0].addr);
    let model = Sli4Model::new(sli4, Arc::clone(&fabric), config.clock.clone())?;

    // The transport is the NVMe/FC host; the HBA registers its ports with it.
    let transport = Transport::new(config.clock.clone());
    let mut hba = Hba::open(Device::from_model(model), config, Some(transport.clone()))?;
    let registered = |h: &Hba| h.remote_ports().iter().any(|r| r.transport_id.is_some());
    poll_until(&mut hba, &transport, "a remote port", registered)?;
    let ((nn, pn), login) = (hba.names(), hba.fabric_login().ok_or("not logged in")?);
    let id = login.n_port_id;
    println!("local  port nn-{nn}:pn-{pn} N_Port ID 0x{id:06x}");
    for r in hba.remote_ports() {
        let (rn, rp, id, roles) = (r.wwnn, r.wwpn, r.n_port_id, r.roles);
        println!("remote port nn-{rn}:pn-{rp} N_Port ID 0x{id:06x} {roles}");
    }

    // nvme-cli's connect options; LIVE once the association and queues are up.
    let t = &fabric.config().target_ports[0];
    let (tn, tp, nqn) = (t.addr.wwnn, t.addr.wwpn, &t.subsystems[0].nqn);
    let opts = format!("traddr=nn-{tn}:pn-{tp},host_traddr=nn-{nn}:pn-{pn},nqn={nqn}");
    let ctrl = transport.connect(ConnectOptions::parse(&opts)?)?;
    let live = |_: &Hba| ctrl.state() == CtrlState::Live;
    poll_until(&mut hba, &transport, "LIVE", live)?;
    let ns = ctrl.namespaces().pop().ok_or("no namespace")?;
    let (name, state, nsid) = (ctrl.name(), ctrl.state(), ns.nsid());
    println!("controller {name}: {state:?}, namespace {nsid}");

    // I/O runs on a queue pair this thread owns and polls: no locks on that path.
    let lldd = hba.lldd().ok_or("the port is not registered")?;
    let (mut wbuf, rbuf) = (lldd.alloc_buffer(BLOCK)?, lldd.alloc_buffer(BLOCK)?);
    let pattern: Vec<u8> = (0..BLOCK).map(|i| (i % 251) as u8).collect();
    wbuf.write(0, &pattern);
    let mut qp = ctrl.alloc_io_qpair()?;
    // Write wbuf to LBA 0, then read LBA 0 into rbuf; tag 0 is the write, 1 the read.
    for (tag, buf) in [(0, &wbuf), (1, &rbuf)] {
        let (iova, len) = (buf.iova(), BLOCK as u32);
        let submit = [IoQpair::submit_write, IoQpair::submit_read][tag];
        submit(&mut qp, &ns, 0, 1, &[Sge { iova, len }], tag as u64)?;
        qp.flush();
        let mut status = None;
        let done = |_: &Hba| qp.poll(1, |c| status = Some(c.status)) > 0;
        poll_until(&mut hba, &transport, "the I/O", done)?;
        let ok = status.is_some_and(|s| s.is_success());
        ensure(ok, format!("I/O {tag} completed with {status:?}"))?;
    }
    let mut got = vec![0u8; BLOCK];
    rbuf.read(0, &mut got);
    ensure(got == pattern, "the block read back differs")?;
    println!("wrote and read back {BLOCK} bytes at LBA 0: identical");

    // Give the queue pair back, delete the controller, then shut the port down.
    drop(qp);
    ctrl.delete()?;
    let gone = |_: &Hba| transport.stats().ctrls.is_empty();
    poll_until(&mut hba, &transport, "the delete", gone)?;
    hba.shutdown()?;
    println!("shut down cleanly");
    Ok(())
}
