//! RSCN, registered state change notification (FC-LS-3 §4.3.26; sli4.md §6.1
//! "RSCN"; LPFC `ELS_CMD_RSCN`, `RSCN_ADDRESS_FORMAT_*`).
//!
//! Payload: byte 0 0x61, byte 1 page length 4, bytes 2-3 payload length
//! (header included), then 4-byte pages: byte 0 flags (bits 1-0 address
//! format; FC-LS-3 puts the event qualifier in bits 5-2), bytes 1-3 the
//! affected N_Port ID, area or domain.

use super::els::els_cmd;
use super::error::{prefix, FcError};
use super::header::{u24_from_be, u24_to_be, U24_MASK};

/// RSCN page length.
pub const RSCN_PAGE_LEN: usize = 4;
/// RSCN header length.
pub const RSCN_HEADER_LEN: usize = 4;
/// Most pages one RSCN may carry: the 16-bit payload length minus the header,
/// and FC-LS-3 limits the payload to 256 pages; we use the frame limit
/// (2112 bytes) which is tighter: (2112 - 4) / 4.
pub const RSCN_MAX_PAGES: usize = (super::header::FC_MAX_PAYLOAD - RSCN_HEADER_LEN) / RSCN_PAGE_LEN;

/// Address format of an RSCN page (flags bits 1-0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RscnAddressFormat {
    /// 0: one N_Port ID.
    Port,
    /// 1: every port of the area (domain and area bytes).
    Area,
    /// 2: every port of the domain.
    Domain,
    /// 3: the whole fabric.
    Fabric,
}

impl RscnAddressFormat {
    /// The two-bit code.
    pub const fn code(self) -> u8 {
        match self {
            RscnAddressFormat::Port => 0,
            RscnAddressFormat::Area => 1,
            RscnAddressFormat::Domain => 2,
            RscnAddressFormat::Fabric => 3,
        }
    }

    /// From the low two bits of the page flags byte.
    pub const fn from_flags(flags: u8) -> RscnAddressFormat {
        match flags & 3 {
            0 => RscnAddressFormat::Port,
            1 => RscnAddressFormat::Area,
            2 => RscnAddressFormat::Domain,
            _ => RscnAddressFormat::Fabric,
        }
    }

    /// True when `id` lies inside the range this page names around `page_id`.
    pub const fn covers(self, page_id: u32, id: u32) -> bool {
        let mask = match self {
            RscnAddressFormat::Port => U24_MASK,
            RscnAddressFormat::Area => 0xFF_FF00,
            RscnAddressFormat::Domain => 0xFF_0000,
            RscnAddressFormat::Fabric => 0,
        };
        (page_id & mask) == (id & mask)
    }
}

/// One affected-address page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RscnPage {
    /// Byte 0 as received (address format in bits 1-0, event qualifier 5-2).
    pub flags: u8,
    /// Bytes 1-3: the affected N_Port ID (or area/domain prefix).
    pub id: u32,
}

impl RscnPage {
    /// A port-address page for `id`.
    pub const fn port(id: u32) -> RscnPage {
        RscnPage {
            flags: 0,
            id: id & U24_MASK,
        }
    }

    /// A page with address format `fmt`.
    pub const fn new(fmt: RscnAddressFormat, id: u32) -> RscnPage {
        RscnPage {
            flags: fmt.code(),
            id: id & U24_MASK,
        }
    }

    /// The page's address format.
    pub const fn format(&self) -> RscnAddressFormat {
        RscnAddressFormat::from_flags(self.flags)
    }

    /// The 4 bytes.
    pub const fn to_bytes(self) -> [u8; RSCN_PAGE_LEN] {
        let id = u24_to_be(self.id);
        [self.flags, id[0], id[1], id[2]]
    }
}

/// Builds an RSCN payload; `None` when `pages` is empty or more than
/// [`RSCN_MAX_PAGES`].
pub fn build_rscn(pages: &[RscnPage]) -> Option<Vec<u8>> {
    if pages.is_empty() || pages.len() > RSCN_MAX_PAGES {
        return None;
    }
    let len = RSCN_HEADER_LEN + pages.len() * RSCN_PAGE_LEN;
    let len16 = u16::try_from(len).ok()?;
    let mut out = Vec::with_capacity(len);
    out.push(els_cmd::RSCN);
    out.push(RSCN_PAGE_LEN as u8);
    out.extend_from_slice(&len16.to_be_bytes());
    for p in pages {
        out.extend_from_slice(&p.to_bytes());
    }
    Some(out)
}

