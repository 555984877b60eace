//! Target-initiated ABTS on an FC-NVMe exchange (FC-FS-5 basic link
//! services; sli4.md §5.5 XMIT_BLS_RSP), armed by
//! [`Sli4Faults::target_abts_next_fcp`](super::Sli4Faults::target_abts_next_fcp).
//!
//! Instead of answering a command, the target aborts the exchange: a BA_ABTS
//! frame (R_CTL 0x81, TYPE 0x00 BLS, F_CTL exchange context = responder, since
//! the target is the responder of an exchange the host originated; OX_ID =
//! the host's XRI, RX_ID = the target's exchange id) reaches the host as an
//! unsolicited frame through the header/data RQ pair. The driver answers with
//! XMIT_BLS_RSP naming the same OX_ID and RX_ID:
//! - BA_ACC: the exchange is over. The port completes the FCP WQE with status
//!   0x02 "remote stop" and XB=0 — the status this model gives every exchange
//!   a target ends (the Lancer status for this case was not found, sli4.md §9)
//!   — and no XRI-aborted CQE follows: the ABTS exchange is already finished.
//! - BA_RJT: the target keeps nothing more to say; the command stays pending
//!   until the driver aborts it.
//!
//! An ABTS nobody answers within 2 × R_A_TOV expires (the target gives up
//! its ABTS, FC-FS's recovery qualifier); the command stays pending until the
//! driver's own timeout aborts it, and a late answer matches nothing.

use std::time::Duration;

use ufc_hba::fc::frame::Frame;
use ufc_hba::fc::header::{f_ctl, fc_type, r_ctl, FcHeader, U24_MASK};
use ufc_hba::sli4::cqe::{wcqe_status, Wcqe};
use ufc_hba::sli4::wqe::Wqe;

use super::wq::{success, Exchange, Outcome};
use super::{bump, Sli4Model};

/// XMIT_BLS_RSP dword 5 bit 30: AR, the answer is a BA_RJT (sli4.md §5.5).
const BLS_AR: u32 = 1 << 30;
/// Target exchange ids are numbered from here (any value but 0xFFFF does).
const TARGET_XID_BASE: u16 = 0x4000;

/// The ABTS a target sent for an exchange, waiting for the host's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TargetAbts {
    /// The target's exchange id (RX_ID of the ABTS).
    pub(crate) rx_id: u16,
    /// When the target stops waiting for BA_ACC/BA_RJT.
    pub(crate) expires: Duration,
}

impl Sli4Model {
    /// The target aborts exchange `xri` instead of answering: opens it with
    /// the ABTS pending and queues the BA_ABTS frame for the RQ pair.
    pub(crate) fn send_target_abts(&mut self, xri: u16, mut x: Exchange) {
        self.func.xchg.next_fcp = self.func.xchg.next_fcp.wrapping_add(1);
        // 0x4000 + (0..0x3FFF): never 0xFFFF, the "unassigned" RX_ID.
        let rx_id = TARGET_XID_BASE + (self.func.xchg.next_fcp % 0x3FFF) as u16;
        let expires = self.clock.now() + 2 * self.fabric.config().r_a_tov;
        let mut h = FcHeader::new(
            r_ctl::BLS_ABTS,
            fc_type::BLS,
            self.my_id(),
            x.d_id,
            f_ctl::EXCH_RESPONDER | f_ctl::SEQ_INITIATIVE | f_ctl::END_SEQ | f_ctl::LAST_SEQ,
            xri,
        );
        h.rx_id.set(rx_id);
        // Parameter bit 0 = 0: abort the whole exchange.
        h.parameter.set(0);
        let target = x.d_id;
        x.target_abts = Some(TargetAbts { rx_id, expires });
        self.func.xchg.insert(xri, x);
        bump(&self.counters().abts_sent);
        log::debug!(
            "sli4 model: target {target:#08x} sends ABTS for OX_ID {xri:#x} RX_ID {rx_id:#x}"
        );
        self.inject_frame(Frame::new(h, Vec::new()));
    }

    /// XMIT_BLS_RSP answering an ABTS this model sent for an open FCP
    /// exchange: the WQE's outcome, or `None` when it answers no such ABTS
    /// (then it goes out on the wire as any BLS response).
    pub(crate) fn answer_target_abts(&mut self, w: &Wqe) -> Option<Outcome> {
        let (ox_id, rx_id) = ((w.dw1.get() >> 16) as u16, w.dw1.get() as u16);
        let d_id = w.dw5.get() & U24_MASK;
        let now = self.clock.now();
        let x = self.func.xchg.open.get_mut(&ox_id)?;
        let t = x.target_abts?;
        if t.rx_id != rx_id || x.d_id != d_id {
            return None;
        }
        if now > t.expires {
            // The target gave up on its ABTS; the answer comes too late.
            x.target_abts = None;
            log::debug!("sli4 model: BLS answer for OX_ID {ox_id:#x} after the ABTS expired");
            return None;
        }
        let ba_rjt = w.dw5.get() & BLS_AR != 0;
        if ba_rjt {
            x.target_abts = None;
        }
        bump(&self.counters().bls_responses);
        if ba_rjt {
            bump(&self.counters().ba_rjts);
            return Some(success(0, 0));
        }
        let x = self.func.xchg.open.remove(&ox_id)?;
        if let Some(h) = &x.held {
            h.conn.abort(h.xchg);
        }
        let mut victim = Wcqe::new(x.request_tag, wcqe_status::REMOTE_STOP, 0, 0, true);
        victim.set_xb(false);
        self.complete(x.cq_id, victim);
        Some(success(0, 0))
    }
}
