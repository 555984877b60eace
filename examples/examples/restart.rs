//! The driver restarts under an open namespace: an I/O thread keeps reads in flight on
//! the queue pair it owns while the management thread calls `Hba::restart` (shutdown
//! and open on the same device). The transport calls the delete callbacks as soon as no
//! association is active, although the application still holds its controller,
//! namespace and queue pair; the new instance registers the same WWNs, the controller
//! resumes and the held reads complete: no error reaches the application.
//! `cargo run -p ufc-examples --example restart`
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use ufc_emu::fabric::{Fabric, FabricConfig};
use ufc_emu::sli4::{Generation, Sli4Config, Sli4Model};
use ufc_examples::{ensure, poll_until, Result};
use ufc_hba::{Hba, HbaConfig};
use ufc_transport::lldd::{DmaBuffer, Sge};
use ufc_transport::{ConnectOptions, CtrlState, Transport};
use ufc_vfio::{Device, ModelRunner};

const DEPTH: usize = 16;

fn main() -> Result {
    // The emulated HBA runs on its own thread, as a real one runs on its own silicon.
    let config = HbaConfig::default(); // the real monotonic clock
    let clock = config.clock.clone();
    let fabric = Fabric::new(FabricConfig::default(), clock.clone())?;
    let sli4 = Sli4Config::new(Generation::G7, fabric.config().host_ports[0].addr);
    let device = Device::from_model(Sli4Model::new(sli4, Arc::clone(&fabric), clock.clone())?);
    let model_thread = ModelRunner::spawn(&device, None)?;
    let transport = Transport::new(clock.clone());
    let mut hba = Hba::open(device, config, Some(transport.clone()))?;
    let registered = |h: &Hba| h.remote_ports().iter().any(|r| r.transport_id.is_some());
    poll_until(&mut hba, &transport, "the target port", registered)?;
    let ((nn, pn), t) = (hba.names(), &fabric.config().target_ports[0]);
    let (tn, tp, nqn) = (t.addr.wwnn, t.addr.wwpn, &t.subsystems[0].nqn);
    let opts = format!("traddr=nn-{tn}:pn-{tp},host_traddr=nn-{nn}:pn-{pn},nqn={nqn}");
    let ctrl = transport.connect(ConnectOptions::parse(&opts)?)?;
    poll_until(&mut hba, &transport, "LIVE", |_| {
        ctrl.state() == CtrlState::Live
    })?;
    let ns = ctrl.namespaces().pop().ok_or("no namespace")?;
    let nsid = ns.nsid();
    println!("controller LIVE: {nqn} at nn-{tn}:pn-{tp}, namespace {nsid} held open");

    // The I/O thread: DEPTH reads in flight on its own queue pair, until told to stop.
    // `after` is the clock (ns) past which a completion can only come from the new
    // instance; the thread notes the first such completion in `first`.
    let lldd = hba.lldd().ok_or("the port is not registered")?;
    let nlb = 4096 / ns.lba_size(); // blocks per 4 KiB read
    let bufs = (0..DEPTH)
        .map(|_| lldd.alloc_buffer(4096))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut qp = ctrl.alloc_io_qpair()?;
    let (stop, after, first) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(u64::MAX)),
        Arc::new(AtomicU64::new(0)),
    );
    let (stop2, after2, first2, clock2) =
        (stop.clone(), after.clone(), first.clone(), clock.clone());
    let io = std::thread::spawn(move || {
        let (mut done, mut errors) = (0u64, 0u64);
        let sge = |i: usize| {
            [Sge {
                iova: bufs[i].iova(),
                len: 4096,
            }]
        };
        let submit = |qp: &mut ufc_transport::IoQpair<_>, i: usize| {
            qp.submit_read(&ns, i as u64 * u64::from(nlb), nlb, &sge(i), i as u64)
        };
        while !qp.is_live() {
            qp.poll(1, |_| {});
        }
        for i in 0..DEPTH {
            submit(&mut qp, i).map_err(|e| e.to_string())?;
        }
        while !stop2.load(Relaxed) {
            let mut ok = Vec::with_capacity(DEPTH);
            qp.poll(DEPTH as u32, |c| {
                ok.push((c.ctx as usize, c.status.is_success()))
            });
            let now = clock2.now().as_nanos() as u64;
            if !ok.is_empty() && now > after2.load(Relaxed) && first2.load(Relaxed) == 0 {
                first2.store(now, Relaxed);
            }
            for (i, success) in ok {
                (done, errors) = (done + u64::from(success), errors + u64::from(!success));
                submit(&mut qp, i).map_err(|e| e.to_string())?;
            }
        }
        Ok::<_, String>((done, errors)) // dropping qp hands its exchanges back
    });

    // Let reads run, then restart the driver from this (the management) thread.
    let warm = clock.now() + Duration::from_millis(200);
    poll_until(&mut hba, &transport, "warm-up", |_| clock.now() > warm)?;
    let t0 = clock.now();
    let r = hba.restart()?;
    after.store((t0 + r.shut_down).as_nanos() as u64, Relaxed);
    let ms = |d: Duration| format!("+{:8.3} ms", d.as_secs_f64() * 1e3);
    println!("Hba::restart() with {DEPTH} reads in flight:");
    println!(
        "  {}  remote ports unregistered from the transport",
        ms(r.unregistered)
    );
    for (addr, at) in &r.rport_deleted {
        println!("  {}  remoteport_delete {addr}", ms(*at));
    }
    let lport = r.lport_deleted.map_or("(missing)".into(), ms);
    println!("  {lport}  localport_delete");
    println!("  {}  old instance shut down", ms(r.shut_down));
    println!("  {}  new instance opened", ms(r.opened));
    poll_until(&mut hba, &transport, "re-registration", |h| {
        h.local_port().is_some() && registered(h)
    })?;
    println!(
        "  {}  local and remote ports registered again, same WWNN/WWPN",
        ms(clock.now() - t0)
    );
    poll_until(&mut hba, &transport, "LIVE again", |_| {
        ctrl.state() == CtrlState::Live
    })?;
    println!("  {}  controller LIVE again", ms(clock.now() - t0));
    let resumed_or_failed = |_: &Hba| first.load(Relaxed) != 0 || io.is_finished();
    poll_until(&mut hba, &transport, "an I/O", resumed_or_failed)?;
    let resumed = Duration::from_nanos(first.load(Relaxed)).saturating_sub(t0);
    if first.load(Relaxed) != 0 {
        println!("  {}  first I/O completed after the restart", ms(resumed));
    }

    // Stop the I/O thread, delete the controller, shut down.
    stop.store(true, Relaxed);
    let (done, errors) = io.join().map_err(|_| "the I/O thread panicked")??;
    println!("I/O thread: {done} reads completed, {errors} errors");
    ensure(errors == 0, "reads failed across the restart")?;
    ctrl.delete()?;
    poll_until(&mut hba, &transport, "the delete", |_| {
        transport.stats().ctrls.is_empty()
    })?;
    hba.shutdown()?;
    model_thread.stop();
    println!("shut down cleanly");
    Ok(())
}
