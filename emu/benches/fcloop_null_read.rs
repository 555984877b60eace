//! fcloop + target cost of one 4 KiB read on a null namespace, one thread: submit
//! and poll through `FcloopQueue` with pre-built CMD IUs (no transport). Run with
//! `cargo bench -p ufc-emu --bench fcloop_null_read`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark, not driver code

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use ufc_emu::clock::Clock;
use ufc_emu::fcloop::{FcloopFabric, FcloopLldd, Mode, PortRegistry};
use ufc_emu::target::{Namespace, Subsystem, SubsystemConfig};
use ufc_transport::lldd::{
    FcpReq, FcpStatus, HwQueue, IoDir, Lldd, LlddRport, LocalPortId, LsEvent, LsReq, PortInfo,
    RemotePortId, Sge,
};
use ufc_transport::wire::fabrics::ConnectData;
use ufc_transport::wire::ls_host::{
    encode_create_assoc, encode_create_conn, CreateAssocAcc, CreateAssocParams, CreateConnAcc,
};
use ufc_transport::wire::registers::{Cc, REG_CC};
use ufc_transport::wire::{CmdIu, Sqe};
use ufc_transport::wwn::Wwn;
use ufc_vfio::dma::{DmaMemory, DmaView, HugePages, IovaAllocator};

struct Reg(std::sync::Mutex<(u32, Option<LlddRport>)>);

impl PortRegistry<FcloopLldd<DmaView>> for Reg {
    type Error = String;
    fn register_localport(
        &self,
        _: PortInfo,
        _: Arc<FcloopLldd<DmaView>>,
    ) -> Result<LocalPortId, String> {
        Ok(LocalPortId(1))
    }
    fn register_remoteport(&self, _: LocalPortId, info: PortInfo) -> Result<RemotePortId, String> {
        self.0.lock().unwrap().1 = Some(info.lldd_token);
        Ok(RemotePortId(2))
    }
    fn unregister_remoteport(&self, _: RemotePortId) -> Result<(), String> {
        Ok(())
    }
    fn unregister_localport(&self, _: LocalPortId) -> Result<(), String> {
        Ok(())
    }
}

fn ls(
    lldd: &FcloopLldd<DmaView>,
    lport: LocalPortId,
    rport: LlddRport,
    payload: Vec<u8>,
) -> Vec<u8> {
    lldd.ls_req(
        lport,
        LsReq {
            tag: 1,
            rport,
            payload,
            rsp_max: 1024,
            timeout: std::time::Duration::from_secs(20),
        },
    )
    .unwrap();
    let mut out = None;
    lldd.poll_ls(lport, &mut |e| {
        if let LsEvent::Done { result, .. } = e {
            out = Some(result.unwrap());
        }
    });
    out.unwrap()
}

fn run_one<Q: HwQueue>(q: &mut Q, req: &FcpReq<'_>) {
    q.submit(req).unwrap();
    q.flush();
    let mut n = 0;
    while n == 0 {
        n = q.poll(16, |d| {
            // The exchange really went through the target: good status, full transfer.
            assert!(d.status == FcpStatus::Good && d.transferred == req.payload_len);
            black_box(d);
        });
    }
}

fn main() {
    let fabric = FcloopFabric::new(Clock::monotonic());
    let subsys = Subsystem::new(
        SubsystemConfig::new("nqn.bench"),
        vec![Namespace::null(4096, 1 << 28).unwrap()],
    )
    .unwrap();
    fabric
        .add_target_port(Wwn(0x20), Wwn(0x21), 0x10200, vec![subsys])
        .unwrap();
    let iova = Arc::new(IovaAllocator::default());
    let mem = DmaMemory::allocate(1 << 20, HugePages::Prefer, &iova).unwrap();
    let lldd = FcloopLldd::new(Arc::clone(&fabric), DmaView::of(&[&mem]), Mode::Inline);
    let reg = Reg(std::sync::Mutex::new((0, None)));
    let lport = lldd
        .add_local_port(&reg, Wwn(0x10), Wwn(0x11), 0x10100)
        .unwrap();
    lldd.add_remote_port(&reg, lport, Wwn(0x20), Wwn(0x21), None)
        .unwrap();
    let token = reg.0.lock().unwrap().1.unwrap();

    let rq = encode_create_assoc(&CreateAssocParams {
        ersp_ratio: 8,
        sqsize: 31,
        hostid: [0; 16],
        hostnqn: "nqn.h",
        subnqn: "nqn.bench",
    })
    .unwrap();
    let assoc = CreateAssocAcc::parse(&ls(&lldd, lport, token, rq))
        .unwrap()
        .association_id;
    let mut admin = lldd.create_queue(lport, 0, 32).unwrap();
    let data = ConnectData::new([0; 16], 0xffff, "nqn.bench", "nqn.h").unwrap();
    mem.write_at(0, zerocopy::IntoBytes::as_bytes(&data))
        .unwrap();
    let sgl = [Sge {
        iova: mem.iova(),
        len: 1024,
    }];
    let iu = CmdIu::new_admin(assoc, 1, 1024, IoDir::Write, &Sqe::connect(0, 31, 0, 0));
    run_one(
        &mut admin,
        &FcpReq {
            tag: 0,
            rport: token,
            cmd_iu: iu.as_bytes(),
            dir: IoDir::Write,
            payload_len: 1024,
            sgl: &sgl,
        },
    );
    let cc = Cc::host_default(Cc::CSS_NVM).with_en(true);
    let iu = CmdIu::new_admin(
        assoc,
        2,
        0,
        IoDir::None,
        &Sqe::property_set(REG_CC, u64::from(cc.0), false),
    );
    run_one(
        &mut admin,
        &FcpReq {
            tag: 1,
            rport: token,
            cmd_iu: iu.as_bytes(),
            dir: IoDir::None,
            payload_len: 0,
            sgl: &[],
        },
    );
    let conn = CreateConnAcc::parse(&ls(
        &lldd,
        lport,
        token,
        encode_create_conn(assoc, 25, 1, 127),
    ))
    .unwrap()
    .connection_id;
    let mut q = lldd.create_queue(lport, 1, 128).unwrap();
    let iu = CmdIu::new(conn, 1, 1024, IoDir::Write, &Sqe::connect(1, 127, 0, 0));
    mem.write_at(16, &1u16.to_le_bytes()).unwrap(); // cntlid of the first controller
    run_one(
        &mut q,
        &FcpReq {
            tag: 0,
            rport: token,
            cmd_iu: iu.as_bytes(),
            dir: IoDir::Write,
            payload_len: 1024,
            sgl: &sgl,
        },
    );

    let sgl = [Sge {
        iova: mem.iova() + 4096,
        len: 4096,
    }];
    let mut iu = CmdIu::new(conn, 2, 4096, IoDir::Read, &Sqe::read(1, 0, 0, 4096));
    let iters: u32 = 2_000_000;
    let start = Instant::now();
    for i in 0..iters {
        iu.set_csn(i + 2);
        let req = FcpReq {
            tag: (i % 64) as u16,
            rport: token,
            cmd_iu: iu.as_bytes(),
            dir: IoDir::Read,
            payload_len: 4096,
            sgl: &sgl,
        };
        run_one(&mut q, &req);
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(iters);
    println!(
        "fcloop + target, null 4 KiB read, QD1 submit+poll: {ns:.1} ns/IO ({:.2} M IOPS)",
        1000.0 / ns
    );
}
