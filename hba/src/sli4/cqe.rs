//! Completion queue entries, 16 bytes each (sli4.md §4.3, §4.6): the generic
//! entry with its valid bit and code, and typed views for work completions
//! (WCQE, NVMe ERSP), WQE release, XRI aborted, receive (RCQE v0/v1), and, on
//! the MQ's CQ, MCQEs ([`super::mbox::Mcqe`]) and asynchronous events (ACQEs).
//!
//! Every view is a total decoder over 16 device-written bytes: it cannot fail
//! or panic; indices and lengths it yields are raw and must be bounds-checked
//! by the caller.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::bits::{bitfields, Le32};
pub use super::mbox::Mcqe;

/// Size of every CQE.
pub const CQE_LEN: usize = 16;
/// CQEs per 4 KiB page.
pub const CQES_PER_PAGE: usize = 4096 / CQE_LEN;

/// CQE codes (dword 3 bits 23-16).
pub mod cqe_code {
    /// WQE completion.
    pub const WCQE: u8 = 0x01;
    /// WQE release (WQ consumer progress).
    pub const WQE_RELEASE: u8 = 0x02;
    /// RQ async receive, v0.
    pub const RCQE: u8 = 0x04;
    /// XRI aborted.
    pub const XRI_ABORTED: u8 = 0x05;
    /// RQ coalescing (unused).
    pub const RQ_COALESCING: u8 = 0x06;
    /// RQ consumption (unused).
    pub const RQ_CONSUMPTION: u8 = 0x07;
    /// Measurement reporting (unused).
    pub const MEASUREMENT: u8 = 0x08;
    /// RQ async receive, v1.
    pub const RCQE_V1: u8 = 0x09;
    /// Optimized write command (target; unused).
    pub const OPT_WRITE_CMD: u8 = 0x0B;
    /// Optimized write data (target; unused).
    pub const OPT_WRITE_DATA: u8 = 0x0C;
    /// NVMe ERSP condensed into the WCQE.
    pub const NVME_ERSP: u8 = 0x0D;
    /// RQ marker (unused).
    pub const RQ_MARKER: u8 = 0x1D;
}

/// WCQE status values (dword 0 bits 15-8).
pub mod wcqe_status {
    /// Success.
    pub const SUCCESS: u8 = 0x00;
    /// FCP RSP failure: a non-"good" response arrived; dword 2 = its length
    /// (32 = an NVMe ERSP in the RSP buffer, the normal ERSP path).
    pub const FCP_RSP_FAILURE: u8 = 0x01;
    /// Remote stop.
    pub const REMOTE_STOP: u8 = 0x02;
    /// Local reject; dword 2 low byte = [`super::local_reject`] reason.
    pub const LOCAL_REJECT: u8 = 0x03;
    /// N_Port reject.
    pub const NPORT_REJECT: u8 = 0x04;
    /// Fabric reject.
    pub const FABRIC_REJECT: u8 = 0x05;
    /// N_Port busy.
    pub const NPORT_BUSY: u8 = 0x06;
    /// Fabric busy.
    pub const FABRIC_BUSY: u8 = 0x07;
    /// Intermediate response (LPFC).
    pub const INTERMEDIATE_RSP: u8 = 0x08;
    /// LS_RJT received; dword 2 = reject data.
    pub const LS_RJT: u8 = 0x09;
    /// RX buffer overrun (OCS-U).
    pub const RX_BUF_OVERRUN: u8 = 0x0A;
    /// Command reject.
    pub const CMD_REJECT: u8 = 0x0B;
    /// FCP target length check.
    pub const FCP_TGT_LENCHECK: u8 = 0x0C;
    /// Need buffer entry (LPFC).
    pub const NEED_BUFF_ENTRY: u8 = 0x0F;
    /// RQ buffer length exceeded.
    pub const RQ_BUF_LEN_EXCEEDED: u8 = 0x11;
    /// RQ insufficient buffers.
    pub const RQ_INSUFF_BUF_NEEDED: u8 = 0x12;
    /// RQ insufficient buffers, frame discarded.
    pub const RQ_INSUFF_FRM_DISC: u8 = 0x13;
    /// RQ DMA failure.
    pub const RQ_DMA_FAILURE: u8 = 0x14;
    /// FCP RSP truncated.
    pub const FCP_RSP_TRUNCATE: u8 = 0x15;
    /// DIF error.
    pub const DI_ERROR: u8 = 0x16;
    /// BA_RJT received.
    pub const BA_RJT: u8 = 0x17;
    /// RQ insufficient XRI.
    pub const RQ_INSUFF_XRI_NEEDED: u8 = 0x18;
    /// RQ insufficient XRI, frame discarded.
    pub const RQ_INSUFF_XRI_DISC: u8 = 0x19;
    /// RX error detected.
    pub const RX_ERROR_DETECT: u8 = 0x1A;
    /// RX abort request.
    pub const RX_ABORT_REQUEST: u8 = 0x1B;
}

