//! The target's side of the FC-NVMe LSs: decoding a received request with the
//! checks the Linux target applies (nvme-fc.md §4.3, §4.5, App. A.2) and building
//! the accepts (§4.3). Rejects are [`LsRjtError`] / [`encode_ls_rjt`].
//!
//! Reason codes follow Linux nvmet-fc: every malformed request is RJT LOGIC, an
//! unknown LS code RJT INVAL. Where Linux sends explanation NONE we send the
//! explanation FC-NVME-2 defines for the fault (INV_LEN, INV_ERSP_RAT); the Linux
//! host ignores it.
//!
//! [`encode_ls_rjt`]: super::ls::encode_ls_rjt

use zerocopy::IntoBytes;

use super::error::WireError;
use super::ls::{
    check, check_desc, desc_tag, ls_cmd, nqn_from_field, read_padded, read_prefix,
    validate_disconnect_assoc, AssocIdDesc, ConnIdDesc, CreateAssocAccIu, CreateAssocRqst,
    CreateConnAccIu, CreateConnRqst, DisconnConnRqst, LsHdr, LsRjtError, RjtExplanation, RjtReason,
    RqstDesc,
};

/// Smallest Create Association the Linux target takes: header plus the
/// descriptor up to the end of subnqn (8 + 584; the r1.14 form is accepted).
pub const CREATE_ASSOC_MIN_LEN: usize = 8 + 584;

/// Largest LS request the Linux target accepts (the Create Association size,
/// `sizeof(union nvmefc_ls_requests)`); a longer one is dropped by the receive
/// path (`-E2BIG`) before any decoding, without an LS_RJT.
pub const LS_REQUEST_MAX_LEN: usize = core::mem::size_of::<CreateAssocRqst>();

/// A received LS request, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LsRequest {
    /// Create Association (§4.3).
    CreateAssoc {
        /// ERSP ratio of the admin queue; 0 < ersp_ratio < sqsize.
        ersp_ratio: u16,
        /// Admin SQ size, 0's based.
        sqsize: u16,
        /// Requested controller id (0xFFFF = dynamic).
        cntlid: u16,
        /// Host id.
        hostid: [u8; 16],
        /// Host NQN (informational; Connect carries the authoritative one).
        hostnqn: String,
        /// Subsystem NQN.
        subnqn: String,
    },
    /// Create I/O Connection (§4.3). An unknown association is the caller's
    /// check: reject with [`RjtReason::INV_ASSOC`].
    CreateConn {
        /// The association the queue joins.
        association_id: u64,
        /// ERSP ratio; 0 < ersp_ratio < sqsize.
        ersp_ratio: u16,
        /// Queue id.
        qid: u16,
        /// SQ size, 0's based.
        sqsize: u16,
    },
    /// Disconnect Association (§4.5).
    DisconnectAssoc {
        /// The association to tear down.
        association_id: u64,
    },
    /// Disconnect Connection (FC-NVME-2): ASSOC_ID then CONN_ID, 40 bytes in the
    /// current Linux header (an older one had a 24-byte DISCONN_CMD there, 48
    /// bytes; both decode). Linux nvmet rejects it with INVAL; a target may
    /// answer [`RjtReason::UNSUP`].
    DisconnectConn {
        /// The association the connection belongs to.
        association_id: u64,
        /// The connection, when the second descriptor is a CONN_ID descriptor.
        connection_id: Option<u64>,
    },
}

fn logic(code: u8, e: &WireError) -> LsRjtError {
    let explanation = match e {
        WireError::Truncated { .. } | WireError::BadLength { .. } => RjtExplanation::INV_LEN,
        WireError::BadField { field, .. } if field.ends_with("len") => RjtExplanation::INV_LEN,
        _ => RjtExplanation::NONE,
    };
    LsRjtError::new(code, RjtReason::LOGIC, explanation)
}

fn check_ersp_ratio(code: u8, ersp_ratio: u16, sqsize: u16) -> Result<(), LsRjtError> {
    if ersp_ratio == 0 || ersp_ratio >= sqsize {
        return Err(LsRjtError::new(
            code,
            RjtReason::LOGIC,
            RjtExplanation::INV_ERSP_RAT,
        ));
    }
    Ok(())
}

