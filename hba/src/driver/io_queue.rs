//! FC-NVMe I/O queues (issue 5; sli4.md §5.6, §5.9): one WQ/CQ pair per
//! transport hardware queue, with its own XRI range whose SGLs were posted
//! once at bring-up, so no exchange is shared between threads.
//!
//! Each exchange slot of a pair owns an XRI, its SGL (SGE 0 the CMD IU,
//! SGE 1 the RSP buffer, SGE 2.. the data), a CMD IU buffer and a 32-byte
//! RSP buffer. The slot index is the WQE request tag, so a WCQE finds its
//! exchange with one bounds check; the transport's tag is kept in the slot.
//!
//! The pairs are created at port bring-up ([`create_io_rings`]) and handed
//! to [`super::HbaLldd`]; `create_queue` lends one out as an [`HbaQueue`]
//! and its `Drop` gives it back (aborting what is still outstanding) without
//! calling into the transport. A port reset, shutdown or restart retires
//! the pairs (`io_pool`): every doorbell goes through the pair's gate
//! (`doorbell_gate`), so none is written after retirement; a queue still
//! owned by a thread then refuses new exchanges and fails the ones it had.
//!
//! `abort` reaps the CQ first, so no ABORT_WQE goes out for an exchange
//! whose completion is already there (the completion is reported by the
//! next `poll`), and sets IA (no ABTS) while the link is down. A condensed
//! NVMe ERSP (CQE code 0x0D) is rebuilt into the ERSP IU the transport
//! checks.

use std::collections::VecDeque;
use std::sync::Arc;

use ufc_transport::lldd::{
    FcpDone, FcpReq, FcpStatus, HwQueue, IoDir, SubmitError, ERSP_IU_LEN, ZERO_RSP_LEN,
};
use ufc_vfio::dma::{HugePages, IovaAllocator};
use ufc_vfio::Device;
use zerocopy::IntoBytes;

use super::dma::{DmaArena, Region};
use super::doorbell_gate::DoorbellGate;
use super::error::HbaError;
use super::io_errors::{IoInputError, IoInputErrors, SharedIoErrors};
#[cfg(test)]
use super::io_pool::PoolState;
use super::io_pool::{IoPool, PairIds};
use super::queues::{pages, CompletionQueue, WorkQueue, PAGE};
use crate::sli4::cmds::post_sgl_pages::SglPages;
use crate::sli4::cqe::{
    cqe_code, local_reject, wcqe_status, CqeKind, Wcqe, WqeReleaseCqe, XriAbortedCqe,
};
use crate::sli4::sge::{Bde, Sge, SGE_LEN};
use crate::sli4::wqe::{abort_criteria, Abort, FcpIo, FcpKind, Wqe, WQE_LEN};
use ufc_transport::wire::{Cqe as NvmeCqe, ErspIu, NvmeStatus};

/// I/O queues a controller may have (the template's `max_hw_queues`).
pub(crate) const MAX_HW_QUEUES: u16 = 4;
/// Exchanges (XRIs) of one pair at most: every exchange and an ABORT for
/// each fit the WQ with the WQEC lag to spare.
pub const MAX_IO_XRIS: u16 = ((IO_WQ_ENTRIES - WQEC_EVERY as usize) / 2) as u16;
/// Entries of an I/O WQ (8 pages).
const IO_WQ_ENTRIES: usize = 512;
/// Entries of an I/O CQ (4 pages): room for a WCQE, a release CQE and an
/// XRI-aborted CQE of every exchange and every abort.
const IO_CQ_ENTRIES: usize = 1024;
const _: () = assert!(IO_CQ_ENTRIES >= 4 * MAX_IO_XRIS as usize);
/// Data segments per exchange (the template's `max_sgl_segments`).
pub(crate) const MAX_DATA_SGES: usize = 64;
/// One XRI's SGL: CMD IU, RSP buffer, data.
const SGL_LEN: usize = (2 + MAX_DATA_SGES) * SGE_LEN;
/// SGEs staged per DMA write: a 4 KiB or 8 KiB I/O (CMD IU, RSP and one or
/// two pages) takes one write.
const SGE_CHUNK: usize = 8;
/// CMD IU buffer bytes.
const IU_LEN: usize = 128;
/// RSP buffer bytes (one ERSP IU).
const RSP_LEN: usize = ERSP_IU_LEN;
/// Request tags of ABORT WQEs: this bit, the victim's abort generation
/// (bits 14-8) and its slot (bits 7-0), so that an ABORT the port could not
/// match ends its victim (slot tags are below [`MAX_IO_XRIS`] < 256).
const ABORT_TAG: u16 = 0x8000;
const _: () = assert!(MAX_IO_XRIS <= 256);

/// The request tag of the ABORT of `slot` in abort generation `gen`.
const fn abort_request_tag(slot: u16, gen: u8) -> u16 {
    ABORT_TAG | ((gen & 0x7F) as u16) << 8 | (slot & 0xFF)
}
/// No slot for a transport tag.
const NO_SLOT: u16 = u16::MAX;
/// WQEs per doorbell at most (the doorbell's count field is 8 bits).
const MAX_BATCH: u16 = 255;
/// One FCP WQE in this many asks for a release CQE (WQEC); the lag of at
/// most `WQEC_EVERY - 1` unreleased entries fits the ring, which holds far
/// more than the exchanges plus their aborts.
const WQEC_EVERY: u32 = 16;

/// An I/O queue's own events, and the device input it refused or could not
/// use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoQueueStats {
    /// Exchanges started.
    pub submitted: u64,
    /// Exchanges completed (reported to the transport).
    pub completed: u64,
    /// ABORT WQEs sent.
    pub aborts: u64,
    /// Exchanges the port no longer held when they were aborted ("no abort
    /// match" while still outstanding: their completion was lost), ended
    /// by the driver.
    pub lost_completions: u64,
    /// Device input refused, and failed DMA reads or writes (rings, SGLs,
    /// buffers): the same counts the pair publishes for management.
    pub errors: IoInputErrors,
}

/// Where an exchange slot is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    /// In the free list.
    Free,
    /// Outstanding for the transport's `tag`; `len` bounds the WCQE's length.
    Busy { tag: u16, len: u32, aborted: bool },
    /// Outstanding, but the queue that started it was dropped: its
    /// completion frees the slot and is reported to nobody.
    Orphan,
    /// Completed with XB: the XRI is reused after its XRI-aborted CQE.
    XbWait,
}

#[derive(Debug)]
struct Slot {
    xri: u16,
    sgl: Region,
    iu: Region,
    rsp: Region,
    state: SlotState,
    /// The XRI-aborted CQE came before the WCQE with XB.
    xri_aborted_early: bool,
    /// The NVMe command id of the exchange's SQE (a condensed ERSP does not
    /// carry it).
    cid: u16,
    /// ABORTs sent for this slot (7 bits in the ABORT's request tag): an
    /// ABORT's completion names the abort it answers.
    abort_gen: u8,
    /// ABORTs of this slot rung and not yet completed: an abort-tagged WCQE
    /// for a slot without one is device input to refuse.
    aborts_pending: u8,
}

/// The hardware side of one I/O queue pair: rings, exchanges, DMA memory.
pub(crate) struct IoRings {
    device: Device,
    arena: DmaArena,
    wq: WorkQueue,
    cq: CompletionQueue,
    xri_base: u16,
    slots: Vec<Slot>,
    free: Vec<u16>,
    stats: IoQueueStats,
    /// Closed when the port incarnation retires the pair.
    gate: Arc<DoorbellGate>,
    /// Input errors, published for [`super::Hba::input_errors`].
    errors: Arc<SharedIoErrors>,
}

impl std::fmt::Debug for IoRings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoRings")
            .field("wq", &self.wq.id)
            .field("cq", &self.cq.id)
            .field("xri_base", &self.xri_base)
            .finish_non_exhaustive()
    }
}

/// The rings' memory and exchanges of one pair before the queues exist.
pub(crate) struct IoMemory {
    pub arena: DmaArena,
    pub wq_mem: Region,
    pub cq_mem: Region,
    slots: Vec<Slot>,
}

