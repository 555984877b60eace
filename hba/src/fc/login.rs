//! FLOGI / PLOGI / FDISC payloads and their LS_ACC: the service parameters
//! (FC-LS-3 §6.6; sli4.md §6.3; LPFC `struct serv_parm`, OCS `fc_plogi_payload_t`).
//!
//! The 116-byte payload is the command word plus the 112-byte [`ServiceParams`];
//! READ_SPARM64, REG_VFI and REG_RPI (sli4.md §3.4) carry the 112 bytes alone.
//! Parsers accept longer buffers (the trailing bytes are ignored) and check
//! only the length and the command byte: values are the peer's business.

use ufc_transport::wwn::Wwn;
use zerocopy::byteorder::{BigEndian, U16, U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::els::els_cmd;
use super::error::{prefix, FcError};

/// Length of the service parameters without the command word.
pub const SERVICE_PARAMS_LEN: usize = 112;
/// Length of a FLOGI/PLOGI/FDISC payload or its ACC.
pub const LOGIN_PAYLOAD_LEN: usize = 116;

/// FC-PH version that every current port advertises (FC-PH-3 / FC-FS, 0x20).
pub const FC_PH_VERSION: u8 = 0x20;
/// Default receive data field size (bytes).
pub const DEFAULT_RX_DATA_FIELD_SIZE: u16 = 2048;
/// Default E_D_TOV in milliseconds.
pub const DEFAULT_E_D_TOV_MS: u32 = 2_000;
/// Default R_A_TOV in milliseconds.
pub const DEFAULT_R_A_TOV_MS: u32 = 10_000;

/// Common service parameter word-1 flags (CSP bytes 4-5 = payload bytes 8-9;
/// bit n here is bit n+16 of word 1). Names give the N_Port-request meaning
/// first; some bits change meaning in a FLOGI ACC (sli4.md §6.3).
pub mod csp_flags {
    /// Bit 31: continuously increasing relative offset; in FLOGI: multiple
    /// N_Port id support (request) / clean address (ACC).
    pub const CONT_INCR_OFFSET: u16 = 1 << 15;
    /// Bit 30: random relative offset; in FLOGI: virtual fabrics.
    pub const RANDOM_OFFSET: u16 = 1 << 14;
    /// Bit 29: valid vendor version level; in a FLOGI ACC: multiple N_Port id
    /// assignment.
    pub const VENDOR_VERSION_VALID: u16 = 1 << 13;
    /// Bit 28: 1 = the sender is an F_Port (FLOGI ACC from a fabric), 0 = N_Port.
    pub const F_PORT: u16 = 1 << 12;
    /// Bit 27: alternate BB credit management.
    pub const ALT_BB_CREDIT: u16 = 1 << 11;
    /// Bit 26: E_D_TOV resolution: 1 = nanoseconds, 0 = milliseconds.
    pub const E_D_TOV_NS: u16 = 1 << 10;
    /// Bit 25: multicast supported.
    pub const MULTICAST: u16 = 1 << 9;
    /// Bit 24: application header supported.
    pub const APP_HEADER: u16 = 1 << 8;
    /// Bit 23: priority tagging (OCS sets it in FLOGI).
    pub const PRIORITY_TAGGING: u16 = 1 << 7;
    /// Bit 22: simplex.
    pub const SIMPLEX: u16 = 1 << 6;
    /// Bit 21: FC-SP (authentication).
    pub const FC_SP: u16 = 1 << 5;
    /// Bit 18: dynamic half duplex.
    pub const DHD: u16 = 1 << 2;
    /// Bit 17: SEQ_CNT (continuously increasing).
    pub const SEQ_CNT: u16 = 1 << 1;
    /// Bit 16: payload length (256-byte login payload).
    pub const PAYLOAD_LEN: u16 = 1 << 0;
}

/// Class service option bits (class parameter bytes 0-1).
pub mod class_options {
    /// Class valid.
    pub const VALID: u16 = 1 << 15;
    /// Sequential delivery requested.
    pub const SEQUENTIAL_DELIVERY: u16 = 1 << 11;
}

/// Common service parameters (payload bytes 4-19).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct CommonServiceParams {
    /// Payload byte 4: highest FC-PH version supported.
    pub fc_ph_high: u8,
    /// Payload byte 5: lowest FC-PH version supported.
    pub fc_ph_low: u8,
    /// Payload bytes 6-7: buffer-to-buffer credit.
    pub bb_credit: U16<BigEndian>,
    /// Payload bytes 8-9: word 1 bits 31-16 ([`csp_flags`]).
    pub flags: U16<BigEndian>,
    /// Payload bytes 10-11: BB_SC_N 15-12, receive data field size 11-0.
    pub bb_sc_rx_size: U16<BigEndian>,
    /// Payload bytes 12-15: word 2. N_Port: total concurrent sequences (byte
    /// 13), relative offset by category (14-15). FLOGI ACC: R_A_TOV in ms.
    pub word2: U32<BigEndian>,
    /// Payload bytes 16-19: E_D_TOV (ms, or ns with [`csp_flags::E_D_TOV_NS`]).
    pub e_d_tov: U32<BigEndian>,
}
const _: () = assert!(core::mem::size_of::<CommonServiceParams>() == 16);

