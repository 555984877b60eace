//! FC-NVMe I/O WQEs (sli4.md §5.6, issue 5): FCP_IREAD64, FCP_IWRITE64 and
//! FCP_ICMND64 with the NVMe flag, in the non-embedded mode (64-byte WQE; the
//! XRI's SGL holds the CMD IU at SGE 0, the RSP buffer at SGE 1 and the data
//! from SGE 2; with DBDE the WQE's BDE names the CMD IU too).
//!
//! The model runs the exchange against the target port at exchange level
//! (the fabric's FCP path, [`crate::fabric::Fabric::target_for`]), moving
//! data through its DMA view, and completes as §5.6 describes: status 0 for
//! the all-zero short response, status 0x01 with dword 2 = 32 and the ERSP
//! IU in the RSP buffer for an ERSP; a target that aborts the exchange
//! (ABTS) gives status 0x02 "remote stop" (the status a Lancer reports for a
//! target's ABTS was not found). A held command (Async Event Request)
//! completes when the target releases it. Without an NVMe login the frames
//! are lost: the exchange waits for its timer or an ABORT.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ufc_hba::sli4::cqe::{local_reject, wcqe_status, Wcqe};
use ufc_hba::sli4::sge::Sge;
use ufc_hba::sli4::wqe::{context_type, Wqe};
use ufc_transport::lldd::{Sge as HostSge, CMD_IU_LEN, ERSP_IU_LEN};

use super::fcp_latency::DelayedFcp;
use super::wq::{reject, Exchange, Kind, Outcome};
use super::{bump, Sli4Model};
use crate::target::connection::Connection;
use crate::target::fcp::cmd_iu_connection_id;
use crate::target::{FcpOutcome, Rsp};

/// An FC-NVMe command the target holds.
#[derive(Clone, Debug)]
pub(crate) struct HeldFcp {
    pub(crate) conn: Arc<Connection>,
    pub(crate) xchg: u64,
    /// The RSP buffer (SGE 1).
    pub(crate) rsp: (u64, u32),
}

/// Reusable buffers and lookups of the I/O path: no allocation, no fabric
/// lock and no reference-count traffic per I/O once a connection is known.
#[derive(Debug, Default)]
pub(crate) struct FcpScratch {
    sges: Vec<Sge>,
    data: Vec<HostSge>,
    /// Live connections by (target N_Port ID, connection id).
    conns: BTreeMap<(u32, u64), Arc<Connection>>,
    /// The RSP buffer (SGE 1) of the last FCP WQE run, for hostile mode.
    pub(crate) last_rsp: Option<(u64, u32)>,
    /// The NVMe queue id of the last FCP WQE's connection, if it reached one.
    pub(crate) last_qid: Option<u16>,
}

impl FcpScratch {
    /// Forgets the cached connections (port reset, link down).
    pub(crate) fn forget(&mut self) {
        self.conns.clear();
    }
}

impl Sli4Model {
    /// Executes an FCP I/O WQE.
    pub(crate) fn fcp_io(&mut self, wq_id: u16, cq_id: u16, w: &Wqe) -> Outcome {
        if !w.nvme() {
            // SCSI FCP is not modelled.
            return reject(local_reject::UNSUPPORTED_FEATURE);
        }
        if w.wqes() {
            // The embedded CMD IU of 128-byte WQEs is not modelled (XECB=0).
            return reject(local_reject::UNSUPPORTED_FEATURE);
        }
        let xri = w.xri_tag() as u16;
        if self.func.xchg.busy(xri) {
            return reject(local_reject::NO_XRI);
        }
        if w.ct() != context_type::RPI {
            return reject(local_reject::ILLEGAL_FIELD);
        }
        let Some(d_id) = self
            .func
            .res
            .rpis
            .get(&(w.context_tag() as u16))
            .map(|r| r.d_id)
        else {
            return reject(local_reject::INVALID_RPI);
        };
        let mut scratch = std::mem::take(&mut self.fcp_scratch);
        scratch.last_rsp = None;
        scratch.last_qid = None;
        let out = self.fcp_run(wq_id, cq_id, w, d_id, &mut scratch);
        self.fcp_scratch = scratch;
        out
    }

