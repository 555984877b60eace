//! INIT_VFI (0xA3), REG_VFI (0x9F), UNREG_VFI (0xA1) (sli4.md §3.4, §6.1;
//! OCS `sli4_cmd_init_vfi_t`/`sli4_cmd_reg_vfi_t`, LPFC `struct
//! lpfc_mbx_init_vfi`/`struct lpfc_mbx_reg_vfi`).

use ufc_transport::wwn::Wwn;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::Le32;
use crate::fc::login::SERVICE_PARAMS_LEN;
use crate::sli4::bits::{bitfields, le32};
use crate::sli4::mbox::mbx_cmd;
use crate::sli4::sge::Bde;

/// UNREG_VFI / UNREG_VPI / UNREG_RPI "index is" values (II field).
pub mod index_type {
    /// The index is an RPI (UNREG_RPI) / VFI (UNREG_VFI) / VPI (UNREG_VPI).
    pub const SELF: u32 = 0;
    /// The index is a VPI (UNREG_RPI: all RPIs of the VPI).
    pub const VPI: u32 = 1;
    /// The index is a VFI.
    pub const VFI: u32 = 2;
    /// The index is an FCFI.
    pub const FCFI: u32 = 3;
}

/// INIT_VFI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct InitVfi {
    /// MQE header.
    pub header: Le32,
    /// Dword 1: VFI 15-0, VP 28, VF 29, VT 30, VR 31.
    pub dw1: Le32,
    /// Dword 2: FCFI 15-0, VPI 31-16.
    pub dw2: Le32,
    /// Dword 3: VF id (OCS 12-0, LPFC 12-1), priority 15-13.
    pub dw3: Le32,
    /// Dword 4: hop count 31-24.
    pub dw4: Le32,
    /// Dwords 5-63: reserved.
    pub rsvd: [Le32; 59],
}
native_cmd!(InitVfi, mbx_cmd::INIT_VFI);

impl InitVfi {
    bitfields! {
        /// Dword 1 bits 15-0: VFI.
        vfi / set_vfi: dw1[0; 16];
        /// Dword 1 bit 28: VP, also initialise the VPI.
        vp / set_vp: dw1[28];
        /// Dword 1 bit 29: VF.
        vf / set_vf: dw1[29];
        /// Dword 1 bit 30: VT.
        vt / set_vt: dw1[30];
        /// Dword 1 bit 31: VR.
        vr / set_vr: dw1[31];
        /// Dword 2 bits 15-0: FCFI.
        fcfi / set_fcfi: dw2[0; 16];
        /// Dword 2 bits 31-16: VPI.
        vpi / set_vpi: dw2[16; 16];
    }

    /// INIT_VFI as OCS issues it on plain FC: VP only (sli4.md §8 recommends
    /// VP only; LPFC also sets VR and VT).
    pub fn fc(vfi: u16, fcfi: u16, vpi: u16) -> InitVfi {
        let mut c = InitVfi::new();
        c.set_vfi(vfi.into());
        c.set_vp(true);
        c.set_fcfi(fcfi.into());
        c.set_vpi(vpi.into());
        c
    }
}

/// REG_VFI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct RegVfi {
    /// MQE header.
    pub header: Le32,
    /// Dword 1: VFI 15-0, VP 28 (register the VPI too), UPD 29.
    pub dw1: Le32,
    /// Dword 2: FCFI 15-0, VPI 31-16.
    pub dw2: Le32,
    /// Dwords 3-4: our WWPN, 8 bytes in wire (big-endian) order.
    pub wwpn: [u8; 8],
    /// Dwords 5-7: BDE to the FLOGI ACC service parameters (112 bytes).
    pub sparm: Bde,
    /// Dword 8: E_D_TOV (LPFC passes milliseconds).
    pub e_d_tov: Le32,
    /// Dword 9: R_A_TOV (LPFC passes seconds; OCS the READ_CONFIG value —
    /// units not found, sli4.md §3.4).
    pub r_a_tov: Le32,
    /// Dword 10: local N_Port ID 23-0, BBCR 27, BB_SC_N 31-28.
    pub dw10: Le32,
    /// Dwords 11-63: reserved.
    pub rsvd: [Le32; 53],
}
native_cmd!(RegVfi, mbx_cmd::REG_VFI);

