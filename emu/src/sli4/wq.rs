//! WQE execution (sli4.md §5): the port consumes posted WQEs in order,
//! posts a WQE-release CQE for those with WQEC, and dispatches on the WQE
//! command. Requests (ELS_REQUEST64, GEN_REQUEST64) open an exchange whose
//! OX_ID is the XRI: the request is sent through the fabric F_Port and the
//! exchange completes when the response frame arrives (response DMA'd into
//! SGE 1.. of the XRI's SGL, WCQE with the length placed and, for an ELS,
//! the response's D_ID in dword 2 — our N_Port ID after FLOGI), on timeout
//! (local reject 0x02), on link down (local reject 0x1A) or by ABORT.
//! Responses (XMIT_ELS_RSP64, XMIT_BLS_RSP, XMIT_SEQUENCE64 in `sequence`)
//! are sent and complete at once.
//!
//! FCP_IREAD64/IWRITE64/ICMND64 with the NVMe flag run at exchange level
//! against the target model (`fcp`).

use std::collections::BTreeMap;
use std::time::Duration;

use zerocopy::{FromBytes, IntoBytes};

use ufc_hba::fc::bls::{BaAcc, BaRjt};
use ufc_hba::fc::els::els_cmd;
use ufc_hba::fc::frame::Frame;
use ufc_hba::fc::header::{f_ctl, fc_type, r_ctl, FcHeader, FC_MAX_PAYLOAD};
use ufc_hba::sli4::cqe::{
    cqe_code, local_reject, wcqe_status, Wcqe, WqeReleaseCqe, XriAbortedCqe, CQE_LEN,
};
use ufc_hba::sli4::sge::{sge_type, Sge, SGE_LEN};
use ufc_hba::sli4::wqe::{cmd_type, context_type, wqe_cmd, Abort, GenRequest, Wqe, CQ_ID_DEFAULT};

use super::{bump, Sli4Model};
use crate::fabric::FabricError;

/// SGEs read from host memory at a time.
const MAX_SGES: usize = 16;
/// SGEs in one 4 KiB SGL page.
const SGES_PER_PAGE: usize = 4096 / SGE_LEN;

/// What an open exchange is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// ELS_REQUEST64: an ELS reply (LS_ACC or LS_RJT).
    Els,
    /// GEN_REQUEST64: a CT or FC-4 LS reply.
    Gen,
    /// FCP_IREAD64/IWRITE64/ICMND64: the target's completion (no frames).
    Fcp,
}

/// A buffer of the response: (IOVA, length).
type Seg = (u64, u32);

/// An exchange the port originated, awaiting its response.
#[derive(Clone, Debug)]
pub(crate) struct Exchange {
    pub(crate) kind: Kind,
    pub(crate) wq_id: u16,
    pub(crate) cq_id: u16,
    pub(crate) request_tag: u16,
    pub(crate) abort_tag: u32,
    pub(crate) d_id: u32,
    /// Response buffers (SGE 1.. of the SGL), at most MAX_SGES.
    pub(crate) rsp: Vec<Seg>,
    /// Maximum response length (WQE dword 15; 0 = the buffers' length).
    pub(crate) max_rsp: u32,
    /// When the port gives up (WQE timer); `None`: never.
    pub(crate) deadline: Option<Duration>,
    /// An FC-NVMe command the target holds (Async Event Request).
    pub(crate) held: Option<super::fcp::HeldFcp>,
    /// The target sent an ABTS for this exchange and waits for the answer.
    pub(crate) target_abts: Option<super::target_abts::TargetAbts>,
    /// The target completed this FCP exchange; its completion waits for the
    /// FCP latency (`fcp_latency`).
    pub(crate) delayed: Option<super::fcp_latency::DelayedFcp>,
}

/// An exchange being aborted with ABTS: the XRI-aborted CQE follows the
/// BA_ACC/BA_RJT, or the deadline.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Aborting {
    pub(crate) cq_id: u16,
    pub(crate) deadline: Duration,
}

