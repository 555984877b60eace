//! Name-server (directory service, GS type 0xFC subtype 0x02) commands used by
//! an FC-NVMe initiator and answered by the emulated fabric: RFT_ID, RFF_ID,
//! GID_FT, GID_PT (FC-GS-7 §5.2; sli4.md §6.4; LPFC `struct rft`, `struct rff`,
//! `struct gid`, `SLI_CT_LAST_ENTRY`).
//!
//! Builders return the whole CT_IU (preamble + payload) as the request buffer of
//! a GEN_REQUEST64; parsers take the whole CT_IU and never panic.

use zerocopy::byteorder::{BigEndian, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::ct::{build_ct, gs_subtype, gs_type, CtHeader, CT_HEADER_LEN};
use super::error::{check_field, prefix, FcError};
use super::header::{u24_from_be, u24_to_be, U24_MASK};

/// Name-server command codes (CT preamble bytes 8-9).
pub mod ns_cmd {
    /// Get port name by port id.
    pub const GPN_ID: u16 = 0x0112;
    /// Get node name by port id.
    pub const GNN_ID: u16 = 0x0113;
    /// Get FC-4 types by port id.
    pub const GFT_ID: u16 = 0x0117;
    /// Get FC-4 features by port id.
    pub const GFF_ID: u16 = 0x011F;
    /// Get port ids by FC-4 type.
    pub const GID_FT: u16 = 0x0171;
    /// Get port ids by port type.
    pub const GID_PT: u16 = 0x01A1;
    /// Register node name.
    pub const RNN_ID: u16 = 0x0213;
    /// Register FC-4 types.
    pub const RFT_ID: u16 = 0x0217;
    /// Register symbolic port name.
    pub const RSPN_ID: u16 = 0x0218;
    /// Register FC-4 features.
    pub const RFF_ID: u16 = 0x021F;
    /// Register symbolic node name.
    pub const RSNN_NN: u16 = 0x0239;
    /// De-register all.
    pub const DA_ID: u16 = 0x0300;
}

/// FC-4 feature bits of RFF_ID / GFF_ID (one byte per FC-4 type).
pub mod fc4_features {
    /// Target function.
    pub const TARGET: u8 = 0x01;
    /// Initiator function.
    pub const INITIATOR: u8 = 0x02;
    /// FC-NVMe discovery service.
    pub const NVME_DISCOVERY: u8 = 0x04;
}

/// Port types of GID_PT.
pub mod port_type {
    /// N_Port (LPFC).
    pub const N_PORT: u8 = 0x01;
    /// NL_Port.
    pub const NL_PORT: u8 = 0x02;
    /// Any Nx_Port (OCS).
    pub const NX_PORT: u8 = 0x7F;
}

/// Control byte bit 7 of a GID_FT/GID_PT accept entry: this is the last entry.
pub const GID_LAST_ENTRY: u8 = 0x80;
/// Length of one GID accept entry.
pub const GID_ENTRY_LEN: usize = 4;
/// Length of the RFT_ID payload (port id + 32-byte bitmap).
pub const RFT_ID_LEN: usize = 36;
/// Length of the RFF_ID payload.
pub const RFF_ID_LEN: usize = 8;
/// Length of the GID_FT and GID_PT payloads.
pub const GID_REQ_LEN: usize = 4;

/// The FC-4 TYPEs bitmap of RFT_ID/GFT_ID: type T is bit T mod 32 of the
/// big-endian word T / 32 (NVMe 0x28 = word 1 bit 8, FCP 0x08 = word 0 bit 8).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Default,
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[repr(C)]
pub struct Fc4Types(pub [U32<BigEndian>; 8]);
const _: () = assert!(core::mem::size_of::<Fc4Types>() == 32);

impl Fc4Types {
    /// A bitmap with exactly the types in `types`.
    pub fn from_types(types: &[u8]) -> Fc4Types {
        let mut t = Fc4Types::default();
        for &ty in types {
            t.insert(ty);
        }
        t
    }

    /// Adds type `ty`.
    pub fn insert(&mut self, ty: u8) {
        let w = &mut self.0[usize::from(ty / 32)];
        w.set(w.get() | 1 << (ty % 32));
    }

    /// True when type `ty` is set.
    pub fn contains(&self, ty: u8) -> bool {
        self.0[usize::from(ty / 32)].get() & 1 << (ty % 32) != 0
    }
}

/// RFT_ID request payload.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct RftId {
    /// Byte 0: reserved.
    pub rsvd0: u8,
    /// Bytes 1-3: port id.
    pub port_id: [u8; 3],
    /// Bytes 4-35: FC-4 TYPEs.
    pub types: Fc4Types,
}
const _: () = assert!(core::mem::size_of::<RftId>() == RFT_ID_LEN);