/// Local reject reasons (WCQE dword 2 low byte with status 0x03; LPFC masks
/// the parameter with 0x1FF).
pub mod local_reject {
    /// Missing continue.
    pub const MISSING_CONTINUE: u8 = 0x01;
    /// Sequence timeout.
    pub const SEQUENCE_TIMEOUT: u8 = 0x02;
    /// Internal error.
    pub const INTERNAL_ERROR: u8 = 0x03;
    /// Invalid RPI.
    pub const INVALID_RPI: u8 = 0x04;
    /// No XRI.
    pub const NO_XRI: u8 = 0x05;
    /// Illegal command.
    pub const ILLEGAL_COMMAND: u8 = 0x06;
    /// Exchange dropped.
    pub const XCHG_DROPPED: u8 = 0x07;
    /// Illegal field.
    pub const ILLEGAL_FIELD: u8 = 0x08;
    /// RPI suspended.
    pub const RPI_SUSPENDED: u8 = 0x09;
    /// No abort match.
    pub const NO_ABORT_MATCH: u8 = 0x0C;
    /// TX DMA failed.
    pub const TX_DMA_FAILED: u8 = 0x0D;
    /// RX DMA failed.
    pub const RX_DMA_FAILED: u8 = 0x0E;
    /// Illegal frame.
    pub const ILLEGAL_FRAME: u8 = 0x0F;
    /// No resources.
    pub const NO_RESOURCES: u8 = 0x11;
    /// Illegal length.
    pub const ILLEGAL_LENGTH: u8 = 0x13;
    /// Unsupported feature.
    pub const UNSUPPORTED_FEATURE: u8 = 0x14;
    /// Abort in progress.
    pub const ABORT_IN_PROGRESS: u8 = 0x15;
    /// Abort requested: the normal completion of an aborted WQE.
    pub const ABORT_REQUESTED: u8 = 0x16;
    /// Receive buffer timeout.
    pub const RCV_BUFFER_TIMEOUT: u8 = 0x17;
    /// Loop open failure.
    pub const LOOP_OPEN_FAILURE: u8 = 0x18;
    /// Link down.
    pub const LINK_DOWN: u8 = 0x1A;
    /// Corrupted data.
    pub const CORRUPTED_DATA: u8 = 0x1B;
    /// Corrupted RPI.
    pub const CORRUPTED_RPI: u8 = 0x1C;
    /// Out-of-order data.
    pub const OUT_OF_ORDER_DATA: u8 = 0x1D;
    /// Out-of-order ACK.
    pub const OUT_OF_ORDER_ACK: u8 = 0x1E;
    /// Duplicate frame.
    pub const DUP_FRAME: u8 = 0x1F;
    /// Link control frame.
    pub const LINK_CONTROL_FRAME: u8 = 0x20;
    /// Bad host address.
    pub const BAD_HOST_ADDRESS: u8 = 0x21;
    /// Missing header buffer.
    pub const MISSING_HDR_BUFFER: u8 = 0x23;
    /// Buffer shortage.
    pub const BUFFER_SHORTAGE: u8 = 0x28;
    /// Invalid VPI.
    pub const INVALID_VPI: u8 = 0x2E;
}

/// RCQE status values (dword 0 bits 15-8).
pub mod rcqe_status {
    /// Success.
    pub const SUCCESS: u8 = 0x10;
    /// Payload truncated (buffers consumed).
    pub const TRUNCATED: u8 = 0x11;
    /// Insufficient buffers (not consumed).
    pub const INSUFF_BUFFERS: u8 = 0x12;
    /// Frame discarded (not consumed).
    pub const FRAME_DISCARDED: u8 = 0x13;
    /// DMA failure (buffers consumed).
    pub const DMA_FAILURE: u8 = 0x14;

