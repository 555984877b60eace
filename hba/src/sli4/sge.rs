//! Data descriptors (sli4.md §5.7, §5.8): the 16-byte SGE of a per-XRI SGL,
//! the 12-byte BDE embedded in WQEs and mailbox commands, and the 8-byte RQE.
//!
//! Beware the address word order: SGE and RQE put the **high** half first, the
//! BDE the **low** half first.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::bits::{bitfields, le32, Le32};

/// SGE size.
pub const SGE_LEN: usize = 16;
/// BDE size.
pub const BDE_LEN: usize = 12;
/// RQE size.
pub const RQE_LEN: usize = 8;
/// Largest SGE data offset (27 bits).
pub const SGE_MAX_OFFSET: u32 = (1 << 27) - 1;
/// Largest BDE length (24 bits).
pub const BDE_MAX_LEN: u32 = (1 << 24) - 1;

/// SGE types (dword 2 bits 30-27).
pub mod sge_type {
    /// Data.
    pub const DATA: u32 = 0x0;
    /// DIF.
    pub const DIF: u32 = 0x4;
    /// LSP: pointer to the next SGL chunk.
    pub const LSP: u32 = 0x5;
    /// PEDIF.
    pub const PEDIF: u32 = 0x6;
    /// PESEED.
    pub const PESEED: u32 = 0x7;
    /// DISEED.
    pub const DISEED: u32 = 0x8;
    /// ENC.
    pub const ENC: u32 = 0x9;
    /// ATM.
    pub const ATM: u32 = 0xA;
    /// SKIP.
    pub const SKIP: u32 = 0xC;
}

/// BDE types (dword 0 bits 31-24).
pub mod bde_type {
    /// 64-bit host buffer.
    pub const BDE_64: u32 = 0x00;
    /// Immediate: data inside the WQE; address low = byte offset in the WQE.
    pub const IMMEDIATE: u32 = 0x01;
    /// Port-resident (LPFC).
    pub const PORT_RESIDENT: u32 = 0x02;
    /// Input, host (LPFC).
    pub const INPUT_HOST: u32 = 0x08;
    /// Input, port (LPFC).
    pub const INPUT_PORT: u32 = 0x0A;
    /// BLP: pointer to an SGL.
    pub const BLP: u32 = 0x40;
    /// BLP, port-resident (LPFC).
    pub const BLP_PORT: u32 = 0x42;
}

/// A scatter-gather entry of an XRI's SGL.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Sge {
    /// Dword 0: buffer address high.
    pub addr_hi: Le32,
    /// Dword 1: buffer address low.
    pub addr_lo: Le32,
    /// Dword 2: data offset 26-0, type 30-27, LAST 31.
    pub dw2: Le32,
    /// Dword 3: buffer length in bytes.
    pub length: Le32,
}
const _: () = assert!(core::mem::size_of::<Sge>() == SGE_LEN);

impl Sge {
    bitfields! {
        /// Dword 2 bits 26-0: byte offset of this buffer in the exchange's payload.
        data_offset / set_data_offset: dw2[0; 27];
        /// Dword 2 bits 30-27: type ([`sge_type`]).
        sge_type / set_sge_type: dw2[27; 4];
        /// Dword 2 bit 31: last SGE of the list.
        last / set_last: dw2[31];
    }

    /// A data SGE of `len` bytes at `addr`, payload offset `offset`.
    pub fn data(addr: u64, len: u32, offset: u32, last: bool) -> Sge {
        let mut s = Sge {
            addr_hi: le32((addr >> 32) as u32),
            addr_lo: le32(addr as u32),
            dw2: le32(0),
            length: le32(len),
        };
        s.set_data_offset(offset);
        s.set_last(last);
        s
    }

    /// The buffer address.
    pub fn addr(&self) -> u64 {
        u64::from(self.addr_hi.get()) << 32 | u64::from(self.addr_lo.get())
    }

    /// The buffer length.
    pub fn len(&self) -> u32 {
        self.length.get()
    }

    /// True for a zero-length SGE.
    pub fn is_empty(&self) -> bool {
        self.length.get() == 0
    }
}

/// A buffer descriptor entry (WQE dwords 0-2 or 13-15, mailbox BDEs).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Bde {
    /// Dword 0: length 23-0, type 31-24.
    pub dw0: Le32,
    /// Dword 1: address low (immediate: byte offset inside the WQE).
    pub addr_lo: Le32,
    /// Dword 2: address high.
    pub addr_hi: Le32,
}
const _: () = assert!(core::mem::size_of::<Bde>() == BDE_LEN);

