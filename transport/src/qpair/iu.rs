//! Per-slot CMD IUs and the response checks of `nvme_fc_fcpio_done`
//! (nvme-fc.md §4.7, §4.8), on top of the wire formats in [`crate::wire`]. Used
//! by the I/O queue pairs and by the admin queue driven from management.
//!
//! Each slot's IU is built once; per command only what changes is patched in
//! place (SQE, data length, flags, then connection id and CSN at transmission).

use crate::lldd::{FcpDone, FcpStatus, IoDir, ERSP_IU_LEN, ZERO_RSP_LEN};
use crate::wire::iu::{CMD_CAT_ADMIN, CMD_CAT_IO_NVM};
use crate::wire::{is_zero_rsp, CmdIu, ErspIu, NvmeStatus, Sqe, WireError};

/// Category of admin-queue commands.
pub const CAT_ADMIN: u8 = CMD_CAT_ADMIN;
/// Category of NVM I/O commands.
pub const CAT_NVM: u8 = CMD_CAT_IO_NVM;

/// A fresh slot IU of `category` with the constant header fields set.
pub fn template(category: u8) -> CmdIu {
    let mut iu = CmdIu::new(0, 0, 0, IoDir::None, &Sqe::default());
    iu.set_category(category);
    iu
}

/// Puts a command into a slot IU: the SQE (its command id set to `cid` and its
/// data pointer rewritten for FC), data length and direction.
#[inline]
pub fn set_command(iu: &mut CmdIu, mut sqe: Sqe, cid: u16, dir: IoDir, data_len: u32) {
    sqe.set_cid(cid);
    iu.set_io(0, data_len, dir, &sqe);
}

/// Patches the fields that change on every (re)transmission.
#[inline]
pub fn set_conn(iu: &mut CmdIu, connection_id: u64, csn: u32) {
    iu.set_connection_id(connection_id);
    iu.set_csn(csn);
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
    /// A 12-byte response that is not all zeroes.
    #[error("12-byte response is not a zero RSP")]
    BadZeroRsp,
    /// ERSP fields disagree with the exchange.
    #[error("bad ERSP: {0}")]
    BadErsp(WireError),
    /// Response length is neither 0, 12 nor 32.
    #[error("bad response length {0}")]
    BadLen(u8),
}

/// Validates a completed exchange (§4.8) and returns its CQE. A zero RSP is
/// turned into a full CQE with this command's id and the last SQ head seen.
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
        if len == ZERO_RSP_LEN && !is_zero_rsp(&done.rsp[..ZERO_RSP_LEN]) {
            return Err(RspError::BadZeroRsp);
        }
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
    let ersp = ErspIu::parse(&done.rsp).map_err(RspError::BadErsp)?;
    ersp.check_completion(done.transferred, cid)
        .map_err(RspError::BadErsp)?;
    Ok(Cqe {
        result: ersp.cqe.result(),
        sqhd: ersp.cqe.sqhd.get(),
        cid,
        status: ersp.cqe.nvme_status(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::cqe::Cqe as WireCqe;

    /// An ERSP as a target would send it.
    pub(crate) fn ersp(cid: u16, xfrd: u32, status: u16, result: u64, sqhd: u16) -> [u8; 32] {
        let cqe = WireCqe::new(cid, 1, sqhd, NvmeStatus(status), result);
        *ErspIu::new(1, xfrd, cqe).as_bytes()
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
        set_command(&mut iu, Sqe::read(1, 5, 7, 4096), 9, IoDir::Read, 4096);
        set_conn(&mut iu, 0x1122_3344_5566_7788, 7);
        let b = iu.as_bytes();
        assert_eq!(&b[0..4], &[0xFD, 0x28, 0, 24]);
        assert_eq!((b[6], b[7]), (0x08, 0x02));
        assert_eq!(&b[8..16], &0x1122_3344_5566_7788u64.to_be_bytes());
        assert_eq!(&b[16..20], &7u32.to_be_bytes());
        assert_eq!(&b[20..24], &4096u32.to_be_bytes());
        assert_eq!((b[24], b[25]), (0x02, 0x40));
        assert_eq!(&b[26..28], &9u16.to_le_bytes());
        assert_eq!(&b[24 + 32..24 + 36], &4096u32.to_le_bytes());
        assert_eq!(b[24 + 39], 0x5A);
        let mut a = template(CAT_ADMIN);
        set_command(&mut a, Sqe::keep_alive(), 1, IoDir::None, 0);
        assert_eq!((a.as_bytes()[6], a.as_bytes()[7]), (0x01, 0));
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
        let mut junk = [0u8; 32];
        junk[3] = 1;
        assert_eq!(
            check_done(&done(12, junk, 0), 1, 0, 0),
            Err(RspError::BadZeroRsp)
        );
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
        let mut rejected = ok;
        rejected.status = FcpStatus::LocalReject(3);
        assert_eq!(check_done(&rejected, 3, 512, 0), Err(RspError::Lldd));
    }
}