impl IoMemory {
    /// Carves one pair's memory: rings and `xris` exchanges from `xri_base`.
    pub fn new(
        device: &Device,
        xri_base: u16,
        xris: u16,
        hugepages: HugePages,
        iova: &Arc<IovaAllocator>,
    ) -> Result<IoMemory, HbaError> {
        let xris = xris.min(MAX_IO_XRIS);
        let per_xri = SGL_LEN + IU_LEN + RSP_LEN + 3 * 64;
        let len =
            (IO_WQ_ENTRIES * WQE_LEN + IO_CQ_ENTRIES * 16 + usize::from(xris) * per_xri + 2 * PAGE)
                .next_multiple_of(PAGE);
        let mut arena = DmaArena::new(device, len, hugepages, iova)?;
        let wq_mem = arena.alloc(IO_WQ_ENTRIES * WQE_LEN, PAGE, "DMA memory for I/O WQs")?;
        let cq_mem = arena.alloc(IO_CQ_ENTRIES * 16, PAGE, "DMA memory for I/O CQs")?;
        let mut slots = Vec::with_capacity(xris.into());
        for i in 0..xris {
            slots.push(Slot {
                xri: xri_base.wrapping_add(i),
                sgl: arena.alloc(SGL_LEN, 64, "DMA memory for I/O SGLs")?,
                iu: arena.alloc(IU_LEN, 64, "DMA memory for CMD IUs")?,
                rsp: arena.alloc(RSP_LEN, 64, "DMA memory for RSP buffers")?,
                state: SlotState::Free,
                xri_aborted_early: false,
                cid: 0,
                abort_gen: 0,
                aborts_pending: 0,
            });
        }
        arena.zero(&wq_mem)?;
        arena.zero(&cq_mem)?;
        Ok(IoMemory {
            arena,
            wq_mem,
            cq_mem,
            slots,
        })
    }

    /// Pages of the CQ and WQ rings, for the create commands.
    pub fn ring_pages(&self) -> (Vec<u64>, Vec<u64>) {
        (pages(&self.cq_mem), pages(&self.wq_mem))
    }

    /// Ring sizes (CQ entries, WQ entries).
    pub const fn ring_entries() -> (u32, u16) {
        (IO_CQ_ENTRIES as u32, IO_WQ_ENTRIES as u16)
    }

    /// The SGL page of every XRI, in XRI order, for POST_SGL_PAGES.
    pub fn sgl_pages(&self) -> Vec<SglPages> {
        self.slots
            .iter()
            .map(|s| SglPages::one(s.sgl.iova))
            .collect()
    }

    /// The pair once its queues exist.
    pub fn into_rings(self, device: Device, wq: WorkQueue, cq: CompletionQueue) -> IoRings {
        let xri_base = self.slots.first().map_or(0, |s| s.xri);
        IoRings {
            device,
            arena: self.arena,
            wq,
            cq,
            xri_base,
            free: (0..self.slots.len() as u16).rev().collect(),
            slots: self.slots,
            stats: IoQueueStats::default(),
            gate: Arc::new(DoorbellGate::new()),
            errors: Arc::new(SharedIoErrors::default()),
        }
    }
}

/// The WQE of one FC-NVMe exchange (§5.6): FCP_IREAD64, FCP_IWRITE64 or
/// FCP_ICMND64 with NVME=1, DBDE naming the CMD IU and data from SGE 2.
pub(crate) fn fcp_wqe(
    dir: IoDir,
    xri: u16,
    rpi: u16,
    request_tag: u16,
    cmd_iu: u64,
    total_len: u32,
) -> Wqe {
    let kind = match dir {
        IoDir::Read => FcpKind::Read,
        IoDir::Write => FcpKind::Write,
        IoDir::None => FcpKind::Cmnd,
    };
    FcpIo {
        kind,
        xri,
        rpi,
        request_tag,
        cmd_iu: Bde::host(cmd_iu, ufc_transport::lldd::CMD_IU_LEN as u32),
        payload_offset_len: (ufc_transport::lldd::CMD_IU_LEN + RSP_LEN) as u16,
        total_len: if kind == FcpKind::Cmnd { 0 } else { total_len },
        // No first burst: the target asks for the data with XFER_RDY.
        first_burst: 0,
        // The transport bounds every command with its own timers.
        timer: 0,
        pbde: None,
        erp: false,
    }
    .build()
}

/// Where the SQE's command id sits in a CMD IU (NVMe CDW0 bits 31-16).
const CMD_IU_CID: usize = core::mem::offset_of!(ufc_transport::wire::CmdIu, sqe)
    + core::mem::offset_of!(ufc_transport::wire::sqe::Sqe, cid);

/// The command id of the SQE in `cmd_iu` (0 if the IU is short).
fn sqe_cid(cmd_iu: &[u8]) -> u16 {
    cmd_iu
        .get(CMD_IU_CID..CMD_IU_CID + 2)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map_or(0, u16::from_le_bytes)
}

/// The ERSP IU of a condensed NVMe ERSP completion (CQE code 0x0D, sli4.md
/// §4.3 and §5.6): RSN from dword 2, NVMe CQE dword 0 from dword 1, the low
/// half of CQE dword 1 from dword 0 bits 15-0, SQ head from dword 3 bits
/// 15-0; the command id is the SQE's, the status success, and the length
/// transferred the whole request (`len`).
pub(crate) fn condensed_ersp(w: &Wcqe, cid: u16, len: u32) -> [u8; ERSP_IU_LEN] {
    let result = u64::from(w.total_data_placed()) | u64::from(w.ersp_cqe_dw1_lo()) << 32;
    let cqe = NvmeCqe::new(cid, 0, w.ersp_sq_head() as u16, NvmeStatus::SUCCESS, result);
    *ErspIu::new(w.parameter(), len, cqe).as_bytes()
}

/// What a WCQE's status and parameter say about an FC-NVMe exchange (§5.6):
/// the transport's status and how many response bytes to hand over (12: the
/// all-zero short RSP, which the transport turns into the CQE; 32: the ERSP
/// IU in the RSP buffer). `Err` for a response length the port must not
/// report (counted, the exchange fails).
pub(crate) fn classify(status: u8, parameter: u32) -> Result<(FcpStatus, u8), ()> {
    match status {
        wcqe_status::SUCCESS => Ok((FcpStatus::Good, ZERO_RSP_LEN as u8)),
        wcqe_status::FCP_RSP_FAILURE if parameter == ERSP_IU_LEN as u32 => {
            Ok((FcpStatus::Good, ERSP_IU_LEN as u8))
        }
        wcqe_status::FCP_RSP_FAILURE => Err(()),
        wcqe_status::LOCAL_REJECT => match parameter as u8 {
            local_reject::ABORT_REQUESTED => Ok((FcpStatus::Aborted, 0)),
            reason => Ok((FcpStatus::LocalReject(reason.into()), 0)),
        },
        // The target sent ABTS (the model's "remote stop", §5.6).
        wcqe_status::REMOTE_STOP => Ok((FcpStatus::Aborted, 0)),
        _ => Ok((FcpStatus::TransportError, 0)),
    }
}

impl IoRings {
    /// Ids and gate, for the pool.
    pub fn ids(&self) -> PairIds {
        PairIds {
            wq_id: self.wq.id,
            cq_id: self.cq.id,
            xris: (self.xri_base, self.slots.len() as u16),
            errors: Arc::clone(&self.errors),
            gate: Arc::clone(&self.gate),
        }
    }

    /// Exchanges by state: (all, free, completed with XB and waiting for
    /// their XRI-aborted CQE, orphaned by a dropped queue).
    pub fn xri_counts(&self) -> (usize, usize, usize, usize) {
        let of = |st: SlotState| self.slots.iter().filter(|s| s.state == st).count();
        (
            self.slots.len(),
            self.free.len(),
            of(SlotState::XbWait),
            of(SlotState::Orphan),
        )
    }

    /// An idle pair (lent to nobody): reads what its CQ holds, so that the
    /// exchanges a dropped queue left behind free their XRIs.
    pub fn reap_idle(&mut self) -> u32 {
        let gate = Arc::clone(&self.gate);
        let budget = self.slots.len() as u32;
        let mut n = 0;
        reap(self, &gate, &mut [], budget, &mut |_| n += 1);
        n
    }

    /// Counts device input the pair refused, here and for management.
    fn input_error(&mut self, e: IoInputError) {
        count(&mut self.stats, &self.errors, e);
    }

    /// Writes the CMD IU and the SGL of slot `slot`.
    ///
    /// Only the SGEs in use are written, the last one with LAST set (the
    /// port reads no further), a chunk at a time: zeroing the whole 66-entry
    /// SGL for the usual three entries would cost more than the I/O's own
    /// descriptors.
    fn stage(&mut self, slot: u16, req: &FcpReq<'_>) -> Result<(), HbaError> {
        let Some(s) = self.slots.get(usize::from(slot)) else {
            return Ok(());
        };
        self.arena.write(&s.iu, 0, req.cmd_iu)?;
        let n = req.sgl.len();
        let mut chunk = [Sge::default(); SGE_CHUNK];
        chunk[0] = Sge::data(s.iu.iova, req.cmd_iu.len() as u32, 0, false);
        chunk[1] = Sge::data(s.rsp.iova, RSP_LEN as u32, 0, n == 0);
        let (mut used, mut at) = (2, 0);
        // The SGE offset is the segment's place in the data.
        let mut offset = 0u32;
        for (i, d) in req.sgl.iter().enumerate() {
            if used == SGE_CHUNK {
                self.arena.write(&s.sgl, at, chunk.as_bytes())?;
                (used, at) = (0, at + SGE_CHUNK * SGE_LEN);
            }
            chunk[used] = Sge::data(d.iova, d.len, offset, i + 1 == n);
            offset = offset.wrapping_add(d.len);
            used += 1;
        }
        // More SGEs than the SGL holds fail the region check (submit already
        // refuses them).
        self.arena.write(&s.sgl, at, chunk[..used].as_bytes())
    }