/// Class 1-4 service parameters, 16 bytes each (payload bytes 36/52/68/84).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct ClassParams {
    /// Bytes 0-1: service options ([`class_options`]).
    pub service_options: U16<BigEndian>,
    /// Bytes 2-3: initiator control.
    pub initiator_ctl: U16<BigEndian>,
    /// Bytes 4-5: recipient control.
    pub recipient_ctl: U16<BigEndian>,
    /// Bytes 6-7: receive data field size.
    pub rx_data_field_size: U16<BigEndian>,
    /// Bytes 8-9: concurrent sequences.
    pub concurrent_seq: U16<BigEndian>,
    /// Bytes 10-11: end-to-end credit (reserved for class 3).
    pub ee_credit: U16<BigEndian>,
    /// Bytes 12-13: open sequences per exchange.
    pub open_seq_per_exchange: U16<BigEndian>,
    /// Bytes 14-15: reserved.
    pub rsvd14: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<ClassParams>() == 16);

impl ClassParams {
    /// True when the class valid bit is set.
    pub fn is_valid(&self) -> bool {
        self.service_options.get() & class_options::VALID != 0
    }
}

/// The 112-byte service parameters (payload bytes 4-115; READ_SPARM64 buffer).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct ServiceParams {
    /// Payload bytes 4-19: common service parameters.
    pub csp: CommonServiceParams,
    /// Payload bytes 20-27: port name (WWPN); READ_SPARM64 byte 16.
    pub wwpn: U64<BigEndian>,
    /// Payload bytes 28-35: node name (WWNN) or fabric name; READ_SPARM64 byte 24.
    pub wwnn: U64<BigEndian>,
    /// Payload bytes 36-51: class 1 parameters.
    pub class1: ClassParams,
    /// Payload bytes 52-67: class 2 parameters.
    pub class2: ClassParams,
    /// Payload bytes 68-83: class 3 parameters.
    pub class3: ClassParams,
    /// Payload bytes 84-99: class 4 parameters.
    pub class4: ClassParams,
    /// Payload bytes 100-115: vendor version level (valid with
    /// [`csp_flags::VENDOR_VERSION_VALID`]).
    pub vendor_version: [u8; 16],
}
const _: () = assert!(core::mem::size_of::<ServiceParams>() == SERVICE_PARAMS_LEN);
const _: () = assert!(core::mem::offset_of!(ServiceParams, wwpn) == 16);
const _: () = assert!(core::mem::offset_of!(ServiceParams, class3) == 64);

