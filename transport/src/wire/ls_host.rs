//! The host's side of the FC-NVMe LSs: building Create Association, Create I/O
//! Connection and Disconnect Association; validating their accepts (nvme-fc.md
//! §4.3, §4.4); decoding an LS the target sends (Disconnect Association, §3.7, §4.5).

use zerocopy::byteorder::U16;
use zerocopy::{FromZeros, IntoBytes};

use super::error::WireError;
use super::ls::{
    check, check_desc, check_rqst, desc_tag, ls_cmd, nqn_field, read_prefix,
    validate_disconnect_assoc, AssocIdDesc, CreateAssocAccIu, CreateAssocRqst, CreateConnAccIu,
    CreateConnCmdDesc, CreateConnRqst, DescHdr, DisconnAssocAccIu, DisconnAssocRqst,
    DisconnCmdDesc, LsHdr, LsRjtError, LsRjtIu, RjtExplanation, RjtReason,
};

/// `cntlid` of a Create Association: "dynamic controller" (§4.3).
pub const CNTLID_DYNAMIC: u16 = 0xFFFF;

/// What the host puts in a Create Association (§4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreateAssocParams<'a> {
    /// ERSP ratio of the admin queue (8).
    pub ersp_ratio: u16,
    /// Admin SQ size, 0's based (31).
    pub sqsize: u16,
    /// Host id (UUID bytes).
    pub hostid: [u8; 16],
    /// Host NQN, at most 223 bytes.
    pub hostnqn: &'a str,
    /// Subsystem NQN, at most 223 bytes.
    pub subnqn: &'a str,
}

/// Create Association request (1024 bytes; desc_list_len 1016, desc_len 1008;
/// cntlid 0xFFFF).
pub fn encode_create_assoc(p: &CreateAssocParams<'_>) -> Result<Vec<u8>, WireError> {
    let mut rq = CreateAssocRqst::new_zeroed();
    rq.hdr = LsHdr::new(
        ls_cmd::CREATE_ASSOC,
        core::mem::size_of::<CreateAssocRqst>(),
    );
    rq.cmd.hdr = DescHdr::new(desc_tag::CREATE_ASSOC_CMD, core::mem::size_of_val(&rq.cmd));
    rq.cmd.ersp_ratio = U16::new(p.ersp_ratio);
    rq.cmd.cntlid = U16::new(CNTLID_DYNAMIC);
    rq.cmd.sqsize = U16::new(p.sqsize);
    rq.cmd.hostid = p.hostid;
    rq.cmd.hostnqn = nqn_field(p.hostnqn)?;
    rq.cmd.subnqn = nqn_field(p.subnqn)?;
    Ok(rq.as_bytes().to_vec())
}

/// Create I/O Connection request (80 bytes; desc_list_len 72, CREATE_CONN_CMD
/// desc_len 48).
pub fn encode_create_conn(association_id: u64, ersp_ratio: u16, qid: u16, sqsize: u16) -> Vec<u8> {
    let mut cmd = CreateConnCmdDesc::new_zeroed();
    cmd.hdr = DescHdr::new(
        desc_tag::CREATE_CONN_CMD,
        core::mem::size_of::<CreateConnCmdDesc>(),
    );
    cmd.ersp_ratio = U16::new(ersp_ratio);
    cmd.qid = U16::new(qid);
    cmd.sqsize = U16::new(sqsize);
    let rq = CreateConnRqst {
        hdr: LsHdr::new(ls_cmd::CREATE_CONN, core::mem::size_of::<CreateConnRqst>()),
        assoc: AssocIdDesc::new(association_id),
        cmd,
    };
    rq.as_bytes().to_vec()
}

/// Disconnect Association request (48 bytes; desc_list_len 40).
pub fn encode_disconnect_assoc(association_id: u64) -> Vec<u8> {
    let rq = DisconnAssocRqst {
        hdr: LsHdr::new(
            ls_cmd::DISCONN_ASSOC,
            core::mem::size_of::<DisconnAssocRqst>(),
        ),
        assoc: AssocIdDesc::new(association_id),
        cmd: DisconnCmdDesc::new(),
    };
    rq.as_bytes().to_vec()
}

/// Why the response to one of our LSs is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LsRspError {
    /// The target answered LS_RJT. Reason and explanation are NONE when the reject
    /// itself was malformed (Linux does not decode it at all).
    #[error("target rejected the LS: reason {reason:?}, explanation {explanation:?}")]
    Rejected {
        /// Reason code.
        reason: RjtReason,
        /// Reason explanation.
        explanation: RjtExplanation,
    },
    /// An accept that fails the checks of §4.4 (Linux: `-EBADF`).
    #[error("malformed LS accept from the target: {0}")]
    Malformed(#[from] WireError),
}