/// A validated RSCN payload borrowed in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rscn<'a> {
    pages: &'a [u8],
}

impl<'a> Rscn<'a> {
    /// Validates command 0x61, page length 4, payload length a multiple of 4,
    /// at least one page and not beyond `bytes` (trailing bytes are ignored).
    pub fn parse(bytes: &'a [u8]) -> Result<Rscn<'a>, FcError> {
        const WHAT: &str = "RSCN";
        let h = prefix(WHAT, bytes, RSCN_HEADER_LEN)?;
        if h[0] != els_cmd::RSCN {
            return Err(FcError::BadField {
                what: WHAT,
                field: "command",
                value: h[0].into(),
                expected: els_cmd::RSCN.into(),
            });
        }
        if usize::from(h[1]) != RSCN_PAGE_LEN {
            return Err(FcError::BadField {
                what: WHAT,
                field: "page length",
                value: h[1].into(),
                expected: RSCN_PAGE_LEN as u32,
            });
        }
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        match bytes.get(RSCN_HEADER_LEN..len) {
            Some(pages) if !pages.is_empty() && pages.len() % RSCN_PAGE_LEN == 0 => {
                Ok(Rscn { pages })
            }
            _ => Err(FcError::BadLength {
                what: WHAT,
                field: "payload length",
                value: len,
                len: bytes.len(),
            }),
        }
    }

    /// Number of pages.
    pub fn len(&self) -> usize {
        self.pages.len() / RSCN_PAGE_LEN
    }

    /// Always false for a parsed RSCN (at least one page).
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// The pages in order.
    pub fn pages(&self) -> impl Iterator<Item = RscnPage> + 'a {
        self.pages.chunks_exact(RSCN_PAGE_LEN).map(|c| RscnPage {
            flags: c[0],
            id: u24_from_be([c[1], c[2], c[3]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rscn_golden() {
        let b = build_rscn(&[
            RscnPage::port(0x01_0203),
            RscnPage::new(RscnAddressFormat::Area, 0x02_0400),
        ])
        .unwrap();
        assert_eq!(b, [0x61, 4, 0, 12, 0, 1, 2, 3, 1, 2, 4, 0]);
        let r = Rscn::parse(&b).unwrap();
        assert_eq!(r.len(), 2);
        let pages: Vec<_> = r.pages().collect();
        assert_eq!(pages[0], RscnPage::port(0x01_0203));
        assert_eq!(pages[1].format(), RscnAddressFormat::Area);
        assert!(pages[1].format().covers(pages[1].id, 0x02_04EF));
        assert!(!pages[1].format().covers(pages[1].id, 0x02_05EF));
        assert!(RscnAddressFormat::Fabric.covers(0, 0x12_3456));
        assert_eq!(build_rscn(&[]), None);
    }

    #[test]
    fn rscn_rejects() {
        let good = build_rscn(&[RscnPage::port(1)]).unwrap();
        for (off, val) in [(0usize, 0x62u8), (1, 8), (3, 6), (3, 4), (3, 12)] {
            let mut b = good.clone();
            b[off] = val;
            assert!(Rscn::parse(&b).is_err(), "byte {off} = {val}");
        }
        assert!(Rscn::parse(&good[..3]).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(ids in proptest::collection::vec((0u8..4, 0u32..0x100_0000), 1..64)) {
            let pages: Vec<_> = ids
                .iter()
                .map(|&(f, id)| RscnPage::new(RscnAddressFormat::from_flags(f), id))
                .collect();
            let b = build_rscn(&pages).unwrap();
            let back: Vec<_> = Rscn::parse(&b).unwrap().pages().collect();
            prop_assert_eq!(back, pages);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(r) = Rscn::parse(&b) {
                prop_assert!(r.pages().count() >= 1);
            }
        }
    }
}
