//! NVMe over Fabrics commands the FC transport uses: Connect with its 1024-byte
//! data, Property Get / Set (nvme-fc.md §5.1, §5.2). The SQE overlays live on
//! [`Sqe`] as builders and accessors; the fabrics command type sits in SQE byte 4.

use zerocopy::byteorder::{LittleEndian, U16};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::error::WireError;
use super::ls::{nqn_field, nqn_from_field};
use super::opcode::admin;
use super::sqe::Sqe;

/// Fabrics command types (SQE byte 4, §5.1).
pub mod fctype {
    /// Property Set.
    pub const PROPERTY_SET: u8 = 0x00;
    /// Connect.
    pub const CONNECT: u8 = 0x01;
    /// Property Get.
    pub const PROPERTY_GET: u8 = 0x04;
    /// Authentication Send.
    pub const AUTH_SEND: u8 = 0x05;
    /// Authentication Receive.
    pub const AUTH_RECEIVE: u8 = 0x06;
    /// Disconnect (NVMe spec; Linux defines none and FC tears down by LS, App. A.2).
    pub const DISCONNECT: u8 = 0x08;
}

/// Length of the Connect data (§5.1).
pub const CONNECT_DATA_LEN: usize = 1024;
/// Connect data `cntlid` of an admin Connect: dynamic controller.
pub const CONNECT_CNTLID_DYNAMIC: u16 = 0xFFFF;
/// Connect SQE `cattr` bit 2: disable SQ flow control.
pub const CONNECT_CATTR_DISABLE_SQFLOW: u8 = 0x04;
/// Connect completion dword 0 bit 17: authentication required (`ATR`).
pub const CONNECT_AUTHREQ_ATR: u32 = 1 << 17;
/// Connect completion dword 0 bit 18: secure concatenation required (`ASCR`).
pub const CONNECT_AUTHREQ_ASCR: u32 = 1 << 18;
/// CONNECT_INVALID_PARAM dword 0 bit 16: the offending byte is in the data.
pub const CONNECT_INVALID_PARAM_IN_DATA: u32 = 1 << 16;

/// Property size attribute (SQE byte 40): 4 bytes.
pub const PROP_ATTRIB_4: u8 = 0;
/// Property size attribute (SQE byte 40): 8 bytes.
pub const PROP_ATTRIB_8: u8 = 1;

/// The controller id a successful admin Connect returns (dword 0 bits 15:0).
pub const fn connect_result_cntlid(dw0: u32) -> u16 {
    dw0 as u16
}

/// The Connect command's data (§5.1, little-endian, 1024 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct ConnectData {
    /// Byte 0: host id (UUID).
    pub hostid: [u8; 16],
    /// Byte 16: controller id; 0xFFFF on the admin queue, else the admin Connect's.
    pub cntlid: U16<LittleEndian>,
    /// Bytes 18–255: reserved.
    pub rsvd18: [u8; 238],
    /// Byte 256: subsystem NQN, NUL padded.
    pub subsysnqn: [u8; 256],
    /// Byte 512: host NQN, NUL padded.
    pub hostnqn: [u8; 256],
    /// Bytes 768–1023: reserved.
    pub rsvd768: [u8; 256],
}
const _: () = assert!(core::mem::size_of::<ConnectData>() == CONNECT_DATA_LEN);
const _: () = assert!(core::mem::offset_of!(ConnectData, subsysnqn) == 256);
const _: () = assert!(core::mem::offset_of!(ConnectData, hostnqn) == 512);

impl ConnectData {
    /// Connect data; NQNs longer than 223 bytes are refused.
    pub fn new(
        hostid: [u8; 16],
        cntlid: u16,
        subsysnqn: &str,
        hostnqn: &str,
    ) -> Result<ConnectData, WireError> {
        let mut d = ConnectData::new_zeroed();
        d.hostid = hostid;
        d.cntlid = U16::new(cntlid);
        d.subsysnqn = nqn_field(subsysnqn)?;
        d.hostnqn = nqn_field(hostnqn)?;
        Ok(d)
    }

    /// Decodes exactly 1024 bytes.
    pub fn parse(bytes: &[u8]) -> Result<ConnectData, WireError> {
        ConnectData::read_from_bytes(bytes).map_err(|_| WireError::BadLength {
            what: "Connect data",
            len: bytes.len(),
            expected: CONNECT_DATA_LEN,
        })
    }

