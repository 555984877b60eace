//! The in-process backend: a model behind a mutex plus one lock-free doorbell ring per
//! doorbell handle.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use super::ring::{Producer, Ring};
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
    /// Doorbell writes that found their ring full and had to wait.
    pub doorbell_full_waits: u64,
    /// Doorbell writes currently queued.
    pub doorbells_queued: usize,
    /// Doorbell rings (one per live doorbell handle, plus closed ones not yet drained).
    pub doorbell_rings: usize,
    /// The model panicked; the device is dead (reads return all ones, control calls fail).
    pub dead: bool,
}

pub(crate) struct ModelState {
    pub(crate) model: Box<dyn DeviceModel>,
    view: DmaView,
    mapped: Vec<DmaMemory>,
    /// One ring per doorbell handle, drained in creation order.
    rings: Vec<Arc<Ring>>,
    delivered: u64,
}

/// State shared by a model `Device`, its doorbells and its runner.
pub(crate) struct ModelShared {
    pub(crate) name: String,
    pub(crate) bar_lens: [u64; 6],
    pub(crate) config_len: u64,
    doorbell_regs: Box<[DoorbellRegister]>,
    ring_capacity: usize,
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
            ring_capacity: opts.doorbell_queue,
            control_waiters: AtomicU32::new(0),
            runner_attached: AtomicBool::new(false),
            full_waits: AtomicU64::new(0),
            state: Mutex::new(ModelState {
                model,
                view: DmaView::empty(),
                mapped: Vec::new(),
                rings: Vec::new(),
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

    /// A doorbell handle for declared doorbell `index`, with its own ring.
    pub(crate) fn port(self: &Arc<Self>, index: u32) -> Result<DoorbellPort, DeviceError> {
        let ring = Arc::new(Ring::new(self.ring_capacity));
        self.lock()?.rings.push(Arc::clone(&ring));
        Ok(DoorbellPort {
            shared: Arc::clone(self),
            ring,
            producer: Producer::new(),
            index,
        })
    }

    /// Backpressure: never drop, never merge. Drain the rings ourselves when the model
    /// is free, otherwise wait for the model thread.
    #[cold]
    #[inline(never)]
    fn push_full(&self, port: &DoorbellPort, entry: u64) {
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
            if port.producer.try_push(&port.ring, entry) {
                return;
            }
            spins += 1;
            if spins < FULL_SPINS {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Delivers every published doorbell, ring by ring, each ring in order; forgets rings
    /// whose handle is gone once they are empty.
    fn drain(&self, st: &mut ModelState) -> usize {
        let ModelState {
            model,
            rings,
            delivered,
            ..
        } = st;
        let mut n = 0;
        let mut closed = false;
        for ring in rings.iter() {
            n += ring.drain(|entry| model.doorbell((entry >> 32) as usize, entry as u32));
            closed |= ring.is_closed();
        }
        if closed {
            rings.retain(|r| !(r.is_closed() && r.len() == 0));
        }
        *delivered += n as u64;
        n
    }

    /// Drains doorbells and lets the model do background work.
    pub(crate) fn service(&self, st: &mut ModelState) -> bool {
        let n = self.drain(st);
        let polled = st.model.poll();
        n > 0 || polled
    }

    /// Non-blocking service for the runner and inline mode. `Err` when poisoned.
    pub(crate) fn try_service(&self) -> Result<bool, ()> {
        match self.state.try_lock() {
            Ok(mut st) => Ok(self.service(&mut st)),
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Poisoned(_)) => Err(()),
        }
    }

    /// A doorbell written as a plain register (control path): delivered after everything
    /// already queued.
    pub(crate) fn doorbell_direct(&self, index: u32, value: u32) -> Result<(), DeviceError> {
        self.control(|st| {
            st.model.doorbell(index as usize, value);
            st.delivered += 1;
        })
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
        self.drain(&mut st);
        Ok(f(&mut st))
    }

    pub(crate) fn dma_map(&self, mem: &DmaMemory) -> Result<(), DeviceError> {
        self.control(|st| {
            if st.mapped.iter().any(|m| m.same_region(mem)) {
                return Ok(());
            }
            st.view = st.view.try_with(mem)?;
            st.mapped.push(mem.clone());
            let view = st.view.clone();
            st.model.set_dma_view(view);
            Ok(())
        })?
        .map_err(|reason| DeviceError::DmaMap {
            device: self.name.clone(),
            iova: mem.iova(),
            len: mem.len() as u64,
            reason,
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
        let read = |st: &ModelState| ModelStats {
            doorbells_delivered: st.delivered,
            doorbell_full_waits: self.full_waits.load(Ordering::Relaxed),
            doorbells_queued: st.rings.iter().map(|r| r.len()).sum(),
            doorbell_rings: st.rings.len(),
            dead: self.state.is_poisoned(),
        };
        match self.lock() {
            Ok(st) => read(&st),
            // A poisoned model delivers nothing more; report what it got before.
            Err(_) => read(
                &self
                    .state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            ),
        }
    }
}

/// The model side of a [`Doorbell`](crate::Doorbell): a ring owned by one handle.
#[derive(Debug)]
pub(crate) struct DoorbellPort {
    shared: Arc<ModelShared>,
    ring: Arc<Ring>,
    producer: Producer,
    index: u32,
}

impl DoorbellPort {
    /// The hot path: two plain stores, unless the ring is full.
    #[inline]
    pub(crate) fn write(&self, value: u32) {
        let entry = (u64::from(self.index) << 32) | u64::from(value);
        if !self.producer.try_push(&self.ring, entry) {
            self.shared.push_full(self, entry);
        }
    }
}

impl Drop for DoorbellPort {
    fn drop(&mut self) {
        // Queued writes are still delivered; the consumer forgets the ring afterwards.
        self.ring.close();
    }
}
