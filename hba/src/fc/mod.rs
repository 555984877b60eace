//! Fibre Channel frame and payload formats shared by the SLI-4 driver and the
//! emulated fabric (sli4.md §6; FC-FS-2, FC-LS-3, FC-GS-7 facts as restated
//! there and in LPFC `lpfc_hw.h`).
//!
//! Everything here is big-endian wire format. Fixed layouts are `#[repr(C)]`
//! zerocopy structs with compile-time size checks; parsers return [`FcError`]
//! and never panic on any input. Variable-length builders (RSCN, CT) allocate:
//! they serve discovery and the fabric model, not the I/O path.
//!
//! | file | holds |
//! |---|---|
//! | [`header`] | 24-byte frame header, R_CTL/TYPE/F_CTL values, well-known addresses |
//! | [`frame`] | [`Frame`]: header + payload, `to_bytes()` for pcap |
//! | [`pcap`] | pcap file/record headers, link type 224 |
//! | [`els`] | ELS command codes, the bare LS_ACC |
//! | [`login`] | FLOGI/PLOGI/FDISC service parameters |
//! | [`prli`] | PRLI with the FC-NVMe page |
//! | [`logo`], [`scr`], [`rscn`], [`ls_rjt`] | the other ELS payloads |
//! | [`bls`] | BA_ACC / BA_RJT |
//! | [`ct`] | CT_IU preamble, accept/reject |
//! | [`nameserver`] | RFT_ID, RFF_ID, GID_FT, GID_PT |

pub mod bls;
pub mod ct;
pub mod els;
pub mod error;
pub mod frame;
pub mod header;
pub mod login;
pub mod logo;
pub mod ls_rjt;
pub mod nameserver;
pub mod pcap;
pub mod prli;
pub mod rscn;
pub mod scr;

pub use bls::{BaAcc, BaRjt};
pub use ct::{CtHeader, CtResponse};
pub use els::{els_cmd, ls_acc};
pub use error::FcError;
pub use frame::{Frame, FrameRef};
pub use header::{f_ctl, fc_type, r_ctl, well_known, FcHeader, FC_HEADER_LEN, FC_MAX_PAYLOAD};
pub use login::{LoginPayload, ServiceParams};
pub use logo::Logo;
pub use ls_rjt::LsRjt;
pub use nameserver::{Fc4Types, GidList, NsRequest};
pub use prli::{NvmePrli, NvmePrliPage};
pub use rscn::{build_rscn, Rscn, RscnAddressFormat, RscnPage};
pub use scr::Scr;
