//! SLI_CONFIG (mailbox command 0x9B) framing and the request/response headers
//! of its sub-commands (sli4.md §3.2, §3.3).
//!
//! Embedded: MQE bytes 24-255 hold the 16-byte request header and the
//! sub-command payload (so payload dword n is MQE byte 40 + 4n); the port writes
//! the response header and payload over them. Non-embedded: MQE bytes 24.. hold
//! up to 19 twelve-byte descriptors of host buffers whose first 16 bytes are the
//! request header.

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use super::bits::{bitfields, le32, Le32};
use super::mbox::{mbx_cmd, Mqe};

/// Byte offset of the embedded payload (request header) in the MQE.
pub const EMBEDDED_OFFSET: usize = 24;
/// Embedded capacity: request header + sub-command payload (58 dwords).
pub const EMBEDDED_MAX: usize = 232;
/// Size of the request and response headers.
pub const CFG_HEADER_LEN: usize = 16;
/// Largest sub-command payload that fits embedded (after the header).
pub const EMBEDDED_PAYLOAD_MAX: usize = EMBEDDED_MAX - CFG_HEADER_LEN;
/// Most non-embedded buffer descriptors (`LPFC_SLI4_MBX_SGE_MAX_PAGES`).
pub const MAX_PMDS: usize = 19;

/// SLI_CONFIG subsystems.
pub mod subsystem {
    /// COMMON.
    pub const COMMON: u8 = 0x01;
    /// LOWLEVEL.
    pub const LOWLEVEL: u8 = 0x0B;
    /// FCoE / FC.
    pub const FC: u8 = 0x0C;
    /// DMTF.
    pub const DMTF: u8 = 0x11;
}

/// COMMON subsystem opcodes.
pub mod common_op {
    /// CREATE_CQ.
    pub const CREATE_CQ: u8 = 0x0C;
    /// CREATE_EQ.
    pub const CREATE_EQ: u8 = 0x0D;
    /// GET_CNTL_ATTRIBUTES (non-embedded).
    pub const GET_CNTL_ATTRIBUTES: u8 = 0x20;
    /// NOP.
    pub const NOP: u8 = 0x21;
    /// MODIFY_EQ_DELAY.
    pub const MODIFY_EQ_DELAY: u8 = 0x29;
    /// DESTROY_MQ.
    pub const DESTROY_MQ: u8 = 0x35;
    /// DESTROY_CQ.
    pub const DESTROY_CQ: u8 = 0x36;
    /// DESTROY_EQ.
    pub const DESTROY_EQ: u8 = 0x37;
    /// QUERY_FW_CONFIG.
    pub const QUERY_FW_CONFIG: u8 = 0x3A;
    /// FUNCTION_RESET (if_type 0 only).
    pub const FUNCTION_RESET: u8 = 0x3D;
    /// GET_PORT_NAME.
    pub const GET_PORT_NAME: u8 = 0x4D;
    /// CREATE_MQ_EXT.
    pub const CREATE_MQ_EXT: u8 = 0x5A;
    /// GET_SLI4_PARAMETERS.
    pub const GET_SLI4_PARAMETERS: u8 = 0xB5;
    /// SET_FEATURES.
    pub const SET_FEATURES: u8 = 0xBF;
}

/// FC (FCoE) subsystem opcodes.
pub mod fc_op {
    /// WQ_CREATE.
    pub const WQ_CREATE: u8 = 0x01;
    /// WQ_DESTROY.
    pub const WQ_DESTROY: u8 = 0x02;
    /// POST_SGL_PAGES.
    pub const POST_SGL_PAGES: u8 = 0x03;
    /// REMOVE_SGL_PAGES.
    pub const REMOVE_SGL_PAGES: u8 = 0x04;
    /// RQ_CREATE.
    pub const RQ_CREATE: u8 = 0x05;
    /// RQ_DESTROY.
    pub const RQ_DESTROY: u8 = 0x06;
    /// READ_FCF_TABLE.
    pub const READ_FCF_TABLE: u8 = 0x08;
    /// POST_HDR_TEMPLATES.
    pub const POST_HDR_TEMPLATES: u8 = 0x0B;
    /// CQ_CREATE_SET.
    pub const CQ_CREATE_SET: u8 = 0x1D;
}