/// The exchanges in flight, by XRI (= OX_ID).
#[derive(Debug, Default)]
pub(crate) struct Exchanges {
    pub(crate) open: super::exchange_table::ExchangeTable,
    pub(crate) aborting: BTreeMap<u16, Aborting>,
    /// Exchange numbers handed to the target model (unique per port life).
    pub(crate) next_fcp: u64,
    /// The order in which delayed FCP completions fall due.
    pub(crate) due: super::fcp_latency::DueFifo,
    /// The earliest deadline of `open` and `aborting` when last computed, or
    /// armed since: a lower bound (an exchange that ended early may have set
    /// it), so the timers scan the exchanges only when one may have expired.
    next_deadline: Option<Duration>,
    /// (XRI, target exchange number) of the exchanges the target holds, so a
    /// poll looks at these and not at every exchange in flight. Entries whose
    /// exchange ended otherwise are pruned when met.
    pub(crate) held: Vec<(u16, u64)>,
}

impl Exchanges {
    /// No exchange yet; room for an exchange and a delayed completion per
    /// XRI of `xris` without allocating on the I/O path.
    pub(crate) fn new(xris: super::resources::Range) -> Exchanges {
        Exchanges {
            open: super::exchange_table::ExchangeTable::new(xris),
            due: super::fcp_latency::DueFifo::with_capacity(xris.count.into()),
            ..Exchanges::default()
        }
    }

    /// A WQ was destroyed: its exchanges vanish.
    pub(crate) fn drop_wq(&mut self, wq_id: u16) {
        self.open.retain(|x| x.wq_id != wq_id);
    }

    /// Opens exchange `xri` (every open exchange enters here: its deadline
    /// and a held command must be seen by the timers and the poll).
    pub(crate) fn insert(&mut self, xri: u16, x: Exchange) {
        if let Some(d) = x.deadline {
            self.arm(d);
        }
        if let Some(h) = &x.held {
            self.held.push((xri, h.xchg));
        }
        self.open.insert(xri, x);
    }

    /// `xri` waits for the answer to its ABTS until `a.deadline`.
    pub(crate) fn insert_aborting(&mut self, xri: u16, a: Aborting) {
        self.arm(a.deadline);
        self.aborting.insert(xri, a);
    }

    fn arm(&mut self, d: Duration) {
        self.next_deadline = Some(self.next_deadline.map_or(d, |n| n.min(d)));
    }

    /// Whether a deadline may have passed at `now`.
    pub(crate) fn may_expire(&self, now: Duration) -> bool {
        self.next_deadline.is_some_and(|d| d <= now)
    }

    /// Recomputes the earliest deadline after expired ones were handled.
    pub(crate) fn rearm(&mut self) {
        let open = self.open.values().filter_map(|x| x.deadline);
        let aborting = self.aborting.values().map(|a| a.deadline);
        self.next_deadline = open.chain(aborting).min();
    }

    pub(crate) fn busy(&self, xri: u16) -> bool {
        self.open.contains_key(&xri) || self.aborting.contains_key(&xri)
    }
}

/// A WQE's immediate result.
pub(crate) enum Outcome {
    /// Complete now with this WCQE (request tag filled in by the caller).
    Done(Wcqe),
    /// An exchange is open; it completes later.
    Open,
}

/// Whether `w` is an FC-NVMe I/O WQE (its completion may go through hostile
/// mode when it reached a target connection).
fn is_fcp(w: &Wqe) -> bool {
    matches!(
        w.command() as u8,
        wqe_cmd::FCP_IREAD64 | wqe_cmd::FCP_IWRITE64 | wqe_cmd::FCP_ICMND64
    )
}

pub(crate) fn reject(reason: u8) -> Outcome {
    Outcome::Done(Wcqe::new(
        0,
        wcqe_status::LOCAL_REJECT,
        0,
        reason.into(),
        true,
    ))
}

pub(crate) fn success(placed: u32, parameter: u32) -> Outcome {
    Outcome::Done(Wcqe::new(0, wcqe_status::SUCCESS, placed, parameter, true))
}

pub(crate) fn entry<T: IntoBytes + zerocopy::Immutable>(c: &T) -> [u8; CQE_LEN] {
    let mut e = [0u8; CQE_LEN];
    e.copy_from_slice(&c.as_bytes()[..CQE_LEN]);
    e
}

impl Sli4Model {
    /// Our N_Port ID while fabric-logged-in, else 0.
    pub(crate) fn my_id(&self) -> u32 {
        self.func
            .host
            .as_ref()
            .and_then(|h| h.n_port_id())
            .unwrap_or(0)
    }

