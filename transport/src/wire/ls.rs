//! FC-NVMe link services: command codes, descriptor tags, reject codes and the
//! big-endian layouts of every LS request and response (nvme-fc.md §4.2–§4.6).
//!
//! Builders and validators live next door: [`crate::wire::ls_host`] (what the host
//! sends and accepts) and [`crate::wire::ls_target`] (what a target decodes and
//! answers). The answers both sides give to a received LS (ACC of a Disconnect
//! Association, LS_RJT) are here.

use std::fmt;

use zerocopy::byteorder::{BigEndian, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

pub(crate) use super::error::check_field as check;
use super::error::WireError;

type Be16 = U16<BigEndian>;
type Be32 = U32<BigEndian>;
type Be64 = U64<BigEndian>;

/// LS command codes (word 0 byte 0, §4.2).
pub mod ls_cmd {
    /// LS_RJT response.
    pub const RJT: u8 = 1;
    /// LS_ACC response.
    pub const ACC: u8 = 2;
    /// Create Association.
    pub const CREATE_ASSOC: u8 = 3;
    /// Create I/O Connection.
    pub const CREATE_CONN: u8 = 4;
    /// Disconnect Association.
    pub const DISCONN_ASSOC: u8 = 5;
    /// Disconnect Connection (FC-NVME-2; never sent by the Linux host).
    pub const DISCONN_CONN: u8 = 6;
}

/// Descriptor tags (§4.2).
pub mod desc_tag {
    /// Request information (echo of the LS being answered).
    pub const RQST: u32 = 0x1;
    /// Reject information.
    pub const RJT: u32 = 0x2;
    /// Create Association command.
    pub const CREATE_ASSOC_CMD: u32 = 0x3;
    /// Create I/O Connection command.
    pub const CREATE_CONN_CMD: u32 = 0x4;
    /// Disconnect command.
    pub const DISCONN_CMD: u32 = 0x5;
    /// Connection identifier.
    pub const CONN_ID: u32 = 0x6;
    /// Association identifier.
    pub const ASSOC_ID: u32 = 0x7;
}

/// The `desc_len` of a descriptor of `size` bytes: its size minus the 8-byte
/// header (`fcnvme_lsdesc_len`, §4.2).
pub const fn desc_len(size: usize) -> u32 {
    (size - core::mem::size_of::<DescHdr>()) as u32
}

/// The `desc_list_len` of an LS of `size` bytes: everything after word 0 and the
/// list length itself.
pub const fn desc_list_len(size: usize) -> u32 {
    (size - core::mem::size_of::<LsHdr>()) as u32
}

/// Longest NQN (NVMe base spec); its wire fields are 256 bytes, NUL padded.
pub const NQN_MAX_LEN: usize = 223;

/// LS_RJT reason code (§4.6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RjtReason(pub u8);

impl RjtReason {
    /// No reason (never sent).
    pub const NONE: RjtReason = RjtReason(0x00);
    /// Invalid LS command code.
    pub const INVAL: RjtReason = RjtReason(0x01);
    /// Logical error.
    pub const LOGIC: RjtReason = RjtReason(0x03);
    /// Unable to perform the request.
    pub const UNAB: RjtReason = RjtReason(0x09);
    /// Request not supported.
    pub const UNSUP: RjtReason = RjtReason(0x0b);
    /// Invalid association.
    pub const INV_ASSOC: RjtReason = RjtReason(0x40);
    /// Invalid connection.
    pub const INV_CONN: RjtReason = RjtReason(0x41);
    /// Invalid parameters.
    pub const INV_PARAM: RjtReason = RjtReason(0x42);
    /// Insufficient resources.
    pub const INSUF_RES: RjtReason = RjtReason(0x43);
    /// Vendor specific.
    pub const VENDOR: RjtReason = RjtReason(0xff);

    fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NONE => "none",
            Self::INVAL => "invalid LS code",
            Self::LOGIC => "logical error",
            Self::UNAB => "unable to perform",
            Self::UNSUP => "not supported",
            Self::INV_ASSOC => "invalid association",
            Self::INV_CONN => "invalid connection",
            Self::INV_PARAM => "invalid parameters",
            Self::INSUF_RES => "insufficient resources",
            Self::VENDOR => "vendor specific",
            _ => return None,
        })
    }
}