    /// Slot of an XRI of this pair.
    fn slot_of_xri(&self, xri: u16) -> Option<u16> {
        let i = xri.checked_sub(self.xri_base)?;
        (usize::from(i) < self.slots.len()).then_some(i)
    }

    /// Sends an ABORT_WQE for slot `slot`'s XRI (§5.9); true if written.
    fn abort_slot(&mut self, slot: u16, local_only: bool) -> bool {
        let Some(s) = self.slots.get_mut(usize::from(slot)) else {
            return false;
        };
        s.abort_gen = s.abort_gen.wrapping_add(1) & 0x7F;
        let w = Abort {
            criteria: abort_criteria::XRI_TAG,
            tag: s.xri.into(),
            request_tag: abort_request_tag(slot, s.abort_gen),
            local_only,
            no_retry: true,
        }
        .build();
        let Ok(index) = self.wq.write(&self.arena, w) else {
            return false;
        };
        let wq = &mut self.wq;
        if !self.gate.ring(|| wq.ring(index, 1)) {
            return false;
        }
        s.aborts_pending = s.aborts_pending.saturating_add(1);
        self.stats.aborts += 1;
        true
    }

    /// Handles one WCQE; the completion to report, if it is the transport's.
    fn on_wcqe(&mut self, w: &Wcqe, by_tag: &mut [u16]) -> Option<FcpDone> {
        let tag = w.request_tag() as u16;
        if tag & ABORT_TAG != 0 {
            return self.on_abort_done(w, tag, by_tag);
        }
        let Some(s) = self.slots.get_mut(usize::from(tag)) else {
            count(&mut self.stats, &self.errors, IoInputError::BadTag);
            return None;
        };
        let after = if w.xb() && !s.xri_aborted_early {
            SlotState::XbWait
        } else {
            SlotState::Free
        };
        let (t, len) = match s.state {
            SlotState::Busy { tag: t, len, .. } => (t, len),
            SlotState::Orphan => {
                s.state = after;
                s.xri_aborted_early = false;
                if after == SlotState::Free {
                    self.free.push(tag);
                }
                return None;
            }
            SlotState::Free | SlotState::XbWait => {
                count(&mut self.stats, &self.errors, IoInputError::BadTag);
                return None;
            }
        };
        let mut transferred = w.total_data_placed();
        if transferred > len {
            count(&mut self.stats, &self.errors, IoInputError::BadLength);
            transferred = len;
        }
        let condensed = w.code() == u32::from(cqe_code::NVME_ERSP);
        let (mut status, mut rsp_len) =
            classify(w.status() as u8, w.parameter()).unwrap_or_else(|()| {
                count(&mut self.stats, &self.errors, IoInputError::BadRsp);
                (FcpStatus::TransportError, 0)
            });
        let mut rsp = [0u8; ERSP_IU_LEN];
        if condensed && status == FcpStatus::Good {
            // The port kept the ERSP in the CQE and moved all the data.
            rsp = condensed_ersp(w, s.cid, len);
            (rsp_len, transferred) = (ERSP_IU_LEN as u8, len);
        } else if usize::from(rsp_len) == ERSP_IU_LEN
            && self.arena.read(&s.rsp, 0, &mut rsp).is_err()
        {
            count(&mut self.stats, &self.errors, IoInputError::Dma);
            (status, rsp_len) = (FcpStatus::TransportError, 0);
        }
        s.state = after;
        s.xri_aborted_early = false;
        if after == SlotState::Free {
            self.free.push(tag);
        }
        if let Some(b) = by_tag.get_mut(usize::from(t)) {
            *b = NO_SLOT;
        }
        self.stats.completed += 1;
        Some(FcpDone {
            tag: t,
            status,
            transferred,
            rsp_len,
            rsp,
        })
    }

    /// The completion of an ABORT WQE. Normally the victim completes on its
    /// own tag and this says nothing more. "No abort match" means the port
    /// holds no exchange on the XRI: the WQ executes in order, so the
    /// victim's completion is already in the CQ ahead of this one, or it was
    /// lost. If the victim of this very abort is still outstanding, the
    /// completion was lost: the exchange ends here (aborted) and its XRI is
    /// free, instead of staying busy for good.
    fn on_abort_done(&mut self, w: &Wcqe, tag: u16, by_tag: &mut [u16]) -> Option<FcpDone> {
        let (slot, gen) = (tag & 0xFF, ((tag >> 8) & 0x7F) as u8);
        let Some(s) = self
            .slots
            .get_mut(usize::from(slot))
            .filter(|s| s.aborts_pending > 0)
        else {
            // No ABORT of ours is outstanding on that slot.
            count(&mut self.stats, &self.errors, IoInputError::BadTag);
            return None;
        };
        s.aborts_pending -= 1;
        let no_match = w.status() == u32::from(wcqe_status::LOCAL_REJECT)
            && w.parameter() as u8 == local_reject::NO_ABORT_MATCH;
        if !no_match {
            return None;
        }
        if s.abort_gen != gen {
            // An older abort of the slot: its victim is long gone.
            return None;
        }
        let done = match s.state {
            SlotState::Busy {
                tag: t,
                aborted: true,
                ..
            } => Some(t),
            SlotState::Orphan => None,
            // Completed already (the completion crossed the abort), or
            // reused by an exchange not aborted: nothing to end.
            _ => return None,
        };
        s.state = SlotState::Free;
        s.xri_aborted_early = false;
        self.free.push(slot);
        self.stats.lost_completions += 1;
        let t = done?;
        if let Some(b) = by_tag.get_mut(usize::from(t)) {
            *b = NO_SLOT;
        }
        self.stats.completed += 1;
        Some(FcpDone {
            tag: t,
            status: FcpStatus::Aborted,
            transferred: 0,
            rsp_len: 0,
            rsp: [0; ERSP_IU_LEN],
        })
    }

    fn on_release(&mut self, r: &WqeReleaseCqe) {
        if r.wq_id() as u16 != self.wq.id || !self.wq.released(r.wqe_index() as u16) {
            count(&mut self.stats, &self.errors, IoInputError::BadRelease);
        }
    }

    fn on_xri_aborted(&mut self, x: &XriAbortedCqe) {
        let slot = self.slot_of_xri(x.xri() as u16);
        match slot.and_then(|i| self.slots.get_mut(usize::from(i)).map(|s| (i, s))) {
            Some((i, s)) if s.state == SlotState::XbWait => {
                s.state = SlotState::Free;
                self.free.push(i);
            }
            // Busy or orphaned: the WCQE (with XB) still follows and must
            // not park the XRI then.
            Some((_, s)) if matches!(s.state, SlotState::Busy { .. } | SlotState::Orphan) => {
                s.xri_aborted_early = true;
            }
            _ => count(&mut self.stats, &self.errors, IoInputError::BadXri),
        }
    }
}

/// Counts device input a pair refused in its own counters and in those it
/// publishes for management.
fn count(s: &mut IoQueueStats, shared: &SharedIoErrors, e: IoInputError) {
    s.errors.count(e);
    shared.bump(e);
}

/// One transport hardware queue on an SLI-4 WQ/CQ pair.
pub struct HbaQueue {
    rings: Option<IoRings>,
    /// Transport tag → slot; sized by the queue's `qsize`.
    by_tag: Vec<u16>,
    /// WQEs written since the last doorbell, and the ring index of the first.
    pending: u16,
    first_pending: u32,
    /// The pair's gate (also in `rings`, kept here for the hot path):
    /// closed when the port incarnation retires the pair.
    gate: Arc<DoorbellGate>,
    /// The incarnation's pool, where the pair goes back on drop.
    home: Arc<IoPool>,
    /// Outstanding exchanges were failed after the port went away.
    failed_all: bool,
    /// Completions reaped by `abort` (so that no ABORT goes out for an
    /// exchange whose completion is already in the CQ), reported by the next
    /// `poll`. Never holds more than the pair's exchanges: allocated once.
    stash: VecDeque<FcpDone>,
}