    /// Sends a frame; `Err(reason)` is the local-reject reason.
    pub(crate) fn send(&mut self, frame: Frame) -> Result<(), u8> {
        let Some(h) = self.func.host.as_ref() else {
            return Err(local_reject::LINK_DOWN);
        };
        if self.func.link.up.is_none() {
            return Err(local_reject::LINK_DOWN);
        }
        match h.send_frame(frame) {
            Ok(()) => {
                bump(&self.counters().frames_sent);
                Ok(())
            }
            Err(FabricError::LinkDown(_)) => Err(local_reject::LINK_DOWN),
            Err(e) => {
                log::warn!("sli4 model: frame refused: {e}");
                Err(local_reject::ILLEGAL_FRAME)
            }
        }
    }

    /// Consumes the posted WQEs of `wq_id`.
    pub(crate) fn run_wq(&mut self, wq_id: u16) {
        while self.regs.is_ready() {
            let Some(wq) = self.func.queues.wqs.get_mut(&wq_id) else {
                return;
            };
            if wq.posted == 0 {
                return;
            }
            let index = wq.cidx;
            let addr = wq.ring.addr(index);
            wq.cidx = (wq.cidx + 1) % wq.ring.entries();
            wq.posted -= 1;
            let wq_cq = wq.cq_id;
            bump(&self.counters().wqes);
            let mut w = Wqe::default();
            if let Err(e) = self.view.read(addr, w.as_mut_bytes()) {
                // Without the WQE there is no request tag to complete.
                self.dma_failed("WQE", &e);
                continue;
            }
            if w.wqec() {
                let mut r = WqeReleaseCqe::default();
                r.set_wqe_index(index);
                r.set_wq_id(wq_id.into());
                r.set_code(cqe_code::WQE_RELEASE.into());
                self.post_cqe(wq_cq, entry(&r), "WQE release CQE");
            }
            let cq_id = match w.cq_id() as u16 {
                CQ_ID_DEFAULT => wq_cq,
                id if self.func.queues.cqs.contains_key(&id) => id,
                _ => wq_cq,
            };
            if let Outcome::Done(mut wcqe) = self.execute_wqe(wq_id, cq_id, &w) {
                wcqe.set_request_tag(w.request_tag());
                if let (true, Some(qid)) = (is_fcp(&w), self.fcp_scratch.last_qid) {
                    let rsp = self.fcp_scratch.last_rsp;
                    self.complete_fcp(cq_id, wcqe, rsp, w.dw4.get(), qid);
                } else {
                    self.complete(cq_id, wcqe);
                }
            }
        }
    }

    /// Posts a WCQE, counting ERSPs and failures.
    pub(crate) fn complete(&mut self, cq_id: u16, wcqe: Wcqe) {
        match wcqe.status() {
            s if s == u32::from(wcqe_status::SUCCESS) => {}
            // Only FCP WQEs complete with 0x01, and only for a full ERSP.
            s if s == u32::from(wcqe_status::FCP_RSP_FAILURE) => {
                bump(&self.counters().ersps);
            }
            _ => bump(&self.counters().wqe_errors),
        }
        self.post_cqe(cq_id, entry(&wcqe), "WCQE");
    }

    /// Executes one WQE (dispatch on the command).
    fn execute_wqe(&mut self, wq_id: u16, cq_id: u16, w: &Wqe) -> Outcome {
        match w.command() as u8 {
            wqe_cmd::ELS_REQUEST64 => self.els_request(wq_id, cq_id, w),
            wqe_cmd::GEN_REQUEST64 => self.gen_request(wq_id, cq_id, w),
            wqe_cmd::XMIT_ELS_RSP64 => self.xmit_els_rsp(w),
            wqe_cmd::XMIT_BLS_RSP => self.xmit_bls_rsp(w),
            wqe_cmd::XMIT_SEQUENCE64 => self.xmit_sequence(w),
            wqe_cmd::ABORT => self.abort(w),
            // Issue 5: FC-NVMe I/O against the target (fabric.target_for).
            wqe_cmd::FCP_IREAD64 | wqe_cmd::FCP_IWRITE64 | wqe_cmd::FCP_ICMND64 => {
                self.fcp_io(wq_id, cq_id, w)
            }
            other => {
                log::debug!("sli4 model: WQE command {other:#04x} not supported");
                reject(local_reject::ILLEGAL_COMMAND)
            }
        }
    }