/// Decodes word 0; an LS_RJT becomes [`LsRspError::Rejected`].
fn check_acc_or_rjt(what: &'static str, rsp: &[u8]) -> Result<(), LsRspError> {
    let hdr: LsHdr = read_prefix(what, rsp)?;
    if hdr.ls_cmd == ls_cmd::RJT {
        let (reason, explanation) = match read_prefix::<LsRjtIu>(what, rsp) {
            Ok(r) if r.rjt.hdr.tag.get() == desc_tag::RJT => {
                (RjtReason(r.rjt.reason), RjtExplanation(r.rjt.explanation))
            }
            _ => (RjtReason::NONE, RjtExplanation::NONE),
        };
        return Err(LsRspError::Rejected {
            reason,
            explanation,
        });
    }
    check(what, "w0", hdr.ls_cmd.into(), ls_cmd::ACC.into())?;
    Ok(())
}

/// A validated Create Association accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreateAssocAcc {
    /// The association id to echo in Create Connection and Disconnect.
    pub association_id: u64,
    /// Connection id of the admin queue.
    pub connection_id: u64,
}

impl CreateAssocAcc {
    /// Validates as Linux does (§4.4): w0 ACC, desc_list_len 48, RQST tag/len and
    /// w0 = 3, ASSOC_ID and CONN_ID tags and lengths.
    pub fn parse(rsp: &[u8]) -> Result<CreateAssocAcc, LsRspError> {
        const WHAT: &str = "Create Association ACC";
        check_acc_or_rjt(WHAT, rsp)?;
        let acc: CreateAssocAccIu = read_prefix(WHAT, rsp)?;
        check(
            WHAT,
            "desc_list_len",
            acc.hdr.desc_list_len.get().into(),
            48,
        )?;
        check_rqst(WHAT, &acc.rqst, ls_cmd::CREATE_ASSOC)?;
        check_desc(WHAT, &acc.assoc.hdr, desc_tag::ASSOC_ID, 16)?;
        check_desc(WHAT, &acc.conn.hdr, desc_tag::CONN_ID, 16)?;
        Ok(CreateAssocAcc {
            association_id: acc.assoc.association_id.get(),
            connection_id: acc.conn.connection_id.get(),
        })
    }
}

/// A validated Create I/O Connection accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreateConnAcc {
    /// Connection id of the new I/O queue.
    pub connection_id: u64,
}

impl CreateConnAcc {
    /// Validates as Linux does (§4.4): w0 ACC, desc_list_len 32, RQST tag/len and
    /// w0 = 4, CONN_ID tag/len.
    pub fn parse(rsp: &[u8]) -> Result<CreateConnAcc, LsRspError> {
        const WHAT: &str = "Create Connection ACC";
        check_acc_or_rjt(WHAT, rsp)?;
        let acc: CreateConnAccIu = read_prefix(WHAT, rsp)?;
        check(
            WHAT,
            "desc_list_len",
            acc.hdr.desc_list_len.get().into(),
            32,
        )?;
        check_rqst(WHAT, &acc.rqst, ls_cmd::CREATE_CONN)?;
        check_desc(WHAT, &acc.conn.hdr, desc_tag::CONN_ID, 16)?;
        Ok(CreateConnAcc {
            connection_id: acc.conn.connection_id.get(),
        })
    }
}

/// Validates a Disconnect Association response: ACC, desc_list_len 16, RQST w0 = 5.
/// Linux ignores this result; the transport may log it.
pub fn parse_disconnect_assoc_acc(rsp: &[u8]) -> Result<(), LsRspError> {
    const WHAT: &str = "Disconnect Association ACC";
    check_acc_or_rjt(WHAT, rsp)?;
    let acc: DisconnAssocAccIu = read_prefix(WHAT, rsp)?;
    check(
        WHAT,
        "desc_list_len",
        acc.hdr.desc_list_len.get().into(),
        16,
    )?;
    check_rqst(WHAT, &acc.rqst, ls_cmd::DISCONN_ASSOC)?;
    Ok(())
}

/// A Disconnect Association the target sent to the host (§3.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RcvDisconnectAssoc {
    /// The association the target tears down. No controller with it: answer
    /// RJT INV_ASSOC (`LsRjtError::new(5, RjtReason::INV_ASSOC, NONE)`).
    pub association_id: u64,
}