impl fmt::Debug for RjtReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{:#04x} ({n})", self.0),
            None => write!(f, "{:#04x}", self.0),
        }
    }
}

/// LS_RJT reason explanation (§4.6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RjtExplanation(pub u8);

impl RjtExplanation {
    /// No explanation.
    pub const NONE: RjtExplanation = RjtExplanation(0x00);
    /// Invalid OX_ID/RX_ID combination.
    pub const OXID_RXID: RjtExplanation = RjtExplanation(0x17);
    /// Unable to supply the requested data.
    pub const UNAB_DATA: RjtExplanation = RjtExplanation(0x2a);
    /// Invalid payload length.
    pub const INV_LEN: RjtExplanation = RjtExplanation(0x2d);
    /// Invalid ERSP ratio.
    pub const INV_ERSP_RAT: RjtExplanation = RjtExplanation(0x40);
    /// Invalid controller id.
    pub const INV_CTLR_ID: RjtExplanation = RjtExplanation(0x41);
    /// Invalid queue id.
    pub const INV_QUEUE_ID: RjtExplanation = RjtExplanation(0x42);
    /// Invalid SQ size.
    pub const INV_SQSIZE: RjtExplanation = RjtExplanation(0x43);
    /// Invalid host id.
    pub const INV_HOSTID: RjtExplanation = RjtExplanation(0x44);
    /// Invalid host NQN.
    pub const INV_HOSTNQN: RjtExplanation = RjtExplanation(0x45);
    /// Invalid subsystem NQN.
    pub const INV_SUBNQN: RjtExplanation = RjtExplanation(0x46);

    fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NONE => "none",
            Self::OXID_RXID => "invalid OX_ID/RX_ID",
            Self::UNAB_DATA => "unable to supply data",
            Self::INV_LEN => "invalid length",
            Self::INV_ERSP_RAT => "invalid ERSP ratio",
            Self::INV_CTLR_ID => "invalid controller id",
            Self::INV_QUEUE_ID => "invalid queue id",
            Self::INV_SQSIZE => "invalid SQ size",
            Self::INV_HOSTID => "invalid host id",
            Self::INV_HOSTNQN => "invalid host NQN",
            Self::INV_SUBNQN => "invalid subsystem NQN",
            _ => return None,
        })
    }
}

impl fmt::Debug for RjtExplanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{:#04x} ({n})", self.0),
            None => write!(f, "{:#04x}", self.0),
        }
    }
}

// ---- common structures ------------------------------------------------------

/// Words 0–1 of every LS (§4.2).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct LsHdr {
    /// Byte 0: LS command code ([`ls_cmd`]).
    pub ls_cmd: u8,
    /// Bytes 1–3: zero.
    pub rsvd1: [u8; 3],
    /// Byte 4: byte length of the descriptor list that follows.
    pub desc_list_len: Be32,
}
const _: () = assert!(core::mem::size_of::<LsHdr>() == 8);

impl LsHdr {
    /// A header for an LS of `size` bytes in total.
    pub const fn new(ls_cmd: u8, size: usize) -> LsHdr {
        LsHdr {
            ls_cmd,
            rsvd1: [0; 3],
            desc_list_len: Be32::new(desc_list_len(size)),
        }
    }
}

/// Descriptor header (§4.2).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct DescHdr {
    /// Byte 0: descriptor tag ([`desc_tag`]).
    pub tag: Be32,
    /// Byte 4: descriptor size minus this 8-byte header.
    pub len: Be32,
}
const _: () = assert!(core::mem::size_of::<DescHdr>() == 8);

impl DescHdr {
    /// A header for a descriptor of `size` bytes in total.
    pub const fn new(tag: u32, size: usize) -> DescHdr {
        DescHdr {
            tag: Be32::new(tag),
            len: Be32::new(desc_len(size)),
        }
    }

    fn check(&self, what: &'static str, tag: u32, size: usize) -> Result<(), WireError> {
        check(what, "desc_tag", self.tag.get().into(), tag.into())?;
        check(
            what,
            "desc_len",
            self.len.get().into(),
            desc_len(size).into(),
        )
    }
}

