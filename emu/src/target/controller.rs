//! A controller: created by the admin Connect of an association, it holds the
//! property registers, the features, the keep-alive deadline and the queued
//! asynchronous events.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::Clock;

use crate::target::registers::{CcChange, PropertyError, Registers};
use crate::target::subsystem::Subsystem;

/// CAP.TO: 7.5 s to become ready (in 500 ms units), as Linux nvmet reports.
const CAP_TO_500MS: u8 = 15;

/// Mutable controller state.
#[derive(Debug)]
pub(crate) struct CtrlState {
    pub(crate) regs: Registers,
    /// Keep Alive Timeout in ms; 0 disables the timer.
    pub(crate) kato_ms: u32,
    pub(crate) ka_deadline: Option<Duration>,
    /// I/O queues granted by Set Features Number of Queues (0's based), if set.
    pub(crate) queues_granted: Option<u16>,
    pub(crate) async_event_config: u32,
    /// Events raised while no Async Event Request was outstanding (CQE DW0 values).
    pub(crate) pending_events: VecDeque<u32>,
    /// The keep-alive timer fired.
    pub(crate) ka_expired: bool,
}

/// One controller of a subsystem.
#[derive(Debug)]
pub struct Controller {
    cntlid: u16,
    subsystem: Arc<Subsystem>,
    hostnqn: String,
    hostid: [u8; 16],
    clock: Clock,
    /// Mirrors `regs.ready()` for the I/O path, which must not take the lock.
    ready: AtomicBool,
    state: Mutex<CtrlState>,
}

impl Controller {
    pub(crate) fn new(
        subsystem: Arc<Subsystem>,
        hostnqn: String,
        hostid: [u8; 16],
        kato_ms: u32,
        clock: Clock,
    ) -> Arc<Self> {
        let cntlid = subsystem.alloc_cntlid();
        let regs = Registers::new(subsystem.config().mqes, CAP_TO_500MS);
        let ka_deadline =
            (kato_ms != 0).then(|| clock.now() + Duration::from_millis(u64::from(kato_ms)));
        Arc::new(Controller {
            cntlid,
            subsystem,
            hostnqn,
            hostid,
            clock,
            ready: AtomicBool::new(false),
            state: Mutex::new(CtrlState {
                regs,
                kato_ms,
                ka_deadline,
                queues_granted: None,
                async_event_config: 0,
                pending_events: VecDeque::new(),
                ka_expired: false,
            }),
        })
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, CtrlState> {
        // Every update is a single assignment group; a panicked holder leaves it usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Controller ID.
    pub fn cntlid(&self) -> u16 {
        self.cntlid
    }

    /// The subsystem.
    pub fn subsystem(&self) -> &Arc<Subsystem> {
        &self.subsystem
    }

    /// The host NQN of the admin Connect.
    pub fn hostnqn(&self) -> &str {
        &self.hostnqn
    }

    /// The host id of the admin Connect.
    pub fn hostid(&self) -> &[u8; 16] {
        &self.hostid
    }

    /// CC.EN = 1 and CSTS.RDY = 1.
    #[inline]
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// CC (for tests and logs).
    pub fn cc(&self) -> u32 {
        self.state().regs.cc()
    }

    /// CSTS.
    pub fn csts(&self) -> u32 {
        self.state().regs.csts()
    }

    /// Property Get.
    pub fn property_get(&self, offset: u32, size: u8) -> Result<u64, PropertyError> {
        self.state().regs.get(offset, size)
    }

    /// Property Set; a CC write may enable, reset or shut down the controller.
    pub fn property_set(
        &self,
        offset: u32,
        size: u8,
        value: u64,
    ) -> Result<CcChange, PropertyError> {
        let mut st = self.state();
        let change = st.regs.set(offset, size, value)?;
        self.ready.store(st.regs.ready(), Ordering::Release);
        Ok(change)
    }

    /// Keep Alive Timeout in ms.
    pub fn kato_ms(&self) -> u32 {
        self.state().kato_ms
    }

    /// Sets KATO (Set Features Keep Alive Timer) and restarts the timer.
    pub(crate) fn set_kato(&self, kato_ms: u32) {
        let mut st = self.state();
        st.kato_ms = kato_ms;
        st.ka_deadline =
            (kato_ms != 0).then(|| self.clock.now() + Duration::from_millis(u64::from(kato_ms)));
    }

    /// A Keep Alive command arrived: restart the timer.
    pub(crate) fn keep_alive(&self) {
        let mut st = self.state();
        if st.kato_ms != 0 {
            st.ka_deadline = Some(self.clock.now() + Duration::from_millis(u64::from(st.kato_ms)));
        }
    }

    /// The keep-alive deadline, if the timer runs.
    pub fn keep_alive_deadline(&self) -> Option<Duration> {
        self.state().ka_deadline
    }

    /// Checks the keep-alive timer; true the first time it is found expired, which
    /// makes the controller fatal (CSTS.CFS) as a real one would.
    pub(crate) fn check_keep_alive(&self) -> bool {
        let now = self.clock.now();
        let mut st = self.state();
        match st.ka_deadline {
            Some(deadline) if now >= deadline && !st.ka_expired => {
                st.ka_expired = true;
                st.ka_deadline = None;
                st.regs.set_fatal();
                self.ready.store(false, Ordering::Release);
                true
            }
            _ => false,
        }
    }
}
