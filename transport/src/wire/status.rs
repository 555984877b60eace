//! The NVMe completion status as Linux encodes it.
//!
//! The CQE status halfword (CQE bytes 30–31) carries the phase tag in bit 0 and the
//! 15-bit status field in bits 15:1. [`NvmeStatus`] holds the status field shifted
//! down by one (phase removed), which is exactly Linux's `NVME_SC_*` encoding:
//!
//! | bits | field |
//! |---|---|
//! | 7:0 | SC, status code |
//! | 10:8 | SCT, status code type (0 generic, 1 command specific, 2 media, 3 path, 7 vendor) |
//! | 12:11 | CRD, command retry delay index |
//! | 13 | M, more information in the error log |
//! | 14 | DNR, do not retry |
//!
//! So a constant is `(sct << 8) | sc`; e.g. host path error, SCT 3 SC 0x70, is 0x370
//! (nvme-fc.md §5.1, §4.8).

use std::fmt;

/// An NVMe status field without the phase bit, in Linux `NVME_SC_*` encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NvmeStatus(pub u16);

impl NvmeStatus {
    /// Successful completion.
    pub const SUCCESS: NvmeStatus = NvmeStatus(0x000);
    /// Invalid command opcode.
    pub const INVALID_OPCODE: NvmeStatus = NvmeStatus(0x001);
    /// Invalid field in command.
    pub const INVALID_FIELD: NvmeStatus = NvmeStatus(0x002);
    /// Command ID conflict.
    pub const CMD_ID_CONFLICT: NvmeStatus = NvmeStatus(0x003);
    /// Data transfer error.
    pub const DATA_XFER_ERROR: NvmeStatus = NvmeStatus(0x004);
    /// Internal error.
    pub const INTERNAL: NvmeStatus = NvmeStatus(0x006);
    /// Command abort requested.
    pub const ABORT_REQ: NvmeStatus = NvmeStatus(0x007);
    /// Command aborted due to SQ deletion.
    pub const ABORT_QUEUE: NvmeStatus = NvmeStatus(0x008);
    /// Invalid namespace or format.
    pub const INVALID_NS: NvmeStatus = NvmeStatus(0x00B);
    /// Command sequence error.
    pub const CMD_SEQ_ERROR: NvmeStatus = NvmeStatus(0x00C);
    /// SGL descriptor type invalid.
    pub const SGL_INVALID_TYPE: NvmeStatus = NvmeStatus(0x011);
    /// Keep alive timer expired.
    pub const KA_TIMEOUT_EXPIRED: NvmeStatus = NvmeStatus(0x019);
    /// LBA out of range.
    pub const LBA_RANGE: NvmeStatus = NvmeStatus(0x080);
    /// Capacity exceeded.
    pub const CAP_EXCEEDED: NvmeStatus = NvmeStatus(0x081);
    /// Namespace not ready.
    pub const NS_NOT_READY: NvmeStatus = NvmeStatus(0x082);
    /// Invalid queue identifier.
    pub const QID_INVALID: NvmeStatus = NvmeStatus(0x101);
    /// Invalid queue size.
    pub const QUEUE_SIZE: NvmeStatus = NvmeStatus(0x102);
    /// Asynchronous event request limit exceeded.
    pub const ASYNC_LIMIT: NvmeStatus = NvmeStatus(0x105);
    /// Invalid log page.
    pub const INVALID_LOG_PAGE: NvmeStatus = NvmeStatus(0x109);
    /// Feature identifier not saveable.
    pub const FEATURE_NOT_SAVEABLE: NvmeStatus = NvmeStatus(0x10D);
    /// Fabrics Connect: incompatible format.
    pub const CONNECT_FORMAT: NvmeStatus = NvmeStatus(0x180);
    /// Fabrics Connect: controller busy.
    pub const CONNECT_CTRL_BUSY: NvmeStatus = NvmeStatus(0x181);
    /// Fabrics Connect: invalid parameter; CQE dword 0 names the offending byte
    /// (bit 16 set: offset in the connect data, else in the SQE) (§5.1).
    pub const CONNECT_INVALID_PARAM: NvmeStatus = NvmeStatus(0x182);
    /// Fabrics Connect: restart discovery.
    pub const CONNECT_RESTART_DISC: NvmeStatus = NvmeStatus(0x183);
    /// Fabrics Connect: invalid host.
    pub const CONNECT_INVALID_HOST: NvmeStatus = NvmeStatus(0x184);
    /// Fabrics: restart discovery.
    pub const DISCOVERY_RESTART: NvmeStatus = NvmeStatus(0x190);
    /// Fabrics: authentication required.
    pub const AUTH_REQUIRED: NvmeStatus = NvmeStatus(0x191);
    /// Media: write fault.
    pub const WRITE_FAULT: NvmeStatus = NvmeStatus(0x280);
    /// Media: unrecovered read error.
    pub const READ_ERROR: NvmeStatus = NvmeStatus(0x281);
    /// Path: internal path error.
    pub const PATH_INTERNAL: NvmeStatus = NvmeStatus(0x300);
    /// Path: ANA persistent loss.
    pub const ANA_PERSISTENT_LOSS: NvmeStatus = NvmeStatus(0x301);
    /// Path: ANA inaccessible.
    pub const ANA_INACCESSIBLE: NvmeStatus = NvmeStatus(0x302);
    /// Path: ANA transition.
    pub const ANA_TRANSITION: NvmeStatus = NvmeStatus(0x303);
    /// Path: transport error seen by the controller.
    pub const CTRL_PATH_ERROR: NvmeStatus = NvmeStatus(0x360);
    /// Path: the host lost the path (transport failure, held I/O expired).
    pub const HOST_PATH_ERROR: NvmeStatus = NvmeStatus(0x370);
    /// Path: the host aborted the command (association teardown, §3.8).
    pub const HOST_ABORTED_CMD: NvmeStatus = NvmeStatus(0x371);

