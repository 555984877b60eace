//! Running a device model on its own thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use nix::sched::{sched_setaffinity, CpuSet};
use nix::unistd::Pid;

use super::ModelShared;
use crate::device::Device;
use crate::error::DeviceError;

/// Idle loops spent spinning before the model thread starts yielding.
const IDLE_SPINS: u32 = 1024;

/// Pins the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> Result<(), DeviceError> {
    let mut set = CpuSet::new();
    set.set(cpu)
        .map_err(|source| DeviceError::Pin { cpu, source })?;
    sched_setaffinity(Pid::from_raw(0), &set).map_err(|source| DeviceError::Pin { cpu, source })
}

/// What the model thread does when it has nothing to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdlePolicy {
    /// Spin a while, then yield the CPU between polls: friendly to a shared machine, at
    /// the cost of latency when other threads want the CPU.
    #[default]
    Yield,
    /// Never give up the CPU: lowest latency, for a model pinned to its own core.
    Spin,
}

/// How to run a model thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunnerOptions {
    /// CPU to pin the thread to.
    pub cpu: Option<usize>,
    /// Idle behaviour.
    pub idle: IdlePolicy,
}

/// A thread that polls an in-process device model: it drains doorbells as they arrive and
/// calls the model's `poll`. Spins while there is work, yields its CPU when idle. Stops and
/// joins on [`stop`](Self::stop) or drop. While it runs, [`Device::poll_model`] still works
/// (the two take turns on the model lock).
#[derive(Debug)]
pub struct ModelRunner {
    name: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<ModelShared>,
}

impl ModelRunner {
    /// Starts the model thread of `device`, pinned to `cpu` if given, yielding when idle.
    pub fn spawn(device: &Device, cpu: Option<usize>) -> Result<Self, DeviceError> {
        Self::spawn_with(
            device,
            RunnerOptions {
                cpu,
                idle: IdlePolicy::Yield,
            },
        )
    }

    /// Starts the model thread of `device` with `opts`.
    pub fn spawn_with(device: &Device, opts: RunnerOptions) -> Result<Self, DeviceError> {
        let RunnerOptions { cpu, idle } = opts;
        let shared = device
            .model_shared()
            .ok_or_else(|| DeviceError::NotAModel {
                device: device.name().to_owned(),
                op: "ModelRunner::spawn",
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = {
            let model = Arc::clone(&shared);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name(format!("model-{}", shared.name))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        if let Err(e) = pin_current_thread(cpu) {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    }
                    let _ = ready_tx.send(Ok(()));
                    run(&model, &stop, idle);
                })
                .map_err(|source| DeviceError::Spawn {
                    device: shared.name.clone(),
                    source,
                })?
        };
        // The thread always sends before doing anything else, unless it panicked.
        let started = ready_rx.recv().unwrap_or_else(|_| {
            Err(DeviceError::ModelPoisoned {
                device: shared.name.clone(),
            })
        });
        if let Err(e) = started {
            let _ = thread.join();
            return Err(e);
        }
        shared.runner_attached.store(true, Ordering::Release);
        log::debug!(
            "model {} running on its own thread (cpu {cpu:?})",
            shared.name
        );
        Ok(ModelRunner {
            name: shared.name.clone(),
            stop,
            thread: Some(thread),
            shared,
        })
    }

    /// Name of the model.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("model {} thread panicked", self.name);
            }
        }
        self.shared.runner_attached.store(false, Ordering::Release);
    }
}

impl Drop for ModelRunner {
    fn drop(&mut self) {
        self.halt();
    }
}

fn run(shared: &ModelShared, stop: &AtomicBool, policy: IdlePolicy) {
    let mut idle = 0u32;
    while !stop.load(Ordering::Acquire) {
        if shared.control_waiters.load(Ordering::Acquire) != 0 {
            // Let the driver's control access take the lock first.
            std::thread::yield_now();
            continue;
        }
        // The lock is uncontended in steady state (the driver takes it only on the control
        // path), so its cache line stays on this core.
        let worked = match shared.try_service() {
            Ok(w) => w,
            Err(()) => {
                log::error!("model {} panicked; its thread stops", shared.name);
                return;
            }
        };
        if worked {
            idle = 0;
        } else {
            idle = idle.wrapping_add(1);
            if idle < IDLE_SPINS || policy == IdlePolicy::Spin {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}
