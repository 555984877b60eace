//! What the target does with one FCP exchange, as the LLDD model sees it.

use ufc_transport::lldd::{CMD_IU_LEN, ERSP_IU_LEN};

/// The response IU the target sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rsp {
    /// The 12-byte all-zero RSP (R_CTL 0x07): success, full transfer.
    Zero,
    /// A full ERSP IU (R_CTL 0x08).
    Ersp([u8; ERSP_IU_LEN]),
}

/// End of an exchange at the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FcpOutcome {
    /// Data moved (`transferred` bytes) and a response was sent.
    Complete {
        /// Data bytes moved.
        transferred: u32,
        /// The response.
        rsp: Rsp,
    },
    /// The target aborted the exchange without a response (ABTS): bad CMD IU,
    /// unknown or dead connection (nvme-fc.md A.2, §4.9).
    Abort,
    /// The target keeps the command (Async Event Request); its completion comes
    /// later from `Connection::take_deferred`.
    Held,
}

/// The connection id of a CMD IU (bytes 8–15, big-endian, §4.7), read without
/// decoding the rest; the LLDD uses it to find the queue.
#[inline]
pub fn cmd_iu_connection_id(cmd_iu: &[u8; CMD_IU_LEN]) -> u64 {
    let mut id = [0u8; 8];
    id.copy_from_slice(&cmd_iu[8..16]);
    u64::from_be_bytes(id)
}
