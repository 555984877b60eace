//! The in-process backend: a model behind a mutex plus a lock-free doorbell queue.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use crossbeam_queue::ArrayQueue;

use super::{DeviceModel, DoorbellRegister, ModelOptions};
use crate::dma::{DmaMemory, DmaView};
use crate::error::DeviceError;

/// Spins before a waiting doorbell writer starts yielding its CPU.
const FULL_SPINS: u32 = 64;

/// Counters of the in-process backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelStats {
    /// Doorbell writes handed to the model.
    pub doorbells_delivered: u64,
    /// Doorbell writes that found the queue full and had to wait.
    pub doorbell_full_waits: u64,
    /// Doorbell writes currently queued.
    pub doorbells_queued: usize,
}

pub(crate) struct ModelState {
    pub(crate) model: Box<dyn DeviceModel>,
    view: DmaView,
    mapped: Vec<DmaMemory>,
    delivered: u64,
}

/// State shared by a model `Device`, its doorbells and its runner.
pub(crate) struct ModelShared {
    pub(crate) name: String,
    pub(crate) bar_lens: [u64; 6],
    pub(crate) config_len: u64,
    doorbell_regs: Box<[DoorbellRegister]>,
    /// `(doorbell index << 32) | value`, in driver order.
    queue: ArrayQueue<u64>,
    /// Control-path callers waiting for the state lock; the runner backs off while set,
    /// so a spinning model thread cannot starve the driver's control path.
    pub(crate) control_waiters: AtomicU32,
    pub(crate) runner_attached: AtomicBool,
    full_waits: AtomicU64,
    state: Mutex<ModelState>,
}

impl std::fmt::Debug for ModelShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelShared")
            .field("name", &self.name)
            .field("bar_lens", &self.bar_lens)
            .field("doorbells", &self.doorbell_regs)
            .finish_non_exhaustive()
    }
}

impl ModelShared {
    pub(crate) fn new(model: Box<dyn DeviceModel>, opts: ModelOptions) -> Self {
        let mut bar_lens = [0u64; 6];
        for (i, len) in bar_lens.iter_mut().enumerate() {
            *len = model.bar_len(i as u8);
        }
        let config_len = model.config_len();
        let doorbell_regs = model.doorbells().into_boxed_slice();
        ModelShared {
            name: model.name().to_owned(),
            bar_lens,
            config_len,
            doorbell_regs,
            queue: ArrayQueue::new(opts.doorbell_queue.max(1)),
            control_waiters: AtomicU32::new(0),
            runner_attached: AtomicBool::new(false),
            full_waits: AtomicU64::new(0),
            state: Mutex::new(ModelState {
                model,
                view: DmaView::empty(),
                mapped: Vec::new(),
                delivered: 0,
            }),
        }
    }

    /// Index of the doorbell declared at (`bar`, `offset`).
    pub(crate) fn doorbell_index(&self, bar: u8, offset: u64) -> Option<u32> {
        self.doorbell_regs
            .iter()
            .position(|d| d.bar == bar && d.offset == offset)
            .map(|i| i as u32)
    }

    /// The doorbell hot path: one queue push.
    #[inline]
    pub(crate) fn push_doorbell(&self, index: u32, value: u32) {
        let entry = (u64::from(index) << 32) | u64::from(value);
        if let Err(entry) = self.queue.push(entry) {
            self.push_doorbell_full(entry);
        }
    }

    /// Backpressure: never drop, never merge. Drain the queue ourselves when the model is
    /// free, otherwise wait for the model thread.
    #[cold]
    #[inline(never)]
    fn push_doorbell_full(&self, mut entry: u64) {
        self.full_waits.fetch_add(1, Ordering::Relaxed);
        let mut spins = 0u32;
        loop {
            match self.state.try_lock() {
                Ok(mut st) => {
                    self.drain(&mut st);
                }
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Poisoned(_)) => {
                    // A dead device swallows writes, as hardware that fell off the bus does.
                    log::error!("doorbell write to dead device model {} dropped", self.name);
                    return;
                }
            }
            match self.queue.push(entry) {
                Ok(()) => return,
                Err(back) => entry = back,
            }
            spins += 1;
            if spins < FULL_SPINS {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Delivers queued doorbells in order; at most one queue's worth per call so a writer
    /// that keeps the queue full cannot hold the model forever.
    fn drain(&self, st: &mut ModelState) -> usize {
        let mut n = 0;
        let cap = self.queue.capacity();
        while n < cap {
            let Some(entry) = self.queue.pop() else { break };
            st.model.doorbell((entry >> 32) as usize, entry as u32);
            n += 1;
        }
        st.delivered += n as u64;
        n
    }

    /// Drains doorbells and lets the model do background work.
    pub(crate) fn service(&self, st: &mut ModelState) -> bool {
        let n = self.drain(st);
        let polled = st.model.poll();
        n > 0 || polled
    }

    pub(crate) fn queue_is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Non-blocking service for the runner and inline mode. `Err` when poisoned.
    pub(crate) fn try_service(&self) -> Result<bool, ()> {
        match self.state.try_lock() {
            Ok(mut st) => Ok(self.service(&mut st)),
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Poisoned(_)) => Err(()),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, ModelState>, DeviceError> {
        self.control_waiters.fetch_add(1, Ordering::AcqRel);
        let guard = self.state.lock();
        self.control_waiters.fetch_sub(1, Ordering::AcqRel);
        guard.map_err(|_| DeviceError::ModelPoisoned {
            device: self.name.clone(),
        })
    }

    /// Runs `f` on the model after delivering every doorbell queued before the call.
    pub(crate) fn control<R>(
        &self,
        f: impl FnOnce(&mut ModelState) -> R,
    ) -> Result<R, DeviceError> {
        let mut st = self.lock()?;
        while self.drain(&mut st) > 0 {}
        Ok(f(&mut st))
    }

    pub(crate) fn dma_map(&self, mem: &DmaMemory) -> Result<(), DeviceError> {
        self.control(|st| {
            if st.mapped.iter().any(|m| m.same_region(mem)) {
                return;
            }
            st.mapped.push(mem.clone());
            st.view = st.view.with(mem);
            let view = st.view.clone();
            st.model.set_dma_view(view);
        })
    }

    pub(crate) fn dma_unmap(&self, mem: &DmaMemory) -> Result<(), DeviceError> {
        let found = self.control(|st| {
            let Some(pos) = st.mapped.iter().position(|m| m.same_region(mem)) else {
                return false;
            };
            st.mapped.swap_remove(pos);
            st.view = st.view.without(mem);
            let view = st.view.clone();
            st.model.set_dma_view(view);
            true
        })?;
        if found {
            Ok(())
        } else {
            Err(DeviceError::NotMapped {
                device: self.name.clone(),
                iova: mem.iova(),
            })
        }
    }

    pub(crate) fn stats(&self) -> ModelStats {
        // A poisoned model delivers nothing more; report what it got before.
        let delivered = match self.lock() {
            Ok(st) => st.delivered,
            Err(_) => {
                self.state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .delivered
            }
        };
        ModelStats {
            doorbells_delivered: delivered,
            doorbell_full_waits: self.full_waits.load(Ordering::Relaxed),
            doorbells_queued: self.queue.len(),
        }
    }
}
