//! INIT_LINK (0x05) and DOWN_LINK (0x06) (sli4.md §3.4; OCS
//! `sli4_cmd_init_link_t`, LPFC `struct init_link`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::Le32;
use crate::sli4::bits::bitfields;
use crate::sli4::mbox::mbx_cmd;

/// INIT_LINK topology values (dword 2 bits 2-1).
pub mod init_topology {
    /// FC-AL first, fail over (OCS's 0).
    pub const FC_AL_FIRST: u32 = 0;
    /// Point-to-point: a switched fabric.
    pub const P2P: u32 = 1;
    /// FC-AL (LPFC's "loop").
    pub const FC_AL: u32 = 2;
}

/// INIT_LINK speed codes (dword 3).
pub mod link_speed_code {
    /// Auto-negotiate.
    pub const AUTO: u32 = 0;
    /// 1 Gb/s.
    pub const G1: u32 = 1;
    /// 2 Gb/s.
    pub const G2: u32 = 2;
    /// 4 Gb/s.
    pub const G4: u32 = 4;
    /// 8 Gb/s.
    pub const G8: u32 = 8;
    /// 10 Gb/s.
    pub const G10: u32 = 0x10;
    /// 16 Gb/s.
    pub const G16: u32 = 0x11;
    /// 32 Gb/s.
    pub const G32: u32 = 0x14;
    /// 64 Gb/s.
    pub const G64: u32 = 0x17;
    /// 128 Gb/s.
    pub const G128: u32 = 0x1A;
    /// 256 Gb/s.
    pub const G256: u32 = 0x1D;
}

/// INIT_LINK.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct InitLink {
    /// MQE header.
    pub header: Le32,
    /// Dword 1: selective reset AL_PA 7-0.
    pub dw1: Le32,
    /// Dword 2: loopback 0, topology 2-1, (LPFC) UNREG_LOGIN_ALL 3, unfair 6,
    /// skip LIRP/LILP 7, loop validity check 8, skip LISA 9, failover 10,
    /// fixed speed 11, pick high AL_PA 15, (LPFC) fabric AL_PA 31-24.
    pub dw2: Le32,
    /// Dword 3: speed code ([`link_speed_code`]).
    pub speed: Le32,
    /// Dwords 4-63: reserved.
    pub rsvd: [Le32; 60],
}
native_cmd!(InitLink, mbx_cmd::INIT_LINK);

impl InitLink {
    bitfields! {
        /// Dword 2 bit 0: loopback.
        loopback / set_loopback: dw2[0];
        /// Dword 2 bits 2-1: topology ([`init_topology`]).
        topology / set_topology: dw2[1; 2];
        /// Dword 2 bit 3: UNREG_LOGIN_ALL on link down (LPFC).
        unreg_all / set_unreg_all: dw2[3];
        /// Dword 2 bit 10: topology failover.
        failover / set_failover: dw2[10];
        /// Dword 2 bit 11: fixed speed.
        fixed_speed / set_fixed_speed: dw2[11];
    }

    /// INIT_LINK for a switched fabric: point-to-point, auto speed, no
    /// failover (LPFC forces pure P2P on G6/G7, §3.4).
    pub fn fabric() -> InitLink {
        let mut l = InitLink::new();
        l.set_topology(init_topology::P2P);
        l
    }
}

/// DOWN_LINK: no payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct DownLink {
    /// MQE header.
    pub header: Le32,
    /// Dwords 1-63: reserved.
    pub rsvd: [Le32; 63],
}
native_cmd!(DownLink, mbx_cmd::DOWN_LINK);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_link_golden() {
        let mut l = InitLink::fabric();
        l.speed.set(link_speed_code::G32);
        l.set_fixed_speed(true);
        let m = l.to_mqe();
        let b = m.as_bytes();
        assert_eq!(
            &b[0..16],
            &[0, 0x05, 0, 0, 0, 0, 0, 0, 0x02, 0x08, 0, 0, 0x14, 0, 0, 0]
        );
        assert_eq!(
            InitLink::from_mqe(&l.to_mqe()).topology(),
            init_topology::P2P
        );
        assert_eq!(&DownLink::new().to_mqe().as_bytes()[0..4], &[0, 0x06, 0, 0]);
    }
}