/// RFF_ID request payload.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct RffId {
    /// Byte 0: reserved.
    pub rsvd0: u8,
    /// Bytes 1-3: port id.
    pub port_id: [u8; 3],
    /// Bytes 4-5: reserved.
    pub rsvd4: [u8; 2],
    /// Byte 6: FC-4 features ([`fc4_features`]).
    pub features: u8,
    /// Byte 7: FC-4 type the features apply to.
    pub fc4_type: u8,
}
const _: () = assert!(core::mem::size_of::<RffId>() == RFF_ID_LEN);

/// GID_FT request payload.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct GidFt {
    /// Byte 0: flags / port type, 0.
    pub flags: u8,
    /// Byte 1: domain id scope (0 = whole fabric).
    pub domain_scope: u8,
    /// Byte 2: area id scope (0 = whole domain).
    pub area_scope: u8,
    /// Byte 3: FC-4 type.
    pub fc4_type: u8,
}
const _: () = assert!(core::mem::size_of::<GidFt>() == GID_REQ_LEN);

/// GID_PT request payload.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct GidPt {
    /// Byte 0: port type ([`port_type`]).
    pub port_type: u8,
    /// Byte 1: domain id scope.
    pub domain_scope: u8,
    /// Byte 2: area id scope.
    pub area_scope: u8,
    /// Byte 3: reserved.
    pub rsvd3: u8,
}
const _: () = assert!(core::mem::size_of::<GidPt>() == GID_REQ_LEN);

fn ns_header(cmd: u16, max_residual_words: u16) -> CtHeader {
    CtHeader::request(
        gs_type::DIRECTORY,
        gs_subtype::NAME_SERVER,
        cmd,
        max_residual_words,
    )
}

/// RFT_ID: register the FC-4 TYPEs of `port_id` (an NVMe initiator registers
/// `Fc4Types::from_types(&[0x28])`).
pub fn rft_id(port_id: u32, types: &Fc4Types) -> Vec<u8> {
    let p = RftId {
        rsvd0: 0,
        port_id: u24_to_be(port_id),
        types: *types,
    };
    build_ct(&ns_header(ns_cmd::RFT_ID, 0), p.as_bytes())
}

/// RFF_ID: register the FC-4 `features` of `port_id` for `fc4_type`.
pub fn rff_id(port_id: u32, fc4_type: u8, features: u8) -> Vec<u8> {
    let p = RffId {
        rsvd0: 0,
        port_id: u24_to_be(port_id),
        rsvd4: [0; 2],
        features,
        fc4_type,
    };
    build_ct(&ns_header(ns_cmd::RFF_ID, 0), p.as_bytes())
}

/// The max/residual size (words) for a response buffer of `rsp_buf_len`
/// bytes, as OCS computes it: (len − 16) / 4, saturated.
pub fn max_residual_words(rsp_buf_len: usize) -> u16 {
    u16::try_from(rsp_buf_len.saturating_sub(CT_HEADER_LEN) / 4).unwrap_or(u16::MAX)
}

/// GID_FT: the port ids that registered `fc4_type`, whole fabric.
pub fn gid_ft(fc4_type: u8, max_residual_words: u16) -> Vec<u8> {
    let p = GidFt {
        flags: 0,
        domain_scope: 0,
        area_scope: 0,
        fc4_type,
    };
    build_ct(&ns_header(ns_cmd::GID_FT, max_residual_words), p.as_bytes())
}

/// GID_PT: the port ids of `port_type`, whole fabric.
pub fn gid_pt(port_type: u8, max_residual_words: u16) -> Vec<u8> {
    let p = GidPt {
        port_type,
        domain_scope: 0,
        area_scope: 0,
        rsvd3: 0,
    };
    build_ct(&ns_header(ns_cmd::GID_PT, max_residual_words), p.as_bytes())
}

