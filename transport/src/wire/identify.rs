//! Identify Controller and Identify Namespace data (4096 bytes each,
//! little-endian): the fields the host and the target model use, at the offsets of
//! nvme-fc.md §5.5 and App. A.1. Everything else is kept as reserved bytes.

use zerocopy::byteorder::{LittleEndian, U16, U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::error::WireError;
use super::ls::{nqn_field, nqn_from_field};

/// Length of every Identify data structure.
pub const IDENTIFY_LEN: usize = 4096;

/// CTRATT bit 6: traffic-based keep-alive supported (TBKAS, §3.9).
pub const CTRATT_TBKAS: u32 = 1 << 6;
/// ONCS bit 3: Write Zeroes supported.
pub const ONCS_WRITE_ZEROES: u16 = 1 << 3;
/// SGLS bits 1:0 = 01: SGLs supported, no alignment requirement (FC needs SGLs).
pub const SGLS_SUPPORTED: u32 = 0x1;

fn ascii_field(field: &[u8]) -> String {
    String::from_utf8_lossy(field)
        .trim_end_matches([' ', '\0'])
        .to_owned()
}

fn set_ascii_field(field: &mut [u8], s: &str) {
    field.fill(b' ');
    let n = s.len().min(field.len());
    field[..n].copy_from_slice(&s.as_bytes()[..n]);
}

fn parse_ref<'a, T: FromBytes + KnownLayout + Immutable>(
    what: &'static str,
    bytes: &'a [u8],
) -> Result<&'a T, WireError> {
    T::ref_from_prefix(bytes)
        .map(|(t, _)| t)
        .map_err(|_| WireError::Truncated {
            what,
            len: bytes.len(),
            need: IDENTIFY_LEN,
        })
}

