//! REQUEST_FEATURES (0x9D) (sli4.md §3.4; OCS `sli4_cmd_request_features_t`,
//! LPFC `struct lpfc_mbx_request_features`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::Le32;
use crate::sli4::bits::{bitfields, le32};
use crate::sli4::mbox::mbx_cmd;

/// Feature bits (dwords 2 and 3).
pub mod feature {
    /// Inhibit auto-ABTS originator.
    pub const IAAB: u32 = 1 << 0;
    /// NPIV.
    pub const NPIV: u32 = 1 << 1;
    /// DIF.
    pub const DIF: u32 = 1 << 2;
    /// Virtual fabrics.
    pub const VF: u32 = 1 << 3;
    /// FCP initiator (what we request).
    pub const FCPI: u32 = 1 << 4;
    /// FCP target.
    pub const FCPT: u32 = 1 << 5;
    /// FCP combined.
    pub const FCPC: u32 = 1 << 6;
    /// IFIP (LPFC).
    pub const IFIP: u32 = 1 << 7;
    /// RQD.
    pub const RQD: u32 = 1 << 8;
    /// Inhibit auto-ABTS responder.
    pub const IAAR: u32 = 1 << 9;
    /// High login mode.
    pub const HLM: u32 = 1 << 10;
    /// Performance hints (what we request, with FCPI).
    pub const PERFH: u32 = 1 << 11;
    /// RXSEQ.
    pub const RXSEQ: u32 = 1 << 12;
    /// RXRI.
    pub const RXRI: u32 = 1 << 13;
    /// DCL2.
    pub const DCL2: u32 = 1 << 14;
    /// RSCO.
    pub const RSCO: u32 = 1 << 15;
    /// MRQP.
    pub const MRQP: u32 = 1 << 16;
    /// ASHDR.
    pub const ASHDR: u32 = 1 << 17;
}

/// REQUEST_FEATURES.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct RequestFeatures {
    /// MQE header.
    pub header: Le32,
    /// Dword 1: QRY bit 0 (query only).
    pub dw1: Le32,
    /// Dword 2: requested features ([`feature`]).
    pub requested: Le32,
    /// Dword 3: granted features (response).
    pub granted: Le32,
    /// Dwords 4-63: reserved.
    pub rsvd: [Le32; 60],
}
native_cmd!(RequestFeatures, mbx_cmd::REQUEST_FEATURES);

impl RequestFeatures {
    bitfields! {
        /// Dword 1 bit 0: query only.
        query / set_query: dw1[0];
    }

    /// A request for `features`, or a query with `query`.
    pub fn request(features: u32, query: bool) -> RequestFeatures {
        let mut r = RequestFeatures::new();
        r.set_query(query);
        r.requested = le32(features);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_features_golden() {
        let r = RequestFeatures::request(feature::FCPI | feature::PERFH, false);
        let m = r.to_mqe();
        assert_eq!(
            &m.as_bytes()[0..16],
            &[0, 0x9D, 0, 0, 0, 0, 0, 0, 0x10, 0x08, 0, 0, 0, 0, 0, 0]
        );
        let q = RequestFeatures::request(0, true);
        assert_eq!(q.to_mqe().as_bytes()[4], 1);
        let mut resp = RequestFeatures::from_mqe(&m);
        resp.granted.set(feature::FCPI);
        assert_eq!(resp.granted.get() & feature::PERFH, 0);
    }
}
