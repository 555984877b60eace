//! The emulated setup fcperf and the transport benchmark run against: one fcloop
//! fabric with one target port (one or more subsystems, one namespace each), a
//! DMA pool for admin and data buffers, a [`Transport`] and one fcloop LLDD
//! instance with one local and one remote port.
//!
//! The LLDD instance can be replaced while I/O runs (the seed's restart
//! scenario, emu/tests/seed.rs `seed_rebind_before_timeout`) and its remote
//! port unregistered and registered again (a link bounce).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ufc_emu::fcloop::{DeleteEvent, FcloopFabric, FcloopLldd, Mode};
use ufc_emu::target::{Namespace as TargetNs, Subsystem, SubsystemConfig};
use ufc_transport::lldd::{LocalPortId, RemotePortId};
use ufc_transport::wwn::{FcAddr, Wwn};
use ufc_transport::{Clock, ConnectOptions, Transport, TransportConfig};
use ufc_vfio::dma::{ClassConfig, DmaPool, DmaView, HugePages, IovaAllocator, PoolConfig};

use crate::backend::{Backend, Begun, Gone, Reachable};
use crate::drill::DrillKind;
use crate::error::PerfError;

/// The fcloop LLDD under [`World`].
pub type Fc = FcloopLldd<DmaView>;

/// The emulated initiator port.
pub const HOST_ADDR: FcAddr = FcAddr {
    wwnn: Wwn(0x2000_0090_fa00_0001),
    wwpn: Wwn(0x1000_0090_fa00_0001),
};
/// The emulated target port.
pub const TARGET_ADDR: FcAddr = FcAddr {
    wwnn: Wwn(0x2000_0090_fa00_2779),
    wwpn: Wwn(0x1000_0090_fa00_2779),
};
/// N_Port ID of the target port.
const TARGET_PORT_ID: u32 = 0x0002_0100;
/// N_Port ID of the first local port registration; restarts count up from it.
const HOST_PORT_ID: u32 = 0x0001_0100;
/// Admin buffers (Connect data, Identify) come from this class.
const ADMIN_BUF: usize = 4096;
const ADMIN_BUFS: usize = 64;

/// NQN of emulated subsystem `i` (0-based).
pub fn subsystem_nqn(i: usize) -> String {
    if i == 0 {
        "nqn.2024-01.io.ufc:fcperf".to_owned()
    } else {
        format!("nqn.2024-01.io.ufc:fcperf{}", i + 1)
    }
}

/// Backend of the emulated namespaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NsKind {
    /// Reads transfer nothing, writes are dropped.
    Null,
    /// Sparse memory.
    Ram,
    /// A file (created or extended to the namespace size).
    File(PathBuf),
}

/// The namespace file of subsystem `i` out of `n` for `--emu-namespace
/// file:PATH`: PATH itself for one subsystem, PATH.i for each of several.
pub fn namespace_file(path: &Path, i: usize, n: usize) -> PathBuf {
    if n > 1 {
        PathBuf::from(format!("{}.{i}", path.display()))
    } else {
        path.to_path_buf()
    }
}

/// What to build.
#[derive(Clone, Debug)]
pub struct EmuSpec {
    /// Namespace backend.
    pub namespace: NsKind,
    /// Logical block size (512 or 4096).
    pub lba_size: u32,
    /// Namespace capacity in bytes.
    pub capacity: u64,
    /// Subsystems on the target port (each with one namespace).
    pub subsystems: usize,
    /// Latency fcloop adds to every FCP exchange.
    pub latency: Duration,
    /// dev_loss_tmo of the remote port (`None`: transport default).
    pub dev_loss_tmo: Option<Duration>,
    /// Size of one data buffer.
    pub data_buf: usize,
    /// Number of data buffers.
    pub data_bufs: usize,
}

/// The fabric, the transport and the current LLDD instance.
pub struct World {
    /// The transport (management poll, stats).
    pub transport: Arc<Transport<Fc>>,
    /// The fabric (faults, latency).
    pub fabric: Arc<FcloopFabric>,
    /// Admin and data buffers.
    pub pool: Arc<DmaPool>,
    lldd: Mutex<Instance>,
    dev_loss_tmo: Option<Duration>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("dev_loss_tmo", &self.dev_loss_tmo)
            .finish_non_exhaustive()
    }
}

struct Instance {
    fc: Arc<Fc>,
    lport: LocalPortId,
    rport: RemotePortId,
    port_id: u32,
}

/// Timings of one drill, as the LLDD saw them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DrillTimes {
    /// Transport clock at the unregister call.
    pub unregistered_at: Duration,
    /// Unregister → `remoteport_delete` callback.
    pub rport_delete: Duration,
    /// Transport clock when the ports were registered again.
    pub reregistered_at: Duration,
}