/// Identify Controller data (CNS 0x01).
#[derive(Clone, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct IdentifyController {
    /// Byte 0: PCI vendor id.
    pub vid: U16<LittleEndian>,
    /// Byte 2: PCI subsystem vendor id.
    pub ssvid: U16<LittleEndian>,
    /// Byte 4: serial number, ASCII space padded.
    pub sn: [u8; 20],
    /// Byte 24: model number, ASCII space padded.
    pub mn: [u8; 40],
    /// Byte 64: firmware revision, ASCII space padded.
    pub fr: [u8; 8],
    /// Byte 72: recommended arbitration burst.
    pub rab: u8,
    /// Byte 73: IEEE OUI.
    pub ieee: [u8; 3],
    /// Byte 76: multi-path I/O and namespace sharing capabilities.
    pub cmic: u8,
    /// Byte 77: MDTS, max data transfer 2^MDTS minimum pages (0 = no limit).
    pub mdts: u8,
    /// Byte 78: controller id.
    pub cntlid: U16<LittleEndian>,
    /// Byte 80: version (same encoding as the VS property).
    pub ver: U32<LittleEndian>,
    /// Byte 84: RTD3 resume latency.
    pub rtd3r: U32<LittleEndian>,
    /// Byte 88: RTD3 entry latency.
    pub rtd3e: U32<LittleEndian>,
    /// Byte 92: optional asynchronous events supported.
    pub oaes: U32<LittleEndian>,
    /// Byte 96: controller attributes (bit 6 TBKAS).
    pub ctratt: U32<LittleEndian>,
    /// Bytes 100–255.
    pub rsvd100: [u8; 156],
    /// Byte 256: optional admin command support.
    pub oacs: U16<LittleEndian>,
    /// Byte 258: abort command limit, 0's based.
    pub acl: u8,
    /// Byte 259: asynchronous event request limit, 0's based.
    pub aerl: u8,
    /// Byte 260: firmware updates.
    pub frmw: u8,
    /// Byte 261: log page attributes.
    pub lpa: u8,
    /// Byte 262: error log page entries, 0's based.
    pub elpe: u8,
    /// Byte 263: number of power states, 0's based.
    pub npss: u8,
    /// Bytes 264–319.
    pub rsvd264: [u8; 56],
    /// Byte 320: keep-alive support, granularity in 100 ms units (0 = none).
    pub kas: U16<LittleEndian>,
    /// Bytes 322–511.
    pub rsvd322: [u8; 190],
    /// Byte 512: SQ entry size (required 3:0, max 7:4, log2).
    pub sqes: u8,
    /// Byte 513: CQ entry size (required 3:0, max 7:4, log2).
    pub cqes: u8,
    /// Byte 514: maximum outstanding commands per queue (fabrics).
    pub maxcmd: U16<LittleEndian>,
    /// Byte 516: number of namespaces (highest NSID).
    pub nn: U32<LittleEndian>,
    /// Byte 520: optional NVM command support (bit 3 Write Zeroes).
    pub oncs: U16<LittleEndian>,
    /// Byte 522: fused operation support.
    pub fuses: U16<LittleEndian>,
    /// Byte 524: format NVM attributes.
    pub fna: u8,
    /// Byte 525: volatile write cache.
    pub vwc: u8,
    /// Byte 526: atomic write unit normal.
    pub awun: U16<LittleEndian>,
    /// Byte 528: atomic write unit power fail.
    pub awupf: U16<LittleEndian>,
    /// Byte 530: I/O command set vendor specific command configuration.
    pub icsvscc: u8,
    /// Byte 531: namespace write protection capabilities.
    pub nwpc: u8,
    /// Byte 532: atomic compare & write unit.
    pub acwu: U16<LittleEndian>,
    /// Bytes 534–535.
    pub rsvd534: [u8; 2],
    /// Byte 536: SGL support (bits 1:0 non-zero: SGLs supported; FC requires it).
    pub sgls: U32<LittleEndian>,
    /// Byte 540: maximum number of allowed namespaces.
    pub mnan: U32<LittleEndian>,
    /// Bytes 544–767.
    pub rsvd544: [u8; 224],
    /// Byte 768: subsystem NQN, NUL padded.
    pub subnqn: [u8; 256],
    /// Bytes 1024–1791.
    pub rsvd1024: [u8; 768],
    /// Byte 1792: I/O queue command capsule size, 16-byte units (fabrics).
    pub ioccsz: U32<LittleEndian>,
    /// Byte 1796: I/O queue response capsule size, 16-byte units (fabrics).
    pub iorcsz: U32<LittleEndian>,
    /// Byte 1800: in-capsule data offset, 16-byte units; must be 0 on FC.
    pub icdoff: U16<LittleEndian>,
    /// Byte 1802: fabrics controller attributes (`fcatt`; the doc's CTRATTR).
    pub fcatt: u8,
    /// Byte 1803: maximum SGL data block descriptors.
    pub msdbd: u8,
    /// Byte 1804: optional fabrics commands supported.
    pub ofcs: U16<LittleEndian>,
    /// Bytes 1806–2047.
    pub rsvd1806: [u8; 242],
    /// Byte 2048: power state descriptors.
    pub psd: [u8; 1024],
    /// Byte 3072: vendor specific.
    pub vs: [u8; 1024],
}
const _: () = assert!(core::mem::size_of::<IdentifyController>() == IDENTIFY_LEN);
const _: () = assert!(core::mem::offset_of!(IdentifyController, mdts) == 77);
const _: () = assert!(core::mem::offset_of!(IdentifyController, cntlid) == 78);
const _: () = assert!(core::mem::offset_of!(IdentifyController, ver) == 80);
const _: () = assert!(core::mem::offset_of!(IdentifyController, ctratt) == 96);
const _: () = assert!(core::mem::offset_of!(IdentifyController, kas) == 320);
const _: () = assert!(core::mem::offset_of!(IdentifyController, maxcmd) == 514);
const _: () = assert!(core::mem::offset_of!(IdentifyController, nn) == 516);
const _: () = assert!(core::mem::offset_of!(IdentifyController, sgls) == 536);
const _: () = assert!(core::mem::offset_of!(IdentifyController, subnqn) == 768);
const _: () = assert!(core::mem::offset_of!(IdentifyController, ioccsz) == 1792);
const _: () = assert!(core::mem::offset_of!(IdentifyController, iorcsz) == 1796);
const _: () = assert!(core::mem::offset_of!(IdentifyController, icdoff) == 1800);
const _: () = assert!(core::mem::offset_of!(IdentifyController, fcatt) == 1802);
const _: () = assert!(core::mem::offset_of!(IdentifyController, msdbd) == 1803);

impl IdentifyController {
    /// All-zero data, to fill in (target model).
    pub fn zeroed() -> Box<IdentifyController> {
        Box::new(IdentifyController::new_zeroed())
    }

    /// Views the first 4096 bytes of `bytes` (a larger buffer is fine).
    pub fn parse(bytes: &[u8]) -> Result<&IdentifyController, WireError> {
        parse_ref("Identify Controller", bytes)
    }