    /// The data SGEs of the SGL a WQE uses: the BLP's (XBL) or the XRI's
    /// (one or two pages), up to the LAST SGE; SKIP entries are left out.
    pub(crate) fn sgl(&self, w: &Wqe, out: &mut Vec<Sge>) -> Result<(), u8> {
        out.clear();
        let pages = if w.xbl() {
            [w.bde().addr(), 0]
        } else {
            let s = self
                .func
                .res
                .sgl(w.xri_tag() as u16)
                .ok_or(local_reject::NO_XRI)?;
            [s.page0, s.page1]
        };
        let mut raw = [0u8; MAX_SGES * SGE_LEN];
        for page in pages.into_iter().filter(|p| *p != 0) {
            for chunk in 0..SGES_PER_PAGE / MAX_SGES {
                let at = page + (chunk * MAX_SGES * SGE_LEN) as u64;
                self.view.read(at, &mut raw).map_err(|e| {
                    self.dma_failed("SGL", &e);
                    local_reject::TX_DMA_FAILED
                })?;
                for c in raw.chunks_exact(SGE_LEN) {
                    let s = Sge::read_from_bytes(c).map_err(|_| local_reject::INTERNAL_ERROR)?;
                    if s.sge_type() == sge_type::DATA {
                        out.push(s);
                    }
                    if s.last() {
                        return Ok(());
                    }
                }
            }
        }
        // No LAST within the SGL's pages.
        Err(local_reject::ILLEGAL_FIELD)
    }

    /// The request payload (BDE with DBDE, else SGE 0; `len` bytes) and the
    /// response buffers (SGE 1..).
    pub(crate) fn request_buffers(&self, w: &Wqe, len: u32) -> Result<(Vec<u8>, Vec<Seg>), u8> {
        let mut sges = Vec::with_capacity(4);
        self.sgl(w, &mut sges)?;
        let (src, cap) = if w.dbde() {
            let b = w.bde();
            (b.addr(), b.length())
        } else {
            let s = sges.first().ok_or(local_reject::ILLEGAL_FIELD)?;
            (s.addr(), s.len())
        };
        if len as usize > FC_MAX_PAYLOAD || len > cap {
            return Err(local_reject::ILLEGAL_LENGTH);
        }
        let mut payload = vec![0u8; len as usize];
        self.view.read(src, &mut payload).map_err(|e| {
            self.dma_failed("request payload", &e);
            local_reject::TX_DMA_FAILED
        })?;
        let rsp = sges.iter().skip(1).map(|s| (s.addr(), s.len())).collect();
        Ok((payload, rsp))
    }

    fn timer(&self, w: &Wqe) -> Duration {
        match w.timer() {
            // 0: 2 x R_A_TOV (OCS, for ELS).
            0 => 2 * self.fabric.config().r_a_tov,
            s => Duration::from_secs(s.into()),
        }
    }

    fn open(&mut self, x: Exchange, xri: u16, frame: Frame) -> Outcome {
        if let Err(reason) = self.send(frame) {
            return reject(reason);
        }
        self.func.xchg.insert(xri, x);
        Outcome::Open
    }

    fn els_request(&mut self, wq_id: u16, cq_id: u16, w: &Wqe) -> Outcome {
        // Command type 0xC (LPFC) or 0xD (OCS for fabric logins): both
        // accepted (sli4.md §8).
        if !cmd_type::is_els_request(w.cmd_type()) {
            return reject(local_reject::ILLEGAL_FIELD);
        }
        let xri = w.xri_tag() as u16;
        if self.func.xchg.busy(xri) {
            return reject(local_reject::NO_XRI);
        }
        let (payload, rsp) = match self.request_buffers(w, w.dw3.get()) {
            Ok(b) => b,
            Err(r) => return reject(r),
        };
        let d_id = w.dw5.get() & 0x00FF_FFFF;
        let dw4 = w.dw4.get();
        // SP: S_ID from the WQE (FLOGI: 0); else our address. LPFC sends
        // PLOGI with SP=1 and our DID, OCS with SP=0: both end up the same.
        let s_id = if dw4 & 1 << 24 != 0 {
            dw4 & 0x00FF_FFFF
        } else {
            self.my_id()
        };
        let frame = Frame::new(
            FcHeader::request(r_ctl::ELS_REQ, fc_type::ELS, d_id, s_id, xri),
            payload,
        );
        let x = Exchange {
            kind: Kind::Els,
            wq_id,
            cq_id,
            request_tag: w.request_tag() as u16,
            abort_tag: w.abort_tag.get(),
            d_id,
            rsp,
            max_rsp: w.dw15.get(),
            deadline: Some(self.clock.now() + self.timer(w)),
            held: None,
            target_abts: None,
            delayed: None,
        };
        self.open(x, xri, frame)
    }

