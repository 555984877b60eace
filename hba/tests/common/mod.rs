//! A driver, an emulated SLI-4 port and a fabric on one manual clock.

// Test scaffolding: a failed setup is a failed test.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod load;

use std::sync::Arc;
use std::time::Duration;

use ufc_emu::clock::{Clock, ManualClock};
use ufc_emu::fabric::{Fabric, FabricConfig, TargetPortConfig};
use ufc_emu::sli4::{Generation, Sli4Config, Sli4Faults, Sli4Model, Sli4Stats};
use ufc_hba::driver::{Hba, HbaConfig, HbaError, HbaLldd};
use ufc_transport::transport::Transport;
use ufc_transport::wwn::{FcAddr, Wwn};
use ufc_vfio::{Device, ModelRunner};

/// Where the SLI-4 model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelMode {
    /// Inside the driver's polls (`Device::poll_model`): deterministic.
    Inline,
    /// On its own thread (`ufc_vfio::ModelRunner`), as with hardware.
    Thread,
}

/// A driver config whose waits advance the manual clock by 1 ms.
pub fn hba_config(clock: &Clock, hand: &ManualClock) -> HbaConfig {
    let hand = hand.clone();
    HbaConfig {
        clock: clock.clone(),
        idle: Arc::new(move || hand.advance(Duration::from_millis(1))),
        ready_timeout: Duration::from_secs(2),
        mailbox_timeout: Duration::from_secs(2),
        ..HbaConfig::default()
    }
}

/// The fabric's host port names.
pub fn host_addr(fabric: &Fabric) -> FcAddr {
    fabric.config().host_ports[0].addr
}

/// A second NVMe target port, named `n`.
pub fn target(n: u64) -> TargetPortConfig {
    let mut t = FabricConfig::default().target_ports[0].clone();
    t.addr = FcAddr {
        wwnn: Wwn(0x2000_0090_fb00_0000 + n),
        wwpn: Wwn(0x1000_0090_fb00_0000 + n),
    };
    t
}

/// Fabric config with targets 1..=n.
pub fn fabric_config(n: u64) -> FabricConfig {
    FabricConfig {
        target_ports: (1..=n).map(target).collect(),
        ..FabricConfig::default()
    }
}

/// A model device for `cfg` on `fabric`.
pub fn model(cfg: Sli4Config, fabric: &Arc<Fabric>, clock: &Clock) -> (Device, Sli4Faults) {
    let m = Sli4Model::new(cfg, Arc::clone(fabric), clock.clone()).expect("model");
    let faults = m.faults();
    (Device::from_model(m), faults)
}

/// Everything a login test needs.
pub struct Rig {
    pub clock: Clock,
    pub hand: ManualClock,
    pub fabric: Arc<Fabric>,
    pub faults: Sli4Faults,
    pub transport: Arc<Transport<HbaLldd>>,
    pub hba: Hba,
    pub mode: ModelMode,
    /// The model's thread in [`ModelMode::Thread`]; stopped after the driver
    /// (fields drop in order).
    pub runner: Option<ModelRunner>,
}

impl Rig {
    /// A G7 port on a fabric with `fabric_cfg`, opened with a transport.
    pub fn new(fabric_cfg: FabricConfig, generation: Generation) -> Rig {
        Rig::with_mode(fabric_cfg, generation, ModelMode::Inline)
    }

    /// [`Rig::new`] with the model inline or on its own thread.
    pub fn with_mode(fabric_cfg: FabricConfig, generation: Generation, mode: ModelMode) -> Rig {
        let (clock, hand) = Clock::manual();
        let fabric = Fabric::new(fabric_cfg, clock.clone()).expect("fabric");
        Rig::on_mode(fabric, clock, hand, generation, mode)
    }

    /// The same on an existing fabric.
    pub fn on(fabric: Arc<Fabric>, clock: Clock, hand: ManualClock, generation: Generation) -> Rig {
        Rig::on_mode(fabric, clock, hand, generation, ModelMode::Inline)
    }

    /// [`Rig::on`] with the model inline or on its own thread.
    pub fn on_mode(
        fabric: Arc<Fabric>,
        clock: Clock,
        hand: ManualClock,
        generation: Generation,
        mode: ModelMode,
    ) -> Rig {
        let cfg = Sli4Config::new(generation, host_addr(&fabric));
        let (device, faults) = model(cfg, &fabric, &clock);
        let runner = match mode {
            ModelMode::Inline => None,
            ModelMode::Thread => Some(ModelRunner::spawn(&device, None).expect("model thread")),
        };
        let transport = Transport::new(clock.clone());
        let hba = Hba::open(
            device,
            hba_config(&clock, &hand),
            Some(Arc::clone(&transport)),
        )
        .expect("open");
        Rig {
            clock,
            hand,
            fabric,
            faults,
            transport,
            hba,
            mode,
            runner,
        }
    }

