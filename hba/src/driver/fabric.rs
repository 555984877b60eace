//! Fabric login on link up (sli4.md §6.1 steps 3-13): READ_TOPOLOGY,
//! INIT_VFI, FLOGI, REG_VFI, local-port registration, PLOGI and REG_RPI for
//! the name server, RFT_ID and RFF_ID for FC-4 type 0x28 as an initiator,
//! SCR; then discovery.

use ufc_transport::lldd::{LlddRport, PortInfo, PortRoles};

use super::els::{rjt_text, ElsDest, ElsReply};
use super::error::HbaError;
use super::{FabricLogin, Hba};
use crate::fc::els::els_cmd;
use crate::fc::header::well_known;
use crate::fc::login::{LoginPayload, ServiceParams};
use crate::fc::nameserver::{fc4_features, rff_id, rft_id, Fc4Types};
use crate::fc::scr::{scr_function, Scr};
use crate::sli4::cmds::read_topology::{topology, ReadTopology};
use crate::sli4::cmds::rpi::RegRpi;
use crate::sli4::cmds::vfi::{InitVfi, RegVfi, RegVfiParams};
use crate::sli4::wqe::{els_id, Context};

/// FC-4 type of FC-NVMe.
pub(crate) const FC4_NVME: u8 = 0x28;

impl Hba {
    /// Our service parameters for FLOGI/PLOGI: the port's, with the
    /// configured names.
    pub(crate) fn our_sparams(&self) -> Option<ServiceParams> {
        let port = self.port.as_ref()?;
        let mut sp = port.sparams;
        sp.wwpn.set(self.wwpn.0);
        sp.wwnn.set(self.wwnn.0);
        Some(sp)
    }