/// Response header status values.
pub mod cfg_status {
    /// Success.
    pub const SUCCESS: u8 = 0;
    /// Failed.
    pub const FAILED: u8 = 1;
    /// Illegal request.
    pub const ILLEGAL_REQUEST: u8 = 2;
    /// Illegal field.
    pub const ILLEGAL_FIELD: u8 = 3;
    /// Insufficient buffer.
    pub const INSUFFICIENT_BUFFER: u8 = 4;
}

/// Response header additional status values.
pub mod cfg_additional_status {
    /// Invalid opcode.
    pub const INVALID_OPCODE: u8 = 0x1E;
    /// Command not supported.
    pub const CMD_NOT_SUPPORTED: u8 = 0x42;
    /// Feature not supported.
    pub const FEATURE_NOT_SUPPORTED: u8 = 0x44;
}

/// The sub-command request header.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct CfgRequestHeader {
    /// Dword 0: opcode 7-0, subsystem 15-8, port number 23-16, domain 31-24.
    pub dw0: Le32,
    /// Dword 1: timeout in seconds (0 = default).
    pub timeout: Le32,
    /// Dword 2: request length, excluding this header.
    pub request_length: Le32,
    /// Dword 3: version 7-0; (LPFC) PF number 23-16, VH number 31-24.
    pub dw3: Le32,
}
const _: () = assert!(core::mem::size_of::<CfgRequestHeader>() == CFG_HEADER_LEN);

impl CfgRequestHeader {
    bitfields! {
        /// Dword 0 bits 7-0: opcode.
        opcode / set_opcode: dw0[0; 8];
        /// Dword 0 bits 15-8: subsystem ([`subsystem`]).
        subsystem / set_subsystem: dw0[8; 8];
        /// Dword 0 bits 23-16: port number (LPFC).
        port_number / set_port_number: dw0[16; 8];
        /// Dword 3 bits 7-0: command version.
        version / set_version: dw3[0; 8];
    }

    /// A header for `subsystem`/`opcode` version `version` with a
    /// `request_length`-byte payload.
    pub fn new(subsystem: u8, opcode: u8, version: u8, request_length: u32) -> CfgRequestHeader {
        CfgRequestHeader {
            dw0: le32(u32::from(subsystem) << 8 | u32::from(opcode)),
            timeout: le32(0),
            request_length: le32(request_length),
            dw3: le32(version.into()),
        }
    }
}

/// The sub-command response header (written over the request header).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct CfgResponseHeader {
    /// Dword 0: opcode 7-0, subsystem 15-8.
    pub dw0: Le32,
    /// Dword 1: status 7-0, additional status 15-8, additional status 2 23-16.
    pub dw1: Le32,
    /// Dword 2: response length.
    pub response_length: Le32,
    /// Dword 3: actual response length.
    pub actual_response_length: Le32,
}
const _: () = assert!(core::mem::size_of::<CfgResponseHeader>() == CFG_HEADER_LEN);

impl CfgResponseHeader {
    bitfields! {
        /// Dword 0 bits 7-0: opcode.
        opcode / set_opcode: dw0[0; 8];
        /// Dword 0 bits 15-8: subsystem.
        subsystem / set_subsystem: dw0[8; 8];
        /// Dword 1 bits 7-0: status ([`cfg_status`]).
        status / set_status: dw1[0; 8];
        /// Dword 1 bits 15-8: additional status ([`cfg_additional_status`]).
        additional_status / set_additional_status: dw1[8; 8];
        /// Dword 1 bits 23-16: additional status 2.
        additional_status2 / set_additional_status2: dw1[16; 8];
    }
}

