//! The error type of fcperf and the benchmark: every message names the object and
//! the fix.

use std::time::Duration;

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    /// A command-line option has a value the tool cannot use.
    #[error("{option}: {reason}")]
    Usage {
        /// The option, as the user spells it (`--verify`).
        option: &'static str,
        /// What is wrong and what to use instead.
        reason: String,
    },
    /// A real HBA could not be opened through VFIO.
    #[error("--device {address}: {source}")]
    Vfio {
        /// The PCI address given.
        address: String,
        /// The vfio error (it names the fix).
        source: ufc_vfio::DeviceError,
    },
    /// The SLI-4 driver failed.
    #[error("HBA {device}: {source}")]
    Hba {
        /// `emu`, `emu:FILE` or the PCI address.
        device: String,
        /// The driver's error.
        source: ufc_hba::HbaError,
    },
    /// Building the emulated fabric failed.
    #[error("emulated fabric: {0}")]
    Emu(String),
    /// DMA memory for data buffers could not be set up.
    #[error("DMA pool of {bytes} bytes for the data buffers: {source}")]
    Dma {
        /// Bytes requested.
        bytes: usize,
        /// The vfio error (names RLIMIT_MEMLOCK and `ulimit -l` when that is the cause).
        source: ufc_vfio::MemoryError,
    },
    /// The transport refused a call.
    #[error("transport: {0}")]
    Transport(#[from] ufc_transport::TransportError),
    /// A controller did not reach LIVE in time.
    #[error("controller {name} did not become live within {waited:?} (state {state}); check the target port and subsystem NQN")]
    ConnectTimeout {
        /// Controller name.
        name: String,
        /// How long we waited.
        waited: Duration,
        /// Its state then.
        state: String,
    },
    /// A job thread could not be started or pinned.
    #[error("job {job}: {reason}")]
    Job {
        /// Job index.
        job: usize,
        /// What failed.
        reason: String,
    },
    /// A drill step failed.
    #[error("drill {kind}: {reason}")]
    Drill {
        /// `restart`, `link-bounce`, `fw-error`.
        kind: &'static str,
        /// What failed.
        reason: String,
    },
}
