//! The driver's side of the transport's LLDD contract (transport `lldd.rs`).
//!
//! Port registration, the delete callbacks, LS requests and the lending of
//! FCP queue pairs (`io_queue`) are here. Everything the transport calls only records: [`super::Hba::poll`]
//! sends the queued LS requests (GEN_REQUEST64, R_CTL 0x32, TYPE 0x28) and
//! reads the delete callbacks in its own context, never holding these locks
//! while it calls the transport (the contract's locking rule).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ufc_transport::lldd::{
    Limits, Lldd, LlddError, LocalPortId, LsError, LsEvent, LsReq, RemotePortId,
};

use super::dma_buffer::{DmaSource, HbaDmaBuffer};
use super::io_pool::{IoPool, IoPoolStats, RetiredIo};
use super::io_queue::{HbaQueue, IoRings, MAX_DATA_SGES, MAX_HW_QUEUES};
use super::wait::Waiter;
use ufc_transport::lldd::DmaBuffer;

/// Delete callbacks seen so far.
#[derive(Debug, Default)]
struct Deleted {
    lports: Vec<LocalPortId>,
    rports: Vec<RemotePortId>,
}

/// LS requests waiting for the driver's poll, and their results.
#[derive(Debug, Default)]
struct LsQueues {
    out: VecDeque<(LocalPortId, LsReq)>,
    done: VecDeque<(LocalPortId, LsEvent)>,
    /// Answers to received LSs: (port, exchange handle, payload).
    rsps: VecDeque<(LocalPortId, u64, Vec<u8>)>,
}

/// Largest LS request the driver sends (one ELS request buffer).
pub const LS_MAX_REQUEST: usize = super::xri::REQ_LEN;

/// One driver instance as the transport sees it.
#[derive(Debug)]
pub struct HbaLldd {
    name: String,
    deleted: Mutex<Deleted>,
    ls: Mutex<LsQueues>,
    /// The FCP queue pairs of the current port incarnation; a dropped
    /// [`HbaQueue`] returns its pair to the pool it came from.
    io: Mutex<Arc<IoPool>>,
    /// Where [`Lldd::alloc_dma`] maps its buffers.
    dma: Mutex<Option<DmaSource>>,
    /// Buffers lent out and still mapped.
    dma_in_use: Arc<AtomicUsize>,
}