/// A non-embedded payload descriptor (12 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Pmd {
    /// Address low 32 bits.
    pub addr_lo: Le32,
    /// Address high 32 bits.
    pub addr_hi: Le32,
    /// Bits 23-0: length in bytes.
    pub length: Le32,
}
const _: () = assert!(core::mem::size_of::<Pmd>() == 12);

impl Pmd {
    /// A descriptor of `len` bytes at `addr`.
    pub fn new(addr: u64, len: u32) -> Pmd {
        Pmd {
            addr_lo: le32(addr as u32),
            addr_hi: le32((addr >> 32) as u32),
            length: le32(len & 0x00FF_FFFF),
        }
    }

    /// The buffer address.
    pub fn addr(&self) -> u64 {
        u64::from(self.addr_hi.get()) << 32 | u64::from(self.addr_lo.get())
    }

    /// The buffer length (bits 23-0).
    pub fn len(&self) -> u32 {
        self.length.get() & 0x00FF_FFFF
    }

    /// True for a zero-length descriptor.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The SLI_CONFIG MQE viewed with its framing (256 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct SliConfig {
    /// MQE dword 0: command 0x9B, status.
    pub header: Le32,
    /// MQE dword 1 (byte 4): EMB bit 0, PMD count bits 7-3.
    pub dw1: Le32,
    /// MQE dword 2: payload length (embedded: max(request, response) including
    /// the 16-byte header; non-embedded: total of the external buffers).
    pub payload_length: Le32,
    /// MQE dword 3: tag low (LPFC), reserved (OCS).
    pub tag_lo: Le32,
    /// MQE dword 4: tag high.
    pub tag_hi: Le32,
    /// MQE dword 5: reserved.
    pub rsvd5: Le32,
    /// MQE bytes 24-255: embedded header + payload, or PMDs.
    pub payload: [u8; EMBEDDED_MAX],
}
const _: () = assert!(core::mem::size_of::<SliConfig>() == super::mbox::MQE_LEN);
const _: () = assert!(core::mem::offset_of!(SliConfig, payload) == EMBEDDED_OFFSET);

impl SliConfig {
    bitfields! {
        /// MQE byte 4 bit 0: embedded payload.
        is_embedded / set_embedded: dw1[0];
        /// MQE byte 4 bits 7-3: number of PMDs (non-embedded).
        pmd_count / set_pmd_count: dw1[3; 5];
    }

    /// The framing of `mqe` (any MQE can be viewed; check the command first).
    pub fn from_mqe(mqe: &Mqe) -> SliConfig {
        zerocopy::transmute!(*mqe)
    }

    /// Back to a plain MQE.
    pub fn to_mqe(&self) -> Mqe {
        zerocopy::transmute!(*self)
    }

    /// An embedded SLI_CONFIG for `subsystem`/`opcode`/`version` with request
    /// payload `req` and room for a `rsp_len`-byte response payload. `None`
    /// when either does not fit the 216 embedded bytes.
    pub fn embedded(
        subsystem: u8,
        opcode: u8,
        version: u8,
        req: &[u8],
        rsp_len: usize,
    ) -> Option<Mqe> {
        if req.len() > EMBEDDED_PAYLOAD_MAX || rsp_len > EMBEDDED_PAYLOAD_MAX {
            return None;
        }
        let mut c = SliConfig::new_zeroed();
        c.header = le32(u32::from(mbx_cmd::SLI_CONFIG) << 8);
        c.set_embedded(true);
        c.payload_length = le32((CFG_HEADER_LEN + req.len().max(rsp_len)) as u32);
        let h = CfgRequestHeader::new(subsystem, opcode, version, req.len() as u32);
        c.payload[..CFG_HEADER_LEN].copy_from_slice(h.as_bytes());
        c.payload[CFG_HEADER_LEN..CFG_HEADER_LEN + req.len()].copy_from_slice(req);
        Some(c.to_mqe())
    }

