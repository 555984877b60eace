//! Mailbox command execution (sli4.md §3): the submission and completion of
//! MQEs from the BMBX or the MQ (one command at a time, optionally delayed or
//! hung by a fault), and the native commands of the inventory. SLI_CONFIG
//! sub-commands are in `sli_config`, the link commands in `link`.
//!
//! Statuses: a native command answers in the MQE status (bytes 2-3), which
//! the MCQE completion status repeats; an unknown command gets 0x0001
//! (failure; the exact code of a real port for an unknown command was not
//! found). Registration errors use the codes of §3.1 (RPI already
//! registered, invalid RPI/VPI, RPI not registered, VFI in use).

use std::time::Duration;

use zerocopy::{FromBytes, IntoBytes};

use ufc_hba::fc::login::{ServiceParams, SERVICE_PARAMS_LEN};
use ufc_hba::sli4::cmds::fcfi::{RegFcfi, UnregFcfi, RQ_ID_UNUSED};
use ufc_hba::sli4::cmds::read_config::{topology, ReadConfig};
use ufc_hba::sli4::cmds::read_rev::ReadRev;
use ufc_hba::sli4::cmds::read_sparm64::ReadSparm64;
use ufc_hba::sli4::cmds::request_features::{feature, RequestFeatures};
use ufc_hba::sli4::cmds::rpi::{RegRpi, UnregRpi};
use ufc_hba::sli4::cmds::vfi::{index_type, InitVfi, RegVfi, UnregVfi};
use ufc_hba::sli4::mbox::{mbx_cmd, mbx_status, Mcqe, Mqe, MQE_LEN};
use ufc_hba::sli4::sge::Bde;

use super::resources::{Fcfi, RemotePort, Vfi};
use super::{bump, Sli4Model};

/// E_D_TOV in READ_CONFIG, milliseconds (LPFC's default unit and value).
const READ_CONFIG_E_D_TOV_MS: u32 = 2_000;
/// R_A_TOV in READ_CONFIG, seconds (LPFC keeps R_A_TOV in seconds).
const READ_CONFIG_R_A_TOV_S: u32 = 10;
/// Features the port grants: all of §3.4 but virtual fabrics and DIF, which
/// the model does not implement.
const SUPPORTED_FEATURES: u32 = !(feature::VF | feature::DIF) & 0x3_FFFF;
/// Bytes of the minimal VPD READ_REV returns: an identifier-string tag and
/// the end tag (PCI VPD format).
const VPD_NAME: &[u8] = b"Emulated Emulex LightPulse FC";

/// Where a mailbox command came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MboxSource {
    /// The bootstrap mailbox region at this IOVA.
    Bmbx { addr: u64 },
    /// Entry `index` of MQ `mq_id`.
    Mq { mq_id: u16, index: u32 },
}

/// A command in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) src: MboxSource,
    /// Completion time; `None` = never (hung).
    pub(crate) due: Option<Duration>,
}

/// The mailbox's state.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MailboxState {
    pub(crate) pending: Option<Pending>,
}

/// A command's result as the MCQE reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Completion {
    pub(crate) status: u16,
    pub(crate) extended: u16,
}

impl Completion {
    pub(crate) const OK: Completion = Completion {
        status: 0,
        extended: 0,
    };

    pub(crate) const fn status(status: u16) -> Completion {
        Completion {
            status,
            extended: 0,
        }
    }
}

/// Copies `resp` into `mqe` (native command structs are whole MQEs).
fn put<T: IntoBytes + zerocopy::Immutable>(mqe: &mut Mqe, resp: &T) {
    let b = resp.as_bytes();
    let n = b.len().min(MQE_LEN);
    mqe.as_mut_bytes()[..n].copy_from_slice(&b[..n]);
}

fn view<T: FromBytes>(mqe: &Mqe) -> T {
    // Every native command struct is exactly MQE_LEN bytes (checked by the
    // hba crate); a wrong size would read zeros rather than panic.
    T::read_from_prefix(mqe.as_bytes())
        .map(|(t, _)| t)
        .unwrap_or_else(|_| T::new_zeroed())
}

