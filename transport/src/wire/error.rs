//! Typed decode and encode errors of the wire formats.
//!
//! Every decoder in [`crate::wire`] returns one of these instead of panicking: the
//! bytes come from a target, a host or an LLDD and are untrusted.

/// Why bytes could not be decoded as (or a value could not be encoded into) a wire
/// format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer is shorter than the format needs.
    #[error("{what}: {len} bytes received, at least {need} needed; the sender truncated it")]
    Truncated {
        /// The format being decoded.
        what: &'static str,
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The buffer has the wrong total length for a fixed-size format.
    #[error("{what}: {len} bytes received, exactly {expected} expected")]
    BadLength {
        /// The format being decoded.
        what: &'static str,
        /// Bytes available.
        len: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("{what}: field {field} is {value:#x}, expected {expected:#x}")]
    BadField {
        /// The format being decoded.
        what: &'static str,
        /// The field's name as in nvme-fc.md.
        field: &'static str,
        /// The value found.
        value: u64,
        /// The value required.
        expected: u64,
    },
    /// The CMD IU's WRITE/READ flags disagree with the data direction of its SQE
    /// or with its data length (nvme-fc.md App. A.2).
    #[error(
        "CMD IU: flags {flags:#04x} disagree with SQE opcode {opcode:#04x} \
         (fctype {fctype:#04x}) and data_len {data_len}; the host built a bad IU"
    )]
    DataDirection {
        /// The IU's flags byte.
        flags: u8,
        /// The SQE opcode.
        opcode: u8,
        /// The fabrics command type (meaningful for opcode 0x7F only).
        fctype: u8,
        /// The IU's data_len.
        data_len: u32,
    },
    /// An NQN does not fit its wire field (at most 223 bytes, nvme-fc.md §4.2/§5.1).
    #[error("NQN of {len} bytes is longer than the 223 allowed; shorten it")]
    NqnTooLong {
        /// Length of the NQN offered.
        len: usize,
    },
}

/// `Ok` when `value == expected`, else [`WireError::BadField`].
pub(crate) fn check_field(
    what: &'static str,
    field: &'static str,
    value: u64,
    expected: u64,
) -> Result<(), WireError> {
    if value == expected {
        Ok(())
    } else {
        Err(WireError::BadField {
            what,
            field,
            value,
            expected,
        })
    }
}
