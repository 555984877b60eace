//! REG_RPI (0x93) and UNREG_RPI (0x14) (sli4.md §3.4; OCS
//! `sli4_cmd_reg_rpi_t`/`sli4_cmd_unreg_rpi_t`, LPFC `REG_LOGIN_VAR`).
//!
//! UNREG_RPI follows the OCS layout (index + II in dword 1, D_ID in dword 2);
//! LPFC fills the SLI-3 style fields instead, but RPI and II agree (§3.4).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::Le32;
use crate::fc::login::SERVICE_PARAMS_LEN;
use crate::sli4::bits::bitfields;
use crate::sli4::mbox::mbx_cmd;
use crate::sli4::sge::Bde;

/// REG_RPI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct RegRpi {
    /// MQE header.
    pub header: Le32,
    /// Dword 1: RPI 15-0, (OCS) NSLER 31.
    pub dw1: Le32,
    /// Dword 2: remote N_Port ID 23-0, UPD 24, ETOW 27, TERP 29, HLM 30, CI 31.
    pub dw2: Le32,
    /// Dwords 3-5: BDE to the remote port's 112-byte service parameters.
    pub sparm: Bde,
    /// Dword 6: VPI 15-0.
    pub dw6: Le32,
    /// Dwords 7-63: reserved.
    pub rsvd: [Le32; 57],
}
native_cmd!(RegRpi, mbx_cmd::REG_RPI);

impl RegRpi {
    bitfields! {
        /// Dword 1 bits 15-0: RPI.
        rpi / set_rpi: dw1[0; 16];
        /// Dword 1 bit 31: NSLER (OCS).
        nsler / set_nsler: dw1[31];
        /// Dword 2 bits 23-0: remote N_Port ID.
        remote_n_port_id / set_remote_n_port_id: dw2[0; 24];
        /// Dword 2 bit 24: UPD.
        upd / set_upd: dw2[24];
        /// Dword 2 bit 27: ETOW.
        etow / set_etow: dw2[27];
        /// Dword 2 bit 29: TERP.
        terp / set_terp: dw2[29];
        /// Dword 2 bit 30: HLM.
        hlm / set_hlm: dw2[30];
        /// Dword 2 bit 31: CI.
        ci / set_ci: dw2[31];
        /// Dword 6 bits 15-0: VPI.
        vpi / set_vpi: dw6[0; 16];
    }

    /// REG_RPI for `rpi` / `remote` in `vpi`, parameters at `sparm_addr`.
    pub fn login(rpi: u16, remote: u32, vpi: u16, sparm_addr: u64) -> RegRpi {
        let mut c = RegRpi::new();
        c.set_rpi(rpi.into());
        c.set_remote_n_port_id(remote);
        c.sparm = Bde::host(sparm_addr, SERVICE_PARAMS_LEN as u32);
        c.set_vpi(vpi.into());
        c
    }
}

/// UNREG_RPI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct UnregRpi {
    /// MQE header.
    pub header: Le32,
    /// Dword 1: index 15-0, DP 29, II 31-30 ([`super::vfi::index_type`]).
    pub dw1: Le32,
    /// Dword 2: destination N_Port ID 23-0 (valid with DP).
    pub dw2: Le32,
    /// Dwords 3-63: reserved.
    pub rsvd: [Le32; 61],
}
native_cmd!(UnregRpi, mbx_cmd::UNREG_RPI);

impl UnregRpi {
    bitfields! {
        /// Dword 1 bits 15-0: index.
        index / set_index: dw1[0; 16];
        /// Dword 1 bit 29: DP, dword 2 is valid.
        dp / set_dp: dw1[29];
        /// Dword 1 bits 31-30: index type.
        index_type / set_index_type: dw1[30; 2];
        /// Dword 2 bits 23-0: destination N_Port ID.
        d_id / set_d_id: dw2[0; 24];
    }

    /// UNREG_RPI of one RPI.
    pub fn rpi(rpi: u16) -> UnregRpi {
        let mut c = UnregRpi::new();
        c.set_index(rpi.into());
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reg_rpi_golden() {
        let c = RegRpi::login(0x21, 0xFF_FFFC, 3, 0x6000);
        let m = c.to_mqe();
        let b = m.as_bytes();
        assert_eq!(
            &b[0..12],
            &[0, 0x93, 0, 0, 0x21, 0, 0, 0, 0xFC, 0xFF, 0xFF, 0]
        );
        assert_eq!(
            &b[12..28],
            &[0x70, 0, 0, 0, 0, 0x60, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0]
        );
        let u = UnregRpi::rpi(0x21);
        assert_eq!(
            &u.to_mqe().as_bytes()[0..8],
            &[0, 0x14, 0, 0, 0x21, 0, 0, 0]
        );
        let back = UnregRpi::from_mqe(&u.to_mqe());
        assert_eq!(
            (back.index(), back.index_type(), back.dp()),
            (0x21, 0, false)
        );
    }
}
