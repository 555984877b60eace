//! The CT_IU preamble of FC generic services (FC-GS-7 §4.3; sli4.md §6.4; LPFC
//! `struct lpfc_sli_ct_request`, OCS `fcct_iu_header_t`). Carried in frames with
//! R_CTL 0x02 (request) / 0x03 (response) and TYPE 0x20.
//!
//! The name-server commands built on it are in [`super::nameserver`].

use zerocopy::byteorder::{BigEndian, U16};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::error::{check_field, prefix, FcError};

/// Length of the CT_IU preamble.
pub const CT_HEADER_LEN: usize = 16;
/// CT revision of every FC-GS version in use.
pub const CT_REVISION: u8 = 0x01;

/// GS_TYPE values (byte 4).
pub mod gs_type {
    /// Management service (FDMI).
    pub const MANAGEMENT: u8 = 0xFA;
    /// Time service.
    pub const TIME: u8 = 0xFB;
    /// Directory service (name server).
    pub const DIRECTORY: u8 = 0xFC;
    /// Fabric controller service.
    pub const FABRIC_CONTROLLER: u8 = 0xFD;
}

/// GS_SUBTYPE values of the directory service (byte 5).
pub mod gs_subtype {
    /// Name server.
    pub const NAME_SERVER: u8 = 0x02;
}

/// Command/response codes of a response (bytes 8-9).
pub mod ct_rsp {
    /// FS_RJT, reject.
    pub const REJECT: u16 = 0x8001;
    /// FS_ACC, accept.
    pub const ACCEPT: u16 = 0x8002;
}

/// Reject reason codes (byte 13).
pub mod ct_reason {
    /// Invalid command code.
    pub const INVALID_CMD: u8 = 0x01;
    /// Invalid version level.
    pub const INVALID_VERSION: u8 = 0x02;
    /// Logical error.
    pub const LOGICAL_ERROR: u8 = 0x03;
    /// Invalid CT_IU size.
    pub const INVALID_IU_SIZE: u8 = 0x04;
    /// Logical busy.
    pub const LOGICAL_BUSY: u8 = 0x05;
    /// Protocol error.
    pub const PROTOCOL_ERROR: u8 = 0x07;
    /// Unable to perform command request.
    pub const UNABLE_TO_PERFORM: u8 = 0x09;
    /// Command not supported.
    pub const CMD_NOT_SUPPORTED: u8 = 0x0B;
    /// Server not available.
    pub const SERVER_NOT_AVAILABLE: u8 = 0x0D;
    /// Session could not be established.
    pub const SESSION_NOT_ESTABLISHED: u8 = 0x0E;
    /// Vendor unique.
    pub const VENDOR_UNIQUE: u8 = 0xFF;
}

/// Name-server reject explanations (byte 14; LPFC `SLI_CT_*`).
pub mod ns_explanation {
    /// No additional explanation.
    pub const NONE: u8 = 0x00;
    /// Port identifier not registered.
    pub const PORT_ID_NOT_REGISTERED: u8 = 0x01;
    /// Port name not registered.
    pub const PORT_NAME_NOT_REGISTERED: u8 = 0x02;
    /// Node name not registered.
    pub const NODE_NAME_NOT_REGISTERED: u8 = 0x03;
    /// Class of service not registered.
    pub const COS_NOT_REGISTERED: u8 = 0x04;
    /// FC-4 TYPEs not registered (GID_FT with no match).
    pub const FC4_TYPES_NOT_REGISTERED: u8 = 0x07;
    /// Port type not registered (GID_PT with no match).
    pub const PORT_TYPE_NOT_REGISTERED: u8 = 0x0A;
    /// Access denied.
    pub const ACCESS_DENIED: u8 = 0x10;
    /// Invalid port identifier.
    pub const INVALID_PORT_ID: u8 = 0x11;
    /// Database empty.
    pub const DATABASE_EMPTY: u8 = 0x12;
}

/// The CT_IU preamble.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct CtHeader {
    /// Byte 0: revision, 0x01.
    pub revision: u8,
    /// Bytes 1-3: IN_ID, 0.
    pub in_id: [u8; 3],
    /// Byte 4: GS_TYPE ([`gs_type`]).
    pub gs_type: u8,
    /// Byte 5: GS_SUBTYPE ([`gs_subtype`]).
    pub gs_subtype: u8,
    /// Byte 6: options, 0.
    pub options: u8,
    /// Byte 7: reserved.
    pub rsvd7: u8,
    /// Bytes 8-9: command code (request) or [`ct_rsp`] (response).
    pub cmd_rsp: U16<BigEndian>,
    /// Bytes 10-11: maximum/residual size in 4-byte words (OCS: (response
    /// buffer − 16) / 4; LPFC 0 = no limit; sli4.md §8 allows either).
    pub max_residual_size: U16<BigEndian>,
    /// Byte 12: fragment id.
    pub fragment_id: u8,
    /// Byte 13: reject reason ([`ct_reason`]).
    pub reason: u8,
    /// Byte 14: reject explanation ([`ns_explanation`] for the name server).
    pub explanation: u8,
    /// Byte 15: vendor unique.
    pub vendor: u8,
}
const _: () = assert!(core::mem::size_of::<CtHeader>() == CT_HEADER_LEN);

impl CtHeader {
    /// A request preamble for `gs_type`/`gs_subtype`, command `cmd`, allowing a
    /// response of `max_residual_words` words after the preamble (0 = no limit).
    pub fn request(gs_type: u8, gs_subtype: u8, cmd: u16, max_residual_words: u16) -> CtHeader {
        let mut h = CtHeader::new_zeroed();
        h.revision = CT_REVISION;
        h.gs_type = gs_type;
        h.gs_subtype = gs_subtype;
        h.cmd_rsp.set(cmd);
        h.max_residual_size.set(max_residual_words);
        h
    }

