//! The polled SLI-4 driver: bring-up, link and fabric login (issue 4).
//!
//! | file | holds |
//! |---|---|
//! | [`error`] | [`HbaError`] |
//! | `wait` | bounded waits on the injected clock, the idle hook |
//! | `registers`, `bringup` | SLI_INTF and device id, RDY wait, SLIPORT_CONTROL.IP, BMBX |
//! | `dma`, `queues` | the DMA arena; EQ/CQ/MQ/WQ/RQ rings with both valid-bit conventions |
//! | `mailbox` | command names and the MCQE → MQE → SLI_CONFIG status checks |
//! | `port/` | one port incarnation: `setup` (bring-up to INIT_LINK, teardown), the MQ path and exchange waits, `service` (CQ draining) |
//! | `xri`, `els` | the ELS/CT exchange pool; ELS_REQUEST64, GEN_REQUEST64, XMIT_ELS_RSP64 |
//! | `fabric` | link up: READ_TOPOLOGY, INIT_VFI, FLOGI, REG_VFI, name-server login, RFT_ID/RFF_ID, SCR |
//! | `discovery` | GID_FT, per-target PLOGI/REG_RPI/PRLI, remote-port registration, link down |
//! | `unsolicited` | RSCN, LOGO, PLOGI, PRLI received from the fabric or a target |
//! | `target_abts` | ABTS from a target on our FCP exchange: BA_ACC / BA_RJT with XMIT_BLS_RSP |
//! | [`lldd`], `ls` | [`HbaLldd`], the transport's view of the driver; NVMe LS requests |
//! | `io_queue` | FCP I/O queue pairs (issue 5): per-queue WQ/CQ and XRI range, [`HbaQueue`] |
//! | `io_pool`, `doorbell_gate` | one incarnation's pairs and their retirement; the gate that stops owner threads ringing doorbells of retired pairs |
//! | `dma_buffer` | [`HbaDmaBuffer`], device-visible memory lent through `Lldd::alloc_dma` |
//! | `shutdown`, `restart` | orderly shutdown and the dead-device fast path; [`Hba::restart`] |
//!
//! Everything is polled: [`Hba::poll`] checks the port status, drains the
//! queues, and runs what the events ask for. Mailbox commands and login
//! exchanges are waited for inside `poll` with bounds (the management path is
//! sequential, as in OCS's polled mode); FCP I/O runs on its own queue pairs,
//! polled by the threads that own them, and never waits here.
//!
//! Against the emulated Lancer G7 and fabric, on a manual clock:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use ufc_emu::clock::Clock;
//! use ufc_emu::fabric::{Fabric, FabricConfig};
//! use ufc_emu::sli4::{Generation, Sli4Config, Sli4Model};
//! use ufc_hba::driver::{Hba, HbaConfig, HbaLldd};
//! use ufc_transport::transport::Transport;
//! use ufc_vfio::Device;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (clock, hand) = Clock::manual();
//! let fabric = Fabric::new(FabricConfig::default(), clock.clone())?;
//! let me = fabric.config().host_ports[0].addr;
//! let model = Sli4Model::new(Sli4Config::new(Generation::G7, me), fabric, clock.clone())?;
//! let transport = Transport::<HbaLldd>::new(clock.clone());
//! // Bounded waits inside the driver advance the manual clock.
//! let tick = hand.clone();
//! let cfg = HbaConfig {
//!     clock,
//!     idle: Arc::new(move || tick.advance(Duration::from_millis(1))),
//!     ..HbaConfig::default()
//! };
//! let mut hba = Hba::open(Device::from_model(model), cfg, Some(Arc::clone(&transport)))?;
//! for _ in 0..100 {
//!     hba.poll()?; // link up, FLOGI, name server, GID_FT, PLOGI, PRLI
//!     transport.poll();
//!     if !hba.remote_ports().is_empty() {
//!         break;
//!     }
//!     hand.advance(Duration::from_millis(10));
//! }
//! assert_eq!(transport.stats().rports.len(), 1, "the default target is registered");
//! hba.shutdown()?;
//! # Ok(()) }
//! ```