impl LsRequest {
    /// Decodes and validates a received LS request; the error is the reject to
    /// send.
    ///
    /// * Create Association: length ≥ 592, desc_list_len ≥ 584, tag 3,
    ///   desc_len ≥ 576, 0 < ersp_ratio < sqsize.
    /// * Create I/O Connection: length ≥ 80, desc_list_len == 72, ASSOC_ID tag 7 /
    ///   len 8, CREATE_CONN_CMD tag 4 / len 48 exactly, 0 < ersp_ratio < sqsize.
    /// * Disconnect Association: as §4.5.
    /// * Disconnect Connection: length ≥ 40, ASSOC_ID descriptor valid; the
    ///   connection id when the second descriptor is CONN_ID.
    /// * any other code: RJT INVAL.
    pub fn decode(payload: &[u8]) -> Result<LsRequest, LsRjtError> {
        let code = payload.first().copied().unwrap_or(0);
        match code {
            ls_cmd::CREATE_ASSOC => decode_create_assoc(payload),
            ls_cmd::CREATE_CONN => decode_create_conn(payload),
            ls_cmd::DISCONN_ASSOC => validate_disconnect_assoc(payload)
                .map(|association_id| LsRequest::DisconnectAssoc { association_id })
                .map_err(|e| logic(code, &e)),
            ls_cmd::DISCONN_CONN => decode_disconnect_conn(payload).map_err(|e| logic(code, &e)),
            _ => Err(LsRjtError::new(
                code,
                RjtReason::INVAL,
                RjtExplanation::NONE,
            )),
        }
    }

    /// The LS command code of the request.
    pub fn ls_cmd(&self) -> u8 {
        match self {
            LsRequest::CreateAssoc { .. } => ls_cmd::CREATE_ASSOC,
            LsRequest::CreateConn { .. } => ls_cmd::CREATE_CONN,
            LsRequest::DisconnectAssoc { .. } => ls_cmd::DISCONN_ASSOC,
            LsRequest::DisconnectConn { .. } => ls_cmd::DISCONN_CONN,
        }
    }
}

fn decode_create_assoc(payload: &[u8]) -> Result<LsRequest, LsRjtError> {
    const WHAT: &str = "Create Association";
    let code = ls_cmd::CREATE_ASSOC;
    if payload.len() < CREATE_ASSOC_MIN_LEN {
        let e = WireError::Truncated {
            what: WHAT,
            len: payload.len(),
            need: CREATE_ASSOC_MIN_LEN,
        };
        return Err(logic(code, &e));
    }
    // The pad after subnqn is optional (r1.14 senders): read what is there.
    let rq: CreateAssocRqst = read_padded(payload);
    let list_len = rq.hdr.desc_list_len.get();
    if list_len < 584 || rq.cmd.hdr.len.get() < 576 {
        return Err(LsRjtError::new(
            code,
            RjtReason::LOGIC,
            RjtExplanation::INV_LEN,
        ));
    }
    check_desc_tag(WHAT, rq.cmd.hdr.tag.get(), desc_tag::CREATE_ASSOC_CMD)
        .map_err(|e| logic(code, &e))?;
    let (ersp_ratio, sqsize) = (rq.cmd.ersp_ratio.get(), rq.cmd.sqsize.get());
    check_ersp_ratio(code, ersp_ratio, sqsize)?;
    Ok(LsRequest::CreateAssoc {
        ersp_ratio,
        sqsize,
        cntlid: rq.cmd.cntlid.get(),
        hostid: rq.cmd.hostid,
        hostnqn: nqn_from_field(&rq.cmd.hostnqn),
        subnqn: nqn_from_field(&rq.cmd.subnqn),
    })
}

fn check_desc_tag(what: &'static str, tag: u32, expected: u32) -> Result<(), WireError> {
    check(what, "desc_tag", tag.into(), expected.into())
}

fn decode_create_conn(payload: &[u8]) -> Result<LsRequest, LsRjtError> {
    const WHAT: &str = "Create Connection";
    let code = ls_cmd::CREATE_CONN;
    let rq: CreateConnRqst = read_prefix(WHAT, payload).map_err(|e| logic(code, &e))?;
    let checks = || -> Result<(), WireError> {
        check(WHAT, "desc_list_len", rq.hdr.desc_list_len.get().into(), 72)?;
        check_desc(WHAT, &rq.assoc.hdr, desc_tag::ASSOC_ID, 16)?;
        check_desc(WHAT, &rq.cmd.hdr, desc_tag::CREATE_CONN_CMD, 56)
    };
    checks().map_err(|e| logic(code, &e))?;
    let (ersp_ratio, sqsize) = (rq.cmd.ersp_ratio.get(), rq.cmd.sqsize.get());
    check_ersp_ratio(code, ersp_ratio, sqsize)?;
    Ok(LsRequest::CreateConn {
        association_id: rq.assoc.association_id.get(),
        ersp_ratio,
        qid: rq.cmd.qid.get(),
        sqsize,
    })
}

