//! FC-NVMe information units of an FCP exchange: the 96-byte CMD IU, the 32-byte
//! ERSP IU and the 12-byte all-zero RSP (nvme-fc.md §4.7, §4.8). Big-endian, with
//! the little-endian SQE/CQE embedded. Nothing here allocates: these are on the I/O
//! path.

use zerocopy::byteorder::{BigEndian, U16, U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::cqe::Cqe;
use super::error::{check_field, WireError};
use super::fc::FC_TYPE_NVME;
use super::sqe::Sqe;
use crate::lldd::{IoDir, CMD_IU_LEN, ERSP_IU_LEN, ZERO_RSP_LEN};

/// CMD IU `format_id` (`NVME_CMD_FORMAT_ID`, §4.7).
pub const CMD_FORMAT_ID: u8 = 0xFD;
/// CMD IU `iu_len` in 32-bit words (§4.7).
pub const CMD_IU_WORDS: u16 = (CMD_IU_LEN / 4) as u16;
/// ERSP IU `iu_len` in 32-bit words (§4.8).
pub const ERSP_IU_WORDS: u16 = (ERSP_IU_LEN / 4) as u16;

/// CMD IU flags bit 0: data moves host → target.
pub const CMD_FLAGS_WRITE: u8 = 0x01;
/// CMD IU flags bit 1: data moves target → host.
pub const CMD_FLAGS_READ: u8 = 0x02;
/// CMD IU flags bit 2: protection information (not used by this stack).
pub const CMD_FLAGS_PICWP: u8 = 0x04;

/// CMD IU category of an admin-queue command (`FCNVME_CMD_CAT_ADMINQ`, §4.7).
pub const CMD_CAT_ADMIN: u8 = 0x01;
/// CMD IU category of an I/O-queue command of the NVM command set:
/// `0x08 | (CC.CSS & 7)` with CSS = 0 (§4.7).
pub const CMD_CAT_IO_NVM: u8 = 0x08;

/// ERSP `ersp_result` values (§4.8).
pub mod ersp_result {
    /// Success.
    pub const SUCCESS: u8 = 0;
    /// Invalid field.
    pub const INVALID_FIELD: u8 = 1;
    /// Illegal connection parameters.
    pub const ILL_CONN_PARAMS: u8 = 3;
}

/// The 12 bytes of a "good" short response (R_CTL 0x07, §4.8).
pub const ZERO_RSP: [u8; ZERO_RSP_LEN] = [0; ZERO_RSP_LEN];

/// The FC-NVMe CMD IU (§4.7).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct CmdIu {
    /// Byte 0: `format_id`, 0xFD.
    pub format_id: u8,
    /// Byte 1: `fc_id`, 0x28 (`FC_TYPE_NVME`).
    pub fc_id: u8,
    /// Byte 2: `iu_len` in words, 24.
    pub iu_len: U16<BigEndian>,
    /// Bytes 4–5: reserved.
    pub rsvd4: [u8; 2],
    /// Byte 6: `rsv_cat`, command category ([`CMD_CAT_ADMIN`], [`CMD_CAT_IO_NVM`]).
    pub category: u8,
    /// Byte 7: flags ([`CMD_FLAGS_WRITE`], [`CMD_FLAGS_READ`]).
    pub flags: u8,
    /// Byte 8: connection id of the queue, from the Create Association/Connection ACC.
    pub connection_id: U64<BigEndian>,
    /// Byte 16: command sequence number; the first command of a connection is 1.
    pub csn: U32<BigEndian>,
    /// Byte 20: total data bytes of the command (0 if none).
    pub data_len: U32<BigEndian>,
    /// Byte 24: the SQE (little-endian).
    pub sqe: Sqe,
    /// Byte 88: `dps` (protection information; not set).
    pub dps: u8,
    /// Byte 89: `lbads` (not set).
    pub lbads: u8,
    /// Byte 90: `ms` (not set).
    pub ms: U16<BigEndian>,
    /// Bytes 92–95: reserved.
    pub rsvd92: [u8; 4],
}
const _: () = assert!(core::mem::size_of::<CmdIu>() == CMD_IU_LEN);
const _: () = assert!(core::mem::offset_of!(CmdIu, sqe) == 24);
const _: () = assert!(core::mem::offset_of!(CmdIu, dps) == 88);

