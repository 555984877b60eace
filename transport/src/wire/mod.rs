//! FC-NVMe and NVMe wire formats (nvme-fc.md §4–§5).
//!
//! FC-NVMe IUs and LS payloads are big-endian, the embedded NVMe structures
//! (SQE, CQE, Identify, Connect data) little-endian. Every layout is a
//! `#[repr(C)]` zerocopy struct with a compile-time size check; decoders return
//! [`WireError`] / [`LsRjtError`] / [`LsRspError`] and never panic on any input.
//! The I/O path types ([`CmdIu`], [`ErspIu`], [`Sqe`], [`Cqe`]) never allocate.

pub mod async_event;
pub mod cqe;
pub mod error;
pub mod fabrics;
pub mod fc;
pub mod identify;
pub mod iu;
pub mod ls;
pub mod ls_host;
pub mod ls_target;
pub mod opcode;
pub mod registers;
pub mod sqe;
pub mod status;

pub use async_event::AsyncEvent;
pub use cqe::Cqe;
pub use error::WireError;
pub use fabrics::{fctype, ConnectData};
pub use identify::{IdentifyController, IdentifyNamespace, LbaFormat};
pub use iu::{is_zero_rsp, CmdIu, ErspIu};
pub use ls::{
    encode_disconnect_assoc_acc, encode_ls_rjt, ls_cmd, LsRjtError, RjtExplanation, RjtReason,
};
pub use ls_host::{
    encode_create_assoc, encode_create_conn, encode_disconnect_assoc, parse_disconnect_assoc_acc,
    CreateAssocAcc, CreateAssocParams, CreateConnAcc, LsRspError, RcvDisconnectAssoc,
};
pub use ls_target::{encode_create_assoc_acc, encode_create_conn_acc, LsRequest};
pub use opcode::{admin, cns, fid, io, lid};
pub use registers::{Cap, Cc, Csts, Vs};
pub use sqe::{SglDesc, Sqe};
pub use status::NvmeStatus;
