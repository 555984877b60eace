//! The 256-byte mailbox queue entry (MQE), its completion (MCQE) and the
//! bootstrap mailbox region (sli4.md §2.6, §3.1, §3.3).
//!
//! Command payloads live in [`super::cmds`]; SLI_CONFIG framing in
//! [`super::sli_config`]. The port writes responses over the MQE in place, so
//! the same type serves request and response; a response is untrusted device
//! output and is read through accessors that cannot fail or panic.

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use super::bits::{bitfields, le32, Le32};

/// Size of an MQE.
pub const MQE_LEN: usize = 256;
/// Size of an MCQE.
pub const MCQE_LEN: usize = 16;
/// Size of the bootstrap mailbox region (MQE + MCQE).
pub const BMBX_REGION_LEN: usize = MQE_LEN + MCQE_LEN;

/// Native mailbox command codes (MQE byte 1, §3.3).
pub mod mbx_cmd {
    /// READ_NVPARMS.
    pub const READ_NVPARMS: u8 = 0x02;
    /// WRITE_NVPARMS.
    pub const WRITE_NVPARMS: u8 = 0x03;
    /// INIT_LINK.
    pub const INIT_LINK: u8 = 0x05;
    /// DOWN_LINK.
    pub const DOWN_LINK: u8 = 0x06;
    /// CONFIG_LINK.
    pub const CONFIG_LINK: u8 = 0x07;
    /// READ_CONFIG.
    pub const READ_CONFIG: u8 = 0x0B;
    /// READ_REV.
    pub const READ_REV: u8 = 0x11;
    /// UNREG_RPI (UNREG_LOGIN).
    pub const UNREG_RPI: u8 = 0x14;
    /// READ_SPARM64.
    pub const READ_SPARM64: u8 = 0x8D;
    /// REG_RPI (REG_LOGIN64).
    pub const REG_RPI: u8 = 0x93;
    /// READ_TOPOLOGY.
    pub const READ_TOPOLOGY: u8 = 0x95;
    /// REG_VPI.
    pub const REG_VPI: u8 = 0x96;
    /// UNREG_VPI.
    pub const UNREG_VPI: u8 = 0x97;
    /// SLI_CONFIG.
    pub const SLI_CONFIG: u8 = 0x9B;
    /// REQUEST_FEATURES.
    pub const REQUEST_FEATURES: u8 = 0x9D;
    /// REG_VFI.
    pub const REG_VFI: u8 = 0x9F;
    /// REG_FCFI.
    pub const REG_FCFI: u8 = 0xA0;
    /// UNREG_VFI.
    pub const UNREG_VFI: u8 = 0xA1;
    /// UNREG_FCFI.
    pub const UNREG_FCFI: u8 = 0xA2;
    /// INIT_VFI.
    pub const INIT_VFI: u8 = 0xA3;
    /// INIT_VPI.
    pub const INIT_VPI: u8 = 0xA4;
    /// REG_FCFI_MRQ (target multi-RQ; unused).
    pub const REG_FCFI_MRQ: u8 = 0xAF;
}

/// MQE status values written by the port (§3.1).
pub mod mbx_status {
    /// Success.
    pub const SUCCESS: u16 = 0x0000;
    /// Failure.
    pub const FAILURE: u16 = 0x0001;
    /// RPI already registered.
    pub const RPI_REGISTERED: u16 = 0x000B;
    /// Unsupported feature.
    pub const UNSUPPORTED_FEATURE: u16 = 0x0011;
    /// Invalid RPI.
    pub const INVALID_RPI: u16 = 0x0021;
    /// Invalid VPI.
    pub const INVALID_VPI: u16 = 0x0030;
    /// RPI conflict.
    pub const RPI_CONFLICT: u16 = 0x00AE;
    /// RPI not registered.
    pub const RPI_NOT_REGISTERED: u16 = 0x1400;
    /// VFI in use (REG_VFI).
    pub const VFI_IN_USE: u16 = 0x9F02;
    /// Illegal size.
    pub const ILLEGAL_SIZE: u16 = 0x9F04;
    /// No data in region.
    pub const NO_DATA_IN_REGION: u16 = 0xFFF7;
}

/// A mailbox queue entry: dword 0 is the header (command byte 1, status bytes
/// 2-3), dwords 1-63 the command-specific part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct Mqe {
    /// Dword 0: byte 0 reserved (SLI-3 owner, 0), byte 1 command, bytes 2-3 status.
    pub header: Le32,
    /// Dwords 1-63, command specific.
    pub dw: [Le32; 63],
}
const _: () = assert!(core::mem::size_of::<Mqe>() == MQE_LEN);

impl Default for Mqe {
    fn default() -> Mqe {
        Mqe::new_zeroed()
    }
}

impl Mqe {
    bitfields! {
        /// Byte 1: command code ([`mbx_cmd`]).
        command / set_command: header[8; 8];
        /// Bytes 2-3: status written by the port ([`mbx_status`]).
        status / set_status: header[16; 16];
    }

