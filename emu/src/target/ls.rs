//! The target's LS service (nvme-fc.md §4.3, §3.7, A.2), after Linux nvmet-fc:
//! Create Association, Create I/O Connection, Disconnect Association; Disconnect
//! Connection is rejected with INVAL as nvmet-fc does (it has no handler for it).
//! Malformed requests get the reject [`LsRequest::decode`] chose.

use ufc_transport::wire::ls::{
    encode_disconnect_assoc_acc, encode_ls_rjt, LsRjtError, RjtExplanation, RjtReason,
};
use ufc_transport::wire::ls_target::{encode_create_assoc_acc, encode_create_conn_acc, LsRequest};
use ufc_transport::wwn::FcAddr;

use crate::target::assoc::AssocParams;
use crate::target::port::TargetPort;

/// Answers one LS request from `host`.
pub(crate) fn handle(port: &TargetPort, host: FcAddr, payload: &[u8]) -> Vec<u8> {
    let req = match LsRequest::decode(payload) {
        Ok(r) => r,
        Err(rjt) => return rjt.encode(),
    };
    let code = req.ls_cmd();
    let rjt = |reason: RjtReason, explanation: RjtExplanation| {
        LsRjtError::new(code, reason, explanation).encode()
    };
    match req {
        LsRequest::CreateAssoc {
            ersp_ratio,
            sqsize,
            hostid,
            hostnqn,
            subnqn,
            ..
        } => {
            let params = AssocParams {
                host,
                hostnqn,
                hostid,
                subnqn,
            };
            match port.create_association(params, sqsize, ersp_ratio) {
                Some((assoc_id, conn_id)) => encode_create_assoc_acc(assoc_id, conn_id),
                // Linux answers every allocation failure with LOGIC.
                None => rjt(RjtReason::LOGIC, RjtExplanation::NONE),
            }
        }
        LsRequest::CreateConn {
            association_id,
            ersp_ratio,
            qid,
            sqsize,
        } => match port.create_connection(association_id, qid, sqsize, ersp_ratio) {
            Ok(conn_id) => encode_create_conn_acc(conn_id),
            Err(reason) => rjt(reason, RjtExplanation::NONE),
        },
        LsRequest::DisconnectAssoc { association_id } => {
            if port.disconnect_from_host(association_id) {
                encode_disconnect_assoc_acc()
            } else {
                rjt(RjtReason::INV_ASSOC, RjtExplanation::NONE)
            }
        }
        LsRequest::DisconnectConn { .. } => rjt(RjtReason::INVAL, RjtExplanation::NONE),
    }
}

/// An LS_RJT answering `request` (its first byte names the LS); used by fcloop's
/// `fail_next_ls` to fake a reject.
pub fn reject_for_request(request: &[u8], reason: u8, explanation: u8) -> Vec<u8> {
    let code = request.first().copied().unwrap_or(0);
    encode_ls_rjt(code, RjtReason(reason), RjtExplanation(explanation))
}