mod bringup;
mod discovery;
mod dma;
mod dma_buffer;
mod doorbell_gate;
mod els;
pub mod error;
mod fabric;
mod io_errors;
mod io_pool;
mod io_queue;
pub mod lldd;
mod ls;
mod mailbox;
mod port;
mod queues;
mod registers;
mod restart;
mod shutdown;
mod target_abts;
mod unsolicited;
mod wait;
mod xri;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ufc_transport::clock::Clock;
use ufc_transport::lldd::{LocalPortId, PortRoles, RemotePortId};
use ufc_transport::transport::Transport;
use ufc_transport::wwn::Wwn;
use ufc_vfio::dma::{HugePages, IovaAllocator};
use ufc_vfio::Device;

pub use bringup::{identify, Identity};
pub use dma_buffer::HbaDmaBuffer;
pub use error::HbaError;
pub use io_errors::IoInputErrors;
pub use io_pool::IoPoolStats;
pub use io_queue::{HbaQueue, IoQueueStats, MAX_IO_XRIS};
pub use lldd::HbaLldd;
pub use port::DeviceInputErrors;
pub use restart::RestartReport;
pub use wait::IdleHook;

use port::{Port, PortEvent};
use wait::Waiter;

/// Settings of one HBA port.
#[derive(Clone)]
pub struct HbaConfig {
    /// The clock every bound reads (manual in tests).
    pub clock: Clock,
    /// Called when a bounded wait has nothing to look at (tests advance the
    /// manual clock here; the default yields the thread).
    pub idle: IdleHook,
    /// Bound on SLIPORT_STATUS.RDY (30 s in both drivers, §2.7).
    pub ready_timeout: Duration,
    /// Bound on one mailbox command (OCS 30 s).
    pub mailbox_timeout: Duration,
    /// Bound on one ELS/CT exchange (2 × R_A_TOV).
    pub els_timeout: Duration,
    /// Delay before a failed fabric login is tried again.
    pub login_retry: Duration,
    /// IOVA space shared by everything mapped for the device.
    pub iova: Arc<IovaAllocator>,
    /// Page policy of the driver's DMA region.
    pub hugepages: HugePages,
    /// Exchanges (XRIs) for ELS and CT.
    pub els_xris: u16,
    /// Entries of each RQ of the header/data pair.
    pub rq_entries: u16,
    /// FCP I/O queue pairs (WQ + CQ) created at bring-up; each transport
    /// hardware queue (admin or I/O, of any controller) takes one.
    pub io_queue_pairs: u16,
    /// Exchanges (XRIs) of each I/O queue pair: the deepest queue it serves
    /// without `Busy` (1..=[`MAX_IO_XRIS`]).
    pub io_xris: u16,
    /// WWNN/WWPN to use instead of the port's (READ_SPARM64).
    pub names: Option<(Wwn, Wwn)>,
    /// dev_loss_tmo given to the transport for each remote port.
    pub dev_loss_tmo: Option<Duration>,
}

impl std::fmt::Debug for HbaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HbaConfig")
            .field("ready_timeout", &self.ready_timeout)
            .field("mailbox_timeout", &self.mailbox_timeout)
            .field("els_timeout", &self.els_timeout)
            .field("els_xris", &self.els_xris)
            .field("rq_entries", &self.rq_entries)
            .field("io_queue_pairs", &self.io_queue_pairs)
            .field("io_xris", &self.io_xris)
            .finish_non_exhaustive()
    }
}

impl HbaConfig {
    /// Checks the ranges the driver can build queues for.
    pub fn validate(&self) -> Result<(), HbaError> {
        let bad = |what: String| Err(HbaError::InvalidConfig(what));
        if !(1..=256).contains(&self.els_xris) {
            return bad(format!("els_xris {} (1..=256)", self.els_xris));
        }
        if self.io_queue_pairs > 64 {
            return bad(format!("io_queue_pairs {} (0..=64)", self.io_queue_pairs));
        }
        if !(1..=MAX_IO_XRIS).contains(&self.io_xris) {
            return bad(format!("io_xris {} (1..={MAX_IO_XRIS})", self.io_xris));
        }
        // Eight 4 KiB pages of 8-byte RQEs at most; two at least (one stays empty).
        if !(2..=4096).contains(&self.rq_entries) {
            return bad(format!("rq_entries {} (2..=4096)", self.rq_entries));
        }
        for (name, d) in [
            ("ready_timeout", self.ready_timeout),
            ("mailbox_timeout", self.mailbox_timeout),
            ("els_timeout", self.els_timeout),
        ] {
            if d.is_zero() {
                return bad(format!("{name} is zero"));
            }
        }
        Ok(())
    }
}

