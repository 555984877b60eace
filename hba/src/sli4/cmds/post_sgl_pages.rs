//! FCOE_POST_SGL_PAGES (0x0C/0x03): registers the SGL page(s) of a run of
//! consecutive XRIs (sli4.md §3.5, §5.7; OCS `sli4_req_fcoe_post_sgl_pages_t`,
//! LPFC `struct lpfc_mbx_post_sgl_pages`).
//!
//! Payload dword 0: first XRI 15-0, XRI count 31-16; then one 16-byte
//! [`SglPages`] per XRI. Request length = 4 + 16 × count. Small runs go
//! embedded ([`embedded`], up to [`EMBEDDED_MAX_XRIS`]); larger ones in a
//! host buffer named by one PMD ([`write_external`], then
//! [`crate::sli4::sli_config::SliConfig::external`]). No response payload.

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use super::{Le32, PageAddr};
use crate::sli4::bits::bitfields;
use crate::sli4::mbox::Mqe;
use crate::sli4::sli_config::{
    fc_op, subsystem, CfgRequestHeader, SliConfig, CFG_HEADER_LEN, EMBEDDED_PAYLOAD_MAX,
};

/// Size of the payload's first dword.
pub const HEADER_LEN: usize = 4;
/// Size of one per-XRI entry.
pub const ENTRY_LEN: usize = 16;
/// Most XRIs one embedded command carries ((216 − 4) / 16).
pub const EMBEDDED_MAX_XRIS: usize = (EMBEDDED_PAYLOAD_MAX - HEADER_LEN) / ENTRY_LEN;

/// Payload dword 0.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct PostSglPages {
    /// Dword 0: first XRI 15-0, XRI count 31-16.
    pub dw0: Le32,
}
const _: () = assert!(core::mem::size_of::<PostSglPages>() == HEADER_LEN);

impl PostSglPages {
    bitfields! {
        /// Dword 0 bits 15-0: first XRI.
        first_xri / set_first_xri: dw0[0; 16];
        /// Dword 0 bits 31-16: number of XRIs.
        xri_count / set_xri_count: dw0[16; 16];
    }
}

/// The SGL pages of one XRI: page 1 is used only when the SGL exceeds 4 KiB.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct SglPages {
    /// Dwords 0-1: page 0 address (low, high).
    pub page0: PageAddr,
    /// Dwords 2-3: page 1 address (low, high), 0 if unused.
    pub page1: PageAddr,
}
const _: () = assert!(core::mem::size_of::<SglPages>() == ENTRY_LEN);

impl SglPages {
    /// A single-page SGL at `addr`.
    pub fn one(addr: u64) -> SglPages {
        SglPages {
            page0: PageAddr::new(addr),
            page1: PageAddr::default(),
        }
    }
}

/// Request length (after the 16-byte request header) for `count` XRIs.
pub const fn request_len(count: usize) -> usize {
    HEADER_LEN + ENTRY_LEN * count
}

fn write_payload(dst: &mut [u8], first_xri: u16, sgls: &[SglPages]) -> Option<usize> {
    let count = u16::try_from(sgls.len()).ok()?;
    let len = request_len(sgls.len());
    if sgls.is_empty() || dst.len() < len {
        return None;
    }
    let mut h = PostSglPages::default();
    h.set_first_xri(first_xri.into());
    h.set_xri_count(count.into());
    dst[..HEADER_LEN].copy_from_slice(h.as_bytes());
    for (chunk, s) in dst[HEADER_LEN..len].chunks_exact_mut(ENTRY_LEN).zip(sgls) {
        chunk.copy_from_slice(s.as_bytes());
    }
    Some(len)
}

/// The embedded MQE posting `sgls` for XRIs `first_xri ..`; `None` for none
/// or more than [`EMBEDDED_MAX_XRIS`].
pub fn embedded(first_xri: u16, sgls: &[SglPages]) -> Option<Mqe> {
    if sgls.len() > EMBEDDED_MAX_XRIS {
        return None;
    }
    let mut buf = [0u8; EMBEDDED_PAYLOAD_MAX];
    let len = write_payload(&mut buf, first_xri, sgls)?;
    SliConfig::embedded(subsystem::FC, fc_op::POST_SGL_PAGES, 0, &buf[..len], 0)
}

