//! The fabric's own services at the well-known addresses (sli4.md §6.1):
//! the F_Port login server (0xFFFFFE: FLOGI, fabric LOGO), the directory
//! (0xFFFFFC: PLOGI, LOGO and the name-server CT commands) and the fabric
//! controller (0xFFFFFD: SCR; RSCN when ports join or leave).

use std::time::Duration;

use ufc_hba::fc::ct::{ct_reason, ns_explanation, CtHeader, CT_HEADER_LEN};
use ufc_hba::fc::els::els_cmd;
use ufc_hba::fc::error::FcError;
use ufc_hba::fc::frame::Frame;
use ufc_hba::fc::header::{fc_type, r_ctl, FcHeader, FC_MAX_PAYLOAD};
use ufc_hba::fc::nameserver::{
    gid_accept, ns_accept, ns_reject, Fc4Types, NsRequest, GID_ENTRY_LEN,
};
use ufc_hba::fc::scr::scr_function;

use crate::fabric::config::{FabricConfig, FC4_TYPE_NVME};
use crate::fabric::switch::{Attached, SwitchState};
use crate::fabric::wire::{self, Rjt};
use crate::fabric::{FABRIC_CTRL_DID, NAME_SERVER_DID};

/// The answer to `req` from the service it was addressed to.
fn reply(st: &mut SwitchState, req: &Frame, d_id: u32, r_ctl: u8, payload: Vec<u8>) -> Frame {
    let mut h = FcHeader::reply_to(&req.header, r_ctl, st.alloc_xid());
    h.set_d_id(d_id);
    Frame::new(h, payload)
}

/// A single-frame ELS request from the service at `s_id`.
pub(crate) fn els_request(st: &mut SwitchState, d_id: u32, s_id: u32, payload: Vec<u8>) -> Frame {
    let ox_id = st.alloc_xid();
    Frame::new(
        FcHeader::request(r_ctl::ELS_REQ, fc_type::ELS, d_id, s_id, ox_id),
        payload,
    )
}

fn is_els(f: &Frame) -> bool {
    f.header.r_ctl == r_ctl::ELS_REQ && f.header.fc_type == fc_type::ELS
}

/// 0xFFFFFE: FLOGI assigns the F_Port's N_Port ID; LOGO ends the fabric login.
pub(crate) fn login_server(
    st: &mut SwitchState,
    cfg: &FabricConfig,
    now: Duration,
    i: usize,
    frame: Frame,
) {
    let logged_in = st.ports[i].logged_in;
    let id = st.ports[i].id;
    match (is_els(&frame), wire::els_command(&frame)) {
        (true, Some(els_cmd::FLOGI)) => {
            let Some(names) = wire::plogi_names(&frame.payload) else {
                let rjt = reply(
                    st,
                    &frame,
                    frame.header.s_id(),
                    r_ctl::ELS_REP,
                    wire::ls_rjt(Rjt::BAD_PAYLOAD),
                );
                st.deliver_to_port(now, i, rjt);
                return;
            };
            // FLOGI while logged in is an implicit logout first (FC-LS).
            st.implicit_logout(now, i);
            st.ports[i].logged_in = true;
            st.ns.login(id, names);
            let acc = wire::flogi_acc(cfg);
            let f = reply(st, &frame, id, r_ctl::ELS_REP, acc);
            st.deliver(now, f);
            send_rscn(st, now, id);
        }
        (true, Some(els_cmd::LOGO)) if logged_in && frame.header.s_id() == id => {
            let f = reply(st, &frame, id, r_ctl::ELS_REP, wire::els_acc());
            st.deliver(now, f);
            st.implicit_logout(now, i);
        }
        (true, Some(_)) if logged_in && frame.header.s_id() == id => {
            let f = reply(
                st,
                &frame,
                id,
                r_ctl::ELS_REP,
                wire::ls_rjt(Rjt::NOT_SUPPORTED),
            );
            st.deliver(now, f);
        }
        _ => st.stats.dropped_bad_s_id += 1,
    }
}

