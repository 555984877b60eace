//! In-process device models: a device implemented in Rust, reached by the driver through
//! the same [`Device`](crate::Device) API as real hardware.
//!
//! This is how ufc-emu plugs in an SLI-4 HBA model. The model sees driver memory only
//! through the [`DmaView`] it is given, so a bad SGL from the driver is a
//! [`DmaError`](crate::DmaError) the model reports as a device error.
//!
//! Register writes take two paths:
//! - Doorbells (registers the model declares in [`DeviceModel::doorbells`]) written
//!   through a [`Doorbell`](crate::Doorbell) handle go into that handle's
//!   single-producer ring of `(doorbell, value)` pairs, which the model side drains in
//!   order. A driver write is two plain stores: no lock, no atomic read-modify-write, no
//!   syscall. No write is ever lost or merged: SLI-4 doorbells carry counts ("num
//!   posted"), so two equal writes mean twice the work. When a ring is full the writer
//!   waits (spin, then yield), and if the model's lock is free it drains the rings itself,
//!   so a full ring cannot deadlock even in inline mode. Writes through one handle arrive
//!   in order; writes through different handles are drained ring by ring, so their
//!   relative order is not preserved (as with a polled doorbell page in vfio-user) — a
//!   model must not depend on it. A plain register write to a doorbell offset
//!   ([`Reg32::write`](crate::Reg32::write), [`Bar::write32`](crate::Bar::write32)) takes
//!   the control path and arrives after everything already queued.
//! - Everything else (config space, other BAR registers, reset, DMA map) is the control
//!   path: it takes the model's mutex and first drains pending doorbells, so the model
//!   sees one thread's accesses in program order, as PCIe orders posted writes and a read
//!   flushes them.
//!
//! The model runs either on its own thread ([`ModelRunner`]) or inline, when the driver's
//! poll calls [`Device::poll_model`](crate::Device::poll_model) (deterministic tests).

mod backend;
mod ring;
mod runner;

pub use backend::ModelStats;
pub(crate) use backend::{DoorbellPort, ModelShared};
pub use runner::{pin_current_thread, IdlePolicy, ModelRunner, RunnerOptions};

use crate::dma::DmaView;

/// A register the model treats as a doorbell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DoorbellRegister {
    /// BAR index.
    pub bar: u8,
    /// Offset in the BAR (4-byte aligned; doorbells are 32-bit).
    pub offset: u64,
}

/// Options of the in-process backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelOptions {
    /// Capacity of each doorbell handle's ring (pending writes before the writer waits),
    /// rounded up to a power of two.
    pub doorbell_queue: usize,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            doorbell_queue: 4096,
        }
    }
}

/// A device implemented in software.
///
/// All methods run with the model's state locked, on the model thread, on a driver thread
/// doing a control-path access, or on a driver thread that found its doorbell ring full.
/// Register data is little-endian, `data.len()` is the access width (1, 2, 4 or 8) and the
/// access has been checked against [`bar_len`](Self::bar_len) or
/// [`config_len`](Self::config_len) and for natural alignment.
pub trait DeviceModel: Send + 'static {
    /// Name used in messages (e.g. "sli4-model").
    fn name(&self) -> &str;
    /// Length of BAR `bar` (0..6) in bytes; 0 when the BAR does not exist.
    fn bar_len(&self, bar: u8) -> u64;
    /// Size of config space: 256 (conventional) or 4096 (PCIe extended).
    fn config_len(&self) -> u64 {
        4096
    }
    /// The doorbell registers; queried once when the device is created. The index of a
    /// register in this list is the `doorbell` argument of [`doorbell`](Self::doorbell).
    fn doorbells(&self) -> Vec<DoorbellRegister>;
    /// The driver's DMA mappings changed; `view` holds all regions now mapped.
    fn set_dma_view(&mut self, view: DmaView);
    /// Config-space read.
    fn config_read(&mut self, offset: u16, data: &mut [u8]);
    /// Config-space write.
    fn config_write(&mut self, offset: u16, data: &[u8]);
    /// Read of a BAR register (side effects allowed, e.g. read-to-clear).
    fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]);
    /// Write of a non-doorbell BAR register.
    fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]);
    /// A doorbell write, in the order the driver issued it.
    fn doorbell(&mut self, doorbell: usize, value: u32);
    /// Background work (timers, completions in flight). Returns true if it did anything.
    fn poll(&mut self) -> bool {
        false
    }
    /// Function-level reset. Return `Err(reason)` if the model cannot reset.
    fn reset(&mut self) -> Result<(), String>;
}