/// RQST descriptor: echo of the LS being answered (§4.2, 16 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct RqstDesc {
    /// Tag 1, len 8.
    pub hdr: DescHdr,
    /// Byte 8: the LS command code being answered.
    pub ls_cmd: u8,
    /// Bytes 9–15: reserved.
    pub rsvd9: [u8; 7],
}
const _: () = assert!(core::mem::size_of::<RqstDesc>() == 16);

impl RqstDesc {
    /// The RQST descriptor answering `ls_cmd`.
    pub const fn new(ls_cmd: u8) -> RqstDesc {
        RqstDesc {
            hdr: DescHdr::new(desc_tag::RQST, 16),
            ls_cmd,
            rsvd9: [0; 7],
        }
    }
}

/// RJT descriptor (§4.2, 16 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct RjtDesc {
    /// Tag 2, len 8.
    pub hdr: DescHdr,
    /// Byte 8: reserved.
    pub rsvd8: u8,
    /// Byte 9: reason code ([`RjtReason`]).
    pub reason: u8,
    /// Byte 10: reason explanation ([`RjtExplanation`]).
    pub explanation: u8,
    /// Byte 11: vendor specific.
    pub vendor: u8,
    /// Bytes 12–15: reserved.
    pub rsvd12: [u8; 4],
}
const _: () = assert!(core::mem::size_of::<RjtDesc>() == 16);

/// ASSOC_ID descriptor (§4.2, 16 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct AssocIdDesc {
    /// Tag 7, len 8.
    pub hdr: DescHdr,
    /// Byte 8: association id.
    pub association_id: Be64,
}
const _: () = assert!(core::mem::size_of::<AssocIdDesc>() == 16);

impl AssocIdDesc {
    /// The descriptor for `association_id`.
    pub const fn new(association_id: u64) -> AssocIdDesc {
        AssocIdDesc {
            hdr: DescHdr::new(desc_tag::ASSOC_ID, 16),
            association_id: Be64::new(association_id),
        }
    }
}

/// CONN_ID descriptor (§4.2, 16 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct ConnIdDesc {
    /// Tag 6, len 8.
    pub hdr: DescHdr,
    /// Byte 8: connection id.
    pub connection_id: Be64,
}
const _: () = assert!(core::mem::size_of::<ConnIdDesc>() == 16);

impl ConnIdDesc {
    /// The descriptor for `connection_id`.
    pub const fn new(connection_id: u64) -> ConnIdDesc {
        ConnIdDesc {
            hdr: DescHdr::new(desc_tag::CONN_ID, 16),
            connection_id: Be64::new(connection_id),
        }
    }
}

/// CREATE_ASSOC_CMD descriptor, FC-NVME-2 size (§4.2, 1016 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct CreateAssocCmdDesc {
    /// Tag 3, len 1008.
    pub hdr: DescHdr,
    /// Byte 8: ERSP ratio (admin queue: 8).
    pub ersp_ratio: Be16,
    /// Bytes 10–47: reserved.
    pub rsvd10: [u8; 38],
    /// Byte 48: controller id; 0xFFFF = dynamic controller.
    pub cntlid: Be16,
    /// Byte 50: admin SQ size, 0's based (31).
    pub sqsize: Be16,
    /// Bytes 52–55: reserved.
    pub rsvd52: [u8; 4],
    /// Byte 56: host id (UUID).
    pub hostid: [u8; 16],
    /// Byte 72: host NQN, NUL padded.
    pub hostnqn: [u8; 256],
    /// Byte 328: subsystem NQN, NUL padded.
    pub subnqn: [u8; 256],
    /// Bytes 584–1015: reserved pad (absent in the r1.14 968-byte form).
    pub rsvd584: [u8; 432],
}
const _: () = assert!(core::mem::size_of::<CreateAssocCmdDesc>() == 1016);
const _: () = assert!(core::mem::offset_of!(CreateAssocCmdDesc, cntlid) == 48);
const _: () = assert!(core::mem::offset_of!(CreateAssocCmdDesc, hostnqn) == 72);
const _: () = assert!(core::mem::offset_of!(CreateAssocCmdDesc, rsvd584) == 584);