    /// True when the RQ entries of the pair were consumed and must be reposted.
    pub const fn buffers_consumed(status: u8) -> bool {
        matches!(status, SUCCESS | TRUNCATED | DMA_FAILURE)
    }
}

/// ACQE event codes (dword 3 bits 15-8).
pub mod acqe_code {
    /// Link state (Ethernet).
    pub const LINK_STATE: u8 = 0x01;
    /// FCoE FIP.
    pub const FCOE_FIP: u8 = 0x02;
    /// DCBX.
    pub const DCBX: u8 = 0x03;
    /// iSCSI.
    pub const ISCSI: u8 = 0x04;
    /// Group 5.
    pub const GRP5: u8 = 0x05;
    /// FC link attention.
    pub const FC_LINK: u8 = 0x10;
    /// SLI port event.
    pub const SLI_PORT: u8 = 0x11;
    /// VF.
    pub const VF: u8 = 0x12;
    /// MR.
    pub const MR: u8 = 0x13;
}

/// FC link attention types (dword 0 bits 15-8).
pub mod link_attention {
    /// Link up.
    pub const LINK_UP: u8 = 1;
    /// Link down.
    pub const LINK_DOWN: u8 = 2;
    /// No hard AL_PA.
    pub const NO_HARD_ALPA: u8 = 3;
    /// MDS link down (LPFC).
    pub const MDS_LINK_DOWN: u8 = 4;
    /// MDS loopback (LPFC).
    pub const MDS_LOOPBACK: u8 = 5;
    /// Unexpected WWPN (LPFC).
    pub const UNEXPECTED_WWPN: u8 = 6;
    /// Trunking event (LPFC).
    pub const TRUNKING_EVENT: u8 = 7;
    /// Activate fail (LPFC).
    pub const ACTIVATE_FAIL: u8 = 8;
    /// Link-reset protocol event (LPFC).
    pub const LINK_RESET_PROTOCOL: u8 = 9;
}

/// FC link attention topology (dword 0 bits 23-16).
pub mod link_topology {
    /// Point-to-point or fabric.
    pub const P2P_OR_FABRIC: u8 = 1;
    /// FC-AL.
    pub const FC_AL: u8 = 2;
    /// Internal loopback.
    pub const INTERNAL_LOOPBACK: u8 = 3;
    /// SerDes loopback.
    pub const SERDES_LOOPBACK: u8 = 4;
}

/// FC link attention speed codes (dword 0 bits 31-24).
pub mod link_speed {
    /// 1 Gb/s.
    pub const G1: u8 = 0x01;
    /// 2 Gb/s.
    pub const G2: u8 = 0x02;
    /// 4 Gb/s.
    pub const G4: u8 = 0x04;
    /// 8 Gb/s.
    pub const G8: u8 = 0x08;
    /// 10 Gb/s.
    pub const G10: u8 = 0x0A;
    /// 16 Gb/s.
    pub const G16: u8 = 0x10;
    /// 32 Gb/s.
    pub const G32: u8 = 0x20;
    /// 64 Gb/s.
    pub const G64: u8 = 0x21;
    /// 128 Gb/s.
    pub const G128: u8 = 0x22;
    /// 256 Gb/s.
    pub const G256: u8 = 0x23;
}

/// A completion queue entry as read from the CQ.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Cqe {
    /// Dwords 0-3.
    pub dw: [Le32; 4],
}
const _: () = assert!(core::mem::size_of::<Cqe>() == CQE_LEN);

/// What a CQE is, decided from its code (or, on the MQ's CQ, its AE bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CqeKind {
    /// Work completion (code 0x01): [`Wcqe`].
    Wcqe,
    /// WQE release (code 0x02): [`WqeReleaseCqe`].
    WqeRelease,
    /// Receive v0 (code 0x04): [`Rcqe`].
    Rcqe,
    /// Receive v1 (code 0x09): [`RcqeV1`].
    RcqeV1,
    /// XRI aborted (code 0x05): [`XriAbortedCqe`].
    XriAborted,
    /// NVMe ERSP condensed (code 0x0D): [`Wcqe`] with the ERSP accessors.
    NvmeErsp,
    /// Mailbox completion on the MQ's CQ: [`Mcqe`].
    Mcqe,
    /// Asynchronous event on the MQ's CQ: [`Acqe`].
    Acqe,
    /// A code this driver does not handle (counted, not fatal).
    Other(u8),
}

