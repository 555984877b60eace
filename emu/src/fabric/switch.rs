//! The switch: one F_Port per configured N_Port, frame routing by D_ID, the
//! receive queues of host ports, and the shared state of the fabric services.
//!
//! One mutex guards all of it. Frames are management traffic (logins, name
//! server, LSs); FCP I/O does not cross it — the SLI-4 model takes the target from
//! [`Fabric::target_for`] once and drives exchanges on it directly.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ufc_hba::fc::frame::Frame;
use ufc_transport::wwn::{FcAddr, Wwn};

use crate::clock::Clock;
use crate::fabric::config::FabricConfig;
use crate::fabric::event::PortEvent;
use crate::fabric::host_port::HostPort;
use crate::fabric::name_server::NameServer;
use crate::fabric::pcap::PcapWriter;
use crate::fabric::stats::FabricStats;
use crate::fabric::target_node::TargetNode;
use crate::fabric::{services, FabricError, FABRIC_CTRL_DID, FABRIC_DID, NAME_SERVER_DID};
use crate::target::TargetPort;

/// The host side of an F_Port.
#[derive(Debug, Default)]
pub(crate) struct HostSide {
    /// A [`HostPort`] holds this F_Port.
    pub(crate) attached: bool,
    /// Light on the wire: attached and no link-down fault.
    pub(crate) link_up: bool,
    /// Link-down fault in force (survives detach/attach).
    pub(crate) forced_down: bool,
    /// Events with the fabric-clock time they become visible.
    pub(crate) rx: VecDeque<(Duration, PortEvent)>,
}

/// What is attached to an F_Port.
#[derive(Debug)]
pub(crate) enum Attached {
    Host(HostSide),
    Target(Box<TargetNode>),
}

/// One F_Port.
#[derive(Debug)]
pub(crate) struct FPort {
    /// Names of the attached N_Port.
    pub(crate) addr: FcAddr,
    /// The N_Port ID this F_Port hands out.
    pub(crate) id: u32,
    /// True while the N_Port is logged in to the fabric (FLOGI done, or target up).
    pub(crate) logged_in: bool,
    pub(crate) attached: Attached,
}

/// A frame-loss rule: true drops the frame.
pub(crate) type DropRule = Box<dyn FnMut(FrameDirection, &Frame) -> bool + Send>;

/// Which way a frame is crossing the fabric, as a drop rule sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameDirection {
    /// Sent by a host port into the fabric.
    FromHost,
    /// About to be queued for a host port (replies, RSCN, target requests).
    ToHost,
}

/// Everything behind the fabric's lock.
pub(crate) struct SwitchState {
    /// F_Ports by index. Only ever appended to, so an index handed out (to a
    /// [`HostPort`], or found by a lookup) stays valid for the fabric's life.
    pub(crate) ports: Vec<FPort>,
    pub(crate) ns: NameServer,
    /// N_Port IDs logged in with the name server (PLOGI to 0xFFFFFC).
    pub(crate) ns_logins: BTreeSet<u32>,
    /// SCR registrations: N_Port ID → registration function.
    pub(crate) scr: BTreeMap<u32, u8>,
    next_xid: u16,
    pub(crate) drop_next: u32,
    pub(crate) drop_rule: Option<DropRule>,
    pub(crate) stats: FabricStats,
    pub(crate) frame_delay: Duration,
    pcap: Option<PcapWriter<Box<dyn Write + Send>>>,
    pcap_error: Option<std::io::Error>,
}

impl std::fmt::Debug for SwitchState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwitchState")
            .field("ports", &self.ports.len())
            .field("stats", &self.stats)
            .field("pcap", &self.pcap.is_some())
            .field("drop_rule", &self.drop_rule.is_some())
            .finish_non_exhaustive()
    }
}

impl SwitchState {
    /// A fresh exchange id for a fabric- or target-originated exchange or a
    /// responder's RX_ID (never 0xFFFF, the "unassigned" value).
    pub(crate) fn alloc_xid(&mut self) -> u16 {
        self.next_xid = self.next_xid.wrapping_add(1);
        if self.next_xid == 0xffff {
            self.next_xid = 1;
        }
        self.next_xid
    }

    /// Writes `frame` to the capture, if one is open. A write error closes the
    /// capture and is reported by [`Fabric::stop_capture`].
    pub(crate) fn capture(&mut self, now: Duration, frame: &Frame) {
        if let Some(w) = self.pcap.as_mut() {
            if let Err(e) = w.write_frame(now, &frame.to_bytes()) {
                self.pcap = None;
                self.pcap_error = Some(e);
            }
        }
    }

