//! Target discovery (sli4.md §6.1 steps 14-18): GID_FT(0x28), then for each
//! new port PLOGI, REG_RPI and NVMe PRLI, and registration with the
//! transport with the roles of the PRLI accept. Vanished ports and link loss
//! unregister; shutdown logs out.

use std::collections::BTreeSet;

use ufc_transport::lldd::{LlddRport, PortInfo, PortRoles};
use ufc_transport::wwn::Wwn;

use super::els::{rjt_text, ElsDest, ElsReply};
use super::error::HbaError;
use super::fabric::FC4_NVME;
use super::{Hba, RemotePort};
use crate::fc::ct::CtResponse;
use crate::fc::els::els_cmd;
use crate::fc::header::well_known;
use crate::fc::login::{LoginPayload, ServiceParams};
use crate::fc::logo::Logo;
use crate::fc::nameserver::{gid_ft, max_residual_words, GidList};
use crate::fc::prli::{nvme_sp, response_code, NvmePrli};
use crate::sli4::cmds::rpi::{RegRpi, UnregRpi};
use crate::sli4::cmds::vfi::{index_type, UnregVfi};
use crate::sli4::wqe::{els_id, Context};

fn not_running(name: &str) -> HbaError {
    HbaError::NotRunning {
        device: name.to_owned(),
        state: "without a port",
    }
}

impl Hba {
    /// Asks the name server for the NVMe ports and brings the node table in
    /// line: new ports are logged in, vanished ones unregistered. A refused
    /// target is logged and skipped; link or port failures end the pass.
    pub(crate) fn discover(&mut self) -> Result<(), HbaError> {
        let Some(fabric) = self.fabric else {
            return Ok(());
        };
        let name = self.name.clone();
        let port = self.port.as_mut().ok_or_else(|| not_running(&name))?;
        let req = gid_ft(FC4_NVME, max_residual_words(super::xri::RSP_LEN));
        let rsp = port.ct_request(fabric.ns_rpi, well_known::NAME_SERVER, &req, "GID_FT")?;
        let ids: BTreeSet<u32> = match CtResponse::parse(&rsp) {
            Ok((_, CtResponse::Accept(p))) => match GidList::parse(p) {
                Ok(l) => {
                    if !l.is_complete() {
                        log::warn!("{name}: GID_FT list cut at {} entries", l.len());
                    }
                    l.ids().collect()
                }
                Err(e) => {
                    return Err(HbaError::BadResponse {
                        device: name,
                        what: format!("GID_FT accept: {e}"),
                    })
                }
            },
            // The name server rejects GID_FT when no port has the type.
            Ok((_, CtResponse::Reject { .. })) => BTreeSet::new(),
            Err(e) => {
                return Err(HbaError::BadResponse {
                    device: name,
                    what: format!("GID_FT: {e}"),
                })
            }
        };
        let gone: Vec<u32> = self
            .nodes
            .keys()
            .filter(|id| !ids.contains(id))
            .copied()
            .collect();
        for id in gone {
            log::info!("{name}: N_Port {id:#08x} left the fabric");
            self.drop_node(id, false)?;
        }
        let mut transient = false;
        for id in ids {
            if id == fabric.n_port_id
                || well_known::is_well_known(id)
                || self.nodes.contains_key(&id)
            {
                continue;
            }
            match self.login_target(id) {
                Ok(()) => self.stats.target_logins += 1,
                Err(
                    e @ (HbaError::LoginRejected { .. }
                    | HbaError::ExchangeFailed { .. }
                    | HbaError::ExchangeTimeout { .. }
                    | HbaError::BadResponse { .. }
                    | HbaError::Mailbox { .. }),
                ) => {
                    // A lost or failed exchange is tried again on a later
                    // pass; a reject waits for the next RSCN.
                    transient |= matches!(
                        e,
                        HbaError::ExchangeFailed { .. } | HbaError::ExchangeTimeout { .. }
                    );
                    self.stats.target_login_failures += 1;
                    self.note(&e);
                }
                Err(e) => return Err(e),
            }
        }
        if transient {
            self.rescan_at = Some(self.cfg.clock.now().saturating_add(self.cfg.login_retry));
        }
        Ok(())
    }

