//! The 4-byte event queue entry (sli4.md §4.2) and the valid/phase rule of §4.4.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::bits::{bitfields, Le32};

/// Size of an EQE (the 16-byte option is not used).
pub const EQE_LEN: usize = 4;
/// EQEs per 4 KiB page.
pub const EQES_PER_PAGE: usize = 4096 / EQE_LEN;

/// EQE major codes.
pub mod eqe_major {
    /// Standard: the CQ named by the resource id has entries.
    pub const STANDARD: u32 = 0;
    /// Sentinel.
    pub const SENTINEL: u32 = 1;
}

/// An event queue entry.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Eqe {
    /// Valid 0, major code 3-1, minor code 15-4, resource (CQ) id 31-16.
    pub dw0: Le32,
}
const _: () = assert!(core::mem::size_of::<Eqe>() == EQE_LEN);

impl Eqe {
    bitfields! {
        /// Bit 0: valid (compare with the expected phase, §4.4).
        valid / set_valid: dw0[0];
        /// Bits 3-1: major code ([`eqe_major`]).
        major_code / set_major_code: dw0[1; 3];
        /// Bits 15-4: minor code.
        minor_code / set_minor_code: dw0[4; 12];
        /// Bits 31-16: resource id = CQ id.
        resource_id / set_resource_id: dw0[16; 16];
    }

    /// A standard EQE for `cq_id` with valid bit `phase` (device model).
    pub fn for_cq(cq_id: u16, phase: bool) -> Eqe {
        let mut e = Eqe::default();
        e.set_resource_id(cq_id.into());
        e.set_valid(phase);
        e
    }

    /// Reads the 4 bytes; `None` if shorter.
    pub fn from_prefix(bytes: &[u8]) -> Option<Eqe> {
        Eqe::read_from_prefix(bytes).ok().map(|(e, _)| e)
    }
}

/// The valid-bit convention of a queue the port produces (§4.4).
///
/// Without autovalid (if_type 2) the phase stays 1 and the host clears each
/// consumed entry's valid bit; with autovalid (if_type 6, EQAV/CQAV) the host
/// never writes entries and the expected phase toggles at every wrap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phase {
    expected: bool,
    autovalid: bool,
}

impl Phase {
    /// The initial state: expected valid bit 1.
    pub const fn new(autovalid: bool) -> Phase {
        Phase {
            expected: true,
            autovalid,
        }
    }

    /// The valid-bit value that marks a new entry.
    pub const fn expected(&self) -> bool {
        self.expected
    }

    /// True when the host must clear the valid bit of a consumed entry.
    pub const fn host_clears(&self) -> bool {
        !self.autovalid
    }

    /// Called when the consumer index wraps to 0.
    pub fn on_wrap(&mut self) {
        if self.autovalid {
            self.expected = !self.expected;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn eqe_golden() {
        let e = Eqe::for_cq(0x0123, true);
        assert_eq!(e.as_bytes(), &[0x01, 0x00, 0x23, 0x01]);
        let back = Eqe::from_prefix(e.as_bytes()).unwrap();
        assert!(back.valid());
        assert_eq!(
            (back.major_code(), back.resource_id()),
            (eqe_major::STANDARD, 0x123)
        );
        assert!(Eqe::from_prefix(&[1, 2, 3]).is_none());
    }

    #[test]
    fn phase_rules() {
        let mut p = Phase::new(false);
        p.on_wrap();
        assert!(p.expected() && p.host_clears());
        let mut a = Phase::new(true);
        assert!(a.expected() && !a.host_clears());
        a.on_wrap();
        assert!(!a.expected());
        a.on_wrap();
        assert!(a.expected());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..8)) {
            if let Some(e) = Eqe::from_prefix(&b) {
                prop_assert_eq!(e.valid(), b[0] & 1 == 1);
                prop_assert!(e.major_code() < 8);
            }
        }
    }
}
