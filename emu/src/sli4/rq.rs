//! Unsolicited frames into the header/data RQ pair (sli4.md §3.5 "RQ
//! pairs", §4.3 RCQE v0): a frame that answers no open exchange (RSCN, LOGO,
//! PLOGI/PRLI from a target, an NVMe LS such as Disconnect Association, an
//! ABTS) is routed by the REG_FCFI filters to a header RQ, its 24-byte header
//! placed in the header RQ's next buffer and its payload in the same entry of
//! the data RQ (the header RQ id + 1), and an RCQE v0 posted on the RQ's CQ.
//!
//! Frames wait in a bounded backlog while the RQ has no buffer posted (a real
//! port would drop them; waiting keeps tests free of races with buffer
//! posting); past the bound they are dropped and counted.

use std::collections::VecDeque;

use zerocopy::IntoBytes;

use ufc_hba::fc::frame::Frame;
use ufc_hba::fc::header::FC_HEADER_LEN;
use ufc_hba::sli4::cqe::{cqe_code, rcqe_status, Rcqe, CQE_LEN};
use ufc_hba::sli4::sge::Rqe;

use super::{bump, Sli4Model};

/// Frames the port holds while no RQ buffer is posted.
const BACKLOG_MAX: usize = 64;
/// SOF/EOF codes in the RCQE: SOFi3 and EOFt (FCoE-style values, §4.3).
const SOF_I3: u32 = 0x2E;
const EOF_T: u32 = 0x42;

/// Frames waiting for RQ buffers.
#[derive(Debug, Default)]
pub(crate) struct RxBacklog {
    frames: VecDeque<Frame>,
}

impl RxBacklog {
    pub(crate) fn clear(&mut self) {
        self.frames.clear();
    }
}

impl Sli4Model {
    /// A frame from the F_Port.
    pub(crate) fn receive_frame(&mut self, f: Frame) {
        bump(&self.counters().frames_received);
        if self.exchange_response(&f) {
            return;
        }
        if f.header.is_from_responder() {
            // A reply for an exchange that completed, timed out or was aborted.
            bump(&self.counters().frames_dropped);
            log::debug!(
                "sli4 model: reply OX_ID {:#x} from {:#08x} matches no exchange; dropped",
                f.header.ox_id.get(),
                f.header.s_id()
            );
            return;
        }
        if self.func.rx.frames.len() >= BACKLOG_MAX {
            bump(&self.counters().frames_dropped);
            return;
        }
        self.func.rx.frames.push_back(f);
        self.deliver_backlog();
    }

    /// A frame the model itself originates on behalf of a remote port (a
    /// target's ABTS): queued for the RQ pair like any unsolicited frame.
    pub(crate) fn inject_frame(&mut self, f: Frame) {
        if self.func.rx.frames.len() >= BACKLOG_MAX {
            bump(&self.counters().frames_dropped);
            return;
        }
        self.func.rx.frames.push_back(f);
        self.deliver_backlog();
    }

    /// Delivers waiting frames while buffers are posted; true if any went.
    pub(crate) fn deliver_backlog(&mut self) -> bool {
        let mut worked = false;
        while let Some(f) = self.func.rx.frames.front() {
            let route = self.func.res.fcfis.iter().find_map(|(fcfi, r)| {
                r.route(f.header.r_ctl, f.header.fc_type)
                    .map(|rq| (*fcfi, rq))
            });
            let Some((fcfi, hdr_rq)) = route else {
                // No REG_FCFI (or no filter takes it): the port drops it.
                bump(&self.counters().frames_dropped);
                self.func.rx.frames.pop_front();
                worked = true;
                continue;
            };
            let ready = self
                .func
                .queues
                .rqs
                .get(&hdr_rq)
                .is_some_and(|q| q.available > 0);
            if !ready {
                return worked;
            }
            let Some(f) = self.func.rx.frames.pop_front() else {
                return worked;
            };
            self.place_frame(fcfi, hdr_rq, &f);
            worked = true;
        }
        worked
    }

    /// Places one frame in the next entry of the pair and posts its RCQE.
    fn place_frame(&mut self, fcfi: u16, hdr_rq: u16, f: &Frame) {
        let data_rq = hdr_rq.wrapping_add(1);
        let Some(h) = self.func.queues.rqs.get_mut(&hdr_rq) else {
            return;
        };
        let index = h.cidx;
        h.cidx = (h.cidx + 1) % h.ring.entries();
        h.available -= 1;
        let (hdr_entry, hdr_size, cq_id) = (h.ring.addr(index), h.buffer_size, h.cq_id);
        let data = self.func.queues.rqs.get_mut(&data_rq).map(|d| {
            d.cidx = (index + 1) % d.ring.entries();
            d.available = d.available.saturating_sub(1);
            (d.ring.addr(index), d.buffer_size)
        });
        let mut status = rcqe_status::SUCCESS;
        let mut placed = 0usize;
        let result = (|| -> Result<(), ufc_vfio::DmaError> {
            let mut rqe = Rqe::default();
            self.view.read(hdr_entry, rqe.as_mut_bytes())?;
            let n = FC_HEADER_LEN.min(hdr_size as usize);
            self.view.write(rqe.addr(), &f.header.as_bytes()[..n])?;
            if !f.payload.is_empty() {
                let Some((data_entry, data_size)) = data else {
                    status = rcqe_status::TRUNCATED;
                    return Ok(());
                };
                self.view.read(data_entry, rqe.as_mut_bytes())?;
                placed = f.payload.len().min(data_size as usize);
                if placed < f.payload.len() {
                    status = rcqe_status::TRUNCATED;
                }
                self.view.write(rqe.addr(), &f.payload[..placed])?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            self.dma_failed("RQ buffer", &e);
            status = rcqe_status::DMA_FAILURE;
        }
        let mut c = Rcqe::default();
        c.set_status(status.into());
        c.set_rq_element_index(index);
        c.set_fcfi(fcfi.into());
        c.set_rq_id(hdr_rq.into());
        c.set_payload_len(placed as u32);
        c.set_sof(SOF_I3);
        c.set_eof(EOF_T);
        c.set_code(cqe_code::RCQE.into());
        c.set_header_len(FC_HEADER_LEN as u32);
        let mut e = [0u8; CQE_LEN];
        e.copy_from_slice(c.as_bytes());
        self.post_cqe(cq_id, e, "RCQE");
    }
}
