//! COMMON_GET_SLI4_PARAMETERS (0x01/0xB5) response payload (sli4.md §3.5;
//! OCS-U `sli4_res_common_get_sli4_parameters_t`, LPFC `struct
//! lpfc_sli4_parameters`). No request payload.

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use super::Le32;
use crate::sli4::bits::bitfields;
use crate::sli4::mbox::Mqe;
use crate::sli4::sli_config::{common_op, embed, subsystem};

/// The response payload (dwords 0-23 after the response header).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Sli4Params {
    /// Dword 0: protocol type 7-0.
    pub dw0: Le32,
    /// Dword 1: FT 0, SLI rev 7-4, family 11-8, if_type 15-12, hint1 23-16, hint2 28-24.
    pub dw1: Le32,
    /// Dword 2: EQ page count 3-0, EQE sizes 11-8, page sizes 23-16, count method 27-24, EQAV 31.
    pub dw2: Le32,
    /// Dword 3: EQE count mask 15-0.
    pub dw3: Le32,
    /// Dword 4: CQ page count 3-0, CQE sizes 11-8, CQV 15-14, page sizes 23-16, count method 27-24, CQAV 31.
    pub dw4: Le32,
    /// Dword 5: CQE count mask 19-0.
    pub dw5: Le32,
    /// Dword 6: MQ page count 3-0, MQV 15-14, page sizes 23-16, count method 27-24.
    pub dw6: Le32,
    /// Dword 7: MQE count mask.
    pub dw7: Le32,
    /// Dword 8: WQ page count 3-0, WQE sizes 11-8, WQV 15-14, page sizes 23-16, count method 27-24.
    pub dw8: Le32,
    /// Dword 9: WQE count mask 19-0.
    pub dw9: Le32,
    /// Dword 10: RQ page count 3-0, RQE sizes 11-8, RQV 15-14, page sizes 23-16, count method 27-24.
    pub dw10: Le32,
    /// Dword 11: RQE count mask 19-0, RQ doorbell window 31-28.
    pub dw11: Le32,
    /// Dword 12: FCoE 0, EXT 1, HDRR 2, SGLR 3, FBRR 4, AREG 5, TGT 6, ... loopback scope 31-28.
    pub dw12: Le32,
    /// Dword 13: max SGE length.
    pub dw13: Le32,
    /// Dword 14: SGL page count 3-0, SGL page sizes 15-8, SGL page alignment 23-16.
    pub dw14: Le32,
    /// Dword 15: min RQ buffer size 15-0.
    pub dw15: Le32,
    /// Dword 16: max RQ buffer size.
    pub dw16: Le32,
    /// Dword 17: physical max XRI 15-0, RPI 31-16.
    pub dw17: Le32,
    /// Dword 18: physical max VPI 15-0, VFI 31-16.
    pub dw18: Le32,
    /// Dword 19: XECB 0, MDSD 1, EFWD 2, NVME 3, XIB 4, TOW 5, XPSGL 6, FDB 7,
    /// EQDR 8, NOSR 9, BV1S 10, ARBDE 11, NSLER 12, PVL 13, PBDE 20.
    pub dw19: Le32,
    /// Dwords 20-23: SGL fragment / chaining parameters (OCS), TOW XRIs, CMF (LPFC).
    pub dw20_23: [Le32; 4],
}
const _: () = assert!(core::mem::size_of::<Sli4Params>() == 96);

