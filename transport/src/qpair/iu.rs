//! The CMD IU as a per-slot template and the response checks of
//! `nvme_fc_fcpio_done` (nvme-fc.md §4.7, §4.8). Used by I/O queues and by the
//! admin queue driven from management.
//!
//! The template is built once per slot; per command only the fields that change
//! are patched in place (connection id, CSN, data length, flags, SQE).

use crate::lldd::{FcpDone, FcpStatus, IoDir, CMD_IU_LEN, ERSP_IU_LEN, ZERO_RSP_LEN};
use crate::status::NvmeStatus;

/// `NVME_CMD_FORMAT_ID`.
const FORMAT_ID: u8 = 0xFD;
/// `FC_TYPE_NVME`.
const FC_ID: u8 = 0x28;
/// `iu_len` in 4-byte words.
const CMD_IU_WORDS: u16 = (CMD_IU_LEN / 4) as u16;
/// Category of admin-queue commands (`FCNVME_CMD_CAT_ADMINQ`).
pub const CAT_ADMIN: u8 = 0x01;
/// Category of NVM I/O commands (`0x08 | CC.CSS`, CSS = NVM).
pub const CAT_NVM: u8 = 0x08;

/// Offsets inside the CMD IU (§4.7).
mod off {
    pub const CATEGORY: usize = 6;
    pub const FLAGS: usize = 7;
    pub const CONN_ID: usize = 8;
    pub const CSN: usize = 16;
    pub const DATA_LEN: usize = 20;
    pub const SQE: usize = 24;
}

/// Offsets inside the SQE.
pub mod sqe {
    pub const OPCODE: usize = 0;
    pub const FLAGS: usize = 1;
    pub const CID: usize = 2;
    pub const NSID: usize = 4;
    pub const SGL_LEN: usize = 32;
    pub const SGL_TYPE: usize = 39;
    pub const CDW10: usize = 40;
    pub const CDW11: usize = 44;
    pub const CDW12: usize = 48;
    /// PSDT = SGL, metadata buffer (`NVME_CMD_SGL_METABUF`).
    pub const PSDT_SGL: u8 = 0x40;
    /// Transport SGL data block, transport-specific subtype A.
    pub const SGL_TRANSPORT_DATA: u8 = 0x5A;
    /// Length of an SQE.
    pub const LEN: usize = 64;
}

/// A fresh CMD IU with the constant header fields set.
pub fn template(category: u8) -> [u8; CMD_IU_LEN] {
    let mut iu = [0u8; CMD_IU_LEN];
    iu[0] = FORMAT_ID;
    iu[1] = FC_ID;
    iu[2..4].copy_from_slice(&CMD_IU_WORDS.to_be_bytes());
    iu[off::CATEGORY] = category;
    iu[off::SQE + sqe::FLAGS] = sqe::PSDT_SGL;
    iu[off::SQE + sqe::SGL_TYPE] = sqe::SGL_TRANSPORT_DATA;
    iu
}

/// Sets the length of the SQE's transport SGL descriptor.
#[inline]
pub fn put_sqe_data_len(iu: &mut [u8; CMD_IU_LEN], data_len: u32) {
    iu[off::SQE + sqe::SGL_LEN..off::SQE + sqe::SGL_LEN + 4]
        .copy_from_slice(&data_len.to_le_bytes());
}

/// Writes the SQE (64 bytes) into the IU and applies the mandatory FC rewrites:
/// metadata pointer 0, PSDT = SGL, DPTR = one transport data block of `data_len`
/// bytes at address 0; sets the IU's flags and data length.
pub fn set_sqe(iu: &mut [u8; CMD_IU_LEN], sqe_bytes: &[u8; sqe::LEN], dir: IoDir, data_len: u32) {
    let s = &mut iu[off::SQE..off::SQE + sqe::LEN];
    s.copy_from_slice(sqe_bytes);
    s[sqe::FLAGS] = (s[sqe::FLAGS] & !0xC0) | sqe::PSDT_SGL;
    s[16..40].fill(0);
    s[sqe::SGL_LEN..sqe::SGL_LEN + 4].copy_from_slice(&data_len.to_le_bytes());
    s[sqe::SGL_TYPE] = sqe::SGL_TRANSPORT_DATA;
    set_data(iu, dir, data_len);
}

