//! The driver's side of the transport's LLDD contract (transport `lldd.rs`).
//!
//! Issue 4 needs port registration and the delete callbacks; the FCP I/O
//! queues and LS requests over GEN_REQUEST64 arrive with issue 5 and refuse
//! for now with a message saying so. Delete callbacks only record the event:
//! [`super::Hba`] reads them in its own context and never holds the record's
//! lock while it calls the transport (the contract's locking rule).

use std::sync::{Mutex, MutexGuard};

use ufc_transport::lldd::{
    FcpDone, FcpReq, HwQueue, Limits, Lldd, LlddError, LocalPortId, LsEvent, LsReq, RemotePortId,
    SubmitError,
};

/// Delete callbacks seen so far.
#[derive(Debug, Default)]
struct Deleted {
    lports: Vec<LocalPortId>,
    rports: Vec<RemotePortId>,
}

/// One driver instance as the transport sees it.
#[derive(Debug)]
pub struct HbaLldd {
    name: String,
    deleted: Mutex<Deleted>,
}

impl HbaLldd {
    /// An instance for the port named `name`.
    pub fn new(name: &str) -> HbaLldd {
        HbaLldd {
            name: name.to_owned(),
            deleted: Mutex::new(Deleted::default()),
        }
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

    /// Takes `lport`'s delete callback if it came; true then.
    pub(crate) fn take_lport_deleted(&self, lport: LocalPortId) -> bool {
        let mut d = self.lock();
        let before = d.lports.len();
        d.lports.retain(|l| *l != lport);
        d.lports.len() != before
    }
}

/// The FCP queue type. Issue 5 builds it on a WQ/CQ pair; until then no value
/// exists ([`Lldd::create_queue`] refuses).
#[derive(Debug)]
pub enum HbaQueue {}

impl HwQueue for HbaQueue {
    fn submit(&mut self, _req: &FcpReq<'_>) -> Result<(), SubmitError> {
        match *self {}
    }

    fn flush(&mut self) {
        match *self {}
    }

    fn abort(&mut self, _tag: u16) {
        match *self {}
    }

    fn poll<F: FnMut(FcpDone)>(&mut self, _budget: u32, _f: F) -> u32 {
        match *self {}
    }
}

impl Lldd for HbaLldd {
    type HwQueue = HbaQueue;

    fn limits(&self) -> Limits {
        Limits {
            max_hw_queues: 1,
            max_sgl_segments: 64,
            max_dif_sgl_segments: 1,
            dma_boundary: 0xFFFF_FFFF,
        }
    }

    fn create_queue(
        &self,
        _lport: LocalPortId,
        qidx: u16,
        _qsize: u16,
    ) -> Result<HbaQueue, LlddError> {
        Err(LlddError::NoResources(format!(
            "{}: FCP queue {qidx}: NVMe I/O queues are not implemented in this driver yet",
            self.name
        )))
    }

    fn ls_req(&self, _lport: LocalPortId, _req: LsReq) -> Result<(), LlddError> {
        Err(LlddError::PortUnavailable(format!(
            "{}: NVMe LS requests are not implemented in this driver yet",
            self.name
        )))
    }

    fn ls_abort(&self, _lport: LocalPortId, _tag: u64) {}

    fn xmt_ls_rsp(&self, _lport: LocalPortId, _xchg: u64, _payload: &[u8]) {}

    fn poll_ls(&self, _lport: LocalPortId, _sink: &mut dyn FnMut(LsEvent)) {}

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
        assert!(e.to_string().contains("not implemented"), "{e}");
    }
}
