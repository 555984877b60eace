//! COMMON_CREATE_MQ_EXT (0x01/0x5A) (sli4.md §3.5; OCS
//! `sli4_req_common_create_mq_ext_t`, LPFC `struct lpfc_mbx_mq_create_ext`).
//!
//! The version comes from GET_SLI4_PARAMETERS.MQV: version 1 names the CQ in
//! dword 0 bits 31-16, version 0 in dword 2 bits 31-22. Response: dword 0 bits
//! 15-0 = MQ id ([`super::eq_create::CreateQueueRsp`]).

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use super::{fill_pages, Le32, PageAddr};
use crate::sli4::bits::bitfields;
use crate::sli4::mbox::Mqe;
use crate::sli4::sli_config::{common_op, embed, subsystem};

/// Async event subscription bits (dword 1).
pub mod async_event {
    /// Link state (Ethernet).
    pub const LINK_STATE: u32 = 1 << 1;
    /// FCoE FIP.
    pub const FCOE_FIP: u32 = 1 << 2;
    /// DCBX.
    pub const DCBX: u32 = 1 << 3;
    /// iSCSI.
    pub const ISCSI: u32 = 1 << 4;
    /// Group 5.
    pub const GROUP5: u32 = 1 << 5;
    /// FC link attention (ACQE code 0x10).
    pub const FC: u32 = 1 << 16;
    /// SLI port event (ACQE code 0x11).
    pub const SLI_PORT: u32 = 1 << 17;
    /// VF.
    pub const VF: u32 = 1 << 18;
    /// MR.
    pub const MR: u32 = 1 << 19;
}

/// The ring size code (dword 2 bits 19-16) for `entries`: 5 = 16, 6 = 32,
/// 7 = 64, 8 = 128 entries.
pub const fn ring_size_code(entries: u32) -> Option<u32> {
    match entries {
        16 => Some(5),
        32 => Some(6),
        64 => Some(7),
        128 => Some(8),
        _ => None,
    }
}

/// Entries of a ring size code; `None` outside 5..=8.
pub const fn ring_size_entries(code: u32) -> Option<u32> {
    match code {
        5..=8 => Some(1 << (code - 1)),
        _ => None,
    }
}

/// Request payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct CreateMqExt {
    /// Dword 0: pages 15-0, CQ id 31-16 (version 1).
    pub dw0: Le32,
    /// Dword 1: async event bitmap ([`async_event`]).
    pub async_events: Le32,
    /// Dword 2: (v1) async CQ id 15-0; ring size 19-16; (v0) CQ id 31-22.
    pub dw2: Le32,
    /// Dword 3: VALID 31.
    pub dw3: Le32,
    /// Dword 4: (OCS) ACQV 0, async CQ id v0 10-1.
    pub dw4: Le32,
    /// Dword 5: reserved.
    pub dw5: Le32,
    /// Dwords 6-21: page addresses.
    pub pages: [PageAddr; 8],
}
const _: () = assert!(core::mem::size_of::<CreateMqExt>() == 88);

impl CreateMqExt {
    bitfields! {
        /// Dword 0 bits 15-0: number of pages.
        num_pages / set_num_pages: dw0[0; 16];
        /// Dword 0 bits 31-16: CQ id (version 1).
        cq_id_v1 / set_cq_id_v1: dw0[16; 16];
        /// Dword 2 bits 15-0: async CQ id (version 1).
        async_cq_id_v1 / set_async_cq_id_v1: dw2[0; 16];
        /// Dword 2 bits 19-16: ring size code ([`ring_size_code`]).
        ring_size / set_ring_size: dw2[16; 4];
        /// Dword 2 bits 31-22: CQ id (version 0).
        cq_id_v0 / set_cq_id_v0: dw2[22; 10];
        /// Dword 3 bit 31: valid.
        valid / set_valid: dw3[31];
        /// Dword 4 bit 0: ACQV (OCS).
        acqv / set_acqv: dw4[0];
        /// Dword 4 bits 10-1: async CQ id (version 0, OCS).
        async_cq_id_v0 / set_async_cq_id_v0: dw4[1; 10];
    }

    /// An MQ of `entries` (16..=128, a power of two) on `pages`, completing
    /// on `cq_id`, subscribed to `events`, for create `version` 0 or 1.
    /// `None` for a bad size, no or too many pages, a CQ id a version-0
    /// command cannot carry, or another version.
    pub fn new(
        pages: &[u64],
        entries: u32,
        cq_id: u16,
        events: u32,
        version: u8,
    ) -> Option<CreateMqExt> {
        let mut c = CreateMqExt::new_zeroed();
        if pages.is_empty() {
            return None;
        }
        fill_pages(&mut c.pages, pages)?;
        c.set_num_pages(pages.len() as u32);
        c.async_events.set(events);
        c.set_ring_size(ring_size_code(entries)?);
        match version {
            0 if cq_id < 1 << 10 => c.set_cq_id_v0(cq_id.into()),
            1 => {
                c.set_cq_id_v1(cq_id.into());
                c.set_async_cq_id_v1(cq_id.into());
            }
            _ => return None,
        }
        c.set_valid(true);
        Some(c)
    }

    /// The CQ id for a command of `version`.
    pub fn cq_id(&self, version: u8) -> u16 {
        if version == 0 {
            self.cq_id_v0() as u16
        } else {
            self.cq_id_v1() as u16
        }
    }

    /// The MQE for create `version`.
    pub fn to_mqe(&self, version: u8) -> Option<Mqe> {
        embed(
            subsystem::COMMON,
            common_op::CREATE_MQ_EXT,
            version,
            self,
            4,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sli4::sli_config::embedded_request;

    #[test]
    fn create_mq_ext_golden() {
        let ev = async_event::FC | async_event::SLI_PORT;
        let c = CreateMqExt::new(&[0x1_0000_7000], 16, 3, ev, 1).unwrap();
        let m = c.to_mqe(1).unwrap();
        let b = m.as_bytes();
        assert_eq!(&b[24..26], &[0x5A, 0x01]);
        assert_eq!(&b[32..36], &88u32.to_le_bytes());
        assert_eq!(b[36], 1);
        // dw0 pages 1 + CQ 3 at 31-16; dw1 bits 16, 17; dw2 async CQ 3, ring 5.
        assert_eq!(&b[40..52], &[1, 0, 3, 0, 0, 0, 3, 0, 3, 0, 5, 0]);
        assert_eq!(&b[52..56], &[0, 0, 0, 0x80]);
        assert_eq!(&b[64..72], &[0, 0x70, 0, 0, 1, 0, 0, 0]);
        let (h, back) = embedded_request::<CreateMqExt>(&m);
        let back = back.unwrap();
        assert_eq!((h.version(), back.cq_id(1)), (1, 3));
        assert_eq!(ring_size_entries(back.ring_size()), Some(16));

        let v0 = CreateMqExt::new(&[0x2000], 128, 0x3FF, 0, 0).unwrap();
        assert_eq!(&v0.as_bytes()[8..12], &[0, 0, 0xC8, 0xFF]);
        assert_eq!(v0.cq_id(0), 0x3FF);
        assert!(CreateMqExt::new(&[0x2000], 128, 0x400, 0, 0).is_none());
        assert!(CreateMqExt::new(&[0x2000], 17, 1, 0, 1).is_none());
        assert!(CreateMqExt::new(&[], 16, 1, 0, 1).is_none());
        assert!(CreateMqExt::new(&[0x2000], 16, 1, 0, 2).is_none());
        assert_eq!(ring_size_entries(9), None);
    }
}