    /// The controller id.
    pub fn cntlid(&self) -> u16 {
        self.cntlid.get()
    }

    /// The subsystem NQN (up to the first NUL; invalid UTF-8 replaced).
    pub fn subsysnqn(&self) -> String {
        nqn_from_field(&self.subsysnqn)
    }

    /// The host NQN (up to the first NUL; invalid UTF-8 replaced).
    pub fn hostnqn(&self) -> String {
        nqn_from_field(&self.hostnqn)
    }
}

impl Sqe {
    fn fabrics(fctype: u8, data_len: u32) -> Sqe {
        let mut sqe = Sqe::with_opcode(admin::FABRICS, data_len);
        sqe.nsid.set(u32::from(fctype));
        sqe
    }

    /// Fabrics Connect for queue `qid` with `sqsize` (0's based), `kato_ms` (admin
    /// queue only; 0 for none) and `cattr`; carries 1024 bytes of [`ConnectData`].
    /// recfmt is 0.
    pub fn connect(qid: u16, sqsize: u16, kato_ms: u32, cattr: u8) -> Sqe {
        let mut sqe = Sqe::fabrics(fctype::CONNECT, CONNECT_DATA_LEN as u32);
        sqe.cdw10.set(u32::from(qid) << 16);
        sqe.cdw11.set(u32::from(sqsize) | (u32::from(cattr) << 16));
        sqe.cdw12.set(kato_ms);
        sqe
    }

    /// Connect `recfmt` (SQE byte 40).
    pub fn connect_recfmt(&self) -> u16 {
        self.cdw10.get() as u16
    }

    /// Connect `qid` (SQE byte 42).
    pub fn connect_qid(&self) -> u16 {
        (self.cdw10.get() >> 16) as u16
    }

    /// Connect `sqsize`, 0's based (SQE byte 44).
    pub fn connect_sqsize(&self) -> u16 {
        self.cdw11.get() as u16
    }

    /// Connect `cattr` (SQE byte 46).
    pub fn connect_cattr(&self) -> u8 {
        (self.cdw11.get() >> 16) as u8
    }

    /// Connect `kato` in milliseconds (SQE byte 48).
    pub fn connect_kato_ms(&self) -> u32 {
        self.cdw12.get()
    }

    /// Property Get of the register at `offset`, 8 bytes wide if `wide` (CAP)
    /// else 4; the value comes back in CQE dwords 0–1 (§5.2).
    pub fn property_get(offset: u32, wide: bool) -> Sqe {
        let mut sqe = Sqe::fabrics(fctype::PROPERTY_GET, 0);
        sqe.cdw10
            .set(u32::from(if wide { PROP_ATTRIB_8 } else { PROP_ATTRIB_4 }));
        sqe.cdw11.set(offset);
        sqe
    }

    /// Property Set of the register at `offset` to `value`, 8 bytes wide if
    /// `wide` else 4 (§5.2).
    pub fn property_set(offset: u32, value: u64, wide: bool) -> Sqe {
        let mut sqe = Sqe::fabrics(fctype::PROPERTY_SET, 0);
        sqe.cdw10
            .set(u32::from(if wide { PROP_ATTRIB_8 } else { PROP_ATTRIB_4 }));
        sqe.cdw11.set(offset);
        sqe.cdw12.set(value as u32);
        sqe.cdw13.set((value >> 32) as u32);
        sqe
    }

    /// Property `attrib` size field (SQE byte 40, bits 2:0): 0 = 4 bytes, 1 = 8.
    pub fn property_attrib(&self) -> u8 {
        (self.cdw10.get() & 0x7) as u8
    }

    /// True when the property access is 8 bytes wide.
    pub fn property_is_wide(&self) -> bool {
        self.property_attrib() == PROP_ATTRIB_8
    }

    /// Property offset (SQE byte 44).
    pub fn property_offset(&self) -> u32 {
        self.cdw11.get()
    }

