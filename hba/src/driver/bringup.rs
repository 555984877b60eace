//! Port bring-up up to the first mailbox command (sli4.md §1, §2.7): PCI
//! identity and SLI_INTF, the ready wait, the SLIPORT_CONTROL.IP port reset and
//! the bootstrap mailbox.

use std::time::Duration;

use ufc_vfio::Device;

use super::dma::{DmaArena, Region};
use super::error::HbaError;
use super::mailbox::{check_completion, command_name};
use super::registers::PortRegs;
use super::wait::Waiter;
use crate::sli4::doorbell::IfType;
use crate::sli4::intf::{self, SliIntf, SLI_INTF_OFFSET, SLI_INTF_VALID, SLI_REV_4};
use crate::sli4::mbox::{BmbxRegion, Mqe};
use crate::sli4::regs::{Bmbx, Control, Status};

/// What the PCI function is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// PCI device id.
    pub device_id: u16,
    /// SLI_INTF as read.
    pub sli_intf: SliIntf,
    /// Interface type.
    pub if_type: IfType,
}

/// The interface type a supported device id must report.
fn expected_if_type(device_id: u16) -> Option<IfType> {
    match device_id {
        intf::PCI_DEVICE_LANCER_G6 => Some(IfType::If2),
        intf::PCI_DEVICE_LANCER_G7
        | intf::PCI_DEVICE_LANCER_G7P
        | intf::PCI_DEVICE_LANCER_G7P_S => Some(IfType::If6),
        _ => None,
    }
}

/// Checks the PCI ids and SLI_INTF (§1.1, §1.2).
pub fn identify(device: &Device) -> Result<Identity, HbaError> {
    let name = device.name().to_owned();
    let vendor = device.config_read16(0x00)?;
    let device_id = device.config_read16(0x02)?;
    let expected = (vendor == intf::PCI_VENDOR_EMULEX)
        .then(|| expected_if_type(device_id))
        .flatten();
    let Some(expected) = expected else {
        return Err(HbaError::UnsupportedDevice {
            device: name,
            vendor,
            device_id,
        });
    };
    let value = device.config_read32(SLI_INTF_OFFSET)?;
    let sli_intf = SliIntf(value);
    let bad = |reason| HbaError::BadSliIntf {
        device: name.clone(),
        value,
        reason,
    };
    if sli_intf.valid() != SLI_INTF_VALID {
        return Err(bad("VALID (bits 31-29) is not 0b110"));
    }
    if sli_intf.sli_rev() != SLI_REV_4 {
        return Err(bad("SLI_REV (bits 7-4) is not 4"));
    }
    let Some(if_type) = IfType::from_sli_intf(sli_intf.if_type()) else {
        return Err(HbaError::UnsupportedIfType {
            device: name,
            if_type: sli_intf.if_type(),
        });
    };
    if if_type != expected {
        return Err(bad("IF_TYPE does not match the PCI device id"));
    }
    Ok(Identity {
        device_id,
        sli_intf,
        if_type,
    })
}

fn port_error(name: &str, s: super::registers::StatusSnapshot) -> HbaError {
    HbaError::PortError {
        device: name.to_owned(),
        status: s.status,
        err1: s.err1,
        err2: s.err2,
        recoverable: Status(s.status).rn(),
    }
}

/// Waits for SLIPORT_STATUS.RDY (§2.7 steps 2 and 3). An unrecoverable error
/// (ERR without RN) ends the wait at once; so does a dead device. ERR with RN
/// is waited through. Before the port reset RDY alone is enough (a port in
/// ERR+RN needs the reset to clear ERR, LPFC `lpfc_sli4_pdev_status_reg_wait`);
/// after it ERR must be clear too.
pub fn wait_ready(
    regs: &PortRegs,
    waiter: &Waiter,
    timeout: Duration,
    phase: &'static str,
    before_reset: bool,
) -> Result<(), HbaError> {
    let name = waiter.device.name();
    let start = waiter.now();
    let r = waiter.until(timeout, || {
        let raw = regs.status.read();
        let s = Status(raw);
        if raw == u32::MAX {
            return Some(Err(HbaError::DeviceGone {
                device: name.to_owned(),
            }));
        }
        if s.err() && !s.rn() {
            return Some(Err(port_error(name, regs.snapshot())));
        }
        (s.rdy() && (before_reset || !s.err())).then_some(Ok(()))
    });
    r.unwrap_or_else(|| {
        let s = regs.snapshot();
        Err(HbaError::PortNotReady {
            device: name.to_owned(),
            phase,
            waited: waiter.now().saturating_sub(start),
            status: s.status,
            err1: s.err1,
            err2: s.err2,
        })
    })
}

/// Port reset (§2.7 step 3): SLIPORT_CONTROL = IP with END = 0, then RDY.
pub fn reset_port(regs: &PortRegs, waiter: &Waiter, timeout: Duration) -> Result<(), HbaError> {
    regs.control.write(Control::INIT_PORT.0);
    // The write is posted; the status read of the wait orders it (§2.7 note).
    wait_ready(
        regs,
        waiter,
        timeout,
        "waiting for the port reset (SLIPORT_CONTROL.IP)",
        false,
    )
}

/// Runs one command through the bootstrap mailbox (§2.6) and returns the
/// response MQE after checking MCQE, MQE and SLI_CONFIG status.
pub fn bmbx_exec(
    regs: &PortRegs,
    arena: &DmaArena,
    region: &Region,
    waiter: &Waiter,
    timeout: Duration,
    mqe: &Mqe,
) -> Result<Mqe, HbaError> {
    let name = waiter.device.name();
    let command = command_name(mqe);
    let timed_out = || HbaError::MailboxTimeout {
        device: name.to_owned(),
        command,
        timeout,
    };
    let rdy = || {
        let raw = regs.bmbx.read();
        (raw != u32::MAX && Bmbx(raw).rdy()).then_some(())
    };
    waiter.until(timeout, rdy).ok_or_else(timed_out)?;
    arena.zero(region)?;
    arena.write(region, 0, zerocopy::IntoBytes::as_bytes(mqe))?;
    regs.bmbx.write(Bmbx::write_hi(region.iova).0);
    waiter.until(timeout, rdy).ok_or_else(timed_out)?;
    regs.bmbx.write(Bmbx::write_lo(region.iova).0);
    waiter.until(timeout, rdy).ok_or_else(timed_out)?;
    let mut raw = [0u8; crate::sli4::mbox::BMBX_REGION_LEN];
    arena.read(region, 0, &mut raw)?;
    let r: BmbxRegion =
        zerocopy::FromBytes::read_from_bytes(&raw[..]).map_err(|_| HbaError::BadResponse {
            device: name.to_owned(),
            what: "bootstrap mailbox region could not be read".into(),
        })?;
    if !r.mcqe.valid() {
        return Err(HbaError::BadResponse {
            device: name.to_owned(),
            what: format!("{command}: bootstrap mailbox completed without a valid MCQE"),
        });
    }
    check_completion(name, command, &r.mcqe, &r.mqe)?;
    Ok(r.mqe)
}