/// The CMD IU flags byte for a data direction.
pub const fn dir_flags(dir: IoDir) -> u8 {
    match dir {
        IoDir::None => 0,
        IoDir::Write => CMD_FLAGS_WRITE,
        IoDir::Read => CMD_FLAGS_READ,
    }
}

impl CmdIu {
    /// A CMD IU for an I/O queue (category [`CMD_CAT_IO_NVM`]); use
    /// [`CmdIu::new_admin`] on the admin queue or [`CmdIu::set_category`]. The
    /// copied SQE gets the FC data pointer for `data_len` (§4.7).
    pub fn new(connection_id: u64, csn: u32, data_len: u32, dir: IoDir, sqe: &Sqe) -> CmdIu {
        let mut iu = CmdIu::new_zeroed();
        iu.format_id = CMD_FORMAT_ID;
        iu.fc_id = FC_TYPE_NVME;
        iu.iu_len = U16::new(CMD_IU_WORDS);
        iu.category = CMD_CAT_IO_NVM;
        iu.flags = dir_flags(dir);
        iu.connection_id = U64::new(connection_id);
        iu.csn = U32::new(csn);
        iu.data_len = U32::new(data_len);
        iu.sqe = *sqe;
        iu.sqe.set_transport_sgl(data_len);
        iu
    }

    /// A CMD IU for the admin queue (category [`CMD_CAT_ADMIN`]).
    pub fn new_admin(connection_id: u64, csn: u32, data_len: u32, dir: IoDir, sqe: &Sqe) -> CmdIu {
        let mut iu = CmdIu::new(connection_id, csn, data_len, dir, sqe);
        iu.category = CMD_CAT_ADMIN;
        iu
    }

    /// The connection id of a CMD IU (bytes 8–15) without decoding the rest, for
    /// a target that routes by it before validating; `None` when too short.
    pub fn peek_connection_id(bytes: &[u8]) -> Option<u64> {
        let id: [u8; 8] = bytes.get(8..16)?.try_into().ok()?;
        Some(u64::from_be_bytes(id))
    }

    /// The IU as the LLDD contract takes it.
    pub fn as_bytes(&self) -> &[u8; CMD_IU_LEN] {
        zerocopy::transmute_ref!(self)
    }

    /// Sets the connection id (new association).
    pub fn set_connection_id(&mut self, connection_id: u64) {
        self.connection_id.set(connection_id);
    }

    /// Sets the command sequence number.
    pub fn set_csn(&mut self, csn: u32) {
        self.csn.set(csn);
    }

    /// Sets the data length; keep the SQE's DPTR length equal (see [`CmdIu::set_io`]).
    pub fn set_data_len(&mut self, data_len: u32) {
        self.data_len.set(data_len);
    }

    /// Sets the direction flags.
    pub fn set_dir(&mut self, dir: IoDir) {
        self.flags = dir_flags(dir);
    }

    /// Sets the category byte.
    pub fn set_category(&mut self, category: u8) {
        self.category = category;
    }

    /// Replaces the SQE as is.
    pub fn set_sqe(&mut self, sqe: &Sqe) {
        self.sqe = *sqe;
    }

    /// Patches everything that changes per command in a pre-built slot IU: CSN,
    /// data length, direction, SQE (with its FC data pointer set to `data_len`).
    pub fn set_io(&mut self, csn: u32, data_len: u32, dir: IoDir, sqe: &Sqe) {
        self.csn.set(csn);
        self.data_len.set(data_len);
        self.flags = dir_flags(dir);
        self.sqe = *sqe;
        self.sqe.set_transport_sgl(data_len);
    }

    /// The direction the flags announce; `None` when both WRITE and READ are set.
    pub fn dir(&self) -> Option<IoDir> {
        match self.flags & (CMD_FLAGS_WRITE | CMD_FLAGS_READ) {
            0 => Some(IoDir::None),
            CMD_FLAGS_WRITE => Some(IoDir::Write),
            CMD_FLAGS_READ => Some(IoDir::Read),
            _ => None,
        }
    }