impl Default for HbaConfig {
    fn default() -> Self {
        HbaConfig {
            clock: Clock::monotonic(),
            idle: Arc::new(std::thread::yield_now),
            ready_timeout: Duration::from_secs(30),
            mailbox_timeout: Duration::from_secs(30),
            els_timeout: Duration::from_secs(20),
            login_retry: Duration::from_secs(2),
            iova: Arc::new(IovaAllocator::default()),
            hugepages: HugePages::Never,
            els_xris: 32,
            rq_entries: 128,
            // Admin + 4 I/O queues of one controller, and a spare.
            io_queue_pairs: 6,
            io_xris: 128,
            names: None,
            dev_loss_tmo: None,
        }
    }
}

/// Where the port is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HbaState {
    /// Queues up, waiting for or handling the link.
    Online,
    /// A firmware error is being recovered (reset and rebuild).
    Recovering,
    /// The port failed for good; see [`Hba::last_error`].
    Failed,
    /// [`Hba::shutdown`] ran.
    Shutdown,
}

/// Link state as the last link attention reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LinkInfo {
    /// Link up.
    pub up: bool,
    /// Speed code of the link attention (§4.6).
    pub speed: u8,
    /// Topology code (1 = point-to-point/fabric).
    pub topology: u8,
}

/// A remote port the driver logged in to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemotePort {
    /// N_Port ID.
    pub n_port_id: u32,
    /// WWNN from the PLOGI.
    pub wwnn: Wwn,
    /// WWPN from the PLOGI.
    pub wwpn: Wwn,
    /// RPI registered for it.
    pub rpi: u16,
    /// Roles from the PRLI accept.
    pub roles: PortRoles,
    /// The transport's id once registered.
    pub transport_id: Option<RemotePortId>,
}

/// Our fabric login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FabricLogin {
    /// Our N_Port ID (FLOGI WCQE dword 2).
    pub n_port_id: u32,
    /// R_A_TOV from the FLOGI ACC (ms).
    pub r_a_tov_ms: u32,
    /// E_D_TOV from the FLOGI ACC (ms).
    pub e_d_tov_ms: u32,
    pub(crate) fabric_rpi: u16,
    pub(crate) ns_rpi: u16,
    pub(crate) fc_rpi: u16,
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HbaStats {
    /// Fabric logins completed.
    pub fabric_logins: u64,
    /// Fabric logins that failed.
    pub fabric_login_failures: u64,
    /// Target logins (PLOGI + PRLI) completed.
    pub target_logins: u64,
    /// Target logins refused or failed.
    pub target_login_failures: u64,
    /// Link-up attentions.
    pub link_ups: u64,
    /// Link-down attentions.
    pub link_downs: u64,
    /// RSCNs received.
    pub rscns: u64,
    /// Port resets done to recover from errors.
    pub resets: u64,
    /// Remote-port delete callbacks the transport made.
    pub rport_deletes: u64,
    /// Unsolicited frames handled.
    pub unsolicited: u64,
    /// NVMe LSs from targets handed to the transport (Disconnect Association).
    pub ls_received: u64,
    /// NVMe LSs from unknown senders or of unusable length, dropped.
    pub ls_dropped: u64,
    /// Answers to received LSs sent (XMIT_SEQUENCE64).
    pub ls_responses: u64,
    /// [`Hba::restart`] calls that opened the port again.
    pub restarts: u64,
    /// ABTS frames received (a target ending an exchange).
    pub abts_received: u64,
    /// BA_ACC answers sent (XMIT_BLS_RSP) for our FCP exchanges.
    pub ba_accs: u64,
    /// BA_RJT answers sent for exchanges we do not know.
    pub ba_rjts: u64,
}

