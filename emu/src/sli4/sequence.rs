//! XMIT_SEQUENCE64 (sli4.md §5.5): the driver answers an FC-4 request that
//! arrived through the RQ (an NVMe LS such as Disconnect Association from a
//! target) with one sequence on the responder side of that exchange. The
//! frame leaves at once and the WQE completes; no exchange stays open.

use ufc_hba::fc::frame::Frame;
use ufc_hba::fc::header::{f_ctl, FcHeader, FC_MAX_PAYLOAD, U24_MASK};
use ufc_hba::sli4::cqe::local_reject;
use ufc_hba::sli4::wqe::{context_type, xmit_seq, Wqe, XmitSequence};

use super::wq::{reject, success, Outcome};
use super::Sli4Model;

impl Sli4Model {
    pub(crate) fn xmit_sequence(&mut self, w: &Wqe) -> Outcome {
        // LEN_LOC=2: the sequence length is in dword 12.
        let len = w.dw12.get();
        if len as usize > FC_MAX_PAYLOAD {
            return reject(local_reject::ILLEGAL_LENGTH);
        }
        // OCS names the remote port in dword 3; LPFC leaves it 0 and the RPI
        // (context) says who it is.
        let d_id = match w.dw3.get() & U24_MASK {
            0 if w.ct() == context_type::RPI => {
                match self.func.res.rpis.get(&(w.context_tag() as u16)) {
                    Some(r) => r.d_id,
                    None => return reject(local_reject::INVALID_RPI),
                }
            }
            0 => return reject(local_reject::ILLEGAL_FIELD),
            id => id,
        };
        let payload = if w.dbde() {
            let b = w.bde();
            if len > b.length() {
                return reject(local_reject::ILLEGAL_LENGTH);
            }
            let mut p = vec![0u8; len as usize];
            if let Err(e) = self.view.read(b.addr(), &mut p) {
                self.dma_failed("XMIT_SEQUENCE64 payload", &e);
                return reject(local_reject::TX_DMA_FAILED);
            }
            p
        } else {
            match self.request_buffers(w, len) {
                Ok((p, _)) => p,
                Err(r) => return reject(r),
            }
        };
        let flags = w.dw5.get();
        let mut fc = f_ctl::EXCH_RESPONDER | f_ctl::END_SEQ;
        if flags & xmit_seq::LS != 0 {
            fc |= f_ctl::LAST_SEQ;
        }
        if flags & xmit_seq::SI != 0 || flags & xmit_seq::LS != 0 {
            fc |= f_ctl::SEQ_INITIATIVE;
        }
        let mut h = FcHeader::new(
            XmitSequence::r_ctl_of(w),
            XmitSequence::fc_type_of(w),
            d_id,
            self.my_id(),
            fc,
            w.dw9_hi() as u16,
        );
        h.df_ctl = (flags >> 8) as u8;
        // The XRI the driver gave is our side of the exchange (RX_ID).
        h.rx_id.set(w.xri_tag() as u16);
        match self.send(Frame::new(h, payload)) {
            Ok(()) => success(len, 0),
            Err(r) => reject(r),
        }
    }
}
