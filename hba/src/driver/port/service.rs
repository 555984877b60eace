//! Queue service: MCQEs complete the mailbox, ACQEs become events, WCQEs
//! complete exchanges, RCQEs deliver frames (sli4.md §4.3, §4.6).

use super::*;
use crate::fc::header::FC_HEADER_LEN;
use crate::sli4::cqe::{
    acqe_code, rcqe_status, Acqe, CqeKind, FcLinkAttention, Rcqe, RcqeV1, Wcqe, WqeReleaseCqe,
    XriAbortedCqe,
};

impl Port {
    /// Drains the EQ and both CQs: MCQEs complete the mailbox, ACQEs become
    /// [`PortEvent`]s, WCQEs complete exchanges, RCQEs become [`RxFrame`]s.
    pub fn service(&mut self) -> Result<usize, HbaError> {
        let mut n = 0;
        if let Some(eq) = self.eq.as_mut() {
            eq.drain(&self.arena, &mut self.errors.bad_eqe_cq)?;
        }
        if let Some(mut cq) = self.mq_cq.take() {
            let r = self.drain_mq_cq(&mut cq);
            cq.release();
            self.mq_cq = Some(cq);
            n += r?;
        }
        if let Some(mut cq) = self.els_cq.take() {
            let r = self.drain_els_cq(&mut cq);
            cq.release();
            self.els_cq = Some(cq);
            n += r?;
        }
        Ok(n)
    }

    fn drain_mq_cq(&mut self, cq: &mut CompletionQueue) -> Result<usize, HbaError> {
        let mut n = 0;
        while let Some(c) = cq.next(&self.arena)? {
            n += 1;
            match c.kind(true) {
                CqeKind::Mcqe => {
                    let m: Mcqe = c.view();
                    // A first MCQE may only say "consumed" (§3.1).
                    if m.completed() {
                        if self.mbox_done.is_some() {
                            self.errors.stray_mcqe += 1;
                        }
                        self.mbox_done = Some(m);
                    }
                }
                CqeKind::Acqe => self.on_acqe(c.view()),
                _ => self.errors.unknown_cqe += 1,
            }
        }
        Ok(n)
    }

    fn on_acqe(&mut self, a: Acqe) {
        match a.event_code() as u8 {
            acqe_code::FC_LINK => {
                let la: FcLinkAttention = zerocopy::transmute!(a);
                let attention = la.attention_type() as u8;
                use crate::sli4::cqe::link_attention as at;
                let up = match attention {
                    at::LINK_UP => true,
                    at::LINK_DOWN | at::MDS_LINK_DOWN => false,
                    other => {
                        log::info!("{}: link attention type {other} ignored", self.name);
                        return;
                    }
                };
                self.events.push_back(PortEvent::Link(LinkEvent {
                    up,
                    attention,
                    topology: la.topology() as u8,
                    speed: la.speed() as u8,
                    event_tag: la.event_tag(),
                }));
            }
            acqe_code::SLI_PORT => self.events.push_back(PortEvent::SliPort {
                event_type: a.event_type() as u8,
            }),
            other => log::debug!("{}: async event code {other:#x} ignored", self.name),
        }
    }

    fn drain_els_cq(&mut self, cq: &mut CompletionQueue) -> Result<usize, HbaError> {
        let mut n = 0;
        while let Some(c) = cq.next(&self.arena)? {
            n += 1;
            match c.kind(false) {
                CqeKind::Wcqe => {
                    let w: Wcqe = c.into();
                    let done = Completion {
                        status: w.status() as u8,
                        parameter: w.parameter(),
                        rsp_len: w.total_data_placed() as usize,
                        xb: w.xb(),
                    };
                    let tag = w.request_tag() as u16;
                    if tag == ABORT_TAG {
                        // The aborted exchange completes on its own tag.
                        continue;
                    }
                    if !self.xris.complete(tag, done) {
                        self.errors.bad_wcqe_tag += 1;
                    }
                }
                CqeKind::WqeRelease => {
                    let r: WqeReleaseCqe = c.into();
                    let ok = self.wq.as_mut().is_some_and(|wq| {
                        r.wq_id() as u16 == wq.id && wq.released(r.wqe_index() as u16)
                    });
                    if !ok {
                        self.errors.bad_release += 1;
                    }
                }
                CqeKind::XriAborted => {
                    let x: XriAbortedCqe = c.into();
                    self.xris.xri_aborted(x.xri() as u16);
                }
                CqeKind::Rcqe => {
                    let r: Rcqe = c.into();
                    self.on_rcqe(
                        r.status() as u8,
                        r.rq_id() as u16,
                        r.rq_element_index(),
                        r.header_len() as usize,
                        r.payload_len() as usize,
                    )?;
                }
                CqeKind::RcqeV1 => {
                    let r: RcqeV1 = c.into();
                    self.on_rcqe(
                        r.status() as u8,
                        r.rq_id() as u16,
                        r.rq_element_index(),
                        r.header_len() as usize,
                        r.payload_len() as usize,
                    )?;
                }
                _ => self.errors.unknown_cqe += 1,
            }
        }
        Ok(n)
    }

    fn on_rcqe(
        &mut self,
        status: u8,
        rq_id: u16,
        index: u32,
        hdr_len: usize,
        data_len: usize,
    ) -> Result<(), HbaError> {
        let Some(rq) = self.rq.as_mut() else {
            return Ok(());
        };
        if rq_id != rq.hdr_id {
            self.errors.bad_rcqe += 1;
            return Ok(());
        }
        // §4.3: buffers were consumed on success, truncation and DMA failure.
        let consumed = matches!(
            status,
            rcqe_status::SUCCESS | rcqe_status::TRUNCATED | rcqe_status::DMA_FAILURE
        );
        let frame = if status == rcqe_status::SUCCESS {
            match rq.buffers(index) {
                Some((h, d))
                    if hdr_len >= FC_HEADER_LEN && hdr_len <= h.len && data_len <= d.len =>
                {
                    let mut hb = [0u8; FC_HEADER_LEN];
                    self.arena.read(&h, 0, &mut hb)?;
                    let mut payload = vec![0u8; data_len];
                    self.arena.read(&d, 0, &mut payload)?;
                    FcHeader::parse(&hb)
                        .ok()
                        .map(|header| RxFrame { header, payload })
                }
                _ => None,
            }
        } else {
            None
        };
        if consumed {
            rq.repost(&self.arena)?;
        }
        match frame {
            Some(f) if self.frames.len() < MAX_RX_FRAMES => self.frames.push_back(f),
            Some(_) => self.errors.dropped_frames += 1,
            None if status == rcqe_status::SUCCESS => self.errors.bad_rcqe += 1,
            None => self.errors.dropped_frames += 1,
        }
        Ok(())
    }
}
