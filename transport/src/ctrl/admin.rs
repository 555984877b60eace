//! The admin queue of an association, driven by management (`Transport::poll`).
//!
//! Few commands are ever outstanding on it, each on a fixed tag: association
//! build and namespace scan (one at a time), keep-alive, and the one Async Event
//! Request (nvme-fc.md §3.9, §5.5). The same type drives an I/O queue during the
//! build, for its fabrics Connect, before the queue is handed to its queue pair.

use std::time::Duration;

use crate::lldd::{FcpReq, HwQueue, IoDir, LlddRport, Sge, SubmitError};
use crate::qpair::iu::{self, Cqe, RspError};
use crate::wire::{CmdIu, Sqe};

/// Admin queue depth (`NVME_AQ_DEPTH`).
pub const AQ_DEPTH: u16 = 32;

/// The fixed admin tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum AdminTag {
    /// Connect, properties, Identify, Set Features, namespace scan.
    Build = 0,
    /// Keep Alive.
    KeepAlive = 1,
    /// Async Event Request.
    Aer = 2,
}

const NTAGS: usize = 3;

#[derive(Debug)]
struct AdminSlot {
    busy: bool,
    aborted: bool,
    iu: CmdIu,
    dir: IoDir,
    sge: Option<Sge>,
    sent_at: Duration,
    done: Option<Result<Cqe, RspError>>,
}

/// One association's admin queue.
pub(crate) struct AdminQueue<Q> {
    hwq: Q,
    rport: LlddRport,
    connection_id: u64,
    csn: u32,
    sqhd: u16,
    slots: [AdminSlot; NTAGS],
    /// Completions for unknown tags or idle slots.
    pub stale: u64,
}

impl<Q: HwQueue> AdminQueue<Q> {
    /// `category` is [`iu::CAT_ADMIN`], or [`iu::CAT_NVM`] when management
    /// drives an I/O queue for its Connect.
    pub fn new(hwq: Q, rport: LlddRport, category: u8) -> Self {
        let slot = || AdminSlot {
            busy: false,
            aborted: false,
            iu: iu::template(category),
            dir: IoDir::None,
            sge: None,
            sent_at: Duration::ZERO,
            done: None,
        };
        AdminQueue {
            hwq,
            rport,
            connection_id: 0,
            csn: 0,
            sqhd: 0,
            slots: [slot(), slot(), slot()],
            stale: 0,
        }
    }

    /// Sets the admin connection id from the Create Association ACC.
    pub fn set_connection_id(&mut self, id: u64) {
        self.connection_id = id;
    }

    /// The last CSN used; the queue pair continues after it.
    pub fn csn(&self) -> u32 {
        self.csn
    }

    /// True while a command is outstanding on `tag`.
    pub fn busy(&self, tag: AdminTag) -> bool {
        self.slots[tag as usize].busy
    }

    /// When the command on `tag` was sent.
    pub fn sent_at(&self, tag: AdminTag) -> Duration {
        self.slots[tag as usize].sent_at
    }

    /// Sends `sqe` on `tag`; `data` is the command's data buffer, if any.
    pub fn submit(
        &mut self,
        tag: AdminTag,
        sqe: Sqe,
        dir: IoDir,
        data: Option<Sge>,
        now: Duration,
    ) -> Result<(), SubmitError> {
        let t = tag as usize;
        let data_len = data.map_or(0, |s| s.len);
        let slot = &mut self.slots[t];
        if slot.busy {
            return Err(SubmitError::Busy);
        }
        // Consumed only if the LLDD takes the exchange (no gap on refusal).
        let csn = self.csn.wrapping_add(1);
        iu::set_command(&mut slot.iu, sqe, tag as u16, dir, data_len);
        iu::set_conn(&mut slot.iu, self.connection_id, csn);
        slot.dir = dir;
        slot.sge = data;
        let sgl = match &slot.sge {
            Some(s) => std::slice::from_ref(s),
            None => &[],
        };
        self.hwq.submit(&FcpReq {
            tag: tag as u16,
            rport: self.rport,
            cmd_iu: slot.iu.as_bytes(),
            dir,
            payload_len: data_len,
            sgl,
        })?;
        self.csn = csn;
        self.hwq.flush();
        slot.busy = true;
        slot.aborted = false;
        slot.sent_at = now;
        slot.done = None;
        Ok(())
    }

    /// Reaps completions into their slots; returns how many arrived.
    pub fn poll(&mut self) -> u32 {
        let Self {
            hwq,
            slots,
            sqhd,
            stale,
            ..
        } = self;
        hwq.poll(32, |d| {
            let Some(slot) = slots.get_mut(usize::from(d.tag)) else {
                *stale += 1;
                return;
            };
            if !slot.busy {
                *stale += 1;
                return;
            }
            let r = iu::check_done(&d, d.tag, slot.iu.data_len.get(), *sqhd);
            if let Ok(c) = &r {
                *sqhd = c.sqhd;
            }
            slot.busy = false;
            slot.done = Some(r);
        })
    }

    /// The result of the last command on `tag`, once.
    pub fn take_done(&mut self, tag: AdminTag) -> Option<Result<Cqe, RspError>> {
        self.slots[tag as usize].done.take()
    }

    /// Aborts every outstanding command (teardown).
    pub fn abort_all(&mut self) {
        for (t, slot) in self.slots.iter_mut().enumerate() {
            if slot.busy && !slot.aborted {
                slot.aborted = true;
                // t < NTAGS.
                self.hwq.abort(t as u16);
            }
        }
        self.hwq.flush();
    }

    /// Commands still outstanding.
    pub fn outstanding(&self) -> usize {
        self.slots.iter().filter(|s| s.busy).count()
    }

    /// Gives up the hardware queue (dropping it deletes it in the LLDD).
    pub fn into_hwq(self) -> Q {
        self.hwq
    }
}
