//! What an attached N_Port receives from its F_Port.

use ufc_hba::fc::frame::Frame;

/// One event for an attached N_Port, in the order the fabric produced them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortEvent {
    /// The link came up (attach, or the end of a link-down fault).
    LinkUp {
        /// Link speed in Gb/s.
        speed_gbps: u32,
    },
    /// The link went down: every login of the port (fabric, name server, targets)
    /// is gone.
    LinkDown,
    /// A frame addressed to the port.
    Frame(Frame),
}