impl ServiceParams {
    /// N_Port service parameters: FC-PH 0x20/0x20, continuously increasing
    /// offset, receive size 2048, E_D_TOV 2000 ms, 255 concurrent sequences,
    /// class 3 valid with sequential delivery, one open sequence per exchange.
    pub fn n_port(wwpn: Wwn, wwnn: Wwn) -> ServiceParams {
        let mut sp = ServiceParams::new_zeroed();
        sp.csp.fc_ph_high = FC_PH_VERSION;
        sp.csp.fc_ph_low = FC_PH_VERSION;
        sp.csp.flags.set(csp_flags::CONT_INCR_OFFSET);
        sp.set_rx_data_field_size(DEFAULT_RX_DATA_FIELD_SIZE);
        // Byte 13 of the payload: total concurrent sequences.
        sp.csp.word2.set(0x00FF_0000);
        sp.csp.e_d_tov.set(DEFAULT_E_D_TOV_MS);
        sp.wwpn.set(wwpn.0);
        sp.wwnn.set(wwnn.0);
        sp.class3
            .service_options
            .set(class_options::VALID | class_options::SEQUENTIAL_DELIVERY);
        sp.class3.rx_data_field_size.set(DEFAULT_RX_DATA_FIELD_SIZE);
        sp.class3.concurrent_seq.set(0xFF);
        sp.class3.open_seq_per_exchange.set(1);
        sp
    }

    /// F_Port service parameters as a fabric returns them in a FLOGI ACC: F_Port
    /// bit, R_A_TOV in word 2, E_D_TOV in ms, class 3 valid.
    pub fn f_port(
        fabric_wwpn: Wwn,
        fabric_wwnn: Wwn,
        r_a_tov_ms: u32,
        e_d_tov_ms: u32,
    ) -> ServiceParams {
        let mut sp = ServiceParams::n_port(fabric_wwpn, fabric_wwnn);
        sp.csp.flags.set(csp_flags::F_PORT);
        sp.csp.word2.set(r_a_tov_ms);
        sp.csp.e_d_tov.set(e_d_tov_ms);
        sp
    }

    /// Decodes the first 112 bytes (READ_SPARM64 buffer); longer is accepted.
    pub fn parse(bytes: &[u8]) -> Result<ServiceParams, FcError> {
        const WHAT: &str = "service parameters";
        ServiceParams::read_from_bytes(prefix(WHAT, bytes, SERVICE_PARAMS_LEN)?).map_err(|_| {
            FcError::Truncated {
                what: WHAT,
                len: bytes.len(),
                need: SERVICE_PARAMS_LEN,
            }
        })
    }

    /// The 112 bytes.
    pub fn as_bytes(&self) -> &[u8; SERVICE_PARAMS_LEN] {
        zerocopy::transmute_ref!(self)
    }

    /// Applies the FLOGI adjustments of OCS `ocs_send_flogi` (sli4.md §8
    /// recommends following OCS): class 2 parameters and BB_SC_N cleared,
    /// priority tagging set.
    pub fn prepare_flogi(&mut self) {
        self.class2 = ClassParams::new_zeroed();
        let v = self.csp.bb_sc_rx_size.get();
        self.csp.bb_sc_rx_size.set(v & 0x0FFF);
        let f = self.csp.flags.get();
        self.csp.flags.set(f | csp_flags::PRIORITY_TAGGING);
    }

    /// Port name.
    pub fn wwpn(&self) -> Wwn {
        Wwn(self.wwpn.get())
    }

    /// Node (or fabric) name.
    pub fn wwnn(&self) -> Wwn {
        Wwn(self.wwnn.get())
    }

    /// True when the sender is an F_Port (CSP word 1 bit 28): in a FLOGI ACC,
    /// 1 means a switched fabric, 0 a point-to-point N_Port peer.
    pub fn is_f_port(&self) -> bool {
        self.csp.flags.get() & csp_flags::F_PORT != 0
    }

    /// Buffer-to-buffer credit.
    pub fn bb_credit(&self) -> u16 {
        self.csp.bb_credit.get()
    }

    /// Receive data field size (CSP word 1 bits 11-0).
    pub fn rx_data_field_size(&self) -> u16 {
        self.csp.bb_sc_rx_size.get() & 0x0FFF
    }

    /// Sets the receive data field size (CSP word 1 bits 11-0, values above
    /// 4095 are masked).
    pub fn set_rx_data_field_size(&mut self, size: u16) {
        let v = self.csp.bb_sc_rx_size.get() & 0xF000;
        self.csp.bb_sc_rx_size.set(v | (size & 0x0FFF));
    }