/// CREATE_CONN_CMD descriptor (§4.2, 56 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct CreateConnCmdDesc {
    /// Tag 4, len 48.
    pub hdr: DescHdr,
    /// Byte 8: ERSP ratio.
    pub ersp_ratio: Be16,
    /// Bytes 10–47: reserved.
    pub rsvd10: [u8; 38],
    /// Byte 48: queue id.
    pub qid: Be16,
    /// Byte 50: SQ size, 0's based.
    pub sqsize: Be16,
    /// Bytes 52–55: reserved.
    pub rsvd52: [u8; 4],
}
const _: () = assert!(core::mem::size_of::<CreateConnCmdDesc>() == 56);

/// DISCONN_CMD descriptor, FC-NVME-2 (§4.2, 24 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct DisconnCmdDesc {
    /// Tag 5, len 16.
    pub hdr: DescHdr,
    /// Byte 8: reserved, must be 0 (r1.14 had the scope here, §4.5).
    pub rsvd8: Be32,
    /// Bytes 12–23: reserved.
    pub rsvd12: [u8; 12],
}
const _: () = assert!(core::mem::size_of::<DisconnCmdDesc>() == 24);

impl DisconnCmdDesc {
    /// The FC-NVME-2 descriptor.
    pub const fn new() -> DisconnCmdDesc {
        DisconnCmdDesc {
            hdr: DescHdr::new(desc_tag::DISCONN_CMD, 24),
            rsvd8: Be32::ZERO,
            rsvd12: [0; 12],
        }
    }
}

impl Default for DisconnCmdDesc {
    fn default() -> Self {
        DisconnCmdDesc::new()
    }
}

// ---- whole LSs ------------------------------------------------------------------

/// Create Association request (§4.3, 1024 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct CreateAssocRqst {
    /// Code 3, desc_list_len 1016.
    pub hdr: LsHdr,
    /// Byte 8.
    pub cmd: CreateAssocCmdDesc,
}
const _: () = assert!(core::mem::size_of::<CreateAssocRqst>() == 1024);

/// Create Association ACC (§4.3, 56 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct CreateAssocAccIu {
    /// Code 2, desc_list_len 48.
    pub hdr: LsHdr,
    /// Byte 8: RQST (code 3).
    pub rqst: RqstDesc,
    /// Byte 24: the new association id.
    pub assoc: AssocIdDesc,
    /// Byte 40: connection id of the admin queue.
    pub conn: ConnIdDesc,
}
const _: () = assert!(core::mem::size_of::<CreateAssocAccIu>() == 56);

/// Create I/O Connection request (§4.3, 80 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct CreateConnRqst {
    /// Code 4, desc_list_len 72.
    pub hdr: LsHdr,
    /// Byte 8.
    pub assoc: AssocIdDesc,
    /// Byte 24 (qid at LS byte 72, sqsize at 74).
    pub cmd: CreateConnCmdDesc,
}
const _: () = assert!(core::mem::size_of::<CreateConnRqst>() == 80);

/// Create I/O Connection ACC (§4.3, 40 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct CreateConnAccIu {
    /// Code 2, desc_list_len 32.
    pub hdr: LsHdr,
    /// Byte 8: RQST (code 4).
    pub rqst: RqstDesc,
    /// Byte 24: connection id of the new queue.
    pub conn: ConnIdDesc,
}
const _: () = assert!(core::mem::size_of::<CreateConnAccIu>() == 40);

/// Disconnect Association request (§4.3, 48 bytes). Disconnect Connection has the
/// same layout with code 6.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct DisconnAssocRqst {
    /// Code 5, desc_list_len 40.
    pub hdr: LsHdr,
    /// Byte 8.
    pub assoc: AssocIdDesc,
    /// Byte 24.
    pub cmd: DisconnCmdDesc,
}
const _: () = assert!(core::mem::size_of::<DisconnAssocRqst>() == 48);