    /// Status Code Type mask bits.
    pub const SCT_MASK: u16 = 0x0700;
    /// Command Retry Delay mask bits.
    pub const CRD_MASK: u16 = 0x1800;
    /// More bit.
    pub const MORE: u16 = 0x2000;
    /// Do Not Retry bit.
    pub const DNR: u16 = 0x4000;

    /// Builds from a raw CQE status halfword, dropping the phase bit.
    pub const fn from_cqe_field(raw: u16) -> NvmeStatus {
        NvmeStatus(raw >> 1)
    }

    /// The CQE status halfword for this status with the given phase tag.
    pub const fn to_cqe_field(self, phase: bool) -> u16 {
        (self.0 << 1) | phase as u16
    }

    /// Status Code Type (bits 10:8).
    pub const fn sct(self) -> u8 {
        ((self.0 >> 8) & 0x7) as u8
    }

    /// Status Code (bits 7:0).
    pub const fn sc(self) -> u8 {
        (self.0 & 0xFF) as u8
    }

    /// Command Retry Delay index (bits 12:11).
    pub const fn crd(self) -> u8 {
        ((self.0 >> 11) & 0x3) as u8
    }

    /// More information available in the error log page.
    pub const fn more(self) -> bool {
        self.0 & Self::MORE != 0
    }

    /// Do Not Retry.
    pub const fn dnr(self) -> bool {
        self.0 & Self::DNR != 0
    }

    /// The same status with DNR set.
    pub const fn with_dnr(self) -> NvmeStatus {
        NvmeStatus(self.0 | Self::DNR)
    }

    /// SCT and SC only (CRD, More and DNR cleared), for comparing with the constants.
    pub const fn code(self) -> NvmeStatus {
        NvmeStatus(self.0 & 0x07FF)
    }

    /// True for SCT 0 / SC 0, whatever DNR/More say.
    pub const fn is_success(self) -> bool {
        self.code().0 == 0
    }
}

impl fmt::Debug for NvmeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NvmeStatus(sct {:#x} sc {:#04x}", self.sct(), self.sc())?;
        if self.dnr() {
            f.write_str(" dnr")?;
        }
        if self.more() {
            f.write_str(" more")?;
        }
        if self.crd() != 0 {
            write!(f, " crd {}", self.crd())?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for NvmeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#05x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn linux_encodings() {
        assert_eq!(NvmeStatus::HOST_PATH_ERROR.sct(), 3);
        assert_eq!(NvmeStatus::HOST_PATH_ERROR.sc(), 0x70);
        assert_eq!(NvmeStatus::HOST_ABORTED_CMD.sc(), 0x71);
        assert_eq!(NvmeStatus::CONNECT_INVALID_HOST.sct(), 1);
        assert_eq!(NvmeStatus::CONNECT_INVALID_HOST.sc(), 0x84);
        assert_eq!(NvmeStatus::LBA_RANGE.sct(), 0);
        let s = NvmeStatus::INVALID_FIELD.with_dnr();
        assert_eq!(s.0, 0x4002);
        assert!(s.dnr() && !s.more() && !s.is_success());
        assert_eq!(s.code(), NvmeStatus::INVALID_FIELD);
        // CQE bytes 30..32 = 0x8005: phase 1, DNR, SC 2.
        assert_eq!(NvmeStatus::from_cqe_field(0x8005), s);
        assert_eq!(s.to_cqe_field(true), 0x8005);
    }

    proptest! {
        #[test]
        fn cqe_field_round_trip(raw: u16) {
            let s = NvmeStatus::from_cqe_field(raw);
            prop_assert_eq!(s.to_cqe_field(raw & 1 == 1), raw);
            prop_assert_eq!(u16::from(s.sct()) << 8 | u16::from(s.sc()), s.code().0);
        }
    }
}