/// The transport this driver registers its ports with.
struct Registration {
    transport: Arc<Transport<HbaLldd>>,
    lldd: Arc<HbaLldd>,
    lport: Option<LocalPortId>,
}

/// One SLI-4 FC port.
pub struct Hba {
    name: String,
    device: Device,
    cfg: HbaConfig,
    ident: Identity,
    port: Option<Port>,
    state: HbaState,
    link: LinkInfo,
    fabric: Option<FabricLogin>,
    nodes: BTreeMap<u32, RemotePort>,
    reg: Option<Registration>,
    rescan: bool,
    /// A discovery pass had transient failures: run another at this time.
    rescan_at: Option<Duration>,
    login_pending: bool,
    retry_at: Option<Duration>,
    last_error: Option<String>,
    wwnn: Wwn,
    wwpn: Wwn,
    stats: HbaStats,
    /// The previous incarnation's FCP pairs, until the recovery's reset.
    retired_io: Option<io_pool::RetiredIo>,
}

impl std::fmt::Debug for Hba {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hba")
            .field("name", &self.name)
            .field("state", &self.state)
            .field("link", &self.link)
            .field("fabric", &self.fabric)
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

impl Hba {
    /// Opens the port: checks the PCI identity and SLI_INTF, resets the port,
    /// creates the queues, registers the SGLs and the receive filter and
    /// starts the link. Login runs from [`Hba::poll`] on link up. With a
    /// transport, the local port is registered after the first fabric login
    /// and every NVMe target or discovery port found after it.
    pub fn open(
        device: Device,
        cfg: HbaConfig,
        transport: Option<Arc<Transport<HbaLldd>>>,
    ) -> Result<Hba, HbaError> {
        cfg.validate()?;
        let name = device.name().to_owned();
        let ident = identify(&device)?;
        let waiter = Waiter {
            clock: cfg.clock.clone(),
            device: device.clone(),
            idle: Arc::clone(&cfg.idle),
        };
        let mut port = Port::start(ident, &cfg, waiter)?;
        let (wwnn, wwpn) = cfg
            .names
            .unwrap_or((port.sparams.wwnn(), port.sparams.wwpn()));
        let reg = transport.map(|transport| Registration {
            transport,
            lldd: Arc::new(HbaLldd::new(&name)),
            lport: None,
        });
        if let Some(reg) = &reg {
            reg.lldd.set_dma_source(dma_buffer::DmaSource {
                device: device.clone(),
                iova: Arc::clone(&cfg.iova),
                hugepages: cfg.hugepages,
            });
            reg.lldd.install_io(std::mem::take(&mut port.io));
        }
        Ok(Hba {
            name,
            device,
            cfg,
            ident,
            port: Some(port),
            state: HbaState::Online,
            link: LinkInfo::default(),
            fabric: None,
            nodes: BTreeMap::new(),
            reg,
            rescan: false,
            rescan_at: None,
            login_pending: false,
            retry_at: None,
            last_error: None,
            wwnn,
            wwpn,
            stats: HbaStats::default(),
            retired_io: None,
        })
    }

    /// Device name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// PCI identity and interface type.
    pub fn identity(&self) -> Identity {
        self.ident
    }

    /// Where the port is.
    pub fn state(&self) -> HbaState {
        self.state
    }

    /// The link.
    pub fn link(&self) -> LinkInfo {
        self.link
    }

    /// Our fabric login, while logged in.
    pub fn fabric_login(&self) -> Option<FabricLogin> {
        self.fabric
    }

    /// Our WWNN and WWPN.
    pub fn names(&self) -> (Wwn, Wwn) {
        (self.wwnn, self.wwpn)
    }

    /// Firmware name from READ_REV.
    pub fn firmware(&self) -> Option<&str> {
        self.port.as_ref().map(|p| p.fw_name.as_str())
    }

    /// Remote ports logged in, by N_Port ID.
    pub fn remote_ports(&self) -> Vec<RemotePort> {
        self.nodes.values().cloned().collect()
    }

