//! fcperf on the SLI-4 driver: `--device emu` (the emulated Lancer G7 on the
//! built-in fabric), `--device emu:FILE.toml` (a fabric from a file) and
//! `--device PCI-ADDRESS` (kernel VFIO).
//!
//! Threads: the model runs on its own thread ([`ModelRunner`], pinned by
//! `--emu-cpu`); the management thread (fcperf's main thread) owns the
//! [`Hba`] and polls it and the transport; each job polls the queue pairs it
//! owns. The drills act on the management thread: [`Hba::restart`], the
//! model's link down/up, and a firmware error with RN that the driver
//! recovers from.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ufc_emu::fabric::config::{NamespaceBackend, NamespaceDef, SubsystemDef};
use ufc_emu::fabric::{Fabric, FabricConfig};
use ufc_emu::sli4::{FirmwareError, Generation, Sli4Config, Sli4Faults, Sli4Model};
use ufc_hba::{Hba, HbaConfig, HbaLldd, HbaState};
use ufc_transport::lldd::PortRoles;
use ufc_transport::wwn::FcAddr;
use ufc_transport::{Clock, Transport, TransportConfig};
use ufc_vfio::dma::{ClassConfig, DmaPool, HugePages, IovaAllocator, PoolConfig};
use ufc_vfio::model::{IdlePolicy, RunnerOptions};
use ufc_vfio::{Device, ModelRunner, PciAddress, VfioOptions};

use crate::backend::{Backend, Begun, Gone, Reachable};
use crate::drill::DrillKind;
use crate::error::PerfError;
use crate::world::{namespace_file, subsystem_nqn, NsKind, HOST_ADDR, TARGET_ADDR};

/// Where the HBA is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The emulated HBA on the built-in fabric, or on the fabric of a TOML file.
    Emu(Option<PathBuf>),
    /// A real HBA bound to vfio-pci.
    Pci(PciAddress),
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSpec::Emu(None) => f.write_str("emu"),
            DeviceSpec::Emu(Some(p)) => write!(f, "emu:{}", p.display()),
            DeviceSpec::Pci(a) => write!(f, "{a}"),
        }
    }
}

/// What to build.
#[derive(Clone, Debug)]
pub struct HbaSpec {
    /// The device.
    pub device: DeviceSpec,
    /// Namespace backend of the built-in fabric.
    pub namespace: NsKind,
    /// Block size of the built-in fabric's namespaces.
    pub lba_size: u32,
    /// Capacity in bytes of each built-in namespace.
    pub capacity: u64,
    /// Subsystems on the built-in target port.
    pub subsystems: usize,
    /// CPU of the model thread.
    pub emu_cpu: Option<usize>,
    /// No model thread: the model runs inside the driver's polls (instruction
    /// counting, deterministic runs).
    pub inline_model: bool,
    /// The model thread never yields its CPU when idle (a core of its own).
    pub emu_spin: bool,
    /// The emulated target's service time: every FCP exchange completes this
    /// long after the model ran its WQE (`Sli4Config::fcp_latency`; zero: at
    /// once).
    pub emu_latency: Duration,
    /// Capture the emulated link.
    pub pcap: Option<PathBuf>,
    /// dev_loss_tmo the driver gives the transport.
    pub dev_loss_tmo: Option<Duration>,
    /// FCP queue pairs created at bring-up.
    pub io_queue_pairs: u16,
    /// XRIs per queue pair.
    pub io_xris: u16,
    /// Size of one data buffer.
    pub data_buf: usize,
    /// Number of data buffers.
    pub data_bufs: usize,
    /// Subsystem NQNs to use on real hardware (no fabric description to read).
    pub subnqns: Vec<String>,
}

/// Bound on discovery (login to every target port of the fabric).
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// A firmware error's RDY comes back after this long (the model's clock).
const FW_READY_AFTER: Duration = Duration::from_millis(1);

/// The driver, its device and the fabric behind it.
pub struct HbaWorld {
    /// The transport.
    pub transport: Arc<Transport<HbaLldd>>,
    /// The driver (owned by the management thread).
    pub hba: Hba,
    /// Data buffers, mapped for the device.
    pub pool: Arc<DmaPool>,
    cfg: HbaConfig,
    spec: DeviceSpec,
    fabric: Option<Arc<Fabric>>,
    faults: Option<Sli4Faults>,
    subnqns: Vec<String>,
    /// Counters at a drill's start: (rport deletes, resets).
    drill_base: (u64, u64),
    rport_deleted_at: Option<Duration>,
    /// CPU of the model thread.
    model_cpu: Option<usize>,
    /// Dropped last: the model thread outlives the driver's shutdown.
    runner: Option<ModelRunner>,
}