    /// PLOGI, REG_RPI, PRLI to `id`; registers the remote port when the PRLI
    /// accept names a target or discovery function.
    pub(crate) fn login_target(&mut self, id: u32) -> Result<(), HbaError> {
        let name = self.name.clone();
        let fabric = self.fabric.ok_or_else(|| not_running(&name))?;
        let sp = self.our_sparams().ok_or_else(|| not_running(&name))?;
        let port = self.port.as_mut().ok_or_else(|| not_running(&name))?;
        let vpi = port.res.vpi;
        let rpi = port.res.alloc_rpi().ok_or(HbaError::Exhausted {
            device: name.clone(),
            what: "RPIs",
        })?;
        let dest = ElsDest {
            d_id: id,
            context: Context::vpi(vpi),
            temp_rpi: rpi,
            s_id: Some(fabric.n_port_id),
            els_id: els_id::PLOGI,
        };
        let plogi = LoginPayload::new(els_cmd::PLOGI, sp);
        let reply = port.els_request(dest, plogi.as_bytes(), "PLOGI");
        let acc = match reply {
            Ok(ElsReply::Acc { payload, .. }) => payload,
            Ok(ElsReply::Rjt {
                reason,
                explanation,
            }) => {
                port.res.free_rpi(rpi);
                return Err(HbaError::LoginRejected {
                    device: name,
                    request: "PLOGI",
                    d_id: id,
                    how: rjt_text(reason, explanation),
                    hint: "check zoning and the target's host access list",
                });
            }
            Err(e) => {
                port.res.free_rpi(rpi);
                return Err(e);
            }
        };
        let acc = match LoginPayload::parse(&acc) {
            Ok(a) => a,
            Err(e) => {
                port.res.free_rpi(rpi);
                return Err(HbaError::BadResponse {
                    device: name,
                    what: format!("PLOGI ACC from {id:#08x}: {e}"),
                });
            }
        };
        self.complete_login(id, rpi, &acc.sp)
    }

    /// After a PLOGI in either direction: REG_RPI with the remote parameters,
    /// NVMe PRLI, registration.
    pub(crate) fn complete_login(
        &mut self,
        id: u32,
        rpi: u16,
        remote: &ServiceParams,
    ) -> Result<(), HbaError> {
        let name = self.name.clone();
        let port = self.port.as_mut().ok_or_else(|| not_running(&name))?;
        let vpi = port.res.vpi;
        let addr = port.scratch_with(remote.as_bytes())?;
        if let Err(e) = port.mbox(&RegRpi::login(rpi, id, vpi, addr).to_mqe()) {
            port.res.free_rpi(rpi);
            return Err(e);
        }
        let dest = ElsDest {
            d_id: id,
            context: Context::rpi(rpi),
            temp_rpi: rpi,
            s_id: None,
            els_id: els_id::OTHER,
        };
        let prli = NvmePrli::request(nvme_sp::INITIATOR | nvme_sp::CONFIRMED_COMPLETION);
        let roles = match port.els_request(dest, prli.as_bytes(), "PRLI") {
            Ok(ElsReply::Acc { payload, .. }) => match NvmePrli::parse(&payload) {
                Ok(p)
                    if p.page.fc_type == FC4_NVME
                        && p.page.response_code() == response_code::EXECUTED =>
                {
                    let mut roles = PortRoles::default();
                    if p.page.is_target() {
                        roles = roles.union(PortRoles::TARGET);
                    }
                    if p.page.is_discovery() {
                        roles = roles.union(PortRoles::DISCOVERY);
                    }
                    if p.page.is_initiator() {
                        roles = roles.union(PortRoles::INITIATOR);
                    }
                    Ok(roles)
                }
                Ok(p) => Err(HbaError::LoginRejected {
                    device: name.clone(),
                    request: "PRLI",
                    d_id: id,
                    how: format!(
                        "accept with type {:#04x} response code {}",
                        p.page.fc_type,
                        p.page.response_code()
                    ),
                    hint: "the port does not offer FC-NVMe",
                }),
                Err(e) => Err(HbaError::BadResponse {
                    device: name.clone(),
                    what: format!("PRLI ACC from {id:#08x}: {e}"),
                }),
            },
            Ok(ElsReply::Rjt {
                reason,
                explanation,
            }) => Err(HbaError::LoginRejected {
                device: name.clone(),
                request: "PRLI",
                d_id: id,
                how: rjt_text(reason, explanation),
                hint: "the target refused the NVMe process login; check its FC-NVMe configuration",
            }),
            Err(e) => Err(e),
        };
        let roles = match roles {
            Ok(r) => r,
            Err(e) => {
                // After a port failure the port is rebuilt and nothing is
                // worth telling it; otherwise release the login.
                if !matches!(
                    e,
                    HbaError::PortError { .. }
                        | HbaError::DeviceGone { .. }
                        | HbaError::MailboxTimeout { .. }
                ) {
                    if let Err(u) = port.mbox(&UnregRpi::rpi(rpi).to_mqe()) {
                        log::warn!("{name}: UNREG_RPI {rpi} after a failed PRLI: {u}");
                    }
                    port.res.free_rpi(rpi);
                }
                return Err(e);
            }
        };
        let mut node = RemotePort {
            n_port_id: id,
            wwnn: Wwn(remote.wwnn.get()),
            wwpn: Wwn(remote.wwpn.get()),
            rpi,
            roles,
            transport_id: None,
        };
        if roles.contains(PortRoles::TARGET) || roles.contains(PortRoles::DISCOVERY) {
            node.transport_id = self.register_rport(&node);
        } else {
            log::info!("{name}: N_Port {id:#08x} offers no NVMe target or discovery function; not registered");
        }
        log::info!(
            "{name}: logged in to N_Port {id:#08x} wwpn {} roles {roles:?}",
            node.wwpn
        );
        self.nodes.insert(id, node);
        Ok(())
    }

