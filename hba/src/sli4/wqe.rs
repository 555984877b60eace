//! Work queue entries (sli4.md §5): the 64-byte WQE with the common words 6-11
//! (§5.1), its opcodes and command types (§5.2), and builders for the WQEs an
//! FC-NVMe initiator posts: ELS_REQUEST64 (§5.3), GEN_REQUEST64 (§5.4),
//! XMIT_ELS_RSP64 and XMIT_BLS_RSP (§5.5), FCP_IREAD64/IWRITE64/ICMND64 with the
//! NVMe flag (§5.6) and ABORT_WQE (§5.9).
//!
//! The device model decodes the same [`Wqe`] through its accessors.

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use super::bits::{bitfields, Le32};
use super::sge::Bde;

/// Size of a standard WQE.
pub const WQE_LEN: usize = 64;
/// Size of an extended WQE (WQ created with WQE size 6).
pub const WQE128_LEN: usize = 128;
/// "Use the CQ given at WQ_CREATE" (dword 11 bits 31-16).
pub const CQ_ID_DEFAULT: u16 = 0xFFFF;

/// WQE opcodes (dword 7 bits 15-8).
pub mod wqe_cmd {
    /// ABORT_XRI (ABORT_WQE).
    pub const ABORT: u8 = 0x0F;
    /// XMIT_SEQUENCE64.
    pub const XMIT_SEQUENCE64: u8 = 0x82;
    /// XMIT_BCAST64.
    pub const XMIT_BCAST64: u8 = 0x84;
    /// ELS_REQUEST64.
    pub const ELS_REQUEST64: u8 = 0x8A;
    /// XMIT_ELS_RSP64.
    pub const XMIT_ELS_RSP64: u8 = 0x95;
    /// XMIT_BLS_RSP.
    pub const XMIT_BLS_RSP: u8 = 0x97;
    /// FCP_IWRITE64.
    pub const FCP_IWRITE64: u8 = 0x98;
    /// FCP_IREAD64.
    pub const FCP_IREAD64: u8 = 0x9A;
    /// FCP_ICMND64.
    pub const FCP_ICMND64: u8 = 0x9C;
    /// FCP_TSEND64 (target).
    pub const FCP_TSEND64: u8 = 0x9F;
    /// FCP_TRECEIVE64 (target).
    pub const FCP_TRECEIVE64: u8 = 0xA1;
    /// FCP_TRSP64 (target).
    pub const FCP_TRSP64: u8 = 0xA3;
    /// GEN_REQUEST64.
    pub const GEN_REQUEST64: u8 = 0xC2;
    /// SEND_FRAME.
    pub const SEND_FRAME: u8 = 0xE1;
    /// CMF_SYNC (LPFC).
    pub const CMF_SYNC: u8 = 0xE8;
}

/// Command types (dword 11 bits 3-0).
pub mod cmd_type {
    /// FCP_IREAD64 / FCP_ICMND64.
    pub const FCP_IREAD: u32 = 0x0;
    /// FCP_IWRITE64.
    pub const FCP_IWRITE: u32 = 0x1;
    /// FCP_TRECEIVE64.
    pub const FCP_TRECEIVE: u32 = 0x2;
    /// FCP_TRSP64.
    pub const FCP_TRSP: u32 = 0x3;
    /// FCP_TSEND64.
    pub const FCP_TSEND: u32 = 0x7;
    /// ABORT, GEN_REQUEST64, XMIT_ELS_RSP64, XMIT_BLS_RSP, XMIT_SEQUENCE64.
    pub const GEN: u32 = 0x8;
    /// SEND_FRAME, CMF_SYNC.
    pub const SEND_FRAME: u32 = 0xA;
    /// ELS_REQUEST64 (LPFC on FC, for every ELS; what we send).
    pub const ELS: u32 = 0xC;
    /// ELS_REQUEST64 for FLOGI/FDISC/fabric LOGO in OCS (LPFC: FIP only).
    /// sli4.md §8: a driver sends 0xC; a device model accepts both.
    pub const ELS_FIP: u32 = 0xD;

    /// True for either ELS_REQUEST64 command type.
    pub const fn is_els_request(t: u32) -> bool {
        t == ELS || t == ELS_FIP
    }
}

/// Context types (dword 7 bits 3-2): what dword 6 bits 31-16 names.
pub mod context_type {
    /// RPI.
    pub const RPI: u32 = 0;
    /// VPI.
    pub const VPI: u32 = 1;
    /// VFI.
    pub const VFI: u32 = 2;
    /// FCFI.
    pub const FCFI: u32 = 3;
}

/// ELS id values (ELS_REQUEST64 dword 11 bits 6-4).
pub mod els_id {
    /// Any other ELS (PRLI, SCR, ...).
    pub const OTHER: u32 = 0;
    /// LOGO.
    pub const LOGO: u32 = 1;
    /// FDISC.
    pub const FDISC: u32 = 2;
    /// FLOGI.
    pub const FLOGI: u32 = 3;
    /// PLOGI.
    pub const PLOGI: u32 = 4;
}

/// Class field value for class 3 (dword 7 bits 18-16).
pub const CLASS_3: u32 = 2;
/// PU value: dword 4 holds the expected transfer length.
pub const PU_XFER_LEN: u32 = 2;

