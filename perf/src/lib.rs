//! ufc-perf: `fcperf`, the fio/spdk_nvme_perf-style load generator for ufc, and
//! `transport_bench`, the single-thread transport benchmark.
//!
//! Today both run on fcloop (`--lldd fcloop`): the NVMe/FC transport drives an
//! in-memory loop to the emulated target, with the target running inline on the
//! job's own thread. The emulated SLI-4 HBA (`--device emu`) comes with issue #5.

pub mod backend;
pub mod check;
pub mod cli;
pub mod drill;
pub mod error;
pub mod hba_world;
pub mod job;
pub mod parse;
pub mod report;
pub mod run;
pub mod stats;
pub mod verify;
pub mod workload;
pub mod world;

pub use error::PerfError;
