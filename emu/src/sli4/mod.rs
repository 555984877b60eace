//! A software model of a Broadcom/Emulex Lancer SLI-4 FC HBA function: G6
//! (10DF:E300, SLI if_type 2) or G7 (10DF:F400, if_type 6), as an in-process
//! [`DeviceModel`] behind [`ufc_vfio::Device`] (sli4.md §1-§8, order of §10).
//!
//! # Use
//!
//! ```
//! use std::sync::Arc;
//! use ufc_emu::clock::Clock;
//! use ufc_emu::fabric::{Fabric, FabricConfig};
//! use ufc_emu::sli4::{Generation, Sli4Config, Sli4Model};
//! use ufc_vfio::Device;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (clock, _hand) = Clock::manual();
//! let fabric = Fabric::new(FabricConfig::default(), clock.clone())?;
//! // The host port's names: one of the fabric's configured host ports, or
//! // any other (the model then adds an F_Port for it).
//! let addr = fabric.config().host_ports[0].addr;
//! let model = Sli4Model::new(Sli4Config::new(Generation::G7, addr), Arc::clone(&fabric), clock)?;
//! let faults = model.faults(); // keep it to inject faults later
//! let device = Device::from_model(model);
//! assert_eq!(device.config_read16(2)?, 0xF400);
//! # drop(faults); Ok(()) }
//! ```
//!
//! `Sli4Model::new(config, fabric, clock)` registers the port's WWPN with the
//! fabric; the port attaches to its F_Port when the driver issues INIT_LINK
//! and detaches on DOWN_LINK, a port reset or a firmware error. The driver
//! drives the model inline ([`ufc_vfio::Device::poll_model`]) or a
//! [`ufc_vfio::ModelRunner`] does; time comes from `clock` only, so a test
//! with a manual clock is deterministic. [`Sli4Faults`] (from
//! [`Sli4Model::faults`]) injects link, firmware, mailbox and I/O faults
//! (dropped commands, target ABTS, hostile completions) and sets the FCP
//! completion latency ([`Sli4Config::fcp_latency`]) after the model has
//! moved into the device.
//!
//! # What it models
//!
//! | file | concept |
//! |---|---|
//! | [`config_space`] | PCI ids, class, BARs, SLI_INTF |
//! | `regs` | SLIPORT_SEMAPHORE/STATUS/ERROR1/2 and the port's phase |
//! | `bmbx` | the bootstrap mailbox protocol |
//! | `mailbox` | mailbox submission/completion and the native commands |
//! | `sli_config` | SLI_CONFIG framing and its sub-commands (params, queues, SGLs) |
//! | `queues` | EQ/CQ/MQ/WQ/RQ geometry, indices, credits, valid-bit phase |
//! | `doorbells` | the doorbell registers of if_type 2 (BAR0) and 6 (BAR2) |
//! | `mq` | the mailbox queue and asynchronous events |
//! | `link` | the FC link: INIT_LINK/DOWN_LINK, link attention, READ_TOPOLOGY |
//! | `wq` | WQE execution and the exchanges in flight |
//! | `exchange_table` | the open exchanges by XRI, preallocated |
//! | `fcp` | FC-NVMe I/O WQEs against the target model |
//! | `fcp_latency` | the FCP completion latency: a target with a service time |
//! | `rq` | unsolicited frames into the header/data RQ pair |
//! | `target_abts` | a target's ABTS on an FCP exchange and the driver's XMIT_BLS_RSP |
//! | [`faults`] | fault injection |
//! | `hostile` | hostile mode: corrupt I/O completions ([`HostileKind`]) |
//! | [`resources`] | XRI/RPI/VPI/VFI ranges, SGLs, registrations |
//! | `testkit`, `tests`, `tests_fcp_faults` | a minimal test driver and the model's tests |
//!
//! Malformed or unknown commands get the status a port returns (MQE status,
//! SLI_CONFIG status and additional status, WCQE local reject); a DMA outside
//! the driver's memory is counted ([`Sli4Stats::dma_errors`]) and reported
//! in the completion; nothing the driver writes makes the model panic.

pub mod config_space;
pub mod faults;
pub mod resources;