impl Sli4Params {
    bitfields! {
        /// Dword 0 bits 7-0: protocol type.
        protocol_type / set_protocol_type: dw0[0; 8];
        /// Dword 1 bits 15-12: if_type.
        if_type / set_if_type: dw1[12; 4];
        /// Dword 1 bits 11-8: SLI family.
        family / set_family: dw1[8; 4];
        /// Dword 2 bits 11-8: EQE sizes supported.
        eqe_sizes / set_eqe_sizes: dw2[8; 4];
        /// Dword 2 bit 31: EQ autovalid supported (LPFC).
        eqav / set_eqav: dw2[31];
        /// Dword 4 bits 15-14: CQ create version.
        cqv / set_cqv: dw4[14; 2];
        /// Dword 4 bit 31: CQ autovalid supported (LPFC).
        cqav / set_cqav: dw4[31];
        /// Dword 6 bits 15-14: MQ create version.
        mqv / set_mqv: dw6[14; 2];
        /// Dword 8 bits 11-8: WQE sizes (bit 9 set = 128-byte WQEs).
        wqe_sizes / set_wqe_sizes: dw8[8; 4];
        /// Dword 8 bits 15-14: WQ create version.
        wqv / set_wqv: dw8[14; 2];
        /// Dword 8 bits 23-16: WQ page sizes.
        wq_page_sizes / set_wq_page_sizes: dw8[16; 8];
        /// Dword 10 bits 15-14: RQ create version.
        rqv / set_rqv: dw10[14; 2];
        /// Dword 11 bits 31-28: RQ doorbell window.
        rq_db_window / set_rq_db_window: dw11[28; 4];
        /// Dword 12 bit 1: EXT, extents.
        ext / set_ext: dw12[1];
        /// Dword 12 bit 2: HDRR, RPI header templates required.
        hdrr / set_hdrr: dw12[2];
        /// Dword 12 bit 3: SGLR, SGL pre-registration required.
        sglr / set_sglr: dw12[3];
        /// Dword 14 bits 3-0: SGL page count.
        sgl_page_count / set_sgl_page_count: dw14[0; 4];
        /// Dword 14 bits 15-8: SGL page sizes.
        sgl_page_sizes / set_sgl_page_sizes: dw14[8; 8];
        /// Dword 15 bits 15-0: min RQ buffer size.
        min_rq_buffer / set_min_rq_buffer: dw15[0; 16];
        /// Dword 17 bits 15-0: physical max XRI.
        max_xri / set_max_xri: dw17[0; 16];
        /// Dword 17 bits 31-16: physical max RPI.
        max_rpi / set_max_rpi: dw17[16; 16];
        /// Dword 19 bit 0: XECB, FCP/NVMe command may be embedded in a 128-byte WQE.
        xecb / set_xecb: dw19[0];
        /// Dword 19 bit 3: NVME.
        nvme / set_nvme: dw19[3];
        /// Dword 19 bit 4: XIB.
        xib / set_xib: dw19[4];
        /// Dword 19 bit 12: NSLER.
        nsler / set_nsler: dw19[12];
        /// Dword 19 bit 13: PVL (LPFC "pls", loop support).
        pvl / set_pvl: dw19[13];
        /// Dword 19 bit 20: PBDE (LPFC).
        pbde / set_pbde: dw19[20];
    }

    /// LPFC enables FC-NVMe only when NVME and XIB are both set.
    pub fn nvme_capable(&self) -> bool {
        self.nvme() && self.xib()
    }

    /// Dword 16: max RQ buffer size.
    pub fn max_rq_buffer(&self) -> u32 {
        self.dw16.get()
    }

    /// Dword 13: max SGE length.
    pub fn max_sge_len(&self) -> u32 {
        self.dw13.get()
    }
}

/// The request MQE (embedded, no payload, room for the 96-byte response).
pub fn request() -> Mqe {
    // 0 + 96 bytes always fit the 216-byte embedded area.
    embed(
        subsystem::COMMON,
        common_op::GET_SLI4_PARAMETERS,
        0,
        &[0u8; 0],
        core::mem::size_of::<Sli4Params>(),
    )
    .unwrap_or_else(Mqe::new_zeroed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sli4::sli_config::{embedded_response, CfgResponseHeader, SliConfig};

    #[test]
    fn get_sli4_params_golden() {
        let m = request();
        let b = m.as_bytes();
        assert_eq!(&b[0..12], &[0, 0x9B, 0, 0, 1, 0, 0, 0, 112, 0, 0, 0]);
        assert_eq!(&b[24..36], &[0xB5, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        // Device model writes the response.
        let mut f = Sli4Params::default();
        f.set_if_type(6);
        f.set_eqav(true);
        f.set_cqav(true);
        f.set_sglr(true);
        f.set_nvme(true);
        f.set_xib(true);
        f.set_wqe_sizes(0b0010);
        f.set_min_rq_buffer(64);
        f.dw16.set(2048);
        let mut c = SliConfig::from_mqe(&m);
        c.set_response_header(&CfgResponseHeader::default());
        c.payload_after_header_mut()[..96].copy_from_slice(f.as_bytes());
        let out = c.to_mqe();
        assert_eq!(&out.as_bytes()[40 + 8..40 + 12], &[0, 0, 0, 0x80]);
        assert_eq!(&out.as_bytes()[40 + 76..40 + 80], &[0x18, 0, 0, 0]);
        let (h, p) = embedded_response::<Sli4Params>(&out);
        assert_eq!(h.status(), 0);
        let back = p.unwrap();
        assert!(back.nvme_capable() && back.eqav() && back.cqav() && back.sglr() && !back.hdrr());
        assert_eq!(
            (back.if_type(), back.min_rq_buffer(), back.max_rq_buffer()),
            (6, 64, 2048)
        );
    }
}
