//! The 64-byte NVMe submission queue entry (little-endian) with the FC data
//! pointer: one Transport SGL Data Block descriptor (nvme-fc.md §4.7).
//!
//! The fields are the generic command dwords; the builders and accessors below give
//! them their per-command meaning. Fabrics commands are in [`crate::wire::fabrics`].

use zerocopy::byteorder::{LittleEndian, U16, U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::opcode::{admin, io};
use crate::lldd::IoDir;

/// SGL descriptor type byte of a Transport SGL Data Block, subtype "transport
/// specific A": `(0x5 << 4) | 0xA` (`NVME_TRANSPORT_SGL_DATA_DESC`, §4.7).
pub const SGL_TYPE_TRANSPORT_DATA_BLOCK: u8 = 0x5A;

/// SQE flags (byte 1) bits 7:6 = PSDT. `0b01` = SGLs for data, metadata pointer is
/// an address (`NVME_CMD_SGL_METABUF`); FC sets it on every command (§4.7).
pub const SQE_FLAGS_PSDT_SGL_METABUF: u8 = 0x40;
/// Mask of the PSDT field in the SQE flags.
pub const SQE_FLAGS_PSDT_MASK: u8 = 0xC0;
/// Mask of the FUSE field in the SQE flags (bits 1:0).
pub const SQE_FLAGS_FUSE_MASK: u8 = 0x03;

/// Length of an SQE.
pub const SQE_LEN: usize = 64;

/// A 16-byte SGL descriptor as used in the SQE's DPTR (SQE bytes 24–39).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct SglDesc {
    /// Address; 0 for the FC transport data block (§4.7).
    pub addr: U64<LittleEndian>,
    /// Length in bytes; the command's data length on FC (§4.7).
    pub length: U32<LittleEndian>,
    /// Reserved.
    pub rsvd: [u8; 3],
    /// Descriptor type (bits 7:4) and subtype (bits 3:0); 0x5A on FC (SQE byte 39).
    pub sgl_type: u8,
}
const _: () = assert!(core::mem::size_of::<SglDesc>() == 16);

impl SglDesc {
    /// The FC transport SGL data block for `len` data bytes (§4.7).
    pub const fn transport_data_block(len: u32) -> SglDesc {
        SglDesc {
            addr: U64::ZERO,
            length: U32::new(len),
            rsvd: [0; 3],
            sgl_type: SGL_TYPE_TRANSPORT_DATA_BLOCK,
        }
    }
}

/// An NVMe submission queue entry (NVMe base spec; little-endian; §4.7 byte 24 of
/// the CMD IU).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Sqe {
    /// CDW0 bits 7:0: opcode ([`crate::wire::opcode`]).
    pub opcode: u8,
    /// CDW0 bits 15:8: FUSE (1:0) and PSDT (7:6); FC sets PSDT = 01 (§4.7).
    pub flags: u8,
    /// CDW0 bits 31:16: command identifier.
    pub cid: U16<LittleEndian>,
    /// CDW1: namespace id; for fabrics commands byte 4 is the fctype (§5.1).
    pub nsid: U32<LittleEndian>,
    /// CDW2 (command specific, reserved for the commands used here).
    pub cdw2: U32<LittleEndian>,
    /// CDW3 (command specific, reserved for the commands used here).
    pub cdw3: U32<LittleEndian>,
    /// CDW4–5: metadata pointer; must be 0 on FC (§4.7).
    pub mptr: U64<LittleEndian>,
    /// CDW6–9: data pointer, one SGL descriptor (bytes 24–39).
    pub dptr: SglDesc,
    /// CDW10 (byte 40).
    pub cdw10: U32<LittleEndian>,
    /// CDW11 (byte 44).
    pub cdw11: U32<LittleEndian>,
    /// CDW12 (byte 48).
    pub cdw12: U32<LittleEndian>,
    /// CDW13 (byte 52).
    pub cdw13: U32<LittleEndian>,
    /// CDW14 (byte 56).
    pub cdw14: U32<LittleEndian>,
    /// CDW15 (byte 60).
    pub cdw15: U32<LittleEndian>,
}
const _: () = assert!(core::mem::size_of::<Sqe>() == SQE_LEN);
const _: () = assert!(core::mem::offset_of!(Sqe, dptr) == 24);
const _: () = assert!(core::mem::offset_of!(Sqe, cdw10) == 40);