impl HbaLldd {
    /// An instance for the port named `name`.
    pub fn new(name: &str) -> HbaLldd {
        HbaLldd {
            name: name.to_owned(),
            deleted: Mutex::new(Deleted::default()),
            ls: Mutex::new(LsQueues::default()),
            io: Mutex::new(Arc::new(IoPool::empty())),
            dma: Mutex::new(None),
            dma_in_use: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Sets the device and IOVA space [`Lldd::alloc_dma`] maps for.
    pub(crate) fn set_dma_source(&self, src: DmaSource) {
        *self.dma.lock().unwrap_or_else(|p| p.into_inner()) = Some(src);
    }

    /// A device-visible buffer of `len` bytes (the same memory
    /// [`Lldd::alloc_dma`] lends the transport), for applications' I/O data.
    pub fn alloc_buffer(&self, len: usize) -> Result<HbaDmaBuffer, LlddError> {
        let src = self.dma.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(src) = src else {
            return Err(LlddError::PortUnavailable(format!(
                "{}: no device to map DMA memory for",
                self.name
            )));
        };
        HbaDmaBuffer::new(&src, len, Arc::clone(&self.dma_in_use))
            .map_err(|e| LlddError::NoResources(e.to_string()))
    }

    fn pool(&self) -> Arc<IoPool> {
        Arc::clone(&self.io.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Hands over the FCP queue pairs of a new port incarnation. The
    /// previous incarnation's pool must be retired ([`Self::close_io`]) first.
    pub(crate) fn install_io(&self, rings: Vec<IoRings>) {
        *self.io.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(IoPool::new(rings));
    }

    /// The port is going or gone (reset, failure, shutdown): closes the
    /// doorbells of every pair and waits until no owner thread is inside one
    /// (bounded by `bound`). Queues still lent out then fail what they had
    /// and refuse new exchanges. The caller destroys the queues (or knows
    /// the port lost them) and then calls [`RetiredIo::finish`].
    pub(crate) fn close_io(&self, waiter: &Waiter, bound: Duration) -> RetiredIo {
        let r = self.pool().close(waiter, bound);
        if r.stuck > 0 {
            log::warn!(
                "{}: {} I/O queue owners still inside a doorbell write after {bound:?}",
                self.name,
                r.stuck
            );
        }
        r
    }

    /// The link went up or down: aborts while it is down go without ABTS.
    pub(crate) fn set_link(&self, up: bool) {
        self.pool().set_link(up);
    }

    /// `xri` is an exchange of one of the current FCP queue pairs.
    pub(crate) fn owns_fcp_xri(&self, xri: u16) -> bool {
        self.pool().owns_xri(xri)
    }

    /// Counters of the FCP queue pairs (exchanges of the idle pairs by state).
    pub fn io_pool_stats(&self) -> IoPoolStats {
        self.pool().stats()
    }

    /// Device input the FCP queue pairs of the current port incarnation
    /// refused, lent out or not.
    pub fn io_input_errors(&self) -> super::io_errors::IoInputErrors {
        use super::io_errors::IoInputError as E;
        let pool = self.pool();
        let n = |e| pool.input_errors(e);
        super::io_errors::IoInputErrors {
            bad_tag: n(E::BadTag),
            bad_length: n(E::BadLength),
            bad_rsp: n(E::BadRsp),
            bad_release: n(E::BadRelease),
            bad_xri: n(E::BadXri),
            unknown_cqe: n(E::UnknownCqe),
            dma_errors: n(E::Dma),
        }
    }

    /// Management: lets idle pairs reap completions their last owner left.
    pub(crate) fn reap_idle_io(&self) -> u32 {
        self.pool().reap_idle()
    }

    /// Buffers lent through [`Lldd::alloc_dma`] and [`Self::alloc_buffer`]
    /// still mapped.
    pub fn dma_buffers_in_use(&self) -> usize {
        self.dma_in_use.load(Ordering::Acquire)
    }

    /// FCP queue pairs not lent out.
    pub fn free_io_queues(&self) -> usize {
        self.pool().idle()
    }

    fn ls_lock(&self) -> MutexGuard<'_, LsQueues> {
        // Plain queues: a panic elsewhere leaves them usable.
        self.ls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next LS request to send.
    pub(crate) fn take_ls_request(&self) -> Option<(LocalPortId, LsReq)> {
        self.ls_lock().out.pop_front()
    }

    /// The port is going away: every LS request not sent yet ends with a
    /// transport error at once (instead of at the transport's timeout), and
    /// answers to received LSs are dropped. Returns how many requests.
    pub(crate) fn fail_queued_ls(&self) -> usize {
        let mut q = self.ls_lock();
        q.rsps.clear();
        let out = std::mem::take(&mut q.out);
        let n = out.len();
        for (lport, req) in out {
            q.done.push_back((
                lport,
                LsEvent::Done {
                    tag: req.tag,
                    result: Err(LsError::Transport),
                },
            ));
        }
        n
    }

    /// Reports the end of an LS request.
    pub(crate) fn ls_done(&self, lport: LocalPortId, tag: u64, result: Result<Vec<u8>, LsError>) {
        self.ls_lock()
            .done
            .push_back((lport, LsEvent::Done { tag, result }));
    }

    /// Reports an LS the remote port `rport` sent; the transport answers it
    /// through [`Lldd::xmt_ls_rsp`] with `xchg`.
    pub(crate) fn ls_received(
        &self,
        lport: LocalPortId,
        rport: RemotePortId,
        xchg: u64,
        payload: Vec<u8>,
    ) {
        self.ls_lock().done.push_back((
            lport,
            LsEvent::Received {
                rport,
                xchg,
                payload,
            },
        ));
    }

    /// The next answer to a received LS to send: (exchange handle, payload).
    pub(crate) fn take_ls_response(&self) -> Option<(LocalPortId, u64, Vec<u8>)> {
        self.ls_lock().rsps.pop_front()
    }

    fn lock(&self) -> MutexGuard<'_, Deleted> {
        // The record is plain data: a panic elsewhere leaves it usable.
        self.deleted.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes `rport`'s delete callback if it came; true then.
    pub(crate) fn take_rport_deleted(&self, rport: RemotePortId) -> bool {
        let mut d = self.lock();
        let before = d.rports.len();
        d.rports.retain(|r| *r != rport);
        d.rports.len() != before
    }

    /// Takes every remote-port delete callback recorded so far (the driver
    /// waits only for those of its shutdown; the rest are counted).
    pub(crate) fn take_all_rports_deleted(&self) -> usize {
        let mut d = self.lock();
        let n = d.rports.len();
        d.rports.clear();
        n
    }

    /// Takes `lport`'s delete callback if it came; true then.
    pub(crate) fn take_lport_deleted(&self, lport: LocalPortId) -> bool {
        let mut d = self.lock();
        let before = d.lports.len();
        d.lports.retain(|l| *l != lport);
        d.lports.len() != before
    }
}

impl Lldd for HbaLldd {
    type HwQueue = HbaQueue;

    fn limits(&self) -> Limits {
        Limits {
            max_hw_queues: MAX_HW_QUEUES,
            max_sgl_segments: MAX_DATA_SGES as u16,
            max_dif_sgl_segments: 1,
            dma_boundary: 0xFFFF_FFFF,
        }
    }

    fn create_queue(
        &self,
        _lport: LocalPortId,
        qidx: u16,
        qsize: u16,
    ) -> Result<HbaQueue, LlddError> {
        if qsize == 0 {
            return Err(LlddError::Other(format!(
                "{}: FCP queue {qidx} of size 0",
                self.name
            )));
        }
        let pool = self.pool();
        let Ok(rings) = pool.take() else {
            return Err(LlddError::PortUnavailable(format!(
                "{}: FCP queue {qidx}: the port has no queue pairs (not up, or being reset)",
                self.name
            )));
        };
        let Some(rings) = rings else {
            return Err(LlddError::NoResources(format!(
                "{}: FCP queue {qidx}: every queue pair created at bring-up is in use \
                 (drop a controller or raise IO_QUEUE_PAIRS)",
                self.name
            )));
        };
        Ok(HbaQueue::new(rings, qsize, pool))
    }

    fn ls_req(&self, lport: LocalPortId, req: LsReq) -> Result<(), LlddError> {
        if req.payload.len() > LS_MAX_REQUEST || req.payload.is_empty() {
            return Err(LlddError::Other(format!(
                "{}: LS request of {} bytes (1..={LS_MAX_REQUEST} supported)",
                self.name,
                req.payload.len()
            )));
        }
        self.ls_lock().out.push_back((lport, req));
        Ok(())
    }

    fn ls_abort(&self, lport: LocalPortId, tag: u64) {
        // A request not sent yet ends here; one being sent is bounded by its
        // timeout and reports its own end.
        let mut q = self.ls_lock();
        let before = q.out.len();
        q.out.retain(|(l, r)| !(*l == lport && r.tag == tag));
        if q.out.len() != before {
            q.done.push_back((
                lport,
                LsEvent::Done {
                    tag,
                    result: Err(LsError::Aborted),
                },
            ));
        }
    }

    fn xmt_ls_rsp(&self, lport: LocalPortId, xchg: u64, payload: &[u8]) {
        // Sent from the driver's poll (XMIT_SEQUENCE64); one request buffer
        // holds it.
        if payload.is_empty() || payload.len() > LS_MAX_REQUEST {
            log::warn!(
                "{}: LS response of {} bytes for exchange {xchg:#x} dropped (1..={LS_MAX_REQUEST} supported)",
                self.name,
                payload.len()
            );
            return;
        }
        self.ls_lock()
            .rsps
            .push_back((lport, xchg, payload.to_vec()));
    }

    fn poll_ls(&self, lport: LocalPortId, sink: &mut dyn FnMut(LsEvent)) {
        let mine: Vec<LsEvent> = {
            let mut q = self.ls_lock();
            let (mine, rest): (Vec<_>, Vec<_>) = q.done.drain(..).partition(|(l, _)| *l == lport);
            q.done = rest.into();
            mine.into_iter().map(|(_, e)| e).collect()
        };
        // The sink runs without our lock held.
        for e in mine {
            sink(e);
        }
    }

    fn alloc_dma(&self, _lport: LocalPortId, len: usize) -> Result<Box<dyn DmaBuffer>, LlddError> {
        Ok(Box::new(self.alloc_buffer(len)?))
    }

    fn localport_delete(&self, lport: LocalPortId) {
        self.lock().lports.push(lport);
    }

    fn remoteport_delete(&self, rport: RemotePortId) {
        self.lock().rports.push(rport);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_callbacks_are_taken_once() {
        let l = HbaLldd::new("dev");
        l.remoteport_delete(RemotePortId(3));
        l.localport_delete(LocalPortId(1));
        assert!(!l.take_rport_deleted(RemotePortId(4)));
        assert!(l.take_rport_deleted(RemotePortId(3)));
        assert!(!l.take_rport_deleted(RemotePortId(3)));
        assert!(l.take_lport_deleted(LocalPortId(1)));
        let e = l.create_queue(LocalPortId(1), 1, 32).unwrap_err();
        assert!(e.to_string().contains("no queue pairs"), "{e}");
    }

    #[test]
    fn ls_requests_queue_abort_and_complete_per_port() {
        use std::time::Duration;
        use ufc_transport::lldd::LlddRport;
        let l = HbaLldd::new("dev");
        let req = |tag, len| LsReq {
            tag,
            rport: LlddRport(1),
            payload: vec![0; len],
            rsp_max: 64,
            timeout: Duration::from_secs(1),
        };
        assert!(l
            .ls_req(LocalPortId(1), req(1, LS_MAX_REQUEST + 1))
            .is_err());
        assert!(l.ls_req(LocalPortId(1), req(1, 0)).is_err());
        l.ls_req(LocalPortId(1), req(1, 8)).unwrap();
        l.ls_req(LocalPortId(1), req(2, 8)).unwrap();
        l.ls_abort(LocalPortId(1), 2);
        l.ls_abort(LocalPortId(1), 9);
        let (lp, r) = l.take_ls_request().unwrap();
        assert_eq!((lp, r.tag), (LocalPortId(1), 1));
        assert!(l.take_ls_request().is_none());
        // A port going away fails what was not sent.
        l.ls_req(LocalPortId(2), req(5, 8)).unwrap();
        assert_eq!(l.fail_queued_ls(), 1);
        assert!(l.take_ls_request().is_none());
        l.ls_done(LocalPortId(1), 1, Ok(vec![2]));
        l.ls_done(LocalPortId(2), 7, Err(LsError::Transport));
        let mut got = Vec::new();
        l.poll_ls(LocalPortId(1), &mut |e| got.push(e));
        assert!(matches!(
            got[0],
            LsEvent::Done {
                tag: 2,
                result: Err(LsError::Aborted)
            }
        ));
        assert!(matches!(&got[1], LsEvent::Done { tag: 1, result: Ok(v) } if v == &[2]));
        assert_eq!(got.len(), 2);
        let mut other = Vec::new();
        l.poll_ls(LocalPortId(2), &mut |e| other.push(e));
        assert_eq!(other.len(), 2);
        assert!(matches!(
            other[0],
            LsEvent::Done {
                tag: 5,
                result: Err(LsError::Transport)
            }
        ));
    }

    #[test]
    fn received_ls_is_reported_and_its_answer_queued_bounded() {
        let l = HbaLldd::new("dev");
        l.ls_received(LocalPortId(1), RemotePortId(7), 0x42, vec![5, 0, 0, 0]);
        let mut other = Vec::new();
        l.poll_ls(LocalPortId(2), &mut |e| other.push(e));
        assert!(other.is_empty());
        let mut got = Vec::new();
        l.poll_ls(LocalPortId(1), &mut |e| got.push(e));
        assert!(matches!(
            &got[..],
            [LsEvent::Received { rport: RemotePortId(7), xchg: 0x42, payload }] if payload == &[5, 0, 0, 0]
        ));
        // Empty and oversized answers are dropped, not queued.
        l.xmt_ls_rsp(LocalPortId(1), 0x42, &[]);
        l.xmt_ls_rsp(LocalPortId(1), 0x42, &vec![0; LS_MAX_REQUEST + 1]);
        assert!(l.take_ls_response().is_none());
        l.xmt_ls_rsp(LocalPortId(1), 0x42, &[2, 0, 0, 0]);
        assert_eq!(
            l.take_ls_response(),
            Some((LocalPortId(1), 0x42, vec![2, 0, 0, 0]))
        );
        assert!(l.take_ls_response().is_none());
    }
}