impl Sli4Model {
    /// Starts the command at `src`: at once, after the slow-mailbox delay,
    /// or never (the hang fault).
    pub(crate) fn submit_mailbox(&mut self, src: MboxSource) {
        if self.func.mbox.pending.is_some() {
            log::warn!("sli4 model: mailbox command while another runs; ignored");
            return;
        }
        let now = self.clock.now();
        let due = if self.mbox_hang_next {
            self.mbox_hang_next = false;
            log::info!("sli4 model: injected fault: this mailbox command never completes");
            None
        } else {
            Some(now + self.mbox_delay.unwrap_or(Duration::ZERO))
        };
        if due == Some(now) {
            self.complete_mailbox(src);
        } else {
            self.func.mbox.pending = Some(Pending { src, due });
        }
    }

    /// Completes a delayed command whose time has come; true if one did.
    pub(crate) fn mailbox_timers(&mut self, now: Duration) -> bool {
        let Some(p) = self.func.mbox.pending else {
            return false;
        };
        if p.due.is_none_or(|t| now < t) {
            return false;
        }
        self.func.mbox.pending = None;
        self.complete_mailbox(p.src);
        if let MboxSource::Mq { mq_id, .. } = p.src {
            self.run_mq(mq_id);
        }
        true
    }

    /// Reads, executes and answers the command at `src`.
    fn complete_mailbox(&mut self, src: MboxSource) {
        let addr = match src {
            MboxSource::Bmbx { addr } => addr,
            MboxSource::Mq { mq_id, index } => match self.func.queues.mqs.get(&mq_id) {
                Some(mq) => mq.ring.addr(index),
                None => return,
            },
        };
        let mut mqe = Mqe::default();
        let done = match self.view.read(addr, mqe.as_mut_bytes()) {
            Ok(()) => {
                let done = self.execute(&mut mqe);
                if let Err(e) = self.view.write(addr, mqe.as_bytes()) {
                    self.dma_failed("mailbox response", &e);
                }
                done
            }
            Err(e) => {
                self.dma_failed("mailbox command", &e);
                Completion::status(mbx_status::FAILURE)
            }
        };
        bump(&self.counters().mailbox_commands);
        if done.status != 0 {
            bump(&self.counters().mailbox_errors);
            log::debug!(
                "sli4 model: mailbox command {:#04x} failed: status {:#x}/{:#x}",
                mqe.command(),
                done.status,
                done.extended
            );
        }
        let mut mcqe = Mcqe::completion(done.status, done.extended);
        if mqe.command() as u8 == mbx_cmd::SLI_CONFIG {
            // The SLI_CONFIG tag (MQE bytes 12-19) comes back in the MCQE.
            mcqe.tag_lo = mqe.dw[2];
            mcqe.tag_hi = mqe.dw[3];
        }
        match src {
            MboxSource::Bmbx { addr } => {
                if let Err(e) = self.view.write(addr + MQE_LEN as u64, mcqe.as_bytes()) {
                    self.dma_failed("BMBX MCQE", &e);
                }
                self.bmbx.rdy = true;
            }
            MboxSource::Mq { mq_id, .. } => self.mq_completed(mq_id, mcqe),
        }
    }

