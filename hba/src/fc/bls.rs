//! Basic link service payloads: BA_ACC and BA_RJT answering an ABTS (FC-FS-2
//! §15.3; sli4.md §5.5 XMIT_BLS_RSP). ABTS itself has no payload: its
//! parameter field bit 0 says "abort sequence" (0 = abort the exchange).

use zerocopy::byteorder::{BigEndian, U16};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::error::{prefix, FcError};

/// Length of a BA_ACC payload.
pub const BA_ACC_LEN: usize = 12;
/// Length of a BA_RJT payload.
pub const BA_RJT_LEN: usize = 4;
/// BA_ACC byte 0: the SEQ_ID field is valid.
pub const SEQ_ID_VALID: u8 = 0x80;

/// BA_RJT reason codes.
pub mod ba_rjt_reason {
    /// Invalid command code.
    pub const INVALID_CMD: u8 = 0x01;
    /// Logical error.
    pub const LOGICAL_ERROR: u8 = 0x03;
    /// Logical busy.
    pub const LOGICAL_BUSY: u8 = 0x05;
    /// Protocol error.
    pub const PROTOCOL_ERROR: u8 = 0x07;
    /// Unable to perform command request.
    pub const UNABLE_TO_PERFORM: u8 = 0x09;
    /// Vendor unique.
    pub const VENDOR_UNIQUE: u8 = 0xFF;
}

/// BA_RJT reason explanations.
pub mod ba_rjt_explanation {
    /// No additional explanation.
    pub const NONE: u8 = 0x00;
    /// Invalid OX_ID-RX_ID combination.
    pub const INVALID_OX_RX_ID: u8 = 0x03;
    /// Sequence aborted, no sequence information provided.
    pub const SEQUENCE_ABORTED: u8 = 0x05;
}

/// BA_ACC payload.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct BaAcc {
    /// Byte 0: SEQ_ID validity ([`SEQ_ID_VALID`] or 0).
    pub seq_id_validity: u8,
    /// Byte 1: SEQ_ID of the last deliverable sequence.
    pub seq_id: u8,
    /// Bytes 2-3: reserved.
    pub rsvd2: [u8; 2],
    /// Bytes 4-5: OX_ID of the aborted exchange.
    pub ox_id: U16<BigEndian>,
    /// Bytes 6-7: RX_ID of the aborted exchange.
    pub rx_id: U16<BigEndian>,
    /// Bytes 8-9: low SEQ_CNT.
    pub low_seq_cnt: U16<BigEndian>,
    /// Bytes 10-11: high SEQ_CNT.
    pub high_seq_cnt: U16<BigEndian>,
}
const _: () = assert!(core::mem::size_of::<BaAcc>() == BA_ACC_LEN);

impl BaAcc {
    /// A BA_ACC for the exchange `ox_id`/`rx_id` that aborts it whole: SEQ_ID
    /// invalid, SEQ_CNT range 0..=0xFFFF.
    pub fn whole_exchange(ox_id: u16, rx_id: u16) -> BaAcc {
        let mut a = BaAcc::new_zeroed();
        a.ox_id.set(ox_id);
        a.rx_id.set(rx_id);
        a.high_seq_cnt.set(0xFFFF);
        a
    }

    /// Decodes the first 12 bytes.
    pub fn parse(bytes: &[u8]) -> Result<BaAcc, FcError> {
        const WHAT: &str = "BA_ACC";
        BaAcc::read_from_bytes(prefix(WHAT, bytes, BA_ACC_LEN)?).map_err(|_| FcError::Truncated {
            what: WHAT,
            len: bytes.len(),
            need: BA_ACC_LEN,
        })
    }

    /// The 12 bytes.
    pub fn as_bytes(&self) -> &[u8; BA_ACC_LEN] {
        zerocopy::transmute_ref!(self)
    }
}

/// BA_RJT payload.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct BaRjt {
    /// Byte 0: reserved.
    pub rsvd0: u8,
    /// Byte 1: reason ([`ba_rjt_reason`]).
    pub reason: u8,
    /// Byte 2: explanation ([`ba_rjt_explanation`]).
    pub explanation: u8,
    /// Byte 3: vendor unique.
    pub vendor: u8,
}
const _: () = assert!(core::mem::size_of::<BaRjt>() == BA_RJT_LEN);

impl BaRjt {
    /// A BA_RJT.
    pub fn new(reason: u8, explanation: u8) -> BaRjt {
        BaRjt {
            rsvd0: 0,
            reason,
            explanation,
            vendor: 0,
        }
    }

    /// Decodes the first 4 bytes.
    pub fn parse(bytes: &[u8]) -> Result<BaRjt, FcError> {
        const WHAT: &str = "BA_RJT";
        BaRjt::read_from_bytes(prefix(WHAT, bytes, BA_RJT_LEN)?).map_err(|_| FcError::Truncated {
            what: WHAT,
            len: bytes.len(),
            need: BA_RJT_LEN,
        })
    }

    /// The 4 bytes.
    pub fn as_bytes(&self) -> &[u8; BA_RJT_LEN] {
        zerocopy::transmute_ref!(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bls_golden() {
        let a = BaAcc::whole_exchange(0x1234, 0x5678);
        assert_eq!(
            a.as_bytes(),
            &[0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 0, 0, 0xFF, 0xFF]
        );
        assert_eq!(BaAcc::parse(a.as_bytes()).unwrap(), a);
        let r = BaRjt::new(
            ba_rjt_reason::UNABLE_TO_PERFORM,
            ba_rjt_explanation::INVALID_OX_RX_ID,
        );
        assert_eq!(r.as_bytes(), &[0, 9, 3, 0]);
        assert_eq!(BaRjt::parse(r.as_bytes()).unwrap(), r);
        assert!(BaAcc::parse(&[0; 11]).is_err());
        assert!(BaRjt::parse(&[0; 3]).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..16)) {
            let _ = BaAcc::parse(&b);
            let _ = BaRjt::parse(&b);
        }
    }
}