/// Sets flags and data length.
#[inline]
pub fn set_data(iu: &mut [u8; CMD_IU_LEN], dir: IoDir, data_len: u32) {
    iu[off::FLAGS] = match dir {
        IoDir::None => 0,
        IoDir::Write => 0x01,
        IoDir::Read => 0x02,
    };
    iu[off::DATA_LEN..off::DATA_LEN + 4].copy_from_slice(&data_len.to_be_bytes());
}

/// Patches the fields that change on every (re)transmission.
#[inline]
pub fn set_conn(iu: &mut [u8; CMD_IU_LEN], connection_id: u64, csn: u32) {
    iu[off::CONN_ID..off::CONN_ID + 8].copy_from_slice(&connection_id.to_be_bytes());
    iu[off::CSN..off::CSN + 4].copy_from_slice(&csn.to_be_bytes());
}

/// Writes a little-endian u32 into the SQE at `at`.
#[inline]
pub fn put_sqe_u32(iu: &mut [u8; CMD_IU_LEN], at: usize, v: u32) {
    iu[off::SQE + at..off::SQE + at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Writes the SQE's opcode, command id and NSID.
#[inline]
pub fn put_sqe_head(iu: &mut [u8; CMD_IU_LEN], opcode: u8, cid: u16, nsid: u32) {
    iu[off::SQE + sqe::OPCODE] = opcode;
    iu[off::SQE + sqe::CID..off::SQE + sqe::CID + 2].copy_from_slice(&cid.to_le_bytes());
    iu[off::SQE + sqe::NSID..off::SQE + sqe::NSID + 4].copy_from_slice(&nsid.to_le_bytes());
}

/// Writes the SQE's command id.
#[inline]
pub fn put_sqe_head_cid(iu: &mut [u8; CMD_IU_LEN], cid: u16) {
    iu[off::SQE + sqe::CID..off::SQE + sqe::CID + 2].copy_from_slice(&cid.to_le_bytes());
}

/// Data length recorded in the IU.
#[inline]
pub fn data_len(iu: &[u8; CMD_IU_LEN]) -> u32 {
    u32::from_be_bytes([iu[20], iu[21], iu[22], iu[23]])
}

/// A completion as the host consumes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cqe {
    /// Command-specific result (dwords 0–1).
    pub result: u64,
    /// SQ head pointer; from the ERSP, or the last value seen for a zero RSP.
    pub sqhd: u16,
    /// Command id.
    pub cid: u16,
    /// Status.
    pub status: NvmeStatus,
}

/// Why a response was not accepted; any of these terminates the association.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RspError {
    /// The exchange was aborted.
    #[error("exchange aborted")]
    Aborted,
    /// The LLDD reported a transport failure.
    #[error("LLDD transport failure")]
    Lldd,
    /// Zero RSP but not every byte moved.
    #[error("short transfer with a zero RSP ({transferred} of {expected} bytes)")]
    Short {
        /// Bytes moved.
        transferred: u32,
        /// Bytes expected.
        expected: u32,
    },
    /// ERSP fields disagree with the exchange.
    #[error("malformed ERSP: {0}")]
    BadErsp(&'static str),
    /// Response length is neither 0, 12 nor 32.
    #[error("bad response length {0}")]
    BadLen(u8),
}

/// Validates a completed exchange (`nvme_fc_fcpio_done`, §4.8) and returns its
/// CQE. A zero RSP is turned into a full CQE with this command's id and the last
/// SQ head seen (`last_sqhd`).
#[inline]
pub fn check_done(
    done: &FcpDone,
    cid: u16,
    expected_len: u32,
    last_sqhd: u16,
) -> Result<Cqe, RspError> {
    match done.status {
        FcpStatus::Good => {}
        FcpStatus::Aborted => return Err(RspError::Aborted),
        FcpStatus::LocalReject(_) | FcpStatus::TransportError => return Err(RspError::Lldd),
    }
    let len = usize::from(done.rsp_len);
    if len == 0 || len == ZERO_RSP_LEN {
        if done.transferred != expected_len {
            return Err(RspError::Short {
                transferred: done.transferred,
                expected: expected_len,
            });
        }
        return Ok(Cqe {
            result: 0,
            sqhd: last_sqhd,
            cid,
            status: NvmeStatus::SUCCESS,
        });
    }
    if len != ERSP_IU_LEN {
        return Err(RspError::BadLen(done.rsp_len));
    }
    let r = &done.rsp;
    if u16::from_be_bytes([r[2], r[3]]) != 8 {
        return Err(RspError::BadErsp("iu_len is not 8"));
    }
    if u32::from_be_bytes([r[8], r[9], r[10], r[11]]) != done.transferred {
        return Err(RspError::BadErsp("xfrd_len differs from the bytes moved"));
    }
    if r[0] != 0 {
        return Err(RspError::BadErsp("ersp_result is not success"));
    }
    let rcid = u16::from_le_bytes([r[28], r[29]]);
    if rcid != cid {
        return Err(RspError::BadErsp("CQE command id differs from the SQE's"));
    }
    let mut result = [0u8; 8];
    result.copy_from_slice(&r[16..24]);
    Ok(Cqe {
        result: u64::from_le_bytes(result),
        sqhd: u16::from_le_bytes([r[24], r[25]]),
        cid,
        status: NvmeStatus::from_cqe(u16::from_le_bytes([r[30], r[31]])),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An ERSP as a target would send it.
    pub(crate) fn ersp(cid: u16, xfrd: u32, status: u16, result: u64, sqhd: u16) -> [u8; 32] {
        let mut r = [0u8; 32];
        r[2..4].copy_from_slice(&8u16.to_be_bytes());
        r[4..8].copy_from_slice(&1u32.to_be_bytes());
        r[8..12].copy_from_slice(&xfrd.to_be_bytes());
        r[16..24].copy_from_slice(&result.to_le_bytes());
        r[24..26].copy_from_slice(&sqhd.to_le_bytes());
        r[28..30].copy_from_slice(&cid.to_le_bytes());
        r[30..32].copy_from_slice(&(status << 1).to_le_bytes());
        r
    }

    fn done(rsp_len: u8, rsp: [u8; 32], transferred: u32) -> FcpDone {
        FcpDone {
            tag: 0,
            status: FcpStatus::Good,
            transferred,
            rsp_len,
            rsp,
        }
    }

    #[test]
    fn template_and_patches_land_at_fch_offsets() {
        let mut iu = template(CAT_NVM);
        assert_eq!(&iu[0..4], &[0xFD, 0x28, 0, 24]);
        assert_eq!(iu[6], 0x08);
        let mut s = [0u8; 64];
        s[0] = 0x02;
        s[16] = 0xAA; // metadata pointer must be cleared
        set_sqe(&mut iu, &s, IoDir::Read, 4096);
        set_conn(&mut iu, 0x1122_3344_5566_7788, 7);
        assert_eq!(iu[7], 0x02);
        assert_eq!(&iu[8..16], &0x1122_3344_5566_7788u64.to_be_bytes());
        assert_eq!(&iu[16..20], &7u32.to_be_bytes());
        assert_eq!(data_len(&iu), 4096);
        assert_eq!(iu[24], 0x02);
        assert_eq!(iu[25], 0x40);
        assert_eq!(iu[24 + 16], 0);
        assert_eq!(&iu[24 + 32..24 + 36], &4096u32.to_le_bytes());
        assert_eq!(iu[24 + 39], 0x5A);
    }

    #[test]
    fn zero_rsp_is_synthesised_and_length_checked() {
        let d = done(12, [0; 32], 512);
        let c = check_done(&d, 5, 512, 9).unwrap();
        assert_eq!((c.cid, c.sqhd, c.status), (5, 9, NvmeStatus::SUCCESS));
        assert!(matches!(
            check_done(&d, 5, 4096, 0),
            Err(RspError::Short { .. })
        ));
        assert!(check_done(&done(0, [0; 32], 0), 1, 0, 0).is_ok());
        assert_eq!(
            check_done(&done(13, [0; 32], 0), 1, 0, 0),
            Err(RspError::BadLen(13))
        );
    }

    #[test]
    fn ersp_is_validated() {
        let ok = done(32, ersp(3, 512, 0x4002, 0xdead, 4), 512);
        let c = check_done(&ok, 3, 512, 0).unwrap();
        assert_eq!(c.status, NvmeStatus(0x4002));
        assert_eq!((c.result, c.sqhd), (0xdead, 4));
        assert!(check_done(&ok, 4, 512, 0).is_err(), "cid mismatch");
        let short = done(32, ersp(3, 256, 0, 0, 0), 512);
        assert!(check_done(&short, 3, 512, 0).is_err(), "xfrd_len mismatch");
        let mut bad = ersp(3, 512, 0, 0, 0);
        bad[3] = 7;
        assert!(check_done(&done(32, bad, 512), 3, 512, 0).is_err());
        let mut aborted = ok;
        aborted.status = FcpStatus::Aborted;
        assert_eq!(check_done(&aborted, 3, 512, 0), Err(RspError::Aborted));
    }
}
