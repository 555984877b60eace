//! READ_SPARM64 (0x8D): the port DMA-writes its default service parameters
//! (the 112-byte [`crate::fc::login::ServiceParams`]: WWPN at byte 16, WWNN
//! at 24) into a host buffer (sli4.md §3.4; OCS `sli4_cmd_read_sparm64_t`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::Le32;
use crate::fc::login::SERVICE_PARAMS_LEN;
use crate::sli4::bits::bitfields;
use crate::sli4::mbox::mbx_cmd;
use crate::sli4::sge::Bde;

/// READ_SPARM64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct ReadSparm64 {
    /// MQE header.
    pub header: Le32,
    /// Dwords 1-2: reserved.
    pub rsvd1: [Le32; 2],
    /// Dwords 3-5: BDE to the 112-byte buffer.
    pub bde: Bde,
    /// Dword 6: VPI 15-0.
    pub dw6: Le32,
    /// Dwords 7-63: reserved.
    pub rsvd7: [Le32; 57],
}
native_cmd!(ReadSparm64, mbx_cmd::READ_SPARM64);

impl ReadSparm64 {
    bitfields! {
        /// Dword 6 bits 15-0: VPI.
        vpi / set_vpi: dw6[0; 16];
    }

    /// A request for `vpi` into the 112-byte buffer at `addr`.
    pub fn request(addr: u64, vpi: u16) -> ReadSparm64 {
        let mut r = ReadSparm64::new();
        r.bde = Bde::host(addr, SERVICE_PARAMS_LEN as u32);
        r.set_vpi(vpi.into());
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_sparm64_golden() {
        let m = ReadSparm64::request(0x1_0000_3000, 5).to_mqe();
        let b = m.as_bytes();
        assert_eq!(&b[0..4], &[0, 0x8D, 0, 0]);
        assert_eq!(
            &b[12..28],
            &[0x70, 0, 0, 0, 0, 0x30, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0]
        );
        let back = ReadSparm64::from_mqe(&m);
        assert_eq!(
            (back.bde.addr(), back.bde.length(), back.vpi()),
            (0x1_0000_3000, 112, 5)
        );
    }
}