    /// The transport's id of our local port, once registered.
    pub fn local_port(&self) -> Option<LocalPortId> {
        self.reg.as_ref().and_then(|r| r.lport)
    }

    /// The LLDD instance registered with the transport.
    pub fn lldd(&self) -> Option<Arc<HbaLldd>> {
        self.reg.as_ref().map(|r| Arc::clone(&r.lldd))
    }

    /// The last error the port reported (login failures, recovery).
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Counters.
    pub fn stats(&self) -> HbaStats {
        self.stats
    }

    /// Device input the driver refused (bad tags, indices, lengths) on the
    /// management queues; the FCP queue pairs' are in
    /// [`Hba::io_input_errors`].
    pub fn input_errors(&self) -> DeviceInputErrors {
        self.port
            .as_ref()
            .map(|p| p.input_errors())
            .unwrap_or_default()
    }

    /// Device input the FCP queue pairs of the current port incarnation
    /// refused, lent out or not (the owners' [`IoQueueStats`], summed).
    pub fn io_input_errors(&self) -> IoInputErrors {
        self.reg
            .as_ref()
            .map(|r| r.lldd.io_input_errors())
            .unwrap_or_default()
    }

    fn note(&mut self, e: &HbaError) {
        log::warn!("{e}");
        self.last_error = Some(e.to_string());
    }

    /// Drives the port: status check, queue service, link events, login,
    /// discovery and unsolicited frames. Returns the number of events
    /// handled. `Err` only when the port failed for good (the error says
    /// why); the state is then [`HbaState::Failed`].
    pub fn poll(&mut self) -> Result<usize, HbaError> {
        match self.state {
            HbaState::Online | HbaState::Recovering => {}
            HbaState::Failed => {
                return Err(HbaError::NotRunning {
                    device: self.name.clone(),
                    state: "failed",
                })
            }
            HbaState::Shutdown => {
                return Err(HbaError::NotRunning {
                    device: self.name.clone(),
                    state: "shut down",
                })
            }
        }
        self.device.poll_model();
        match self.poll_once() {
            Ok(n) => Ok(n),
            Err(e) => self.on_port_failure(e).map(|()| 1),
        }
    }

    fn poll_once(&mut self) -> Result<usize, HbaError> {
        if let Some(reg) = &self.reg {
            self.stats.rport_deletes += reg.lldd.take_all_rports_deleted() as u64;
            reg.lldd.reap_idle_io();
        }
        if self.state == HbaState::Recovering {
            self.recover()?;
            return Ok(1);
        }
        let Some(port) = self.port.as_mut() else {
            return Ok(0);
        };
        port.check_status()?;
        let mut n = port.service()?;
        while let Some(ev) = self.port.as_mut().and_then(|p| p.events.pop_front()) {
            n += 1;
            match ev {
                PortEvent::Link(l) if l.up => {
                    self.stats.link_ups += 1;
                    if let Some(reg) = &self.reg {
                        reg.lldd.set_link(true);
                    }
                    self.link = LinkInfo {
                        up: true,
                        speed: l.speed,
                        topology: l.topology,
                    };
                    // A link-up without the down in between restarts login.
                    if self.fabric.is_some() {
                        self.link_lost()?;
                    }
                    self.login_pending = true;
                    self.retry_at = None;
                }
                PortEvent::Link(_) => {
                    self.stats.link_downs += 1;
                    if let Some(reg) = &self.reg {
                        reg.lldd.set_link(false);
                    }
                    self.link.up = false;
                    self.login_pending = false;
                    self.link_lost()?;
                }
                PortEvent::SliPort { event_type } => {
                    log::info!("{}: SLI port event type {event_type:#x}", self.name);
                }
            }
        }
        if self.link.up && self.login_pending {
            let now = self.cfg.clock.now();
            if self.retry_at.is_none_or(|t| now >= t) {
                n += 1;
                self.login_pending = false;
                if let Err(e) = self.login_fabric() {
                    self.stats.fabric_login_failures += 1;
                    self.note(&e);
                    self.link_lost_quiet();
                    if matches!(
                        e,
                        HbaError::PortError { .. }
                            | HbaError::DeviceGone { .. }
                            | HbaError::MailboxTimeout { .. }
                    ) {
                        return Err(e);
                    }
                    if !matches!(e, HbaError::LinkDown { .. }) {
                        self.login_pending = true;
                        self.retry_at = Some(now.saturating_add(self.cfg.login_retry));
                    }
                }
            }
        }
        n += self.handle_frames()?;
        if self.rescan_at.is_some_and(|t| self.cfg.clock.now() >= t) {
            self.rescan_at = None;
            self.rescan = true;
        }
        if self.rescan && self.fabric.is_some() {
            self.rescan = false;
            n += 1;
            self.discover()?;
        }
        n += self.run_ls()?;
        n += self.run_ls_responses()?;
        Ok(n)
    }