mod bmbx;
mod doorbells;
mod exchange_table;
mod fcp;
mod fcp_latency;
mod hostile;
mod link;
mod mailbox;
mod mq;
mod queues;
mod regs;
mod rq;
mod sequence;
mod sli_config;
mod target_abts;
mod wq;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ufc_hba::sli4::doorbell::IfType;
use ufc_hba::sli4::intf::{SliIntf, PCI_DEVICE_LANCER_G6, PCI_DEVICE_LANCER_G7};
use ufc_hba::sli4::regs as r;
use ufc_transport::wwn::FcAddr;
use ufc_vfio::dma::DmaView;
use ufc_vfio::model::{DeviceModel, DoorbellRegister};

use crate::clock::Clock;
use crate::fabric::{Fabric, FabricError, HostPort};

pub use faults::{FirmwareError, Sli4Faults};
pub use hostile::{HostileConfig, HostileKind, HostileKinds};
pub use resources::{Range, ResourceConfig};

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fcp_faults;

use config_space::{ConfigSpace, BAR_LEN};
use regs::{PortPhase, PortRegs};

/// Which Lancer generation the function is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// Lancer G6 (LPe31000/LPe32000): 10DF:E300, if_type 2, family 0xC.
    G6,
    /// Lancer G7 (LPe35000/LPe36000): 10DF:F400, if_type 6, family 0xD.
    G7,
}

impl Generation {
    /// PCI device id.
    pub const fn device_id(self) -> u16 {
        match self {
            Generation::G6 => PCI_DEVICE_LANCER_G6,
            Generation::G7 => PCI_DEVICE_LANCER_G7,
        }
    }

    /// SLI_INTF value (sli4.md §1.2 example values).
    pub const fn sli_intf(self) -> SliIntf {
        match self {
            Generation::G6 => SliIntf::G6,
            Generation::G7 => SliIntf::G7,
        }
    }

    /// Doorbell layout.
    pub const fn if_type(self) -> IfType {
        match self {
            Generation::G6 => IfType::If2,
            Generation::G7 => IfType::If6,
        }
    }
}

/// How the port comes out of power-on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartState {
    /// POST complete, RDY at once.
    Ready,
    /// RDY after this long on the model's clock.
    ReadyAfter(Duration),
    /// POST never completes: RDY never rises.
    NeverReady,
    /// SLIPORT_STATUS.ERR at start, with or without RN (ERROR1 0x2 / 0x1).
    Error {
        /// RN: a port reset recovers.
        reset_needed: bool,
    },
}

/// Configuration of the model.
#[derive(Clone, Debug)]
pub struct Sli4Config {
    /// G6 or G7.
    pub generation: Generation,
    /// SLI_INTF presented (normally `generation.sli_intf()`; a test may break it).
    pub sli_intf: u32,
    /// PCI device id presented (normally `generation.device_id()`).
    pub device_id: u16,
    /// WWNN/WWPN (READ_SPARM64, FLOGI/PLOGI names).
    pub addr: FcAddr,
    /// Resource ranges and queue counts (READ_CONFIG).
    pub resources: ResourceConfig,
    /// Firmware name in READ_REV (at most 16 ASCII bytes).
    pub firmware_rev: String,
    /// First, second and third hardware revision in READ_REV.
    pub hw_rev: [u32; 3],
    /// PCI revision id.
    pub pci_revision: u8,
    /// Power-on behaviour.
    pub start: StartState,
    /// SLIPORT_CONTROL.IP to RDY.
    pub reset_delay: Duration,
    /// PHYSDEV_CONTROL.FRST (firmware reset) to RDY.
    pub fw_reset_delay: Duration,
    /// GET_SLI4_PARAMETERS offers 128-byte WQEs (and the WQ accepts WQE size 6).
    pub wqe128: bool,
    /// GET_SLI4_PARAMETERS.PBDE.
    pub pbde: bool,
    /// Smallest and largest RQ buffer (GET_SLI4_PARAMETERS dwords 15-16).
    pub rq_buffer: (u32, u32),
    /// Largest SGE (GET_SLI4_PARAMETERS dword 13).
    pub max_sge_len: u32,
    /// FCP completion latency: the target's service time. An FC-NVMe
    /// exchange moves its data when the WQE runs, but its WCQE (and ERSP)
    /// are posted only once this long has passed on the model's clock, in
    /// submission order (`None` or zero: at once). Changed at run time with
    /// [`Sli4Faults::set_fcp_latency`].
    pub fcp_latency: Option<Duration>,
}