/// 0xFFFFFC: PLOGI/LOGO with the directory, then the name-server CT commands.
pub(crate) fn directory(
    st: &mut SwitchState,
    cfg: &FabricConfig,
    now: Duration,
    i: usize,
    frame: Frame,
) {
    let id = st.ports[i].id;
    if is_els(&frame) {
        let payload = match wire::els_command(&frame) {
            Some(els_cmd::PLOGI) if wire::plogi_names(&frame.payload).is_none() => {
                wire::ls_rjt(Rjt::BAD_PAYLOAD)
            }
            Some(els_cmd::PLOGI) => {
                st.ns_logins.insert(id);
                // The directory answers with the switch's names.
                wire::n_port_plogi_acc(cfg.fabric_name)
            }
            Some(els_cmd::LOGO) => {
                st.ns_logins.remove(&id);
                wire::els_acc()
            }
            _ => wire::ls_rjt(Rjt::NOT_SUPPORTED),
        };
        let f = reply(st, &frame, id, r_ctl::ELS_REP, payload);
        st.deliver(now, f);
        return;
    }
    if frame.header.r_ctl != r_ctl::UNSOL_CTL || frame.header.fc_type != fc_type::CT {
        st.stats.dropped_unsupported += 1;
        return;
    }
    if !st.ns_logins.contains(&id) {
        // CT needs a PLOGI with the directory first; discard and say so with LOGO.
        st.stats.dropped_not_logged_in += 1;
        let logo = els_request(
            st,
            id,
            NAME_SERVER_DID,
            wire::logo(NAME_SERVER_DID, cfg.fabric_name.wwpn),
        );
        st.deliver(now, logo);
        return;
    }
    let Ok((hdr, _)) = CtHeader::parse(&frame.payload) else {
        st.stats.dropped_unsupported += 1;
        return;
    };
    let payload = match NsRequest::parse(&frame.payload) {
        Ok((_, req)) => name_server_command(st, id, req, &hdr),
        Err(FcError::Truncated { .. } | FcError::BadLength { .. }) => {
            ns_reject(&hdr, ct_reason::INVALID_IU_SIZE, ns_explanation::NONE)
        }
        // Another GS type or subtype: not a service this address offers.
        Err(FcError::BadField { .. }) => {
            ns_reject(&hdr, ct_reason::CMD_NOT_SUPPORTED, ns_explanation::NONE)
        }
    };
    let f = reply(st, &frame, id, r_ctl::SOL_CTL, payload);
    st.deliver(now, f);
}

/// GID entries that fit one frame after the CT preamble. The fabric sends
/// single-frame sequences, so a longer list is cut here (not modelled: the
/// requester's max residual size and a partial-response residual).
const MAX_GID_ENTRIES: usize = (FC_MAX_PAYLOAD - CT_HEADER_LEN) / GID_ENTRY_LEN;

fn name_server_command(
    st: &mut SwitchState,
    sender: u32,
    req: NsRequest,
    hdr: &CtHeader,
) -> Vec<u8> {
    let bad_port_id = || {
        ns_reject(
            hdr,
            ct_reason::UNABLE_TO_PERFORM,
            ns_explanation::INVALID_PORT_ID,
        )
    };
    match req {
        // A port registers for itself only.
        NsRequest::RftId { port_id, .. } | NsRequest::RffId { port_id, .. }
            if port_id != sender =>
        {
            bad_port_id()
        }
        NsRequest::RftId { port_id, types } => match st.ns.register_types(port_id, types) {
            Ok(()) => ns_accept(hdr),
            Err(_) => bad_port_id(),
        },
        NsRequest::RffId {
            port_id,
            fc4_type,
            features,
        } => match st.ns.register_features(port_id, fc4_type, features) {
            Ok(()) => ns_accept(hdr),
            Err(_) => bad_port_id(),
        },
        NsRequest::GidFt {
            fc4_type,
            domain_scope,
            area_scope,
        } => {
            let mut ids = st.ns.gid_ft(fc4_type, domain_scope, area_scope);
            ids.truncate(MAX_GID_ENTRIES);
            // Switches answer an empty list with a reject, not an empty accept.
            gid_accept(hdr, &ids).unwrap_or_else(|| {
                ns_reject(
                    hdr,
                    ct_reason::UNABLE_TO_PERFORM,
                    ns_explanation::FC4_TYPES_NOT_REGISTERED,
                )
            })
        }
        NsRequest::GidPt {
            port_type,
            domain_scope,
            area_scope,
        } => {
            let mut ids = st.ns.gid_pt(port_type, domain_scope, area_scope);
            ids.truncate(MAX_GID_ENTRIES);
            gid_accept(hdr, &ids).unwrap_or_else(|| {
                ns_reject(
                    hdr,
                    ct_reason::UNABLE_TO_PERFORM,
                    ns_explanation::PORT_TYPE_NOT_REGISTERED,
                )
            })
        }
        NsRequest::Other { .. } => {
            ns_reject(hdr, ct_reason::CMD_NOT_SUPPORTED, ns_explanation::NONE)
        }
    }
}