impl Cqe {
    /// Reads 16 bytes; `None` if shorter.
    pub fn from_prefix(bytes: &[u8]) -> Option<Cqe> {
        Cqe::read_from_prefix(bytes).ok().map(|(c, _)| c)
    }

    /// Dword 3 bit 31, the valid bit of every CQE type (§4.4).
    pub fn valid(&self) -> bool {
        self.dw[3].get() >> 31 != 0
    }

    /// Clears the valid bit (if_type 2 consumers write the entry back).
    pub fn clear_valid(&mut self) {
        let v = self.dw[3].get();
        self.dw[3].set(v & !(1 << 31));
    }

    /// Dword 3 bits 23-16: CQE code (meaningless on the MQ's CQ).
    pub fn code(&self) -> u8 {
        (self.dw[3].get() >> 16) as u8
    }

    /// Classifies the entry. `on_mq_cq` says whether this CQ serves the MQ:
    /// there entries are MCQEs or ACQEs (AE bit 30), not coded CQEs.
    pub fn kind(&self, on_mq_cq: bool) -> CqeKind {
        if on_mq_cq {
            return if self.dw[3].get() & (1 << 30) != 0 {
                CqeKind::Acqe
            } else {
                CqeKind::Mcqe
            };
        }
        match self.code() {
            cqe_code::WCQE => CqeKind::Wcqe,
            cqe_code::WQE_RELEASE => CqeKind::WqeRelease,
            cqe_code::RCQE => CqeKind::Rcqe,
            cqe_code::RCQE_V1 => CqeKind::RcqeV1,
            cqe_code::XRI_ABORTED => CqeKind::XriAborted,
            cqe_code::NVME_ERSP => CqeKind::NvmeErsp,
            other => CqeKind::Other(other),
        }
    }

    /// Any typed view of the same 16 bytes.
    pub fn view<T: FromBytes + IntoBytes + Immutable>(&self) -> T {
        // A 16-byte view of a 16-byte entry cannot fail; fall back to zeros
        // rather than panic if a caller picks a type of another size.
        T::read_from_bytes(self.as_bytes()).unwrap_or_else(|_| T::new_zeroed())
    }
}

/// `From` conversions between [`Cqe`] and a typed view, and the size check.
macro_rules! cqe_view {
    ($name:ident) => {
        const _: () = assert!(core::mem::size_of::<$name>() == CQE_LEN);

        impl From<Cqe> for $name {
            fn from(c: Cqe) -> $name {
                zerocopy::transmute!(c)
            }
        }

        impl From<$name> for Cqe {
            fn from(c: $name) -> Cqe {
                zerocopy::transmute!(c)
            }
        }
    };
}

/// Work completion (code 0x01) and NVMe ERSP completion (code 0x0D) (§4.3, §5.6).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Wcqe {
    /// Dword 0.
    pub dw0: Le32,
    /// Dword 1.
    pub dw1: Le32,
    /// Dword 2.
    pub dw2: Le32,
    /// Dword 3.
    pub dw3: Le32,
}
cqe_view!(Wcqe);

impl Wcqe {
    bitfields! {
        /// Dword 0 bits 7-0: hardware status (0 none, 1 underrun, 2 overrun).
        hw_status / set_hw_status: dw0[0; 8];
        /// Dword 0 bits 15-8: status ([`wcqe_status`]).
        status / set_status: dw0[8; 8];
        /// Dword 0 bits 31-16: request tag (WQE dword 9).
        request_tag / set_request_tag: dw0[16; 16];
        /// Dword 3 bit 15: QX, quarantine XRI (OCS); for code 0x0D part of SQ head.
        qx / set_qx: dw3[15];
        /// Dword 3 bits 23-16: code.
        code / set_code: dw3[16; 8];
        /// Dword 3 bits 26-24: priority.
        priority / set_priority: dw3[24; 3];
        /// Dword 3 bit 27: PV.
        pv / set_pv: dw3[27];
        /// Dword 3 bit 28: XB, exchange busy: keep the XRI until an XRI-aborted CQE.
        xb / set_xb: dw3[28];
        /// Dword 3 bit 29: RHA (OCS).
        rha / set_rha: dw3[29];
        /// Dword 3 bit 31: valid.
        valid / set_valid: dw3[31];
        /// Code 0x0D: dword 0 bits 15-0 = NVMe CQE dword 1 low half.
        ersp_cqe_dw1_lo / set_ersp_cqe_dw1_lo: dw0[0; 16];
        /// Code 0x0D: dword 3 bits 15-0 = SQ head (LPFC).
        ersp_sq_head / set_ersp_sq_head: dw3[0; 16];
    }

