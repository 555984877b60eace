//! An FC target port (WWNN/WWPN, N_Port id) exposing subsystems: the entry point of
//! the target model. Transport independent: LSs come in as byte payloads with
//! the sending host's address, CMD IUs through the connection they name.
//!
//! Association ids follow the Linux target's shape: 48 pseudo-random bits in the
//! upper six bytes, low 16 bits zero; a connection id is the association id ORed
//! with its qid, so the admin connection id equals the association id (§4.9).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::clock::Clock;
use ufc_transport::lldd::{Sge, CMD_IU_LEN};
use ufc_transport::wire::ls::RjtReason;
use ufc_transport::wire::ls_host::encode_disconnect_assoc;
use ufc_transport::wwn::FcAddr;

use crate::host_memory::HostMemory;
use crate::target::assoc::{AssocParams, Association};
use crate::target::connection::Connection;
use crate::target::fcp::{cmd_iu_connection_id, FcpOutcome};
use crate::target::ls;
use crate::target::subsystem::Subsystem;

/// Associations one port accepts at a time.
pub const MAX_ASSOCIATIONS: usize = 256;
/// Highest I/O qid an association may create (Linux nvmet: 128 queues).
pub const MAX_IO_QID: u16 = 128;

/// An LS the target sends to a host (Disconnect Association).
#[derive(Clone, Debug, PartialEq, Eq)]
struct OutgoingLs {
    host: FcAddr,
    xchg: u64,
    payload: Vec<u8>,
}

#[derive(Debug)]
struct PortState {
    assocs: HashMap<u64, Arc<Association>>,
    conns: HashMap<u64, Arc<Connection>>,
    outbox: VecDeque<OutgoingLs>,
    next_xchg: u64,
    ls_responses: Vec<(u64, Vec<u8>)>,
    rng: u64,
}

/// One target port.
#[derive(Debug)]
pub struct TargetPort {
    addr: FcAddr,
    port_id: u32,
    subsystems: Vec<Arc<Subsystem>>,
    clock: Clock,
    state: Mutex<PortState>,
}