impl Default for Sqe {
    fn default() -> Self {
        Sqe::new_zeroed()
    }
}

impl Sqe {
    /// An SQE with `opcode`, the FC data pointer for `data_len` bytes and PSDT set;
    /// everything else zero. Every builder starts here, so every SQE is already in
    /// the form `nvme_fc_start_fcp_op` would rewrite it to (§4.7).
    pub fn with_opcode(opcode: u8, data_len: u32) -> Sqe {
        let mut sqe = Sqe::new_zeroed();
        sqe.opcode = opcode;
        sqe.set_transport_sgl(data_len);
        sqe
    }

    /// Rewrites the data pointer as FC requires: MPTR 0, PSDT = SGL with metadata
    /// buffer, DPTR = one transport SGL data block of `data_len` bytes (§4.7).
    pub fn set_transport_sgl(&mut self, data_len: u32) {
        self.mptr = U64::ZERO;
        self.flags = (self.flags & !SQE_FLAGS_PSDT_MASK) | SQE_FLAGS_PSDT_SGL_METABUF;
        self.dptr = SglDesc::transport_data_block(data_len);
    }

    /// Sets the command identifier.
    pub fn set_cid(&mut self, cid: u16) {
        self.cid.set(cid);
    }

    /// The command identifier.
    pub fn cid(&self) -> u16 {
        self.cid.get()
    }

    /// The namespace id.
    pub fn nsid(&self) -> u32 {
        self.nsid.get()
    }

    /// The data length carried in DPTR when it is an FC transport data block.
    pub fn transport_sgl_len(&self) -> Option<u32> {
        (self.dptr.sgl_type == SGL_TYPE_TRANSPORT_DATA_BLOCK).then(|| self.dptr.length.get())
    }

    /// True for a fabrics command (opcode 0x7F).
    pub fn is_fabrics(&self) -> bool {
        self.opcode == admin::FABRICS
    }

    /// The fabrics command type (SQE byte 4); meaningful for opcode 0x7F only.
    pub fn fctype(&self) -> u8 {
        self.nsid.as_bytes()[0]
    }

    /// True when the command moves data host → controller: opcode bit 0, or for
    /// fabrics commands fctype bit 0 (Linux `nvme_is_write`; App. A.2).
    pub fn is_write(&self) -> bool {
        if self.is_fabrics() {
            self.fctype() & 1 != 0
        } else {
            self.opcode & 1 != 0
        }
    }

    /// Data direction this SQE implies for `data_len` bytes, as the CMD IU flags
    /// must say: none when there is no data, else write or read by [`Sqe::is_write`].
    pub fn io_dir(&self, data_len: u32) -> IoDir {
        match (data_len, self.is_write()) {
            (0, _) => IoDir::None,
            (_, true) => IoDir::Write,
            (_, false) => IoDir::Read,
        }
    }

    // ---- NVM I/O commands -------------------------------------------------

    fn rw(opcode: u8, nsid: u32, slba: u64, nlb_0based: u16, data_len: u32) -> Sqe {
        let mut sqe = Sqe::with_opcode(opcode, data_len);
        sqe.nsid.set(nsid);
        sqe.cdw10.set(slba as u32);
        sqe.cdw11.set((slba >> 32) as u32);
        sqe.cdw12.set(u32::from(nlb_0based));
        sqe
    }

    /// Read `nlb_0based + 1` blocks at `slba` into `data_len` bytes.
    pub fn read(nsid: u32, slba: u64, nlb_0based: u16, data_len: u32) -> Sqe {
        Sqe::rw(io::READ, nsid, slba, nlb_0based, data_len)
    }

    /// Write `nlb_0based + 1` blocks at `slba` from `data_len` bytes.
    pub fn write(nsid: u32, slba: u64, nlb_0based: u16, data_len: u32) -> Sqe {
        Sqe::rw(io::WRITE, nsid, slba, nlb_0based, data_len)
    }

    /// Write Zeroes over `nlb_0based + 1` blocks at `slba`; no data on FC (§4.7).
    pub fn write_zeroes(nsid: u32, slba: u64, nlb_0based: u16) -> Sqe {
        Sqe::rw(io::WRITE_ZEROES, nsid, slba, nlb_0based, 0)
    }