    /// Dword 1: bytes placed; for ELS/CT the response length received;
    /// for code 0x0D the NVMe CQE dword 0.
    pub fn total_data_placed(&self) -> u32 {
        self.dw1.get()
    }

    /// Dword 2: parameter / extended status (local-reject reason, LS_RJT data,
    /// FCP RSP length for status 1, the responder's D_ID for an ELS request —
    /// our N_Port ID after FLOGI — or the RSN for code 0x0D).
    pub fn parameter(&self) -> u32 {
        self.dw2.get()
    }

    /// The local-reject reason (parameter low byte), meaningful with status 0x03.
    pub fn local_reject_reason(&self) -> u8 {
        self.dw2.get() as u8
    }

    /// Our N_Port ID from the WCQE of a FLOGI (parameter bits 23-0).
    pub fn els_d_id(&self) -> u32 {
        self.dw2.get() & 0x00FF_FFFF
    }

    /// A completed WCQE as the device model posts it.
    pub fn new(request_tag: u16, status: u8, placed: u32, parameter: u32, valid: bool) -> Wcqe {
        let mut w = Wcqe::default();
        w.set_request_tag(request_tag.into());
        w.set_status(status.into());
        w.dw1.set(placed);
        w.dw2.set(parameter);
        w.set_code(cqe_code::WCQE.into());
        w.set_valid(valid);
        w
    }
}

/// WQE release (code 0x02): the port consumed WQ entries up to `wqe_index`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct WqeReleaseCqe {
    /// Dword 0.
    pub dw0: Le32,
    /// Dword 1.
    pub dw1: Le32,
    /// Dword 2.
    pub dw2: Le32,
    /// Dword 3.
    pub dw3: Le32,
}
cqe_view!(WqeReleaseCqe);

impl WqeReleaseCqe {
    bitfields! {
        /// Dword 2 bits 15-0: index of the consumed WQE.
        wqe_index / set_wqe_index: dw2[0; 16];
        /// Dword 2 bits 31-16: WQ id.
        wq_id / set_wq_id: dw2[16; 16];
        /// Dword 3 bits 23-16: code.
        code / set_code: dw3[16; 8];
        /// Dword 3 bit 31: valid.
        valid / set_valid: dw3[31];
    }
}

/// XRI aborted (code 0x05): the exchange is finished; the XRI may be reused.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct XriAbortedCqe {
    /// Dword 0.
    pub dw0: Le32,
    /// Dword 1.
    pub dw1: Le32,
    /// Dword 2.
    pub dw2: Le32,
    /// Dword 3.
    pub dw3: Le32,
}
cqe_view!(XriAbortedCqe);

impl XriAbortedCqe {
    bitfields! {
        /// Dword 0 bits 15-8: status.
        status / set_status: dw0[8; 8];
        /// Dword 2 bits 15-0: XRI.
        xri / set_xri: dw2[0; 16];
        /// Dword 2 bits 31-16: remote XID.
        remote_xid / set_remote_xid: dw2[16; 16];
        /// Dword 3 bits 23-16: code.
        code / set_code: dw3[16; 8];
        /// Dword 3 bit 24: XR (OCS).
        xr / set_xr: dw3[24];
        /// Dword 3 bit 28: EO, exchange originator (1 = local).
        eo / set_eo: dw3[28];
        /// Dword 3 bit 29: BR, a BA_RJT was received.
        br / set_br: dw3[29];
        /// Dword 3 bit 30: IA, aborted locally without ABTS.
        ia / set_ia: dw3[30];
        /// Dword 3 bit 31: valid.
        valid / set_valid: dw3[31];
    }