/// The FS_ACC without payload that answers a registration (RFT_ID, RFF_ID).
pub fn ns_accept(req: &CtHeader) -> Vec<u8> {
    build_ct(&CtHeader::accept(req), &[])
}

/// An FS_RJT answering `req`.
pub fn ns_reject(req: &CtHeader, reason: u8, explanation: u8) -> Vec<u8> {
    build_ct(&CtHeader::reject(req, reason, explanation), &[])
}

/// The FS_ACC of GID_FT/GID_PT listing `ids`, the last entry flagged with
/// [`GID_LAST_ENTRY`]. With no ids a name server answers FS_RJT instead
/// (reason 0x09, explanation 0x07 or 0x0A); this returns `None` then.
pub fn gid_accept(req: &CtHeader, ids: &[u32]) -> Option<Vec<u8>> {
    let (last, rest) = ids.split_last()?;
    let mut payload = Vec::with_capacity(ids.len() * GID_ENTRY_LEN);
    for &id in rest {
        payload.push(0);
        payload.extend_from_slice(&u24_to_be(id));
    }
    payload.push(GID_LAST_ENTRY);
    payload.extend_from_slice(&u24_to_be(*last));
    Some(build_ct(&CtHeader::accept(req), &payload))
}

/// The port-id list of a GID_FT/GID_PT accept payload (the bytes after the
/// preamble).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GidList<'a> {
    entries: &'a [u8],
    complete: bool,
}

impl<'a> GidList<'a> {
    /// Takes entries up to and including the one flagged last. When the
    /// buffer ends first (the response was cut to the buffer we offered), the
    /// whole entries present are kept and [`GidList::is_complete`] is false;
    /// the caller retries with a larger buffer. An accept with no whole entry
    /// is an error.
    pub fn parse(payload: &'a [u8]) -> Result<GidList<'a>, FcError> {
        prefix("GID accept", payload, GID_ENTRY_LEN)?;
        let whole = payload.len() - payload.len() % GID_ENTRY_LEN;
        let mut end = 0;
        while end < whole {
            let control = payload[end];
            end += GID_ENTRY_LEN;
            if control & GID_LAST_ENTRY != 0 {
                return Ok(GidList {
                    entries: &payload[..end],
                    complete: true,
                });
            }
        }
        Ok(GidList {
            entries: &payload[..whole],
            complete: false,
        })
    }

    /// True when the last-entry flag was seen.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len() / GID_ENTRY_LEN
    }

    /// True with no entries (never after a successful parse).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The port ids in order.
    pub fn ids(&self) -> impl Iterator<Item = u32> + 'a {
        self.entries
            .chunks_exact(GID_ENTRY_LEN)
            .map(|c| u24_from_be([c[1], c[2], c[3]]))
    }
}

/// A name-server request as the fabric decodes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NsRequest {
    /// RFT_ID.
    RftId {
        /// Port registering.
        port_id: u32,
        /// Its FC-4 TYPEs.
        types: Fc4Types,
    },
    /// RFF_ID.
    RffId {
        /// Port registering.
        port_id: u32,
        /// FC-4 type.
        fc4_type: u8,
        /// FC-4 features ([`fc4_features`]).
        features: u8,
    },
    /// GID_FT.
    GidFt {
        /// FC-4 type asked for.
        fc4_type: u8,
        /// Domain scope (0 = all).
        domain_scope: u8,
        /// Area scope (0 = all).
        area_scope: u8,
    },
    /// GID_PT.
    GidPt {
        /// Port type asked for.
        port_type: u8,
        /// Domain scope (0 = all).
        domain_scope: u8,
        /// Area scope (0 = all).
        area_scope: u8,
    },
    /// Any other command; the fabric answers FS_RJT "command not supported".
    Other {
        /// The command code.
        cmd: u16,
    },
}