    /// Target-side decode: exactly 96 bytes, format_id 0xFD, fc_id 0x28,
    /// iu_len 24 (§4.9), and flags consistent with the SQE (App. A.2: WRITE needs a
    /// write command, READ a non-write command, no flag needs data_len 0; both
    /// flags at once are refused).
    pub fn parse(bytes: &[u8]) -> Result<CmdIu, WireError> {
        const WHAT: &str = "CMD IU";
        let iu = CmdIu::read_from_bytes(bytes).map_err(|_| WireError::BadLength {
            what: WHAT,
            len: bytes.len(),
            expected: CMD_IU_LEN,
        })?;
        check_field(WHAT, "format_id", iu.format_id.into(), CMD_FORMAT_ID.into())?;
        check_field(WHAT, "fc_id", iu.fc_id.into(), FC_TYPE_NVME.into())?;
        check_field(WHAT, "iu_len", iu.iu_len.get().into(), CMD_IU_WORDS.into())?;
        let ok = match iu.dir() {
            Some(IoDir::Write) => iu.sqe.is_write(),
            Some(IoDir::Read) => !iu.sqe.is_write(),
            Some(IoDir::None) => iu.data_len.get() == 0,
            None => false,
        };
        if !ok {
            return Err(WireError::DataDirection {
                flags: iu.flags,
                opcode: iu.sqe.opcode,
                fctype: iu.sqe.fctype(),
                data_len: iu.data_len.get(),
            });
        }
        Ok(iu)
    }
}

/// The FC-NVMe extended response IU (§4.8).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct ErspIu {
    /// Byte 0: `ersp_result` ([`ersp_result`]); the host requires 0.
    pub ersp_result: u8,
    /// Byte 1: reserved.
    pub rsvd1: u8,
    /// Byte 2: `iu_len` in words, 8.
    pub iu_len: U16<BigEndian>,
    /// Byte 4: response sequence number (per queue, first ERSP = 1).
    pub rsn: U32<BigEndian>,
    /// Byte 8: data bytes transferred.
    pub xfrd_len: U32<BigEndian>,
    /// Bytes 12–15: reserved.
    pub rsvd12: [u8; 4],
    /// Byte 16: the NVMe CQE (little-endian).
    pub cqe: Cqe,
}
const _: () = assert!(core::mem::size_of::<ErspIu>() == ERSP_IU_LEN);

impl ErspIu {
    /// A successful-transport ERSP carrying `cqe`.
    pub fn new(rsn: u32, xfrd_len: u32, cqe: Cqe) -> ErspIu {
        ErspIu {
            ersp_result: ersp_result::SUCCESS,
            rsvd1: 0,
            iu_len: U16::new(ERSP_IU_WORDS),
            rsn: U32::new(rsn),
            xfrd_len: U32::new(xfrd_len),
            rsvd12: [0; 4],
            cqe,
        }
    }

    /// The IU as the LLDD's response buffer holds it.
    pub fn as_bytes(&self) -> &[u8; ERSP_IU_LEN] {
        zerocopy::transmute_ref!(self)
    }

    /// Host-side decode of the structural checks of §4.8 step 3: exactly 32
    /// bytes, iu_len 8, ersp_result 0. The caller still compares `xfrd_len` with
    /// the LLDD's transferred length and the CQE CID with the SQE's.
    pub fn parse(bytes: &[u8]) -> Result<ErspIu, WireError> {
        const WHAT: &str = "ERSP IU";
        let iu = ErspIu::read_from_bytes(bytes).map_err(|_| WireError::BadLength {
            what: WHAT,
            len: bytes.len(),
            expected: ERSP_IU_LEN,
        })?;
        check_field(WHAT, "iu_len", iu.iu_len.get().into(), ERSP_IU_WORDS.into())?;
        check_field(
            WHAT,
            "ersp_result",
            iu.ersp_result.into(),
            ersp_result::SUCCESS.into(),
        )?;
        Ok(iu)
    }

    /// The remaining host checks of §4.8 step 3: `xfrd_len` equals the data
    /// length the LLDD reports as moved and the CQE's CID is the command's. A
    /// mismatch is a host path error that terminates the association.
    pub fn check_completion(&self, transferred: u32, cid: u16) -> Result<(), WireError> {
        const WHAT: &str = "ERSP IU";
        check_field(
            WHAT,
            "xfrd_len",
            self.xfrd_len.get().into(),
            transferred.into(),
        )?;
        check_field(WHAT, "cqe.cid", self.cqe.cid().into(), cid.into())
    }

    /// Response sequence number.
    pub fn rsn(&self) -> u32 {
        self.rsn.get()
    }