/// LEN_LOC values (dword 10 bits 8-7).
pub mod len_loc {
    /// No length.
    pub const NONE: u32 = 0;
    /// Dword 3.
    pub const DW3: u32 = 1;
    /// Dword 12.
    pub const DW12: u32 = 2;
    /// Dword 4.
    pub const DW4: u32 = 3;
}

/// ABORT criteria (dword 3 bits 15-8).
pub mod abort_criteria {
    /// Match the XRI tag.
    pub const XRI_TAG: u32 = 1;
    /// Match the abort tag (dword 8 of the victim).
    pub const ABORT_TAG: u32 = 2;
    /// Match the request tag.
    pub const REQUEST_TAG: u32 = 3;
    /// Match the extended abort tag.
    pub const EXT_ABORT_TAG: u32 = 4;
}

/// A 64-byte work queue entry.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Wqe {
    /// Dword 0: BDE word 0 (XMIT_BLS_RSP: the BA_ACC/BA_RJT payload word).
    pub dw0: Le32,
    /// Dword 1: BDE address low (XMIT_BLS_RSP: RX_ID 15-0, OX_ID 31-16).
    pub dw1: Le32,
    /// Dword 2: BDE address high (XMIT_BLS_RSP: SEQ_CNT high 15-0, low 31-16;
    /// ABORT: extended tag).
    pub dw2: Le32,
    /// Dword 3: request/response payload length (FCP: payload offset length
    /// 15-0; ABORT: IA 0, IR 1, criteria 15-8).
    pub dw3: Le32,
    /// Dword 4: S_ID 23-0 + SP 24 (ELS), relative offset (GEN_REQUEST64), total
    /// transfer length (FCP), local N_Port ID (BLS), extended tag mask (ABORT).
    pub dw4: Le32,
    /// Dword 5: D_ID (ELS), R_CTL/TYPE/DF_CTL (GEN_REQUEST64), first burst
    /// (IWRITE), remote N_Port ID + flags (BLS), tag mask (ABORT).
    pub dw5: Le32,
    /// Dword 6: XRI tag 15-0, context tag 31-16.
    pub dw6: Le32,
    /// Dword 7: DIF, CT, BS, command, class, AR, PU, ERP, LNK, timer.
    pub dw7: Le32,
    /// Dword 8: abort tag (ABORT: the tag to match).
    pub abort_tag: Le32,
    /// Dword 9: request tag 15-0, WQE-specific 31-16 (temporary RPI or OX_ID).
    pub dw9: Le32,
    /// Dword 10: flags (NVME, LEN_LOC, QOSD, XBL, HLM, IOD, DBDE, WQES, ...).
    pub dw10: Le32,
    /// Dword 11: command type 3-0, ELS id / PBDE 6-4, WQEC 7, CQ id 31-16.
    pub dw11: Le32,
    /// Dword 12: remote N_Port ID (GEN_REQUEST64 with HLM), temporary RPI
    /// (XMIT_ELS_RSP64, XMIT_BLS_RSP); written 0 for ELS (sli4.md §8).
    pub dw12: Le32,
    /// Dwords 13-15: first data BDE (FCP PBDE); dword 15 alone: maximum
    /// response payload length (ELS_REQUEST64, GEN_REQUEST64).
    pub dw13: Le32,
    /// Dword 14.
    pub dw14: Le32,
    /// Dword 15.
    pub dw15: Le32,
}
const _: () = assert!(core::mem::size_of::<Wqe>() == WQE_LEN);

/// A 128-byte WQE: a [`Wqe`] and dwords 16-31 (embedded CMD IU; §5.6).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Wqe128 {
    /// Dwords 0-15.
    pub base: Wqe,
    /// Dwords 16-31.
    pub ext: [Le32; 16],
}
const _: () = assert!(core::mem::size_of::<Wqe128>() == WQE128_LEN);

