//! NVMe completion status as the host sees it (Linux's 15-bit form: CQE status
//! bits 15:1, so `SCT << 8 | SC` with DNR at 0x4000 and MORE at 0x2000).

use std::fmt;

/// An NVMe status value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NvmeStatus(pub u16);

impl NvmeStatus {
    /// Successful completion.
    pub const SUCCESS: NvmeStatus = NvmeStatus(0);
    /// Invalid field in command (generic).
    pub const INVALID_FIELD: NvmeStatus = NvmeStatus(0x2);
    /// `NVME_SC_HOST_PATH_ERROR`: the path to the controller is gone.
    pub const HOST_PATH_ERROR: NvmeStatus = NvmeStatus(0x370);
    /// `NVME_SC_HOST_ABORTED_CMD`: the host aborted the command.
    pub const HOST_ABORTED_CMD: NvmeStatus = NvmeStatus(0x371);
    /// Do Not Retry.
    pub const DNR: u16 = 0x4000;

    /// Decodes the 16-bit status word of a CQE (phase bit dropped).
    pub const fn from_cqe(word: u16) -> NvmeStatus {
        NvmeStatus(word >> 1)
    }

    /// True for success.
    pub const fn is_success(self) -> bool {
        self.code() == 0
    }

    /// True when the controller said not to retry.
    pub const fn dnr(self) -> bool {
        self.0 & Self::DNR != 0
    }

    /// Status code type and code, without DNR/MORE.
    pub const fn code(self) -> u16 {
        self.0 & 0x7ff
    }
}

impl fmt::Debug for NvmeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NvmeStatus({:#05x}", self.code())?;
        if self.dnr() {
            f.write_str(", DNR")?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for NvmeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_cqe_status_word() {
        let s = NvmeStatus::from_cqe((0x4000 | 0x370) << 1 | 1);
        assert_eq!(s.code(), 0x370);
        assert!(s.dnr());
        assert!(!s.is_success());
        assert!(NvmeStatus::from_cqe(1).is_success());
        assert_eq!(format!("{s}"), "NvmeStatus(0x370, DNR)");
    }
}
