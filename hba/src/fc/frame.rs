//! A whole FC-2 frame: header plus payload (data field), as the emulated fabric
//! routes it and as a pcap record of link type [`super::pcap::LINKTYPE_FC_2`]
//! holds it (no SOF/EOF delimiters, no CRC).
//!
//! This is management-path code (fabric model, discovery): it allocates.

use super::error::FcError;
use super::header::{FcHeader, FC_HEADER_LEN, FC_MAX_PAYLOAD};

/// An owned FC frame.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Frame {
    /// The 24-byte frame header.
    pub header: FcHeader,
    /// The data field (ELS/CT/LS payload, ...), at most [`FC_MAX_PAYLOAD`] bytes
    /// when built by [`Frame::parse`].
    pub payload: Vec<u8>,
}

/// A borrowed FC frame: the decoded header and the payload bytes in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// The 24-byte frame header.
    pub header: FcHeader,
    /// The data field.
    pub payload: &'a [u8],
}

impl<'a> FrameRef<'a> {
    /// Splits `bytes` into header and payload. Refuses fewer than 24 bytes and
    /// a payload longer than [`FC_MAX_PAYLOAD`].
    pub fn parse(bytes: &'a [u8]) -> Result<FrameRef<'a>, FcError> {
        let header = FcHeader::parse(bytes)?;
        let payload = bytes.get(FC_HEADER_LEN..).unwrap_or(&[]);
        if payload.len() > FC_MAX_PAYLOAD {
            return Err(FcError::BadLength {
                what: "FC frame",
                field: "data field",
                value: payload.len(),
                len: FC_MAX_PAYLOAD,
            });
        }
        Ok(FrameRef { header, payload })
    }

    /// An owned copy.
    pub fn to_owned_frame(&self) -> Frame {
        Frame {
            header: self.header,
            payload: self.payload.to_vec(),
        }
    }
}

impl Frame {
    /// A frame from a header and a payload.
    pub fn new(header: FcHeader, payload: impl Into<Vec<u8>>) -> Frame {
        Frame {
            header,
            payload: payload.into(),
        }
    }

    /// Decodes header and payload (see [`FrameRef::parse`]).
    pub fn parse(bytes: &[u8]) -> Result<Frame, FcError> {
        FrameRef::parse(bytes).map(|f| f.to_owned_frame())
    }

    /// Total length in bytes (header + payload).
    pub fn len(&self) -> usize {
        FC_HEADER_LEN + self.payload.len()
    }

    /// Always false: a frame has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Appends header and payload to `out` (e.g. after a pcap record header).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.header.as_bytes());
        out.extend_from_slice(&self.payload);
    }

    /// Header and payload as one buffer: the bytes of a LINKTYPE_FC_2 record.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        self.write_to(&mut out);
        out
    }

    /// The borrowed view.
    pub fn as_ref(&self) -> FrameRef<'_> {
        FrameRef {
            header: self.header,
            payload: &self.payload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fc::header::{fc_type, r_ctl, well_known};
    use proptest::prelude::*;

    #[test]
    fn frame_bytes_are_header_then_payload() {
        let h = FcHeader::request(
            r_ctl::ELS_REQ,
            fc_type::ELS,
            well_known::FABRIC_CONTROLLER,
            0x01_0001,
            3,
        );
        let f = Frame::new(h, vec![0x62, 0, 0, 0, 0, 0, 0, 3]);
        let b = f.to_bytes();
        assert_eq!(b.len(), 32);
        assert_eq!(&b[..24], h.as_bytes());
        assert_eq!(&b[24..], &[0x62, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(Frame::parse(&b).unwrap(), f);
        assert_eq!(f.as_ref().to_owned_frame(), f);
    }

    #[test]
    fn frame_length_limits() {
        assert!(matches!(
            Frame::parse(&[0; 23]),
            Err(FcError::Truncated { .. })
        ));
        assert_eq!(Frame::parse(&[0; 24]).unwrap().payload.len(), 0);
        assert!(Frame::parse(&vec![0; 24 + FC_MAX_PAYLOAD]).is_ok());
        assert!(matches!(
            Frame::parse(&vec![0; 25 + FC_MAX_PAYLOAD]),
            Err(FcError::BadLength { .. })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_round_trip(b in proptest::collection::vec(any::<u8>(), 0..2200)) {
            if let Ok(f) = Frame::parse(&b) {
                prop_assert_eq!(f.to_bytes(), b);
            }
        }
    }
}