    /// BB_SC_N (CSP word 1 bits 15-12).
    pub fn bb_sc_n(&self) -> u8 {
        (self.csp.bb_sc_rx_size.get() >> 12) as u8
    }

    /// R_A_TOV in milliseconds as a fabric reports it in the FLOGI ACC (CSP
    /// word 2). Meaningless in an N_Port's PLOGI.
    pub fn r_a_tov_ms(&self) -> u32 {
        self.csp.word2.get()
    }

    /// E_D_TOV in milliseconds, converted (rounding up) when the resolution bit
    /// says nanoseconds.
    pub fn e_d_tov_ms(&self) -> u32 {
        let v = self.csp.e_d_tov.get();
        if self.csp.flags.get() & csp_flags::E_D_TOV_NS != 0 {
            v.div_ceil(1_000_000)
        } else {
            v
        }
    }
}

/// A FLOGI/PLOGI/FDISC payload or its LS_ACC (116 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct LoginPayload {
    /// Byte 0: [`els_cmd::FLOGI`], [`els_cmd::PLOGI`], [`els_cmd::FDISC`] or
    /// [`els_cmd::LS_ACC`].
    pub cmd: u8,
    /// Bytes 1-3: zero.
    pub rsvd1: [u8; 3],
    /// Bytes 4-115: service parameters.
    pub sp: ServiceParams,
}
const _: () = assert!(core::mem::size_of::<LoginPayload>() == LOGIN_PAYLOAD_LEN);

impl LoginPayload {
    /// A payload with command `cmd` and parameters `sp`.
    pub fn new(cmd: u8, sp: ServiceParams) -> LoginPayload {
        LoginPayload {
            cmd,
            rsvd1: [0; 3],
            sp,
        }
    }

    /// Decodes the first 116 bytes; the command byte must be FLOGI, PLOGI,
    /// FDISC or LS_ACC. Longer buffers are accepted.
    pub fn parse(bytes: &[u8]) -> Result<LoginPayload, FcError> {
        const WHAT: &str = "login payload";
        let p = LoginPayload::read_from_bytes(prefix(WHAT, bytes, LOGIN_PAYLOAD_LEN)?).map_err(
            |_| FcError::Truncated {
                what: WHAT,
                len: bytes.len(),
                need: LOGIN_PAYLOAD_LEN,
            },
        )?;
        match p.cmd {
            els_cmd::FLOGI | els_cmd::PLOGI | els_cmd::FDISC | els_cmd::LS_ACC => Ok(p),
            other => Err(FcError::BadField {
                what: WHAT,
                field: "command",
                value: other.into(),
                expected: els_cmd::PLOGI.into(),
            }),
        }
    }