impl Sli4Config {
    /// A healthy port of `generation` named `addr`, with model defaults.
    pub fn new(generation: Generation, addr: FcAddr) -> Sli4Config {
        let hw = match generation {
            Generation::G6 => 0xC,
            Generation::G7 => 0xD,
        };
        Sli4Config {
            generation,
            sli_intf: generation.sli_intf().0,
            device_id: generation.device_id(),
            addr,
            resources: ResourceConfig::default(),
            firmware_rev: "14.4.393.31-emu".into(),
            // Second revision 1: not LPFC's "first G7 ASIC" (0xD, 0).
            hw_rev: [hw, 1, 0],
            pci_revision: 0x10,
            start: StartState::Ready,
            reset_delay: Duration::ZERO,
            fw_reset_delay: Duration::from_millis(100),
            wqe128: false,
            pbde: false,
            rq_buffer: (64, 2048),
            max_sge_len: 1 << 20,
            fcp_latency: None,
        }
    }
}

/// Errors of [`Sli4Model::new`].
#[derive(Debug, thiserror::Error)]
pub enum Sli4Error {
    /// The fabric refused the port.
    #[error("sli4 model: fabric: {0}")]
    Fabric(#[from] FabricError),
    /// The configuration is inconsistent.
    #[error("sli4 model: configuration: {0}")]
    Config(String),
}

/// Counters of the model (things a driver did wrong, or faults).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sli4Stats {
    /// Mailbox commands completed (BMBX and MQ).
    pub mailbox_commands: u64,
    /// Of which with a non-zero status.
    pub mailbox_errors: u64,
    /// WQEs consumed.
    pub wqes: u64,
    /// WQEs completed with a non-zero status other than an ERSP.
    pub wqe_errors: u64,
    /// FCP WQEs completed with an ERSP (WCQE status 0x01, FCP_RSP_FAILURE):
    /// a normal NVMe/FC response, counted apart so a test can expect zero
    /// `wqe_errors` during I/O.
    pub ersps: u64,
    /// DMA accesses outside the driver's memory.
    pub dma_errors: u64,
    /// CQ or EQ entries lost because the queue had no credit, or the queue
    /// was gone.
    pub cq_overflows: u64,
    /// Doorbells naming no queue, or returning more credits than owed.
    pub doorbell_errors: u64,
    /// Frames sent into the fabric.
    pub frames_sent: u64,
    /// Frames received from the fabric.
    pub frames_received: u64,
    /// Received frames dropped (no exchange, no RQ, no buffer).
    pub frames_dropped: u64,
    /// Link attention events posted.
    pub link_events: u64,
    /// FCP commands the target never answered ([`Sli4Faults::drop_next_fcp`]).
    pub fcp_dropped: u64,
    /// ABTS frames a target sent for an FCP exchange
    /// ([`Sli4Faults::target_abts_next_fcp`]).
    pub abts_sent: u64,
    /// XMIT_BLS_RSP answers (BA_ACC or BA_RJT) the driver gave to those ABTS.
    pub bls_responses: u64,
    /// Of which BA_RJT.
    pub ba_rjts: u64,
    /// I/O completions corrupted or injected by hostile mode
    /// ([`Sli4Faults::hostile`]).
    pub hostile_cqes: u64,
}

/// The counters, shared with [`Sli4Faults`] so a test can read them after the
/// model moved into the device. Written only under the model's lock (load +
/// store, no read-modify-write).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) mailbox_commands: AtomicU64,
    pub(crate) mailbox_errors: AtomicU64,
    pub(crate) wqes: AtomicU64,
    pub(crate) wqe_errors: AtomicU64,
    pub(crate) ersps: AtomicU64,
    pub(crate) dma_errors: AtomicU64,
    pub(crate) cq_overflows: AtomicU64,
    pub(crate) doorbell_errors: AtomicU64,
    pub(crate) frames_sent: AtomicU64,
    pub(crate) frames_received: AtomicU64,
    pub(crate) frames_dropped: AtomicU64,
    pub(crate) link_events: AtomicU64,
    pub(crate) fcp_dropped: AtomicU64,
    pub(crate) abts_sent: AtomicU64,
    pub(crate) bls_responses: AtomicU64,
    pub(crate) ba_rjts: AtomicU64,
    pub(crate) hostile_cqes: AtomicU64,
}