    fn fcp_run(
        &mut self,
        wq_id: u16,
        cq_id: u16,
        w: &Wqe,
        d_id: u32,
        sc: &mut FcpScratch,
    ) -> Outcome {
        if let Err(r) = self.sgl(w, &mut sc.sges) {
            return reject(r);
        }
        let (iu_addr, iu_len) = if w.dbde() {
            let b = w.bde();
            (b.addr(), b.length())
        } else {
            match sc.sges.first() {
                Some(s) => (s.addr(), s.len()),
                None => return reject(local_reject::ILLEGAL_FIELD),
            }
        };
        let Some(rsp) = sc.sges.get(1).map(|s| (s.addr(), s.len())) else {
            return reject(local_reject::ILLEGAL_FIELD);
        };
        sc.last_rsp = Some(rsp);
        if (iu_len as usize) < CMD_IU_LEN {
            return reject(local_reject::ILLEGAL_LENGTH);
        }
        let mut iu = [0u8; CMD_IU_LEN];
        if let Err(e) = self.view.read(iu_addr, &mut iu) {
            self.dma_failed("CMD IU", &e);
            return reject(local_reject::TX_DMA_FAILED);
        }
        sc.data.clear();
        sc.data.extend(sc.sges.iter().skip(2).map(|s| HostSge {
            iova: s.addr(),
            len: s.len(),
        }));
        let xri = w.xri_tag() as u16;
        let deadline = match w.timer() {
            0 => None,
            t => Some(self.clock.now() + Duration::from_secs(t.into())),
        };
        let mut x = Exchange {
            kind: Kind::Fcp,
            wq_id,
            cq_id,
            request_tag: w.request_tag() as u16,
            abort_tag: w.abort_tag.get(),
            d_id,
            rsp: Vec::new(),
            max_rsp: 0,
            deadline,
            held: None,
            target_abts: None,
            delayed: None,
        };
        if self.func.link.up.is_none() {
            return reject(local_reject::LINK_DOWN);
        }
        let key = (d_id, cmd_iu_connection_id(&iu));
        if !sc.conns.get(&key).is_some_and(|c| c.is_live()) {
            // Slow path: a connection not seen yet, or one that ended.
            sc.conns.remove(&key);
            let me = self.my_id();
            if !self.fabric.nvme_logged_in(me, d_id) {
                // The target discards frames without a login: nothing comes back.
                bump(&self.counters().frames_dropped);
                self.func.xchg.insert(xri, x);
                return Outcome::Open;
            }
            match self
                .fabric
                .target_for(d_id)
                .and_then(|t| t.connection(key.1))
            {
                Some(c) => {
                    sc.conns.insert(key, c);
                }
                // Logged in but no such connection: the target aborts (ABTS).
                None => return remote_stop(),
            }
        }
        let Some(conn) = sc.conns.get(&key) else {
            return remote_stop();
        };
        sc.last_qid = Some(conn.qid());
        if self.fcp_faults.drop_next > 0 {
            // Lost on the way: the target never sees the command.
            self.fcp_faults.drop_next -= 1;
            bump(&self.counters().fcp_dropped);
            self.func.xchg.insert(xri, x);
            return Outcome::Open;
        }
        if self.fcp_faults.abts_next > 0 {
            self.fcp_faults.abts_next -= 1;
            self.send_target_abts(xri, x);
            return Outcome::Open;
        }
        self.func.xchg.next_fcp = self.func.xchg.next_fcp.wrapping_add(1);
        let xchg = self.func.xchg.next_fcp;
        match conn.handle_fcp(xchg, &iu, &sc.data, &self.view) {
            FcpOutcome::Complete {
                transferred,
                rsp: r,
            } => match self.fcp_faults.latency {
                Some(l) if !l.is_zero() => {
                    let qid = conn.qid();
                    let done = DelayedFcp {
                        due: self.clock.now() + l,
                        seq: xchg,
                        transferred,
                        rsp: r,
                        rsp_buf: rsp,
                        req_len: w.dw4.get(),
                        qid,
                    };
                    self.delay_fcp(xri, x, done);
                    Outcome::Open
                }
                _ => Outcome::Done(self.fcp_completion(0, transferred, r, rsp)),
            },
            FcpOutcome::Abort => remote_stop(),
            FcpOutcome::Held => {
                x.held = Some(HeldFcp {
                    conn: Arc::clone(conn),
                    xchg,
                    rsp,
                });
                self.func.xchg.insert(xri, x);
                Outcome::Open
            }
        }
    }