impl Wqe {
    bitfields! {
        /// Dword 6 bits 15-0: XRI tag.
        xri_tag / set_xri_tag: dw6[0; 16];
        /// Dword 6 bits 31-16: context tag (RPI/VPI/VFI/FCFI per CT).
        context_tag / set_context_tag: dw6[16; 16];
        /// Dword 7 bits 1-0: DIF.
        dif / set_dif: dw7[0; 2];
        /// Dword 7 bits 3-2: context type ([`context_type`]).
        ct / set_ct: dw7[2; 2];
        /// Dword 7 bits 6-4: DIF block size.
        bs / set_bs: dw7[4; 3];
        /// Dword 7 bits 15-8: command ([`wqe_cmd`]).
        command / set_command: dw7[8; 8];
        /// Dword 7 bits 18-16: class ([`CLASS_3`]).
        class / set_class: dw7[16; 3];
        /// Dword 7 bit 19: AR / AG.
        ar / set_ar: dw7[19];
        /// Dword 7 bits 21-20: PU ([`PU_XFER_LEN`]).
        pu / set_pu: dw7[20; 2];
        /// Dword 7 bit 22: ERP / CONF.
        erp / set_erp: dw7[22];
        /// Dword 7 bit 23: LNK.
        lnk / set_lnk: dw7[23];
        /// Dword 7 bits 31-24: timer in seconds (0 = none; ELS: 2 × R_A_TOV).
        timer / set_timer: dw7[24; 8];
        /// Dword 9 bits 15-0: request tag, echoed in the WCQE.
        request_tag / set_request_tag: dw9[0; 16];
        /// Dword 9 bits 31-16: temporary RPI (ELS request) or received OX_ID
        /// (XMIT_ELS_RSP64).
        dw9_hi / set_dw9_hi: dw9[16; 16];
        /// Dword 10 bits 3-0: EBDE count.
        ebde_cnt / set_ebde_cnt: dw10[0; 4];
        /// Dword 10 bit 4: NVME / XCHG: this exchange is FC-NVMe.
        nvme / set_nvme: dw10[4];
        /// Dword 10 bit 5: APPID valid.
        appid / set_appid: dw10[5];
        /// Dword 10 bit 6: OAS.
        oas / set_oas: dw10[6];
        /// Dword 10 bits 8-7: LEN_LOC ([`len_loc`]).
        len_loc / set_len_loc: dw10[7; 2];
        /// Dword 10 bit 9: QOSD.
        qosd / set_qosd: dw10[9];
        /// Dword 10 bit 10: WCHN.
        wchn / set_wchn: dw10[10];
        /// Dword 10 bit 11: XBL, dwords 0-2 are a BLP.
        xbl / set_xbl: dw10[11];
        /// Dword 10 bit 12: HLM, remote N_Port ID carried in the WQE.
        hlm / set_hlm: dw10[12];
        /// Dword 10 bit 13: IOD, 1 = read/in.
        iod / set_iod: dw10[13];
        /// Dword 10 bit 14: DBDE, dwords 0-2 are a plain BDE.
        dbde / set_dbde: dw10[14];
        /// Dword 10 bit 15: WQES, embedded payload (128-byte WQE).
        wqes / set_wqes: dw10[15];
        /// Dword 10 bits 18-16: priority.
        pri / set_pri: dw10[16; 3];
        /// Dword 10 bit 19: PV.
        pv / set_pv: dw10[19];
        /// Dword 10 bit 20: EAT.
        eat / set_eat: dw10[20];
        /// Dword 10 bit 21: XC, exchange continuation.
        xc / set_xc: dw10[21];
        /// Dword 10 bit 22: SR.
        sr / set_sr: dw10[22];
        /// Dword 10 bit 23: CCPE.
        ccpe / set_ccpe: dw10[23];
        /// Dword 10 bits 31-24: CCP (CS_CTL priority).
        ccp / set_ccp: dw10[24; 8];
        /// Dword 11 bits 3-0: command type ([`cmd_type`]).
        cmd_type / set_cmd_type: dw11[0; 4];
        /// Dword 11 bits 6-4: ELS id ([`els_id`], ELS_REQUEST64 only).
        els_id / set_els_id: dw11[4; 3];
        /// Dword 11 bit 5: PBDE, dwords 13-15 hold the first data BDE (FCP).
        pbde / set_pbde: dw11[5];
        /// Dword 11 bit 6: SUP / FFRQ.
        ffrq / set_ffrq: dw11[6];
        /// Dword 11 bit 7: WQEC, request a WQE-release CQE.
        wqec / set_wqec: dw11[7];
        /// Dword 11 bits 31-16: CQ id ([`CQ_ID_DEFAULT`]).
        cq_id / set_cq_id: dw11[16; 16];
    }

    /// Reads 64 bytes; `None` if shorter.
    pub fn from_prefix(bytes: &[u8]) -> Option<Wqe> {
        Wqe::read_from_prefix(bytes).ok().map(|(w, _)| w)
    }

    /// Dwords 0-2 as a BDE.
    pub fn bde(&self) -> Bde {
        Bde {
            dw0: self.dw0,
            addr_lo: self.dw1,
            addr_hi: self.dw2,
        }
    }

    /// Sets dwords 0-2 from a BDE.
    pub fn set_bde(&mut self, b: &Bde) {
        self.dw0 = b.dw0;
        self.dw1 = b.addr_lo;
        self.dw2 = b.addr_hi;
    }

    /// Dwords 13-15 as a BDE (FCP first data BDE).
    pub fn bde_13(&self) -> Bde {
        Bde {
            dw0: self.dw13,
            addr_lo: self.dw14,
            addr_hi: self.dw15,
        }
    }

    /// Sets dwords 13-15 from a BDE.
    pub fn set_bde_13(&mut self, b: &Bde) {
        self.dw13 = b.dw0;
        self.dw14 = b.addr_lo;
        self.dw15 = b.addr_hi;
    }

    /// The fields every builder sets: XRI, context, command, class 3, request
    /// tag, command type, CQ id.
    fn common(xri: u16, ctx: Context, command: u8, request_tag: u16, cmd_type: u32) -> Wqe {
        let mut w = Wqe::new_zeroed();
        w.set_xri_tag(xri.into());
        w.set_context_tag(ctx.tag.into());
        w.set_ct(ctx.ct);
        w.set_command(command.into());
        w.set_class(CLASS_3);
        w.set_request_tag(request_tag.into());
        w.set_cmd_type(cmd_type);
        w.set_cq_id(CQ_ID_DEFAULT.into());
        w
    }
}

/// The context a WQE runs in: context type and tag (dword 7 CT, dword 6 31-16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    /// [`context_type`].
    pub ct: u32,
    /// The RPI, VPI, VFI or FCFI.
    pub tag: u16,
}

impl Context {
    /// A registered remote port.
    pub const fn rpi(rpi: u16) -> Context {
        Context {
            ct: context_type::RPI,
            tag: rpi,
        }
    }

