//! Typed decode errors of the FC formats.
//!
//! Every parser in [`crate::fc`] returns [`FcError`] instead of panicking: frames
//! come from the fabric, a remote port or the emulated device and are untrusted.

/// Why bytes could not be decoded as an FC format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FcError {
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
    /// A field holds a value the format does not allow.
    #[error("{what}: field {field} is {value:#x}, expected {expected:#x}")]
    BadField {
        /// The format being decoded.
        what: &'static str,
        /// The field's name as in sli4.md §6.
        field: &'static str,
        /// The value found.
        value: u32,
        /// The value required.
        expected: u32,
    },
    /// A length field disagrees with the bytes present or with the format's unit.
    #[error("{what}: {field} says {value} bytes but {len} are present (or it is not a multiple of the entry size); the sender built a bad payload")]
    BadLength {
        /// The format being decoded.
        what: &'static str,
        /// The length field's name.
        field: &'static str,
        /// The value of the length field.
        value: usize,
        /// Bytes actually present.
        len: usize,
    },
}

/// `Ok` when `value == expected`, else [`FcError::BadField`].
pub(crate) fn check_field(
    what: &'static str,
    field: &'static str,
    value: u32,
    expected: u32,
) -> Result<(), FcError> {
    if value == expected {
        Ok(())
    } else {
        Err(FcError::BadField {
            what,
            field,
            value,
            expected,
        })
    }
}

/// The first `need` bytes of `bytes`, or [`FcError::Truncated`].
pub(crate) fn prefix<'a>(
    what: &'static str,
    bytes: &'a [u8],
    need: usize,
) -> Result<&'a [u8], FcError> {
    bytes.get(..need).ok_or(FcError::Truncated {
        what,
        len: bytes.len(),
        need,
    })
}
