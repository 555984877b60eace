//! The 24-byte FC frame header (FC-FS-2; sli4.md §6.2) and the values of its
//! routing fields that the SLI-4 initiator and the emulated fabric use.
//!
//! Big-endian on the wire. 24-bit fields (D_ID, S_ID, F_CTL) are stored as three
//! bytes and read/written through accessors that take and return `u32` with the
//! top byte zero.

use zerocopy::byteorder::{BigEndian, U16, U32};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::error::FcError;

/// Size of the frame header in bytes.
pub const FC_HEADER_LEN: usize = 24;

/// Largest FC-2 frame payload (data field) in bytes, FC-FS-2: 2112.
pub const FC_MAX_PAYLOAD: usize = 2112;

/// Mask of a 24-bit N_Port ID / F_CTL value.
pub const U24_MASK: u32 = 0x00FF_FFFF;

/// Well-known addresses (sli4.md §6.1; LPFC `lpfc_hw.h`).
pub mod well_known {
    /// F_Port / fabric login server: FLOGI and FDISC go here.
    pub const F_PORT: u32 = 0xFF_FFFE;
    /// Fabric controller: SCR goes here, RSCN comes from here.
    pub const FABRIC_CONTROLLER: u32 = 0xFF_FFFD;
    /// Directory service / name server (CT GS type 0xFC).
    pub const NAME_SERVER: u32 = 0xFF_FFFC;
    /// Management server (FDMI).
    pub const MANAGEMENT_SERVER: u32 = 0xFF_FFFA;
    /// True for the fabric's well-known address range 0xFFFFF0..=0xFFFFFF.
    pub const fn is_well_known(id: u32) -> bool {
        id & super::U24_MASK >= 0xFF_FFF0
    }
}

/// R_CTL values (FC-FS-2; sli4.md §6.2). The FC-NVMe values are those of
/// [`ufc_transport::wire::fc::r_ctl`], re-exported here so one constant exists.
pub mod r_ctl {
    pub use ufc_transport::wire::fc::r_ctl::{
        CMND as FCP_CMND, CONF as FCP_CONF, DATA as FCP_DATA, ERSP as NVME_ERSP,
        LS_REP as FC4_LS_REP, LS_REQ as FC4_LS_REQ, RSP as FCP_RSP, XFER_RDY as FCP_XFER_RDY,
    };
    /// FC-4 device data, unsolicited control: a CT request (GS to the name server).
    pub const UNSOL_CTL: u8 = 0x02;
    /// FC-4 device data, solicited control: a CT response.
    pub const SOL_CTL: u8 = 0x03;
    /// Extended link service request (ELS: FLOGI, PLOGI, PRLI, LOGO, SCR, RSCN).
    pub const ELS_REQ: u8 = 0x22;
    /// Extended link service reply (LS_ACC, LS_RJT).
    pub const ELS_REP: u8 = 0x23;
    /// Basic link service: NOP.
    pub const BLS_NOP: u8 = 0x80;
    /// Basic link service: ABTS (abort sequence).
    pub const BLS_ABTS: u8 = ufc_transport::wire::fc::r_ctl::ABTS;
    /// Basic link service: BA_ACC.
    pub const BLS_BA_ACC: u8 = 0x84;
    /// Basic link service: BA_RJT.
    pub const BLS_BA_RJT: u8 = 0x85;
}

/// TYPE values (FC-FS-2; sli4.md §6.2).
pub mod fc_type {
    pub use ufc_transport::wire::fc::{FC_TYPE_BLS as BLS, FC_TYPE_NVME as NVME};
    /// Extended link services.
    pub const ELS: u8 = 0x01;
    /// SCSI-FCP.
    pub const FCP: u8 = 0x08;
    /// Fibre Channel services (FC-GS / CT).
    pub const CT: u8 = 0x20;
}

/// F_CTL bits (FC-FS-2 table "F_CTL"), as positions in the 24-bit field.
pub mod f_ctl {
    /// Exchange context: 1 = the sender is the exchange responder.
    pub const EXCH_RESPONDER: u32 = 1 << 23;
    /// Sequence context: 1 = the sender is the sequence recipient.
    pub const SEQ_RECIPIENT: u32 = 1 << 22;
    /// First sequence of the exchange.
    pub const FIRST_SEQ: u32 = 1 << 21;
    /// Last sequence of the exchange.
    pub const LAST_SEQ: u32 = 1 << 20;
    /// Last frame of the sequence.
    pub const END_SEQ: u32 = 1 << 19;
    /// End connection (class 1).
    pub const END_CONN: u32 = 1 << 18;
    /// CS_CTL field carries a priority.
    pub const PRIORITY: u32 = 1 << 17;
    /// Sequence initiative is transferred to the recipient.
    pub const SEQ_INITIATIVE: u32 = 1 << 16;
    /// Relative offset present in the parameter field.
    pub const REL_OFF: u32 = 1 << 3;
    /// Fill bytes (bits 1-0): number of pad bytes at the end of the payload.
    pub const FILL_MASK: u32 = 0x3;

