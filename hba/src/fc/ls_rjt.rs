//! LS_RJT, the link service reject (FC-LS-3 §4.2.3; sli4.md §6.5; LPFC
//! `LSRJT_*`, `LSEXP_*`).

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::els::els_cmd;
use super::error::{check_field, prefix, FcError};

/// LS_RJT reason codes (byte 5).
pub mod reason {
    /// Invalid LS command code.
    pub const INVALID_CMD: u8 = 0x01;
    /// Logical error.
    pub const LOGICAL_ERROR: u8 = 0x03;
    /// Logical busy.
    pub const LOGICAL_BUSY: u8 = 0x05;
    /// Protocol error.
    pub const PROTOCOL_ERROR: u8 = 0x07;
    /// Unable to perform command request.
    pub const UNABLE_TO_PERFORM: u8 = 0x09;
    /// Command not supported.
    pub const CMD_NOT_SUPPORTED: u8 = 0x0B;
    /// Command already in progress.
    pub const CMD_IN_PROGRESS: u8 = 0x0E;
    /// Vendor unique error (see the vendor byte).
    pub const VENDOR_UNIQUE: u8 = 0xFF;
}

/// LS_RJT reason code explanations (byte 6).
pub mod explanation {
    /// No additional explanation.
    pub const NONE: u8 = 0x00;
    /// Service parameter error: options.
    pub const SPARM_OPTIONS: u8 = 0x01;
    /// Service parameter error: initiator control.
    pub const SPARM_INITIATOR_CTL: u8 = 0x03;
    /// Service parameter error: recipient control.
    pub const SPARM_RECIPIENT_CTL: u8 = 0x05;
    /// Service parameter error: receive data field size.
    pub const SPARM_RX_SIZE: u8 = 0x07;
    /// Service parameter error: concurrent sequences.
    pub const SPARM_CONCURRENT_SEQ: u8 = 0x09;
    /// Service parameter error: credit.
    pub const SPARM_CREDIT: u8 = 0x0B;
    /// Invalid N_Port/F_Port name.
    pub const INVALID_PORT_NAME: u8 = 0x0D;
    /// Invalid node/fabric name.
    pub const INVALID_NODE_NAME: u8 = 0x0E;
    /// Invalid common service parameters.
    pub const INVALID_CSP: u8 = 0x0F;
    /// Invalid originator S_ID.
    pub const INVALID_ORIGINATOR_S_ID: u8 = 0x15;
    /// Invalid OX_ID-RX_ID combination.
    pub const INVALID_OX_RX_ID: u8 = 0x17;
    /// Command (request) already in progress.
    pub const REQUEST_IN_PROGRESS: u8 = 0x19;
    /// N_Port login required.
    pub const PLOGI_REQUIRED: u8 = 0x1E;
    /// Invalid N_Port identifier.
    pub const INVALID_N_PORT_ID: u8 = 0x1F;
    /// Insufficient resources.
    pub const INSUFFICIENT_RESOURCES: u8 = 0x29;
    /// Unable to supply requested data.
    pub const CANNOT_SUPPLY_DATA: u8 = 0x2A;
    /// Request not supported.
    pub const REQUEST_NOT_SUPPORTED: u8 = 0x2C;
}

/// Length of an LS_RJT payload.
pub const LS_RJT_LEN: usize = 8;

/// The LS_RJT payload: `01 00 00 00`, reserved, reason, explanation, vendor.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct LsRjt {
    /// Byte 0: 0x01.
    pub cmd: u8,
    /// Bytes 1-4: reserved.
    pub rsvd1: [u8; 4],
    /// Byte 5: reason code ([`reason`]).
    pub reason: u8,
    /// Byte 6: reason code explanation ([`explanation`]).
    pub explanation: u8,
    /// Byte 7: vendor unique.
    pub vendor: u8,
}
const _: () = assert!(core::mem::size_of::<LsRjt>() == LS_RJT_LEN);

impl LsRjt {
    /// An LS_RJT with `reason` and `explanation`, vendor byte 0.
    pub fn new(reason: u8, explanation: u8) -> LsRjt {
        let mut r = LsRjt::new_zeroed();
        r.cmd = els_cmd::LS_RJT;
        r.reason = reason;
        r.explanation = explanation;
        r
    }

    /// Decodes the first 8 bytes; the command byte must be 0x01. Trailing
    /// bytes are ignored.
    pub fn parse(bytes: &[u8]) -> Result<LsRjt, FcError> {
        const WHAT: &str = "LS_RJT";
        let r = LsRjt::read_from_bytes(prefix(WHAT, bytes, LS_RJT_LEN)?).map_err(|_| {
            FcError::Truncated {
                what: WHAT,
                len: bytes.len(),
                need: LS_RJT_LEN,
            }
        })?;
        check_field(WHAT, "command", r.cmd.into(), els_cmd::LS_RJT.into())?;
        Ok(r)
    }

    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8; LS_RJT_LEN] {
        zerocopy::transmute_ref!(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ls_rjt_golden() {
        let r = LsRjt::new(reason::UNABLE_TO_PERFORM, explanation::PLOGI_REQUIRED);
        assert_eq!(r.as_bytes(), &[0x01, 0, 0, 0, 0, 0x09, 0x1E, 0]);
        assert_eq!(LsRjt::parse(r.as_bytes()).unwrap(), r);
        assert!(matches!(
            LsRjt::parse(&[0x02, 0, 0, 0, 0, 9, 0, 0]),
            Err(FcError::BadField {
                field: "command",
                ..
            })
        ));
        assert!(matches!(
            LsRjt::parse(&[1, 0, 0]),
            Err(FcError::Truncated { .. })
        ));
    }

    proptest! {
        #[test]
        fn round_trip(re: u8, ex: u8) {
            let r = LsRjt::new(re, ex);
            prop_assert_eq!(LsRjt::parse(r.as_bytes()).unwrap(), r);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..16)) {
            let _ = LsRjt::parse(&b);
        }
    }
}