impl RcvDisconnectAssoc {
    /// Decodes an LS received by the host, giving the reject §3.7 prescribes for
    /// everything but a valid Disconnect Association: malformed → LOGIC,
    /// Disconnect Connection → UNSUP, Create Association/Connection (wrong
    /// direction) → LOGIC, any other code → INVAL. Reasons from the host are sent
    /// with explanation NONE except INV_LEN for a short payload.
    pub fn decode(payload: &[u8]) -> Result<RcvDisconnectAssoc, LsRjtError> {
        let code = payload.first().copied().unwrap_or(0);
        let rjt = |reason, explanation| LsRjtError::new(code, reason, explanation);
        match code {
            ls_cmd::DISCONN_ASSOC => match validate_disconnect_assoc(payload) {
                Ok(association_id) => Ok(RcvDisconnectAssoc { association_id }),
                Err(WireError::Truncated { .. }) => {
                    Err(rjt(RjtReason::LOGIC, RjtExplanation::INV_LEN))
                }
                Err(_) => Err(rjt(RjtReason::LOGIC, RjtExplanation::NONE)),
            },
            ls_cmd::DISCONN_CONN => Err(rjt(RjtReason::UNSUP, RjtExplanation::NONE)),
            ls_cmd::CREATE_ASSOC | ls_cmd::CREATE_CONN => {
                Err(rjt(RjtReason::LOGIC, RjtExplanation::NONE))
            }
            _ => Err(rjt(RjtReason::INVAL, RjtExplanation::NONE)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ls::{encode_disconnect_assoc_acc, encode_ls_rjt};
    use proptest::prelude::*;

    const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:0f6c9b62-8ad6-4b47-a1e5-3d6b2e1b7a11";
    const SUBNQN: &str = "nqn.2024-01.io.ufc:subsys1";

    fn be32(b: &mut [u8], off: usize, v: u32) {
        b[off..off + 4].copy_from_slice(&v.to_be_bytes());
    }
    fn be16(b: &mut [u8], off: usize, v: u16) {
        b[off..off + 2].copy_from_slice(&v.to_be_bytes());
    }
    fn be64(b: &mut [u8], off: usize, v: u64) {
        b[off..off + 8].copy_from_slice(&v.to_be_bytes());
    }

    #[test]
    fn create_assoc_golden() {
        let hostid = [0xA5; 16];
        let got = encode_create_assoc(&CreateAssocParams {
            ersp_ratio: 8,
            sqsize: 31,
            hostid,
            hostnqn: HOSTNQN,
            subnqn: SUBNQN,
        })
        .unwrap();
        let mut want = vec![0u8; 1024];
        want[0] = 3;
        be32(&mut want, 4, 1016);
        be32(&mut want, 8, 3);
        be32(&mut want, 12, 1008);
        be16(&mut want, 16, 8);
        be16(&mut want, 8 + 48, 0xFFFF);
        be16(&mut want, 8 + 50, 31);
        want[8 + 56..8 + 72].copy_from_slice(&hostid);
        want[8 + 72..8 + 72 + HOSTNQN.len()].copy_from_slice(HOSTNQN.as_bytes());
        want[8 + 328..8 + 328 + SUBNQN.len()].copy_from_slice(SUBNQN.as_bytes());
        assert_eq!(got, want);
        let too_long = "n".repeat(224);
        let p = CreateAssocParams {
            ersp_ratio: 8,
            sqsize: 31,
            hostid,
            hostnqn: &too_long,
            subnqn: SUBNQN,
        };
        assert!(matches!(
            encode_create_assoc(&p),
            Err(WireError::NqnTooLong { len: 224 })
        ));
    }

    #[test]
    fn create_conn_golden() {
        let got = encode_create_conn(0x1122_3344_5566_0000, 25, 3, 127);
        let mut want = vec![0u8; 80];
        want[0] = 4;
        be32(&mut want, 4, 72);
        be32(&mut want, 8, 7);
        be32(&mut want, 12, 8);
        be64(&mut want, 16, 0x1122_3344_5566_0000);
        be32(&mut want, 24, 4);
        be32(&mut want, 28, 48);
        be16(&mut want, 32, 25);
        be16(&mut want, 72, 3);
        be16(&mut want, 74, 127);
        assert_eq!(got, want);
    }

    #[test]
    fn disconnect_assoc_golden() {
        let got = encode_disconnect_assoc(0xABCD_0000);
        let mut want = vec![0u8; 48];
        want[0] = 5;
        be32(&mut want, 4, 40);
        be32(&mut want, 8, 7);
        be32(&mut want, 12, 8);
        be64(&mut want, 16, 0xABCD_0000);
        be32(&mut want, 24, 5);
        be32(&mut want, 28, 16);
        assert_eq!(got, want);
        assert_eq!(
            RcvDisconnectAssoc::decode(&got),
            Ok(RcvDisconnectAssoc {
                association_id: 0xABCD_0000
            })
        );
    }

    fn golden_create_assoc_acc() -> Vec<u8> {
        let mut b = vec![0u8; 56];
        b[0] = 2;
        be32(&mut b, 4, 48);
        be32(&mut b, 8, 1);
        be32(&mut b, 12, 8);
        b[16] = 3;
        be32(&mut b, 24, 7);
        be32(&mut b, 28, 8);
        be64(&mut b, 32, 0x1234_5678_9ABC_0000);
        be32(&mut b, 40, 6);
        be32(&mut b, 44, 8);
        be64(&mut b, 48, 0x1234_5678_9ABC_0000);
        b
    }

    #[test]
    fn create_assoc_acc_checks() {
        let good = golden_create_assoc_acc();
        assert_eq!(
            CreateAssocAcc::parse(&good),
            Ok(CreateAssocAcc {
                association_id: 0x1234_5678_9ABC_0000,
                connection_id: 0x1234_5678_9ABC_0000
            })
        );
        // Each check of §4.4 in turn.
        for (off, val) in [
            (0, 3u8),
            (7, 40),
            (11, 2),
            (15, 9),
            (16, 4),
            (27, 6),
            (31, 9),
            (43, 7),
            (47, 0),
        ] {
            let mut b = good.clone();
            b[off] = val;
            assert!(
                matches!(CreateAssocAcc::parse(&b), Err(LsRspError::Malformed(_))),
                "byte {off}"
            );
        }
        assert!(matches!(
            CreateAssocAcc::parse(&good[..55]),
            Err(LsRspError::Malformed(WireError::Truncated { .. }))
        ));
        let rjt = encode_ls_rjt(3, RjtReason::LOGIC, RjtExplanation::INV_ERSP_RAT);
        assert_eq!(
            CreateAssocAcc::parse(&rjt),
            Err(LsRspError::Rejected {
                reason: RjtReason::LOGIC,
                explanation: RjtExplanation::INV_ERSP_RAT
            })
        );
        assert_eq!(
            CreateAssocAcc::parse(&[1, 0, 0, 0, 0, 0, 0, 0]),
            Err(LsRspError::Rejected {
                reason: RjtReason::NONE,
                explanation: RjtExplanation::NONE
            })
        );
    }

    #[test]
    fn create_conn_acc_checks() {
        let mut b = vec![0u8; 40];
        b[0] = 2;
        be32(&mut b, 4, 32);
        be32(&mut b, 8, 1);
        be32(&mut b, 12, 8);
        b[16] = 4;
        be32(&mut b, 24, 6);
        be32(&mut b, 28, 8);
        be64(&mut b, 32, 0x77_0003);
        assert_eq!(
            CreateConnAcc::parse(&b),
            Ok(CreateConnAcc {
                connection_id: 0x77_0003
            })
        );
        b[16] = 3;
        assert!(matches!(
            CreateConnAcc::parse(&b),
            Err(LsRspError::Malformed(WireError::BadField {
                field: "rqst.w0",
                ..
            }))
        ));
    }

    #[test]
    fn disconnect_acc() {
        assert_eq!(
            parse_disconnect_assoc_acc(&encode_disconnect_assoc_acc()),
            Ok(())
        );
        assert!(parse_disconnect_assoc_acc(&encode_ls_rjt(
            5,
            RjtReason::INV_ASSOC,
            RjtExplanation::NONE
        ))
        .is_err());
    }

    #[test]
    fn received_ls_rejects() {
        let good = encode_disconnect_assoc(42);
        let mut old_scope = good.clone();
        old_scope[8 + 16 + 11] = 1; // r1.14 "connection" scope byte.
        let r = RcvDisconnectAssoc::decode(&old_scope).unwrap_err();
        assert_eq!((r.ls_cmd, r.reason), (5, RjtReason::LOGIC));
        let r = RcvDisconnectAssoc::decode(&good[..47]).unwrap_err();
        assert_eq!(
            (r.reason, r.explanation),
            (RjtReason::LOGIC, RjtExplanation::INV_LEN)
        );
        let mut conn = good.clone();
        conn[0] = 6;
        assert_eq!(
            RcvDisconnectAssoc::decode(&conn).unwrap_err().reason,
            RjtReason::UNSUP
        );
        let ca = encode_create_conn(1, 1, 1, 2);
        assert_eq!(
            RcvDisconnectAssoc::decode(&ca).unwrap_err().reason,
            RjtReason::LOGIC
        );
        assert_eq!(
            RcvDisconnectAssoc::decode(&[9]).unwrap_err().reason,
            RjtReason::INVAL
        );
        assert_eq!(
            RcvDisconnectAssoc::decode(&[]).unwrap_err().reason,
            RjtReason::INVAL
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..1100)) {
            let _ = CreateAssocAcc::parse(&b);
            let _ = CreateConnAcc::parse(&b);
            let _ = parse_disconnect_assoc_acc(&b);
            let _ = RcvDisconnectAssoc::decode(&b);
        }

        #[test]
        fn disconnect_round_trip(id: u64) {
            prop_assert_eq!(
                RcvDisconnectAssoc::decode(&encode_disconnect_assoc(id)),
                Ok(RcvDisconnectAssoc { association_id: id })
            );
        }
    }
}
