//! READ_CONFIG (0x0B), response only (sli4.md §3.4; OCS
//! `sli4_res_read_config_t`, LPFC `struct lpfc_mbx_read_config`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::Le32;
use crate::sli4::bits::bitfields;
use crate::sli4::mbox::mbx_cmd;

/// READ_CONFIG topology values (dword 2 bits 31-24).
pub mod topology {
    /// FCoE.
    pub const FCOE: u32 = 0;
    /// FC: try point-to-point, fail over to loop.
    pub const FC_P2P_FAILOVER: u32 = 1;
    /// FC direct attach / point-to-point.
    pub const FC_P2P: u32 = 2;
    /// FC-AL.
    pub const FC_AL: u32 = 3;
}

/// READ_CONFIG.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct ReadConfig {
    /// MQE header.
    pub header: Le32,
    /// Dword 1: EXT 31; (LPFC) FAWWPN 30, FABL 29, WCS 28, ACS 27.
    pub dw1: Le32,
    /// Dword 2: link number 5-0, link type 7-6, LDV 8, trunk 15-12, PT 21-20,
    /// TF 22, PTV 23, topology 31-24.
    pub dw2: Le32,
    /// Dword 3: reserved.
    pub dw3: Le32,
    /// Dword 4: E_D_TOV 15-0.
    pub dw4: Le32,
    /// Dword 5: reserved.
    pub dw5: Le32,
    /// Dword 6: R_A_TOV 15-0, (LPFC) link speed 31-16.
    pub dw6: Le32,
    /// Dword 7: reserved.
    pub dw7: Le32,
    /// Dword 8: BB_SC_N min 3-0, max 7-4, default 11-8.
    pub dw8: Le32,
    /// Dword 9: LMT 15-0 (supported speeds).
    pub dw9: Le32,
    /// Dwords 10-11: reserved.
    pub dw10_11: [Le32; 2],
    /// Dword 12: XRI base 15-0, count 31-16.
    pub dw12: Le32,
    /// Dword 13: RPI base 15-0, count 31-16.
    pub dw13: Le32,
    /// Dword 14: VPI base 15-0, count 31-16.
    pub dw14: Le32,
    /// Dword 15: VFI base 15-0, count 31-16.
    pub dw15: Le32,
    /// Dword 16: FCFI count 31-16.
    pub dw16: Le32,
    /// Dword 17: RQ count 15-0, EQ count 31-16.
    pub dw17: Le32,
    /// Dword 18: WQ count 15-0, CQ count 31-16.
    pub dw18: Le32,
    /// Dwords 19-63: reserved.
    pub rsvd: [Le32; 45],
}
native_cmd!(ReadConfig, mbx_cmd::READ_CONFIG);

impl ReadConfig {
    bitfields! {
        /// Dword 1 bit 31: resources are allocated in extents (unsupported).
        ext / set_ext: dw1[31];
        /// Dword 2 bits 21-20: persistent topology.
        pt / set_pt: dw2[20; 2];
        /// Dword 2 bit 22: TF.
        tf / set_tf: dw2[22];
        /// Dword 2 bit 23: persistent topology valid.
        ptv / set_ptv: dw2[23];
        /// Dword 2 bits 31-24: topology ([`topology`]).
        topology / set_topology: dw2[24; 8];
        /// Dword 4 bits 15-0: E_D_TOV.
        e_d_tov / set_e_d_tov: dw4[0; 16];
        /// Dword 6 bits 15-0: R_A_TOV.
        r_a_tov / set_r_a_tov: dw6[0; 16];
        /// Dword 6 bits 31-16: link speed (LPFC).
        link_speed / set_link_speed: dw6[16; 16];
        /// Dword 8 bits 11-8: default BB_SC_N.
        bbscn_default / set_bbscn_default: dw8[8; 4];
        /// Dword 9 bits 15-0: LMT.
        lmt / set_lmt: dw9[0; 16];
        /// Dword 12 bits 15-0: XRI base.
        xri_base / set_xri_base: dw12[0; 16];
        /// Dword 12 bits 31-16: XRI count.
        xri_count / set_xri_count: dw12[16; 16];
        /// Dword 13 bits 15-0: RPI base.
        rpi_base / set_rpi_base: dw13[0; 16];
        /// Dword 13 bits 31-16: RPI count.
        rpi_count / set_rpi_count: dw13[16; 16];
        /// Dword 14 bits 15-0: VPI base.
        vpi_base / set_vpi_base: dw14[0; 16];
        /// Dword 14 bits 31-16: VPI count.
        vpi_count / set_vpi_count: dw14[16; 16];
        /// Dword 15 bits 15-0: VFI base.
        vfi_base / set_vfi_base: dw15[0; 16];
        /// Dword 15 bits 31-16: VFI count.
        vfi_count / set_vfi_count: dw15[16; 16];
        /// Dword 16 bits 31-16: FCFI count.
        fcfi_count / set_fcfi_count: dw16[16; 16];
        /// Dword 17 bits 15-0: RQ count.
        rq_count / set_rq_count: dw17[0; 16];
        /// Dword 17 bits 31-16: EQ count.
        eq_count / set_eq_count: dw17[16; 16];
        /// Dword 18 bits 15-0: WQ count.
        wq_count / set_wq_count: dw18[0; 16];
        /// Dword 18 bits 31-16: CQ count.
        cq_count / set_cq_count: dw18[16; 16];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_config_golden() {
        let mut r = ReadConfig::new();
        r.set_topology(topology::FC_P2P_FAILOVER);
        r.set_e_d_tov(2000);
        r.set_r_a_tov(10);
        r.set_xri_base(0x100);
        r.set_xri_count(0x800);
        r.set_rpi_count(0x40);
        r.set_eq_count(8);
        r.set_cq_count(16);
        r.set_wq_count(16);
        let m = r.to_mqe();
        let b = m.as_bytes();
        assert_eq!(&b[0..4], &[0, 0x0B, 0, 0]);
        assert_eq!(b[11], 1);
        assert_eq!(&b[16..18], &2000u16.to_le_bytes());
        assert_eq!(&b[24..26], &10u16.to_le_bytes());
        assert_eq!(&b[48..52], &[0x00, 0x01, 0x00, 0x08]);
        assert_eq!(&b[54..56], &[0x40, 0]);
        assert_eq!(&b[68..72], &[0, 0, 8, 0]);
        assert_eq!(&b[72..76], &[16, 0, 16, 0]);
        let back = ReadConfig::from_mqe(&m);
        assert_eq!(
            (back.xri_base(), back.xri_count(), back.ext()),
            (0x100, 0x800, false)
        );
    }
}