    fn gen_request(&mut self, wq_id: u16, cq_id: u16, w: &Wqe) -> Outcome {
        let xri = w.xri_tag() as u16;
        if self.func.xchg.busy(xri) {
            return reject(local_reject::NO_XRI);
        }
        let d_id = if w.hlm() {
            w.dw12.get() & 0x00FF_FFFF
        } else if w.ct() == context_type::RPI {
            match self.func.res.rpis.get(&(w.context_tag() as u16)) {
                Some(r) => r.d_id,
                None => return reject(local_reject::INVALID_RPI),
            }
        } else {
            return reject(local_reject::ILLEGAL_FIELD);
        };
        let (payload, rsp) = match self.request_buffers(w, w.dw3.get()) {
            Ok(b) => b,
            Err(r) => return reject(r),
        };
        let mut h = FcHeader::request(
            GenRequest::r_ctl_of(w),
            GenRequest::fc_type_of(w),
            d_id,
            self.my_id(),
            xri,
        );
        h.df_ctl = (w.dw5.get() >> 8) as u8;
        let x = Exchange {
            kind: Kind::Gen,
            wq_id,
            cq_id,
            request_tag: w.request_tag() as u16,
            abort_tag: w.abort_tag.get(),
            d_id,
            rsp,
            max_rsp: w.dw15.get(),
            deadline: Some(self.clock.now() + self.timer(w)),
            held: None,
            target_abts: None,
            delayed: None,
        };
        self.open(x, xri, Frame::new(h, payload))
    }

    fn xmit_els_rsp(&mut self, w: &Wqe) -> Outcome {
        let len = w.dw3.get();
        let payload = if w.dbde() {
            let b = w.bde();
            if len > b.length() || len as usize > FC_MAX_PAYLOAD {
                return reject(local_reject::ILLEGAL_LENGTH);
            }
            let mut p = vec![0u8; len as usize];
            if let Err(e) = self.view.read(b.addr(), &mut p) {
                self.dma_failed("ELS response payload", &e);
                return reject(local_reject::TX_DMA_FAILED);
            }
            p
        } else {
            match self.request_buffers(w, len) {
                Ok((p, _)) => p,
                Err(r) => return reject(r),
            }
        };
        let dw4 = w.dw4.get();
        let s_id = if dw4 & 1 << 24 != 0 {
            dw4 & 0x00FF_FFFF
        } else {
            self.my_id()
        };
        let mut h = FcHeader::new(
            r_ctl::ELS_REP,
            fc_type::ELS,
            w.dw5.get() & 0x00FF_FFFF,
            s_id,
            f_ctl::SINGLE_FRAME_RSP,
            w.dw9_hi() as u16,
        );
        // The port answers on the responder side of the exchange with the XRI
        // the driver gave as RX_ID.
        h.rx_id.set(w.xri_tag() as u16);
        match self.send(Frame::new(h, payload)) {
            Ok(()) => success(len, 0),
            Err(r) => reject(r),
        }
    }

    fn xmit_bls_rsp(&mut self, w: &Wqe) -> Outcome {
        if let Some(done) = self.answer_target_abts(w) {
            return done;
        }
        let dw5 = w.dw5.get();
        let (ox_id, rx_id) = ((w.dw1.get() >> 16) as u16, w.dw1.get() as u16);
        let d0 = w.dw0.get();
        let (rctl, payload) = if dw5 & 1 << 30 != 0 {
            let mut r = BaRjt::new((d0 >> 16) as u8, (d0 >> 8) as u8);
            r.vendor = d0 as u8;
            (r_ctl::BLS_BA_RJT, r.as_bytes().to_vec())
        } else {
            let mut a = BaAcc::whole_exchange(ox_id, rx_id);
            a.seq_id_validity = (d0 >> 24) as u8;
            a.seq_id = (d0 >> 16) as u8;
            a.low_seq_cnt.set((w.dw2.get() >> 16) as u16);
            a.high_seq_cnt.set(w.dw2.get() as u16);
            (r_ctl::BLS_BA_ACC, a.as_bytes().to_vec())
        };
        // XO (bit 31): we originated the aborted exchange.
        let responder = if dw5 & 1 << 31 != 0 {
            0
        } else {
            f_ctl::EXCH_RESPONDER
        };
        let mut h = FcHeader::new(
            rctl,
            fc_type::BLS,
            dw5 & 0x00FF_FFFF,
            self.my_id(),
            responder | f_ctl::LAST_SEQ | f_ctl::END_SEQ,
            ox_id,
        );
        h.rx_id.set(rx_id);
        match self.send(Frame::new(h, payload)) {
            Ok(()) => success(0, 0),
            Err(r) => reject(r),
        }
    }

