//! Namespace handles.
//!
//! A [`Namespace`] keeps its controller object alive (Linux: ns → ctrl → rport
//! references), but never the LLDD: the LLDD is only held by an association, and
//! associations end on unregister no matter who holds handles (the seed).

use crate::ctrl::Controller;
use crate::lldd::Lldd;

/// What an I/O submission needs from a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NsIoInfo {
    pub ctrl_uid: u64,
    pub nsid: u32,
    pub lba_size: u32,
    pub num_lbas: u64,
}

/// A namespace of a controller. Cheap to clone.
pub struct Namespace<L: Lldd> {
    ctrl: Controller<L>,
    info: NsIoInfo,
}

impl<L: Lldd> Clone for Namespace<L> {
    fn clone(&self) -> Self {
        Namespace {
            ctrl: self.ctrl.clone(),
            info: self.info,
        }
    }
}

impl<L: Lldd> std::fmt::Debug for Namespace<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("ctrl", &self.ctrl.name())
            .field("nsid", &self.info.nsid)
            .field("lba_size", &self.info.lba_size)
            .field("num_lbas", &self.info.num_lbas)
            .finish()
    }
}

impl<L: Lldd> Namespace<L> {
    pub(crate) fn new(ctrl: Controller<L>, nsid: u32, lba_size: u32, num_lbas: u64) -> Self {
        let ctrl_uid = ctrl.uid();
        Namespace {
            ctrl,
            info: NsIoInfo {
                ctrl_uid,
                nsid,
                lba_size,
                num_lbas,
            },
        }
    }

    /// Namespace id.
    pub fn nsid(&self) -> u32 {
        self.info.nsid
    }

    /// Block size in bytes.
    pub fn lba_size(&self) -> u32 {
        self.info.lba_size
    }

    /// Capacity in blocks.
    pub fn num_lbas(&self) -> u64 {
        self.info.num_lbas
    }

    /// The controller.
    pub fn controller(&self) -> &Controller<L> {
        &self.ctrl
    }

    pub(crate) fn io_info(&self) -> NsIoInfo {
        self.info
    }
}