/// 0xFFFFFD: SCR registers for RSCN; ACCs to the fabric's RSCNs are counted.
pub(crate) fn fabric_controller(st: &mut SwitchState, now: Duration, i: usize, frame: Frame) {
    let id = st.ports[i].id;
    if frame.header.r_ctl == r_ctl::ELS_REP && frame.header.fc_type == fc_type::ELS {
        st.stats.acc_received += 1;
        return;
    }
    if !is_els(&frame) {
        st.stats.dropped_unsupported += 1;
        return;
    }
    let payload = match (
        wire::els_command(&frame),
        wire::scr_registration(&frame.payload),
    ) {
        (Some(els_cmd::SCR), Some(scr_function::CLEAR)) => {
            st.scr.remove(&id);
            wire::els_acc()
        }
        (Some(els_cmd::SCR), Some(f @ scr_function::FABRIC_DETECTED..=scr_function::FULL)) => {
            st.scr.insert(id, f);
            wire::els_acc()
        }
        (Some(els_cmd::SCR), _) => wire::ls_rjt(Rjt::BAD_PAYLOAD),
        _ => wire::ls_rjt(Rjt::NOT_SUPPORTED),
    };
    let f = reply(st, &frame, id, r_ctl::ELS_REP, payload);
    st.deliver(now, f);
}

/// RSCN for `affected` (port address format) to every port registered for
/// fabric-detected events, except `affected` itself.
pub(crate) fn send_rscn(st: &mut SwitchState, now: Duration, affected: u32) {
    let to: Vec<u32> = st
        .scr
        .iter()
        .filter(|(id, f)| {
            **id != affected && (**f == scr_function::FABRIC_DETECTED || **f == scr_function::FULL)
        })
        .map(|(id, _)| *id)
        .collect();
    for d_id in to {
        let f = els_request(st, d_id, FABRIC_CTRL_DID, wire::rscn(&[affected]));
        st.stats.rscn_sent += 1;
        st.deliver(now, f);
    }
}

/// Target port on F_Port `j` logs in to the fabric and registers its FC-4 types
/// and, for NVMe, its features with the name server.
pub(crate) fn target_online(st: &mut SwitchState, now: Duration, j: usize) {
    if st.ports[j].logged_in {
        return;
    }
    let (id, addr) = (st.ports[j].id, st.ports[j].addr);
    let Attached::Target(t) = &st.ports[j].attached else {
        return;
    };
    let types = t.fc4_types.clone();
    let features = t.nvme_features();
    st.ports[j].logged_in = true;
    st.ns.login(id, addr);
    // The entry was just created: registration cannot fail.
    let _ = st.ns.register_types(id, Fc4Types::from_types(&types));
    if types.contains(&FC4_TYPE_NVME) {
        let _ = st.ns.register_features(id, FC4_TYPE_NVME, features);
    }
    send_rscn(st, now, id);
}

/// Target port on F_Port `j` leaves the fabric: its logins end, the name server
/// forgets it, registered ports get an RSCN.
pub(crate) fn target_offline(st: &mut SwitchState, now: Duration, j: usize) {
    if let Some(t) = st.target_mut(j) {
        t.all_gone();
    }
    st.implicit_logout(now, j);
}