    /// A virtual port (FLOGI, PLOGI before REG_RPI, SCR, fabric LOGO).
    pub const fn vpi(vpi: u16) -> Context {
        Context {
            ct: context_type::VPI,
            tag: vpi,
        }
    }
}

/// Parameters of an ELS_REQUEST64 (§5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElsRequest {
    /// XRI of the exchange (its SGL holds request at SGE 0, response at SGE 1).
    pub xri: u16,
    /// Context: VPI before REG_RPI (FLOGI, PLOGI, SCR), RPI after (PRLI).
    pub context: Context,
    /// Request tag echoed in the WCQE.
    pub request_tag: u16,
    /// Temporary RPI reserved for the remote node (dword 9 31-16).
    pub temp_rpi: u16,
    /// BDE of the request payload (duplicates SGE 0).
    pub payload: Bde,
    /// Maximum response payload length (dword 15).
    pub max_rsp_len: u32,
    /// `Some(S_ID)` sets SP and the S_ID (FLOGI: `Some(0)`).
    pub s_id: Option<u32>,
    /// Destination N_Port ID.
    pub d_id: u32,
    /// [`els_id`].
    pub els_id: u32,
    /// Timer in seconds (0 = 2 × R_A_TOV).
    pub timer: u8,
}

impl ElsRequest {
    /// The WQE: command type 0xC (LPFC; sli4.md §8), IOD=1, QOSD=1, DBDE=1.
    pub fn build(&self) -> Wqe {
        let mut w = Wqe::common(
            self.xri,
            self.context,
            wqe_cmd::ELS_REQUEST64,
            self.request_tag,
            cmd_type::ELS,
        );
        w.set_bde(&self.payload);
        w.dw3.set(self.payload.length());
        if let Some(s_id) = self.s_id {
            w.dw4.set((s_id & 0x00FF_FFFF) | 1 << 24);
        }
        w.dw5.set(self.d_id & 0x00FF_FFFF);
        w.set_dw9_hi(self.temp_rpi.into());
        w.set_timer(self.timer.into());
        w.set_iod(true);
        w.set_qosd(true);
        w.set_dbde(true);
        w.set_els_id(self.els_id);
        w.dw15.set(self.max_rsp_len);
        w
    }
}

/// Parameters of a GEN_REQUEST64: CT to the name server or an NVMe LS (§5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenRequest {
    /// XRI of the exchange.
    pub xri: u16,
    /// RPI of the destination (name server or NVMe target port).
    pub rpi: u16,
    /// Request tag.
    pub request_tag: u16,
    /// BDE of the request payload.
    pub payload: Bde,
    /// Maximum response payload length (dword 15).
    pub max_rsp_len: u32,
    /// R_CTL: 0x02 for CT, 0x32 for an NVMe LS.
    pub r_ctl: u8,
    /// TYPE: 0x20 for CT, 0x28 for NVMe.
    pub fc_type: u8,
    /// Timer in seconds (LPFC: 3 × R_A_TOV).
    pub timer: u8,
}

impl GenRequest {
    /// The WQE: command type 0x8, CT=RPI, IOD=1, QOSD=1, DBDE=1, DF_CTL 0. Like
    /// OCS, dword 5 bits 7-0 (LPFC's SI/LA) stay 0.
    pub fn build(&self) -> Wqe {
        let mut w = Wqe::common(
            self.xri,
            Context::rpi(self.rpi),
            wqe_cmd::GEN_REQUEST64,
            self.request_tag,
            cmd_type::GEN,
        );
        w.set_bde(&self.payload);
        w.dw3.set(self.payload.length());
        w.dw5
            .set(u32::from(self.r_ctl) << 24 | u32::from(self.fc_type) << 16);
        w.set_timer(self.timer.into());
        w.set_iod(true);
        w.set_qosd(true);
        w.set_dbde(true);
        w.dw15.set(self.max_rsp_len);
        w
    }

    /// GEN_REQUEST64 dword 5 bits 31-24 (device model).
    pub fn r_ctl_of(w: &Wqe) -> u8 {
        (w.dw5.get() >> 24) as u8
    }

    /// GEN_REQUEST64 dword 5 bits 23-16 (device model).
    pub fn fc_type_of(w: &Wqe) -> u8 {
        (w.dw5.get() >> 16) as u8
    }
}

/// Parameters of an XMIT_ELS_RSP64: ACC or LS_RJT to an unsolicited ELS (§5.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XmitElsRsp {
    /// A new XRI from the driver's pool.
    pub xri: u16,
    /// RPI if the node is registered, else VPI.
    pub context: Context,
    /// Request tag.
    pub request_tag: u16,
    /// OX_ID of the received request (dword 9 31-16).
    pub ox_id: u16,
    /// Temporary RPI (dword 12 15-0).
    pub temp_rpi: u16,
    /// BDE of the response payload.
    pub payload: Bde,
    /// `Some(S_ID)` sets SP (point-to-point / loop).
    pub s_id: Option<u32>,
    /// Destination (the requester).
    pub d_id: u32,
}

impl XmitElsRsp {
    /// The WQE: command type 0x8, IOD=0, QOSD=1, DBDE=1, LEN_LOC=1 (LPFC).
    pub fn build(&self) -> Wqe {
        let mut w = Wqe::common(
            self.xri,
            self.context,
            wqe_cmd::XMIT_ELS_RSP64,
            self.request_tag,
            cmd_type::GEN,
        );
        w.set_bde(&self.payload);
        w.dw3.set(self.payload.length());
        if let Some(s_id) = self.s_id {
            w.dw4.set((s_id & 0x00FF_FFFF) | 1 << 24);
        }
        w.dw5.set(self.d_id & 0x00FF_FFFF);
        w.set_dw9_hi(self.ox_id.into());
        w.set_qosd(true);
        w.set_dbde(true);
        w.set_len_loc(len_loc::DW3);
        w.dw12.set(self.temp_rpi.into());
        w
    }
}