    /// Data bytes transferred.
    pub fn xfrd_len(&self) -> u32 {
        self.xfrd_len.get()
    }
}

/// True for the 12-byte all-zero short response (§4.8). A response of length 0
/// means the same to the Linux host; the caller handles that case by length.
pub fn is_zero_rsp(rsp: &[u8]) -> bool {
    rsp.len() == ZERO_RSP_LEN && rsp.iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::status::NvmeStatus;
    use proptest::prelude::*;

    fn golden_cmd_iu() -> [u8; 96] {
        let mut b = [0u8; 96];
        b[0] = 0xFD;
        b[1] = 0x28;
        b[2..4].copy_from_slice(&24u16.to_be_bytes());
        b[6] = 0x08;
        b[7] = 0x01;
        b[8..16].copy_from_slice(&0x0102_0304_0506_0001u64.to_be_bytes());
        b[16..20].copy_from_slice(&7u32.to_be_bytes());
        b[20..24].copy_from_slice(&8192u32.to_be_bytes());
        // SQE: write, cid 5, nsid 1, slba 0x10, nlb 15, PSDT, SGL 0x5A len 8192.
        b[24] = 0x01;
        b[25] = 0x40;
        b[26..28].copy_from_slice(&5u16.to_le_bytes());
        b[28..32].copy_from_slice(&1u32.to_le_bytes());
        b[24 + 32..24 + 36].copy_from_slice(&8192u32.to_le_bytes());
        b[24 + 39] = 0x5A;
        b[24 + 40..24 + 44].copy_from_slice(&0x10u32.to_le_bytes());
        b[24 + 48..24 + 52].copy_from_slice(&15u32.to_le_bytes());
        b
    }

    #[test]
    fn cmd_iu_golden() {
        let mut sqe = Sqe::write(1, 0x10, 15, 8192);
        sqe.set_cid(5);
        let iu = CmdIu::new(0x0102_0304_0506_0001, 7, 8192, IoDir::Write, &sqe);
        assert_eq!(iu.as_bytes(), &golden_cmd_iu());
        let back = CmdIu::parse(&golden_cmd_iu()).unwrap();
        assert_eq!(back, iu);
        assert_eq!(back.dir(), Some(IoDir::Write));
        assert_eq!(
            CmdIu::peek_connection_id(&golden_cmd_iu()),
            Some(0x0102_0304_0506_0001)
        );
        assert_eq!(CmdIu::peek_connection_id(&golden_cmd_iu()[..15]), None);
        let admin = CmdIu::new_admin(1, 1, 0, IoDir::None, &Sqe::keep_alive());
        assert_eq!(admin.as_bytes()[6], 0x01);
    }

    #[test]
    fn cmd_iu_set_io_patches_slot() {
        let mut iu = CmdIu::new(0x0102_0304_0506_0001, 0, 0, IoDir::None, &Sqe::default());
        let mut sqe = Sqe::write(1, 0x10, 15, 0);
        sqe.set_cid(5);
        iu.set_io(7, 8192, IoDir::Write, &sqe);
        assert_eq!(iu.as_bytes(), &golden_cmd_iu());
    }

    #[test]
    fn cmd_iu_rejects() {
        let good = golden_cmd_iu();
        assert!(matches!(
            CmdIu::parse(&good[..95]),
            Err(WireError::BadLength { .. })
        ));
        for (off, val, field) in [
            (0, 0xFE, "format_id"),
            (1, 0x08, "fc_id"),
            (3, 23, "iu_len"),
        ] {
            let mut b = good;
            b[off] = val;
            match CmdIu::parse(&b) {
                Err(WireError::BadField { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        // READ flag on a write opcode, both flags, no flag with data.
        for flags in [0x02, 0x03, 0x00] {
            let mut b = good;
            b[7] = flags;
            assert!(
                matches!(CmdIu::parse(&b), Err(WireError::DataDirection { .. })),
                "{flags}"
            );
        }
        // Fabrics Property Get (fctype 4) reads; Connect (fctype 1) writes.
        let mut b = good;
        b[24] = 0x7F;
        b[28] = 0x04;
        b[7] = 0x02;
        assert!(CmdIu::parse(&b).is_ok());
        b[28] = 0x01;
        assert!(CmdIu::parse(&b).is_err());
    }

    #[test]
    fn ersp_golden() {
        let cqe = Cqe::new(5, 1, 9, NvmeStatus::SUCCESS, 0);
        let iu = ErspIu::new(3, 4096, cqe);
        let mut b = [0u8; 32];
        b[2..4].copy_from_slice(&8u16.to_be_bytes());
        b[4..8].copy_from_slice(&3u32.to_be_bytes());
        b[8..12].copy_from_slice(&4096u32.to_be_bytes());
        b[24..26].copy_from_slice(&9u16.to_le_bytes());
        b[26..28].copy_from_slice(&1u16.to_le_bytes());
        b[28..30].copy_from_slice(&5u16.to_le_bytes());
        assert_eq!(iu.as_bytes(), &b);
        let back = ErspIu::parse(&b).unwrap();
        assert_eq!((back.rsn(), back.xfrd_len(), back.cqe.cid()), (3, 4096, 5));
        b[3] = 7;
        assert!(matches!(
            ErspIu::parse(&b),
            Err(WireError::BadField {
                field: "iu_len",
                ..
            })
        ));
        b[3] = 8;
        b[0] = 3;
        assert!(matches!(
            ErspIu::parse(&b),
            Err(WireError::BadField {
                field: "ersp_result",
                ..
            })
        ));
        assert!(ErspIu::parse(&b[..12]).is_err());
        assert_eq!(iu.check_completion(4096, 5), Ok(()));
        assert!(matches!(
            iu.check_completion(4095, 5),
            Err(WireError::BadField {
                field: "xfrd_len",
                ..
            })
        ));
        assert!(matches!(
            iu.check_completion(4096, 6),
            Err(WireError::BadField {
                field: "cqe.cid",
                ..
            })
        ));
    }

    #[test]
    fn zero_rsp() {
        assert!(is_zero_rsp(&ZERO_RSP));
        assert!(!is_zero_rsp(&[0; 11]));
        assert!(!is_zero_rsp(&[0; 32]));
        let mut r = ZERO_RSP;
        r[5] = 1;
        assert!(!is_zero_rsp(&r));
    }

    proptest! {
        #[test]
        fn cmd_iu_round_trip(conn: u64, csn: u32, len in 1u32.., nsid: u32, slba: u64, nlb: u16, w: bool) {
            let (sqe, dir) = if w {
                (Sqe::write(nsid, slba, nlb, len), IoDir::Write)
            } else {
                (Sqe::read(nsid, slba, nlb, len), IoDir::Read)
            };
            let iu = CmdIu::new(conn, csn, len, dir, &sqe);
            let back = CmdIu::parse(iu.as_bytes()).unwrap();
            prop_assert_eq!(back, iu);
            prop_assert_eq!(back.connection_id.get(), conn);
            prop_assert_eq!(back.csn.get(), csn);
        }

        #[test]
        fn ersp_round_trip(rsn: u32, xfrd: u32, cid: u16, st in 0u16..0x8000, res: u64) {
            let iu = ErspIu::new(rsn, xfrd, Cqe::new(cid, 1, 2, NvmeStatus(st), res));
            prop_assert_eq!(ErspIu::parse(iu.as_bytes()).unwrap(), iu);
        }

        #[test]
        fn arbitrary_sqe_behind_valid_header_never_panics(
            flags in 0u8..8, data_len: u32, sqe in proptest::array::uniform32(any::<u8>()),
            sqe2 in proptest::array::uniform32(any::<u8>()),
        ) {
            let mut b = [0u8; 96];
            b[0] = 0xFD;
            b[1] = 0x28;
            b[3] = 24;
            b[7] = flags;
            b[20..24].copy_from_slice(&data_len.to_be_bytes());
            b[24..56].copy_from_slice(&sqe);
            b[56..88].copy_from_slice(&sqe2);
            match CmdIu::parse(&b) {
                Ok(iu) => {
                    let dir = iu.dir();
                    prop_assert!(dir.is_some());
                    prop_assert_eq!(dir == Some(IoDir::Write), iu.sqe.is_write() && flags & 1 != 0);
                }
                Err(e) => {
                    let direction = matches!(e, WireError::DataDirection { .. });
                    prop_assert!(direction, "{:?}", e);
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = CmdIu::parse(&b);
            let _ = ErspIu::parse(&b);
            let _ = is_zero_rsp(&b);
        }
    }
}