    fn abort(&mut self, w: &Wqe) -> Outcome {
        let tag = w.abort_tag.get();
        let found = match Abort::criteria_of(w) {
            1 => self
                .func
                .xchg
                .open
                .contains_key(&(tag as u16))
                .then_some(tag as u16),
            2 => self
                .func
                .xchg
                .open
                .iter()
                .find(|(_, x)| x.abort_tag == tag)
                .map(|(xri, _)| xri),
            3 => self
                .func
                .xchg
                .open
                .iter()
                .find(|(_, x)| u32::from(x.request_tag) == tag)
                .map(|(xri, _)| xri),
            _ => return reject(local_reject::ILLEGAL_FIELD),
        };
        let Some(xri) = found else {
            return reject(local_reject::NO_ABORT_MATCH);
        };
        let Some(x) = self.func.xchg.open.remove(&xri) else {
            return reject(local_reject::NO_ABORT_MATCH);
        };
        if let Some(h) = &x.held {
            h.conn.abort(h.xchg);
        }
        // IA: abort locally, no ABTS, the XRI is free at once. Otherwise the
        // ABTS goes out and the XRI stays busy until the XRI-aborted CQE.
        let local = Abort::local_only_of(w) || self.func.link.up.is_none();
        let mut busy = false;
        if !local {
            let mut h = FcHeader::new(
                r_ctl::BLS_ABTS,
                fc_type::BLS,
                x.d_id,
                self.my_id(),
                f_ctl::SEQ_INITIATIVE | f_ctl::END_SEQ | f_ctl::LAST_SEQ,
                xri,
            );
            h.parameter.set(0);
            if self.send(Frame::new(h, Vec::new())).is_ok() {
                busy = true;
                let deadline = self.clock.now() + 2 * self.fabric.config().r_a_tov;
                self.func.xchg.insert_aborting(
                    xri,
                    Aborting {
                        cq_id: x.cq_id,
                        deadline,
                    },
                );
            }
        }
        let mut victim = Wcqe::new(
            x.request_tag,
            wcqe_status::LOCAL_REJECT,
            0,
            local_reject::ABORT_REQUESTED.into(),
            true,
        );
        victim.set_xb(busy);
        self.complete(x.cq_id, victim);
        success(0, 0)
    }

    /// A response frame for an open exchange; false if it matched none.
    pub(crate) fn exchange_response(&mut self, f: &Frame) -> bool {
        let ox_id = f.header.ox_id.get();
        if matches!(f.header.r_ctl, r_ctl::BLS_BA_ACC | r_ctl::BLS_BA_RJT) {
            let Some(a) = self.func.xchg.aborting.remove(&ox_id) else {
                return false;
            };
            self.xri_aborted(ox_id, a.cq_id, f.header.r_ctl == r_ctl::BLS_BA_RJT);
            return true;
        }
        if !f.header.is_from_responder() {
            return false;
        }
        let Some(x) = self.func.xchg.open.get(&ox_id) else {
            return false;
        };
        let expected = match x.kind {
            Kind::Els => f.header.r_ctl == r_ctl::ELS_REP,
            Kind::Gen => matches!(f.header.r_ctl, r_ctl::SOL_CTL | r_ctl::FC4_LS_REP),
            Kind::Fcp => false,
        };
        if !expected || f.header.s_id() != x.d_id {
            return false;
        }
        let Some(x) = self.func.xchg.open.remove(&ox_id) else {
            return false;
        };
        let wcqe = self.place_response(&x, f);
        self.complete(x.cq_id, wcqe);
        true
    }