    /// Runs the fabric login; on success discovery is scheduled.
    pub(crate) fn login_fabric(&mut self) -> Result<(), HbaError> {
        let name = self.name.clone();
        let mut sp = self.our_sparams().ok_or(HbaError::NotRunning {
            device: name.clone(),
            state: "without a port",
        })?;
        let plogi_sp = sp;
        let wwpn = self.wwpn;
        let port = self.port.as_mut().ok_or(HbaError::NotRunning {
            device: name.clone(),
            state: "without a port",
        })?;
        let (vpi, vfi, fcfi) = (port.res.vpi, port.res.vfi, port.res.fcfi);

        let top = ReadTopology::from_mqe(&port.mbox(&ReadTopology::new().to_mqe())?);
        if top.topology() != topology::P2P_OR_FABRIC {
            return Err(HbaError::Unsupported {
                device: name,
                what: format!(
                    "link topology {} (only point-to-point to a switch is supported); set the switch port to F_Port",
                    top.topology()
                ),
            });
        }
        port.mbox(&InitVfi::fc(vfi, fcfi, vpi).to_mqe())?;

        let exhausted = || HbaError::Exhausted {
            device: name.clone(),
            what: "RPIs",
        };
        let fabric_rpi = port.res.alloc_rpi().ok_or_else(exhausted)?;
        let ns_rpi = port.res.alloc_rpi().ok_or_else(exhausted)?;
        let fc_rpi = port.res.alloc_rpi().ok_or_else(exhausted)?;
        // Keep the ids so a failure below frees them through link_lost.
        self.fabric = Some(FabricLogin {
            n_port_id: 0,
            r_a_tov_ms: 0,
            e_d_tov_ms: 0,
            fabric_rpi,
            ns_rpi,
            fc_rpi,
        });
        let port = self.port.as_mut().ok_or(HbaError::NotRunning {
            device: name.clone(),
            state: "without a port",
        })?;

        // FLOGI (§6.1 step 6): S_ID 0 with SP, VPI context, OCS's parameter tweaks.
        sp.prepare_flogi();
        let flogi = LoginPayload::new(els_cmd::FLOGI, sp);
        let dest = ElsDest {
            d_id: well_known::F_PORT,
            context: Context::vpi(vpi),
            temp_rpi: fabric_rpi,
            s_id: Some(0),
            els_id: els_id::FLOGI,
        };
        let (acc, parameter) =
            match port.els_request(dest, flogi.as_bytes(), "FLOGI")? {
                ElsReply::Acc { payload, parameter } => (payload, parameter),
                ElsReply::Rjt {
                    reason,
                    explanation,
                } => return Err(HbaError::LoginRejected {
                    device: name,
                    request: "FLOGI",
                    d_id: well_known::F_PORT,
                    how: rjt_text(reason, explanation),
                    hint:
                        "check the switch port configuration (F_Port, port security, NPIV limits)",
                }),
            };
        let acc = LoginPayload::parse(&acc).map_err(|e| HbaError::BadResponse {
            device: name.clone(),
            what: format!("FLOGI ACC: {e}"),
        })?;
        if !acc.sp.is_f_port() {
            return Err(HbaError::Unsupported {
                device: name,
                what: "FLOGI was answered by an N_Port (point-to-point without a switch), which is not supported".into(),
            });
        }
        let n_port_id = parameter & 0x00FF_FFFF;
        if n_port_id == 0 || well_known::is_well_known(n_port_id) {
            return Err(HbaError::BadResponse {
                device: name,
                what: format!("FLOGI ACC assigned N_Port ID {n_port_id:#08x}"),
            });
        }
        let r_a_tov_ms = acc.sp.r_a_tov_ms();
        let e_d_tov_ms = acc.sp.e_d_tov_ms();

        // REG_VFI (step 8) with the ACC's parameters.
        let sparm_addr = port.scratch_with(acc.sp.as_bytes())?;
        let reg_vfi = RegVfi::after_flogi(&RegVfiParams {
            vfi,
            fcfi,
            vpi,
            wwpn,
            sparm_addr,
            n_port_id,
            e_d_tov_ms,
            r_a_tov_s: r_a_tov_ms.div_ceil(1000),
        });
        port.mbox(&reg_vfi.to_mqe())?;
        self.fabric = Some(FabricLogin {
            n_port_id,
            r_a_tov_ms,
            e_d_tov_ms,
            fabric_rpi,
            ns_rpi,
            fc_rpi,
        });
        log::info!("{name}: fabric login as N_Port {n_port_id:#08x}");
        self.register_lport(n_port_id)?;
        let port = self.port.as_mut().ok_or(HbaError::NotRunning {
            device: name.clone(),
            state: "without a port",
        })?;

        // Name server (steps 9-12): PLOGI with our unmodified parameters.
        let plogi = LoginPayload::new(els_cmd::PLOGI, plogi_sp);
        let dest = ElsDest {
            d_id: well_known::NAME_SERVER,
            context: Context::vpi(vpi),
            temp_rpi: ns_rpi,
            s_id: Some(n_port_id),
            els_id: els_id::PLOGI,
        };
        let acc = match port.els_request(dest, plogi.as_bytes(), "PLOGI")? {
            ElsReply::Acc { payload, .. } => payload,
            ElsReply::Rjt {
                reason,
                explanation,
            } => {
                return Err(HbaError::LoginRejected {
                    device: name,
                    request: "PLOGI",
                    d_id: well_known::NAME_SERVER,
                    how: rjt_text(reason, explanation),
                    hint: "the switch's name server refused the login",
                })
            }
        };
        let acc = LoginPayload::parse(&acc).map_err(|e| HbaError::BadResponse {
            device: name.clone(),
            what: format!("name-server PLOGI ACC: {e}"),
        })?;
        let sparm_addr = port.scratch_with(acc.sp.as_bytes())?;
        port.mbox(&RegRpi::login(ns_rpi, well_known::NAME_SERVER, vpi, sparm_addr).to_mqe())?;
        port.ct_accept(
            ns_rpi,
            well_known::NAME_SERVER,
            &rft_id(n_port_id, &Fc4Types::from_types(&[FC4_NVME])),
            "RFT_ID",
        )?;
        port.ct_accept(
            ns_rpi,
            well_known::NAME_SERVER,
            &rff_id(n_port_id, FC4_NVME, fc4_features::INITIATOR),
            "RFF_ID",
        )?;

        // SCR (step 13): full registration, so RSCNs come.
        let dest = ElsDest {
            d_id: well_known::FABRIC_CONTROLLER,
            context: Context::vpi(vpi),
            temp_rpi: fc_rpi,
            s_id: Some(n_port_id),
            els_id: els_id::OTHER,
        };
        if let ElsReply::Rjt {
            reason,
            explanation,
        } = port.els_request(dest, Scr::new(scr_function::FULL).as_bytes(), "SCR")?
        {
            // Without SCR no RSCN arrives; discovery still works once.
            log::warn!(
                "{name}: SCR rejected ({}); target changes will not be noticed",
                rjt_text(reason, explanation)
            );
        }
        self.stats.fabric_logins += 1;
        self.rescan = true;
        Ok(())
    }

    /// Registers the local port with the transport after the first fabric
    /// login; later logins keep it (the transport has no port-id update).
    fn register_lport(&mut self, n_port_id: u32) -> Result<(), HbaError> {
        let (wwnn, wwpn) = (self.wwnn, self.wwpn);
        let Some(reg) = self.reg.as_mut() else {
            return Ok(());
        };
        if reg.lport.is_some() {
            return Ok(());
        }
        let info = PortInfo {
            node_name: wwnn,
            port_name: wwpn,
            port_id: n_port_id,
            roles: PortRoles::INITIATOR,
            dev_loss_tmo: None,
            lldd_token: LlddRport::default(),
        };
        let id = reg
            .transport
            .register_localport(info, std::sync::Arc::clone(&reg.lldd))
            .map_err(|e| HbaError::Transport(e.to_string()))?;
        reg.lport = Some(id);
        Ok(())
    }
}
