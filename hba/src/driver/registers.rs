//! Handles on the port registers of BAR0 (sli4.md §1.4, §2) and the queue
//! doorbells (BAR0 on if_type 2, BAR2 on if_type 6).

use ufc_vfio::{Device, Doorbell, Reg32};

use super::error::HbaError;
use crate::sli4::doorbell::{doorbell_offset, IfType, QueueKind};
use crate::sli4::regs;

/// The SLIPORT registers and the BMBX register.
#[derive(Debug, Clone)]
pub(crate) struct PortRegs {
    pub status: Reg32,
    pub control: Reg32,
    pub err1: Reg32,
    pub err2: Reg32,
    pub bmbx: Reg32,
}

/// STATUS, ERROR1, ERROR2 read together for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StatusSnapshot {
    pub status: u32,
    pub err1: u32,
    pub err2: u32,
}

impl PortRegs {
    /// Handles for `device`.
    pub fn new(device: &Device) -> Result<PortRegs, HbaError> {
        let bar0 = device.bar(0)?;
        let r = |off: u32| bar0.reg32(off.into());
        Ok(PortRegs {
            status: r(regs::SLIPORT_STATUS)?,
            control: r(regs::SLIPORT_CONTROL)?,
            err1: r(regs::SLIPORT_ERROR1)?,
            err2: r(regs::SLIPORT_ERROR2)?,
            bmbx: r(regs::BMBX)?,
        })
    }

    /// STATUS with the two error registers.
    pub fn snapshot(&self) -> StatusSnapshot {
        StatusSnapshot {
            status: self.status.read(),
            err1: self.err1.read(),
            err2: self.err2.read(),
        }
    }
}

/// A doorbell handle for queue `kind` on `if_type`.
pub(crate) fn queue_doorbell(
    device: &Device,
    if_type: IfType,
    kind: QueueKind,
) -> Result<Doorbell, HbaError> {
    Ok(device.doorbell(
        if_type.doorbell_bar(),
        doorbell_offset(if_type, kind).into(),
    )?)
}