    /// The WCQE of a completed FC-NVMe exchange; an ERSP goes to `rsp`.
    pub(crate) fn fcp_completion(
        &self,
        tag: u16,
        transferred: u32,
        r: Rsp,
        rsp: (u64, u32),
    ) -> Wcqe {
        match r {
            Rsp::Zero => Wcqe::new(tag, wcqe_status::SUCCESS, transferred, 0, true),
            Rsp::Ersp(bytes) => {
                let n = (rsp.1 as usize).min(ERSP_IU_LEN);
                if n < ERSP_IU_LEN {
                    return Wcqe::new(
                        tag,
                        wcqe_status::FCP_RSP_TRUNCATE,
                        transferred,
                        ERSP_IU_LEN as u32,
                        true,
                    );
                }
                if let Err(e) = self.view.write(rsp.0, &bytes[..n]) {
                    self.dma_failed("ERSP", &e);
                    return Wcqe::new(
                        tag,
                        wcqe_status::LOCAL_REJECT,
                        0,
                        local_reject::RX_DMA_FAILED.into(),
                        true,
                    );
                }
                Wcqe::new(
                    tag,
                    wcqe_status::FCP_RSP_FAILURE,
                    transferred,
                    ERSP_IU_LEN as u32,
                    true,
                )
            }
        }
    }

    /// Completes held commands the target released; true if any. Looks at
    /// the held exchanges only (`Exchanges::held`), not at every exchange in
    /// flight.
    pub(crate) fn fcp_deferred(&mut self) -> bool {
        let mut any = false;
        let mut i = 0;
        while let Some(&(xri, seq)) = self.func.xchg.held.get(i) {
            let released = match self.func.xchg.open.get(&xri).and_then(|x| x.held.as_ref()) {
                Some(h) if h.xchg == seq => {
                    if h.conn.has_deferred() {
                        h.conn.take_deferred(h.xchg)
                    } else {
                        None
                    }
                }
                // Ended otherwise (abort, timer, target ABTS, WQ destroyed).
                _ => {
                    self.func.xchg.held.swap_remove(i);
                    continue;
                }
            };
            let Some(o) = released else {
                i += 1;
                continue;
            };
            self.func.xchg.held.swap_remove(i);
            let Some(x) = self.func.xchg.open.remove(&xri) else {
                continue;
            };
            let Some(h) = x.held else {
                continue;
            };
            any = true;
            let w = match o {
                FcpOutcome::Complete { transferred, rsp } => {
                    self.fcp_completion(x.request_tag, transferred, rsp, h.rsp)
                }
                FcpOutcome::Abort | FcpOutcome::Held => {
                    let mut w = remote_stop_wcqe();
                    w.set_request_tag(x.request_tag.into());
                    w
                }
            };
            let placed = w.total_data_placed();
            self.complete_fcp(x.cq_id, w, Some(h.rsp), placed, h.conn.qid());
        }
        any
    }
}

fn remote_stop_wcqe() -> Wcqe {
    Wcqe::new(0, wcqe_status::REMOTE_STOP, 0, 0, true)
}

fn remote_stop() -> Outcome {
    Outcome::Done(remote_stop_wcqe())
}