    /// One management step: the driver, the transport, then 1 ms of clock.
    pub fn step(&mut self) {
        if let Err(e) = self.hba.poll() {
            panic!("poll failed: {e}");
        }
        self.transport.poll();
        self.hand.advance(Duration::from_millis(1));
    }

    /// Polls (advancing 10 ms between polls) until `done`, at most `limit` polls.
    pub fn poll_until(&mut self, limit: usize, mut done: impl FnMut(&Rig) -> bool) -> bool {
        for _ in 0..limit {
            if let Err(e) = self.hba.poll() {
                panic!("poll failed: {e}");
            }
            self.transport.poll();
            if done(self) {
                return true;
            }
            self.hand.advance(Duration::from_millis(10));
        }
        false
    }

    /// The model saw no driver mistake: every mailbox command and WQE
    /// accepted, no bad doorbell, DMA address or CQ overflow.
    pub fn assert_model_clean(&self) {
        let s = self.assert_model_clean_but_wqes();
        assert_eq!(s.wqe_errors, 0, "{s:?}");
    }

    /// No mailbox, doorbell, DMA or CQ-overflow error in the model; its
    /// stats, for the caller to check the WQE errors its faults explain
    /// (every WCQE with a status other than success counts as one).
    pub fn assert_model_clean_but_wqes(&self) -> Sli4Stats {
        let s = self.faults.stats();
        assert_eq!(
            (
                s.mailbox_errors,
                s.doorbell_errors,
                s.dma_errors,
                s.cq_overflows
            ),
            (0, 0, 0, 0),
            "{s:?}"
        );
        s
    }

    /// Remote ports the transport holds ONLINE: (wwnn, wwpn, port_id).
    pub fn online_rports(&self) -> Vec<(Wwn, Wwn, u32)> {
        let mut v: Vec<_> = self
            .transport
            .stats()
            .rports
            .iter()
            .filter(|r| r.state == ufc_transport::port::PortState::Online)
            .map(|r| (r.wwnn, r.wwpn, r.port_id))
            .collect();
        v.sort();
        v
    }
}

/// Opening must fail; returns the error.
pub fn open_err(cfg: Sli4Config) -> HbaError {
    let (clock, hand) = Clock::manual();
    let fabric = Fabric::new(FabricConfig::default(), clock.clone()).expect("fabric");
    let (device, _faults) = model(cfg, &fabric, &clock);
    match Hba::open(device, hba_config(&clock, &hand), None) {
        Ok(_) => panic!("open succeeded"),
        Err(e) => e,
    }
}

/// One target port with a RAM namespace, logged in and registered.
pub fn ram_target_rig() -> Rig {
    ram_target_rig_mode(ModelMode::Inline)
}

/// [`ram_target_rig`] with the model inline or on its own thread.
pub fn ram_target_rig_mode(mode: ModelMode) -> Rig {
    let mut cfg = fabric_config(1);
    cfg.target_ports[0].subsystems[0].namespaces[0].backend =
        ufc_emu::fabric::config::NamespaceBackend::Ram;
    let mut rig = Rig::with_mode(cfg, Generation::G7, mode);
    assert!(
        rig.poll_until(200, |r| !r.online_rports().is_empty()),
        "target not registered"
    );
    rig
}

/// Connects to the first subsystem of the first target port and waits for LIVE.
pub fn connect(rig: &mut Rig, io_queues: u16) -> ufc_transport::Controller<HbaLldd> {
    let t = &rig.fabric.config().target_ports[0];
    let (nn, pn) = rig.hba.names();
    let opts = format!(
        "traddr=nn-{}:pn-{},host_traddr=nn-{nn}:pn-{pn},nqn={},nr_io_queues={io_queues},queue_size=32",
        t.addr.wwnn, t.addr.wwpn, t.subsystems[0].nqn
    );
    let c = rig
        .transport
        .connect(ufc_transport::ConnectOptions::parse(&opts).unwrap())
        .unwrap();
    let live = rig.poll_until(500, |_| c.state() == ufc_transport::CtrlState::Live);
    assert!(live, "controller not live: {:?}", c.stats());
    c
}