    /// F_CTL of a single-frame request that opens an exchange and hands the
    /// initiative to the responder (ELS/CT/LS request): first, end, SI.
    /// Its top byte equals [`ufc_transport::wire::fc::F_CTL_LS_REQ`].
    pub const SINGLE_FRAME_REQ: u32 = FIRST_SEQ | END_SEQ | SEQ_INITIATIVE;
    /// F_CTL of a single-frame reply that closes the exchange (ACC/RJT/CT
    /// response): responder, last, end, SI. Its top byte equals
    /// [`ufc_transport::wire::fc::F_CTL_LS_RSP`].
    pub const SINGLE_FRAME_RSP: u32 = EXCH_RESPONDER | LAST_SEQ | END_SEQ | SEQ_INITIATIVE;
}

/// OX_ID/RX_ID value meaning "not assigned" (FC-FS-2).
pub const XID_UNASSIGNED: u16 = 0xFFFF;

/// The FC frame header (sli4.md §6.2).
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
pub struct FcHeader {
    /// Byte 0: R_CTL, routing and information category ([`r_ctl`]).
    pub r_ctl: u8,
    /// Bytes 1-3: D_ID, destination N_Port ID; use [`FcHeader::d_id`].
    pub d_id: [u8; 3],
    /// Byte 4: CS_CTL / priority.
    pub cs_ctl: u8,
    /// Bytes 5-7: S_ID, source N_Port ID; use [`FcHeader::s_id`].
    pub s_id: [u8; 3],
    /// Byte 8: TYPE ([`fc_type`]).
    pub fc_type: u8,
    /// Bytes 9-11: F_CTL ([`f_ctl`]); use [`FcHeader::f_ctl`].
    pub f_ctl: [u8; 3],
    /// Byte 12: SEQ_ID.
    pub seq_id: u8,
    /// Byte 13: DF_CTL (optional headers present).
    pub df_ctl: u8,
    /// Bytes 14-15: SEQ_CNT.
    pub seq_cnt: U16<BigEndian>,
    /// Bytes 16-17: OX_ID, originator exchange id.
    pub ox_id: U16<BigEndian>,
    /// Bytes 18-19: RX_ID, responder exchange id.
    pub rx_id: U16<BigEndian>,
    /// Bytes 20-23: parameter (relative offset, or ABTS "abort sequence" flag).
    pub parameter: U32<BigEndian>,
}
const _: () = assert!(core::mem::size_of::<FcHeader>() == FC_HEADER_LEN);

