//! ELS and CT exchanges on the ELS WQ (sli4.md §5.3-§5.5): requests wait for
//! their WCQE (the management path is sequential), responses to unsolicited
//! ELSs are sent and left to complete on their own.

use super::error::HbaError;
use super::port::Port;
use super::xri::{Completion, RSP_LEN};
use crate::fc::ct::CtResponse;
use crate::fc::els::els_cmd;
use crate::fc::header::{fc_type, r_ctl};
use crate::fc::ls_rjt::LsRjt;
use crate::sli4::cqe::{local_reject, wcqe_status};
use crate::sli4::wqe::{
    xmit_seq, Context, ElsRequest, GenRequest, Wqe, XmitBlsRsp, XmitElsRsp, XmitSequence,
};

/// Where an ELS request goes and in which context (§5.3 table).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ElsDest {
    pub d_id: u32,
    pub context: Context,
    pub temp_rpi: u16,
    pub s_id: Option<u32>,
    pub els_id: u32,
}

/// R_CTL, TYPE, bound and response room of a GEN_REQUEST64.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GenSequence {
    pub r_ctl: u8,
    pub fc_type: u8,
    pub timeout: std::time::Duration,
    pub rsp_max: usize,
}

/// How an ELS request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ElsReply {
    /// LS_ACC with its payload; `parameter` is WCQE dword 2 (the D_ID of a FLOGI ACC).
    Acc { payload: Vec<u8>, parameter: u32 },
    /// LS_RJT.
    Rjt { reason: u8, explanation: u8 },
}

fn wcqe_failure(c: &Completion) -> String {
    let what = match c.status {
        wcqe_status::LOCAL_REJECT => match c.parameter as u8 {
            local_reject::SEQUENCE_TIMEOUT => "local reject: sequence timeout",
            local_reject::INVALID_RPI => "local reject: invalid RPI",
            local_reject::NO_XRI => "local reject: no XRI",
            local_reject::LINK_DOWN => "local reject: link down",
            local_reject::ABORT_REQUESTED => "local reject: aborted",
            _ => "local reject",
        },
        wcqe_status::NPORT_REJECT => "N_Port reject (P_RJT)",
        wcqe_status::FABRIC_REJECT => "fabric reject (F_RJT)",
        wcqe_status::NPORT_BUSY => "N_Port busy",
        wcqe_status::FABRIC_BUSY => "fabric busy",
        _ => "WCQE error",
    };
    format!(
        "{what} (status {:#04x}, parameter {:#010x})",
        c.status, c.parameter
    )
}

/// A reject's codes as text.
pub(crate) fn rjt_text(reason: u8, explanation: u8) -> String {
    format!("LS_RJT reason {reason:#04x} explanation {explanation:#04x}")
}

impl Port {
    /// Sends an ELS request and waits for its reply.
    pub fn els_request(
        &mut self,
        dest: ElsDest,
        payload: &[u8],
        request: &'static str,
    ) -> Result<ElsReply, HbaError> {
        let tag = self.xris.take().ok_or(HbaError::Exhausted {
            device: self.name.clone(),
            what: "ELS exchanges (XRIs)",
        })?;
        let sent = (|| {
            let bde = self.xris.prepare(&self.arena, tag, payload, RSP_LEN)?;
            let xri = self.xris.get(tag).map_or(0, |x| x.xri);
            let wqe = ElsRequest {
                xri,
                context: dest.context,
                request_tag: tag,
                temp_rpi: dest.temp_rpi,
                payload: bde,
                max_rsp_len: RSP_LEN as u32,
                s_id: dest.s_id,
                d_id: dest.d_id,
                els_id: dest.els_id,
                timer: 0,
            }
            .build();
            self.post_wqe(wqe)
        })();
        if let Err(e) = sent {
            self.release_unsent(tag);
            return Err(e);
        }
        let timeout = self.cfg.els_timeout;
        let c = self.wait_exchange(tag, request, dest.d_id, timeout)?;
        self.els_outcome(tag, &c, request, dest.d_id)
    }