/// Disconnect Connection request as the current Linux header lays it out
/// (ASSOC_ID + CONN_ID, 40 bytes; §4.3 describes the older 48-byte form).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct DisconnConnRqst {
    /// Code 6, desc_list_len 32.
    pub hdr: LsHdr,
    /// Byte 8.
    pub assoc: AssocIdDesc,
    /// Byte 24.
    pub conn: ConnIdDesc,
}
const _: () = assert!(core::mem::size_of::<DisconnConnRqst>() == 40);

/// Disconnect Association ACC (§4.3, 24 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct DisconnAssocAccIu {
    /// Code 2, desc_list_len 16.
    pub hdr: LsHdr,
    /// Byte 8: RQST (code 5).
    pub rqst: RqstDesc,
}
const _: () = assert!(core::mem::size_of::<DisconnAssocAccIu>() == 24);

/// LS_RJT (§4.3, 40 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct LsRjtIu {
    /// Code 1, desc_list_len 32.
    pub hdr: LsHdr,
    /// Byte 8: RQST (the rejected LS code).
    pub rqst: RqstDesc,
    /// Byte 24: reason.
    pub rjt: RjtDesc,
}
const _: () = assert!(core::mem::size_of::<LsRjtIu>() == 40);

// ---- answers common to host and target ----------------------------------------------

/// A reject to send for a received LS: the LS code it answers, reason and
/// explanation. Decoders of received LSs return it as their error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("LS {ls_cmd:#04x} rejected: reason {reason:?}, explanation {explanation:?}")]
pub struct LsRjtError {
    /// The LS command code of the request (word 0 byte 0 as received).
    pub ls_cmd: u8,
    /// Reason code.
    pub reason: RjtReason,
    /// Reason explanation.
    pub explanation: RjtExplanation,
}

impl LsRjtError {
    /// A reject of `ls_cmd`.
    pub const fn new(ls_cmd: u8, reason: RjtReason, explanation: RjtExplanation) -> LsRjtError {
        LsRjtError {
            ls_cmd,
            reason,
            explanation,
        }
    }

    /// The LS_RJT payload.
    pub fn encode(&self) -> Vec<u8> {
        encode_ls_rjt(self.ls_cmd, self.reason, self.explanation)
    }
}

/// LS_RJT of `ls_cmd` (40 bytes, §4.3). Word 0 carries the LS code RJT (App. A.2).
pub fn encode_ls_rjt(ls_cmd: u8, reason: RjtReason, explanation: RjtExplanation) -> Vec<u8> {
    let iu = LsRjtIu {
        hdr: LsHdr::new(ls_cmd::RJT, core::mem::size_of::<LsRjtIu>()),
        rqst: RqstDesc::new(ls_cmd),
        rjt: RjtDesc {
            hdr: DescHdr::new(desc_tag::RJT, 16),
            rsvd8: 0,
            reason: reason.0,
            explanation: explanation.0,
            vendor: 0,
            rsvd12: [0; 4],
        },
    };
    iu.as_bytes().to_vec()
}

/// Disconnect Association ACC (24 bytes, §4.3); sent by a target answering the
/// host and by the host answering a target.
pub fn encode_disconnect_assoc_acc() -> Vec<u8> {
    let iu = DisconnAssocAccIu {
        hdr: LsHdr::new(ls_cmd::ACC, core::mem::size_of::<DisconnAssocAccIu>()),
        rqst: RqstDesc::new(ls_cmd::DISCONN_ASSOC),
    };
    iu.as_bytes().to_vec()
}

// ---- decoding helpers shared by ls_host / ls_target --------------------------------

/// Reads a `T` from the start of `bytes`; extra bytes are ignored.
pub(crate) fn read_prefix<T: FromBytes + KnownLayout + Immutable>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, WireError> {
    T::read_from_prefix(bytes)
        .map(|(t, _)| t)
        .map_err(|_| WireError::Truncated {
            what,
            len: bytes.len(),
            need: core::mem::size_of::<T>(),
        })
}

/// Reads a `T` from `bytes`, zero-filling what is missing (for layouts whose
/// tail is optional).
pub(crate) fn read_padded<T: FromBytes + IntoBytes + KnownLayout>(bytes: &[u8]) -> T {
    let mut t = T::new_zeroed();
    let dst = t.as_mut_bytes();
    let n = dst.len().min(bytes.len());
    dst[..n].copy_from_slice(&bytes[..n]);
    t
}