    /// Dword 1: extended status.
    pub fn extended_status(&self) -> u32 {
        self.dw1.get()
    }
}

/// Receive completion v0 (code 0x04): one frame in the header/data RQ pair.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Rcqe {
    /// Dword 0.
    pub dw0: Le32,
    /// Dword 1.
    pub dw1: Le32,
    /// Dword 2.
    pub dw2: Le32,
    /// Dword 3.
    pub dw3: Le32,
}
cqe_view!(Rcqe);

impl Rcqe {
    bitfields! {
        /// Dword 0 bits 15-8: status ([`rcqe_status`]).
        status / set_status: dw0[8; 8];
        /// Dword 0 bits 27-16: RQ element index (into both RQs of the pair).
        rq_element_index / set_rq_element_index: dw0[16; 12];
        /// Dword 2 bits 5-0: FCFI.
        fcfi / set_fcfi: dw2[0; 6];
        /// Dword 2 bits 15-6: header RQ id (10 bits).
        rq_id / set_rq_id: dw2[6; 10];
        /// Dword 2 bits 31-16: payload (data) placement length.
        payload_len / set_payload_len: dw2[16; 16];
        /// Dword 3 bits 7-0: SOF code.
        sof / set_sof: dw3[0; 8];
        /// Dword 3 bits 15-8: EOF code.
        eof / set_eof: dw3[8; 8];
        /// Dword 3 bits 23-16: code.
        code / set_code: dw3[16; 8];
        /// Dword 3 bits 28-24: header placement length. LPFC reads 5 bits
        /// (bit 29 is then "port", bit 30 per LPFC); OCS reads 6 (29-24). We
        /// follow LPFC as sli4.md §8 recommends: the value is 24 for FC.
        header_len / set_header_len: dw3[24; 5];
        /// Dword 3 bit 31: valid.
        valid / set_valid: dw3[31];
    }
}

/// Receive completion v1 (code 0x09).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct RcqeV1 {
    /// Dword 0.
    pub dw0: Le32,
    /// Dword 1.
    pub dw1: Le32,
    /// Dword 2.
    pub dw2: Le32,
    /// Dword 3.
    pub dw3: Le32,
}
cqe_view!(RcqeV1);

impl RcqeV1 {
    bitfields! {
        /// Dword 0 bits 15-8: status ([`rcqe_status`]).
        status / set_status: dw0[8; 8];
        /// Dword 0 bits 30-16: RQ element index (15 bits).
        rq_element_index / set_rq_element_index: dw0[16; 15];
        /// Dword 1 bits 5-0: FCFI.
        fcfi / set_fcfi: dw1[0; 6];
        /// Dword 2 bits 15-0: header RQ id.
        rq_id / set_rq_id: dw2[0; 16];
        /// Dword 2 bits 31-16: payload placement length.
        payload_len / set_payload_len: dw2[16; 16];
        /// Dword 3 bits 7-0: SOF code.
        sof / set_sof: dw3[0; 8];
        /// Dword 3 bits 15-8: EOF code.
        eof / set_eof: dw3[8; 8];
        /// Dword 3 bits 23-16: code.
        code / set_code: dw3[16; 8];
        /// Dword 3 bits 28-24: header placement length (LPFC width, see [`Rcqe`]).
        header_len / set_header_len: dw3[24; 5];
        /// Dword 3 bit 31: valid.
        valid / set_valid: dw3[31];
    }
}

/// Asynchronous event on the MQ's CQ (§4.6): dwords 0-2 event data.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Acqe {
    /// Dword 0.
    pub dw0: Le32,
    /// Dword 1.
    pub dw1: Le32,
    /// Dword 2.
    pub dw2: Le32,
    /// Dword 3.
    pub dw3: Le32,
}
cqe_view!(Acqe);

impl Acqe {
    bitfields! {
        /// Dword 3 bits 15-8: event code ([`acqe_code`]).
        event_code / set_event_code: dw3[8; 8];
        /// Dword 3 bits 23-16: event type (per code).
        event_type / set_event_type: dw3[16; 8];
        /// Dword 3 bit 30: AE, 1.
        ae / set_ae: dw3[30];
        /// Dword 3 bit 31: valid.
        valid / set_valid: dw3[31];
    }