    /// Executes one MQE in place; returns the MCQE status.
    pub(crate) fn execute(&mut self, mqe: &mut Mqe) -> Completion {
        let done = match mqe.command() as u8 {
            mbx_cmd::SLI_CONFIG => return self.sli_config(mqe),
            mbx_cmd::READ_CONFIG => self.read_config(mqe),
            mbx_cmd::READ_REV => self.read_rev(mqe),
            mbx_cmd::READ_SPARM64 => self.read_sparm64(mqe),
            mbx_cmd::REQUEST_FEATURES => self.request_features(mqe),
            mbx_cmd::INIT_LINK => self.init_link(mqe),
            mbx_cmd::DOWN_LINK => self.down_link(),
            mbx_cmd::READ_TOPOLOGY => self.read_topology(mqe),
            // LPFC issues it on FC link-up (timers, BB credit); nothing to keep.
            mbx_cmd::CONFIG_LINK => Completion::OK,
            mbx_cmd::REG_FCFI => self.reg_fcfi(mqe),
            mbx_cmd::UNREG_FCFI => self.unreg_fcfi(mqe),
            mbx_cmd::INIT_VFI => self.init_vfi(mqe),
            mbx_cmd::REG_VFI => self.reg_vfi(mqe),
            mbx_cmd::UNREG_VFI => self.unreg_vfi(mqe),
            mbx_cmd::REG_RPI => self.reg_rpi(mqe),
            mbx_cmd::UNREG_RPI => self.unreg_rpi(mqe),
            other => {
                log::debug!("sli4 model: mailbox command {other:#04x} not supported");
                Completion::status(mbx_status::FAILURE)
            }
        };
        mqe.set_status(done.status.into());
        done
    }

    fn read_config(&mut self, mqe: &mut Mqe) -> Completion {
        let res = self.cfg.resources;
        let mut c = ReadConfig::new();
        c.set_ext(false);
        c.set_topology(topology::FC_P2P);
        c.set_e_d_tov(READ_CONFIG_E_D_TOV_MS);
        c.set_r_a_tov(READ_CONFIG_R_A_TOV_S);
        c.set_xri_base(res.xri.base.into());
        c.set_xri_count(res.xri.count.into());
        c.set_rpi_base(res.rpi.base.into());
        c.set_rpi_count(res.rpi.count.into());
        c.set_vpi_base(res.vpi.base.into());
        c.set_vpi_count(res.vpi.count.into());
        c.set_vfi_base(res.vfi.base.into());
        c.set_vfi_count(res.vfi.count.into());
        c.set_fcfi_count(res.fcfi_count.into());
        c.set_eq_count(res.eq_count.into());
        c.set_cq_count(res.cq_count.into());
        c.set_wq_count(res.wq_count.into());
        c.set_rq_count(res.rq_count.into());
        put(mqe, &c);
        Completion::OK
    }

    fn read_rev(&mut self, mqe: &mut Mqe) -> Completion {
        let req: ReadRev = view(mqe);
        let mut c = ReadRev::new();
        c.set_sli_level(4);
        c.first_hw_rev.set(self.cfg.hw_rev[0]);
        c.second_hw_rev.set(self.cfg.hw_rev[1]);
        c.third_hw_rev.set(self.cfg.hw_rev[2]);
        let name = self.cfg.firmware_rev.as_bytes();
        let n = name.len().min(16);
        c.fw_name[..n].copy_from_slice(&name[..n]);
        c.ulp_fw_name[..n].copy_from_slice(&name[..n]);
        c.fw_id.set(1);
        c.ulp_fw_id.set(1);
        // Keep the host's VPD request fields; answer the VPD if asked.
        c.dw48 = req.dw48;
        c.vpd_addr_lo = req.vpd_addr_lo;
        c.vpd_addr_hi = req.vpd_addr_hi;
        if req.vpd() {
            let mut vpd = Vec::with_capacity(VPD_NAME.len() + 4);
            vpd.push(0x82);
            vpd.extend_from_slice(&(VPD_NAME.len() as u16).to_le_bytes());
            vpd.extend_from_slice(VPD_NAME);
            vpd.push(0x78);
            let avail = req.vpd_avail_len() as usize;
            let n = vpd.len().min(avail);
            let addr = u64::from(req.vpd_addr_hi.get()) << 32 | u64::from(req.vpd_addr_lo.get());
            if n > 0 {
                if let Err(e) = self.view.write(addr, &vpd[..n]) {
                    self.dma_failed("READ_REV VPD", &e);
                    put(mqe, &c);
                    return Completion::status(mbx_status::FAILURE);
                }
            }
            c.set_vpd(true);
            c.returned_vpd_len.set(n as u32);
            c.actual_vpd_len.set(vpd.len() as u32);
        }
        put(mqe, &c);
        Completion::OK
    }