    /// Index of the logged-in port at `id`.
    pub(crate) fn port_at(&self, id: u32) -> Option<usize> {
        self.ports.iter().position(|p| p.logged_in && p.id == id)
    }

    /// Queues `frame` for the host port at its D_ID (captured now, visible after
    /// the configured frame delay); counted as dropped when nobody is there.
    pub(crate) fn deliver(&mut self, now: Duration, frame: Frame) {
        match self.port_at(frame.header.d_id()) {
            Some(i) => self.deliver_to_port(now, i, frame),
            None => self.stats.dropped_bad_d_id += 1,
        }
    }

    /// Queues `frame` for host F_Port `i` whatever its D_ID (the answer to a
    /// FLOGI goes out before, or without, an address).
    pub(crate) fn deliver_to_port(&mut self, now: Duration, i: usize, frame: Frame) {
        if self
            .drop_rule
            .as_mut()
            .is_some_and(|r| r(FrameDirection::ToHost, &frame))
        {
            self.stats.dropped_fault += 1;
            return;
        }
        let delay = self.frame_delay;
        match self.host_mut(i) {
            Some(h) if h.link_up => {
                h.rx.push_back((now + delay, PortEvent::Frame(frame.clone())));
                self.stats.frames_to_hosts += 1;
                self.capture(now, &frame);
            }
            _ => self.stats.dropped_bad_d_id += 1,
        }
    }

    pub(crate) fn host_mut(&mut self, i: usize) -> Option<&mut HostSide> {
        match &mut self.ports.get_mut(i)?.attached {
            Attached::Host(h) => Some(h),
            Attached::Target(_) => None,
        }
    }

    pub(crate) fn target_mut(&mut self, i: usize) -> Option<&mut TargetNode> {
        match &mut self.ports.get_mut(i)?.attached {
            Attached::Target(t) => Some(t),
            Attached::Host(_) => None,
        }
    }

    /// Everything the fabric knew of the N_Port on F_Port `i` goes: fabric and
    /// name-server login, SCR, its logins with targets (their associations end).
    /// Other registered ports get an RSCN.
    pub(crate) fn implicit_logout(&mut self, now: Duration, i: usize) {
        if !self.ports[i].logged_in {
            return;
        }
        let id = self.ports[i].id;
        self.ports[i].logged_in = false;
        self.ns.logout(id);
        self.ns_logins.remove(&id);
        self.scr.remove(&id);
        for p in &mut self.ports {
            if let Attached::Target(t) = &mut p.attached {
                t.host_gone(id);
            }
        }
        services::send_rscn(self, now, id);
    }
}

/// The fabric.
#[derive(Debug)]
pub struct Fabric {
    config: FabricConfig,
    clock: Clock,
    state: Mutex<SwitchState>,
}