    /// Serial number, trailing spaces removed.
    pub fn sn(&self) -> String {
        ascii_field(&self.sn)
    }

    /// Model number, trailing spaces removed.
    pub fn mn(&self) -> String {
        ascii_field(&self.mn)
    }

    /// Firmware revision, trailing spaces removed.
    pub fn fr(&self) -> String {
        ascii_field(&self.fr)
    }

    /// Sets SN (space padded, truncated to 20 bytes).
    pub fn set_sn(&mut self, s: &str) {
        set_ascii_field(&mut self.sn, s);
    }

    /// Sets MN (space padded, truncated to 40 bytes).
    pub fn set_mn(&mut self, s: &str) {
        set_ascii_field(&mut self.mn, s);
    }

    /// Sets FR (space padded, truncated to 8 bytes).
    pub fn set_fr(&mut self, s: &str) {
        set_ascii_field(&mut self.fr, s);
    }

    /// Subsystem NQN.
    pub fn subnqn(&self) -> String {
        nqn_from_field(&self.subnqn)
    }

    /// Sets the subsystem NQN (at most 223 bytes).
    pub fn set_subnqn(&mut self, nqn: &str) -> Result<(), WireError> {
        self.subnqn = nqn_field(nqn)?;
        Ok(())
    }

    /// MDTS.
    pub fn mdts(&self) -> u8 {
        self.mdts
    }

    /// Controller id.
    pub fn cntlid(&self) -> u16 {
        self.cntlid.get()
    }

    /// Version.
    pub fn ver(&self) -> u32 {
        self.ver.get()
    }

    /// Traffic-based keep-alive supported (CTRATT bit 6).
    pub fn tbkas(&self) -> bool {
        self.ctratt.get() & CTRATT_TBKAS != 0
    }

    /// Keep-alive granularity in milliseconds (KAS × 100).
    pub fn kas_ms(&self) -> u32 {
        u32::from(self.kas.get()) * 100
    }

    /// MAXCMD.
    pub fn maxcmd(&self) -> u16 {
        self.maxcmd.get()
    }

    /// Number of namespaces.
    pub fn nn(&self) -> u32 {
        self.nn.get()
    }

    /// SGLS.
    pub fn sgls(&self) -> u32 {
        self.sgls.get()
    }

    /// True when SGLs are supported (SGLS bits 1:0 non-zero), as FC requires.
    pub fn sgls_supported(&self) -> bool {
        self.sgls.get() & 0x3 != 0
    }

    /// IOCCSZ in 16-byte units.
    pub fn ioccsz(&self) -> u32 {
        self.ioccsz.get()
    }

    /// IORCSZ in 16-byte units.
    pub fn iorcsz(&self) -> u32 {
        self.iorcsz.get()
    }

    /// ICDOFF; FC requires 0.
    pub fn icdoff(&self) -> u16 {
        self.icdoff.get()
    }
}

/// One LBA format descriptor (Identify Namespace byte 128 + 4·i).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Default,
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[repr(C)]
pub struct LbaFormat {
    /// +0: metadata bytes per LBA.
    pub ms: U16<LittleEndian>,
    /// +2: LBA data size, log2 (9 = 512 B).
    pub lbads: u8,
    /// +3: relative performance (bits 1:0).
    pub rp: u8,
}
const _: () = assert!(core::mem::size_of::<LbaFormat>() == 4);

impl LbaFormat {
    /// A format of 2^`lbads` data bytes and `ms` metadata bytes.
    pub fn new(lbads: u8, ms: u16) -> LbaFormat {
        LbaFormat {
            ms: U16::new(ms),
            lbads,
            rp: 0,
        }
    }
}

/// Number of LBA format entries (current headers; older ones had 16).
pub const LBAF_ENTRIES: usize = 64;

/// FLBAS bit 4: metadata transferred at the end of the LBA (extended LBA).
pub const FLBAS_META_EXT: u8 = 0x10;