impl World {
    /// Builds the fabric, the pool and the first LLDD instance, registers its ports.
    pub fn build(spec: &EmuSpec) -> Result<World, PerfError> {
        let clock = Clock::monotonic();
        let fabric = FcloopFabric::new(clock.clone());
        fabric.faults().set_latency(spec.latency);
        let nblocks = spec.capacity / u64::from(spec.lba_size);
        let mut subsystems = Vec::with_capacity(spec.subsystems);
        for i in 0..spec.subsystems.max(1) {
            let ns = match &spec.namespace {
                NsKind::Null => TargetNs::null(spec.lba_size, nblocks),
                NsKind::Ram => TargetNs::ram(spec.lba_size, nblocks),
                NsKind::File(path) => {
                    let path = namespace_file(path, i, spec.subsystems);
                    let file = std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .open(&path)
                        .map_err(|e| {
                            PerfError::Emu(format!(
                                "namespace file {}: {e}; give a writable path to --emu-namespace file:PATH",
                                path.display()
                            ))
                        })?;
                    TargetNs::file(file, spec.lba_size, nblocks)
                }
            }
            .map_err(|e| PerfError::Emu(format!("namespace: {e}")))?;
            let sub = Subsystem::new(SubsystemConfig::new(subsystem_nqn(i)), vec![ns])
                .map_err(|e| PerfError::Emu(format!("subsystem {}: {e}", subsystem_nqn(i))))?;
            subsystems.push(sub);
        }
        fabric
            .add_target_port(
                TARGET_ADDR.wwnn,
                TARGET_ADDR.wwpn,
                TARGET_PORT_ID,
                subsystems,
            )
            .map_err(|e| PerfError::Emu(e.to_string()))?;

        let mut classes = vec![ClassConfig {
            buf_size: ADMIN_BUF,
            count: ADMIN_BUFS,
        }];
        if spec.data_buf == ADMIN_BUF {
            classes[0].count += spec.data_bufs;
        } else {
            classes.push(ClassConfig {
                buf_size: spec.data_buf,
                count: spec.data_bufs,
            });
        }
        let bytes = classes.iter().map(|c| c.buf_size * c.count).sum();
        let pool = DmaPool::new(
            &PoolConfig {
                classes,
                hugepages: HugePages::Prefer,
            },
            &Arc::new(IovaAllocator::default()),
        )
        .map_err(|source| PerfError::Dma { bytes, source })?;

        let cfg = TransportConfig::default();
        let transport = Transport::with_config(clock, cfg);
        let fc = FcloopLldd::on_pool(Arc::clone(&fabric), &pool, Mode::Inline);
        let inst = register(&transport, fc, HOST_PORT_ID, spec.dev_loss_tmo)?;
        Ok(World {
            transport,
            fabric,
            pool,
            lldd: Mutex::new(inst),
            dev_loss_tmo: spec.dev_loss_tmo,
        })
    }

    fn inst(&self) -> MutexGuard<'_, Instance> {
        // Only the drill code mutates the instance, in whole assignments.
        self.lldd.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// NQNs of the subsystems on the emulated target port.
    pub fn subsystems(&self) -> Vec<String> {
        self.fabric
            .target_port(TARGET_ADDR.wwpn)
            .map(|t| t.subsystems().iter().map(|s| s.nqn().to_owned()).collect())
            .unwrap_or_default()
    }

    /// The restart drill, first half: the LLDD instance unregisters its remote
    /// and local port. Returns the transport time of the call.
    pub fn unregister_all(&self) -> Result<Duration, PerfError> {
        let inst = self.inst();
        let at = self.transport.clock().now();
        let reg = &*self.transport;
        inst.fc
            .del_remote_port(reg, inst.rport)
            .and_then(|()| inst.fc.del_local_port(reg, inst.lport))
            .map_err(|e| drill("restart", e))?;
        Ok(at)
    }

    /// The link-bounce drill, first half: the remote port goes away.
    pub fn unregister_rport(&self) -> Result<Duration, PerfError> {
        let inst = self.inst();
        let at = self.transport.clock().now();
        inst.fc
            .del_remote_port(&*self.transport, inst.rport)
            .map_err(|e| drill("link-bounce", e))?;
        Ok(at)
    }

    /// When the current instance got the `remoteport_delete` callback for the
    /// registration unregistered at `since` (fabric clock), if it did.
    pub fn rport_deleted_at(&self, since: Duration) -> Option<Duration> {
        let inst = self.inst();
        inst.fc
            .delete_events()
            .iter()
            .find(|d| d.event == DeleteEvent::Remote(inst.rport) && d.at >= since)
            .map(|d| d.at)
    }

    /// True once the current instance got `localport_delete` after `since`.
    pub fn lport_deleted(&self, since: Duration) -> bool {
        let inst = self.inst();
        inst.fc
            .delete_events()
            .iter()
            .any(|d| d.event == DeleteEvent::Local(inst.lport) && d.at >= since)
    }