    fn els_outcome(
        &mut self,
        tag: u16,
        c: &Completion,
        request: &'static str,
        d_id: u32,
    ) -> Result<ElsReply, HbaError> {
        match c.status {
            wcqe_status::SUCCESS => {
                let payload = self.response(tag, c.rsp_len)?;
                match payload.first() {
                    Some(&els_cmd::LS_ACC) => Ok(ElsReply::Acc {
                        payload,
                        parameter: c.parameter,
                    }),
                    Some(&els_cmd::LS_RJT) => {
                        let r = LsRjt::parse(&payload)
                            .map_err(|e| self.bad(format!("{request}: {e}")))?;
                        Ok(ElsReply::Rjt {
                            reason: r.reason,
                            explanation: r.explanation,
                        })
                    }
                    _ => Err(self.bad(format!(
                        "{request} to {d_id:#08x}: reply is neither LS_ACC nor LS_RJT ({} bytes)",
                        payload.len()
                    ))),
                }
            }
            // The port reports an LS_RJT in the WCQE; the parameter carries
            // the LS_RJT word (LPFC reads reason and explanation from it).
            wcqe_status::LS_RJT => Ok(ElsReply::Rjt {
                reason: (c.parameter >> 16) as u8,
                explanation: (c.parameter >> 8) as u8,
            }),
            _ => Err(HbaError::ExchangeFailed {
                device: self.name.clone(),
                request,
                d_id,
                how: wcqe_failure(c),
            }),
        }
    }

    /// Sends a CT request to the name server through its RPI (§5.4) and
    /// returns the whole CT response.
    pub fn ct_request(
        &mut self,
        rpi: u16,
        d_id: u32,
        payload: &[u8],
        request: &'static str,
    ) -> Result<Vec<u8>, HbaError> {
        let timeout = self.cfg.els_timeout;
        let seq = GenSequence {
            r_ctl: r_ctl::UNSOL_CTL,
            fc_type: fc_type::CT,
            timeout,
            rsp_max: RSP_LEN,
        };
        self.gen_request(rpi, d_id, payload, seq, request)
    }

    /// GEN_REQUEST64 (§5.4): one request sequence to the port registered as
    /// `rpi`, waiting for the response sequence.
    pub fn gen_request(
        &mut self,
        rpi: u16,
        d_id: u32,
        payload: &[u8],
        seq: GenSequence,
        request: &'static str,
    ) -> Result<Vec<u8>, HbaError> {
        let tag = self.xris.take().ok_or(HbaError::Exhausted {
            device: self.name.clone(),
            what: "ELS exchanges (XRIs)",
        })?;
        let rsp_max = seq.rsp_max.min(RSP_LEN);
        let sent = (|| {
            let bde = self.xris.prepare(&self.arena, tag, payload, rsp_max)?;
            let xri = self.xris.get(tag).map_or(0, |x| x.xri);
            let wqe = GenRequest {
                xri,
                rpi,
                request_tag: tag,
                payload: bde,
                max_rsp_len: rsp_max as u32,
                r_ctl: seq.r_ctl,
                fc_type: seq.fc_type,
                timer: 0,
            }
            .build();
            self.post_wqe(wqe)
        })();
        if let Err(e) = sent {
            self.release_unsent(tag);
            return Err(e);
        }
        let c = self.wait_exchange(tag, request, d_id, seq.timeout)?;
        if c.status != wcqe_status::SUCCESS {
            return Err(HbaError::ExchangeFailed {
                device: self.name.clone(),
                request,
                d_id,
                how: wcqe_failure(&c),
            });
        }
        self.response(tag, c.rsp_len)
    }

    /// Gives back an exchange whose WQE was never posted.
    fn release_unsent(&mut self, tag: u16) {
        self.xris.detach(tag);
        let _ = self.xris.complete(
            tag,
            Completion {
                status: 0,
                parameter: 0,
                rsp_len: 0,
                xb: false,
            },
        );
    }

