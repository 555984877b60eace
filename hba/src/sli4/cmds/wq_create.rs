//! FCOE_WQ_CREATE (0x0C/0x01), version 1 (sli4.md §3.5; OCS
//! `sli4_req_fcoe_wq_create_v1_t`, LPFC `struct lpfc_mbx_wq_create`
//! `request_1`). Lancer uses version 1 (OCS always).

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use super::{fill_pages, Le32, PageAddr};
use crate::sli4::bits::bitfields;
use crate::sli4::mbox::Mqe;
use crate::sli4::sli_config::{embed, fc_op, subsystem};

/// WQE size codes (dword 1 bits 11-8).
pub mod wqe_size {
    /// 64-byte WQEs.
    pub const B64: u32 = 5;
    /// 128-byte WQEs.
    pub const B128: u32 = 6;

    /// Bytes per WQE of a code.
    pub const fn bytes(code: u32) -> Option<usize> {
        match code {
            B64 => Some(64),
            B128 => Some(128),
            _ => None,
        }
    }
}

/// Request payload (v1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct CreateWq {
    /// Dword 0: pages 15-0 (LPFC 14.4 masks 7-0), CQ id 31-16.
    pub dw0: Le32,
    /// Dword 1: page size 7-0 (4 KiB units), WQE size 11-8, TOE 13, DOE 14,
    /// DPP 15, WQE count 31-16.
    pub dw1: Le32,
    /// Dword 2: (OCS) SFQ 0.
    pub dw2: Le32,
    /// Dwords 3-18: page addresses.
    pub pages: [PageAddr; 8],
}
const _: () = assert!(core::mem::size_of::<CreateWq>() == 76);

impl CreateWq {
    bitfields! {
        /// Dword 0 bits 15-0: number of pages.
        num_pages / set_num_pages: dw0[0; 16];
        /// Dword 0 bits 31-16: CQ id.
        cq_id / set_cq_id: dw0[16; 16];
        /// Dword 1 bits 7-0: page size in 4 KiB units.
        page_size / set_page_size: dw1[0; 8];
        /// Dword 1 bits 11-8: WQE size ([`wqe_size`]).
        wqe_size / set_wqe_size: dw1[8; 4];
        /// Dword 1 bit 13: TOE.
        toe / set_toe: dw1[13];
        /// Dword 1 bit 14: DOE.
        doe / set_doe: dw1[14];
        /// Dword 1 bit 15: DPP requested.
        dpp / set_dpp: dw1[15];
        /// Dword 1 bits 31-16: WQE count.
        wqe_count / set_wqe_count: dw1[16; 16];
        /// Dword 2 bit 0: SFQ (OCS).
        sfq / set_sfq: dw2[0];
    }

    /// A WQ of `entries` 64-byte WQEs on 4 KiB `pages`, completing on
    /// `cq_id`. `None` with no or too many pages, or more entries than the
    /// pages hold.
    pub fn new(pages: &[u64], entries: u16, cq_id: u16) -> Option<CreateWq> {
        let mut c = CreateWq::new_zeroed();
        if pages.is_empty() || usize::from(entries) > pages.len() * 4096 / 64 {
            return None;
        }
        fill_pages(&mut c.pages, pages)?;
        c.set_num_pages(pages.len() as u32);
        c.set_cq_id(cq_id.into());
        c.set_page_size(1);
        c.set_wqe_size(wqe_size::B64);
        c.set_wqe_count(entries.into());
        Some(c)
    }

    /// The MQE (version 1).
    pub fn to_mqe(&self) -> Option<Mqe> {
        embed(
            subsystem::FC,
            fc_op::WQ_CREATE,
            1,
            self,
            core::mem::size_of::<CreateWqRsp>(),
        )
    }
}

/// Response payload (v1).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct CreateWqRsp {
    /// Dword 0: WQ id 15-0, DPP granted 31.
    pub dw0: Le32,
    /// Dword 1: doorbell BAR set 3-0.
    pub dw1: Le32,
    /// Dword 2: doorbell offset.
    pub db_offset: Le32,
    /// Dword 3: DPP BAR set 3-0, DPP id 20-16.
    pub dw3: Le32,
    /// Dword 4: DPP offset.
    pub dpp_offset: Le32,
}
const _: () = assert!(core::mem::size_of::<CreateWqRsp>() == 20);

impl CreateWqRsp {
    bitfields! {
        /// Dword 0 bits 15-0: WQ id.
        queue_id / set_queue_id: dw0[0; 16];
        /// Dword 0 bit 31: DPP granted.
        dpp / set_dpp: dw0[31];
        /// Dword 1 bits 3-0: doorbell BAR set.
        bar_set / set_bar_set: dw1[0; 4];
        /// Dword 3 bits 3-0: DPP BAR set.
        dpp_bar_set / set_dpp_bar_set: dw3[0; 4];
        /// Dword 3 bits 20-16: DPP id.
        dpp_id / set_dpp_id: dw3[16; 5];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sli4::sli_config::{embedded_request, embedded_response, SliConfig};

    #[test]
    fn create_wq_golden() {
        let c = CreateWq::new(&[0x1_0000_8000], 64, 5).unwrap();
        let m = c.to_mqe().unwrap();
        let b = m.as_bytes();
        assert_eq!(&b[8..12], &(16u32 + 76).to_le_bytes());
        assert_eq!(&b[24..26], &[0x01, 0x0C]);
        assert_eq!(&b[32..36], &76u32.to_le_bytes());
        assert_eq!(b[36], 1);
        assert_eq!(&b[40..48], &[1, 0, 5, 0, 1, 0x05, 64, 0]);
        assert_eq!(&b[52..60], &[0, 0x80, 0, 0, 1, 0, 0, 0]);
        let back = embedded_request::<CreateWq>(&m).1.unwrap();
        assert_eq!((back.cq_id(), back.wqe_count()), (5, 64));
        assert_eq!(wqe_size::bytes(back.wqe_size()), Some(64));
        assert!(CreateWq::new(&[0x1000], 65, 5).is_none());
        assert!(CreateWq::new(&[], 1, 5).is_none());

        // Response as the port writes it.
        let mut s = SliConfig::from_mqe(&m);
        let mut r = CreateWqRsp::default();
        r.set_queue_id(9);
        s.payload_after_header_mut()[..20].copy_from_slice(r.as_bytes());
        let out = s.to_mqe();
        assert_eq!(&out.as_bytes()[40..44], &[9, 0, 0, 0]);
        assert_eq!(
            embedded_response::<CreateWqRsp>(&out).1.unwrap().queue_id(),
            9
        );
    }
}
