//! ufc-perf: `fcperf`, the fio/spdk_nvme_perf-style load generator for ufc,
//! `hba_bench` (the SLI-4 driver on the emulated HBA) and `transport_bench`
//! (the transport on fcloop).
//!
//! fcperf runs on a [`backend::Backend`]: the SLI-4 driver on the emulated
//! Lancer G7 or a VFIO device ([`hba_world::HbaWorld`], `--device`), or the
//! transport's loopback LLDD ([`world::World`], `--lldd fcloop`).

pub mod backend;
pub mod check;
pub mod cli;
pub mod cpu_time;
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