impl std::fmt::Debug for HbaWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HbaWorld")
            .field("device", &self.spec)
            .field("hba", &self.hba)
            .finish_non_exhaustive()
    }
}

fn emu(what: &str, e: impl std::fmt::Display) -> PerfError {
    PerfError::Emu(format!("{what}: {e}"))
}

/// The built-in fabric: fcperf's host and target names (the same as on
/// fcloop), `subsystems` subsystems with one namespace each.
fn builtin_fabric(spec: &HbaSpec) -> FabricConfig {
    let mut cfg = FabricConfig::default();
    cfg.host_ports[0].addr = HOST_ADDR;
    let t = &mut cfg.target_ports[0];
    t.addr = TARGET_ADDR;
    let n = spec.subsystems.max(1);
    t.subsystems = (0..n)
        .map(|i| SubsystemDef {
            nqn: subsystem_nqn(i),
            allowed_hosts: Vec::new(),
            namespaces: vec![NamespaceDef {
                backend: match &spec.namespace {
                    NsKind::Null => NamespaceBackend::Null,
                    NsKind::Ram => NamespaceBackend::Ram,
                    NsKind::File(p) => NamespaceBackend::File(namespace_file(p, i, n)),
                },
                block_size: spec.lba_size,
                blocks: spec.capacity / u64::from(spec.lba_size),
            }],
        })
        .collect();
    cfg
}

impl HbaWorld {
    /// Opens the device, brings the port up and waits until discovery has
    /// registered the target ports.
    pub fn build(spec: &HbaSpec) -> Result<HbaWorld, PerfError> {
        let clock = Clock::monotonic();
        let iova = Arc::new(IovaAllocator::default());
        let cfg = HbaConfig {
            clock: clock.clone(),
            iova: Arc::clone(&iova),
            io_queue_pairs: spec.io_queue_pairs,
            io_xris: spec.io_xris,
            dev_loss_tmo: spec.dev_loss_tmo,
            ..HbaConfig::default()
        };
        let (device, fabric, faults, runner) = match &spec.device {
            DeviceSpec::Emu(file) => {
                let fcfg = match file {
                    Some(path) => FabricConfig::from_file(path)
                        .map_err(|e| emu(&format!("--device emu:{}", path.display()), e))?,
                    None => builtin_fabric(spec),
                };
                if fcfg.host_ports.is_empty() {
                    return Err(emu(
                        "fabric configuration",
                        "it has no [[host_port]]; fcperf's HBA attaches to the first one",
                    ));
                }
                let fabric = Fabric::new(fcfg, clock.clone()).map_err(|e| emu("fabric", e))?;
                if let Some(p) = &spec.pcap {
                    fabric
                        .capture_to_file(p)
                        .map_err(|e| emu(&format!("--pcap {}", p.display()), e))?;
                }
                let me = fabric.config().host_ports[0].addr;
                let mut cfg = Sli4Config::new(Generation::G7, me);
                cfg.fcp_latency = (!spec.emu_latency.is_zero()).then_some(spec.emu_latency);
                let model = Sli4Model::new(cfg, Arc::clone(&fabric), clock.clone())
                    .map_err(|e| emu("SLI-4 model", e))?;
                let faults = model.faults();
                let device = Device::from_model(model);
                let runner = if spec.inline_model {
                    None
                } else {
                    let opts = RunnerOptions {
                        cpu: spec.emu_cpu,
                        idle: if spec.emu_spin {
                            IdlePolicy::Spin
                        } else {
                            IdlePolicy::Yield
                        },
                    };
                    Some(
                        ModelRunner::spawn_with(&device, opts)
                            .map_err(|e| emu("--emu-cpu: model thread", e))?,
                    )
                };
                (device, Some(fabric), Some(faults), runner)
            }
            DeviceSpec::Pci(addr) => {
                let device = Device::open_vfio(&addr.to_string(), &VfioOptions::default())
                    .map_err(|source| PerfError::Vfio {
                        address: addr.to_string(),
                        source,
                    })?;
                if spec.subnqns.is_empty() {
                    return Err(PerfError::Usage {
                        option: "--device",
                        reason: format!(
                            "a real HBA ({addr}) needs --subnqn or -r '... subnqn:NQN': fcperf cannot list the subsystems behind a target port yet"
                        ),
                    });
                }
                (device, None, None, None)
            }
        };
        let pool = DmaPool::new(
            &PoolConfig {
                classes: vec![ClassConfig {
                    buf_size: spec.data_buf,
                    count: spec.data_bufs,
                }],
                hugepages: HugePages::Prefer,
            },
            &iova,
        )
        .map_err(|source| PerfError::Dma {
            bytes: spec.data_buf * spec.data_bufs,
            source,
        })?;
        device
            .dma_map(pool.memory())
            .map_err(|e| emu("mapping the data buffers for the device", e))?;
        let transport = Transport::with_config(clock, TransportConfig::default());
        let hba =
            Hba::open(device, cfg.clone(), Some(Arc::clone(&transport))).map_err(|source| {
                PerfError::Hba {
                    device: spec.device.to_string(),
                    source,
                }
            })?;
        let mut w = HbaWorld {
            transport,
            hba,
            pool,
            cfg,
            spec: spec.device.clone(),
            fabric,
            faults,
            subnqns: spec.subnqns.clone(),
            drill_base: (0, 0),
            rport_deleted_at: None,
            model_cpu: runner.as_ref().and(spec.emu_cpu),
            runner,
        };
        w.discover()?;
        Ok(w)
    }

