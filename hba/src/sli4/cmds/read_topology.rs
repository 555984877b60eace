//! READ_TOPOLOGY (0x95), issued after a link-up ACQE (sli4.md §3.4; OCS
//! `sli4_cmd_read_topology_t`, LPFC `struct lpfc_mbx_read_top`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::Le32;
use crate::sli4::bits::bitfields;
use crate::sli4::mbox::mbx_cmd;
use crate::sli4::sge::Bde;

/// READ_TOPOLOGY topology values (dword 3 bits 7-0).
pub mod topology {
    /// Point-to-point or fabric.
    pub const P2P_OR_FABRIC: u32 = 1;
    /// FC-AL.
    pub const FC_AL: u32 = 2;
}

/// READ_TOPOLOGY link speed codes (dwords 7/8 bits 15-8).
pub mod speed {
    /// 1 Gb/s.
    pub const G1: u32 = 0x04;
    /// 2 Gb/s.
    pub const G2: u32 = 0x08;
    /// 4 Gb/s.
    pub const G4: u32 = 0x10;
    /// 8 Gb/s.
    pub const G8: u32 = 0x20;
    /// 10 Gb/s.
    pub const G10: u32 = 0x40;
    /// 16 Gb/s.
    pub const G16: u32 = 0x80;
    /// 32 Gb/s.
    pub const G32: u32 = 0x90;
    /// 64 Gb/s.
    pub const G64: u32 = 0xA0;
    /// 128 Gb/s.
    pub const G128: u32 = 0xB0;
    /// 256 Gb/s.
    pub const G256: u32 = 0xC0;
}

/// READ_TOPOLOGY.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct ReadTopology {
    /// MQE header.
    pub header: Le32,
    /// Dword 1: event tag.
    pub event_tag: Le32,
    /// Dword 2: attention type 7-0 (1 up, 2 down, 3 no hard AL_PA, 6
    /// unexpected WWPN), IL 8, PB 9, FEC 10, MM 11, FA 12, FEC enabled 13.
    pub dw2: Le32,
    /// Dword 3: topology 7-0, LIP type 15-8, LIP AL_PS 23-16, AL_PA granted 31-24.
    pub dw3: Le32,
    /// Dwords 4-6: BDE for a 128-byte loop map (loop only).
    pub loop_map: Bde,
    /// Dword 7: link state at link-down (same layout as dword 8).
    pub dw7: Le32,
    /// Dword 8: current link state: rx 1-0, tx 3-2, state machine 7-4, speed
    /// 15-8, TF 30, LU 31.
    pub dw8: Le32,
    /// Dword 9: max BB credit 7-0, initial BB credit 15-8, BBSCN 19-16, CBBSCN 23-20.
    pub dw9: Le32,
    /// Dword 10: R_T_TOV 8-0, AL_TOV 15-12, LP_TOV 31-16.
    pub dw10: Le32,
    /// Dword 11: acquired AL_PA 7-0, PB 15, specified AL_PA 31-16.
    pub dw11: Le32,
    /// Dword 12: initial N_Port ID 23-0.
    pub dw12: Le32,
    /// Dword 13: trunk config 7-0.
    pub dw13: Le32,
    /// Dwords 14-63: reserved.
    pub rsvd: [Le32; 50],
}
native_cmd!(ReadTopology, mbx_cmd::READ_TOPOLOGY);

impl ReadTopology {
    bitfields! {
        /// Dword 2 bits 7-0: attention type.
        attention_type / set_attention_type: dw2[0; 8];
        /// Dword 3 bits 7-0: topology ([`topology`]).
        topology / set_topology: dw3[0; 8];
        /// Dword 3 bits 31-24: AL_PA granted.
        alpa_granted / set_alpa_granted: dw3[24; 8];
        /// Dword 8 bits 15-8: current link speed ([`speed`]).
        link_speed / set_link_speed: dw8[8; 8];
        /// Dword 8 bit 31: link up.
        link_up / set_link_up: dw8[31];
        /// Dword 9 bits 7-0: max BB credit.
        max_bb_credit / set_max_bb_credit: dw9[0; 8];
        /// Dword 9 bits 15-8: initial BB credit.
        init_bb_credit / set_init_bb_credit: dw9[8; 8];
        /// Dword 12 bits 23-0: initial N_Port ID.
        initial_n_port_id / set_initial_n_port_id: dw12[0; 24];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_topology_golden() {
        let mut r = ReadTopology::new();
        r.event_tag.set(7);
        r.set_attention_type(1);
        r.set_topology(topology::P2P_OR_FABRIC);
        r.set_link_speed(speed::G32);
        r.set_link_up(true);
        r.set_initial_n_port_id(0x01_0200);
        let m = r.to_mqe();
        let b = m.as_bytes();
        assert_eq!(
            &b[0..16],
            &[0, 0x95, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
        );
        assert_eq!(&b[32..36], &[0, 0x90, 0, 0x80]);
        assert_eq!(&b[48..52], &[0, 2, 1, 0]);
    }
}
