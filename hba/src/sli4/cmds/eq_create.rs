//! COMMON_CREATE_EQ (0x01/0x0D) (sli4.md §3.5; OCS
//! `sli4_req_common_create_eq_t`, LPFC `struct lpfc_mbx_eq_create`).
//!
//! Version 0, or 2 with AUTOVALID on if_type 6 (when GET_SLI4_PARAMETERS.EQAV).

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use super::{fill_pages, Le32, PageAddr};
use crate::sli4::bits::bitfields;
use crate::sli4::mbox::Mqe;
use crate::sli4::sli_config::{common_op, embed, subsystem};

/// EQ count codes (dword 2 bits 28-26; OCS width of 3 bits — LPFC declares
/// 2 bits but defines code 4; sli4.md §8: use codes 0-3).
pub mod eq_count {
    /// 256 entries.
    pub const E256: u32 = 0;
    /// 512 entries.
    pub const E512: u32 = 1;
    /// 1024 entries.
    pub const E1024: u32 = 2;
    /// 2048 entries.
    pub const E2048: u32 = 3;
    /// 4096 entries (only with the 3-bit field).
    pub const E4096: u32 = 4;

    /// The code for `entries`, if it is one of the five sizes.
    pub const fn for_entries(entries: u32) -> Option<u32> {
        match entries {
            256 => Some(E256),
            512 => Some(E512),
            1024 => Some(E1024),
            2048 => Some(E2048),
            4096 => Some(E4096),
            _ => None,
        }
    }

    /// Entries of a code; `None` for codes above 4.
    pub const fn entries(code: u32) -> Option<u32> {
        if code <= 4 {
            Some(256 << code)
        } else {
            None
        }
    }
}

/// Request payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct CreateEq {
    /// Dword 0: number of 4 KiB pages 15-0.
    pub dw0: Le32,
    /// Dword 1: AUTOVALID 28, VALID 29 (must be 1), EQE size 31 (0 = 4 bytes).
    pub dw1: Le32,
    /// Dword 2: count 28-26, ARM 31.
    pub dw2: Le32,
    /// Dword 3: delay multiplier 22-13.
    pub dw3: Le32,
    /// Dword 4: reserved.
    pub dw4: Le32,
    /// Dwords 5-20: page addresses.
    pub pages: [PageAddr; 8],
}
const _: () = assert!(core::mem::size_of::<CreateEq>() == 84);

impl CreateEq {
    bitfields! {
        /// Dword 0 bits 15-0: number of pages.
        num_pages / set_num_pages: dw0[0; 16];
        /// Dword 1 bit 28: autovalid.
        autovalid / set_autovalid: dw1[28];
        /// Dword 1 bit 29: valid.
        valid / set_valid: dw1[29];
        /// Dword 1 bit 31: EQE size 16 bytes.
        eqe_size_16 / set_eqe_size_16: dw1[31];
        /// Dword 2 bits 28-26: count code ([`eq_count`]).
        count / set_count: dw2[26; 3];
        /// Dword 2 bit 31: arm.
        arm / set_arm: dw2[31];
        /// Dword 3 bits 22-13: delay multiplier.
        delay_multiplier / set_delay_multiplier: dw3[13; 10];
    }

    /// A request for an EQ of `count` code on `pages` (≤ 8); `None` with no or
    /// too many pages.
    pub fn new(pages: &[u64], count: u32, autovalid: bool) -> Option<CreateEq> {
        let mut c = CreateEq::new_zeroed();
        if pages.is_empty() {
            return None;
        }
        fill_pages(&mut c.pages, pages)?;
        c.set_num_pages(pages.len() as u32);
        c.set_valid(true);
        c.set_autovalid(autovalid);
        c.set_count(count);
        Some(c)
    }

    /// The MQE: version 2 with autovalid, else 0.
    pub fn to_mqe(&self) -> Option<Mqe> {
        let version = if self.autovalid() { 2 } else { 0 };
        embed(subsystem::COMMON, common_op::CREATE_EQ, version, self, 4)
    }
}

/// Response payload of the queue create commands: dword 0 bits 15-0 = queue id.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct CreateQueueRsp {
    /// Dword 0: queue id 15-0 (WQ: DPP granted 31; RQ v2: count 31-16).
    pub dw0: Le32,
}

impl CreateQueueRsp {
    bitfields! {
        /// Dword 0 bits 15-0: queue id.
        queue_id / set_queue_id: dw0[0; 16];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sli4::sli_config::{embedded_request, SliConfig};

    #[test]
    fn create_eq_golden() {
        let c = CreateEq::new(&[0x1_0000_0000], eq_count::E1024, true).unwrap();
        let m = c.to_mqe().unwrap();
        let b = m.as_bytes();
        assert_eq!(&b[24..26], &[0x0D, 0x01]);
        assert_eq!(b[36], 2);
        assert_eq!(&b[32..36], &84u32.to_le_bytes());
        assert_eq!(&b[40..52], &[1, 0, 0, 0, 0, 0, 0, 0x30, 0, 0, 0, 0x08]);
        assert_eq!(&b[60..68], &[0, 0, 0, 0, 1, 0, 0, 0]);
        let (h, back) = embedded_request::<CreateEq>(&m);
        assert_eq!(h.version(), 2);
        assert_eq!(back.unwrap(), c);
        let v0 = CreateEq::new(&[0x1000], eq_count::E256, false)
            .unwrap()
            .to_mqe()
            .unwrap();
        assert_eq!(SliConfig::from_mqe(&v0).request().0.version(), 0);
        assert!(CreateEq::new(&[0; 9], 0, false).is_none());
        assert!(CreateEq::new(&[], 0, false).is_none());
        assert_eq!(
            (eq_count::for_entries(4096), eq_count::entries(2)),
            (Some(4), Some(1024))
        );
    }
}