/// XMIT_SEQUENCE64 dword 5 flag bits (sli4.md §5.5).
pub mod xmit_seq {
    /// Bit 2: SI, transfer sequence initiative.
    pub const SI: u32 = 1 << 2;
    /// Bit 3: FT / LA.
    pub const LA: u32 = 1 << 3;
    /// Bit 6: XO, exchange originator.
    pub const XO: u32 = 1 << 6;
    /// Bit 7: LS, last sequence of the exchange.
    pub const LS: u32 = 1 << 7;
}

/// Parameters of an XMIT_SEQUENCE64 answering a received FC-4 request on its
/// exchange (sli4.md §5.5): the NVMe LS response (R_CTL 0x33, TYPE 0x28) to
/// an LS the target sent, such as Disconnect Association.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XmitSequence {
    /// A new XRI from the driver's pool (the responder's RX_ID).
    pub xri: u16,
    /// RPI of the remote port (context RPI).
    pub rpi: u16,
    /// Request tag.
    pub request_tag: u16,
    /// OX_ID of the received request (dword 9 31-16).
    pub ox_id: u16,
    /// Remote N_Port ID (dword 3, OCS; LPFC leaves it 0 and relies on the RPI).
    pub d_id: u32,
    /// BDE of the sequence payload; its length is the sequence length (dword 12).
    pub payload: Bde,
    /// R_CTL of the frame (dword 5 31-24).
    pub r_ctl: u8,
    /// TYPE of the frame (dword 5 23-16).
    pub fc_type: u8,
    /// [`xmit_seq`] flags (dword 5 7-0); a single-sequence answer sets LS.
    pub flags: u32,
}

impl XmitSequence {
    /// The WQE: command type 0x8, CT=RPI, IOD=0, DBDE=1, LEN_LOC=2 (dword 12).
    pub fn build(&self) -> Wqe {
        let mut w = Wqe::common(
            self.xri,
            Context::rpi(self.rpi),
            wqe_cmd::XMIT_SEQUENCE64,
            self.request_tag,
            cmd_type::GEN,
        );
        w.set_bde(&self.payload);
        w.dw3.set(self.d_id & 0x00FF_FFFF);
        w.dw5
            .set(u32::from(self.r_ctl) << 24 | u32::from(self.fc_type) << 16 | (self.flags & 0xFF));
        w.set_dw9_hi(self.ox_id.into());
        w.set_dbde(true);
        w.set_len_loc(len_loc::DW12);
        w.dw12.set(self.payload.length());
        w
    }

    /// Dword 5 bits 31-24: R_CTL (device model).
    pub fn r_ctl_of(w: &Wqe) -> u8 {
        (w.dw5.get() >> 24) as u8
    }

    /// Dword 5 bits 23-16: TYPE (device model).
    pub fn fc_type_of(w: &Wqe) -> u8 {
        (w.dw5.get() >> 16) as u8
    }
}

/// The answer an XMIT_BLS_RSP carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlsPayload {
    /// BA_ACC: SEQ_ID and its validity; SEQ_CNT range low..=high.
    Acc {
        /// SEQ_ID of the last deliverable sequence.
        seq_id: u8,
        /// SEQ_ID valid.
        seq_id_valid: bool,
        /// Low SEQ_CNT.
        low_seq_cnt: u16,
        /// High SEQ_CNT (LPFC 0xFFFF).
        high_seq_cnt: u16,
    },
    /// BA_RJT.
    Rjt {
        /// Reason.
        reason: u8,
        /// Explanation.
        explanation: u8,
        /// Vendor.
        vendor: u8,
    },
}

/// Parameters of an XMIT_BLS_RSP answering an ABTS (§5.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XmitBlsRsp {
    /// XRI.
    pub xri: u16,
    /// Context (LPFC always VPI).
    pub context: Context,
    /// Request tag.
    pub request_tag: u16,
    /// OX_ID of the aborted exchange.
    pub ox_id: u16,
    /// RX_ID of the aborted exchange.
    pub rx_id: u16,
    /// Our N_Port ID (dword 4, OCS).
    pub local_id: u32,
    /// The ABTS sender.
    pub remote_id: u32,
    /// Temporary RPI (dword 12).
    pub temp_rpi: u16,
    /// We were the exchange originator (XO, dword 5 bit 31).
    pub originator: bool,
    /// The answer.
    pub payload: BlsPayload,
}