    /// Target ports registered with the transport.
    fn registered_targets(&self) -> Vec<FcAddr> {
        self.hba
            .remote_ports()
            .iter()
            .filter(|r| r.transport_id.is_some() && r.roles.contains(PortRoles::TARGET))
            .map(|r| FcAddr {
                wwnn: r.wwnn,
                wwpn: r.wwpn,
            })
            .collect()
    }

    /// Polls until every target port of the fabric is registered (on real
    /// hardware: at least one), at most [`DISCOVERY_TIMEOUT`].
    fn discover(&mut self) -> Result<(), PerfError> {
        let want = self.fabric.as_ref().map_or(1, |f| {
            f.config()
                .target_ports
                .iter()
                .filter(|t| !t.reject_plogi && !t.reject_prli)
                .count()
                .max(1)
        });
        let clock = self.cfg.clock.clone();
        let start = clock.now();
        while self.registered_targets().len() < want {
            if self.poll()? == 0 {
                std::thread::sleep(Duration::from_micros(100));
            }
            if clock.now() - start > DISCOVERY_TIMEOUT {
                if self.registered_targets().is_empty() {
                    return Err(PerfError::Emu(format!(
                        "{}: no NVMe target port logged in within {DISCOVERY_TIMEOUT:?} (link {:?}, last error: {}); check the fabric's zoning and the target ports",
                        self.spec,
                        self.hba.link(),
                        self.hba.last_error().unwrap_or("none")
                    )));
                }
                log::warn!(
                    "{}: {} of {want} target ports logged in after {DISCOVERY_TIMEOUT:?}; going on with those",
                    self.spec,
                    self.registered_targets().len()
                );
                break;
            }
        }
        Ok(())
    }

    /// The model's fault handle, on the emulated device.
    fn faults(&self, kind: DrillKind) -> Result<&Sli4Faults, PerfError> {
        self.faults.as_ref().ok_or_else(|| PerfError::Drill {
            kind: kind.name(),
            reason: "only the emulated HBA (--device emu) injects faults".into(),
        })
    }

    fn drill_error(kind: DrillKind, e: impl std::fmt::Display) -> PerfError {
        PerfError::Drill {
            kind: kind.name(),
            reason: e.to_string(),
        }
    }

    /// The restart the seed describes ([`Hba::restart`]): shutdown then open
    /// on the same device, config and transport while the jobs keep polling.
    fn restart(&mut self) -> Result<Begun, PerfError> {
        let start = self.cfg.clock.now();
        let r = self
            .hba
            .restart()
            .map_err(|e| Self::drill_error(DrillKind::Restart, e))?;
        // From the unregister to the last remote port's delete callback.
        let rport_delete = r
            .rport_deleted
            .iter()
            .map(|(_, at)| at.saturating_sub(r.unregistered))
            .max();
        Ok(Begun {
            start,
            rport_delete,
            back_at: Some(start + r.opened),
        })
    }