    /// Property Set value (SQE byte 48).
    pub fn property_value(&self) -> u64 {
        u64::from(self.cdw12.get()) | (u64::from(self.cdw13.get()) << 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lldd::IoDir;
    use proptest::prelude::*;

    #[test]
    fn connect_sqe_golden() {
        let mut sqe = Sqe::connect(0, 31, 5000, 0);
        sqe.set_cid(0x1F);
        let mut want = [0u8; 64];
        want[0] = 0x7F;
        want[1] = 0x40;
        want[2] = 0x1F;
        want[4] = 0x01;
        want[32..36].copy_from_slice(&1024u32.to_le_bytes());
        want[39] = 0x5A;
        want[42..44].copy_from_slice(&0u16.to_le_bytes());
        want[44..46].copy_from_slice(&31u16.to_le_bytes());
        want[48..52].copy_from_slice(&5000u32.to_le_bytes());
        assert_eq!(sqe.as_bytes(), &want[..]);
        let io = Sqe::connect(3, 127, 0, CONNECT_CATTR_DISABLE_SQFLOW);
        let b = io.as_bytes();
        assert_eq!((b[42], b[44], b[46]), (3, 127, 4));
        assert_eq!(
            (
                io.connect_qid(),
                io.connect_sqsize(),
                io.connect_cattr(),
                io.connect_recfmt()
            ),
            (3, 127, 4, 0)
        );
        assert_eq!(
            (io.fctype(), io.is_write(), io.io_dir(1024)),
            (1, true, IoDir::Write)
        );
    }

    #[test]
    fn property_sqe_golden() {
        let get = Sqe::property_get(0x0, true);
        let b = get.as_bytes();
        assert_eq!((b[0], b[4], b[40], b[44]), (0x7F, 0x04, 1, 0));
        assert!(!get.is_write());
        let set = Sqe::property_set(0x14, 0x0046_0001, false);
        let mut want = [0u8; 64];
        want[0] = 0x7F;
        want[1] = 0x40;
        want[39] = 0x5A;
        want[44..48].copy_from_slice(&0x14u32.to_le_bytes());
        want[48..56].copy_from_slice(&0x0046_0001u64.to_le_bytes());
        assert_eq!(set.as_bytes(), &want[..]);
        assert_eq!(
            (
                set.property_offset(),
                set.property_value(),
                set.property_is_wide()
            ),
            (0x14, 0x0046_0001, false)
        );
    }

    #[test]
    fn connect_data_golden() {
        let d = ConnectData::new([7; 16], 0xFFFF, "nqn.s", "nqn.h").unwrap();
        let mut want = [0u8; 1024];
        want[..16].fill(7);
        want[16..18].copy_from_slice(&0xFFFFu16.to_le_bytes());
        want[256..261].copy_from_slice(b"nqn.s");
        want[512..517].copy_from_slice(b"nqn.h");
        assert_eq!(d.as_bytes(), &want[..]);
        let back = ConnectData::parse(&want).unwrap();
        assert_eq!(
            (back.cntlid(), back.subsysnqn(), back.hostnqn()),
            (0xFFFF, "nqn.s".into(), "nqn.h".into())
        );
        assert!(ConnectData::parse(&want[..1023]).is_err());
        assert!(ConnectData::new([0; 16], 1, &"x".repeat(224), "h").is_err());
    }

    proptest! {
        #[test]
        fn connect_round_trip(qid: u16, sqsize: u16, kato: u32, cattr: u8) {
            let sqe = Sqe::read_from_bytes(Sqe::connect(qid, sqsize, kato, cattr).as_bytes()).unwrap();
            prop_assert_eq!((sqe.connect_qid(), sqsize, sqe.connect_kato_ms(), sqe.connect_cattr()), (qid, sqe.connect_sqsize(), kato, cattr));
            prop_assert_eq!(sqe.transport_sgl_len(), Some(1024));
        }

        #[test]
        fn property_round_trip(off: u32, val: u64, wide: bool) {
            let sqe = Sqe::property_set(off, val, wide);
            prop_assert_eq!((sqe.fctype(), sqe.property_offset(), sqe.property_value(), sqe.property_is_wide()), (0, off, val, wide));
        }

        #[test]
        fn connect_data_round_trip(hostid: [u8; 16], cntlid: u16, s in "[a-z0-9.:-]{0,223}", h in "[a-z0-9.:-]{0,223}") {
            let d = ConnectData::new(hostid, cntlid, &s, &h).unwrap();
            let back = ConnectData::parse(d.as_bytes()).unwrap();
            prop_assert_eq!((back.hostid, back.cntlid(), back.subsysnqn(), back.hostnqn()), (hostid, cntlid, s, h));
        }

        #[test]
        fn connect_data_arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..1100)) {
            if let Ok(d) = ConnectData::parse(&b) {
                let _ = (d.subsysnqn(), d.hostnqn());
            }
        }
    }
}