impl NsRequest {
    /// Decodes a name-server request CT_IU: revision 1, GS type 0xFC, subtype
    /// 0x02, and the payload length its command needs (longer is accepted).
    pub fn parse(ct_iu: &[u8]) -> Result<(CtHeader, NsRequest), FcError> {
        const WHAT: &str = "name-server request";
        let (h, p) = CtHeader::parse(ct_iu)?;
        check_field(WHAT, "GS_TYPE", h.gs_type.into(), gs_type::DIRECTORY.into())?;
        check_field(
            WHAT,
            "GS_SUBTYPE",
            h.gs_subtype.into(),
            gs_subtype::NAME_SERVER.into(),
        )?;
        let trunc = |need: usize| FcError::Truncated {
            what: WHAT,
            len: p.len(),
            need,
        };
        let req = match h.cmd_rsp.get() {
            ns_cmd::RFT_ID => {
                let (r, _) = RftId::read_from_prefix(p).map_err(|_| trunc(RFT_ID_LEN))?;
                NsRequest::RftId {
                    port_id: u24_from_be(r.port_id),
                    types: r.types,
                }
            }
            ns_cmd::RFF_ID => {
                let (r, _) = RffId::read_from_prefix(p).map_err(|_| trunc(RFF_ID_LEN))?;
                NsRequest::RffId {
                    port_id: u24_from_be(r.port_id),
                    fc4_type: r.fc4_type,
                    features: r.features,
                }
            }
            ns_cmd::GID_FT => {
                let (r, _) = GidFt::read_from_prefix(p).map_err(|_| trunc(GID_REQ_LEN))?;
                NsRequest::GidFt {
                    fc4_type: r.fc4_type,
                    domain_scope: r.domain_scope,
                    area_scope: r.area_scope,
                }
            }
            ns_cmd::GID_PT => {
                let (r, _) = GidPt::read_from_prefix(p).map_err(|_| trunc(GID_REQ_LEN))?;
                NsRequest::GidPt {
                    port_type: r.port_type,
                    domain_scope: r.domain_scope,
                    area_scope: r.area_scope,
                }
            }
            cmd => NsRequest::Other { cmd },
        };
        Ok((h, req))
    }
}