impl TargetPort {
    /// A port at `addr`/`port_id` exposing `subsystems`; keep-alive timers read `clock`.
    pub fn new(
        addr: FcAddr,
        port_id: u32,
        subsystems: Vec<Arc<Subsystem>>,
        clock: Clock,
    ) -> Arc<Self> {
        Arc::new(TargetPort {
            addr,
            port_id,
            subsystems,
            clock,
            state: Mutex::new(PortState {
                assocs: HashMap::new(),
                conns: HashMap::new(),
                outbox: VecDeque::new(),
                next_xchg: 0,
                ls_responses: Vec::new(),
                // Any non-zero seed; the WWPN makes ids differ between ports.
                rng: addr.wwpn.0 ^ 0x9e37_79b9_7f4a_7c15,
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, PortState> {
        // Maps and queues are updated by single calls; a panicked holder leaves them usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// WWNN/WWPN.
    pub fn addr(&self) -> FcAddr {
        self.addr
    }

    /// N_Port id.
    pub fn port_id(&self) -> u32 {
        self.port_id
    }

    /// The subsystems exposed.
    pub fn subsystems(&self) -> &[Arc<Subsystem>] {
        &self.subsystems
    }

    /// Answers an LS request from the host port `host` (ACC or LS_RJT payload).
    pub fn handle_ls(&self, host: FcAddr, request: &[u8]) -> Vec<u8> {
        ls::handle(self, host, request)
    }

    /// The connection with this id, if live.
    pub fn connection(&self, connection_id: u64) -> Option<Arc<Connection>> {
        self.state().conns.get(&connection_id).cloned()
    }

    /// Executes a CMD IU (convenience for callers without a cached connection).
    pub fn handle_fcp<M: HostMemory>(
        &self,
        xchg: u64,
        cmd_iu: &[u8; CMD_IU_LEN],
        sgl: &[Sge],
        mem: &M,
    ) -> FcpOutcome {
        match self.connection(cmd_iu_connection_id(cmd_iu)) {
            Some(c) => c.handle_fcp(xchg, cmd_iu, sgl, mem),
            None => FcpOutcome::Abort,
        }
    }

    /// Live associations.
    pub fn associations(&self) -> Vec<Arc<Association>> {
        let mut v: Vec<_> = self.state().assocs.values().cloned().collect();
        v.sort_by_key(|a| a.id());
        v
    }

    /// The association with this id.
    pub fn association(&self, id: u64) -> Option<Arc<Association>> {
        self.state().assocs.get(&id).cloned()
    }

    pub(crate) fn create_association(
        &self,
        params: AssocParams,
        sqsize: u16,
        ersp_ratio: u16,
    ) -> Option<(u64, u64)> {
        let mut st = self.state();
        if st.assocs.len() >= MAX_ASSOCIATIONS {
            return None;
        }
        let id = loop {
            // xorshift64: cheap, deterministic per port, and good enough to make ids
            // of successive associations look unrelated.
            st.rng ^= st.rng << 13;
            st.rng ^= st.rng >> 7;
            st.rng ^= st.rng << 17;
            let id = st.rng & !0xffff;
            if id != 0 && !st.assocs.contains_key(&id) {
                break id;
            }
        };
        let assoc = Association::new(id, params, self.subsystems.clone(), self.clock.clone());
        let admin = Connection::new(id, 0, sqsize, ersp_ratio, Arc::downgrade(&assoc));
        assoc.state().conns.push(Some(Arc::clone(&admin)));
        st.conns.insert(id, admin);
        st.assocs.insert(id, assoc);
        Some((id, id))
    }

    pub(crate) fn create_connection(
        &self,
        assoc_id: u64,
        qid: u16,
        sqsize: u16,
        ersp_ratio: u16,
    ) -> Result<u64, RjtReason> {
        let mut st = self.state();
        let assoc = st
            .assocs
            .get(&assoc_id)
            .cloned()
            .ok_or(RjtReason::INV_ASSOC)?;
        if qid == 0 || qid > MAX_IO_QID {
            return Err(RjtReason::LOGIC);
        }
        let conn_id = assoc_id | u64::from(qid);
        let conn = {
            let mut a = assoc.state();
            if a.terminated {
                return Err(RjtReason::INV_ASSOC);
            }
            let idx = usize::from(qid);
            if a.conns.len() <= idx {
                a.conns.resize(idx + 1, None);
            }
            if a.conns[idx].is_some() {
                return Err(RjtReason::LOGIC);
            }
            let conn = Connection::new(conn_id, qid, sqsize, ersp_ratio, Arc::downgrade(&assoc));
            a.conns[idx] = Some(Arc::clone(&conn));
            conn
        };
        st.conns.insert(conn_id, conn);
        Ok(conn_id)
    }

    fn remove_association(st: &mut PortState, id: u64) -> Option<Arc<Association>> {
        let assoc = st.assocs.remove(&id)?;
        for c in assoc.terminate() {
            st.conns.remove(&c.id());
        }
        Some(assoc)
    }

    /// Disconnect Association received from the host.
    pub(crate) fn disconnect_from_host(&self, assoc_id: u64) -> bool {
        Self::remove_association(&mut self.state(), assoc_id).is_some()
    }

    /// Target-initiated teardown: the association ends here and a Disconnect
    /// Association LS is queued for its host (collected by the LLDD model with
    /// [`TargetPort::take_outgoing_ls`]). False for an unknown id.
    pub fn disconnect_association(&self, assoc_id: u64) -> bool {
        let mut st = self.state();
        let Some(assoc) = Self::remove_association(&mut st, assoc_id) else {
            return false;
        };
        st.next_xchg += 1;
        let xchg = st.next_xchg;
        st.outbox.push_back(OutgoingLs {
            host: assoc.params().host,
            xchg,
            payload: encode_disconnect_assoc(assoc_id),
        });
        true
    }

    /// Target-initiated teardown of every association; returns how many.
    pub fn disconnect_all(&self) -> usize {
        let ids: Vec<u64> = self.state().assocs.keys().copied().collect();
        ids.into_iter()
            .filter(|&id| self.disconnect_association(id))
            .count()
    }

    /// Runs timers: a controller whose keep-alive deadline passed becomes fatal
    /// and its association is disconnected by the target. Returns how many.
    pub fn poll(&self) -> usize {
        let expired: Vec<u64> = self
            .associations()
            .into_iter()
            .filter(|a| a.controller().is_some_and(|c| c.check_keep_alive()))
            .map(|a| a.id())
            .collect();
        expired
            .into_iter()
            .filter(|&id| self.disconnect_association(id))
            .count()
    }

    /// The next LS this port sends to `host`: (exchange, payload).
    pub fn take_outgoing_ls(&self, host: FcAddr) -> Option<(u64, Vec<u8>)> {
        let mut st = self.state();
        let i = st.outbox.iter().position(|o| o.host == host)?;
        st.outbox.remove(i).map(|o| (o.xchg, o.payload))
    }

    /// The host's response to an LS this port sent.
    pub fn handle_ls_rsp(&self, xchg: u64, response: &[u8]) {
        self.state().ls_responses.push((xchg, response.to_vec()));
    }

    /// Responses received to the LSs this port sent, in arrival order.
    pub fn ls_responses(&self) -> Vec<(u64, Vec<u8>)> {
        self.state().ls_responses.clone()
    }

    /// Completes an outstanding Async Event Request on every controller of
    /// `subnqn` with `dw0` (type 2:0, info 15:8, log page 23:16), or queues the
    /// event until the host posts one.
    pub fn raise_async_event(&self, subnqn: &str, dw0: u32) {
        for a in self.associations() {
            let Some(ctrl) = a.controller() else { continue };
            if ctrl.subsystem().nqn() != subnqn {
                continue;
            }
            ctrl.state().pending_events.push_back(dw0);
            if let Some(admin) = a.connection(0) {
                admin.deliver_events(&ctrl);
            }
        }
    }
}