    /// Sends a CT request and requires an FS_ACC; returns the accept payload.
    pub fn ct_accept(
        &mut self,
        rpi: u16,
        d_id: u32,
        payload: &[u8],
        request: &'static str,
    ) -> Result<Vec<u8>, HbaError> {
        let rsp = self.ct_request(rpi, d_id, payload, request)?;
        match CtResponse::parse(&rsp) {
            Ok((_, CtResponse::Accept(p))) => Ok(p.to_vec()),
            Ok((
                _,
                CtResponse::Reject {
                    reason,
                    explanation,
                },
            )) => Err(HbaError::LoginRejected {
                device: self.name.clone(),
                request,
                d_id,
                how: format!("FS_RJT reason {reason:#04x} explanation {explanation:#04x}"),
                hint: "check the switch's name-server configuration and zoning",
            }),
            Err(e) => Err(self.bad(format!("{request}: {e}"))),
        }
    }

    /// Sends `payload` as the reply (XMIT_ELS_RSP64) to the exchange `ox_id`
    /// of `d_id` (§5.5). Does not wait for its completion.
    pub fn els_response(
        &mut self,
        d_id: u32,
        ox_id: u16,
        context: Context,
        temp_rpi: u16,
        payload: &[u8],
    ) -> Result<(), HbaError> {
        self.post_response(|port, tag, xri| {
            Ok(XmitElsRsp {
                xri,
                context,
                request_tag: tag,
                ox_id,
                temp_rpi,
                payload: port.xris.prepare(&port.arena, tag, payload, 0)?,
                s_id: None,
                d_id,
            }
            .build())
        })
    }

    /// Sends a BLS answer (XMIT_BLS_RSP, BA_ACC or BA_RJT) to an ABTS
    /// (§5.5); `wqe` names everything but the exchange it goes out on,
    /// which comes from the ELS pool. Does not wait for its completion.
    pub fn bls_response(&mut self, mut wqe: XmitBlsRsp) -> Result<(), HbaError> {
        self.post_response(|_, tag, xri| {
            (wqe.xri, wqe.request_tag) = (xri, tag);
            Ok(wqe.build())
        })
    }

    /// Sends `payload` as the one-sequence answer (XMIT_SEQUENCE64, LS set)
    /// to the exchange `ox_id` that `d_id`, logged in as `rpi`, opened with
    /// an FC-4 request (§5.5): the response to an NVMe LS a target sent.
    /// Does not wait for its completion.
    pub fn sequence_response(
        &mut self,
        rpi: u16,
        d_id: u32,
        ox_id: u16,
        (r_ctl, fc_type): (u8, u8),
        payload: &[u8],
    ) -> Result<(), HbaError> {
        self.post_response(|port, tag, xri| {
            Ok(XmitSequence {
                xri,
                rpi,
                request_tag: tag,
                ox_id,
                d_id,
                payload: port.xris.prepare(&port.arena, tag, payload, 0)?,
                r_ctl,
                fc_type,
                flags: xmit_seq::LS,
            }
            .build())
        })
    }

    /// Posts a response on an ELS exchange nobody waits for (its completion
    /// frees it): `build` makes the WQE for the exchange's request tag and
    /// XRI. An exchange whose WQE is not posted (its payload did not fit,
    /// a DMA write failed, the WQ is full) goes back to the pool.
    fn post_response(
        &mut self,
        build: impl FnOnce(&Self, u16, u16) -> Result<Wqe, HbaError>,
    ) -> Result<(), HbaError> {
        let tag = self.xris.take().ok_or(HbaError::Exhausted {
            device: self.name.clone(),
            what: "ELS exchanges (XRIs)",
        })?;
        self.xris.detach(tag);
        let xri = self.xris.get(tag).map_or(0, |x| x.xri);
        let sent = build(self, tag, xri).and_then(|wqe| self.post_wqe(wqe));
        if let Err(e) = sent {
            self.release_unsent(tag);
            return Err(e);
        }
        Ok(())
    }

    fn bad(&self, what: String) -> HbaError {
        HbaError::BadResponse {
            device: self.name.clone(),
            what,
        }
    }
}
