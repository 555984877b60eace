//! ufc-transport: an NVMe over Fibre Channel host transport after Linux `nvme-fc`,
//! polled, with lock-free queue pairs and the restart-safe port accounting of the
//! seed commit (docs/design.md, ../shared/docs/nvme-fc.md).
//!
//! Entry points: [`Transport`] (the LLDD registers ports, the application
//! connects controllers and calls [`Transport::poll`]), [`Controller`],
//! [`Namespace`], [`IoQpair`].
//!
//! ```ignore
//! let transport = Transport::<MyLldd>::new(Clock::monotonic());
//! // The LLDD registers its ports (Transport::register_localport / _remoteport).
//! let _poller = transport.spawn_poller(Duration::from_millis(1))?; // or call poll()
//! let ctrl = transport.connect(ConnectOptions::parse(
//!     "traddr=nn-0x…:pn-0x…,host_traddr=nn-0x…:pn-0x…,nqn=nqn.…",
//! )?)?;
//! while ctrl.state() != CtrlState::Live { /* wait */ }
//! let ns = ctrl.namespaces().remove(0);
//! let mut qp = ctrl.alloc_io_qpair()?;          // one per thread
//! qp.submit_read(&ns, 0, 8, &[Sge { iova, len: 4096 }], 1)?;
//! qp.poll(64, |c| assert!(c.status.is_success()));
//! ```
//!
//! The seed's guarantee: once the LLDD unregisters a port, its delete callback
//! comes as soon as the associations on it are torn down, whoever still holds
//! [`Controller`] or [`Namespace`] handles; held I/O resumes if the same WWNs
//! come back before dev_loss_tmo / ctrl_loss_tmo.

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
