//! ufc-transport: an NVMe over Fibre Channel host transport after Linux `nvme-fc`,
//! polled, with lock-free queue pairs and the restart-safe port accounting of the
//! seed commit (docs/design.md, ../shared/docs/nvme-fc.md).
//!
//! Entry points: [`Transport`] (the LLDD registers ports, the application
//! connects controllers and calls [`Transport::poll`]), [`Controller`],
//! [`Namespace`], [`IoQpair`].

pub mod clock;
pub mod ctrl;
pub mod error;
pub mod lldd;
pub mod port;
pub mod qpair;
pub mod stats;
pub mod transport;
pub mod wire;
pub mod wwn;

pub use clock::{Clock, ManualClock};
pub use ctrl::namespace::Namespace;
pub use ctrl::options::{ConnectOptions, OptionsError};
pub use ctrl::state::CtrlState;
pub use ctrl::Controller;
pub use error::TransportError;
pub use port::PortState;
pub use qpair::{IoCompletion, IoQpair, IoSubmitError, QpairStats};
pub use stats::{CtrlStats, LocalPortStats, RemotePortStats, TransportStats};
pub use transport::{PollerHandle, Transport, TransportConfig};
pub use wire::NvmeStatus;