/// True when `id` is inside the GID scope `domain`/`area` (0 = any).
pub fn in_scope(id: u32, domain_scope: u8, area_scope: u8) -> bool {
    let id = id & U24_MASK;
    (domain_scope == 0 || (id >> 16) as u8 == domain_scope)
        && (area_scope == 0 || (id >> 8) as u8 == area_scope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fc::ct::{ct_reason, ns_explanation, CtResponse};
    use crate::fc::header::fc_type;
    use proptest::prelude::*;

    const NS_PREAMBLE: [u8; 8] = [1, 0, 0, 0, 0xFC, 0x02, 0, 0];

    #[test]
    fn rft_id_golden() {
        let b = rft_id(0x01_0203, &Fc4Types::from_types(&[fc_type::NVME]));
        assert_eq!(b.len(), 16 + 36);
        assert_eq!(&b[..8], &NS_PREAMBLE);
        assert_eq!(&b[8..10], &[0x02, 0x17]);
        assert_eq!(&b[16..20], &[0, 1, 2, 3]);
        // NVMe 0x28: bitmap word 1 bit 8 = CT IU bytes 24-27 = 00 00 01 00.
        assert_eq!(&b[20..24], &[0, 0, 0, 0]);
        assert_eq!(&b[24..28], &[0, 0, 1, 0]);
        assert!(b[28..].iter().all(|&x| x == 0));
        let fcp = rft_id(1, &Fc4Types::from_types(&[fc_type::FCP]));
        assert_eq!(&fcp[20..24], &[0, 0, 1, 0]);
        match NsRequest::parse(&b).unwrap().1 {
            NsRequest::RftId { port_id, types } => {
                assert_eq!(port_id, 0x01_0203);
                assert!(types.contains(0x28) && !types.contains(0x08));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rff_id_golden() {
        let b = rff_id(0x01_0203, fc_type::NVME, fc4_features::INITIATOR);
        assert_eq!(&b[8..10], &[0x02, 0x1F]);
        assert_eq!(&b[16..24], &[0, 1, 2, 3, 0, 0, 0x02, 0x28]);
        assert_eq!(
            NsRequest::parse(&b).unwrap().1,
            NsRequest::RffId {
                port_id: 0x01_0203,
                fc4_type: 0x28,
                features: 0x02
            }
        );
    }

    #[test]
    fn gid_ft_and_pt_golden() {
        let b = gid_ft(fc_type::NVME, max_residual_words(2048));
        assert_eq!(&b[..8], &NS_PREAMBLE);
        assert_eq!(&b[8..12], &[0x01, 0x71, 0x01, 0xFC]);
        assert_eq!(&b[16..], &[0, 0, 0, 0x28]);
        let b = gid_pt(port_type::N_PORT, 0);
        assert_eq!(&b[8..10], &[0x01, 0xA1]);
        assert_eq!(&b[16..], &[0x01, 0, 0, 0]);
        assert_eq!(
            NsRequest::parse(&b).unwrap().1,
            NsRequest::GidPt {
                port_type: 1,
                domain_scope: 0,
                area_scope: 0
            }
        );
    }

    #[test]
    fn gid_accept_round_trip_and_last_bit() {
        let (req, _) = NsRequest::parse(&gid_ft(0x28, 0)).unwrap();
        let acc = gid_accept(&req, &[0x01_0100, 0x01_0200, 0x02_0100]).unwrap();
        assert_eq!(&acc[8..10], &[0x80, 0x02]);
        assert_eq!(&acc[16..], &[0, 1, 1, 0, 0, 1, 2, 0, 0x80, 2, 1, 0]);
        let CtResponse::Accept(p) = CtResponse::parse(&acc).unwrap().1 else {
            panic!("not an accept");
        };
        let list = GidList::parse(p).unwrap();
        assert!(list.is_complete());
        assert_eq!(
            list.ids().collect::<Vec<_>>(),
            [0x01_0100, 0x01_0200, 0x02_0100]
        );
        // Trailing garbage after the last entry is ignored.
        let mut long = p.to_vec();
        long.extend_from_slice(&[0, 9, 9, 9]);
        assert_eq!(GidList::parse(&long).unwrap().len(), 3);
        // Cut short: whole entries kept, incomplete.
        let cut = GidList::parse(&p[..6]).unwrap();
        assert!(!cut.is_complete());
        assert_eq!(cut.ids().collect::<Vec<_>>(), [0x01_0100]);
        assert!(GidList::parse(&p[..3]).is_err());
        assert_eq!(gid_accept(&req, &[]), None);
        let rjt = ns_reject(
            &req,
            ct_reason::UNABLE_TO_PERFORM,
            ns_explanation::FC4_TYPES_NOT_REGISTERED,
        );
        assert_eq!(
            CtResponse::parse(&rjt).unwrap().1,
            CtResponse::Reject {
                reason: 0x09,
                explanation: 0x07
            }
        );
        assert!(CtResponse::parse(&ns_accept(&req)).unwrap().0.is_accept());
    }

    #[test]
    fn ns_request_rejects() {
        let mut b = gid_ft(0x28, 0);
        b[4] = 0xFA;
        assert!(matches!(
            NsRequest::parse(&b),
            Err(FcError::BadField {
                field: "GS_TYPE",
                ..
            })
        ));
        let b = rft_id(1, &Fc4Types::default());
        assert!(matches!(
            NsRequest::parse(&b[..40]),
            Err(FcError::Truncated { .. })
        ));
        let mut b = gid_ft(0x28, 0);
        b[8..10].copy_from_slice(&ns_cmd::GPN_ID.to_be_bytes());
        assert_eq!(
            NsRequest::parse(&b).unwrap().1,
            NsRequest::Other { cmd: 0x0112 }
        );
        assert!(in_scope(0x01_0203, 0, 0));
        assert!(in_scope(0x01_0203, 1, 2));
        assert!(!in_scope(0x01_0203, 2, 0));
    }

    proptest! {
        #[test]
        fn fc4_types_round_trip(types in proptest::collection::vec(any::<u8>(), 0..8)) {
            let t = Fc4Types::from_types(&types);
            for ty in 0..=255u8 {
                prop_assert_eq!(t.contains(ty), types.contains(&ty));
            }
        }

        #[test]
        fn gid_round_trip(ids in proptest::collection::vec(0u32..0x100_0000, 1..100)) {
            let (req, _) = NsRequest::parse(&gid_pt(port_type::NX_PORT, 0)).unwrap();
            let acc = gid_accept(&req, &ids).unwrap();
            let list = GidList::parse(&acc[16..]).unwrap();
            prop_assert!(list.is_complete());
            prop_assert_eq!(list.ids().collect::<Vec<_>>(), ids);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = NsRequest::parse(&b);
            if let Ok(l) = GidList::parse(&b) {
                prop_assert!(l.ids().count() <= b.len() / 4);
            }
        }
    }
}
