//! NVMe command opcodes and the command-specific selectors the stack uses
//! (identify CNS, feature ids, log page ids). Values per the NVMe base spec as
//! mirrored in Linux `include/linux/nvme.h` (nvme-fc.md §5.5).

/// Admin command set opcodes.
pub mod admin {
    /// Get Log Page.
    pub const GET_LOG_PAGE: u8 = 0x02;
    /// Identify.
    pub const IDENTIFY: u8 = 0x06;
    /// Abort.
    pub const ABORT: u8 = 0x08;
    /// Set Features.
    pub const SET_FEATURES: u8 = 0x09;
    /// Get Features.
    pub const GET_FEATURES: u8 = 0x0A;
    /// Asynchronous Event Request.
    pub const ASYNC_EVENT: u8 = 0x0C;
    /// Keep Alive (nvme-fc.md §3.9).
    pub const KEEP_ALIVE: u8 = 0x18;
    /// Fabrics command; the fabrics command type is in SQE byte 4 (§5.1).
    pub const FABRICS: u8 = 0x7F;
}

/// NVM I/O command set opcodes.
pub mod io {
    /// Flush.
    pub const FLUSH: u8 = 0x00;
    /// Write.
    pub const WRITE: u8 = 0x01;
    /// Read.
    pub const READ: u8 = 0x02;
    /// Write Zeroes (carries no data on FC, nvme-fc.md §4.7).
    pub const WRITE_ZEROES: u8 = 0x08;
}

/// Identify CNS values (CDW10 bits 7:0, nvme-fc.md §5.5).
pub mod cns {
    /// Identify Namespace for the SQE's NSID.
    pub const NAMESPACE: u8 = 0x00;
    /// Identify Controller.
    pub const CONTROLLER: u8 = 0x01;
    /// Active namespace ID list (NSIDs greater than the SQE's NSID).
    pub const ACTIVE_NS_LIST: u8 = 0x02;
}

/// Feature identifiers (Set/Get Features CDW10 bits 7:0).
pub mod fid {
    /// Number of Queues: CDW11 = (nsqr−1) | (ncqr−1) << 16, both 0's based (§5.5).
    pub const NUM_QUEUES: u8 = 0x07;
    /// Asynchronous Event Configuration.
    pub const ASYNC_EVENT_CONFIG: u8 = 0x0B;
    /// Keep Alive Timer: CDW11 = KATO in milliseconds.
    pub const KEEP_ALIVE_TIMER: u8 = 0x0F;

    /// Set Features Number of Queues CDW11 asking for `n` I/O submission and
    /// completion queues (both fields 0's based; `n` = 0 is sent as 1).
    pub const fn num_queues_cdw11(n: u16) -> u32 {
        let v = n.saturating_sub(1) as u32;
        v | (v << 16)
    }

    /// The queue counts a Number of Queues completion grants (CQE dword 0:
    /// NSQA bits 15:0, NCQA bits 31:16, both 0's based), as 1-based
    /// `(submission, completion)` counts.
    pub const fn num_queues_granted(dw0: u32) -> (u32, u32) {
        ((dw0 & 0xFFFF) + 1, (dw0 >> 16) + 1)
    }
}

/// Log page identifiers (Get Log Page CDW10 bits 7:0).
pub mod lid {
    /// Error Information.
    pub const ERROR: u8 = 0x01;
    /// SMART / Health Information.
    pub const SMART: u8 = 0x02;
    /// Changed Namespace List.
    pub const CHANGED_NS: u8 = 0x04;
}

/// The data direction an opcode implies: NVMe encodes it in opcode bits 1:0
/// (01 host→controller, 10 controller→host, 00 none, 11 bidirectional).
pub const fn opcode_dir_bits(opcode: u8) -> u8 {
    opcode & 0x3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn num_queues_encoding() {
        assert_eq!(fid::num_queues_cdw11(4), 0x0003_0003);
        assert_eq!(fid::num_queues_cdw11(0), 0);
        assert_eq!(fid::num_queues_granted(0x0001_0007), (8, 2));
        assert_eq!(fid::num_queues_granted(u32::MAX), (0x1_0000, 0x1_0000));
        assert_eq!(opcode_dir_bits(io::WRITE), 1);
        assert_eq!(opcode_dir_bits(io::READ), 2);
    }
}