pub(crate) fn check_rqst(what: &'static str, rqst: &RqstDesc, ls_cmd: u8) -> Result<(), WireError> {
    rqst.hdr.check(what, desc_tag::RQST, 16)?;
    check(what, "rqst.w0", rqst.ls_cmd.into(), ls_cmd.into())
}

pub(crate) fn check_desc(
    what: &'static str,
    hdr: &DescHdr,
    tag: u32,
    size: usize,
) -> Result<(), WireError> {
    hdr.check(what, tag, size)
}

/// The validation of a Disconnect Association request shared by host and target
/// (`nvmefc_vldt_lsreq_discon_assoc`, §4.5). Returns the association id.
pub(crate) fn validate_disconnect_assoc(payload: &[u8]) -> Result<u64, WireError> {
    const WHAT: &str = "Disconnect Association";
    let rq: DisconnAssocRqst = read_prefix(WHAT, payload)?;
    check(WHAT, "desc_list_len", rq.hdr.desc_list_len.get().into(), 40)?;
    check_desc(WHAT, &rq.assoc.hdr, desc_tag::ASSOC_ID, 16)?;
    check_desc(WHAT, &rq.cmd.hdr, desc_tag::DISCONN_CMD, 24)?;
    check(WHAT, "disconn_cmd.rsvd8", rq.cmd.rsvd8.get().into(), 0)?;
    Ok(rq.assoc.association_id.get())
}

/// Copies `nqn` into a 256-byte NUL-padded field.
pub(crate) fn nqn_field(nqn: &str) -> Result<[u8; 256], WireError> {
    if nqn.len() > NQN_MAX_LEN {
        return Err(WireError::NqnTooLong { len: nqn.len() });
    }
    let mut f = [0u8; 256];
    f[..nqn.len()].copy_from_slice(nqn.as_bytes());
    Ok(f)
}

/// The NQN in a NUL-padded field: bytes up to the first NUL (or all 256),
/// non-UTF-8 bytes replaced.
pub fn nqn_from_field(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_rjt_golden() {
        let b = encode_ls_rjt(
            ls_cmd::CREATE_CONN,
            RjtReason::INV_ASSOC,
            RjtExplanation::NONE,
        );
        let mut want = [0u8; 40];
        want[0] = 1;
        want[4..8].copy_from_slice(&32u32.to_be_bytes());
        want[8..12].copy_from_slice(&1u32.to_be_bytes());
        want[12..16].copy_from_slice(&8u32.to_be_bytes());
        want[16] = 4;
        want[24..28].copy_from_slice(&2u32.to_be_bytes());
        want[28..32].copy_from_slice(&8u32.to_be_bytes());
        want[33] = 0x40;
        assert_eq!(b, want);
        let e = LsRjtError::new(
            ls_cmd::CREATE_ASSOC,
            RjtReason::LOGIC,
            RjtExplanation::INV_ERSP_RAT,
        );
        let b = e.encode();
        assert_eq!((b[16], b[33], b[34]), (3, 0x03, 0x40));
        assert!(e.to_string().contains("logical error"), "{e}");
    }

    #[test]
    fn disconnect_acc_golden() {
        let b = encode_disconnect_assoc_acc();
        let mut want = [0u8; 24];
        want[0] = 2;
        want[4..8].copy_from_slice(&16u32.to_be_bytes());
        want[8..12].copy_from_slice(&1u32.to_be_bytes());
        want[12..16].copy_from_slice(&8u32.to_be_bytes());
        want[16] = 5;
        assert_eq!(b, want);
    }

    #[test]
    fn nqn_fields() {
        let f = nqn_field("nqn.2014-08.org.nvmexpress:uuid:1").unwrap();
        assert_eq!(nqn_from_field(&f), "nqn.2014-08.org.nvmexpress:uuid:1");
        assert!(nqn_field(&"x".repeat(223)).is_ok());
        assert_eq!(
            nqn_field(&"x".repeat(224)),
            Err(WireError::NqnTooLong { len: 224 })
        );
        assert_eq!(nqn_from_field(&[b'a'; 256]).len(), 256);
    }
}