    /// DMAs the response payload into the exchange's buffers; the WCQE.
    fn place_response(&self, x: &Exchange, f: &Frame) -> Wcqe {
        let cap: u64 = x.rsp.iter().map(|(_, l)| u64::from(*l)).sum();
        let cap = if x.max_rsp != 0 {
            cap.min(x.max_rsp.into())
        } else {
            cap
        } as usize;
        let n = f.payload.len().min(cap);
        let mut at = 0;
        for &(addr, len) in &x.rsp {
            if at >= n {
                break;
            }
            let k = (len as usize).min(n - at);
            if let Err(e) = self.view.write(addr, &f.payload[at..at + k]) {
                self.dma_failed("response buffer", &e);
                return Wcqe::new(
                    x.request_tag,
                    wcqe_status::LOCAL_REJECT,
                    0,
                    local_reject::RX_DMA_FAILED.into(),
                    true,
                );
            }
            at += k;
        }
        let (status, parameter) = match x.kind {
            Kind::Els if f.payload.first() == Some(&els_cmd::LS_RJT) => {
                // LS_RJT: dword 2 = reject word (reserved, reason, explanation, vendor).
                let mut rj = [0u8; 4];
                let src = f.payload.get(4..8).unwrap_or(&[0; 4]);
                rj.copy_from_slice(src);
                (wcqe_status::LS_RJT, u32::from_be_bytes(rj))
            }
            // The D_ID of the response: our address (assigned by FLOGI).
            Kind::Els => (wcqe_status::SUCCESS, f.header.d_id()),
            Kind::Gen | Kind::Fcp => (wcqe_status::SUCCESS, 0),
        };
        let mut w = Wcqe::new(x.request_tag, status, n as u32, parameter, true);
        if n < f.payload.len() {
            // Hardware status 2: overrun (more arrived than the buffers hold).
            w.set_hw_status(2);
        }
        w
    }

    /// Posts the XRI-aborted CQE for `xri`.
    pub(crate) fn xri_aborted(&mut self, xri: u16, cq_id: u16, ba_rjt: bool) {
        let mut c = XriAbortedCqe::default();
        c.set_xri(xri.into());
        c.set_code(cqe_code::XRI_ABORTED.into());
        c.set_eo(true);
        c.set_br(ba_rjt);
        self.post_cqe(cq_id, entry(&c), "XRI aborted CQE");
    }

    /// Times out exchanges and ABTS waits; true if any.
    pub(crate) fn exchange_timers(&mut self, now: Duration) -> bool {
        if !self.func.xchg.may_expire(now) {
            return false;
        }
        let late: Vec<u16> = self
            .func
            .xchg
            .open
            .iter()
            .filter(|(_, x)| x.deadline.is_some_and(|d| d <= now))
            .map(|(xri, _)| xri)
            .collect();
        let stuck: Vec<(u16, u16)> = self
            .func
            .xchg
            .aborting
            .iter()
            .filter(|(_, a)| a.deadline <= now)
            .map(|(xri, a)| (*xri, a.cq_id))
            .collect();
        let any = !late.is_empty() || !stuck.is_empty();
        for xri in late {
            if let Some(x) = self.func.xchg.open.remove(&xri) {
                let w = Wcqe::new(
                    x.request_tag,
                    wcqe_status::LOCAL_REJECT,
                    0,
                    local_reject::SEQUENCE_TIMEOUT.into(),
                    true,
                );
                self.complete(x.cq_id, w);
            }
        }
        for (xri, cq_id) in stuck {
            self.func.xchg.aborting.remove(&xri);
            self.xri_aborted(xri, cq_id, false);
        }
        self.func.xchg.rearm();
        any
    }

    /// Link down: every open exchange completes with local reject "link down".
    pub(crate) fn fail_exchanges_link_down(&mut self) {
        self.func.xchg.due.clear();
        self.func.xchg.held.clear();
        let open = self.func.xchg.open.take_all();
        for (_, x) in open {
            if let Some(h) = &x.held {
                h.conn.abort(h.xchg);
            }
            let w = Wcqe::new(
                x.request_tag,
                wcqe_status::LOCAL_REJECT,
                0,
                local_reject::LINK_DOWN.into(),
                true,
            );
            self.complete(x.cq_id, w);
        }
        let aborting = std::mem::take(&mut self.func.xchg.aborting);
        for (xri, a) in aborting {
            self.xri_aborted(xri, a.cq_id, false);
        }
    }
}