    /// Flush.
    pub fn flush(nsid: u32) -> Sqe {
        let mut sqe = Sqe::with_opcode(io::FLUSH, 0);
        sqe.nsid.set(nsid);
        sqe
    }

    /// Starting LBA of a read/write/write-zeroes (CDW10–11).
    pub fn slba(&self) -> u64 {
        u64::from(self.cdw10.get()) | (u64::from(self.cdw11.get()) << 32)
    }

    /// Number of logical blocks, 0's based, of a read/write/write-zeroes (CDW12 15:0).
    pub fn nlb_0based(&self) -> u16 {
        self.cdw12.get() as u16
    }

    /// Number of logical blocks (1-based) of a read/write/write-zeroes.
    pub fn nlb(&self) -> u32 {
        u32::from(self.nlb_0based()) + 1
    }

    // ---- admin commands ---------------------------------------------------

    /// Identify with `cns` for `nsid`; 4096 bytes of data (§5.5).
    pub fn identify(cns: u8, nsid: u32) -> Sqe {
        let mut sqe = Sqe::with_opcode(admin::IDENTIFY, 4096);
        sqe.nsid.set(nsid);
        sqe.cdw10.set(u32::from(cns));
        sqe
    }

    /// The CNS of an Identify (CDW10 7:0).
    pub fn cns(&self) -> u8 {
        self.cdw10.get() as u8
    }

    /// Set Features `fid` with `cdw11` (no data for the features used here).
    pub fn set_features(fid: u8, cdw11: u32) -> Sqe {
        let mut sqe = Sqe::with_opcode(admin::SET_FEATURES, 0);
        sqe.cdw10.set(u32::from(fid));
        sqe.cdw11.set(cdw11);
        sqe
    }

    /// Get Features `fid` (current value, SEL 0) with `cdw11`.
    pub fn get_features(fid: u8, cdw11: u32) -> Sqe {
        let mut sqe = Sqe::with_opcode(admin::GET_FEATURES, 0);
        sqe.cdw10.set(u32::from(fid));
        sqe.cdw11.set(cdw11);
        sqe
    }

    /// The feature id of a Set/Get Features (CDW10 7:0).
    pub fn fid(&self) -> u8 {
        self.cdw10.get() as u8
    }

    /// Get Log Page `lid` for `nsid`: `numd_0based + 1` dwords from byte `offset`.
    pub fn get_log_page(lid: u8, nsid: u32, numd_0based: u32, offset: u64) -> Sqe {
        let data_len = (numd_0based.saturating_add(1)).saturating_mul(4);
        let mut sqe = Sqe::with_opcode(admin::GET_LOG_PAGE, data_len);
        sqe.nsid.set(nsid);
        sqe.cdw10
            .set(u32::from(lid) | ((numd_0based & 0xFFFF) << 16));
        sqe.cdw11.set(numd_0based >> 16);
        sqe.cdw12.set(offset as u32);
        sqe.cdw13.set((offset >> 32) as u32);
        sqe
    }

    /// The log page id of a Get Log Page (CDW10 7:0).
    pub fn lid(&self) -> u8 {
        self.cdw10.get() as u8
    }

    /// Dwords requested by a Get Log Page, 0's based (NUMDU:NUMDL).
    pub fn numd_0based(&self) -> u32 {
        (self.cdw10.get() >> 16) | ((self.cdw11.get() & 0xFFFF) << 16)
    }

    /// Byte offset of a Get Log Page (CDW12–13).
    pub fn log_offset(&self) -> u64 {
        u64::from(self.cdw12.get()) | (u64::from(self.cdw13.get()) << 32)
    }

    /// Keep Alive (§3.9).
    pub fn keep_alive() -> Sqe {
        Sqe::with_opcode(admin::KEEP_ALIVE, 0)
    }

    /// Asynchronous Event Request.
    pub fn async_event() -> Sqe {
        Sqe::with_opcode(admin::ASYNC_EVENT, 0)
    }