impl std::fmt::Debug for HbaQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HbaQueue")
            .field("rings", &self.rings)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl HbaQueue {
    /// A queue on `rings` for `qsize` transport tags.
    pub(crate) fn new(rings: IoRings, qsize: u16, home: Arc<IoPool>) -> HbaQueue {
        HbaQueue {
            gate: Arc::clone(&rings.gate),
            stash: VecDeque::with_capacity(rings.slots.len()),
            rings: Some(rings),
            by_tag: vec![NO_SLOT; qsize.into()],
            pending: 0,
            first_pending: 0,
            home,
            failed_all: false,
        }
    }

    /// Counters of this queue pair (they survive the queue's reuse).
    pub fn stats(&self) -> IoQueueStats {
        self.rings.as_ref().map(|r| r.stats).unwrap_or_default()
    }

    /// The WQ and CQ ids.
    pub fn ids(&self) -> Option<(u16, u16)> {
        self.rings.as_ref().map(|r| (r.wq.id, r.cq.id))
    }

    fn alive(&self) -> bool {
        self.gate.is_open()
    }

    /// Exchanges (XRIs) free for new I/O.
    pub fn free_xris(&self) -> usize {
        self.rings.as_ref().map_or(0, |r| r.free.len())
    }

    /// Exchanges (XRIs) of the pair.
    pub fn xris(&self) -> usize {
        self.rings.as_ref().map_or(0, |r| r.slots.len())
    }

    /// After a port reset: every exchange still outstanding fails once.
    fn fail_all<F: FnMut(FcpDone)>(&mut self, budget: u32, f: &mut F) -> u32 {
        let Some(r) = self.rings.as_mut() else {
            return 0;
        };
        let mut n = 0;
        for s in r.slots.iter_mut() {
            if n >= budget {
                return n;
            }
            if let SlotState::Busy { tag, .. } = s.state {
                // The reset dropped the XRI; the slot is never used again.
                s.state = SlotState::XbWait;
                if let Some(b) = self.by_tag.get_mut(usize::from(tag)) {
                    *b = NO_SLOT;
                }
                f(FcpDone {
                    tag,
                    status: FcpStatus::TransportError,
                    transferred: 0,
                    rsp_len: 0,
                    rsp: [0; ERSP_IU_LEN],
                });
                n += 1;
            }
        }
        self.failed_all = true;
        n
    }
}

impl HwQueue for HbaQueue {
    fn submit(&mut self, req: &FcpReq<'_>) -> Result<(), SubmitError> {
        if !self.alive() {
            return Err(SubmitError::Failed);
        }
        let Some(r) = self.rings.as_mut() else {
            return Err(SubmitError::Failed);
        };
        let t = usize::from(req.tag);
        // A tag beyond qsize or still outstanding is a transport bug.
        if self.by_tag.get(t) != Some(&NO_SLOT) || req.sgl.len() > MAX_DATA_SGES {
            return Err(SubmitError::Failed);
        }
        let sum: u64 = req.sgl.iter().map(|s| u64::from(s.len)).sum();
        if sum != u64::from(req.payload_len) || (req.dir == IoDir::None) != (sum == 0) {
            return Err(SubmitError::Failed);
        }
        if r.wq.is_full() {
            return Err(SubmitError::Busy);
        }
        let Some(slot) = r.free.pop() else {
            return Err(SubmitError::Busy);
        };
        let Some(xri) = r.slots.get(usize::from(slot)).map(|s| s.xri) else {
            return Err(SubmitError::Failed);
        };
        // The remote-port token is RPI << 32 | N_Port ID (discovery).
        let rpi = (req.rport.0 >> 32) as u16;
        let posted = r.stage(slot, req).and_then(|()| {
            let iu = r.slots.get(usize::from(slot)).map_or(0, |s| s.iu.iova);
            r.wq.write_entry(
                &r.arena,
                fcp_wqe(req.dir, xri, rpi, slot, iu, req.payload_len),
                |index| index % WQEC_EVERY == WQEC_EVERY - 1,
            )
        });
        let index = match posted {
            Ok(i) => i,
            Err(_) => {
                r.input_error(IoInputError::Dma);
                r.free.push(slot);
                return Err(SubmitError::Failed);
            }
        };
        if let Some(s) = r.slots.get_mut(usize::from(slot)) {
            s.state = SlotState::Busy {
                tag: req.tag,
                len: req.payload_len,
                aborted: false,
            };
            s.cid = sqe_cid(req.cmd_iu);
        }
        if let Some(b) = self.by_tag.get_mut(t) {
            *b = slot;
        }
        r.stats.submitted += 1;
        if self.pending == 0 {
            self.first_pending = index;
        }
        self.pending += 1;
        if self.pending == MAX_BATCH {
            self.flush();
        }
        Ok(())
    }

    fn flush(&mut self) {
        if self.pending == 0 {
            return;
        }
        // After a reset the ids may name another port incarnation's queues:
        // the gate rings only while the pair is the current incarnation's.
        if let Some(r) = self.rings.as_mut() {
            let (wq, first, n) = (&mut r.wq, self.first_pending, self.pending as u8);
            self.gate.ring(|| wq.ring(first, n));
        }
        self.pending = 0;
    }

    fn abort(&mut self, tag: u16) {
        let Some(&slot) = self.by_tag.get(usize::from(tag)) else {
            return;
        };
        if slot == NO_SLOT {
            return;
        }
        self.flush();
        if !self.alive() {
            // Retired: the next poll fails it.
            return;
        }
        let Some(r) = self.rings.as_mut() else {
            return;
        };
        // A completion already in the CQ crossed the abort: take it now
        // (reported by the next poll) rather than send an ABORT that finds
        // no exchange.
        let room = self.stash.capacity() - self.stash.len();
        let stash = &mut self.stash;
        reap(r, &self.gate, &mut self.by_tag, room as u32, &mut |d| {
            stash.push_back(d)
        });
        let Some(SlotState::Busy {
            tag: t,
            len,
            aborted: false,
        }) = r.slots.get(usize::from(slot)).map(|s| s.state)
        else {
            return;
        };
        // Link down: no ABTS can go out; the port drops the exchange
        // locally (IA = 1) and frees the XRI at once.
        let local_only = !self.home.link_up();
        if r.abort_slot(slot, local_only) {
            if let Some(s) = r.slots.get_mut(usize::from(slot)) {
                s.state = SlotState::Busy {
                    tag: t,
                    len,
                    aborted: true,
                };
            }
        }
    }

    fn poll<F: FnMut(FcpDone)>(&mut self, budget: u32, mut f: F) -> u32 {
        let mut n = 0;
        while n < budget {
            let Some(d) = self.stash.pop_front() else {
                break;
            };
            f(d);
            n += 1;
        }
        if !self.alive() {
            if self.failed_all {
                return n;
            }
            return n + self.fail_all(budget - n, &mut f);
        }
        let Some(r) = self.rings.as_mut() else {
            return n;
        };
        // The emulated port runs here; a no-op on hardware.
        r.device.poll_model();
        n + reap(r, &self.gate, &mut self.by_tag, budget - n, &mut f)
    }
}

/// Reads up to `budget` completions from the pair's CQ, calling `f` for
/// each, and gives the entries back to the port (one CQ doorbell, through
/// the gate).
fn reap<F: FnMut(FcpDone)>(
    r: &mut IoRings,
    gate: &DoorbellGate,
    by_tag: &mut [u16],
    budget: u32,
    f: &mut F,
) -> u32 {
    let mut n = 0;
    let mut seen = 0usize;
    // A device that keeps writing entries cannot hold the thread here.
    while n < budget && seen < IO_CQ_ENTRIES {
        let c = match r.cq.next(&r.arena) {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(_) => {
                r.input_error(IoInputError::Dma);
                break;
            }
        };
        seen += 1;
        match c.kind(false) {
            CqeKind::Wcqe | CqeKind::NvmeErsp => {
                let w: Wcqe = c.into();
                if let Some(d) = r.on_wcqe(&w, by_tag) {
                    f(d);
                    n += 1;
                }
            }
            CqeKind::WqeRelease => r.on_release(&c.into()),
            CqeKind::XriAborted => r.on_xri_aborted(&c.into()),
            _ => r.input_error(IoInputError::UnknownCqe),
        }
    }
    if seen > 0 {
        let cq = &mut r.cq;
        gate.ring(|| cq.release());
    }
    n
}

impl Drop for HbaQueue {
    fn drop(&mut self) {
        self.flush();
        let Some(mut r) = self.rings.take() else {
            return;
        };
        if !self.alive() {
            // The pair is retired: its queues are gone or going; the pool
            // frees the memory once the port can no longer write into it.
            self.home.give_back(r);
            return;
        }
        // Completions already in the CQ free their slots (nobody wants
        // them now); what is still outstanding is aborted, and its
        // completion frees the slot later, on whichever queue then owns the
        // pair.
        let budget = r.slots.len() as u32;
        reap(&mut r, &self.gate, &mut self.by_tag, budget, &mut |_| {});
        for i in 0..r.slots.len() as u16 {
            let Some(SlotState::Busy { aborted, .. }) =
                r.slots.get(usize::from(i)).map(|s| s.state)
            else {
                continue;
            };
            if !aborted {
                r.abort_slot(i, false);
            }
            if let Some(s) = r.slots.get_mut(usize::from(i)) {
                s.state = SlotState::Orphan;
            }
        }
        self.home.give_back(r);
    }
}

/// What creating the I/O pairs needs from the port's bring-up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IoCreate {
    pub if_type: crate::sli4::doorbell::IfType,
    pub eq_id: u16,
    pub autovalid_cq: bool,
}

