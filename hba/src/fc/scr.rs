//! SCR, state change registration with the fabric controller (FC-LS-3 §4.3.31;
//! sli4.md §6.5; LPFC `struct _SCR`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::els::els_cmd;
use super::error::{check_field, prefix, FcError};

/// Length of an SCR payload.
pub const SCR_LEN: usize = 8;

/// SCR registration functions (byte 7).
pub mod scr_function {
    /// Fabric-detected registration.
    pub const FABRIC_DETECTED: u8 = 1;
    /// N_Port-detected registration.
    pub const N_PORT_DETECTED: u8 = 2;
    /// Full registration (what initiators send).
    pub const FULL: u8 = 3;
    /// Clear registration.
    pub const CLEAR: u8 = 0xFF;
}

/// The SCR payload.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Scr {
    /// Byte 0: 0x62.
    pub cmd: u8,
    /// Bytes 1-6: reserved.
    pub rsvd1: [u8; 6],
    /// Byte 7: registration function ([`scr_function`]).
    pub function: u8,
}
const _: () = assert!(core::mem::size_of::<Scr>() == SCR_LEN);

impl Scr {
    /// An SCR with `function`.
    pub fn new(function: u8) -> Scr {
        Scr {
            cmd: els_cmd::SCR,
            rsvd1: [0; 6],
            function,
        }
    }

    /// Decodes the first 8 bytes; the command byte must be 0x62.
    pub fn parse(bytes: &[u8]) -> Result<Scr, FcError> {
        const WHAT: &str = "SCR";
        let s = Scr::read_from_bytes(prefix(WHAT, bytes, SCR_LEN)?).map_err(|_| {
            FcError::Truncated {
                what: WHAT,
                len: bytes.len(),
                need: SCR_LEN,
            }
        })?;
        check_field(WHAT, "command", s.cmd.into(), els_cmd::SCR.into())?;
        Ok(s)
    }

    /// The 8 bytes.
    pub fn as_bytes(&self) -> &[u8; SCR_LEN] {
        zerocopy::transmute_ref!(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scr_golden() {
        let s = Scr::new(scr_function::FULL);
        assert_eq!(s.as_bytes(), &[0x62, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(Scr::parse(s.as_bytes()).unwrap().function, 3);
        assert!(Scr::parse(&[0x62, 0, 0]).is_err());
        assert!(Scr::parse(&[0x61, 0, 0, 0, 0, 0, 0, 3]).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok(s) = Scr::parse(&b) {
                prop_assert_eq!(Scr::new(s.function).function, b[7]);
            }
        }
    }
}
