//! FCOE_RQ_CREATE (0x0C/0x05), version 1 (sli4.md §3.5; OCS
//! `sli4_req_fcoe_rq_create_v1_t`, LPFC `struct lpfc_mbx_rq_create`
//! `request` with version 1). Lancer uses version 1 (OCS always; LPFC when
//! RQV = 1).
//!
//! An FC receive queue is a pair created back to back on one CQ: the header
//! RQ (even id) then the data RQ (the next, odd id) — OCS fails otherwise.

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use super::{fill_pages, Le32, PageAddr};
use crate::sli4::bits::bitfields;
use crate::sli4::mbox::Mqe;
use crate::sli4::sli_config::{embed, fc_op, subsystem};

/// RQE size code for 8-byte RQEs (dword 1 bits 11-8).
pub const RQE_SIZE_8: u32 = 2;

/// Request payload (v1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct CreateRq {
    /// Dword 0: pages 15-0, DIM 29, DFD 30, DNB 31.
    pub dw0: Le32,
    /// Dword 1: page size 7-0, RQE size 11-8, RQE count high 15-12 (G7+),
    /// RQE count 31-16.
    pub dw1: Le32,
    /// Dword 2: reserved.
    pub dw2: Le32,
    /// Dword 3: CQ id 31-16.
    pub dw3: Le32,
    /// Dword 4: buffer size in bytes.
    pub buffer_size: Le32,
    /// Dwords 5-20: page addresses.
    pub pages: [PageAddr; 8],
}
const _: () = assert!(core::mem::size_of::<CreateRq>() == 84);

impl CreateRq {
    bitfields! {
        /// Dword 0 bits 15-0: number of pages.
        num_pages / set_num_pages: dw0[0; 16];
        /// Dword 0 bit 29: DIM.
        dim / set_dim: dw0[29];
        /// Dword 0 bit 30: DFD.
        dfd / set_dfd: dw0[30];
        /// Dword 0 bit 31: DNB.
        dnb / set_dnb: dw0[31];
        /// Dword 1 bits 7-0: page size in 4 KiB units.
        page_size / set_page_size: dw1[0; 8];
        /// Dword 1 bits 11-8: RQE size (code 2 = 8 bytes).
        rqe_size / set_rqe_size: dw1[8; 4];
        /// Dword 1 bits 15-12: RQE count high bits (G7+).
        rqe_count_hi / set_rqe_count_hi: dw1[12; 4];
        /// Dword 1 bits 31-16: RQE count.
        rqe_count / set_rqe_count: dw1[16; 16];
        /// Dword 3 bits 31-16: CQ id.
        cq_id / set_cq_id: dw3[16; 16];
    }

    /// An RQ of `entries` 8-byte RQEs on 4 KiB `pages`, receiving into
    /// `buffer_size`-byte buffers, completing on `cq_id`. `None` with no or
    /// too many pages, or more entries than the pages hold.
    pub fn new(pages: &[u64], entries: u16, buffer_size: u32, cq_id: u16) -> Option<CreateRq> {
        let mut c = CreateRq::new_zeroed();
        if pages.is_empty() || usize::from(entries) > pages.len() * 4096 / 8 {
            return None;
        }
        fill_pages(&mut c.pages, pages)?;
        c.set_num_pages(pages.len() as u32);
        c.set_page_size(1);
        c.set_rqe_size(RQE_SIZE_8);
        c.set_rqe_count(entries.into());
        c.set_cq_id(cq_id.into());
        c.buffer_size.set(buffer_size);
        Some(c)
    }

    /// The MQE (version 1).
    pub fn to_mqe(&self) -> Option<Mqe> {
        embed(
            subsystem::FC,
            fc_op::RQ_CREATE,
            1,
            self,
            core::mem::size_of::<CreateRqRsp>(),
        )
    }
}

/// Response payload.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct CreateRqRsp {
    /// Dword 0: RQ id 15-0 (v2: count 31-16).
    pub dw0: Le32,
    /// Dword 1: doorbell offset.
    pub db_offset: Le32,
    /// Dword 2: doorbell BAR set / doorbell format.
    pub dw2: Le32,
}
const _: () = assert!(core::mem::size_of::<CreateRqRsp>() == 12);

impl CreateRqRsp {
    bitfields! {
        /// Dword 0 bits 15-0: RQ id.
        queue_id / set_queue_id: dw0[0; 16];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sli4::sli_config::embedded_request;

    #[test]
    fn create_rq_golden() {
        let c = CreateRq::new(&[0x1_0000_9000], 512, 2048, 6).unwrap();
        let m = c.to_mqe().unwrap();
        let b = m.as_bytes();
        assert_eq!(&b[24..26], &[0x05, 0x0C]);
        assert_eq!(&b[32..36], &84u32.to_le_bytes());
        assert_eq!(b[36], 1);
        assert_eq!(&b[40..48], &[1, 0, 0, 0, 1, 0x02, 0x00, 0x02]);
        assert_eq!(&b[52..60], &[0, 0, 6, 0, 0, 0x08, 0, 0]);
        assert_eq!(&b[60..68], &[0, 0x90, 0, 0, 1, 0, 0, 0]);
        let back = embedded_request::<CreateRq>(&m).1.unwrap();
        assert_eq!(
            (back.rqe_count(), back.cq_id(), back.buffer_size.get()),
            (512, 6, 2048)
        );
        assert!(CreateRq::new(&[0x1000], 513, 128, 6).is_none());
        assert!(CreateRq::new(&[], 1, 128, 6).is_none());
    }
}