    /// An ACQE with `code`/`event_type` and valid bit `valid` (device model).
    pub fn new(code: u8, event_type: u8, valid: bool) -> Acqe {
        let mut a = Acqe::default();
        a.set_event_code(code.into());
        a.set_event_type(event_type.into());
        a.set_ae(true);
        a.set_valid(valid);
        a
    }
}

/// FC link attention ACQE (event code 0x10).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct FcLinkAttention {
    /// Dword 0.
    pub dw0: Le32,
    /// Dword 1.
    pub dw1: Le32,
    /// Dword 2.
    pub dw2: Le32,
    /// Dword 3.
    pub dw3: Le32,
}
cqe_view!(FcLinkAttention);

impl FcLinkAttention {
    bitfields! {
        /// Dword 0 bits 7-0: link/port number (LPFC: number 5-0, type 7-6).
        port_number / set_port_number: dw0[0; 8];
        /// Dword 0 bits 15-8: attention type ([`link_attention`]).
        attention_type / set_attention_type: dw0[8; 8];
        /// Dword 0 bits 23-16: topology ([`link_topology`]).
        topology / set_topology: dw0[16; 8];
        /// Dword 0 bits 31-24: speed ([`link_speed`]).
        speed / set_speed: dw0[24; 8];
        /// Dword 1 bits 7-0: fault (0 none, 1 local, 2 remote).
        fault / set_fault: dw1[0; 8];
        /// Dword 1 bits 15-8: shared link status.
        shared_link_status / set_shared_link_status: dw1[8; 8];
        /// Dword 1 bits 31-16: logical link speed in 10 Mb/s units.
        logical_speed / set_logical_speed: dw1[16; 16];
        /// Dword 3 bits 15-8: event code, 0x10.
        event_code / set_event_code: dw3[8; 8];
        /// Dword 3 bits 23-16: event type (1 FC link attention, 2 shared).
        event_type / set_event_type: dw3[16; 8];
        /// Dword 3 bit 30: AE.
        ae / set_ae: dw3[30];
        /// Dword 3 bit 31: valid.
        valid / set_valid: dw3[31];
    }

    /// Dword 2: event tag (pass to READ_TOPOLOGY's comparison).
    pub fn event_tag(&self) -> u32 {
        self.dw2.get()
    }