fn decode_disconnect_conn(payload: &[u8]) -> Result<LsRequest, WireError> {
    const WHAT: &str = "Disconnect Connection";
    let rq: DisconnConnRqst = read_prefix(WHAT, payload)?;
    check_desc(WHAT, &rq.assoc.hdr, desc_tag::ASSOC_ID, 16)?;
    let conn = &rq.conn;
    let connection_id = (conn.hdr.tag.get() == desc_tag::CONN_ID && conn.hdr.len.get() == 8)
        .then(|| conn.connection_id.get());
    Ok(LsRequest::DisconnectConn {
        association_id: rq.assoc.association_id.get(),
        connection_id,
    })
}

/// Create Association ACC (56 bytes; desc_list_len 48).
pub fn encode_create_assoc_acc(association_id: u64, connection_id: u64) -> Vec<u8> {
    let acc = CreateAssocAccIu {
        hdr: LsHdr::new(ls_cmd::ACC, core::mem::size_of::<CreateAssocAccIu>()),
        rqst: RqstDesc::new(ls_cmd::CREATE_ASSOC),
        assoc: AssocIdDesc::new(association_id),
        conn: ConnIdDesc::new(connection_id),
    };
    acc.as_bytes().to_vec()
}

/// Create I/O Connection ACC (40 bytes; desc_list_len 32).
pub fn encode_create_conn_acc(connection_id: u64) -> Vec<u8> {
    let acc = CreateConnAccIu {
        hdr: LsHdr::new(ls_cmd::ACC, core::mem::size_of::<CreateConnAccIu>()),
        rqst: RqstDesc::new(ls_cmd::CREATE_CONN),
        conn: ConnIdDesc::new(connection_id),
    };
    acc.as_bytes().to_vec()
}