/// Identify Namespace data (CNS 0x00).
#[derive(Clone, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct IdentifyNamespace {
    /// Byte 0: namespace size in LBAs.
    pub nsze: U64<LittleEndian>,
    /// Byte 8: namespace capacity in LBAs.
    pub ncap: U64<LittleEndian>,
    /// Byte 16: namespace utilisation in LBAs.
    pub nuse: U64<LittleEndian>,
    /// Byte 24: namespace features.
    pub nsfeat: u8,
    /// Byte 25: number of LBA formats, 0's based.
    pub nlbaf: u8,
    /// Byte 26: formatted LBA size: index bits 3:0, bit 4 metadata at end of LBA,
    /// bits 6:5 index high bits when more than 16 formats.
    pub flbas: u8,
    /// Byte 27: metadata capabilities.
    pub mc: u8,
    /// Byte 28: end-to-end data protection capabilities.
    pub dpc: u8,
    /// Byte 29: end-to-end data protection type settings.
    pub dps: u8,
    /// Bytes 30–103.
    pub rsvd30: [u8; 74],
    /// Byte 104: namespace globally unique identifier.
    pub nguid: [u8; 16],
    /// Byte 120: IEEE extended unique identifier.
    pub eui64: [u8; 8],
    /// Byte 128: LBA format table.
    pub lbaf: [LbaFormat; LBAF_ENTRIES],
    /// Bytes 384–4095: reserved / vendor specific.
    pub rsvd384: [u8; 3712],
}
const _: () = assert!(core::mem::size_of::<IdentifyNamespace>() == IDENTIFY_LEN);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespace, nlbaf) == 25);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespace, flbas) == 26);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespace, dps) == 29);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespace, lbaf) == 128);

impl IdentifyNamespace {
    /// All-zero data, to fill in (target model).
    pub fn zeroed() -> Box<IdentifyNamespace> {
        Box::new(IdentifyNamespace::new_zeroed())
    }