    /// A non-embedded SLI_CONFIG naming `pmds` (the first buffer starts with a
    /// [`CfgRequestHeader`] the caller wrote); `None` for 0 or more than 19.
    pub fn external(pmds: &[Pmd]) -> Option<Mqe> {
        if pmds.is_empty() || pmds.len() > MAX_PMDS {
            return None;
        }
        let mut c = SliConfig::new_zeroed();
        c.header = le32(u32::from(mbx_cmd::SLI_CONFIG) << 8);
        c.set_pmd_count(pmds.len() as u32);
        c.payload_length = le32(pmds.iter().map(|p| p.len()).sum());
        for (i, p) in pmds.iter().enumerate() {
            c.payload[i * 12..i * 12 + 12].copy_from_slice(p.as_bytes());
        }
        Some(c.to_mqe())
    }

    /// The embedded request header and payload bytes (216) as the device model
    /// reads them.
    pub fn request(&self) -> (CfgRequestHeader, &[u8]) {
        let (h, rest) = self.payload.split_at(CFG_HEADER_LEN);
        (
            CfgRequestHeader::read_from_bytes(h).unwrap_or_default(),
            rest,
        )
    }

    /// The embedded response header and payload bytes (216) as the port wrote
    /// them. The caller checks the header's status and lengths.
    pub fn response(&self) -> (CfgResponseHeader, &[u8]) {
        let (h, rest) = self.payload.split_at(CFG_HEADER_LEN);
        (
            CfgResponseHeader::read_from_bytes(h).unwrap_or_default(),
            rest,
        )
    }

    /// Mutable embedded payload after the header, for the device model's
    /// response.
    pub fn payload_after_header_mut(&mut self) -> &mut [u8] {
        &mut self.payload[CFG_HEADER_LEN..]
    }

    /// Writes the response header over the request header (device model).
    pub fn set_response_header(&mut self, h: &CfgResponseHeader) {
        self.payload[..CFG_HEADER_LEN].copy_from_slice(h.as_bytes());
    }

    /// The PMDs of a non-embedded command, at most 19 whatever the count says.
    pub fn pmds(&self) -> impl Iterator<Item = Pmd> + '_ {
        let n = (self.pmd_count() as usize).min(MAX_PMDS);
        self.payload
            .chunks_exact(12)
            .take(n)
            .map(|c| Pmd::read_from_bytes(c).unwrap_or_default())
    }
}

/// Builds the embedded MQE for a typed request payload `T`.
pub fn embed<T: IntoBytes + Immutable>(
    subsystem: u8,
    opcode: u8,
    version: u8,
    req: &T,
    rsp_len: usize,
) -> Option<Mqe> {
    SliConfig::embedded(subsystem, opcode, version, req.as_bytes(), rsp_len)
}

/// Reads a typed response payload `T` from an embedded SLI_CONFIG response;
/// `None` if `T` is larger than the embedded area (a programming error caught
/// by tests, never a device fault).
pub fn embedded_response<T: FromBytes>(mqe: &Mqe) -> (CfgResponseHeader, Option<T>) {
    let c = SliConfig::from_mqe(mqe);
    let (h, p) = c.response();
    (h, T::read_from_prefix(p).ok().map(|(t, _)| t))
}