/// Creates up to `io_queue_pairs` I/O queue pairs through the MQ (§3.5,
/// §5.7): per pair a CQ on the port's EQ, a WQ completing to it, and the
/// SGLs of its own range of `io_xris` XRIs (after the ELS XRIs) posted
/// once. Fewer pairs when READ_CONFIG gave fewer XRIs.
pub(crate) fn create_io_rings(
    port: &mut super::port::Port,
    device: &Device,
    c: IoCreate,
) -> Result<Vec<IoRings>, HbaError> {
    use super::registers::queue_doorbell;
    use crate::sli4::cmds::cq_create::CreateCq;
    use crate::sli4::cmds::eq_create::CreateQueueRsp;
    use crate::sli4::cmds::wq_create::{CreateWq, CreateWqRsp};
    use crate::sli4::doorbell::QueueKind;
    use crate::sli4::sli_config::embedded_response;

    let els = port.cfg.els_xris;
    let (want, xris) = (port.cfg.io_queue_pairs, port.cfg.io_xris.min(MAX_IO_XRIS));
    let spare = port.res.xri_count.saturating_sub(els) / xris.max(1);
    let pairs = want.min(spare);
    if pairs < want {
        log::warn!(
            "{}: {} XRIs leave room for {pairs} of {want} FCP queue pairs of {xris} XRIs",
            port.name,
            port.res.xri_count
        );
    }
    let bad = |what: &str| HbaError::BadResponse {
        device: device.name().to_owned(),
        what: what.to_owned(),
    };
    let mut out = Vec::with_capacity(pairs.into());
    for k in 0..pairs {
        let xri_base = port.res.xri_base + els + k * xris;
        let mem = IoMemory::new(device, xri_base, xris, port.cfg.hugepages, &port.cfg.iova)?;
        let (cq_pages, wq_pages) = mem.ring_pages();
        let (cq_entries, wq_entries) = IoMemory::ring_entries();
        let m = CreateCq::new(&cq_pages, cq_entries, c.eq_id, c.autovalid_cq)
            .and_then(|q| q.to_mqe())
            .ok_or_else(|| bad("driver bug: I/O COMMON_CREATE_CQ request does not fit"))?;
        let rsp = port.mbox(&m)?;
        let cq_id = embedded_response::<CreateQueueRsp>(&rsp)
            .1
            .map(|r| r.queue_id() as u16)
            .ok_or_else(|| bad("I/O COMMON_CREATE_CQ: no queue id"))?;
        let m = CreateWq::new(&wq_pages, wq_entries, cq_id)
            .and_then(|q| q.to_mqe())
            .ok_or_else(|| bad("driver bug: I/O FCOE_WQ_CREATE request does not fit"))?;
        let rsp = port.mbox(&m)?;
        let wq_id = embedded_response::<CreateWqRsp>(&rsp)
            .1
            .map(|r| r.queue_id() as u16)
            .ok_or_else(|| bad("I/O FCOE_WQ_CREATE: no queue id"))?;
        port.post_sgl_list(xri_base, &mem.sgl_pages())?;
        let cq = CompletionQueue::new(
            cq_id,
            mem.cq_mem,
            c.autovalid_cq,
            queue_doorbell(device, c.if_type, QueueKind::Cq)?,
            c.if_type,
        );
        let wq = WorkQueue::new(
            wq_id,
            mem.wq_mem,
            queue_doorbell(device, c.if_type, QueueKind::Wq)?,
            c.if_type,
        );
        log::info!(
            "{}: FCP queue pair {k}: WQ {wq_id} CQ {cq_id} XRIs {xri_base:#x}+{xris}",
            port.name
        );
        out.push(mem.into_rings(device.clone(), wq, cq));
    }
    Ok(out)
}