impl Fabric {
    /// Builds the switch, its target ports (subsystems, namespaces; file
    /// namespaces are created) and brings the target ports online: they are
    /// logged in to the fabric and registered with the name server with their
    /// configured FC-4 types. Host ports come up when attached.
    pub fn new(config: FabricConfig, clock: Clock) -> Result<Arc<Self>, FabricError> {
        config.validate()?;
        let mut ports = Vec::with_capacity(config.host_ports.len() + config.target_ports.len());
        for (i, h) in config.host_ports.iter().enumerate() {
            ports.push(FPort {
                addr: h.addr,
                id: config.default_port_id(i),
                logged_in: false,
                attached: Attached::Host(HostSide::default()),
            });
        }
        let taken: Vec<u32> = config
            .target_ports
            .iter()
            .filter_map(|t| t.port_id)
            .collect();
        for (j, t) in config.target_ports.iter().enumerate() {
            let key = format!("target_port[{j}]");
            let index = config.host_ports.len() + j;
            let id = match t.port_id {
                Some(id) => id,
                None => config.default_port_id(index),
            };
            if ports.iter().any(|p| p.id == id) || (t.port_id.is_none() && taken.contains(&id)) {
                return Err(crate::fabric::ConfigError::Value {
                    key: format!("{key}.port_id"),
                    reason: format!(
                        "N_Port ID {id:#08x} collides with another port's; pick a free one"
                    ),
                }
                .into());
            }
            let subsystems = t.build_subsystems(&key)?;
            let port = TargetPort::new(t.addr, id, subsystems, clock.clone());
            ports.push(FPort {
                addr: t.addr,
                id,
                logged_in: false,
                attached: Attached::Target(Box::new(TargetNode::new(port, t))),
            });
        }
        let fabric = Arc::new(Fabric {
            state: Mutex::new(SwitchState {
                ports,
                ns: NameServer::default(),
                ns_logins: BTreeSet::new(),
                scr: BTreeMap::new(),
                next_xid: 0,
                drop_next: 0,
                drop_rule: None,
                stats: FabricStats::default(),
                frame_delay: config.frame_delay,
                pcap: None,
                pcap_error: None,
            }),
            config,
            clock,
        });
        {
            let now = fabric.clock.now();
            let mut st = fabric.state();
            for i in 0..st.ports.len() {
                if matches!(st.ports[i].attached, Attached::Target(_)) {
                    services::target_online(&mut st, now, i);
                }
            }
        }
        Ok(fabric)
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, SwitchState> {
        // Every update under the lock is completed by the call that makes it; a
        // panicked holder leaves consistent state.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configuration the fabric was built from.
    pub fn config(&self) -> &FabricConfig {
        &self.config
    }

    /// The fabric clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Counters.
    pub fn stats(&self) -> FabricStats {
        self.state().stats
    }

    /// Adds a host F_Port for `addr` (beyond those configured), e.g. for a
    /// device model whose names come from its own configuration. Its N_Port ID is
    /// the next free one from `domain.01.00 + index`.
    pub fn add_host_port(&self, addr: FcAddr) -> Result<(), FabricError> {
        let mut st = self.state();
        if st.ports.iter().any(|p| p.addr.wwpn == addr.wwpn) {
            return Err(FabricError::Duplicate(addr.wwpn));
        }
        let mut index = st.ports.len();
        let id = loop {
            let id = self.config.default_port_id(index);
            if id >= 0x00ff_fff0 {
                return Err(FabricError::Full);
            }
            if !st.ports.iter().any(|p| p.id == id) {
                break id;
            }
            index += 1;
        };
        st.ports.push(FPort {
            addr,
            id,
            logged_in: false,
            attached: Attached::Host(HostSide::default()),
        });
        Ok(())
    }

    /// Attaches an N_Port to the host F_Port configured with `wwpn`: the link
    /// comes up (a [`PortEvent::LinkUp`] is queued) unless a link-down fault is in
    /// force. Dropping the returned handle detaches it.
    pub fn attach(self: &Arc<Self>, wwpn: Wwn) -> Result<HostPort, FabricError> {
        let mut st = self.state();
        let i = self
            .host_index(&st, wwpn)
            .ok_or(FabricError::NoSuchPort { kind: "host", wwpn })?;
        let addr = st.ports[i].addr;
        let speed = self.config.link_speed_gbps;
        let now = self.clock.now();
        let Some(h) = st.host_mut(i) else {
            return Err(FabricError::NoSuchPort { kind: "host", wwpn });
        };
        if h.attached {
            return Err(FabricError::AlreadyAttached(wwpn));
        }
        h.attached = true;
        h.rx.clear();
        if !h.forced_down {
            h.link_up = true;
            h.rx.push_back((now, PortEvent::LinkUp { speed_gbps: speed }));
        }
        drop(st);
        Ok(HostPort::new(Arc::clone(self), i, addr))
    }

    pub(crate) fn host_index(&self, st: &SwitchState, wwpn: Wwn) -> Option<usize> {
        st.ports
            .iter()
            .position(|p| p.addr.wwpn == wwpn && matches!(p.attached, Attached::Host(_)))
    }

    pub(crate) fn target_index(&self, st: &SwitchState, wwpn: Wwn) -> Option<usize> {
        st.ports
            .iter()
            .position(|p| p.addr.wwpn == wwpn && matches!(p.attached, Attached::Target(_)))
    }

    pub(crate) fn detach(&self, i: usize) {
        let now = self.clock.now();
        let mut st = self.state();
        st.implicit_logout(now, i);
        if let Some(h) = st.host_mut(i) {
            h.attached = false;
            h.link_up = false;
            h.rx.clear();
        }
    }

    pub(crate) fn host_n_port_id(&self, i: usize) -> Option<u32> {
        let st = self.state();
        let p = st.ports.get(i)?;
        p.logged_in.then_some(p.id)
    }

    /// The target port logged in to the fabric at `n_port_id`: the exchange-level
    /// entry for FCP I/O ([`TargetPort::handle_fcp`]). None when no target is
    /// there or it has left the fabric.
    pub fn target_for(&self, n_port_id: u32) -> Option<Arc<TargetPort>> {
        let mut st = self.state();
        let i = st.port_at(n_port_id)?;
        st.target_mut(i).map(|t| Arc::clone(t.port()))
    }

    /// The target port configured with `wwpn`, on the fabric or not.
    pub fn target_port(&self, wwpn: Wwn) -> Option<Arc<TargetPort>> {
        let mut st = self.state();
        let i = self.target_index(&st, wwpn)?;
        st.target_mut(i).map(|t| Arc::clone(t.port()))
    }

    /// True when the host at `host_id` has an NVMe PRLI in force with the target at
    /// `target_id` — the check the SLI-4 model makes before sending FCP to it.
    pub fn nvme_logged_in(&self, host_id: u32, target_id: u32) -> bool {
        let mut st = self.state();
        let Some(i) = st.port_at(target_id) else {
            return false;
        };
        st.target_mut(i).is_some_and(|t| t.prli_done(host_id))
    }

    /// Starts capturing every frame crossing the fabric to `out` (pcap, link type
    /// FC-2, timestamps from the fabric clock); replaces an earlier capture.
    pub fn capture_to(&self, out: Box<dyn Write + Send>) -> Result<(), FabricError> {
        let w = PcapWriter::new(out, 0)?;
        let mut st = self.state();
        st.pcap = Some(w);
        st.pcap_error = None;
        Ok(())
    }

    /// Starts capturing to a new file at `path`.
    pub fn capture_to_file(&self, path: impl AsRef<std::path::Path>) -> Result<(), FabricError> {
        let f = std::fs::File::create(path)?;
        self.capture_to(Box::new(std::io::BufWriter::new(f)))
    }

    /// Ends the capture, flushing it; returns how many frames it holds, or the
    /// write error that ended it early.
    pub fn stop_capture(&self) -> Result<u64, FabricError> {
        let mut st = self.state();
        if let Some(e) = st.pcap_error.take() {
            st.pcap = None;
            return Err(e.into());
        }
        match st.pcap.take() {
            Some(mut w) => {
                w.flush()?;
                Ok(w.frames())
            }
            None => Ok(0),
        }
    }

    /// Handles one frame from host F_Port `i`.
    pub(crate) fn send_from_host(&self, i: usize, frame: Frame) -> Result<(), FabricError> {
        let now = self.clock.now();
        let mut guard = self.state();
        let st = &mut *guard;
        let addr = st.ports[i].addr;
        let Some(h) = st.host_mut(i) else {
            return Err(FabricError::NoSuchPort {
                kind: "host",
                wwpn: addr.wwpn,
            });
        };
        if !h.link_up {
            st.stats.dropped_link_down += 1;
            return Err(FabricError::LinkDown(addr.wwpn));
        }
        st.stats.frames_from_hosts += 1;
        st.capture(now, &frame);
        if st.drop_next > 0 {
            st.drop_next -= 1;
            st.stats.dropped_fault += 1;
            return Ok(());
        }
        if st
            .drop_rule
            .as_mut()
            .is_some_and(|r| r(FrameDirection::FromHost, &frame))
        {
            st.stats.dropped_fault += 1;
            return Ok(());
        }
        let d_id = frame.header.d_id();
        if d_id == FABRIC_DID {
            services::login_server(st, &self.config, now, i, frame);
            return Ok(());
        }
        // Past FLOGI every frame must carry the N_Port ID the fabric assigned.
        if !st.ports[i].logged_in || frame.header.s_id() != st.ports[i].id {
            st.stats.dropped_bad_s_id += 1;
            return Ok(());
        }
        match d_id {
            NAME_SERVER_DID => services::directory(st, &self.config, now, i, frame),
            FABRIC_CTRL_DID => services::fabric_controller(st, now, i, frame),
            _ => match st.port_at(d_id) {
                Some(j) if matches!(st.ports[j].attached, Attached::Target(_)) => {
                    crate::fabric::target_node::receive(st, now, j, frame);
                }
                Some(_) => st.deliver(now, frame),
                None => st.stats.dropped_bad_d_id += 1,
            },
        }
        Ok(())
    }

    /// The next event for host F_Port `i` whose time has come.
    pub(crate) fn next_event(&self, i: usize) -> Option<PortEvent> {
        let now = self.clock.now();
        let mut st = self.state();
        let h = st.host_mut(i)?;
        if h.rx.front().is_some_and(|(at, _)| *at <= now) {
            h.rx.pop_front().map(|(_, ev)| ev)
        } else {
            None
        }
    }

    /// Runs the fabric's timers: target keep-alive, and turns LSs the targets
    /// want to send (Disconnect Association) into frames for the hosts. Host
    /// ports call it from [`HostPort::poll`].
    pub fn poll(&self) {
        let now = self.clock.now();
        let mut guard = self.state();
        let st = &mut *guard;
        let mut out = Vec::new();
        for p in st.ports.iter_mut().filter(|p| p.logged_in) {
            let id = p.id;
            if let Attached::Target(t) = &mut p.attached {
                t.collect_outgoing(id, &mut out);
            }
        }
        for f in out {
            st.deliver(now, f);
        }
    }
}