/// Adds one to a counter only the model writes.
pub(crate) fn bump(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Sli4Stats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Sli4Stats {
            mailbox_commands: g(&self.mailbox_commands),
            mailbox_errors: g(&self.mailbox_errors),
            wqes: g(&self.wqes),
            wqe_errors: g(&self.wqe_errors),
            ersps: g(&self.ersps),
            dma_errors: g(&self.dma_errors),
            cq_overflows: g(&self.cq_overflows),
            doorbell_errors: g(&self.doorbell_errors),
            frames_sent: g(&self.frames_sent),
            frames_received: g(&self.frames_received),
            frames_dropped: g(&self.frames_dropped),
            link_events: g(&self.link_events),
            fcp_dropped: g(&self.fcp_dropped),
            abts_sent: g(&self.abts_sent),
            bls_responses: g(&self.bls_responses),
            ba_rjts: g(&self.ba_rjts),
            hostile_cqes: g(&self.hostile_cqes),
        }
    }
}

/// The function's soft state: everything SLIPORT_CONTROL.IP throws away.
#[derive(Debug)]
pub(crate) struct Function {
    pub(crate) queues: queues::Queues,
    pub(crate) res: resources::Resources,
    pub(crate) link: link::Link,
    pub(crate) host: Option<HostPort>,
    pub(crate) xchg: wq::Exchanges,
    pub(crate) rx: rq::RxBacklog,
    pub(crate) mbox: mailbox::MailboxState,
    /// Features granted by REQUEST_FEATURES.
    pub(crate) features: u32,
}

impl Function {
    fn new(res: ResourceConfig) -> Function {
        Function {
            queues: queues::Queues::default(),
            res: resources::Resources::new(res),
            link: link::Link::default(),
            host: None,
            xchg: wq::Exchanges::new(res.xri),
            rx: rq::RxBacklog::default(),
            mbox: mailbox::MailboxState::default(),
            features: 0,
        }
    }
}

/// The SLI-4 function model.
#[derive(Debug)]
pub struct Sli4Model {
    cfg: Sli4Config,
    if_type: IfType,
    clock: Clock,
    fabric: Arc<Fabric>,
    view: DmaView,
    config_space: ConfigSpace,
    regs: PortRegs,
    bmbx: bmbx::Bmbx,
    func: Function,
    faults: Arc<faults::Shared>,
    /// Mailbox behaviour set by faults: delay of every completion, and
    /// whether the next command never completes.
    mbox_delay: Option<Duration>,
    mbox_hang_next: bool,
    doorbell_kinds: Vec<doorbells::DoorbellKind>,
    fcp_scratch: fcp::FcpScratch,
    /// I/O faults armed through [`Sli4Faults`]; they survive port resets.
    fcp_faults: faults::FcpFaults,
}

