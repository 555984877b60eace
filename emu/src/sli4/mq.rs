//! The mailbox queue (sli4.md §3.1, §4.6): MQEs posted by the MQ doorbell are
//! consumed in order, one at a time; each response is written back into its
//! slot and completed by an MCQE on the MQ's CQ. Asynchronous events (ACQEs,
//! AE=1) go to the MQ's async CQ when the MQ subscribed to their event code.

use zerocopy::IntoBytes;

use ufc_hba::sli4::cmds::mq_create::async_event;
use ufc_hba::sli4::cqe::{acqe_code, CQE_LEN};
use ufc_hba::sli4::mbox::Mcqe;

use super::mailbox::MboxSource;
use super::{bump, Sli4Model};

impl Sli4Model {
    /// Consumes the posted MQEs of `mq_id` until one is left pending.
    pub(crate) fn run_mq(&mut self, mq_id: u16) {
        while self.func.mbox.pending.is_none() && self.regs.is_ready() {
            let Some(mq) = self.func.queues.mqs.get(&mq_id) else {
                return;
            };
            if mq.posted == 0 {
                return;
            }
            let index = mq.cidx;
            self.submit_mailbox(MboxSource::Mq { mq_id, index });
        }
    }

    /// The MQE at the consumer index completed: advance and post its MCQE.
    pub(crate) fn mq_completed(&mut self, mq_id: u16, mcqe: Mcqe) {
        let Some(mq) = self.func.queues.mqs.get_mut(&mq_id) else {
            return;
        };
        mq.cidx = (mq.cidx + 1) % mq.ring.entries();
        mq.posted = mq.posted.saturating_sub(1);
        let cq_id = mq.cq_id;
        let mut entry = [0u8; CQE_LEN];
        entry.copy_from_slice(mcqe.as_bytes());
        self.post_cqe(cq_id, entry, "MCQE");
    }

    /// Posts an ACQE (16 bytes, AE set by the caller's format) for event
    /// `code` if an MQ subscribed to it; counted as lost otherwise.
    pub(crate) fn post_acqe(&mut self, code: u8, entry: [u8; CQE_LEN]) -> bool {
        let bit = match code {
            acqe_code::FC_LINK => async_event::FC,
            acqe_code::SLI_PORT => async_event::SLI_PORT,
            _ => 0,
        };
        let cq = self
            .func
            .queues
            .mqs
            .values()
            .find(|m| m.events & bit != 0)
            .map(|m| m.async_cq_id);
        match cq {
            Some(cq_id) => self.post_cqe(cq_id, entry, "ACQE"),
            None => {
                log::debug!("sli4 model: async event {code:#x} dropped: no MQ subscribed");
                false
            }
        }
    }

    /// Posts a CQE, counting a lost entry; true if written.
    pub(crate) fn post_cqe(&mut self, cq_id: u16, entry: [u8; CQE_LEN], what: &str) -> bool {
        match self.func.queues.post_cqe(&self.view, cq_id, entry) {
            Ok(()) => true,
            Err(e) => {
                match e {
                    super::queues::PostError::Dma(..) => bump(&self.counters().dma_errors),
                    _ => bump(&self.counters().cq_overflows),
                }
                log::warn!("sli4 model: {what} lost: {e}");
                false
            }
        }
    }
}
