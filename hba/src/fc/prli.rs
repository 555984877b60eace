//! PRLI and PRLI LS_ACC carrying the FC-NVMe service parameter page (FC-LS-3
//! §6.11, FC-NVMe; sli4.md §6.6; nvme-fc.md App. A.1; LPFC `struct
//! lpfc_nvme_prli`).
//!
//! The payload is a 4-byte header (command, page length, payload length) and
//! one or more pages of `page length` bytes. We send exactly one 20-byte NVMe
//! page (24 bytes in total). The parser walks every page and returns the first
//! whose FC-4 type is 0x28, so a PRLI that also carries an FCP page is accepted.

use zerocopy::byteorder::{BigEndian, U16, U32};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::els::els_cmd;
use super::error::{prefix, FcError};
use super::header::fc_type;

/// Length of the PRLI header (command, page length, payload length).
pub const PRLI_HEADER_LEN: usize = 4;
/// Length of the FC-NVMe service parameter page.
pub const NVME_PRLI_PAGE_LEN: usize = 20;
/// Length of a PRLI with one NVMe page.
pub const NVME_PRLI_LEN: usize = PRLI_HEADER_LEN + NVME_PRLI_PAGE_LEN;
/// Unit of the first burst size field, bytes.
pub const FIRST_BURST_UNIT: u32 = 512;

/// Page byte 2 (payload byte 6): establish image pair and accept response code.
pub mod page_flags {
    /// Establish image pair: 0 for FC-NVMe (LPFC "should be 0").
    pub const ESTABLISH_IMAGE_PAIR: u8 = 1 << 5;
    /// Accept response code, bits 3-0 (in the ACC).
    pub const RESPONSE_CODE_MASK: u8 = 0x0F;
}

/// PRLI accept response codes (page byte 2 bits 3-0).
pub mod response_code {
    /// Request executed.
    pub const EXECUTED: u8 = 1;
    /// No resources available.
    pub const NO_RESOURCES: u8 = 2;
    /// Initialisation not complete.
    pub const INIT_INCOMPLETE: u8 = 3;
    /// No such process associator.
    pub const NO_SUCH_PA: u8 = 4;
    /// Predefined configuration prevents it.
    pub const PREDEFINED_CONFIG: u8 = 5;
    /// Partial success (conditionally executed).
    pub const PARTIAL_SUCCESS: u8 = 6;
    /// Invalid service parameter page count.
    pub const INVALID_PAGE_COUNT: u8 = 7;
    /// Invalid service parameters.
    pub const INVALID_SERVICE_PARAMS: u8 = 8;
}

/// Service parameter word (page word 3 = payload bytes 16-19; nvme-fc.md App.
/// A.1 "word4").
pub mod nvme_sp {
    /// Bit 0: first burst supported (request) / granted (ACC).
    pub const FIRST_BURST: u32 = 1 << 0;
    /// Bit 3: discovery service.
    pub const DISCOVERY: u32 = 1 << 3;
    /// Bit 4: target function.
    pub const TARGET: u32 = 1 << 4;
    /// Bit 5: initiator function.
    pub const INITIATOR: u32 = 1 << 5;
    /// Bit 7: confirmed completion allowed.
    pub const CONFIRMED_COMPLETION: u32 = 1 << 7;
    /// Bit 8: NSLER, sequence-level error recovery (older LPFC: "recov").
    pub const NSLER: u32 = 1 << 8;
}

/// The 4-byte PRLI header.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct PrliHeader {
    /// Byte 0: [`els_cmd::PRLI`] or [`els_cmd::LS_ACC`].
    pub cmd: u8,
    /// Byte 1: length of each page, 0x14 for NVMe.
    pub page_len: u8,
    /// Bytes 2-3: payload length including this header.
    pub payload_len: U16<BigEndian>,
}
const _: () = assert!(core::mem::size_of::<PrliHeader>() == PRLI_HEADER_LEN);

/// The FC-NVMe service parameter page (payload bytes 4-23).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct NvmePrliPage {
    /// Payload byte 4: FC-4 type 0x28.
    pub fc_type: u8,
    /// Payload byte 5: type code extension, 0.
    pub type_ext: u8,
    /// Payload byte 6: [`page_flags`].
    pub flags: u8,
    /// Payload byte 7: reserved.
    pub rsvd3: u8,
    /// Payload bytes 8-11: originator process associator, 0.
    pub originator_pa: U32<BigEndian>,
    /// Payload bytes 12-15: responder process associator, 0.
    pub responder_pa: U32<BigEndian>,
    /// Payload bytes 16-19: service parameters ([`nvme_sp`]).
    pub service_params: U32<BigEndian>,
    /// Payload bytes 20-23: first burst size in 512-byte units, bits 15-0.
    pub first_burst: U32<BigEndian>,
}
const _: () = assert!(core::mem::size_of::<NvmePrliPage>() == NVME_PRLI_PAGE_LEN);

