//! ABTS from a target on an exchange we originated (FC-FS basic link
//! services; sli4.md §5.5): the target ends an FC-NVMe exchange instead of
//! answering it. The management path answers on the ELS WQ with
//! XMIT_BLS_RSP: BA_ACC for an exchange of one of our FCP queue pairs, after
//! which the port completes the FCP WQE on its I/O queue (the queue's owner
//! sees it aborted and the transport retries it); BA_RJT (logical error,
//! invalid OX_ID-RX_ID) for anything else.

use super::error::HbaError;
use super::port::RxFrame;
use super::Hba;
use crate::fc::bls::{ba_rjt_explanation, ba_rjt_reason};
use crate::fc::header::FcHeader;
use crate::sli4::wqe::{BlsPayload, Context, XmitBlsRsp};

/// BA_ACC that ends the whole exchange: SEQ_ID not valid, every SEQ_CNT.
const BA_ACC_WHOLE: BlsPayload = BlsPayload::Acc {
    seq_id: 0,
    seq_id_valid: false,
    low_seq_cnt: 0,
    high_seq_cnt: 0xFFFF,
};

/// BA_RJT for an exchange we do not know.
const BA_RJT_UNKNOWN: BlsPayload = BlsPayload::Rjt {
    reason: ba_rjt_reason::LOGICAL_ERROR,
    explanation: ba_rjt_explanation::INVALID_OX_RX_ID,
    vendor: 0,
};

/// The answer to an ABTS with header `h`: BA_ACC when it comes from the
/// responder of an exchange we originated (OX_ID one of our FCP XRIs, per
/// `fcp_xri`) and from a logged-in port (`sender_known`), else BA_RJT.
pub(crate) fn answer(
    h: &FcHeader,
    sender_known: bool,
    fcp_xri: impl Fn(u16) -> bool,
) -> BlsPayload {
    if sender_known && h.is_from_responder() && fcp_xri(h.ox_id.get()) {
        BA_ACC_WHOLE
    } else {
        BA_RJT_UNKNOWN
    }
}

impl Hba {
    /// An ABTS from the fabric: answered with XMIT_BLS_RSP, counted.
    pub(crate) fn on_abts(&mut self, f: &RxFrame) -> Result<(), HbaError> {
        self.stats.abts_received += 1;
        let s_id = f.header.s_id();
        let Some(fabric) = self.fabric else {
            // Not logged in: nobody to answer as.
            return Ok(());
        };
        let node = self.nodes.get(&s_id);
        let lldd = self.reg.as_ref().map(|r| &r.lldd);
        let payload = answer(&f.header, node.is_some(), |xri| {
            lldd.is_some_and(|l| l.owns_fcp_xri(xri))
        });
        let temp_rpi = node.map_or(0, |n| n.rpi);
        let Some(port) = self.port.as_mut() else {
            return Ok(());
        };
        let (ox_id, rx_id) = (f.header.ox_id.get(), f.header.rx_id.get());
        let wqe = XmitBlsRsp {
            xri: 0,
            context: Context::vpi(port.res.vpi),
            request_tag: 0,
            ox_id,
            rx_id,
            local_id: fabric.n_port_id,
            remote_id: s_id,
            temp_rpi,
            // The exchange is ours when we accept; a rejected one may not be.
            originator: f.header.is_from_responder(),
            payload,
        };
        port.bls_response(wqe)?;
        match payload {
            BlsPayload::Acc { .. } => {
                self.stats.ba_accs += 1;
                log::info!(
                    "{}: ABTS from {s_id:#08x} for OX_ID {ox_id:#x} RX_ID {rx_id:#x}: BA_ACC",
                    self.name
                );
            }
            BlsPayload::Rjt { .. } => {
                self.stats.ba_rjts += 1;
                log::info!(
                    "{}: ABTS from {s_id:#08x} for unknown OX_ID {ox_id:#x} RX_ID {rx_id:#x}: BA_RJT",
                    self.name
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fc::header::{f_ctl, fc_type, r_ctl};
    use crate::sli4::wqe::wqe_cmd;

    fn abts(ox_id: u16, from_responder: bool) -> FcHeader {
        let resp = if from_responder {
            f_ctl::EXCH_RESPONDER
        } else {
            0
        };
        let mut h = FcHeader::new(
            r_ctl::BLS_ABTS,
            fc_type::BLS,
            0x01_0100,
            0x01_0200,
            resp | f_ctl::SEQ_INITIATIVE | f_ctl::END_SEQ | f_ctl::LAST_SEQ,
            ox_id,
        );
        h.rx_id.set(0x4001);
        h
    }

    #[test]
    fn ba_acc_only_for_our_fcp_exchanges_from_a_known_responder() {
        let ours = |x: u16| (0x120..0x1A0).contains(&x);
        assert_eq!(answer(&abts(0x150, true), true, ours), BA_ACC_WHOLE);
        // Another XRI, an unknown sender, or an exchange the sender
        // originated: BA_RJT.
        assert_eq!(answer(&abts(0x10, true), true, ours), BA_RJT_UNKNOWN);
        assert_eq!(answer(&abts(0x150, true), false, ours), BA_RJT_UNKNOWN);
        assert_eq!(answer(&abts(0x150, false), true, ours), BA_RJT_UNKNOWN);
    }

    #[test]
    fn the_answers_as_xmit_bls_rsp() {
        let w = |payload| {
            XmitBlsRsp {
                xri: 0x21,
                context: Context::vpi(0),
                request_tag: 3,
                ox_id: 0x150,
                rx_id: 0x4001,
                local_id: 0x01_0100,
                remote_id: 0x01_0200,
                temp_rpi: 7,
                originator: true,
                payload,
            }
            .build()
        };
        let acc = w(BA_ACC_WHOLE);
        assert_eq!(acc.command(), u32::from(wqe_cmd::XMIT_BLS_RSP));
        assert_eq!(acc.dw1.get(), 0x0150_4001, "OX_ID, RX_ID echoed");
        assert_eq!(acc.dw2.get(), 0xFFFF, "SEQ_CNT 0..=0xFFFF");
        assert_eq!(acc.dw5.get() >> 30, 0b10, "XO, not AR");
        assert_eq!(acc.dw5.get() & 0x00FF_FFFF, 0x01_0200);
        let rjt = w(BA_RJT_UNKNOWN);
        assert_eq!(
            rjt.dw0.get(),
            0x0003_0300,
            "logical error, invalid OX_ID-RX_ID"
        );
        assert_eq!(rjt.dw5.get() >> 30, 0b11, "XO and AR");
    }
}
