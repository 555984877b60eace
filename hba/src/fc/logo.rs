//! LOGO, the N_Port logout (FC-LS-3 §4.3.6; sli4.md §6.5; LPFC `struct _LOGO`).

use ufc_transport::wwn::Wwn;
use zerocopy::byteorder::{BigEndian, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::els::els_cmd;
use super::error::{check_field, prefix, FcError};
use super::header::{u24_from_be, u24_to_be};

/// Length of a LOGO payload.
pub const LOGO_LEN: usize = 16;

/// The LOGO payload: command word, our N_Port ID, our WWPN.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Logo {
    /// Byte 0: 0x05.
    pub cmd: u8,
    /// Bytes 1-4: reserved.
    pub rsvd1: [u8; 4],
    /// Bytes 5-7: N_Port ID of the port logging out.
    pub n_port_id: [u8; 3],
    /// Bytes 8-15: its WWPN.
    pub wwpn: U64<BigEndian>,
}
const _: () = assert!(core::mem::size_of::<Logo>() == LOGO_LEN);

impl Logo {
    /// A LOGO for the port `n_port_id` / `wwpn`.
    pub fn new(n_port_id: u32, wwpn: Wwn) -> Logo {
        Logo {
            cmd: els_cmd::LOGO,
            rsvd1: [0; 4],
            n_port_id: u24_to_be(n_port_id),
            wwpn: U64::new(wwpn.0),
        }
    }

    /// Decodes the first 16 bytes; the command byte must be 0x05.
    pub fn parse(bytes: &[u8]) -> Result<Logo, FcError> {
        const WHAT: &str = "LOGO";
        let l = Logo::read_from_bytes(prefix(WHAT, bytes, LOGO_LEN)?).map_err(|_| {
            FcError::Truncated {
                what: WHAT,
                len: bytes.len(),
                need: LOGO_LEN,
            }
        })?;
        check_field(WHAT, "command", l.cmd.into(), els_cmd::LOGO.into())?;
        Ok(l)
    }

    /// N_Port ID of the port logging out.
    pub fn n_port_id(&self) -> u32 {
        u24_from_be(self.n_port_id)
    }

    /// WWPN of the port logging out.
    pub fn wwpn(&self) -> Wwn {
        Wwn(self.wwpn.get())
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; LOGO_LEN] {
        zerocopy::transmute_ref!(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn logo_golden() {
        let l = Logo::new(0x01_0203, Wwn(0x1000_0090_FA94_2779));
        assert_eq!(
            l.as_bytes(),
            &[5, 0, 0, 0, 0, 1, 2, 3, 0x10, 0, 0, 0x90, 0xFA, 0x94, 0x27, 0x79]
        );
        let back = Logo::parse(l.as_bytes()).unwrap();
        assert_eq!(
            (back.n_port_id(), back.wwpn()),
            (0x01_0203, Wwn(0x1000_0090_FA94_2779))
        );
        assert!(Logo::parse(&l.as_bytes()[..15]).is_err());
        let mut b = *l.as_bytes();
        b[0] = 3;
        assert!(matches!(Logo::parse(&b), Err(FcError::BadField { .. })));
    }

    proptest! {
        #[test]
        fn round_trip(id in 0u32..0x100_0000, pn: u64) {
            let l = Logo::new(id, Wwn(pn));
            let back = Logo::parse(l.as_bytes()).unwrap();
            prop_assert_eq!((back.n_port_id(), back.wwpn()), (id, Wwn(pn)));
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..24)) {
            let _ = Logo::parse(&b);
        }
    }
}
