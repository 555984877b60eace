//! REG_FCFI (0xA0) and UNREG_FCFI (0xA2) (sli4.md §3.4; OCS
//! `sli4_cmd_reg_fcfi_t`, LPFC `struct lpfc_mbx_reg_fcfi`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::Le32;
use crate::sli4::bits::{bitfields, get, le32};
use crate::sli4::mbox::mbx_cmd;

/// RQ id meaning "slot unused".
pub const RQ_ID_UNUSED: u16 = 0xFFFF;

/// One receive filter: a frame goes to the slot's RQ when
/// `(R_CTL & r_ctl_mask) == r_ctl_match` and `(TYPE & type_mask) == type_match`
/// (all-zero masks match everything).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RqFilter {
    /// R_CTL mask (bits 7-0).
    pub r_ctl_mask: u8,
    /// R_CTL match (bits 15-8).
    pub r_ctl_match: u8,
    /// TYPE mask (bits 23-16).
    pub type_mask: u8,
    /// TYPE match (bits 31-24).
    pub type_match: u8,
}

impl RqFilter {
    /// The dword.
    pub const fn encode(&self) -> u32 {
        self.r_ctl_mask as u32
            | (self.r_ctl_match as u32) << 8
            | (self.type_mask as u32) << 16
            | (self.type_match as u32) << 24
    }

    /// From the dword.
    pub const fn decode(v: u32) -> RqFilter {
        RqFilter {
            r_ctl_mask: get(v, 0, 8) as u8,
            r_ctl_match: get(v, 8, 8) as u8,
            type_mask: get(v, 16, 8) as u8,
            type_match: get(v, 24, 8) as u8,
        }
    }

    /// True when a frame with `r_ctl`/`fc_type` matches.
    pub const fn matches(&self, r_ctl: u8, fc_type: u8) -> bool {
        r_ctl & self.r_ctl_mask == self.r_ctl_match && fc_type & self.type_mask == self.type_match
    }
}

/// REG_FCFI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct RegFcfi {
    /// MQE header.
    pub header: Le32,
    /// Dword 1: FCF index 15-0 (0 on FC), FCFI 31-16 (response).
    pub dw1: Le32,
    /// Dword 2: RQ id 1 15-0, RQ id 0 31-16.
    pub dw2: Le32,
    /// Dword 3: RQ id 3 15-0, RQ id 2 31-16.
    pub dw3: Le32,
    /// Dwords 4-7: filter for RQ id slot n ([`RqFilter`]).
    pub filters: [Le32; 4],
    /// Dword 8: VLAN tag 11-0, VV 12, (LPFC) MAM 14-13.
    pub dw8: Le32,
    /// Dwords 9-63: reserved.
    pub rsvd: [Le32; 55],
}
native_cmd!(RegFcfi, mbx_cmd::REG_FCFI);

impl RegFcfi {
    bitfields! {
        /// Dword 1 bits 15-0: FCF index.
        fcf_index / set_fcf_index: dw1[0; 16];
        /// Dword 1 bits 31-16: FCFI assigned by the port.
        fcfi / set_fcfi: dw1[16; 16];
    }

    /// REG_FCFI as an initiator issues it: one header RQ in slot 0 with an
    /// all-zero (catch-all) filter, slots 1-3 unused.
    pub fn catch_all(hdr_rq_id: u16) -> RegFcfi {
        let mut c = RegFcfi::new();
        c.set_rq_ids([hdr_rq_id, RQ_ID_UNUSED, RQ_ID_UNUSED, RQ_ID_UNUSED]);
        c
    }

    /// Sets the four RQ ids (slot order 0..3).
    pub fn set_rq_ids(&mut self, ids: [u16; 4]) {
        self.dw2 = le32(u32::from(ids[0]) << 16 | u32::from(ids[1]));
        self.dw3 = le32(u32::from(ids[2]) << 16 | u32::from(ids[3]));
    }

    /// The four RQ ids in slot order.
    pub fn rq_ids(&self) -> [u16; 4] {
        let (a, b) = (self.dw2.get(), self.dw3.get());
        [(a >> 16) as u16, a as u16, (b >> 16) as u16, b as u16]
    }

    /// The filter of slot `n` (0..3; other values read slot 3).
    pub fn filter(&self, n: usize) -> RqFilter {
        RqFilter::decode(self.filters[n.min(3)].get())
    }

    /// Sets the filter of slot `n` (0..3; others are ignored).
    pub fn set_filter(&mut self, n: usize, f: RqFilter) {
        if let Some(d) = self.filters.get_mut(n) {
            d.set(f.encode());
        }
    }
}

/// UNREG_FCFI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct UnregFcfi {
    /// MQE header.
    pub header: Le32,
    /// Dword 1: reserved.
    pub dw1: Le32,
    /// Dword 2: FCFI 15-0.
    pub dw2: Le32,
    /// Dwords 3-63: reserved.
    pub rsvd: [Le32; 61],
}
native_cmd!(UnregFcfi, mbx_cmd::UNREG_FCFI);

impl UnregFcfi {
    bitfields! {
        /// Dword 2 bits 15-0: FCFI.
        fcfi / set_fcfi: dw2[0; 16];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reg_fcfi_golden() {
        let mut c = RegFcfi::catch_all(4);
        let f = RqFilter {
            r_ctl_mask: 0xFF,
            r_ctl_match: 0x22,
            type_mask: 0xFF,
            type_match: 0x01,
        };
        c.set_filter(1, f);
        let m = c.to_mqe();
        let b = m.as_bytes();
        assert_eq!(
            &b[0..16],
            &[0, 0xA0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 4, 0, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(&b[16..24], &[0, 0, 0, 0, 0xFF, 0x22, 0xFF, 0x01]);
        let back = RegFcfi::from_mqe(&c.to_mqe());
        assert_eq!(back.rq_ids(), [4, 0xFFFF, 0xFFFF, 0xFFFF]);
        assert!(back.filter(0).matches(0x22, 0x01) && back.filter(0).matches(0x81, 0x00));
        assert!(back.filter(1).matches(0x22, 0x01) && !back.filter(1).matches(0x23, 0x01));
        let mut u = UnregFcfi::new();
        u.set_fcfi(2);
        assert_eq!(&u.to_mqe().as_bytes()[8..12], &[2, 0, 0, 0]);
    }
}