    /// Link-down cleanup that cannot fail the poll (after a failed login).
    fn link_lost_quiet(&mut self) {
        if let Err(e) = self.link_lost() {
            self.note(&e);
        }
    }

    /// Errors out of a poll: a recoverable port error or a mailbox timeout
    /// starts recovery (§7.2); an unrecoverable port error, a dead device or
    /// a failed recovery fail the port for good; anything else (a refused
    /// login, a bad response) is logged and the port keeps running.
    fn on_port_failure(&mut self, e: HbaError) -> Result<(), HbaError> {
        self.note(&e);
        let recover = match &e {
            _ if self.state == HbaState::Recovering => false,
            HbaError::PortError { recoverable, .. } => *recoverable,
            HbaError::MailboxTimeout { .. } => true,
            HbaError::DeviceGone { .. } => false,
            _ => return Ok(()),
        };
        self.unregister_all_rports();
        self.nodes.clear();
        self.fabric = None;
        self.link = LinkInfo::default();
        self.login_pending = false;
        self.port = None;
        if let Some(reg) = &self.reg {
            // The port lost its queues: nothing to destroy once no owner
            // thread can ring a doorbell any more. A port that may still
            // write (a mailbox timeout) keeps the pairs' memory until the
            // reset of the recovery.
            let io = reg.lldd.close_io(&self.waiter(), self.cfg.mailbox_timeout);
            if recover {
                self.retired_io = Some(io);
            } else {
                io.finish();
            }
        }
        if recover {
            self.state = HbaState::Recovering;
            Ok(())
        } else {
            self.state = HbaState::Failed;
            Err(e)
        }
    }

    /// §7.2: wait for RN+RDY, reset the port, rebuild everything; login
    /// follows on the link-up attention.
    fn recover(&mut self) -> Result<(), HbaError> {
        log::warn!("{}: resetting the port to recover", self.name);
        self.stats.resets += 1;
        self.port = None;
        let waiter = Waiter {
            clock: self.cfg.clock.clone(),
            device: self.device.clone(),
            idle: Arc::clone(&self.cfg.idle),
        };
        let started = Port::start(self.ident, &self.cfg, waiter);
        // Reset (or failed for good): the old pairs' memory can go.
        if let Some(io) = self.retired_io.take() {
            io.finish();
        }
        let mut port = started?;
        if let Some(reg) = &self.reg {
            reg.lldd.install_io(std::mem::take(&mut port.io));
        }
        self.port = Some(port);
        self.state = HbaState::Online;
        Ok(())
    }

    /// Bounded waits on this port's clock and device.
    fn waiter(&self) -> Waiter {
        Waiter {
            clock: self.cfg.clock.clone(),
            device: self.device.clone(),
            idle: Arc::clone(&self.cfg.idle),
        }
    }

    fn unregister_all_rports(&mut self) {
        let ids: Vec<RemotePortId> = self
            .nodes
            .values_mut()
            .filter_map(|n| n.transport_id.take())
            .collect();
        if let Some(reg) = &self.reg {
            for id in ids {
                if let Err(e) = reg.transport.unregister_remoteport(id) {
                    log::warn!("{}: unregistering {id:?}: {e}", self.name);
                }
            }
        }
    }
}

// The management thread of an application owns the port.
const _: () = {
    const fn send<T: Send>() {}
    send::<Hba>();
    send::<HbaLldd>();
};