impl Sli4Model {
    /// A powered-on function named `cfg.addr` on `fabric`, timed by `clock`.
    /// The WWPN must not belong to a target port; if the fabric configuration
    /// has no host port with it, one is added.
    pub fn new(cfg: Sli4Config, fabric: Arc<Fabric>, clock: Clock) -> Result<Sli4Model, Sli4Error> {
        if cfg.firmware_rev.len() > 16 {
            return Err(Sli4Error::Config(format!(
                "firmware_rev {:?} is longer than READ_REV's 16 bytes; shorten it",
                cfg.firmware_rev
            )));
        }
        if cfg.resources.xri.count == 0 || cfg.resources.rpi.count == 0 {
            return Err(Sli4Error::Config(
                "the XRI and RPI ranges need at least one id each".into(),
            ));
        }
        let wwpn = cfg.addr.wwpn;
        if fabric
            .config()
            .target_ports
            .iter()
            .any(|t| t.addr.wwpn == wwpn)
        {
            return Err(Sli4Error::Fabric(FabricError::Duplicate(wwpn)));
        }
        if !fabric
            .config()
            .host_ports
            .iter()
            .any(|h| h.addr.wwpn == wwpn)
        {
            match fabric.add_host_port(cfg.addr) {
                // Added earlier (a previous model instance of the same port).
                Ok(()) | Err(FabricError::Duplicate(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let if_type = cfg.generation.if_type();
        let fcp_faults = faults::FcpFaults {
            latency: cfg.fcp_latency,
            ..faults::FcpFaults::default()
        };
        let bars = match if_type {
            IfType::If2 => [BAR_LEN, 0, 0],
            IfType::If6 => [BAR_LEN, BAR_LEN, 0],
        };
        let config_space =
            ConfigSpace::new(cfg.device_id, cfg.pci_revision, SliIntf(cfg.sli_intf), bars);
        let now = clock.now();
        let mut regs = PortRegs::new(PortPhase::Ready);
        match cfg.start {
            StartState::Ready => {}
            StartState::ReadyAfter(d) => {
                regs.phase = PortPhase::Initializing {
                    ready_at: Some(now + d),
                }
            }
            StartState::NeverReady => regs.phase = PortPhase::Initializing { ready_at: None },
            StartState::Error { reset_needed } => {
                let err1 = if reset_needed {
                    r::error_code::ERR1_FW_EVENT
                } else {
                    r::error_code::ERR1_GENERIC
                };
                regs.fail(err1, 0, reset_needed, Some(now + cfg.fw_reset_delay));
            }
        }
        Ok(Sli4Model {
            if_type,
            doorbell_kinds: doorbells::layout(if_type).iter().map(|(_, k)| *k).collect(),
            func: Function::new(cfg.resources),
            cfg,
            clock,
            fabric,
            view: DmaView::empty(),
            config_space,
            regs,
            bmbx: bmbx::Bmbx::default(),
            faults: Arc::new(faults::Shared::default()),
            mbox_delay: None,
            mbox_hang_next: false,
            fcp_scratch: fcp::FcpScratch::default(),
            fcp_faults,
        })
    }

    /// The fault-injection and statistics handle (clone it freely).
    pub fn faults(&self) -> Sli4Faults {
        Sli4Faults::new(
            Arc::clone(&self.faults),
            Arc::clone(&self.fabric),
            self.cfg.addr.wwpn,
        )
    }

    /// Counters.
    pub fn stats(&self) -> Sli4Stats {
        self.faults.counters.snapshot()
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.faults.counters
    }

    /// Counts a DMA failure and logs it.
    pub(crate) fn dma_failed(&self, what: &str, e: &ufc_vfio::DmaError) {
        bump(&self.counters().dma_errors);
        log::warn!("sli4 model: {what}: {e}");
    }

    /// Throws the soft state away (SLIPORT_CONTROL.IP, firmware error, FLR):
    /// queues, registrations, exchanges, the link (the F_Port is left).
    fn drop_function(&mut self) {
        if self.func.host.take().is_some() {
            log::debug!("sli4 model: port {} leaves the fabric", self.cfg.addr.wwpn);
        }
        self.func = Function::new(self.cfg.resources);
        self.bmbx = bmbx::Bmbx::default();
        self.fcp_scratch.forget();
    }

    /// SLIPORT_CONTROL.IP: reset and re-initialise the port.
    fn port_reset(&mut self) {
        if !self.regs.accepts_port_reset() {
            log::warn!(
                "sli4 model: SLIPORT_CONTROL.IP ignored: unrecoverable error (ERR without RN)"
            );
            return;
        }
        self.drop_function();
        let at = self.clock.now() + self.cfg.reset_delay;
        self.regs.port_reset(at);
        self.regs.tick(self.clock.now());
    }

    /// The port fails: ERR (+RN), codes, the link drops, nothing completes.
    pub(crate) fn enter_error(&mut self, e: FirmwareError) {
        self.drop_function();
        let at = self.clock.now() + e.ready_after;
        self.regs.fail(e.error1, e.error2, e.reset_needed, Some(at));
        self.regs.tick(self.clock.now());
    }

    /// Timers and injected faults; run at every entry point.
    fn service(&mut self) -> bool {
        let mut worked = self.apply_faults();
        let now = self.clock.now();
        worked |= self.regs.tick(now);
        if self.regs.is_ready() {
            worked |= self.mailbox_timers(now);
            // Due completions before timers: an exchange whose service time
            // ended completes rather than times out.
            worked |= self.fcp_due(now);
            worked |= self.exchange_timers(now);
        }
        worked
    }

    fn read_reg(&mut self, bar: u8, offset: u64) -> u32 {
        if bar != 0 {
            return 0;
        }
        match offset as u32 {
            r::SLIPORT_SEMAPHORE => self.regs.semaphore(),
            r::SLIPORT_STATUS => self.regs.status(),
            r::SLIPORT_ERROR1 => self.regs.error1,
            r::SLIPORT_ERROR2 => self.regs.error2,
            r::BMBX => self.bmbx_read(),
            r::SLI_INTF_BAR0_IF2 if self.if_type == IfType::If2 => self.config_space.sli_intf(),
            _ => 0,
        }
    }

    fn write_reg(&mut self, bar: u8, offset: u64, value: u32) {
        if bar != 0 {
            return;
        }
        match offset as u32 {
            r::SLIPORT_CONTROL => {
                let c = r::Control(value);
                if c.end() {
                    log::warn!("sli4 model: SLIPORT_CONTROL.END=1 (big-endian host) is not modelled; ignored");
                }
                if c.ip() {
                    self.port_reset();
                }
            }
            r::PHYSDEV_CONTROL => {
                let p = r::PhysdevControl(value);
                if p.frst() || p.drst() {
                    self.drop_function();
                    let at = self.clock.now() + self.cfg.fw_reset_delay;
                    self.regs.firmware_reset(at);
                    self.regs.tick(self.clock.now());
                }
            }
            r::BMBX => self.bmbx_write(value),
            // EQ delay: no interrupts to delay.
            r::EQ_DELAY => {}
            o => log::debug!("sli4 model: write {value:#x} to read-only or unknown BAR0+{o:#x}"),
        }
    }
}

impl DeviceModel for Sli4Model {
    fn name(&self) -> &str {
        match self.cfg.generation {
            Generation::G6 => "sli4-lancer-g6",
            Generation::G7 => "sli4-lancer-g7",
        }
    }

    fn bar_len(&self, bar: u8) -> u64 {
        match (bar, self.if_type) {
            (0, _) | (2, IfType::If6) => BAR_LEN,
            _ => 0,
        }
    }

    fn config_len(&self) -> u64 {
        config_space::CONFIG_LEN as u64
    }

    fn doorbells(&self) -> Vec<DoorbellRegister> {
        doorbells::layout(self.if_type)
            .iter()
            .map(|(reg, _)| *reg)
            .collect()
    }

    fn set_dma_view(&mut self, view: DmaView) {
        self.view = view;
    }

    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        self.config_space.read(offset, data);
    }

    fn config_write(&mut self, offset: u16, data: &[u8]) {
        self.config_space.write(offset, data);
    }

    fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]) {
        self.service();
        let base = offset & !3;
        let lo = u64::from(self.read_reg(bar, base));
        let hi = if data.len() == 8 {
            u64::from(self.read_reg(bar, base + 4))
        } else {
            0
        };
        let v = (hi << 32 | lo) >> (8 * (offset - base));
        let bytes = v.to_le_bytes();
        let n = data.len().min(8);
        data[..n].copy_from_slice(&bytes[..n]);
    }

    fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]) {
        self.service();
        // Registers are 32-bit; narrower or misplaced writes are ignored, a
        // 64-bit write is two dword writes.
        if offset % 4 != 0 || data.len() < 4 {
            log::debug!(
                "sli4 model: {}-byte write at BAR{bar}+{offset:#x} ignored",
                data.len()
            );
            return;
        }
        for (i, chunk) in data.chunks_exact(4).enumerate() {
            let mut d = [0u8; 4];
            d.copy_from_slice(chunk);
            self.write_reg(bar, offset + 4 * i as u64, u32::from_le_bytes(d));
        }
    }

    fn doorbell(&mut self, doorbell: usize, value: u32) {
        self.service();
        let Some(kind) = self.doorbell_kinds.get(doorbell).copied() else {
            bump(&self.counters().doorbell_errors);
            return;
        };
        self.ring(kind, value);
    }

    fn poll(&mut self) -> bool {
        let mut worked = self.service();
        if self.regs.is_ready() {
            worked |= self.poll_fabric();
            worked |= self.deliver_backlog();
            worked |= self.fcp_deferred();
        }
        worked
    }

    fn reset(&mut self) -> Result<(), String> {
        // A function-level reset: as SLIPORT_CONTROL.IP, and out of any error.
        self.drop_function();
        self.regs = PortRegs::new(PortPhase::Ready);
        let at = self.clock.now() + self.cfg.reset_delay;
        self.regs.port_reset(at);
        self.regs.tick(self.clock.now());
        Ok(())
    }
}