    /// A zeroed MQE carrying `command`.
    pub fn new(command: u8) -> Mqe {
        let mut m = Mqe::new_zeroed();
        m.header = le32(u32::from(command) << 8);
        m
    }

    /// Reads an MQE from the first 256 bytes of `bytes`; `None` if shorter.
    pub fn from_prefix(bytes: &[u8]) -> Option<Mqe> {
        Mqe::read_from_prefix(bytes).ok().map(|(m, _)| m)
    }

    /// Dword `n` (0 = header); 0 for `n` ≥ 64.
    pub fn dword(&self, n: usize) -> u32 {
        match n {
            0 => self.header.get(),
            _ => self.dw.get(n - 1).map_or(0, |d| d.get()),
        }
    }

    /// Sets dword `n` (1..=63); out-of-range indices are ignored.
    pub fn set_dword(&mut self, n: usize, v: u32) {
        if n == 0 {
            self.header.set(v);
        } else if let Some(d) = self.dw.get_mut(n - 1) {
            d.set(v);
        }
    }
}

/// The mailbox completion queue entry (bytes 256-271 of the BMBX region, or an
/// entry on the MQ's CQ with AE=0).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Mcqe {
    /// Dword 0: completion status 15-0, extended status 31-16.
    pub dw0: Le32,
    /// Dword 1: MQE tag low.
    pub tag_lo: Le32,
    /// Dword 2: MQE tag high.
    pub tag_hi: Le32,
    /// Dword 3: consumed 27, completed 28, hpi 29, AE 30, valid 31.
    pub dw3: Le32,
}
const _: () = assert!(core::mem::size_of::<Mcqe>() == MCQE_LEN);

impl Mcqe {
    bitfields! {
        /// Dword 0 bits 15-0: completion status (the MQE status).
        completion_status / set_completion_status: dw0[0; 16];
        /// Dword 0 bits 31-16: extended status.
        extended_status / set_extended_status: dw0[16; 16];
        /// Dword 3 bit 27: the port consumed the MQE.
        consumed / set_consumed: dw3[27];
        /// Dword 3 bit 28: the command completed (OCS ignores MCQEs without it).
        completed / set_completed: dw3[28];
        /// Dword 3 bit 29: hpi (LPFC).
        hpi / set_hpi: dw3[29];
        /// Dword 3 bit 30: asynchronous event (this is an ACQE, not an MCQE).
        ae / set_ae: dw3[30];
        /// Dword 3 bit 31: valid.
        valid / set_valid: dw3[31];
    }

    /// An MCQE as the port writes it for a finished command: valid, completed,
    /// consumed, AE=0.
    pub fn completion(status: u16, extended: u16) -> Mcqe {
        let mut m = Mcqe::default();
        m.set_completion_status(status.into());
        m.set_extended_status(extended.into());
        m.set_consumed(true);
        m.set_completed(true);
        m.set_valid(true);
        m
    }

    /// Reads the 16 bytes; `None` if shorter.
    pub fn from_prefix(bytes: &[u8]) -> Option<Mcqe> {
        Mcqe::read_from_prefix(bytes).ok().map(|(m, _)| m)
    }
}

/// The bootstrap mailbox region, 16-byte aligned in DMA memory (§2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct BmbxRegion {
    /// Bytes 0-255: the MQE (command in, response out).
    pub mqe: Mqe,
    /// Bytes 256-271: the MCQE.
    pub mcqe: Mcqe,
}
const _: () = assert!(core::mem::size_of::<BmbxRegion>() == BMBX_REGION_LEN);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mqe_header_golden() {
        let mut m = Mqe::new(mbx_cmd::READ_CONFIG);
        assert_eq!(&m.as_bytes()[..4], &[0, 0x0B, 0, 0]);
        m.set_status(mbx_status::VFI_IN_USE.into());
        assert_eq!(&m.as_bytes()[..4], &[0, 0x0B, 0x02, 0x9F]);
        m.set_dword(63, 0xAABB_CCDD);
        assert_eq!(&m.as_bytes()[252..], &[0xDD, 0xCC, 0xBB, 0xAA]);
        assert_eq!(m.dword(63), 0xAABB_CCDD);
        assert_eq!(m.dword(64), 0);
        m.set_dword(64, 1);
        assert!(Mqe::from_prefix(&[0; 255]).is_none());
    }

    #[test]
    fn mcqe_golden() {
        let c = Mcqe::completion(0x0001, 0x0042);
        assert_eq!(
            c.as_bytes(),
            &[1, 0, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x98]
        );
        let back = Mcqe::from_prefix(c.as_bytes()).unwrap();
        assert!(back.valid() && back.completed() && back.consumed() && !back.ae());
        let mut region = BmbxRegion::new_zeroed();
        region.mcqe = c;
        assert_eq!(&region.as_bytes()[256..272], c.as_bytes());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Some(m) = Mqe::from_prefix(&b) {
                let _ = (m.command(), m.status(), m.dword(1000));
            }
            if let Some(c) = Mcqe::from_prefix(&b) {
                let _ = (c.valid(), c.completion_status());
            }
        }
    }
}