impl NvmePrliPage {
    /// Accept response code (ACC only).
    pub fn response_code(&self) -> u8 {
        self.flags & page_flags::RESPONSE_CODE_MASK
    }

    /// True when the initiator function bit is set.
    pub fn is_initiator(&self) -> bool {
        self.service_params.get() & nvme_sp::INITIATOR != 0
    }

    /// True when the target function bit is set.
    pub fn is_target(&self) -> bool {
        self.service_params.get() & nvme_sp::TARGET != 0
    }

    /// True when the discovery service bit is set.
    pub fn is_discovery(&self) -> bool {
        self.service_params.get() & nvme_sp::DISCOVERY != 0
    }

    /// True when first burst is supported/granted.
    pub fn first_burst_supported(&self) -> bool {
        self.service_params.get() & nvme_sp::FIRST_BURST != 0
    }

    /// First burst size in bytes (field × 512); `None` when first burst is
    /// not granted; `Some(0)` means "no limit stated" (LPFC then caps at 1 MiB).
    pub fn first_burst_bytes(&self) -> Option<u32> {
        self.first_burst_supported()
            .then(|| (self.first_burst.get() & 0xFFFF) * FIRST_BURST_UNIT)
    }
}

/// A PRLI or PRLI ACC with one NVMe page (24 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct NvmePrli {
    /// Bytes 0-3: header.
    pub header: PrliHeader,
    /// Bytes 4-23: the NVMe page.
    pub page: NvmePrliPage,
}
const _: () = assert!(core::mem::size_of::<NvmePrli>() == NVME_PRLI_LEN);

impl NvmePrli {
    fn with(cmd: u8, flags: u8, service_params: u32, first_burst_units: u16) -> NvmePrli {
        let mut p = NvmePrli::new_zeroed();
        p.header.cmd = cmd;
        p.header.page_len = NVME_PRLI_PAGE_LEN as u8;
        p.header.payload_len.set(NVME_PRLI_LEN as u16);
        p.page.fc_type = fc_type::NVME;
        p.page.flags = flags;
        p.page.service_params.set(service_params);
        p.page.first_burst.set(first_burst_units.into());
        p
    }

    /// A PRLI request with `service_params` ([`nvme_sp`]; an initiator sends
    /// `INITIATOR | CONFIRMED_COMPLETION` and optionally `FIRST_BURST`), first
    /// burst size 0 and establish-image-pair clear.
    pub fn request(service_params: u32) -> NvmePrli {
        NvmePrli::with(els_cmd::PRLI, 0, service_params, 0)
    }

    /// A PRLI ACC with `code` ([`response_code`]), `service_params` (a target
    /// sends `TARGET`, a discovery controller adds `DISCOVERY`) and the first
    /// burst size in 512-byte units.
    pub fn accept(code: u8, service_params: u32, first_burst_units: u16) -> NvmePrli {
        NvmePrli::with(
            els_cmd::LS_ACC,
            code & page_flags::RESPONSE_CODE_MASK,
            service_params,
            first_burst_units,
        )
    }

    /// The 24 bytes.
    pub fn as_bytes(&self) -> &[u8; NVME_PRLI_LEN] {
        zerocopy::transmute_ref!(self)
    }