/// Reads a typed request payload `T` from an embedded SLI_CONFIG (device model).
pub fn embedded_request<T: FromBytes>(mqe: &Mqe) -> (CfgRequestHeader, Option<T>) {
    let c = SliConfig::from_mqe(mqe);
    let (h, p) = c.request();
    (h, T::read_from_prefix(p).ok().map(|(t, _)| t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn embedded_golden() {
        let mqe = SliConfig::embedded(subsystem::COMMON, common_op::CREATE_EQ, 2, &[0xAA; 84], 4)
            .unwrap();
        let b = mqe.as_bytes();
        assert_eq!(&b[0..4], &[0, 0x9B, 0, 0]);
        assert_eq!(b[4], 0x01);
        assert_eq!(&b[8..12], &100u32.to_le_bytes());
        // Request header at 24: opcode, subsystem; length at 32; version at 36.
        assert_eq!(&b[24..28], &[0x0D, 0x01, 0, 0]);
        assert_eq!(&b[32..36], &84u32.to_le_bytes());
        assert_eq!(b[36], 2);
        assert_eq!(&b[40..124], &[0xAA; 84]);
        assert_eq!(b[124], 0);
        let c = SliConfig::from_mqe(&mqe);
        let (h, p) = c.request();
        assert_eq!((h.opcode(), h.subsystem(), h.version()), (0x0D, 0x01, 2));
        assert_eq!(h.request_length.get(), 84);
        assert_eq!(p.len(), 216);
        assert!(SliConfig::embedded(1, 1, 0, &[0; 217], 0).is_none());
        assert!(SliConfig::embedded(1, 1, 0, &[], 217).is_none());
    }

    #[test]
    fn response_golden() {
        let mqe = SliConfig::embedded(subsystem::FC, fc_op::WQ_CREATE, 1, &[0; 16], 8).unwrap();
        let mut c = SliConfig::from_mqe(&mqe);
        let mut rh = CfgResponseHeader::default();
        rh.set_opcode(fc_op::WQ_CREATE.into());
        rh.set_subsystem(subsystem::FC.into());
        rh.set_status(cfg_status::ILLEGAL_FIELD.into());
        rh.set_additional_status(cfg_additional_status::FEATURE_NOT_SUPPORTED.into());
        rh.response_length.set(8);
        c.set_response_header(&rh);
        c.payload_after_header_mut()[0..2].copy_from_slice(&7u16.to_le_bytes());
        let out = c.to_mqe();
        assert_eq!(&out.as_bytes()[24..32], &[0x01, 0x0C, 0, 0, 3, 0x44, 0, 0]);
        let (h, v) = embedded_response::<[u8; 4]>(&out);
        assert_eq!(h.status(), 3);
        assert_eq!(v, Some([7, 0, 0, 0]));
        assert_eq!(embedded_response::<[u8; 217]>(&out).1, None);
    }

    #[test]
    fn external_golden() {
        let pmds = [Pmd::new(0x1_2345_6780, 4096), Pmd::new(0x2000, 100)];
        let mqe = SliConfig::external(&pmds).unwrap();
        let b = mqe.as_bytes();
        assert_eq!(b[4], 2 << 3);
        assert_eq!(&b[8..12], &4196u32.to_le_bytes());
        assert_eq!(
            &b[24..36],
            &[0x80, 0x67, 0x45, 0x23, 1, 0, 0, 0, 0, 0x10, 0, 0]
        );
        let c = SliConfig::from_mqe(&mqe);
        assert!(!c.is_embedded());
        let back: Vec<_> = c.pmds().collect();
        assert_eq!(back, pmds);
        assert_eq!(back[0].addr(), 0x1_2345_6780);
        assert!(SliConfig::external(&[]).is_none());
        assert!(SliConfig::external(&[Pmd::default(); 20]).is_none());
    }

    proptest! {
        #[test]
        fn embedded_round_trip(sub: u8, op: u8, ver: u8, req in proptest::collection::vec(any::<u8>(), 0..=216)) {
            let mqe = SliConfig::embedded(sub, op, ver, &req, 0).unwrap();
            let c = SliConfig::from_mqe(&mqe);
            let (h, p) = c.request();
            prop_assert_eq!((h.subsystem(), h.opcode(), h.version()), (sub.into(), op.into(), ver.into()));
            prop_assert_eq!(&p[..req.len()], &req[..]);
        }

        #[test]
        fn arbitrary_mqe_never_panics(b in proptest::collection::vec(any::<u8>(), 256)) {
            let mqe = Mqe::from_prefix(&b).unwrap();
            let c = SliConfig::from_mqe(&mqe);
            prop_assert!(c.pmds().count() <= MAX_PMDS);
            let _ = c.response();
            let _ = embedded_response::<[u8; 216]>(&mqe);
        }
    }
}