    fn read_sparm64(&mut self, mqe: &mut Mqe) -> Completion {
        let req: ReadSparm64 = view(mqe);
        let sp = ServiceParams::n_port(self.cfg.addr.wwpn, self.cfg.addr.wwnn);
        let n = (req.bde.length() as usize).min(SERVICE_PARAMS_LEN);
        if n < SERVICE_PARAMS_LEN {
            log::debug!("sli4 model: READ_SPARM64 buffer of {n} bytes is short of 112");
        }
        match self.view.write(req.bde.addr(), &sp.as_bytes()[..n]) {
            Ok(()) => Completion::OK,
            Err(e) => {
                self.dma_failed("READ_SPARM64 buffer", &e);
                Completion::status(mbx_status::FAILURE)
            }
        }
    }

    fn request_features(&mut self, mqe: &mut Mqe) -> Completion {
        let mut c: RequestFeatures = view(mqe);
        let granted = c.requested.get() & SUPPORTED_FEATURES;
        c.granted.set(granted);
        if !c.query() {
            self.func.features = granted;
        }
        put(mqe, &c);
        Completion::OK
    }

    /// Reads the 112-byte service parameters a registration names (checks the
    /// host's buffer is there).
    fn read_sparm(&self, bde: &Bde, what: &str) -> Result<(), Completion> {
        let mut b = [0u8; SERVICE_PARAMS_LEN];
        let n = (bde.length() as usize).min(SERVICE_PARAMS_LEN);
        self.view.read(bde.addr(), &mut b[..n]).map_err(|e| {
            self.dma_failed(what, &e);
            Completion::status(mbx_status::FAILURE)
        })
    }

    fn reg_fcfi(&mut self, mqe: &mut Mqe) -> Completion {
        let mut c: RegFcfi = view(mqe);
        let ids = c.rq_ids();
        if ids
            .iter()
            .any(|id| *id != RQ_ID_UNUSED && !self.func.queues.rqs.contains_key(id))
        {
            return Completion::status(mbx_status::FAILURE);
        }
        let limit = u32::from(self.cfg.resources.fcfi_count);
        let Some(fcfi) = super::queues::free_id(&self.func.res.fcfis, limit) else {
            return Completion::status(mbx_status::FAILURE);
        };
        let f = Fcfi {
            rq_ids: ids,
            filters: [c.filter(0), c.filter(1), c.filter(2), c.filter(3)],
        };
        self.func.res.fcfis.insert(fcfi, f);
        c.set_fcfi(fcfi.into());
        put(mqe, &c);
        Completion::OK
    }

    fn unreg_fcfi(&mut self, mqe: &mut Mqe) -> Completion {
        let c: UnregFcfi = view(mqe);
        let fcfi = c.fcfi() as u16;
        if self.func.res.fcfis.remove(&fcfi).is_none() {
            return Completion::status(mbx_status::FAILURE);
        }
        let res = &mut self.func.res;
        let gone: Vec<u16> = res
            .vfis
            .iter()
            .filter(|(_, v)| v.fcfi == fcfi)
            .map(|(id, _)| *id)
            .collect();
        for vfi in gone {
            self.drop_vfi(vfi);
        }
        Completion::OK
    }

    fn init_vfi(&mut self, mqe: &mut Mqe) -> Completion {
        let c: InitVfi = view(mqe);
        let res = &mut self.func.res;
        let (vfi, vpi, fcfi) = (c.vfi() as u16, c.vpi() as u16, c.fcfi() as u16);
        if !res.cfg.vfi.contains(vfi.into()) || !res.fcfis.contains_key(&fcfi) {
            return Completion::status(mbx_status::FAILURE);
        }
        if c.vp() {
            if !res.cfg.vpi.contains(vpi.into()) {
                return Completion::status(mbx_status::INVALID_VPI);
            }
            if !res.vpis_init.contains(&vpi) {
                res.vpis_init.push(vpi);
            }
        }
        res.vfis_init.insert(vfi, fcfi);
        Completion::OK
    }