pub use super::ls::encode_disconnect_assoc_acc;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ls_host::{
        encode_create_assoc, encode_create_conn, encode_disconnect_assoc, CreateAssocAcc,
        CreateAssocParams, CreateConnAcc,
    };
    use proptest::prelude::*;

    fn create_assoc(ersp: u16, sqsize: u16) -> Vec<u8> {
        encode_create_assoc(&CreateAssocParams {
            ersp_ratio: ersp,
            sqsize,
            hostid: [1; 16],
            hostnqn: "nqn.h",
            subnqn: "nqn.s",
        })
        .unwrap()
    }

    #[test]
    fn create_assoc_decodes_and_checks() {
        let ok = LsRequest::decode(&create_assoc(8, 31)).unwrap();
        assert_eq!(
            ok,
            LsRequest::CreateAssoc {
                ersp_ratio: 8,
                sqsize: 31,
                cntlid: 0xFFFF,
                hostid: [1; 16],
                hostnqn: "nqn.h".into(),
                subnqn: "nqn.s".into()
            }
        );
        // r1.14 968+8-byte form, and the minimum.
        assert!(LsRequest::decode(&create_assoc(8, 31)[..976]).is_ok());
        assert!(LsRequest::decode(&create_assoc(8, 31)[..592]).is_ok());
        let e = LsRequest::decode(&create_assoc(8, 31)[..591]).unwrap_err();
        assert_eq!(
            (e.ls_cmd, e.reason, e.explanation),
            (3, RjtReason::LOGIC, RjtExplanation::INV_LEN)
        );
        for (ersp, sq) in [(0, 31), (31, 31), (32, 31)] {
            let e = LsRequest::decode(&create_assoc(ersp, sq)).unwrap_err();
            assert_eq!(
                (e.reason, e.explanation),
                (RjtReason::LOGIC, RjtExplanation::INV_ERSP_RAT)
            );
        }
        let mut b = create_assoc(8, 31);
        b[11] = 4; // tag
        assert_eq!(LsRequest::decode(&b).unwrap_err().reason, RjtReason::LOGIC);
        let mut b = create_assoc(8, 31);
        b[4..8].copy_from_slice(&583u32.to_be_bytes());
        assert_eq!(
            LsRequest::decode(&b).unwrap_err().explanation,
            RjtExplanation::INV_LEN
        );
        let mut b = create_assoc(8, 31);
        b[12..16].copy_from_slice(&575u32.to_be_bytes());
        assert_eq!(
            LsRequest::decode(&b).unwrap_err().explanation,
            RjtExplanation::INV_LEN
        );
    }

    #[test]
    fn create_conn_exact_lengths() {
        let good = encode_create_conn(0xAB_0000, 25, 2, 127);
        assert_eq!(
            LsRequest::decode(&good),
            Ok(LsRequest::CreateConn {
                association_id: 0xAB_0000,
                ersp_ratio: 25,
                qid: 2,
                sqsize: 127
            })
        );
        for (off, val) in [(7usize, 80u8), (31, 56), (15, 16), (11, 6), (27, 3)] {
            let mut b = good.clone();
            b[off] = val;
            let e = LsRequest::decode(&b).unwrap_err();
            assert_eq!((e.ls_cmd, e.reason), (4, RjtReason::LOGIC), "byte {off}");
        }
        let e = LsRequest::decode(&encode_create_conn(1, 0, 1, 127)).unwrap_err();
        assert_eq!(e.explanation, RjtExplanation::INV_ERSP_RAT);
        assert!(LsRequest::decode(&good[..79]).is_err());
    }

    #[test]
    fn disconnect_and_unknown() {
        assert_eq!(
            LsRequest::decode(&encode_disconnect_assoc(9)),
            Ok(LsRequest::DisconnectAssoc { association_id: 9 })
        );
        let mut dc = encode_disconnect_assoc(9);
        dc[0] = 6;
        assert_eq!(
            LsRequest::decode(&dc),
            Ok(LsRequest::DisconnectConn {
                association_id: 9,
                connection_id: None
            })
        );
        dc[24..28].copy_from_slice(&6u32.to_be_bytes());
        dc[28..32].copy_from_slice(&8u32.to_be_bytes());
        dc[32..40].copy_from_slice(&0x9_0001u64.to_be_bytes());
        assert_eq!(
            LsRequest::decode(&dc),
            Ok(LsRequest::DisconnectConn {
                association_id: 9,
                connection_id: Some(0x9_0001)
            })
        );
        for code in [0u8, 1, 2, 7, 0xFF] {
            let e = LsRequest::decode(&[code, 0, 0, 0]).unwrap_err();
            assert_eq!((e.ls_cmd, e.reason), (code, RjtReason::INVAL));
        }
    }

    #[test]
    fn accepts_golden() {
        let mut want = [0u8; 56];
        want[0] = 2;
        want[4..8].copy_from_slice(&48u32.to_be_bytes());
        want[8..12].copy_from_slice(&1u32.to_be_bytes());
        want[12..16].copy_from_slice(&8u32.to_be_bytes());
        want[16] = 3;
        want[24..28].copy_from_slice(&7u32.to_be_bytes());
        want[28..32].copy_from_slice(&8u32.to_be_bytes());
        want[32..40].copy_from_slice(&0xA1A2_A3A4_A5A6_0000u64.to_be_bytes());
        want[40..44].copy_from_slice(&6u32.to_be_bytes());
        want[44..48].copy_from_slice(&8u32.to_be_bytes());
        want[48..56].copy_from_slice(&0xA1A2_A3A4_A5A6_0000u64.to_be_bytes());
        assert_eq!(
            encode_create_assoc_acc(0xA1A2_A3A4_A5A6_0000, 0xA1A2_A3A4_A5A6_0000),
            want
        );

        let mut want = [0u8; 40];
        want[0] = 2;
        want[4..8].copy_from_slice(&32u32.to_be_bytes());
        want[8..12].copy_from_slice(&1u32.to_be_bytes());
        want[12..16].copy_from_slice(&8u32.to_be_bytes());
        want[16] = 4;
        want[24..28].copy_from_slice(&6u32.to_be_bytes());
        want[28..32].copy_from_slice(&8u32.to_be_bytes());
        want[32..40].copy_from_slice(&0xA1A2_A3A4_A5A6_0002u64.to_be_bytes());
        assert_eq!(encode_create_conn_acc(0xA1A2_A3A4_A5A6_0002), want);
    }

    #[test]
    fn disconnect_conn_current_header_form() {
        // FCH: ASSOC_ID + CONN_ID, 40 bytes, desc_list_len 32.
        let mut b = [0u8; 40];
        b[0] = 6;
        b[4..8].copy_from_slice(&32u32.to_be_bytes());
        b[8..12].copy_from_slice(&7u32.to_be_bytes());
        b[12..16].copy_from_slice(&8u32.to_be_bytes());
        b[16..24].copy_from_slice(&0x50_0000u64.to_be_bytes());
        b[24..28].copy_from_slice(&6u32.to_be_bytes());
        b[28..32].copy_from_slice(&8u32.to_be_bytes());
        b[32..40].copy_from_slice(&0x50_0001u64.to_be_bytes());
        assert_eq!(
            LsRequest::decode(&b),
            Ok(LsRequest::DisconnectConn {
                association_id: 0x50_0000,
                connection_id: Some(0x50_0001)
            })
        );
        let e = LsRequest::decode(&b[..39]).unwrap_err();
        assert_eq!((e.ls_cmd, e.reason), (6, RjtReason::LOGIC));
    }

    #[test]
    fn accepts_round_trip_through_host_parsers() {
        let a = encode_create_assoc_acc(0x5555_0000, 0x5555_0000);
        assert_eq!(a.len(), 56);
        assert_eq!(
            CreateAssocAcc::parse(&a),
            Ok(CreateAssocAcc {
                association_id: 0x5555_0000,
                connection_id: 0x5555_0000
            })
        );
        let c = encode_create_conn_acc(0x5555_0004);
        assert_eq!(c.len(), 40);
        assert_eq!(
            CreateConnAcc::parse(&c),
            Ok(CreateConnAcc {
                connection_id: 0x5555_0004
            })
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..1100)) {
            let _ = LsRequest::decode(&b);
        }

        #[test]
        fn arbitrary_tail_after_valid_code_never_panics(code in 3u8..7, b in proptest::collection::vec(any::<u8>(), 0..1100)) {
            let mut b = b;
            if let Some(first) = b.first_mut() { *first = code; }
            let _ = LsRequest::decode(&b);
        }

        #[test]
        fn create_conn_round_trip(id: u64, qid: u16, sqsize in 2u16.., ratio_seed: u16) {
            let ratio = 1 + ratio_seed % (sqsize - 1);
            prop_assert_eq!(
                LsRequest::decode(&encode_create_conn(id, ratio, qid, sqsize)),
                Ok(LsRequest::CreateConn { association_id: id, ersp_ratio: ratio, qid, sqsize })
            );
        }

        #[test]
        fn create_assoc_round_trip(sqsize in 2u16.., ratio_seed: u16, hostid: [u8; 16],
                                   h in "[a-z0-9.:-]{1,223}", s in "[a-z0-9.:-]{1,223}") {
            let ratio = 1 + ratio_seed % (sqsize - 1);
            let b = encode_create_assoc(&CreateAssocParams { ersp_ratio: ratio, sqsize, hostid, hostnqn: &h, subnqn: &s }).unwrap();
            prop_assert_eq!(
                LsRequest::decode(&b),
                Ok(LsRequest::CreateAssoc { ersp_ratio: ratio, sqsize, cntlid: 0xFFFF, hostid, hostnqn: h.clone(), subnqn: s.clone() })
            );
        }

        #[test]
        fn disconnect_round_trip(id: u64) {
            prop_assert_eq!(
                LsRequest::decode(&encode_disconnect_assoc(id)),
                Ok(LsRequest::DisconnectAssoc { association_id: id })
            );
        }

        #[test]
        fn rjt_round_trip(code: u8, reason: u8, explanation: u8) {
            let b = crate::wire::ls::encode_ls_rjt(code, RjtReason(reason), RjtExplanation(explanation));
            prop_assert_eq!(
                CreateConnAcc::parse(&b),
                Err(crate::wire::ls_host::LsRspError::Rejected {
                    reason: RjtReason(reason),
                    explanation: RjtExplanation(explanation),
                })
            );
            prop_assert_eq!(b[16], code);
        }

        #[test]
        fn acc_round_trip(a: u64, c: u64) {
            prop_assert_eq!(
                CreateAssocAcc::parse(&encode_create_assoc_acc(a, c)),
                Ok(CreateAssocAcc { association_id: a, connection_id: c })
            );
            prop_assert_eq!(CreateConnAcc::parse(&encode_create_conn_acc(c)), Ok(CreateConnAcc { connection_id: c }));
        }
    }
}