    /// The accept preamble answering `req` (same GS type/subtype).
    pub fn accept(req: &CtHeader) -> CtHeader {
        CtHeader::request(req.gs_type, req.gs_subtype, ct_rsp::ACCEPT, 0)
    }

    /// The reject preamble answering `req` with `reason`/`explanation`.
    pub fn reject(req: &CtHeader, reason: u8, explanation: u8) -> CtHeader {
        let mut h = CtHeader::request(req.gs_type, req.gs_subtype, ct_rsp::REJECT, 0);
        h.reason = reason;
        h.explanation = explanation;
        h
    }

    /// Decodes the preamble at the start of `bytes` and returns it with the
    /// bytes that follow it; the revision must be 1.
    pub fn parse(bytes: &[u8]) -> Result<(CtHeader, &[u8]), FcError> {
        const WHAT: &str = "CT_IU";
        let h = CtHeader::read_from_bytes(prefix(WHAT, bytes, CT_HEADER_LEN)?).map_err(|_| {
            FcError::Truncated {
                what: WHAT,
                len: bytes.len(),
                need: CT_HEADER_LEN,
            }
        })?;
        check_field(WHAT, "revision", h.revision.into(), CT_REVISION.into())?;
        Ok((h, bytes.get(CT_HEADER_LEN..).unwrap_or(&[])))
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; CT_HEADER_LEN] {
        zerocopy::transmute_ref!(self)
    }

    /// Command or response code.
    pub fn cmd_rsp(&self) -> u16 {
        self.cmd_rsp.get()
    }

    /// True for FS_ACC.
    pub fn is_accept(&self) -> bool {
        self.cmd_rsp.get() == ct_rsp::ACCEPT
    }

    /// True for FS_RJT.
    pub fn is_reject(&self) -> bool {
        self.cmd_rsp.get() == ct_rsp::REJECT
    }
}

/// A decoded CT response: FS_ACC with its payload, or FS_RJT with its codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtResponse<'a> {
    /// FS_ACC; the bytes after the preamble.
    Accept(&'a [u8]),
    /// FS_RJT.
    Reject {
        /// Reason code ([`ct_reason`]).
        reason: u8,
        /// Explanation ([`ns_explanation`] for the name server).
        explanation: u8,
    },
}

impl<'a> CtResponse<'a> {
    /// Decodes a CT response; the code must be FS_ACC or FS_RJT.
    pub fn parse(bytes: &'a [u8]) -> Result<(CtHeader, CtResponse<'a>), FcError> {
        let (h, rest) = CtHeader::parse(bytes)?;
        match h.cmd_rsp.get() {
            ct_rsp::ACCEPT => Ok((h, CtResponse::Accept(rest))),
            ct_rsp::REJECT => Ok((
                h,
                CtResponse::Reject {
                    reason: h.reason,
                    explanation: h.explanation,
                },
            )),
            other => Err(FcError::BadField {
                what: "CT response",
                field: "command/response code",
                value: other.into(),
                expected: ct_rsp::ACCEPT.into(),
            }),
        }
    }
}

/// A CT_IU: preamble followed by `payload`.
pub fn build_ct(header: &CtHeader, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(CT_HEADER_LEN + payload.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ct_header_golden() {
        let h = CtHeader::request(gs_type::DIRECTORY, gs_subtype::NAME_SERVER, 0x0171, 0x03FC);
        assert_eq!(
            h.as_bytes(),
            &[1, 0, 0, 0, 0xFC, 0x02, 0, 0, 0x01, 0x71, 0x03, 0xFC, 0, 0, 0, 0]
        );
        let rjt = CtHeader::reject(
            &h,
            ct_reason::UNABLE_TO_PERFORM,
            ns_explanation::FC4_TYPES_NOT_REGISTERED,
        );
        assert_eq!(
            rjt.as_bytes(),
            &[1, 0, 0, 0, 0xFC, 0x02, 0, 0, 0x80, 0x01, 0, 0, 0, 0x09, 0x07, 0]
        );
        assert!(rjt.is_reject() && !rjt.is_accept());
        let acc = build_ct(&CtHeader::accept(&h), &[1, 2, 3, 4]);
        let (back, rest) = CtHeader::parse(&acc).unwrap();
        assert!(back.is_accept());
        assert_eq!(rest, &[1, 2, 3, 4]);
        assert_eq!(
            CtResponse::parse(&acc).unwrap().1,
            CtResponse::Accept(&[1, 2, 3, 4])
        );
        assert_eq!(
            CtResponse::parse(rjt.as_bytes()).unwrap().1,
            CtResponse::Reject {
                reason: 9,
                explanation: 7
            }
        );
        assert!(CtResponse::parse(h.as_bytes()).is_err());
    }

    #[test]
    fn ct_header_rejects() {
        assert!(matches!(
            CtHeader::parse(&[1; 15]),
            Err(FcError::Truncated { .. })
        ));
        let mut b = *CtHeader::request(0xFC, 2, 0x0217, 0).as_bytes();
        b[0] = 2;
        assert!(matches!(
            CtHeader::parse(&b),
            Err(FcError::BadField {
                field: "revision",
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = CtResponse::parse(&b);
            if let Ok((h, rest)) = CtHeader::parse(&b) {
                prop_assert_eq!(h.revision, 1);
                prop_assert_eq!(rest.len(), b.len() - 16);
            }
        }
    }
}