    /// A link attention ACQE as the device model posts it.
    pub fn new(
        attention: u8,
        topology: u8,
        speed: u8,
        event_tag: u32,
        valid: bool,
    ) -> FcLinkAttention {
        let mut a = FcLinkAttention::default();
        a.set_attention_type(attention.into());
        a.set_topology(topology.into());
        a.set_speed(speed.into());
        a.dw2.set(event_tag);
        a.set_event_code(acqe_code::FC_LINK.into());
        a.set_event_type(1);
        a.set_ae(true);
        a.set_valid(valid);
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wcqe_golden() {
        let mut w = Wcqe::new(0x1234, wcqe_status::LOCAL_REJECT, 116, 0x16, true);
        w.set_xb(true);
        assert_eq!(
            w.as_bytes(),
            &[0, 0x03, 0x34, 0x12, 116, 0, 0, 0, 0x16, 0, 0, 0, 0, 0, 0x01, 0x90]
        );
        let c: Cqe = w.into();
        assert!(c.valid());
        assert_eq!(c.kind(false), CqeKind::Wcqe);
        let back: Wcqe = c.into();
        assert_eq!(back.request_tag(), 0x1234);
        assert_eq!(back.local_reject_reason(), local_reject::ABORT_REQUESTED);
        assert!(back.xb());
        let flogi = Wcqe::new(1, 0, 116, 0x01_0200, true);
        assert_eq!(flogi.els_d_id(), 0x01_0200);
    }

    #[test]
    fn release_and_xri_aborted_golden() {
        let mut r = WqeReleaseCqe::default();
        r.set_wqe_index(0x10);
        r.set_wq_id(3);
        r.set_code(cqe_code::WQE_RELEASE.into());
        r.set_valid(true);
        assert_eq!(&r.as_bytes()[8..16], &[0x10, 0, 3, 0, 0, 0, 0x02, 0x80]);
        assert_eq!(Cqe::from(r).kind(false), CqeKind::WqeRelease);
        let mut x = XriAbortedCqe::default();
        x.set_xri(0x55);
        x.set_remote_xid(0x66);
        x.set_code(cqe_code::XRI_ABORTED.into());
        x.set_eo(true);
        x.set_valid(true);
        assert_eq!(&x.as_bytes()[8..16], &[0x55, 0, 0x66, 0, 0, 0, 0x05, 0x90]);
        assert_eq!(Cqe::from(x).kind(false), CqeKind::XriAborted);
    }

    #[test]
    fn rcqe_golden() {
        let mut r = Rcqe::default();
        r.set_status(rcqe_status::SUCCESS.into());
        r.set_rq_element_index(0x1AB);
        r.set_fcfi(1);
        r.set_rq_id(0x2);
        r.set_payload_len(116);
        r.set_code(cqe_code::RCQE.into());
        r.set_header_len(24);
        r.set_valid(true);
        assert_eq!(
            r.as_bytes(),
            &[0, 0x10, 0xAB, 0x01, 0, 0, 0, 0, 0x81, 0x00, 116, 0, 0, 0, 0x04, 0x98]
        );
        assert!(rcqe_status::buffers_consumed(r.status() as u8));
        assert!(!rcqe_status::buffers_consumed(rcqe_status::INSUFF_BUFFERS));
        let mut v1 = RcqeV1::default();
        v1.set_rq_element_index(0x7FFF);
        v1.set_rq_id(0x1234);
        v1.set_code(cqe_code::RCQE_V1.into());
        assert_eq!(&v1.as_bytes()[0..4], &[0, 0, 0xFF, 0x7F]);
        assert_eq!(&v1.as_bytes()[8..10], &[0x34, 0x12]);
        assert_eq!(Cqe::from(v1).kind(false), CqeKind::RcqeV1);
    }

    #[test]
    fn acqe_golden() {
        let la = FcLinkAttention::new(
            link_attention::LINK_UP,
            link_topology::P2P_OR_FABRIC,
            link_speed::G32,
            7,
            true,
        );
        assert_eq!(
            la.as_bytes(),
            &[0, 1, 1, 0x20, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0x10, 0x01, 0xC0]
        );
        let c: Cqe = la.into();
        assert_eq!(c.kind(true), CqeKind::Acqe);
        let a: Acqe = c.view();
        assert_eq!((a.event_code(), a.event_type()), (0x10, 1));
        let m: Cqe = zerocopy::transmute!(Mcqe::completion(0, 0));
        assert_eq!(m.kind(true), CqeKind::Mcqe);
        let port = Acqe::new(acqe_code::SLI_PORT, 0x1, true);
        assert_eq!(&port.as_bytes()[12..16], &[0, 0x11, 0x01, 0xC0]);
    }

    #[test]
    fn valid_bit_clear() {
        let mut c: Cqe = Wcqe::new(1, 0, 0, 0, true).into();
        c.clear_valid();
        assert!(!c.valid());
        assert_eq!(c.code(), cqe_code::WCQE);
    }

    proptest! {
        #[test]
        fn arbitrary_cqe_never_panics(b in proptest::collection::vec(any::<u8>(), 0..20), mq: bool) {
            if let Some(c) = Cqe::from_prefix(&b) {
                prop_assert_eq!(c.valid(), b[15] & 0x80 != 0);
                match c.kind(mq) {
                    CqeKind::Wcqe | CqeKind::NvmeErsp => {
                        let w: Wcqe = c.into();
                        let _ = (w.status(), w.request_tag(), w.parameter());
                    }
                    CqeKind::Rcqe => {
                        let r: Rcqe = c.into();
                        prop_assert!(r.rq_element_index() < 4096);
                    }
                    CqeKind::RcqeV1 => {
                        let r: RcqeV1 = c.into();
                        prop_assert!(r.rq_element_index() < 32768);
                    }
                    _ => {}
                }
            }
        }

        #[test]
        fn wcqe_round_trip(tag: u16, st: u8, placed: u32, par: u32, xb: bool) {
            let mut w = Wcqe::new(tag, st, placed, par, true);
            w.set_xb(xb);
            let back: Wcqe = Cqe::from(w).into();
            prop_assert_eq!((back.request_tag(), back.status(), back.total_data_placed(), back.parameter(), back.xb()),
                            (tag.into(), st.into(), placed, par, xb));
        }
    }
}