impl RegVfi {
    bitfields! {
        /// Dword 1 bits 15-0: VFI.
        vfi / set_vfi: dw1[0; 16];
        /// Dword 1 bit 28: VP.
        vp / set_vp: dw1[28];
        /// Dword 1 bit 29: UPD.
        upd / set_upd: dw1[29];
        /// Dword 2 bits 15-0: FCFI.
        fcfi / set_fcfi: dw2[0; 16];
        /// Dword 2 bits 31-16: VPI.
        vpi / set_vpi: dw2[16; 16];
        /// Dword 10 bits 23-0: local N_Port ID (from the FLOGI WCQE).
        local_n_port_id / set_local_n_port_id: dw10[0; 24];
        /// Dword 10 bit 27: BBCR.
        bbcr / set_bbcr: dw10[27];
        /// Dword 10 bits 31-28: BB_SC_N.
        bb_sc_n / set_bb_sc_n: dw10[28; 4];
    }

    /// REG_VFI after FLOGI (§6.1 step 8): VP=1, our WWPN, the ACC service
    /// parameters, the timeouts as LPFC passes them.
    pub fn after_flogi(p: &RegVfiParams) -> RegVfi {
        let mut c = RegVfi::new();
        c.set_vfi(p.vfi.into());
        c.set_vp(true);
        c.set_fcfi(p.fcfi.into());
        c.set_vpi(p.vpi.into());
        c.wwpn = p.wwpn.0.to_be_bytes();
        c.sparm = Bde::host(p.sparm_addr, SERVICE_PARAMS_LEN as u32);
        c.e_d_tov = le32(p.e_d_tov_ms);
        c.r_a_tov = le32(p.r_a_tov_s);
        c.set_local_n_port_id(p.n_port_id);
        c
    }

    /// The WWPN.
    pub fn wwpn(&self) -> Wwn {
        Wwn(u64::from_be_bytes(self.wwpn))
    }
}

/// What REG_VFI registers after a successful FLOGI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegVfiParams {
    /// VFI chosen by the driver.
    pub vfi: u16,
    /// FCFI returned by REG_FCFI.
    pub fcfi: u16,
    /// VPI of the physical port.
    pub vpi: u16,
    /// Our WWPN.
    pub wwpn: Wwn,
    /// IOVA of the FLOGI ACC service parameters (112 bytes).
    pub sparm_addr: u64,
    /// Our N_Port ID (FLOGI WCQE dword 2).
    pub n_port_id: u32,
    /// E_D_TOV in milliseconds.
    pub e_d_tov_ms: u32,
    /// R_A_TOV in seconds (LPFC's unit; §3.4 says OCS's is not found).
    pub r_a_tov_s: u32,
}

/// UNREG_VFI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct UnregVfi {
    /// MQE header.
    pub header: Le32,
    /// Dword 1: reserved.
    pub dw1: Le32,
    /// Dword 2: index 15-0, II 31-30 (0 VFI, 3 FCFI).
    pub dw2: Le32,
    /// Dwords 3-63: reserved.
    pub rsvd: [Le32; 61],
}
native_cmd!(UnregVfi, mbx_cmd::UNREG_VFI);

impl UnregVfi {
    bitfields! {
        /// Dword 2 bits 15-0: index.
        index / set_index: dw2[0; 16];
        /// Dword 2 bits 31-30: index type ([`index_type`]).
        index_type / set_index_type: dw2[30; 2];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_vfi_golden() {
        let m = InitVfi::fc(1, 2, 3).to_mqe();
        let b = m.as_bytes();
        assert_eq!(&b[0..12], &[0, 0xA3, 0, 0, 1, 0, 0, 0x10, 2, 0, 3, 0]);
    }

    #[test]
    fn reg_vfi_golden() {
        let c = RegVfi::after_flogi(&RegVfiParams {
            vfi: 1,
            fcfi: 2,
            vpi: 3,
            wwpn: Wwn(0x1000_0090_FA94_2779),
            sparm_addr: 0x5000,
            n_port_id: 0x01_0200,
            e_d_tov_ms: 2000,
            r_a_tov_s: 10,
        });
        let m = c.to_mqe();
        let b = m.as_bytes();
        assert_eq!(&b[0..12], &[0, 0x9F, 0, 0, 1, 0, 0, 0x10, 2, 0, 3, 0]);
        assert_eq!(&b[12..20], &[0x10, 0, 0, 0x90, 0xFA, 0x94, 0x27, 0x79]);
        assert_eq!(&b[20..32], &[0x70, 0, 0, 0, 0, 0x50, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&b[32..44], &[0xD0, 0x07, 0, 0, 10, 0, 0, 0, 0, 2, 1, 0]);
        let back = RegVfi::from_mqe(&c.to_mqe());
        assert_eq!(back.wwpn(), Wwn(0x1000_0090_FA94_2779));
        let mut u = UnregVfi::new();
        u.set_index(1);
        u.set_index_type(index_type::FCFI);
        assert_eq!(&u.to_mqe().as_bytes()[8..12], &[1, 0, 0, 0xC0]);
    }
}