impl Bde {
    bitfields! {
        /// Dword 0 bits 23-0: length in bytes.
        length / set_length: dw0[0; 24];
        /// Dword 0 bits 31-24: type ([`bde_type`]).
        bde_type / set_bde_type: dw0[24; 8];
    }

    /// A 64-bit host buffer BDE of `len` bytes at `addr`.
    pub fn host(addr: u64, len: u32) -> Bde {
        let mut b = Bde {
            dw0: le32(0),
            addr_lo: le32(addr as u32),
            addr_hi: le32((addr >> 32) as u32),
        };
        b.set_length(len);
        b
    }

    /// An immediate BDE: `len` bytes at byte `offset` inside the WQE.
    pub fn immediate(offset: u32, len: u32) -> Bde {
        let mut b = Bde::host(offset.into(), len);
        b.set_bde_type(bde_type::IMMEDIATE);
        b
    }

    /// A BLP pointing to an SGL of `len` bytes at `addr`.
    pub fn blp(addr: u64, len: u32) -> Bde {
        let mut b = Bde::host(addr, len);
        b.set_bde_type(bde_type::BLP);
        b
    }

    /// The address.
    pub fn addr(&self) -> u64 {
        u64::from(self.addr_hi.get()) << 32 | u64::from(self.addr_lo.get())
    }
}

impl From<&Sge> for Bde {
    /// The BDE duplicating a data SGE (WQE dwords 0-2 with DBDE, PBDE).
    fn from(s: &Sge) -> Bde {
        Bde::host(s.addr(), s.len())
    }
}

/// A receive queue entry: the buffer address, high half first (§3.5).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Rqe {
    /// Address high.
    pub addr_hi: Le32,
    /// Address low.
    pub addr_lo: Le32,
}
const _: () = assert!(core::mem::size_of::<Rqe>() == RQE_LEN);

impl Rqe {
    /// An RQE for a buffer at `addr`.
    pub fn new(addr: u64) -> Rqe {
        Rqe {
            addr_hi: le32((addr >> 32) as u32),
            addr_lo: le32(addr as u32),
        }
    }

    /// The buffer address.
    pub fn addr(&self) -> u64 {
        u64::from(self.addr_hi.get()) << 32 | u64::from(self.addr_lo.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sge_golden() {
        let s = Sge::data(0x0000_0001_2345_6780, 4096, 128, true);
        assert_eq!(
            s.as_bytes(),
            &[1, 0, 0, 0, 0x80, 0x67, 0x45, 0x23, 128, 0, 0, 0x80, 0, 0x10, 0, 0]
        );
        let mut l = s;
        l.set_sge_type(sge_type::LSP);
        l.set_last(false);
        assert_eq!(&l.as_bytes()[8..12], &[128, 0, 0, 0x28]);
        assert_eq!(s.addr(), 0x1_2345_6780);
    }

    #[test]
    fn bde_golden() {
        let b = Bde::host(0x0000_0001_2345_6780, 116);
        assert_eq!(
            b.as_bytes(),
            &[116, 0, 0, 0, 0x80, 0x67, 0x45, 0x23, 1, 0, 0, 0]
        );
        let i = Bde::immediate(64, 56);
        assert_eq!(i.as_bytes(), &[56, 0, 0, 1, 64, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Bde::blp(0x1000, 32).bde_type(), bde_type::BLP);
        let from_sge = Bde::from(&Sge::data(0x2000, 512, 0, true));
        assert_eq!((from_sge.addr(), from_sge.length()), (0x2000, 512));
        let r = Rqe::new(0x0000_0001_2345_6780);
        assert_eq!(r.as_bytes(), &[1, 0, 0, 0, 0x80, 0x67, 0x45, 0x23]);
    }

    proptest! {
        #[test]
        fn round_trip(addr: u64, len: u32, off in 0u32..=SGE_MAX_OFFSET, last: bool) {
            let s = Sge::data(addr, len, off, last);
            prop_assert_eq!((s.addr(), s.len(), s.data_offset(), s.last()), (addr, len, off, last));
            let b = Bde::host(addr, len & BDE_MAX_LEN);
            prop_assert_eq!((b.addr(), b.length()), (addr, len & BDE_MAX_LEN));
            prop_assert_eq!(Rqe::new(addr).addr(), addr);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 16)) {
            let s = Sge::read_from_bytes(&b[..]).unwrap();
            let _ = (s.addr(), s.data_offset(), s.sge_type(), s.last());
        }
    }
}