impl XmitBlsRsp {
    /// The WQE: command type 0x8, QOSD=1, dword 5 PT=1, AR for BA_RJT.
    pub fn build(&self) -> Wqe {
        let mut w = Wqe::common(
            self.xri,
            self.context,
            wqe_cmd::XMIT_BLS_RSP,
            self.request_tag,
            cmd_type::GEN,
        );
        let mut dw5 = (self.remote_id & 0x00FF_FFFF) | 1 << 28;
        match self.payload {
            BlsPayload::Acc {
                seq_id,
                seq_id_valid,
                low_seq_cnt,
                high_seq_cnt,
            } => {
                let validity = if seq_id_valid { 0x80u32 } else { 0 };
                w.dw0.set(validity << 24 | u32::from(seq_id) << 16);
                w.dw2
                    .set(u32::from(low_seq_cnt) << 16 | u32::from(high_seq_cnt));
            }
            BlsPayload::Rjt {
                reason,
                explanation,
                vendor,
            } => {
                w.dw0
                    .set(u32::from(reason) << 16 | u32::from(explanation) << 8 | u32::from(vendor));
                dw5 |= 1 << 30;
            }
        }
        if self.originator {
            dw5 |= 1 << 31;
        }
        w.dw1
            .set(u32::from(self.ox_id) << 16 | u32::from(self.rx_id));
        w.dw4.set(self.local_id & 0x00FF_FFFF);
        w.dw5.set(dw5);
        w.set_qosd(true);
        w.dw12.set(self.temp_rpi.into());
        w
    }
}

/// Data direction of an FCP/NVMe I/O WQE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FcpKind {
    /// FCP_IREAD64: data target → host.
    Read,
    /// FCP_IWRITE64: data host → target.
    Write,
    /// FCP_ICMND64: no data.
    Cmnd,
}

/// Parameters of an FC-NVMe FCP_IREAD64 / FCP_IWRITE64 / FCP_ICMND64 in the
/// non-embedded mode (CMD IU in host memory, DBDE=1, 64-byte WQE; §5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FcpIo {
    /// Direction.
    pub kind: FcpKind,
    /// XRI (its SGL: CMD IU, RSP buffer, data).
    pub xri: u16,
    /// RPI of the target port.
    pub rpi: u16,
    /// Request tag.
    pub request_tag: u16,
    /// BDE of the CMD IU (96 bytes).
    pub cmd_iu: Bde,
    /// CMD IU length + RSP buffer length: where data starts in the SGL's byte
    /// space (dword 3 bits 15-0).
    pub payload_offset_len: u16,
    /// Total data bytes (dword 4; 0 for ICMND).
    pub total_len: u32,
    /// IWRITE: bytes sent without XFER_RDY, min(length, first burst) (dword 5).
    pub first_burst: u32,
    /// Timer in seconds (0 = none).
    pub timer: u8,
    /// The single data segment as a BDE for the PBDE hint (dwords 13-15,
    /// dword 11 bit 5) when GET_SLI4_PARAMETERS allows it.
    pub pbde: Option<Bde>,
    /// Set ERP (NSLER negotiated).
    pub erp: bool,
}

impl FcpIo {
    /// The WQE with NVME=1, CT=RPI; PU=2 and LEN_LOC=3 for read/write, QOSD
    /// for ICMND only.
    pub fn build(&self) -> Wqe {
        let (command, ctype) = match self.kind {
            FcpKind::Read => (wqe_cmd::FCP_IREAD64, cmd_type::FCP_IREAD),
            FcpKind::Write => (wqe_cmd::FCP_IWRITE64, cmd_type::FCP_IWRITE),
            FcpKind::Cmnd => (wqe_cmd::FCP_ICMND64, cmd_type::FCP_IREAD),
        };
        let mut w = Wqe::common(
            self.xri,
            Context::rpi(self.rpi),
            command,
            self.request_tag,
            ctype,
        );
        w.set_bde(&self.cmd_iu);
        w.dw3.set(self.payload_offset_len.into());
        w.set_timer(self.timer.into());
        w.set_erp(self.erp);
        w.set_nvme(true);
        w.set_dbde(true);
        match self.kind {
            FcpKind::Read | FcpKind::Write => {
                w.dw4.set(self.total_len);
                w.set_pu(PU_XFER_LEN);
                w.set_len_loc(len_loc::DW4);
                w.set_iod(self.kind == FcpKind::Read);
                if self.kind == FcpKind::Write {
                    w.dw5.set(self.first_burst);
                }
                if let Some(b) = &self.pbde {
                    w.set_bde_13(b);
                    w.set_pbde(true);
                }
            }
            FcpKind::Cmnd => w.set_qosd(true),
        }
        w
    }
}

/// Parameters of an ABORT_WQE (§5.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Abort {
    /// [`abort_criteria`].
    pub criteria: u32,
    /// The tag to match (XRI for criteria 1, abort tag for 2, ...).
    pub tag: u32,
    /// Request tag of the ABORT WQE itself.
    pub request_tag: u16,
    /// IA: abort locally, send no ABTS (link down).
    pub local_only: bool,
    /// IR: suppress ABTS retries (OCS sets it).
    pub no_retry: bool,
}

impl Abort {
    /// The WQE: command 0x0F, command type 0x8, QOSD=1, XRI and context 0.
    pub fn build(&self) -> Wqe {
        let mut w = Wqe::common(
            0,
            Context::rpi(0),
            wqe_cmd::ABORT,
            self.request_tag,
            cmd_type::GEN,
        );
        w.set_class(0);
        let mut dw3 = (self.criteria & 0xFF) << 8;
        if self.local_only {
            dw3 |= 1;
        }
        if self.no_retry {
            dw3 |= 2;
        }
        w.dw3.set(dw3);
        w.abort_tag.set(self.tag);
        w.set_qosd(true);
        w
    }

    /// ABORT criteria of a received ABORT WQE (device model).
    pub fn criteria_of(w: &Wqe) -> u32 {
        (w.dw3.get() >> 8) & 0xFF
    }

