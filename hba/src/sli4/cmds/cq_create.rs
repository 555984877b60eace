//! COMMON_CREATE_CQ (0x01/0x0C), version 2 on Lancer (sli4.md §3.5; OCS-U
//! `sli4_req_common_create_cq_v2_t`, LPFC `struct lpfc_mbx_cq_create`).

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use super::{fill_pages, Le32, PageAddr};
use crate::sli4::bits::bitfields;
use crate::sli4::mbox::Mqe;
use crate::sli4::sli_config::{common_op, embed, subsystem};

/// CQ count codes (dword 1 bits 28-27).
pub mod cq_count {
    /// 256 entries.
    pub const E256: u32 = 0;
    /// 512 entries.
    pub const E512: u32 = 1;
    /// 1024 entries.
    pub const E1024: u32 = 2;
    /// Count given in dword 3.
    pub const IN_DW3: u32 = 3;
}

/// Request payload (v2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct CreateCq {
    /// Dword 0: pages 15-0, page size 23-16 (4 KiB units).
    pub dw0: Le32,
    /// Dword 1: CLSWM 13-12, NODELAY 14, AUTOVALID 15, CQE size 26-25, count
    /// 28-27, VALID 29, EVT 31.
    pub dw1: Le32,
    /// Dword 2: EQ id 15-0, ARM 31.
    pub dw2: Le32,
    /// Dword 3: CQE count 19-0 (count code 3).
    pub dw3: Le32,
    /// Dword 4: reserved.
    pub dw4: Le32,
    /// Dwords 5-20: page addresses.
    pub pages: [PageAddr; 8],
}
const _: () = assert!(core::mem::size_of::<CreateCq>() == 84);

impl CreateCq {
    bitfields! {
        /// Dword 0 bits 15-0: number of pages.
        num_pages / set_num_pages: dw0[0; 16];
        /// Dword 0 bits 23-16: page size in 4 KiB units.
        page_size / set_page_size: dw0[16; 8];
        /// Dword 1 bits 13-12: CLSWM.
        clswm / set_clswm: dw1[12; 2];
        /// Dword 1 bit 14: NODELAY.
        nodelay / set_nodelay: dw1[14];
        /// Dword 1 bit 15: autovalid (if_type 6).
        autovalid / set_autovalid: dw1[15];
        /// Dword 1 bits 26-25: CQE size.
        cqe_size / set_cqe_size: dw1[25; 2];
        /// Dword 1 bits 28-27: count code ([`cq_count`]).
        count / set_count: dw1[27; 2];
        /// Dword 1 bit 29: valid.
        valid / set_valid: dw1[29];
        /// Dword 1 bit 31: EVT, bound to an EQ.
        evt / set_evt: dw1[31];
        /// Dword 2 bits 15-0: EQ id.
        eq_id / set_eq_id: dw2[0; 16];
        /// Dword 2 bit 31: arm.
        arm / set_arm: dw2[31];
        /// Dword 3 bits 19-0: CQE count (count code 3).
        cqe_count / set_cqe_count: dw3[0; 20];
    }

    /// A CQ of `entries` (16-byte CQEs, 256 per 4 KiB page) on `pages`, bound
    /// to `eq_id`. `None` with no or too many pages.
    pub fn new(pages: &[u64], entries: u32, eq_id: u16, autovalid: bool) -> Option<CreateCq> {
        let mut c = CreateCq::new_zeroed();
        if pages.is_empty() {
            return None;
        }
        fill_pages(&mut c.pages, pages)?;
        c.set_num_pages(pages.len() as u32);
        c.set_page_size(1);
        c.set_autovalid(autovalid);
        match entries {
            256 => c.set_count(cq_count::E256),
            512 => c.set_count(cq_count::E512),
            1024 => c.set_count(cq_count::E1024),
            n => {
                c.set_count(cq_count::IN_DW3);
                c.set_cqe_count(n);
            }
        }
        c.set_valid(true);
        c.set_evt(true);
        c.set_eq_id(eq_id.into());
        Some(c)
    }

    /// The number of entries the request asks for.
    pub fn entries(&self) -> u32 {
        match self.count() {
            cq_count::IN_DW3 => self.cqe_count(),
            code => 256 << code,
        }
    }

    /// The MQE (version 2).
    pub fn to_mqe(&self) -> Option<Mqe> {
        embed(subsystem::COMMON, common_op::CREATE_CQ, 2, self, 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sli4::sli_config::embedded_request;

    #[test]
    fn create_cq_golden() {
        let c = CreateCq::new(&[0x2000, 0x3000, 0x4000, 0x5000], 1024, 7, true).unwrap();
        let m = c.to_mqe().unwrap();
        let b = m.as_bytes();
        assert_eq!(&b[24..26], &[0x0C, 0x01]);
        assert_eq!(b[36], 2);
        // dw1: autovalid 15, count code 2 at 27, valid 29, EVT 31.
        assert_eq!(&b[40..52], &[4, 0, 1, 0, 0, 0x80, 0, 0xB0, 7, 0, 0, 0]);
        assert_eq!(&b[60..64], &[0, 0x20, 0, 0]);
        let back = embedded_request::<CreateCq>(&m).1.unwrap();
        assert_eq!((back.entries(), back.eq_id()), (1024, 7));
        let big = CreateCq::new(&[0; 8], 2048, 0, false).unwrap();
        assert_eq!((big.count(), big.entries()), (3, 2048));
    }
}