/// Writes the request header and payload of a non-embedded command into
/// `buf` (the host buffer the PMD will name); returns the byte length to
/// give the PMD. `None` for no XRIs, more than 65535, or a short buffer.
pub fn write_external(buf: &mut [u8], first_xri: u16, sgls: &[SglPages]) -> Option<usize> {
    if buf.len() < CFG_HEADER_LEN {
        return None;
    }
    let (hdr, rest) = buf.split_at_mut(CFG_HEADER_LEN);
    let len = write_payload(rest, first_xri, sgls)?;
    let h = CfgRequestHeader::new(subsystem::FC, fc_op::POST_SGL_PAGES, 0, len as u32);
    hdr.copy_from_slice(h.as_bytes());
    Some(CFG_HEADER_LEN + len)
}

/// Decodes a request payload (the bytes after the request header, embedded
/// or from the external buffer) as the device model reads it: the first XRI
/// and the per-XRI entries. `None` when the count is zero or the entries do
/// not fit `payload`.
pub fn parse(payload: &[u8]) -> Option<(u16, impl Iterator<Item = SglPages> + '_)> {
    let (h, rest) = PostSglPages::read_from_prefix(payload).ok()?;
    let count = h.xri_count() as usize;
    let body = rest.get(..count.checked_mul(ENTRY_LEN)?)?;
    if count == 0 {
        return None;
    }
    let it = body
        .chunks_exact(ENTRY_LEN)
        .map(|c| SglPages::read_from_bytes(c).unwrap_or_else(|_| SglPages::new_zeroed()));
    Some((h.first_xri() as u16, it))
}

/// Builds a [`PageAddr`] pair for callers that hold raw addresses.
pub fn sgl_pages(page0: u64, page1: Option<u64>) -> SglPages {
    SglPages {
        page0: PageAddr::new(page0),
        page1: page1.map_or_else(PageAddr::default, PageAddr::new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sli4::sli_config::{Pmd, SliConfig};
    use proptest::prelude::*;

    #[test]
    fn embedded_golden() {
        let sgls = [
            SglPages::one(0x1_0000_A000),
            sgl_pages(0xB000, Some(0xC000)),
        ];
        let m = embedded(0x100, &sgls).unwrap();
        let b = m.as_bytes();
        assert_eq!(&b[0..5], &[0, 0x9B, 0, 0, 1]);
        assert_eq!(&b[24..26], &[0x03, 0x0C]);
        assert_eq!(&b[32..36], &36u32.to_le_bytes());
        assert_eq!(&b[40..44], &[0x00, 0x01, 2, 0]);
        assert_eq!(
            &b[44..60],
            &[0, 0xA0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            &b[60..76],
            &[0, 0xB0, 0, 0, 0, 0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0]
        );
        let cfg = SliConfig::from_mqe(&m);
        let (_, p) = cfg.request();
        let (first, it) = parse(p).unwrap();
        let back: Vec<_> = it.collect();
        assert_eq!((first, back.as_slice()), (0x100, &sgls[..]));
        assert_eq!(EMBEDDED_MAX_XRIS, 13);
        assert!(embedded(0, &[SglPages::default(); 14]).is_none());
        assert!(embedded(0, &[]).is_none());
    }

    #[test]
    fn external_golden() {
        let sgls: Vec<_> = (0..20u64)
            .map(|i| SglPages::one(0x10_0000 + i * 0x1000))
            .collect();
        let mut buf = vec![0u8; 4096];
        let len = write_external(&mut buf, 0x200, &sgls).unwrap();
        assert_eq!(len, 16 + 4 + 320);
        assert_eq!(&buf[0..2], &[0x03, 0x0C]);
        assert_eq!(&buf[8..12], &324u32.to_le_bytes());
        assert_eq!(&buf[16..20], &[0x00, 0x02, 20, 0]);
        assert_eq!(&buf[20..24], &[0, 0, 0x10, 0]);
        let m = SliConfig::external(&[Pmd::new(0x5000, len as u32)]).unwrap();
        assert_eq!(&m.as_bytes()[8..12], &(len as u32).to_le_bytes());
        let (first, it) = parse(&buf[16..]).unwrap();
        assert_eq!((first, it.count()), (0x200, 20));
        assert!(write_external(&mut buf[..100], 0, &sgls).is_none());
        assert!(parse(&buf[16..40]).is_none());
    }

    proptest! {
        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Some((_, it)) = parse(&b) {
                prop_assert!(it.count() * ENTRY_LEN + HEADER_LEN <= b.len());
            }
        }
    }
}