    /// Counters the drills watch.
    fn counters(&self) -> (u64, u64) {
        let s = self.hba.stats();
        (s.rport_deletes, s.resets)
    }
}

impl Backend for HbaWorld {
    type L = HbaLldd;

    fn transport(&self) -> &Arc<Transport<HbaLldd>> {
        &self.transport
    }

    fn ioengine(&self) -> &'static str {
        match self.spec {
            DeviceSpec::Emu(_) => "ufc-hba-emu",
            DeviceSpec::Pci(_) => "ufc-hba-vfio",
        }
    }

    fn host_addr(&self) -> FcAddr {
        let (wwnn, wwpn) = self.hba.names();
        FcAddr { wwnn, wwpn }
    }

    fn reachable(&self) -> Vec<Reachable> {
        let mut out = Vec::new();
        for traddr in self.registered_targets() {
            match &self.fabric {
                // The emulator knows its subsystems; a discovery controller
                // would tell the same on real hardware.
                Some(f) => {
                    if let Some(t) = f.target_port(traddr.wwpn) {
                        out.extend(t.subsystems().iter().map(|s| Reachable {
                            traddr,
                            subnqn: s.nqn().to_owned(),
                        }));
                    }
                }
                None => out.extend(self.subnqns.iter().map(|n| Reachable {
                    traddr,
                    subnqn: n.clone(),
                })),
            }
        }
        out
    }

    fn pool(&self) -> &Arc<DmaPool> {
        &self.pool
    }

    fn model_cpu(&self) -> Option<usize> {
        self.model_cpu
    }

    fn poll(&mut self) -> Result<usize, PerfError> {
        let n = self.hba.poll().map_err(|source| PerfError::Hba {
            device: self.spec.to_string(),
            source,
        })?;
        Ok(n + self.transport.poll())
    }

    fn supports(&self, kind: DrillKind) -> Result<(), String> {
        match (kind, &self.faults) {
            (DrillKind::Restart, _) => Ok(()),
            (_, Some(_)) => Ok(()),
            (_, None) => Err(format!(
                "{} is injected by the emulated HBA only; use --device emu",
                kind.name()
            )),
        }
    }

    fn drill_begin(&mut self, kind: DrillKind) -> Result<Begun, PerfError> {
        self.drill_base = self.counters();
        self.rport_deleted_at = None;
        let start = self.cfg.clock.now();
        match kind {
            DrillKind::Restart => return self.restart(),
            DrillKind::LinkBounce => self
                .faults(kind)?
                .link_down()
                .map_err(|e| Self::drill_error(kind, e))?,
            DrillKind::FwError => self
                .faults(kind)?
                .firmware_error(FirmwareError::restart(FW_READY_AFTER)),
        }
        Ok(Begun {
            start,
            rport_delete: None,
            back_at: None,
        })
    }

    fn drill_gone(&mut self, kind: DrillKind, _start: Duration) -> Gone {
        let (deletes, resets) = self.counters();
        if deletes > self.drill_base.0 && self.rport_deleted_at.is_none() {
            // Seen by this management pass: the drill loop polls every 20 µs.
            self.rport_deleted_at = Some(self.cfg.clock.now());
        }
        let deleted = self.rport_deleted_at.is_some();
        Gone {
            rport_deleted_at: self.rport_deleted_at,
            done: match kind {
                DrillKind::Restart | DrillKind::LinkBounce => deleted,
                DrillKind::FwError => {
                    deleted && resets > self.drill_base.1 && self.hba.state() == HbaState::Online
                }
            },
        }
    }

    fn drill_back(&mut self, kind: DrillKind) -> Result<Duration, PerfError> {
        if kind == DrillKind::LinkBounce {
            self.faults(kind)?
                .link_up()
                .map_err(|e| Self::drill_error(kind, e))?;
        }
        Ok(self.cfg.clock.now())
    }
}

impl Drop for HbaWorld {
    fn drop(&mut self) {
        if let Err(e) = self.hba.shutdown() {
            log::warn!("shutdown of {}: {e}", self.spec);
        }
        if let Some(r) = self.runner.take() {
            r.stop();
        }
    }
}
