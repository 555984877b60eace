//! The fabric's view of the FC formats of [`ufc_hba::fc`]: the few decodes and
//! encodes the services and target N_Ports need, named for what the fabric does
//! with them. No layout is defined here.

use ufc_hba::fc::bls::BaAcc;
use ufc_hba::fc::els::{self, els_cmd};
use ufc_hba::fc::error::FcError;
use ufc_hba::fc::frame::Frame;
use ufc_hba::fc::login::{LoginPayload, ServiceParams};
use ufc_hba::fc::logo::Logo;
use ufc_hba::fc::ls_rjt::{explanation, reason, LsRjt};
use ufc_hba::fc::prli::{nvme_sp, response_code, NvmePrli};
use ufc_hba::fc::rscn::{build_rscn, RscnPage};
use ufc_hba::fc::scr::Scr;
use ufc_transport::wwn::{FcAddr, Wwn};

use crate::fabric::config::FabricConfig;

/// The ELS command code of a frame's payload.
pub(crate) fn els_command(f: &Frame) -> Option<u8> {
    els::command(&f.payload).ok()
}

/// The LS_RJTs the fabric and its targets send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rjt(u8, u8);

impl Rjt {
    /// PRLI (or anything but PLOGI) before PLOGI.
    pub(crate) const PLOGI_REQUIRED: Rjt =
        Rjt(reason::UNABLE_TO_PERFORM, explanation::PLOGI_REQUIRED);
    /// An ELS this port does not implement.
    pub(crate) const NOT_SUPPORTED: Rjt = Rjt(reason::CMD_NOT_SUPPORTED, explanation::NONE);
    /// A payload that does not decode.
    pub(crate) const BAD_PAYLOAD: Rjt = Rjt(reason::PROTOCOL_ERROR, explanation::NONE);
    /// A configured or injected refusal.
    pub(crate) const UNABLE: Rjt = Rjt(reason::UNABLE_TO_PERFORM, explanation::NONE);
}

/// An LS_RJT payload.
pub(crate) fn ls_rjt(r: Rjt) -> Vec<u8> {
    LsRjt::new(r.0, r.1).as_bytes().to_vec()
}

/// The bare 4-byte LS_ACC.
pub(crate) fn els_acc() -> Vec<u8> {
    els::ls_acc().to_vec()
}

/// The port and node names of a FLOGI or PLOGI request.
pub(crate) fn plogi_names(payload: &[u8]) -> Option<FcAddr> {
    let p = LoginPayload::parse(payload).ok()?;
    Some(FcAddr {
        wwnn: p.sp.wwnn(),
        wwpn: p.sp.wwpn(),
    })
}

/// A PLOGI from the N_Port named `me`.
pub(crate) fn n_port_plogi(me: FcAddr) -> Vec<u8> {
    LoginPayload::new(els_cmd::PLOGI, ServiceParams::n_port(me.wwpn, me.wwnn))
        .as_bytes()
        .to_vec()
}

/// The PLOGI ACC of an N_Port (a target, or the directory) named `me`.
pub(crate) fn n_port_plogi_acc(me: FcAddr) -> Vec<u8> {
    LoginPayload::new(els_cmd::LS_ACC, ServiceParams::n_port(me.wwpn, me.wwnn))
        .as_bytes()
        .to_vec()
}

/// The FLOGI ACC: the F_Port's service parameters (F_Port bit, R_A_TOV,
/// E_D_TOV in ms, BB credit, the fabric's names).
pub(crate) fn flogi_acc(cfg: &FabricConfig) -> Vec<u8> {
    // validate() bounds both timeouts to u32 milliseconds.
    let ms = |d: std::time::Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
    let mut sp = ServiceParams::f_port(
        cfg.fabric_name.wwpn,
        cfg.fabric_name.wwnn,
        ms(cfg.r_a_tov),
        ms(cfg.e_d_tov),
    );
    sp.csp.bb_credit.set(cfg.bb_credit);
    LoginPayload::new(els_cmd::LS_ACC, sp).as_bytes().to_vec()
}

/// What the fabric needs of a PRLI request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PrliReq {
    /// A PRLI with an FC-NVMe service parameter page.
    Nvme,
    /// A well-formed PRLI for another FC-4 type only.
    OtherType,
}

/// Classifies a PRLI request; `None` when it does not decode.
pub(crate) fn nvme_prli_request(payload: &[u8]) -> Option<PrliReq> {
    match NvmePrli::parse(payload) {
        Ok(p) if p.header.cmd == els_cmd::PRLI => Some(PrliReq::Nvme),
        Ok(_) => None,
        Err(FcError::BadField {
            field: "FC-4 type", ..
        }) => Some(PrliReq::OtherType),
        Err(_) => None,
    }
}

/// The NVMe PRLI ACC of a target: request executed, the target function bit
/// and, for a discovery controller, the discovery bit.
pub(crate) fn nvme_prli_acc(discovery: bool) -> Vec<u8> {
    let sp = nvme_sp::TARGET | if discovery { nvme_sp::DISCOVERY } else { 0 };
    NvmePrli::accept(response_code::EXECUTED, sp, 0)
        .as_bytes()
        .to_vec()
}

/// A LOGO from the N_Port `id` named `wwpn`.
pub(crate) fn logo(id: u32, wwpn: Wwn) -> Vec<u8> {
    Logo::new(id, wwpn).as_bytes().to_vec()
}

/// The registration function of an SCR request.
pub(crate) fn scr_registration(payload: &[u8]) -> Option<u8> {
    Scr::parse(payload).ok().map(|s| s.function)
}

/// An RSCN with one port-address page per affected N_Port ID.
pub(crate) fn rscn(ids: &[u32]) -> Vec<u8> {
    let pages: Vec<RscnPage> = ids.iter().map(|&id| RscnPage::port(id)).collect();
    // The fabric sends one page per event, far below the 527-page limit.
    build_rscn(&pages).unwrap_or_default()
}

/// The BA_ACC to an ABTS for the whole exchange `ox_id`/`rx_id`.
pub(crate) fn ba_acc(ox_id: u16, rx_id: u16) -> Vec<u8> {
    BaAcc::whole_exchange(ox_id, rx_id).as_bytes().to_vec()
}