    /// Decodes a PRLI or PRLI ACC and returns its header and its first NVMe
    /// page. Checks: command PRLI or LS_ACC, page length ≥ 20 (a longer page is
    /// read for its first 20 bytes), payload length ≥ 4 + page length, a
    /// multiple of pages, and not beyond `bytes`; an NVMe page must exist.
    pub fn parse(bytes: &[u8]) -> Result<NvmePrli, FcError> {
        const WHAT: &str = "PRLI";
        let header =
            PrliHeader::read_from_bytes(prefix(WHAT, bytes, PRLI_HEADER_LEN)?).map_err(|_| {
                FcError::Truncated {
                    what: WHAT,
                    len: bytes.len(),
                    need: PRLI_HEADER_LEN,
                }
            })?;
        if header.cmd != els_cmd::PRLI && header.cmd != els_cmd::LS_ACC {
            return Err(FcError::BadField {
                what: WHAT,
                field: "command",
                value: header.cmd.into(),
                expected: els_cmd::PRLI.into(),
            });
        }
        let page_len = usize::from(header.page_len);
        if page_len < NVME_PRLI_PAGE_LEN {
            return Err(FcError::BadField {
                what: WHAT,
                field: "page length",
                value: header.page_len.into(),
                expected: NVME_PRLI_PAGE_LEN as u32,
            });
        }
        let payload_len = usize::from(header.payload_len.get());
        let pages_len = payload_len.saturating_sub(PRLI_HEADER_LEN);
        if payload_len > bytes.len() || pages_len < page_len || pages_len % page_len != 0 {
            return Err(FcError::BadLength {
                what: WHAT,
                field: "payload length",
                value: payload_len,
                len: bytes.len(),
            });
        }
        let pages = bytes
            .get(PRLI_HEADER_LEN..payload_len)
            .unwrap_or(&[])
            .chunks_exact(page_len);
        for page in pages {
            if page.first() == Some(&fc_type::NVME) {
                let page = NvmePrliPage::read_from_prefix(page)
                    .map(|(p, _)| p)
                    .map_err(|_| FcError::Truncated {
                        what: WHAT,
                        len: page.len(),
                        need: NVME_PRLI_PAGE_LEN,
                    })?;
                return Ok(NvmePrli { header, page });
            }
        }
        Err(FcError::BadField {
            what: WHAT,
            field: "FC-4 type",
            value: bytes.get(PRLI_HEADER_LEN).copied().unwrap_or(0).into(),
            expected: fc_type::NVME.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nvme_prli_request_golden() {
        let p =
            NvmePrli::request(nvme_sp::INITIATOR | nvme_sp::CONFIRMED_COMPLETION | nvme_sp::NSLER);
        let mut want = [0u8; 24];
        want[0] = 0x20;
        want[1] = 0x14;
        want[3] = 0x18;
        want[4] = 0x28;
        want[18] = 0x01;
        want[19] = 0xA0;
        assert_eq!(p.as_bytes(), &want);
        let back = NvmePrli::parse(&want).unwrap();
        assert_eq!(back, p);
        assert!(back.page.is_initiator() && !back.page.is_target());
        assert_eq!(back.page.first_burst_bytes(), None);
    }

    #[test]
    fn nvme_prli_accept_golden() {
        let a = NvmePrli::accept(
            response_code::EXECUTED,
            nvme_sp::TARGET | nvme_sp::DISCOVERY | nvme_sp::FIRST_BURST,
            8,
        );
        let b = a.as_bytes();
        assert_eq!(&b[0..8], &[0x02, 0x14, 0x00, 0x18, 0x28, 0x00, 0x01, 0x00]);
        assert_eq!(b[19], 0x19);
        assert_eq!(&b[20..24], &[0, 0, 0, 8]);
        let back = NvmePrli::parse(b).unwrap();
        assert_eq!(back.page.response_code(), 1);
        assert!(back.page.is_target() && back.page.is_discovery());
        assert_eq!(back.page.first_burst_bytes(), Some(4096));
    }

    #[test]
    fn nvme_page_found_after_fcp_page() {
        // Two 20-byte pages: an FCP (0x08) page first, then NVMe.
        let mut b = vec![0x20, 0x14, 0x00, 0x2C];
        let mut fcp = [0u8; 20];
        fcp[0] = 0x08;
        b.extend_from_slice(&fcp);
        b.extend_from_slice(NvmePrli::request(nvme_sp::INITIATOR).page.as_bytes());
        let back = NvmePrli::parse(&b).unwrap();
        assert!(back.page.is_initiator());
        assert_eq!(back.header.payload_len.get(), 44);
    }

    #[test]
    fn prli_rejects() {
        let good = *NvmePrli::request(nvme_sp::INITIATOR).as_bytes();
        let cases: [(usize, u8); 4] = [(0, 0x21), (1, 0x10), (3, 0x19), (4, 0x08)];
        for (off, val) in cases {
            let mut b = good;
            b[off] = val;
            assert!(NvmePrli::parse(&b).is_err(), "byte {off} = {val:#x}");
        }
        assert!(matches!(
            NvmePrli::parse(&good[..23]),
            Err(FcError::BadLength { .. })
        ));
        assert!(matches!(
            NvmePrli::parse(&good[..3]),
            Err(FcError::Truncated { .. })
        ));
        let mut b = good;
        b[3] = 4;
        assert!(matches!(
            NvmePrli::parse(&b),
            Err(FcError::BadLength { .. })
        ));
    }

    proptest! {
        #[test]
        fn round_trip(sp in 0u32..0x200, fb: u16, code in 0u8..16, acc: bool) {
            let p = if acc { NvmePrli::accept(code, sp, fb) } else { NvmePrli::request(sp) };
            let back = NvmePrli::parse(p.as_bytes()).unwrap();
            prop_assert_eq!(back, p);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..96)) {
            if let Ok(p) = NvmePrli::parse(&b) {
                prop_assert_eq!(p.page.fc_type, 0x28);
                let _ = p.page.first_burst_bytes();
            }
        }
    }
}