    /// Abort command `cid` on submission queue `sqid`.
    pub fn abort(sqid: u16, cid: u16) -> Sqe {
        let mut sqe = Sqe::with_opcode(admin::ABORT, 0);
        sqe.cdw10.set(u32::from(sqid) | (u32::from(cid) << 16));
        sqe
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn read_golden_bytes() {
        let mut sqe = Sqe::read(1, 0x1_2345_6789, 7, 4096);
        sqe.set_cid(0xBEEF);
        let mut want = [0u8; 64];
        want[0] = 0x02;
        want[1] = 0x40;
        want[2..4].copy_from_slice(&0xBEEFu16.to_le_bytes());
        want[4..8].copy_from_slice(&1u32.to_le_bytes());
        want[32..36].copy_from_slice(&4096u32.to_le_bytes());
        want[39] = 0x5A;
        want[40..44].copy_from_slice(&0x2345_6789u32.to_le_bytes());
        want[44..48].copy_from_slice(&1u32.to_le_bytes());
        want[48..52].copy_from_slice(&7u32.to_le_bytes());
        assert_eq!(sqe.as_bytes(), &want[..]);
        let back = Sqe::read_from_bytes(&want).unwrap();
        assert_eq!(back.slba(), 0x1_2345_6789);
        assert_eq!(back.nlb(), 8);
        assert_eq!(back.transport_sgl_len(), Some(4096));
        assert_eq!(back.io_dir(4096), IoDir::Read);
    }

    #[test]
    fn admin_builders() {
        let id = Sqe::identify(1, 0);
        assert_eq!(
            (id.opcode, id.cns(), id.transport_sgl_len()),
            (0x06, 1, Some(4096))
        );
        let lp = Sqe::get_log_page(2, 0xFFFF_FFFF, 127, 0);
        assert_eq!(
            (lp.lid(), lp.numd_0based(), lp.transport_sgl_len()),
            (2, 127, Some(512))
        );
        let big = Sqe::get_log_page(1, 0, 0x1_0003, 0x1_0000_0010);
        assert_eq!(big.numd_0based(), 0x1_0003);
        assert_eq!(big.log_offset(), 0x1_0000_0010);
        let sf = Sqe::set_features(0x07, 0x0003_0003);
        assert_eq!(
            (sf.opcode, sf.fid(), sf.cdw11.get()),
            (0x09, 7, 0x0003_0003)
        );
        assert_eq!(Sqe::keep_alive().opcode, 0x18);
        assert_eq!(Sqe::async_event().opcode, 0x0C);
        assert_eq!(Sqe::abort(2, 9).cdw10.get(), 0x0009_0002);
        let wz = Sqe::write_zeroes(1, 5, 3);
        assert_eq!(
            (wz.opcode, wz.transport_sgl_len(), wz.io_dir(0)),
            (8, Some(0), IoDir::None)
        );
        assert_eq!(Sqe::write(1, 0, 0, 512).io_dir(512), IoDir::Write);
        assert_eq!(Sqe::flush(1).opcode, 0);
    }

    proptest! {
        #[test]
        fn admin_round_trip(cns: u8, nsid: u32, fid: u8, cdw11: u32, lid: u8, numd in 0u32..u32::MAX, off: u64) {
            let back = |s: Sqe| Sqe::read_from_bytes(s.as_bytes()).unwrap();
            let id = back(Sqe::identify(cns, nsid));
            prop_assert_eq!((id.cns(), id.nsid()), (cns, nsid));
            let sf = back(Sqe::set_features(fid, cdw11));
            prop_assert_eq!((sf.fid(), sf.cdw11.get()), (fid, cdw11));
            let gf = back(Sqe::get_features(fid, cdw11));
            prop_assert_eq!((gf.opcode, gf.fid()), (0x0A, fid));
            let lp = back(Sqe::get_log_page(lid, nsid, numd, off));
            prop_assert_eq!((lp.lid(), lp.numd_0based(), lp.log_offset()), (lid, numd, off));
        }

        #[test]
        fn rw_round_trip(nsid: u32, slba: u64, nlb: u16, len: u32, cid: u16, w: bool) {
            let mut sqe = if w {
                Sqe::write(nsid, slba, nlb, len)
            } else {
                Sqe::read(nsid, slba, nlb, len)
            };
            sqe.set_cid(cid);
            let back = Sqe::read_from_bytes(sqe.as_bytes()).unwrap();
            prop_assert_eq!(back, sqe);
            prop_assert_eq!((back.nsid(), back.slba(), back.nlb_0based(), back.cid()), (nsid, slba, nlb, cid));
            prop_assert_eq!(back.transport_sgl_len(), Some(len));
            prop_assert_eq!(back.flags & SQE_FLAGS_PSDT_MASK, SQE_FLAGS_PSDT_SGL_METABUF);
        }
    }
}