    /// The 116 bytes.
    pub fn as_bytes(&self) -> &[u8; LOGIN_PAYLOAD_LEN] {
        zerocopy::transmute_ref!(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WWPN: Wwn = Wwn(0x1000_0090_FA94_2779);
    const WWNN: Wwn = Wwn(0x2000_0090_FA94_2779);

    #[test]
    fn plogi_golden() {
        let p = LoginPayload::new(els_cmd::PLOGI, ServiceParams::n_port(WWPN, WWNN));
        let b = p.as_bytes();
        assert_eq!(&b[0..4], &[0x03, 0, 0, 0]);
        assert_eq!(&b[4..6], &[0x20, 0x20]);
        assert_eq!(&b[6..8], &[0, 0]);
        assert_eq!(&b[8..10], &[0x80, 0x00]);
        assert_eq!(&b[10..12], &[0x08, 0x00]);
        assert_eq!(b[13], 0xFF);
        assert_eq!(&b[16..20], &2000u32.to_be_bytes());
        assert_eq!(&b[20..28], &WWPN.0.to_be_bytes());
        assert_eq!(&b[28..36], &WWNN.0.to_be_bytes());
        assert_eq!(&b[36..68], &[0; 32]);
        assert_eq!(b[68], 0x88);
        assert_eq!(&b[74..76], &2048u16.to_be_bytes());
        assert_eq!(&b[76..78], &255u16.to_be_bytes());
        assert_eq!(&b[80..82], &1u16.to_be_bytes());
        assert_eq!(&b[84..116], &[0; 32]);
        let back = LoginPayload::parse(b).unwrap();
        assert_eq!(back, p);
        assert_eq!((back.sp.wwpn(), back.sp.wwnn()), (WWPN, WWNN));
        assert!(!back.sp.is_f_port());
        assert!(back.sp.class3.is_valid());
        assert_eq!(back.sp.rx_data_field_size(), 2048);
        // READ_SPARM64 carries bytes 4.. : WWPN at 16, WWNN at 24.
        let sp = ServiceParams::parse(&b[4..]).unwrap();
        assert_eq!(&sp.as_bytes()[16..24], &WWPN.0.to_be_bytes());
        assert_eq!(&sp.as_bytes()[24..32], &WWNN.0.to_be_bytes());
    }

    #[test]
    fn flogi_acc_from_fabric() {
        let acc = LoginPayload::new(
            els_cmd::LS_ACC,
            ServiceParams::f_port(WWPN, WWNN, 10_000, 2_000),
        );
        let b = acc.as_bytes();
        assert_eq!(b[0], 0x02);
        assert_eq!(b[8] & 0x10, 0x10);
        assert_eq!(&b[12..16], &10_000u32.to_be_bytes());
        let back = LoginPayload::parse(b).unwrap();
        assert!(back.sp.is_f_port());
        assert_eq!(
            (back.sp.r_a_tov_ms(), back.sp.e_d_tov_ms()),
            (10_000, 2_000)
        );
        let mut ns = back;
        ns.sp
            .csp
            .flags
            .set(csp_flags::F_PORT | csp_flags::E_D_TOV_NS);
        ns.sp.csp.e_d_tov.set(1_500_001);
        assert_eq!(ns.sp.e_d_tov_ms(), 2);
    }

    #[test]
    fn flogi_preparation_follows_ocs() {
        let mut sp = ServiceParams::n_port(WWPN, WWNN);
        sp.class2.service_options.set(class_options::VALID);
        sp.csp.bb_sc_rx_size.set(0x3800);
        sp.prepare_flogi();
        assert!(!sp.class2.is_valid());
        assert_eq!(sp.bb_sc_n(), 0);
        assert_eq!(sp.rx_data_field_size(), 0x800);
        assert_ne!(sp.csp.flags.get() & csp_flags::PRIORITY_TAGGING, 0);
    }

    #[test]
    fn login_rejects() {
        let p = LoginPayload::new(els_cmd::FLOGI, ServiceParams::n_port(WWPN, WWNN));
        assert!(matches!(
            LoginPayload::parse(&p.as_bytes()[..115]),
            Err(FcError::Truncated { need: 116, .. })
        ));
        let mut b = *p.as_bytes();
        b[0] = 0x20;
        assert!(matches!(
            LoginPayload::parse(&b),
            Err(FcError::BadField { .. })
        ));
        let mut long = p.as_bytes().to_vec();
        long.extend_from_slice(&[0xEE; 16]);
        assert_eq!(LoginPayload::parse(&long).unwrap(), p);
    }

    proptest! {
        #[test]
        fn round_trip(pn: u64, nn: u64, rx in 0u16..4096, bb: u16, fabric: bool) {
            let mut sp = if fabric {
                ServiceParams::f_port(Wwn(pn), Wwn(nn), 10_000, 2_000)
            } else {
                ServiceParams::n_port(Wwn(pn), Wwn(nn))
            };
            sp.set_rx_data_field_size(rx);
            sp.csp.bb_credit.set(bb);
            let p = LoginPayload::new(els_cmd::PLOGI, sp);
            let back = LoginPayload::parse(p.as_bytes()).unwrap();
            prop_assert_eq!(back, p);
            prop_assert_eq!(back.sp.rx_data_field_size(), rx);
            prop_assert_eq!(back.sp.is_f_port(), fabric);
            prop_assert_eq!(back.sp.bb_credit(), bb);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..140)) {
            if let Ok(p) = LoginPayload::parse(&b) {
                let _ = (p.sp.e_d_tov_ms(), p.sp.r_a_tov_ms(), p.sp.bb_sc_n());
            }
            let _ = ServiceParams::parse(&b);
        }
    }
}