    /// Views the first 4096 bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<&IdentifyNamespace, WireError> {
        parse_ref("Identify Namespace", bytes)
    }

    /// Size in LBAs.
    pub fn nsze(&self) -> u64 {
        self.nsze.get()
    }

    /// Capacity in LBAs.
    pub fn ncap(&self) -> u64 {
        self.ncap.get()
    }

    /// Utilisation in LBAs.
    pub fn nuse(&self) -> u64 {
        self.nuse.get()
    }

    /// Index of the LBA format in use: FLBAS bits 3:0, with bits 6:5 as bits 5:4
    /// of the index when the namespace has more than 16 formats (App. A.2).
    pub fn lbaf_index(&self) -> u8 {
        let lo = self.flbas & 0x0F;
        if usize::from(self.nlbaf) + 1 > 16 {
            lo | ((self.flbas & 0x60) >> 1)
        } else {
            lo
        }
    }

    /// The LBA format in use, when its index is within NLBAF and the table.
    pub fn lba_format(&self) -> Option<LbaFormat> {
        let idx = self.lbaf_index();
        if idx > self.nlbaf {
            return None;
        }
        self.lbaf.get(usize::from(idx)).copied()
    }

    /// Logical block size in bytes; `None` when FLBAS points outside the table or
    /// LBADS is outside 9..=31 (512 B to 2 GiB).
    pub fn lba_size(&self) -> Option<u32> {
        let f = self.lba_format()?;
        (9..=31).contains(&f.lbads).then(|| 1u32 << f.lbads)
    }

    /// Metadata bytes per LBA of the format in use.
    pub fn metadata_size(&self) -> Option<u16> {
        self.lba_format().map(|f| f.ms.get())
    }

    /// Sets NLBAF/FLBAS/LBAF for a namespace with a single format of
    /// 2^`lbads` bytes and no metadata.
    pub fn set_single_format(&mut self, lbads: u8) {
        self.nlbaf = 0;
        self.flbas = 0;
        self.lbaf = [LbaFormat::default(); LBAF_ENTRIES];
        self.lbaf[0] = LbaFormat::new(lbads, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn controller_golden_offsets() {
        let mut b = vec![0u8; IDENTIFY_LEN];
        b[4..24].copy_from_slice(b"SN0001              ");
        b[24..28].copy_from_slice(b"ufc ");
        b[28..64].fill(b' ');
        b[64..72].copy_from_slice(b"1.0     ");
        b[77] = 5;
        b[78..80].copy_from_slice(&7u16.to_le_bytes());
        b[80..84].copy_from_slice(&0x0001_0400u32.to_le_bytes());
        b[96..100].copy_from_slice(&CTRATT_TBKAS.to_le_bytes());
        b[320..322].copy_from_slice(&50u16.to_le_bytes());
        b[514..516].copy_from_slice(&128u16.to_le_bytes());
        b[516..520].copy_from_slice(&4u32.to_le_bytes());
        b[536..540].copy_from_slice(&1u32.to_le_bytes());
        b[768..778].copy_from_slice(b"nqn.s.test");
        b[1792..1796].copy_from_slice(&4u32.to_le_bytes());
        b[1796..1800].copy_from_slice(&1u32.to_le_bytes());
        b[1803] = 1;
        let id = IdentifyController::parse(&b).unwrap();
        assert_eq!(
            (id.sn(), id.mn(), id.fr()),
            ("SN0001".into(), "ufc".into(), "1.0".into())
        );
        assert_eq!(
            (id.mdts(), id.cntlid(), id.ver(), id.tbkas(), id.kas_ms()),
            (5, 7, 0x0001_0400, true, 5000)
        );
        assert_eq!(
            (id.maxcmd(), id.nn(), id.sgls_supported(), id.subnqn()),
            (128, 4, true, "nqn.s.test".into())
        );
        assert_eq!(
            (id.ioccsz(), id.iorcsz(), id.icdoff(), id.msdbd),
            (4, 1, 0, 1)
        );

        let mut built = IdentifyController::zeroed();
        built.set_sn("SN0001");
        built.set_mn("ufc");
        built.set_fr("1.0");
        built.mdts = 5;
        built.cntlid.set(7);
        built.ver.set(0x0001_0400);
        built.ctratt.set(CTRATT_TBKAS);
        built.kas.set(50);
        built.maxcmd.set(128);
        built.nn.set(4);
        built.sgls.set(SGLS_SUPPORTED);
        built.set_subnqn("nqn.s.test").unwrap();
        built.ioccsz.set(4);
        built.iorcsz.set(1);
        built.msdbd = 1;
        assert_eq!(built.as_bytes(), &b[..]);
        assert!(IdentifyController::parse(&b[..4095]).is_err());
    }

    #[test]
    fn namespace_lba_size() {
        let mut ns = IdentifyNamespace::zeroed();
        ns.nsze.set(1 << 21);
        ns.set_single_format(12);
        assert_eq!(ns.lba_size(), Some(4096));
        let mut b = ns.as_bytes().to_vec();
        assert_eq!(&b[0..8], &(1u64 << 21).to_le_bytes());
        assert_eq!(b[128 + 2], 12);
        // Two formats, FLBAS selects #1 (512 B + 8 B metadata).
        b[25] = 1;
        b[26] = 1;
        b[132..134].copy_from_slice(&8u16.to_le_bytes());
        b[134] = 9;
        let ns = IdentifyNamespace::parse(&b).unwrap();
        assert_eq!((ns.lba_size(), ns.metadata_size()), (Some(512), Some(8)));
        // Index beyond NLBAF.
        b[26] = 2;
        assert_eq!(IdentifyNamespace::parse(&b).unwrap().lba_size(), None);
        // High bits: 20 formats (NLBAF 19), FLBAS = 0b010_0011 -> index 0x13.
        b[25] = 19;
        b[26] = 0x23;
        b[128 + 4 * 0x13 + 2] = 13;
        let ns = IdentifyNamespace::parse(&b).unwrap();
        assert_eq!((ns.lbaf_index(), ns.lba_size()), (0x13, Some(8192)));
        // High bits ignored with 16 formats or fewer.
        b[25] = 15;
        assert_eq!(IdentifyNamespace::parse(&b).unwrap().lbaf_index(), 3);
    }

    proptest! {
        #[test]
        fn arbitrary_identify_never_panics(b in proptest::collection::vec(any::<u8>(), 0..4200)) {
            if let Ok(id) = IdentifyController::parse(&b) {
                let _ = (id.sn(), id.mn(), id.fr(), id.subnqn(), id.kas_ms(), id.tbkas());
            }
            if let Ok(ns) = IdentifyNamespace::parse(&b) {
                if let Some(sz) = ns.lba_size() {
                    prop_assert!(sz.is_power_of_two() && sz >= 512);
                }
            }
        }

        #[test]
        fn namespace_round_trip(nsze: u64, lbads in 9u8..=31) {
            let mut ns = IdentifyNamespace::zeroed();
            ns.nsze.set(nsze);
            ns.set_single_format(lbads);
            let back = IdentifyNamespace::parse(ns.as_bytes()).unwrap();
            prop_assert_eq!((back.nsze(), back.lba_size()), (nsze, Some(1u32 << lbads)));
        }
    }
}