/// Destroys the WQ and CQ of retired pairs, lent out or not (best effort, WQ
/// before its CQ; the first failure is returned after all were tried). The
/// port flushes the exchanges of a destroyed WQ without completing them.
pub(crate) fn destroy_io_queues(
    port: &mut super::port::Port,
    queues: &[(u16, u16)],
) -> Result<(), HbaError> {
    use crate::sli4::cmds::queue_destroy::{DestroyQueue, QueueKind as K};
    let mut first = None;
    for &(wq_id, cq_id) in queues {
        for (k, id) in [(K::Wq, wq_id), (K::Cq, cq_id)] {
            if let Err(e) = port.mbox(&DestroyQueue::mqe(k, id)) {
                log::warn!("{}: destroying I/O {} {id}: {e}", port.name, k.name());
                first.get_or_insert(e);
            }
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::queues::tests::Fake;
    use crate::driver::wait::Waiter;
    use crate::sli4::cqe::cqe_code;
    use crate::sli4::doorbell::{EqCqDoorbell, IfType, QueueKind, WqDoorbell};
    use crate::sli4::wqe::wqe_cmd;
    use std::sync::Mutex;
    use std::time::Duration;
    use ufc_transport::lldd::{LlddRport, Sge as HostSge, CMD_IU_LEN};
    use zerocopy::FromBytes;

    struct Bench {
        q: HbaQueue,
        dev: Device,
        writes: Arc<Mutex<Vec<u32>>>,
        home: Arc<IoPool>,
        cq_mem: Region,
        wq_mem: Region,
        cq_at: usize,
    }

    const XRI_BASE: u16 = 0x100;
    const RPI: u16 = 0x22;

    fn bench() -> Bench {
        bench_with(64)
    }

    fn bench_with(xris: u16) -> Bench {
        let writes = Arc::new(Mutex::new(Vec::new()));
        let dev = Device::from_model(Fake {
            writes: Arc::clone(&writes),
        });
        let iova = Arc::new(IovaAllocator::default());
        let mem = IoMemory::new(&dev, XRI_BASE, xris, HugePages::Never, &iova).unwrap();
        let (cq_mem, wq_mem) = (mem.cq_mem, mem.wq_mem);
        let wq = WorkQueue::new(3, wq_mem, dev.doorbell(0, 0x120).unwrap(), IfType::If2);
        let cq = CompletionQueue::new(
            5,
            cq_mem,
            false,
            dev.doorbell(0, 0x120).unwrap(),
            IfType::If2,
        );
        let rings = mem.into_rings(dev.clone(), wq, cq);
        let home = Arc::new(IoPool::new(vec![rings]));
        home.set_link(true);
        let rings = home.take().unwrap().unwrap();
        Bench {
            q: HbaQueue::new(rings, 32, Arc::clone(&home)),
            dev,
            writes,
            home,
            cq_mem,
            wq_mem,
            cq_at: 0,
        }
    }

    impl Bench {
        /// The port incarnation ends: the pool's gates close.
        fn retire(&self) -> crate::driver::io_pool::RetiredIo {
            let w = Waiter {
                clock: ufc_transport::clock::Clock::monotonic(),
                device: self.dev.clone(),
                idle: Arc::new(std::thread::yield_now),
            };
            self.home.close(&w, Duration::from_secs(1))
        }
        fn arena(&self) -> &DmaArena {
            &self.q.rings.as_ref().unwrap().arena
        }
        fn post_cqe(&mut self, mut b: [u8; 16]) {
            b[15] |= 0x80;
            let at = self.cq_at * 16;
            self.arena().write(&self.cq_mem, at, &b).unwrap();
            self.cq_at += 1;
        }
        fn wcqe(&mut self, w: Wcqe) {
            let mut b = [0u8; 16];
            b.copy_from_slice(w.as_bytes());
            self.post_cqe(b);
        }
        fn wqe(&self, index: usize) -> Wqe {
            let mut b = [0u8; WQE_LEN];
            self.arena()
                .read(&self.wq_mem, index * WQE_LEN, &mut b)
                .unwrap();
            Wqe::from_prefix(&b).unwrap()
        }
        fn slot(&self, slot: u16) -> SlotState {
            self.q.rings.as_ref().unwrap().slots[usize::from(slot)].state
        }
        fn doorbells(&self) -> Vec<u32> {
            self.dev.poll_model();
            std::mem::take(&mut *self.writes.lock().unwrap())
        }
        fn poll(&mut self) -> Vec<FcpDone> {
            let mut v = Vec::new();
            self.q.poll(64, |d| v.push(d));
            v
        }
    }

    fn req<'a>(tag: u16, dir: IoDir, iu: &'a [u8; CMD_IU_LEN], sgl: &'a [HostSge]) -> FcpReq<'a> {
        FcpReq {
            tag,
            rport: LlddRport(u64::from(RPI) << 32 | 0x01_0200),
            cmd_iu: iu,
            dir,
            payload_len: sgl.iter().map(|s| s.len).sum(),
            sgl,
        }
    }

    #[test]
    fn submit_builds_sgl_and_rings_once_per_batch() {
        let mut b = bench();
        let iu = [0xA5u8; CMD_IU_LEN];
        let sgl = [
            HostSge {
                iova: 0x10_0000,
                len: 4096,
            },
            HostSge {
                iova: 0x20_0000,
                len: 512,
            },
        ];
        b.q.submit(&req(3, IoDir::Write, &iu, &sgl)).unwrap();
        b.q.submit(&req(4, IoDir::None, &iu, &[])).unwrap();
        assert!(b.doorbells().is_empty(), "no doorbell before flush");
        b.q.flush();
        b.q.flush();
        let db = b.doorbells();
        assert_eq!(db.len(), 1, "one doorbell per batch");
        let d = WqDoorbell::decode(db[0]);
        assert_eq!((d.id, d.index, d.posted), (3, 0, 2));

        let w = b.wqe(0);
        let slot = w.request_tag() as u16;
        assert_eq!(w.command(), u32::from(wqe_cmd::FCP_IWRITE64));
        assert_eq!(
            (w.xri_tag(), w.context_tag()),
            (u32::from(XRI_BASE + slot), u32::from(RPI))
        );
        assert_eq!(w.dw4.get(), 4608);
        let r = b.q.rings.as_ref().unwrap();
        let s = &r.slots[usize::from(slot)];
        let mut raw = [0u8; 4 * SGE_LEN];
        r.arena.read(&s.sgl, 0, &mut raw).unwrap();
        let sge = |i: usize| Sge::read_from_bytes(&raw[i * SGE_LEN..(i + 1) * SGE_LEN]).unwrap();
        assert_eq!((sge(0).addr(), sge(0).len()), (s.iu.iova, 96));
        assert_eq!((sge(1).addr(), sge(1).len()), (s.rsp.iova, 32));
        assert_eq!(
            (sge(2).addr(), sge(2).len(), sge(2).last()),
            (0x10_0000, 4096, false)
        );
        assert_eq!(
            (sge(3).addr(), sge(3).data_offset(), sge(3).last()),
            (0x20_0000, 4096, true)
        );
        let mut got = [0u8; CMD_IU_LEN];
        r.arena.read(&s.iu, 0, &mut got).unwrap();
        assert_eq!(got, iu);
        assert_eq!(b.wqe(1).command(), u32::from(wqe_cmd::FCP_ICMND64));

        // Refusals: a tag in use, beyond qsize, a length that is not the SGL's.
        assert_eq!(
            b.q.submit(&req(3, IoDir::None, &iu, &[])),
            Err(SubmitError::Failed)
        );
        assert_eq!(
            b.q.submit(&req(32, IoDir::None, &iu, &[])),
            Err(SubmitError::Failed)
        );
        let mut bad = req(5, IoDir::Read, &iu, &sgl);
        bad.payload_len = 1;
        assert_eq!(b.q.submit(&bad), Err(SubmitError::Failed));
    }

    /// SGLs longer than one staging chunk: every data SGE in place with its
    /// payload offset, LAST on the final one only, and nothing written
    /// past it (the port stops at LAST; the rest of the SGL is not zeroed).
    #[test]
    fn stage_writes_the_used_sges_across_chunks_and_nothing_past_the_last() {
        let mut b = bench();
        let iu = [0u8; CMD_IU_LEN];
        {
            let r = b.q.rings.as_ref().unwrap();
            for s in &r.slots {
                r.arena.write(&s.sgl, 0, &[0xFF; SGL_LEN]).unwrap();
            }
        }
        for (tag, n) in [(0u16, 1usize), (1, 6), (2, 7), (3, 14), (4, MAX_DATA_SGES)] {
            let sgl: Vec<HostSge> = (0..n)
                .map(|i| HostSge {
                    iova: 0x100_0000 + (i as u64) * 0x1_0000,
                    len: 512 + i as u32,
                })
                .collect();
            b.q.submit(&req(tag, IoDir::Read, &iu, &sgl)).unwrap();
            let slot = b.wqe(usize::from(tag)).request_tag() as usize;
            let r = b.q.rings.as_ref().unwrap();
            let s = &r.slots[slot];
            let mut raw = [0u8; SGL_LEN];
            r.arena.read(&s.sgl, 0, &mut raw).unwrap();
            let sge =
                |i: usize| Sge::read_from_bytes(&raw[i * SGE_LEN..(i + 1) * SGE_LEN]).unwrap();
            assert_eq!((sge(0).addr(), sge(0).last()), (s.iu.iova, false));
            assert_eq!((sge(1).addr(), sge(1).last()), (s.rsp.iova, false));
            let mut offset = 0;
            for (i, d) in sgl.iter().enumerate() {
                let e = sge(2 + i);
                assert_eq!(
                    (e.addr(), e.len(), e.data_offset(), e.last()),
                    (d.iova, d.len, offset, i + 1 == n),
                    "{n} SGEs: data SGE {i}"
                );
                offset += d.len;
            }
            assert!(
                raw[(2 + n) * SGE_LEN..].iter().all(|&x| x == 0xFF),
                "{n} SGEs: nothing written past the last"
            );
        }
        let too_many = vec![HostSge { iova: 0, len: 1 }; MAX_DATA_SGES + 1];
        assert_eq!(
            b.q.submit(&req(5, IoDir::Read, &iu, &too_many)),
            Err(SubmitError::Failed)
        );
    }

    #[test]
    fn completions_are_classified_and_device_input_checked() {
        let mut b = bench();
        let iu = [0u8; CMD_IU_LEN];
        let sgl = [HostSge {
            iova: 0x10_0000,
            len: 4096,
        }];
        for tag in 0..3 {
            b.q.submit(&req(tag, IoDir::Read, &iu, &sgl)).unwrap();
        }
        b.q.flush();
        assert_eq!(b.doorbells().len(), 1, "the WQ doorbell");
        let slots: Vec<u16> = (0..3).map(|i| b.wqe(i).request_tag() as u16).collect();
        // Good with a zero RSP; an ERSP; an ERSP length the port must not report.
        b.wcqe(Wcqe::new(slots[0], 0, 4096, 0, true));
        let ersp = [0x11u8; 32];
        let rsp = b.q.rings.as_ref().unwrap().slots[usize::from(slots[1])].rsp;
        b.arena().write(&rsp, 0, &ersp).unwrap();
        b.wcqe(Wcqe::new(slots[1], 0x01, 4096, 32, true));
        // Device input that names nothing of ours.
        b.wcqe(Wcqe::new(999, 0, 0, 0, true));
        b.wcqe(Wcqe::new(slots[0], 0, 0, 0, true));
        b.wcqe(Wcqe::new(slots[2], 0x01, 1 << 20, 12, true));
        let mut x = XriAbortedCqe::default();
        x.set_xri(0x9999);
        x.set_code(cqe_code::XRI_ABORTED.into());
        let mut raw = [0u8; 16];
        raw.copy_from_slice(x.as_bytes());
        b.post_cqe(raw);
        let done = b.poll();
        assert_eq!(done.len(), 3);
        assert_eq!(
            (
                done[0].tag,
                done[0].status,
                done[0].rsp_len,
                done[0].transferred
            ),
            (0, FcpStatus::Good, 12, 4096)
        );
        assert_eq!(done[0].rsp, [0; 32]);
        assert_eq!(
            (done[1].tag, done[1].status, done[1].rsp_len),
            (1, FcpStatus::Good, 32)
        );
        assert_eq!(done[1].rsp, ersp);
        assert_eq!(
            (done[2].tag, done[2].status, done[2].transferred),
            (2, FcpStatus::TransportError, 4096)
        );
        let st = b.q.stats();
        assert_eq!(
            (
                st.errors.bad_tag,
                st.errors.bad_length,
                st.errors.bad_rsp,
                st.errors.bad_xri
            ),
            (2, 1, 1, 1)
        );
        // Published for management, summed over the pool's pairs.
        use crate::driver::io_errors::IoInputError as E;
        let e = |k| b.home.input_errors(k);
        assert_eq!(
            (e(E::BadTag), e(E::BadLength), e(E::BadRsp), e(E::BadXri)),
            (2, 1, 1, 1)
        );
        assert_eq!((st.submitted, st.completed), (3, 3));
        let db: Vec<_> = b
            .doorbells()
            .into_iter()
            .filter(|v| EqCqDoorbell::decode_if2(*v).0 == QueueKind::Cq)
            .collect();
        assert_eq!(db.len(), 1, "one CQ doorbell for the poll");
        assert!(b.poll().is_empty());
        assert!(
            b.doorbells()
                .iter()
                .all(|v| EqCqDoorbell::decode_if2(*v).0 != QueueKind::Cq),
            "no doorbell for an empty poll"
        );
        // The tags are free again.
        b.q.submit(&req(0, IoDir::None, &iu, &[])).unwrap();
    }

    #[test]
    fn condensed_ersp_cqe_is_rebuilt_into_an_ersp_iu() {
        let mut b = bench();
        let mut iu = [0u8; CMD_IU_LEN];
        iu[CMD_IU_CID..CMD_IU_CID + 2].copy_from_slice(&0x1234u16.to_le_bytes());
        let sgl = [HostSge {
            iova: 0x10_0000,
            len: 8192,
        }];
        b.q.submit(&req(6, IoDir::Read, &iu, &sgl)).unwrap();
        b.q.flush();
        let slot = b.wqe(0).request_tag() as u16;
        // Code 0x0D: RSN 7 in dword 2, CQE dword 0 in dword 1, CQE dword 1
        // low half in dword 0 bits 15-0, SQ head in dword 3 bits 15-0.
        let mut w = Wcqe::new(slot, 0, 0xAABB_CCDD, 7, true);
        w.set_code(cqe_code::NVME_ERSP.into());
        w.set_ersp_cqe_dw1_lo(0x00EE);
        w.set_ersp_sq_head(0x0019);
        b.wcqe(w);
        let done = b.poll();
        assert_eq!(done.len(), 1);
        let d = done[0];
        assert_eq!(
            (d.tag, d.status, d.rsp_len, d.transferred),
            (6, FcpStatus::Good, 32, 8192)
        );
        let e = ErspIu::parse(&d.rsp).unwrap();
        assert_eq!((e.rsn.get(), e.xfrd_len.get()), (7, 8192));
        assert_eq!(e.cqe.cid.get(), 0x1234);
        assert_eq!(e.cqe.sqhd.get(), 0x19);
        assert_eq!(e.cqe.result(), 0x0000_00EE_AABB_CCDD);
        assert_eq!(e.cqe.nvme_status(), NvmeStatus::SUCCESS);
        assert_eq!(b.q.stats().errors.unknown_cqe, 0);
        assert_eq!(b.slot(slot), SlotState::Free);
    }

    #[test]
    fn xri_aborted_before_the_wcqe_frees_the_xri() {
        let mut b = bench();
        let iu = [0u8; CMD_IU_LEN];
        b.q.submit(&req(4, IoDir::None, &iu, &[])).unwrap();
        b.q.flush();
        let slot = b.wqe(0).request_tag() as u16;
        let mut x = XriAbortedCqe::default();
        x.set_xri((XRI_BASE + slot).into());
        x.set_code(cqe_code::XRI_ABORTED.into());
        let mut raw = [0u8; 16];
        raw.copy_from_slice(x.as_bytes());
        b.post_cqe(raw);
        let mut w = Wcqe::new(slot, wcqe_status::REMOTE_STOP, 0, 0, true);
        w.set_xb(true);
        b.wcqe(w);
        let done = b.poll();
        assert_eq!((done[0].tag, done[0].status), (4, FcpStatus::Aborted));
        assert_eq!(b.slot(slot), SlotState::Free);
        assert_eq!(b.q.stats().errors.bad_xri, 0);
    }

    #[test]
    fn out_of_exchanges_is_busy_until_a_completion() {
        let mut b = bench_with(2);
        let iu = [0u8; CMD_IU_LEN];
        b.q.submit(&req(0, IoDir::None, &iu, &[])).unwrap();
        b.q.submit(&req(1, IoDir::None, &iu, &[])).unwrap();
        assert_eq!(
            b.q.submit(&req(2, IoDir::None, &iu, &[])),
            Err(SubmitError::Busy)
        );
        b.q.flush();
        let slot = b.wqe(0).request_tag() as u16;
        b.wcqe(Wcqe::new(slot, 0, 0, 0, true));
        assert_eq!(b.poll().len(), 1);
        b.q.submit(&req(2, IoDir::None, &iu, &[])).unwrap();
    }

    #[test]
    fn abort_by_xri_and_xb_wait() {
        let mut b = bench();
        let iu = [0u8; CMD_IU_LEN];
        b.q.submit(&req(9, IoDir::None, &iu, &[])).unwrap();
        b.q.abort(9);
        b.q.abort(9);
        b.q.abort(17);
        let slot = b.wqe(0).request_tag() as u16;
        let a = b.wqe(1);
        assert_eq!(a.command(), u32::from(wqe_cmd::ABORT));
        assert_eq!(Abort::criteria_of(&a), abort_criteria::XRI_TAG);
        assert_eq!(a.abort_tag.get(), u32::from(XRI_BASE + slot));
        assert_eq!(b.q.stats().aborts, 1, "one ABORT per exchange");
        let mut w = Wcqe::new(
            slot,
            wcqe_status::LOCAL_REJECT,
            0,
            local_reject::ABORT_REQUESTED.into(),
            true,
        );
        w.set_xb(true);
        b.wcqe(w);
        let abort_tag = a.request_tag() as u16;
        b.wcqe(Wcqe::new(abort_tag, 0, 0, 0, true));
        let done = b.poll();
        assert_eq!(done.len(), 1);
        assert_eq!((done[0].tag, done[0].status), (9, FcpStatus::Aborted));
        assert_eq!(
            b.slot(slot),
            SlotState::XbWait,
            "XRI held until XRI-aborted"
        );
        let free = b.q.rings.as_ref().unwrap().free.len();
        let mut x = XriAbortedCqe::default();
        x.set_xri((XRI_BASE + slot).into());
        x.set_code(cqe_code::XRI_ABORTED.into());
        let mut raw = [0u8; 16];
        raw.copy_from_slice(x.as_bytes());
        b.post_cqe(raw);
        assert!(b.poll().is_empty());
        assert_eq!(b.slot(slot), SlotState::Free);
        assert_eq!(b.q.rings.as_ref().unwrap().free.len(), free + 1);
        assert_eq!(b.q.stats().errors.bad_xri, 0);
    }

    #[test]
    fn abort_takes_a_completion_already_in_the_cq_instead_of_sending_abort() {
        let mut b = bench();
        let iu = [0u8; CMD_IU_LEN];
        b.q.submit(&req(9, IoDir::None, &iu, &[])).unwrap();
        b.q.submit(&req(10, IoDir::None, &iu, &[])).unwrap();
        b.q.flush();
        let slot = b.wqe(0).request_tag() as u16;
        b.wcqe(Wcqe::new(slot, 0, 0, 0, true));
        b.q.abort(9);
        assert_eq!(b.q.stats().aborts, 0, "no ABORT for a completed exchange");
        assert_ne!(b.wqe(2).command(), u32::from(wqe_cmd::ABORT));
        // Tag 10 is still outstanding: its abort goes out, with ABTS.
        b.q.abort(10);
        assert_eq!(b.q.stats().aborts, 1);
        let a = b.wqe(2);
        assert_eq!(a.command(), u32::from(wqe_cmd::ABORT));
        assert!(!Abort::local_only_of(&a), "link up: ABTS");
        let done = b.poll();
        assert_eq!(
            done.iter().map(|d| (d.tag, d.status)).collect::<Vec<_>>(),
            vec![(9, FcpStatus::Good)]
        );
    }

    /// The port lost an exchange's completion: the ABORT finds nothing
    /// ("no abort match"), and the driver ends the exchange itself, once,
    /// with its XRI free again.
    #[test]
    fn an_abort_that_finds_no_exchange_ends_its_victim() {
        let no_match = |tag: u16| {
            Wcqe::new(
                tag,
                wcqe_status::LOCAL_REJECT,
                0,
                local_reject::NO_ABORT_MATCH.into(),
                true,
            )
        };
        let mut b = bench();
        let iu = [0u8; CMD_IU_LEN];
        b.q.submit(&req(3, IoDir::None, &iu, &[])).unwrap();
        b.q.submit(&req(4, IoDir::None, &iu, &[])).unwrap();
        b.q.flush();
        let (s3, s4) = (b.wqe(0).request_tag() as u16, b.wqe(1).request_tag() as u16);
        let free = b.q.free_xris();
        // Tag 3's completion is lost; tag 4's crosses its abort.
        b.q.abort(3);
        b.q.abort(4);
        let (a3, a4) = (b.wqe(2).request_tag() as u16, b.wqe(3).request_tag() as u16);
        assert_ne!(a3 & 0x8000, 0);
        b.wcqe(no_match(a3));
        b.wcqe(Wcqe::new(s4, 0, 0, 0, true));
        b.wcqe(no_match(a4));
        let mut done = b.poll();
        done.sort_by_key(|d| d.tag);
        assert_eq!(
            done.iter().map(|d| (d.tag, d.status)).collect::<Vec<_>>(),
            vec![(3, FcpStatus::Aborted), (4, FcpStatus::Good)]
        );
        assert_eq!((b.slot(s3), b.slot(s4)), (SlotState::Free, SlotState::Free));
        assert_eq!(b.q.free_xris(), free + 2);
        assert_eq!(b.q.stats().lost_completions, 1);
        // A late "no match" of an older abort does not touch the slot's
        // next exchange, even once that one is aborted too.
        b.q.submit(&req(5, IoDir::None, &iu, &[])).unwrap();
        b.q.flush();
        assert_eq!(b.wqe(4).request_tag() as u16, s4, "the slot is reused");
        b.q.abort(5);
        b.wcqe(no_match(a4));
        assert!(b.poll().is_empty());
        assert!(matches!(b.slot(s4), SlotState::Busy { tag: 5, .. }));
    }

    #[test]
    fn abort_while_the_link_is_down_sends_no_abts() {
        let mut b = bench();
        let iu = [0u8; CMD_IU_LEN];
        b.q.submit(&req(4, IoDir::None, &iu, &[])).unwrap();
        b.q.flush();
        b.home.set_link(false);
        b.q.abort(4);
        let a = b.wqe(1);
        assert_eq!(a.command(), u32::from(wqe_cmd::ABORT));
        assert!(Abort::local_only_of(&a), "IA = 1");
        assert_eq!(b.q.stats().aborts, 1);
    }

    /// An owner thread polls as fast as it can (every poll finds an entry
    /// and rings the CQ doorbell) while management retires the pool: once
    /// `close` returned, not one more doorbell reaches the device.
    #[test]
    fn no_doorbell_reaches_the_device_after_the_pool_is_closed() {
        for round in 0..10 {
            let b = bench();
            let (dev, home) = (b.dev.clone(), Arc::clone(&b.home));
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let owner = {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut b = b;
                    let mut x = XriAbortedCqe::default();
                    x.set_xri(0x9999);
                    x.set_code(cqe_code::XRI_ABORTED.into());
                    let mut raw = [0u8; 16];
                    raw.copy_from_slice(x.as_bytes());
                    while !stop.load(std::sync::atomic::Ordering::Acquire) {
                        if b.cq_at == IO_CQ_ENTRIES {
                            b.cq_at = 0;
                        }
                        b.post_cqe(raw);
                        b.poll();
                    }
                    b
                })
            };
            // Doorbells written so far: delivered to the model or still in
            // its rings (one snapshot under the model's lock).
            let rung = || {
                let m = dev.model_stats().unwrap();
                m.doorbells_delivered + m.doorbells_queued as u64
            };
            while rung() < 50 {
                std::thread::yield_now();
            }
            let retired = {
                let w = Waiter {
                    clock: ufc_transport::clock::Clock::monotonic(),
                    device: dev.clone(),
                    idle: Arc::new(std::thread::yield_now),
                };
                home.close(&w, Duration::from_secs(5))
            };
            assert_eq!(retired.stuck, 0);
            let at_close = rung();
            // The owner keeps polling a while against the closed gate.
            for _ in 0..1000 {
                std::thread::yield_now();
            }
            stop.store(true, std::sync::atomic::Ordering::Release);
            let b = owner.join().unwrap();
            assert_eq!(rung(), at_close, "round {round}: a doorbell after close");
            drop(b);
            retired.finish();
        }
    }

    #[test]
    fn drop_returns_the_pair_and_a_reset_fails_what_was_outstanding() {
        let mut b = bench();
        let iu = [0u8; CMD_IU_LEN];
        b.q.submit(&req(1, IoDir::None, &iu, &[])).unwrap();
        b.q.submit(&req(2, IoDir::None, &iu, &[])).unwrap();
        b.q.flush();
        let rung = b.doorbells().len();
        let retired = b.retire();
        assert_eq!(retired.queues, vec![(3, 5)]);
        assert_eq!(retired.stuck, 0);
        assert_eq!(
            b.q.submit(&req(3, IoDir::None, &iu, &[])),
            Err(SubmitError::Failed)
        );
        b.q.abort(1);
        b.q.flush();
        let mut done = b.poll();
        done.sort_by_key(|d| d.tag);
        assert_eq!(
            done.iter().map(|d| (d.tag, d.status)).collect::<Vec<_>>(),
            vec![
                (1, FcpStatus::TransportError),
                (2, FcpStatus::TransportError)
            ]
        );
        assert!(b.poll().is_empty(), "failed once");
        assert_eq!(rung, 1);
        assert!(
            b.doorbells().is_empty(),
            "no doorbell after the gate closed"
        );
        drop(b.q);
        {
            let p = b.home.lock();
            assert!(p.idle.is_empty(), "a dead pair is not reused");
            assert_eq!(p.parked.len(), 1, "kept mapped until the queues are gone");
        }
        retired.finish();
        assert!(b.home.lock().parked.is_empty());
        assert_eq!(b.home.take().err(), Some(PoolState::Retired));

        let mut b = bench();
        b.q.submit(&req(1, IoDir::None, &iu, &[])).unwrap();
        let Bench {
            q, home, wq_mem, ..
        } = b;
        let slot = {
            let r = q.rings.as_ref().unwrap();
            let mut w = [0u8; WQE_LEN];
            r.arena.read(&wq_mem, 0, &mut w).unwrap();
            Wqe::from_prefix(&w).unwrap().request_tag() as usize
        };
        drop(q);
        let pool = home.lock();
        assert_eq!(pool.idle.len(), 1, "the pair went home");
        assert_eq!(pool.idle[0].slots[slot].state, SlotState::Orphan);
        assert_eq!(
            pool.idle[0].stats.aborts, 1,
            "outstanding exchanges are aborted"
        );
    }

    proptest::proptest! {
        /// Whatever the port writes into the CQ, polling neither panics nor
        /// reports a tag that was not outstanding, nor one twice, nor more
        /// data than asked for.
        #[test]
        fn hostile_cqes_never_panic(
            entries in proptest::collection::vec(
                (proptest::prelude::any::<[u8; 16]>(), 0u8..4, 0u16..70),
                1..40,
            ),
        ) {
            let mut b = bench();
            let iu = [0u8; CMD_IU_LEN];
            let sgl = [HostSge { iova: 0x10_0000, len: 4096 }];
            for tag in 0..8 {
                b.q.submit(&req(tag, IoDir::Read, &iu, &sgl)).unwrap();
            }
            b.q.flush();
            for (mut raw, kind, tag) in entries {
                // Bias towards the codes the queue handles, with tags and
                // XRIs near the real ones.
                let code = [cqe_code::WCQE, cqe_code::WQE_RELEASE, cqe_code::XRI_ABORTED, raw[14]];
                raw[14] = code[usize::from(kind)];
                if kind == 0 {
                    raw[2..4].copy_from_slice(&tag.to_le_bytes());
                } else if kind == 2 {
                    raw[8..10].copy_from_slice(&(XRI_BASE + tag).to_le_bytes());
                }
                b.post_cqe(raw);
            }
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..3 {
                for d in b.poll() {
                    proptest::prop_assert!(d.tag < 8, "tag {}", d.tag);
                    proptest::prop_assert!(seen.insert(d.tag), "tag {} twice", d.tag);
                    proptest::prop_assert!(d.transferred <= 4096);
                    proptest::prop_assert!(matches!(d.rsp_len, 0 | 12 | 32));
                }
            }
            let r = b.q.rings.as_ref().unwrap();
            proptest::prop_assert!(r.free.len() <= r.slots.len());
        }
    }

    #[test]
    fn fcp_wqe_fields() {
        let w = fcp_wqe(IoDir::Read, 0x90, 0x12, 5, 0x1_0000_0040, 8192);
        assert_eq!(w.command(), u32::from(wqe_cmd::FCP_IREAD64));
        assert_eq!(
            (w.xri_tag(), w.context_tag(), w.request_tag()),
            (0x90, 0x12, 5)
        );
        assert!(w.nvme() && w.dbde() && w.iod());
        assert_eq!((w.bde().addr(), w.bde().length()), (0x1_0000_0040, 96));
        assert_eq!(w.dw3.get(), 128, "data starts after CMD IU and RSP");
        assert_eq!(w.dw4.get(), 8192);
        let w = fcp_wqe(IoDir::Write, 0x91, 0x12, 6, 0x2000, 4096);
        assert_eq!(w.command(), u32::from(wqe_cmd::FCP_IWRITE64));
        assert!(!w.iod() && w.nvme());
        assert_eq!((w.dw4.get(), w.dw5.get()), (4096, 0));
        let w = fcp_wqe(IoDir::None, 0x92, 0x12, 7, 0x3000, 0);
        assert_eq!(w.command(), u32::from(wqe_cmd::FCP_ICMND64));
        assert!(w.nvme() && w.qosd());
        assert_eq!(w.dw4.get(), 0);
    }

    #[test]
    fn completion_classes() {
        assert_eq!(classify(0, 0), Ok((FcpStatus::Good, 12)));
        assert_eq!(classify(0x01, 32), Ok((FcpStatus::Good, 32)));
        assert_eq!(classify(0x01, 12), Err(()));
        assert_eq!(
            classify(0x03, local_reject::ABORT_REQUESTED.into()),
            Ok((FcpStatus::Aborted, 0))
        );
        assert_eq!(
            classify(0x03, local_reject::INVALID_RPI.into()),
            Ok((FcpStatus::LocalReject(local_reject::INVALID_RPI.into()), 0))
        );
        assert_eq!(classify(0x02, 0), Ok((FcpStatus::Aborted, 0)));
        assert_eq!(classify(0x1A, 0), Ok((FcpStatus::TransportError, 0)));
    }
}
