//! The 16-byte NVMe completion queue entry (little-endian), carried in the ERSP IU
//! at byte 16 (nvme-fc.md §4.8).

use zerocopy::byteorder::{LittleEndian, U16, U32};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::status::NvmeStatus;

/// Length of a CQE.
pub const CQE_LEN: usize = 16;

/// An NVMe completion queue entry.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Cqe {
    /// DW0: command-specific result (ERSP byte 16).
    pub dw0: U32<LittleEndian>,
    /// DW1: command-specific result, upper half of a 64-bit result (ERSP byte 20).
    pub dw1: U32<LittleEndian>,
    /// SQ head pointer (ERSP byte 24).
    pub sqhd: U16<LittleEndian>,
    /// SQ identifier (ERSP byte 26).
    pub sqid: U16<LittleEndian>,
    /// Command identifier (ERSP byte 28).
    pub cid: U16<LittleEndian>,
    /// Phase tag (bit 0) and status field (bits 15:1) (ERSP byte 30).
    pub status: U16<LittleEndian>,
}
const _: () = assert!(core::mem::size_of::<Cqe>() == CQE_LEN);

impl Default for Cqe {
    fn default() -> Self {
        Cqe::new_zeroed()
    }
}

impl Cqe {
    /// A CQE with the given fields and phase tag 0 (FC carries no phase).
    pub fn new(cid: u16, sqid: u16, sqhd: u16, status: NvmeStatus, result: u64) -> Cqe {
        Cqe {
            dw0: U32::new(result as u32),
            dw1: U32::new((result >> 32) as u32),
            sqhd: U16::new(sqhd),
            sqid: U16::new(sqid),
            cid: U16::new(cid),
            status: U16::new(status.to_cqe_field(false)),
        }
    }

    /// The status without the phase tag.
    pub fn nvme_status(&self) -> NvmeStatus {
        NvmeStatus::from_cqe_field(self.status.get())
    }

    /// The phase tag.
    pub fn phase(&self) -> bool {
        self.status.get() & 1 != 0
    }

    /// DW0 and DW1 as one 64-bit result (Property Get of CAP, §5.2).
    pub fn result(&self) -> u64 {
        u64::from(self.dw0.get()) | (u64::from(self.dw1.get()) << 32)
    }

    /// The command identifier.
    pub fn cid(&self) -> u16 {
        self.cid.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_bytes() {
        let cqe = Cqe::new(
            0x1234,
            3,
            17,
            NvmeStatus::LBA_RANGE.with_dnr(),
            0xAABB_CCDD_0000_0001,
        );
        let mut want = [0u8; 16];
        want[0..4].copy_from_slice(&1u32.to_le_bytes());
        want[4..8].copy_from_slice(&0xAABB_CCDDu32.to_le_bytes());
        want[8..10].copy_from_slice(&17u16.to_le_bytes());
        want[10..12].copy_from_slice(&3u16.to_le_bytes());
        want[12..14].copy_from_slice(&0x1234u16.to_le_bytes());
        want[14..16].copy_from_slice(&((0x4080u16) << 1).to_le_bytes());
        assert_eq!(cqe.as_bytes(), &want[..]);
        let back = Cqe::read_from_bytes(&want).unwrap();
        assert_eq!(back.nvme_status(), NvmeStatus(0x4080));
        assert!(!back.phase());
        assert_eq!(back.result(), 0xAABB_CCDD_0000_0001);
    }

    proptest! {
        #[test]
        fn round_trip(cid: u16, sqid: u16, sqhd: u16, st in 0u16..0x8000, res: u64) {
            let cqe = Cqe::new(cid, sqid, sqhd, NvmeStatus(st), res);
            let back = Cqe::read_from_bytes(cqe.as_bytes()).unwrap();
            prop_assert_eq!(back, cqe);
            prop_assert_eq!(back.nvme_status(), NvmeStatus(st));
            prop_assert_eq!(back.result(), res);
            prop_assert_eq!(back.cid(), cid);
        }
    }
}