/// Three big-endian bytes from the low 24 bits of `v`.
pub(crate) const fn u24_to_be(v: u32) -> [u8; 3] {
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// A `u32` from three big-endian bytes.
pub(crate) const fn u24_from_be(b: [u8; 3]) -> u32 {
    (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32
}

impl FcHeader {
    /// A header with the routing fields set; SEQ_ID, DF_CTL, SEQ_CNT, CS_CTL
    /// and the parameter are zero, RX_ID is [`XID_UNASSIGNED`].
    pub fn new(r_ctl: u8, fc_type: u8, d_id: u32, s_id: u32, f_ctl: u32, ox_id: u16) -> FcHeader {
        let mut h = FcHeader::new_zeroed();
        h.r_ctl = r_ctl;
        h.fc_type = fc_type;
        h.set_d_id(d_id);
        h.set_s_id(s_id);
        h.set_f_ctl(f_ctl);
        h.ox_id.set(ox_id);
        h.rx_id.set(XID_UNASSIGNED);
        h
    }

    /// The header of a single-frame request opening exchange `ox_id`
    /// (F_CTL [`f_ctl::SINGLE_FRAME_REQ`]).
    pub fn request(r_ctl: u8, fc_type: u8, d_id: u32, s_id: u32, ox_id: u16) -> FcHeader {
        FcHeader::new(r_ctl, fc_type, d_id, s_id, f_ctl::SINGLE_FRAME_REQ, ox_id)
    }

    /// The header of the single-frame reply to `req`: addresses swapped, same
    /// OX_ID, our `rx_id`, F_CTL [`f_ctl::SINGLE_FRAME_RSP`].
    pub fn reply_to(req: &FcHeader, r_ctl: u8, rx_id: u16) -> FcHeader {
        let mut h = FcHeader::new(
            r_ctl,
            req.fc_type,
            req.s_id(),
            req.d_id(),
            f_ctl::SINGLE_FRAME_RSP,
            req.ox_id.get(),
        );
        h.rx_id.set(rx_id);
        h
    }

    /// Decodes the first 24 bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<FcHeader, FcError> {
        FcHeader::read_from_prefix(bytes)
            .map(|(h, _)| h)
            .map_err(|_| FcError::Truncated {
                what: "FC frame header",
                len: bytes.len(),
                need: FC_HEADER_LEN,
            })
    }

    /// The header's bytes.
    pub fn as_bytes(&self) -> &[u8; FC_HEADER_LEN] {
        zerocopy::transmute_ref!(self)
    }

    /// Destination N_Port ID.
    pub fn d_id(&self) -> u32 {
        u24_from_be(self.d_id)
    }

    /// Sets the destination N_Port ID (low 24 bits of `id`).
    pub fn set_d_id(&mut self, id: u32) {
        self.d_id = u24_to_be(id);
    }

    /// Source N_Port ID.
    pub fn s_id(&self) -> u32 {
        u24_from_be(self.s_id)
    }

    /// Sets the source N_Port ID (low 24 bits of `id`).
    pub fn set_s_id(&mut self, id: u32) {
        self.s_id = u24_to_be(id);
    }

    /// The 24-bit F_CTL.
    pub fn f_ctl(&self) -> u32 {
        u24_from_be(self.f_ctl)
    }

    /// Sets F_CTL (low 24 bits of `v`).
    pub fn set_f_ctl(&mut self, v: u32) {
        self.f_ctl = u24_to_be(v);
    }

    /// True when the sender is the exchange responder (F_CTL bit 23).
    pub fn is_from_responder(&self) -> bool {
        self.f_ctl() & f_ctl::EXCH_RESPONDER != 0
    }

    /// True when this frame ends its sequence (F_CTL bit 19).
    pub fn is_end_of_sequence(&self) -> bool {
        self.f_ctl() & f_ctl::END_SEQ != 0
    }

    /// True when this frame's sequence is the last of the exchange (bit 20).
    pub fn is_last_sequence(&self) -> bool {
        self.f_ctl() & f_ctl::LAST_SEQ != 0
    }

    /// Number of fill bytes at the end of the payload (F_CTL bits 1-0).
    pub fn fill_bytes(&self) -> usize {
        (self.f_ctl() & f_ctl::FILL_MASK) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_golden() {
        let mut h = FcHeader::request(r_ctl::ELS_REQ, fc_type::ELS, well_known::F_PORT, 0, 0x1234);
        h.seq_id = 0x05;
        h.seq_cnt.set(0x0102);
        h.parameter.set(0xA0B0_C0D0);
        h.cs_ctl = 0x11;
        h.df_ctl = 0x40;
        let b = h.as_bytes();
        assert_eq!(
            b,
            &[
                0x22, 0xFF, 0xFF, 0xFE, 0x11, 0x00, 0x00, 0x00, 0x01, 0x29, 0x00, 0x00, 0x05, 0x40,
                0x01, 0x02, 0x12, 0x34, 0xFF, 0xFF, 0xA0, 0xB0, 0xC0, 0xD0
            ]
        );
        assert_eq!(FcHeader::parse(b).unwrap(), h);
        assert_eq!(h.d_id(), 0xFF_FFFE);
        assert!(!h.is_from_responder());
        assert!(h.is_end_of_sequence());
    }

    #[test]
    fn f_ctl_constants_agree_with_transport() {
        assert_eq!(
            (f_ctl::SINGLE_FRAME_REQ >> 16) as u8,
            ufc_transport::wire::fc::F_CTL_LS_REQ
        );
        assert_eq!(
            (f_ctl::SINGLE_FRAME_RSP >> 16) as u8,
            ufc_transport::wire::fc::F_CTL_LS_RSP
        );
        assert_eq!(r_ctl::FC4_LS_REQ, 0x32);
        assert_eq!(r_ctl::FC4_LS_REP, 0x33);
        assert_eq!(r_ctl::BLS_ABTS, 0x81);
        assert_eq!(fc_type::NVME, 0x28);
        assert_eq!(fc_type::BLS, 0x00);
    }

    #[test]
    fn reply_swaps_addresses() {
        let req = FcHeader::request(
            r_ctl::UNSOL_CTL,
            fc_type::CT,
            well_known::NAME_SERVER,
            0x01_0203,
            7,
        );
        let rsp = FcHeader::reply_to(&req, r_ctl::SOL_CTL, 0x55);
        assert_eq!(
            (rsp.d_id(), rsp.s_id()),
            (0x01_0203, well_known::NAME_SERVER)
        );
        assert_eq!((rsp.ox_id.get(), rsp.rx_id.get()), (7, 0x55));
        assert!(rsp.is_from_responder() && rsp.is_last_sequence());
        assert_eq!(rsp.fc_type, fc_type::CT);
    }

    #[test]
    fn short_header_is_an_error() {
        assert_eq!(
            FcHeader::parse(&[0; 23]),
            Err(FcError::Truncated {
                what: "FC frame header",
                len: 23,
                need: 24
            })
        );
        assert!(well_known::is_well_known(well_known::NAME_SERVER));
        assert!(!well_known::is_well_known(0x01_0200));
    }

    proptest! {
        #[test]
        fn header_round_trip(r: u8, t: u8, d in 0u32..=U24_MASK, s in 0u32..=U24_MASK,
                             f in 0u32..=U24_MASK, ox: u16, par: u32) {
            let mut h = FcHeader::new(r, t, d, s, f, ox);
            h.parameter.set(par);
            let back = FcHeader::parse(h.as_bytes()).unwrap();
            prop_assert_eq!(back, h);
            prop_assert_eq!((back.d_id(), back.s_id(), back.f_ctl()), (d, s, f));
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(h) = FcHeader::parse(&b) {
                prop_assert!(h.d_id() <= U24_MASK && h.fill_bytes() < 4);
            }
        }
    }
}
