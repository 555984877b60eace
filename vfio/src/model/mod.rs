//! In-process device models: a device implemented in Rust, reached by the driver through
//! the same [`Device`](crate::Device) API as real hardware.
//!
//! This is how ufc-emu plugs in an SLI-4 HBA model. The model sees driver memory only
//! through the [`DmaView`] it is given, so a bad SGL from the driver is a
//! [`DmaError`](crate::DmaError) the model reports as a device error.
//!
//! Register writes take two paths:
//! - Doorbells (registers the model declares in [`DeviceModel::doorbells`]) go into a
//!   lock-free queue of `(doorbell, value)` pairs that the model side drains in order.
//!   A driver write costs one queue push, no lock and no syscall, and no write is ever
//!   lost or merged: SLI-4 doorbells carry counts ("num posted"), so two equal writes mean
//!   twice the work. When the queue is full the writer waits (spin, then yield), and if
//!   the model's lock is free it drains the queue itself, so a full queue cannot deadlock
//!   even in inline mode.
//! - Everything else (config space, other BAR registers, reset, DMA map) is the control
//!   path: it takes the model's mutex and first drains pending doorbells, so the model
//!   sees one thread's accesses in program order, as PCIe orders posted writes and a read
//!   flushes them.
//!
//! The model runs either on its own thread ([`ModelRunner`]) or inline, when the driver's
//! poll calls [`Device::poll_model`](crate::Device::poll_model) (deterministic tests).

mod backend;
mod runner;

pub(crate) use backend::ModelShared;
pub use backend::ModelStats;
pub use runner::{pin_current_thread, ModelRunner};

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
    /// Capacity of the doorbell queue (pending writes before writers wait).
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
/// doing a control-path access, or on a driver thread that found the doorbell queue full.
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