    fn register_rport(&mut self, node: &RemotePort) -> Option<ufc_transport::lldd::RemotePortId> {
        let reg = self.reg.as_ref()?;
        let lport = reg.lport?;
        let info = PortInfo {
            node_name: node.wwnn,
            port_name: node.wwpn,
            port_id: node.n_port_id,
            roles: node.roles,
            dev_loss_tmo: self.cfg.dev_loss_tmo,
            lldd_token: LlddRport(u64::from(node.rpi) << 32 | u64::from(node.n_port_id)),
        };
        match reg.transport.register_remoteport(lport, info) {
            Ok(id) => Some(id),
            Err(e) => {
                let e =
                    HbaError::Transport(format!("registering N_Port {:#08x}: {e}", node.n_port_id));
                self.note(&e);
                None
            }
        }
    }

    /// Forgets node `id`: unregisters it from the transport, UNREG_RPI, and
    /// with `logo` sends a LOGO first.
    pub(crate) fn drop_node(&mut self, id: u32, logo: bool) -> Result<(), HbaError> {
        let Some(mut node) = self.nodes.remove(&id) else {
            return Ok(());
        };
        if let (Some(rid), Some(reg)) = (node.transport_id.take(), self.reg.as_ref()) {
            if let Err(e) = reg.transport.unregister_remoteport(rid) {
                log::warn!("{}: unregistering {rid:?}: {e}", self.name);
            }
        }
        let (wwpn, fabric) = (self.wwpn, self.fabric);
        let Some(port) = self.port.as_mut() else {
            return Ok(());
        };
        if logo {
            if let Some(f) = fabric {
                let dest = ElsDest {
                    d_id: id,
                    context: Context::rpi(node.rpi),
                    temp_rpi: node.rpi,
                    s_id: None,
                    els_id: els_id::LOGO,
                };
                if let Err(e) =
                    port.els_request(dest, Logo::new(f.n_port_id, wwpn).as_bytes(), "LOGO")
                {
                    log::warn!("{}: LOGO to {id:#08x}: {e}", self.name);
                }
            }
        }
        let r = port.mbox(&UnregRpi::rpi(node.rpi).to_mqe());
        port.res.free_rpi(node.rpi);
        r.map(|_| ())
    }

    /// Link down (or a link restart): every remote port is unregistered, the
    /// RPIs and the VFI are released; login starts over on link up (§7.2).
    pub(crate) fn link_lost(&mut self) -> Result<(), HbaError> {
        let ids: Vec<u32> = self.nodes.keys().copied().collect();
        let mut first = None;
        for id in ids {
            if let Err(e) = self.drop_node(id, false) {
                first.get_or_insert(e);
            }
        }
        if let Some(f) = self.fabric.take() {
            if let Some(port) = self.port.as_mut() {
                for rpi in [f.ns_rpi, f.fabric_rpi, f.fc_rpi] {
                    port.res.free_rpi(rpi);
                }
                if f.n_port_id != 0 {
                    // Registered only after a successful name-server PLOGI;
                    // a "not registered" answer is fine here.
                    let _ = port.mbox(&UnregRpi::rpi(f.ns_rpi).to_mqe());
                    let mut u = UnregVfi::new();
                    u.set_index(port.res.vfi.into());
                    u.set_index_type(index_type::SELF);
                    if let Err(e) = port.mbox(&u.to_mqe()) {
                        first.get_or_insert(e);
                    }
                }
            }
        }
        self.rescan = false;
        first.map_or(Ok(()), Err)
    }

    /// LOGO to the F_Port (§6.1 "Our LOGO": fabric logout before UNREG_VFI).
    /// Best effort: the port is going away either way.
    fn fabric_logout(&mut self) {
        let (Some(f), wwpn) = (self.fabric, self.wwpn) else {
            return;
        };
        if f.n_port_id == 0 {
            return;
        }
        let Some(port) = self.port.as_mut() else {
            return;
        };
        let dest = ElsDest {
            d_id: well_known::F_PORT,
            context: Context::vpi(port.res.vpi),
            temp_rpi: f.fabric_rpi,
            s_id: Some(f.n_port_id),
            els_id: els_id::LOGO,
        };
        match port.els_request(dest, Logo::new(f.n_port_id, wwpn).as_bytes(), "LOGO") {
            Ok(ElsReply::Acc { .. }) => {}
            Ok(ElsReply::Rjt {
                reason,
                explanation,
            }) => log::info!(
                "{}: fabric LOGO refused ({})",
                self.name,
                rjt_text(reason, explanation)
            ),
            Err(e) => log::warn!("{}: fabric LOGO: {e}", self.name),
        }
    }

    /// Shutdown: LOGO and UNREG_RPI for every target, then the fabric.
    pub(crate) fn logout_all(&mut self) -> Result<(), HbaError> {
        let ids: Vec<u32> = self.nodes.keys().copied().collect();
        let mut first = None;
        if self.link.up {
            for id in ids {
                if let Err(e) = self.drop_node(id, true) {
                    first.get_or_insert(e);
                }
            }
            self.fabric_logout();
        }
        if let Err(e) = self.link_lost() {
            first.get_or_insert(e);
        }
        first.map_or(Ok(()), Err)
    }
}