    fn reg_vfi(&mut self, mqe: &mut Mqe) -> Completion {
        let c: RegVfi = view(mqe);
        let (vfi, vpi, fcfi) = (c.vfi() as u16, c.vpi() as u16, c.fcfi() as u16);
        let res = &self.func.res;
        if !res.cfg.vfi.contains(vfi.into()) || !res.fcfis.contains_key(&fcfi) {
            return Completion::status(mbx_status::FAILURE);
        }
        if c.vp() && !res.cfg.vpi.contains(vpi.into()) {
            return Completion::status(mbx_status::INVALID_VPI);
        }
        if res.vfis.contains_key(&vfi) && !c.upd() {
            return Completion::status(mbx_status::VFI_IN_USE);
        }
        if let Err(e) = self.read_sparm(&c.sparm, "REG_VFI service parameters") {
            return e;
        }
        let n_port_id = c.local_n_port_id();
        let res = &mut self.func.res;
        res.vfis.insert(
            vfi,
            Vfi {
                fcfi,
                vpi,
                n_port_id,
            },
        );
        if c.vp() {
            res.vpis.insert(vpi, n_port_id);
        }
        Completion::OK
    }

    /// Forgets a VFI, its VPI and the VPI's RPIs.
    fn drop_vfi(&mut self, vfi: u16) {
        let res = &mut self.func.res;
        res.vfis_init.remove(&vfi);
        if let Some(v) = res.vfis.remove(&vfi) {
            res.vpis.remove(&v.vpi);
            res.vpis_init.retain(|p| *p != v.vpi);
            res.unreg_rpis_of_vpi(v.vpi);
        }
    }

    fn unreg_vfi(&mut self, mqe: &mut Mqe) -> Completion {
        let c: UnregVfi = view(mqe);
        let index = c.index() as u16;
        match c.index_type() {
            index_type::SELF => {
                let res = &self.func.res;
                if !res.vfis.contains_key(&index) && !res.vfis_init.contains_key(&index) {
                    return Completion::status(mbx_status::FAILURE);
                }
                self.drop_vfi(index);
            }
            index_type::FCFI => {
                let gone: Vec<u16> = self
                    .func
                    .res
                    .vfis
                    .iter()
                    .filter(|(_, v)| index == 0xFFFF || v.fcfi == index)
                    .map(|(id, _)| *id)
                    .collect();
                for vfi in gone {
                    self.drop_vfi(vfi);
                }
            }
            _ => return Completion::status(mbx_status::FAILURE),
        }
        Completion::OK
    }

    fn reg_rpi(&mut self, mqe: &mut Mqe) -> Completion {
        let c: RegRpi = view(mqe);
        let (rpi, vpi) = (c.rpi() as u16, c.vpi() as u16);
        let res = &self.func.res;
        if !res.cfg.rpi.contains(rpi.into()) {
            return Completion::status(mbx_status::INVALID_RPI);
        }
        if !res.vpis.contains_key(&vpi) {
            return Completion::status(mbx_status::INVALID_VPI);
        }
        if res.rpis.contains_key(&rpi) && !c.upd() {
            return Completion::status(mbx_status::RPI_REGISTERED);
        }
        if let Err(e) = self.read_sparm(&c.sparm, "REG_RPI service parameters") {
            return e;
        }
        self.func.res.rpis.insert(
            rpi,
            RemotePort {
                d_id: c.remote_n_port_id(),
                vpi,
            },
        );
        Completion::OK
    }

    fn unreg_rpi(&mut self, mqe: &mut Mqe) -> Completion {
        let c: UnregRpi = view(mqe);
        let index = c.index() as u16;
        let res = &mut self.func.res;
        match c.index_type() {
            index_type::SELF => {
                if res.rpis.remove(&index).is_none() {
                    return Completion::status(mbx_status::RPI_NOT_REGISTERED);
                }
            }
            index_type::VPI => res.unreg_rpis_of_vpi(index),
            index_type::VFI => {
                if let Some(v) = res.vfis.get(&index).copied() {
                    res.unreg_rpis_of_vpi(v.vpi);
                }
            }
            _ => res.rpis.clear(),
        }
        Completion::OK
    }
}