    /// ABORT IA bit of a received ABORT WQE (device model).
    pub fn local_only_of(w: &Wqe) -> bool {
        w.dw3.get() & 1 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dw(w: &Wqe, n: usize) -> u32 {
        let b = w.as_bytes();
        u32::from_le_bytes([b[4 * n], b[4 * n + 1], b[4 * n + 2], b[4 * n + 3]])
    }

    #[test]
    fn xmit_sequence_ls_rsp_golden() {
        let w = XmitSequence {
            xri: 0x21,
            rpi: 0x42,
            request_tag: 0x0009,
            ox_id: 0x1234,
            d_id: 0x01_0203,
            payload: Bde::host(0x2_0000_3000, 40),
            r_ctl: 0x33,
            fc_type: 0x28,
            flags: xmit_seq::LS,
        }
        .build();
        assert_eq!(dw(&w, 0), 40);
        assert_eq!((dw(&w, 1), dw(&w, 2)), (0x3000, 2));
        assert_eq!(dw(&w, 3), 0x01_0203);
        assert_eq!(dw(&w, 4), 0);
        assert_eq!(dw(&w, 5), 0x3328_0080);
        assert_eq!(dw(&w, 6), 0x0042_0021);
        // class 3 (2), command 0x82, CT=RPI (0).
        assert_eq!(dw(&w, 7), 0x0002_8200);
        assert_eq!(dw(&w, 8), 0);
        assert_eq!(dw(&w, 9), 0x1234_0009);
        // DBDE (bit 14), LEN_LOC=2 (bits 8-7), IOD=0.
        assert_eq!(dw(&w, 10), 1 << 14 | 2 << 7);
        assert_eq!(dw(&w, 11), 0xFFFF_0008);
        assert_eq!(dw(&w, 12), 40);
        assert_eq!((dw(&w, 13), dw(&w, 14), dw(&w, 15)), (0, 0, 0));
        assert_eq!(
            (XmitSequence::r_ctl_of(&w), XmitSequence::fc_type_of(&w)),
            (0x33, 0x28)
        );
    }

    #[test]
    fn els_request_flogi_golden() {
        let w = ElsRequest {
            xri: 0x10,
            context: Context::vpi(0x40),
            request_tag: 0x0007,
            temp_rpi: 0x20,
            payload: Bde::host(0x1_0000_2000, 116),
            max_rsp_len: 116,
            s_id: Some(0),
            d_id: 0xFF_FFFE,
            els_id: els_id::FLOGI,
            timer: 20,
        }
        .build();
        assert_eq!(dw(&w, 0), 116);
        assert_eq!((dw(&w, 1), dw(&w, 2)), (0x2000, 1));
        assert_eq!(dw(&w, 3), 116);
        assert_eq!(dw(&w, 4), 0x0100_0000);
        assert_eq!(dw(&w, 5), 0x00FF_FFFE);
        assert_eq!(dw(&w, 6), 0x0040_0010);
        // timer 20, class 3 (2), command 0x8A, CT=VPI (1 << 2).
        assert_eq!(dw(&w, 7), 0x1402_8A04);
        assert_eq!(dw(&w, 9), 0x0020_0007);
        // IOD 13, DBDE 14, QOSD 9.
        assert_eq!(dw(&w, 10), 1 << 14 | 1 << 13 | 1 << 9);
        // CQ id 0xFFFF, ELS id 3, command type 0xC.
        assert_eq!(dw(&w, 11), 0xFFFF_003C);
        assert_eq!(dw(&w, 12), 0);
        assert_eq!(dw(&w, 15), 116);
        assert!(cmd_type::is_els_request(w.cmd_type()));
        assert!(cmd_type::is_els_request(cmd_type::ELS_FIP));
    }

    #[test]
    fn gen_request_ct_golden() {
        let w = GenRequest {
            xri: 0x11,
            rpi: 0x21,
            request_tag: 9,
            payload: Bde::host(0x3000, 52),
            max_rsp_len: 2048,
            r_ctl: 0x02,
            fc_type: 0x20,
            timer: 60,
        }
        .build();
        assert_eq!(dw(&w, 3), 52);
        assert_eq!(dw(&w, 5), 0x0220_0000);
        assert_eq!(dw(&w, 6), 0x0021_0011);
        assert_eq!(dw(&w, 7), 0x3C02_C200);
        assert_eq!(dw(&w, 11), 0xFFFF_0008);
        assert_eq!(dw(&w, 15), 2048);
        assert_eq!(
            (GenRequest::r_ctl_of(&w), GenRequest::fc_type_of(&w)),
            (0x02, 0x20)
        );
    }

    #[test]
    fn xmit_els_rsp_golden() {
        let w = XmitElsRsp {
            xri: 0x12,
            context: Context::rpi(0x22),
            request_tag: 3,
            ox_id: 0xABCD,
            temp_rpi: 0x22,
            payload: Bde::host(0x4000, 4),
            s_id: None,
            d_id: 0x01_0203,
        }
        .build();
        assert_eq!(dw(&w, 4), 0);
        assert_eq!(dw(&w, 5), 0x01_0203);
        assert_eq!(dw(&w, 7) & 0xFF00, 0x9500);
        assert_eq!(dw(&w, 9), 0xABCD_0003);
        // DBDE, QOSD, LEN_LOC 1 (bit 7); IOD clear.
        assert_eq!(dw(&w, 10), 1 << 14 | 1 << 9 | 1 << 7);
        assert_eq!(dw(&w, 12), 0x22);
    }

    #[test]
    fn xmit_bls_rsp_golden() {
        let acc = XmitBlsRsp {
            xri: 1,
            context: Context::vpi(0),
            request_tag: 4,
            ox_id: 0x1111,
            rx_id: 0x2222,
            local_id: 0x01_0100,
            remote_id: 0x01_0200,
            temp_rpi: 5,
            originator: false,
            payload: BlsPayload::Acc {
                seq_id: 0,
                seq_id_valid: false,
                low_seq_cnt: 0,
                high_seq_cnt: 0xFFFF,
            },
        };
        let w = acc.build();
        assert_eq!(
            (dw(&w, 0), dw(&w, 1), dw(&w, 2)),
            (0, 0x1111_2222, 0x0000_FFFF)
        );
        assert_eq!(dw(&w, 5), 0x1001_0200);
        let rjt = XmitBlsRsp {
            payload: BlsPayload::Rjt {
                reason: 9,
                explanation: 3,
                vendor: 0,
            },
            originator: true,
            ..acc
        }
        .build();
        assert_eq!(dw(&rjt, 0), 0x0009_0300);
        assert_eq!(dw(&rjt, 5), 0xD001_0200);
        assert_eq!(rjt.command(), u32::from(wqe_cmd::XMIT_BLS_RSP));
    }

    #[test]
    fn fcp_io_golden() {
        let base = FcpIo {
            kind: FcpKind::Read,
            xri: 0x100,
            rpi: 0x30,
            request_tag: 0x55,
            cmd_iu: Bde::host(0x5000, 96),
            payload_offset_len: 96 + 32,
            total_len: 4096,
            first_burst: 0,
            timer: 0,
            pbde: Some(Bde::host(0x8000, 4096)),
            erp: false,
        };
        let r = base.build();
        assert_eq!(dw(&r, 0), 96);
        assert_eq!(dw(&r, 3), 128);
        assert_eq!(dw(&r, 4), 4096);
        // PU 2 (bit 21), class 3, command 0x9A, CT RPI.
        assert_eq!(dw(&r, 7), 0x0022_9A00);
        // DBDE 14, IOD 13, LEN_LOC 3 (bits 8-7), NVME 4.
        assert_eq!(dw(&r, 10), 1 << 14 | 1 << 13 | 3 << 7 | 1 << 4);
        // PBDE bit 5, command type 0.
        assert_eq!(dw(&r, 11), 0xFFFF_0020);
        assert_eq!((dw(&r, 13), dw(&r, 14)), (4096, 0x8000));
        let wr = FcpIo {
            kind: FcpKind::Write,
            first_burst: 2048,
            pbde: None,
            ..base
        }
        .build();
        assert_eq!(dw(&wr, 5), 2048);
        assert_eq!(dw(&wr, 7) & 0xFF00, 0x9800);
        assert!(!wr.iod() && wr.nvme());
        assert_eq!(wr.cmd_type(), cmd_type::FCP_IWRITE);
        let c = FcpIo {
            kind: FcpKind::Cmnd,
            total_len: 0,
            pbde: None,
            ..base
        }
        .build();
        assert_eq!(dw(&c, 4), 0);
        assert_eq!(c.pu(), 0);
        assert_eq!(dw(&c, 10), 1 << 14 | 1 << 9 | 1 << 4);
    }

    #[test]
    fn abort_golden() {
        let w = Abort {
            criteria: abort_criteria::XRI_TAG,
            tag: 0x100,
            request_tag: 0x77,
            local_only: true,
            no_retry: false,
        }
        .build();
        assert_eq!(dw(&w, 3), 0x0101);
        assert_eq!(dw(&w, 6), 0);
        assert_eq!(dw(&w, 7), 0x0F00);
        assert_eq!(dw(&w, 8), 0x100);
        assert_eq!(dw(&w, 9), 0x77);
        assert_eq!(dw(&w, 10), 1 << 9);
        assert_eq!(dw(&w, 11), 0xFFFF_0008);
        assert_eq!(
            (Abort::criteria_of(&w), Abort::local_only_of(&w)),
            (1, true)
        );
    }

    proptest! {
        #[test]
        fn common_words_round_trip(xri: u16, tag: u16, rt: u16, timer: u8, cq: u16, nvme: bool, wqec: bool) {
            let mut w = ElsRequest {
                xri,
                context: Context::rpi(tag),
                request_tag: rt,
                temp_rpi: 0,
                payload: Bde::default(),
                max_rsp_len: 0,
                s_id: None,
                d_id: 0,
                els_id: 0,
                timer,
            }
            .build();
            w.set_cq_id(cq.into());
            w.set_nvme(nvme);
            w.set_wqec(wqec);
            let back = Wqe::from_prefix(w.as_bytes()).unwrap();
            prop_assert_eq!(
                (back.xri_tag(), back.context_tag(), back.request_tag(), back.timer(), back.cq_id(), back.nvme(), back.wqec()),
                (xri.into(), tag.into(), rt.into(), timer.into(), cq.into(), nvme, wqec)
            );
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Some(w) = Wqe::from_prefix(&b) {
                let _ = (w.command(), w.cmd_type(), w.bde(), w.bde_13(), Abort::criteria_of(&w));
            }
        }
    }
}