    /// The restart drill, second half: the old instance is dropped and a new one
    /// registers the same WWNs with a new N_Port ID. Returns the transport time.
    pub fn new_instance(&self) -> Result<Duration, PerfError> {
        let mut inst = self.inst();
        let fc = FcloopLldd::on_pool(Arc::clone(&self.fabric), &self.pool, Mode::Inline);
        let port_id = inst.port_id + 1;
        let new = register(&self.transport, fc, port_id, self.dev_loss_tmo)?;
        // The old instance goes here; the transport no longer references it.
        *inst = new;
        Ok(self.transport.clock().now())
    }

    /// The link-bounce drill, second half: the remote port comes back.
    pub fn reregister_rport(&self) -> Result<Duration, PerfError> {
        let mut inst = self.inst();
        let rport = inst
            .fc
            .add_remote_port(
                &*self.transport,
                inst.lport,
                TARGET_ADDR.wwnn,
                TARGET_ADDR.wwpn,
                self.dev_loss_tmo,
            )
            .map_err(|e| drill("link-bounce", e))?;
        inst.rport = rport;
        Ok(self.transport.clock().now())
    }
}

fn drill(kind: &'static str, e: impl std::fmt::Display) -> PerfError {
    PerfError::Drill {
        kind,
        reason: e.to_string(),
    }
}

fn register(
    t: &Arc<Transport<Fc>>,
    fc: Arc<Fc>,
    port_id: u32,
    dev_loss_tmo: Option<Duration>,
) -> Result<Instance, PerfError> {
    let lport = fc
        .add_local_port(&**t, HOST_ADDR.wwnn, HOST_ADDR.wwpn, port_id)
        .map_err(|e| PerfError::Emu(e.to_string()))?;
    let rport = fc
        .add_remote_port(
            &**t,
            lport,
            TARGET_ADDR.wwnn,
            TARGET_ADDR.wwpn,
            dev_loss_tmo,
        )
        .map_err(|e| PerfError::Emu(e.to_string()))?;
    Ok(Instance {
        fc,
        lport,
        rport,
        port_id,
    })
}

/// Connect options for subsystem `nqn` on the emulated target.
pub fn connect_options(nqn: &str, nr_io_queues: u16, queue_size: u16) -> ConnectOptions {
    let mut o = ConnectOptions::new(TARGET_ADDR, HOST_ADDR, nqn);
    o.nr_io_queues = nr_io_queues;
    o.queue_size = queue_size;
    o
}

impl Backend for World {
    type L = Fc;

    fn transport(&self) -> &Arc<Transport<Fc>> {
        &self.transport
    }

    fn ioengine(&self) -> &'static str {
        "ufc-fcloop"
    }

    fn host_addr(&self) -> FcAddr {
        HOST_ADDR
    }

    fn reachable(&self) -> Vec<Reachable> {
        self.subsystems()
            .into_iter()
            .map(|subnqn| Reachable {
                traddr: TARGET_ADDR,
                subnqn,
            })
            .collect()
    }

    fn pool(&self) -> &Arc<DmaPool> {
        &self.pool
    }

    fn poll(&mut self) -> Result<usize, PerfError> {
        Ok(self.transport.poll())
    }

    fn supports(&self, kind: DrillKind) -> Result<(), String> {
        match kind {
            DrillKind::Restart | DrillKind::LinkBounce => Ok(()),
            DrillKind::FwError => Err("not available on fcloop: firmware errors are a drill of the SLI-4 HBA model; use --device emu, or --restart-every / --link-bounce-every".into()),
        }
    }

    fn drill_begin(&mut self, kind: DrillKind) -> Result<Begun, PerfError> {
        let start = match kind {
            DrillKind::Restart => self.unregister_all()?,
            DrillKind::LinkBounce => self.unregister_rport()?,
            DrillKind::FwError => {
                return Err(drill("fw-error", "fcloop has no firmware"));
            }
        };
        Ok(Begun {
            start,
            rport_delete: None,
            back_at: None,
        })
    }

    fn drill_gone(&mut self, kind: DrillKind, start: Duration) -> Gone {
        let at = self.rport_deleted_at(start);
        Gone {
            rport_deleted_at: at,
            done: at.is_some() && (kind == DrillKind::LinkBounce || self.lport_deleted(start)),
        }
    }

    fn drill_back(&mut self, kind: DrillKind) -> Result<Duration, PerfError> {
        match kind {
            DrillKind::Restart | DrillKind::FwError => self.new_instance(),
            DrillKind::LinkBounce => self.reregister_rport(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_subsystem_uses_the_file_several_get_one_each() {
        let p = Path::new("/tmp/ns");
        assert_eq!(namespace_file(p, 0, 1), PathBuf::from("/tmp/ns"));
        assert_eq!(namespace_file(p, 0, 2), PathBuf::from("/tmp/ns.0"));
        assert_eq!(namespace_file(p, 1, 2), PathBuf::from("/tmp/ns.1"));
    }
}
