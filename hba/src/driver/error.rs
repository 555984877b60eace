//! Errors of the driver. Each message names the object (device, command,
//! queue, remote port) and, where there is one, what the user can do.

use std::time::Duration;

use ufc_vfio::{DeviceError, DmaError, MemoryError};

/// Everything that can go wrong in bring-up, login or shutdown.
#[derive(Debug, thiserror::Error)]
pub enum HbaError {
    /// The PCI function is not a Lancer G6/G7 FC port.
    #[error(
        "{device}: PCI id {vendor:04x}:{device_id:04x} is not a supported Emulex/Broadcom \
         Lancer FC port (supported: 10df:e300 LPe31000/32000, 10df:f400 LPe35000/36000); \
         bind the right function to vfio-pci"
    )]
    UnsupportedDevice {
        /// Device name (BDF or model name).
        device: String,
        /// PCI vendor id.
        vendor: u16,
        /// PCI device id.
        device_id: u16,
    },
    /// SLI_INTF (config offset 0x58) does not describe an SLI-4 function.
    #[error(
        "{device}: SLI_INTF {value:#010x} is not an SLI-4 interface ({reason}); the function \
         is not an SLI-4 port or its configuration space is not readable"
    )]
    BadSliIntf {
        /// Device name.
        device: String,
        /// The register value.
        value: u32,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// SLI_INTF names an interface type this driver does not run.
    #[error(
        "{device}: SLI interface type {if_type} is not supported (only 2, Lancer G6, and 6, \
         Lancer G7)"
    )]
    UnsupportedIfType {
        /// Device name.
        device: String,
        /// SLI_INTF.IF_TYPE.
        if_type: u32,
    },
    /// SLIPORT_STATUS.RDY did not come up in time.
    #[error(
        "{device}: port not ready after {waited:?} while {phase} (SLIPORT_STATUS {status:#010x}, \
         ERROR1 {err1:#010x}, ERROR2 {err2:#010x}); check the firmware state, then reset or \
         power-cycle the adapter"
    )]
    PortNotReady {
        /// Device name.
        device: String,
        /// What was being waited for.
        phase: &'static str,
        /// How long.
        waited: Duration,
        /// SLIPORT_STATUS.
        status: u32,
        /// SLIPORT_ERROR1.
        err1: u32,
        /// SLIPORT_ERROR2.
        err2: u32,
    },
    /// SLIPORT_STATUS.ERR is set.
    #[error(
        "{device}: port error (SLIPORT_STATUS {status:#010x}, ERROR1 {err1:#010x}, ERROR2 \
         {err2:#010x}): {}", if *recoverable { "recoverable by a port reset (RN set)" }
         else { "not recoverable by the driver (RN clear): reset the PCI function or power-cycle the adapter" }
    )]
    PortError {
        /// Device name.
        device: String,
        /// SLIPORT_STATUS.
        status: u32,
        /// SLIPORT_ERROR1.
        err1: u32,
        /// SLIPORT_ERROR2.
        err2: u32,
        /// RN was set.
        recoverable: bool,
    },
    /// The device stopped answering (all-ones register reads).
    #[error("{device}: the device does not answer (register reads return all ones); it was removed or is dead")]
    DeviceGone {
        /// Device name.
        device: String,
    },
    /// A mailbox command completed with an error.
    #[error(
        "{device}: mailbox command {command} failed: status {status:#06x}, additional status \
         {additional:#06x}{}", detail.map(|d| format!(" ({d})")).unwrap_or_default()
    )]
    Mailbox {
        /// Device name.
        device: String,
        /// Command name (SLI_CONFIG sub-commands as SUBSYSTEM/OPCODE name).
        command: &'static str,
        /// MQE / MCQE / SLI_CONFIG status.
        status: u32,
        /// Extended / additional status.
        additional: u32,
        /// Known meaning of the status, if any.
        detail: Option<&'static str>,
    },
    /// A mailbox command did not complete in time.
    #[error("{device}: mailbox command {command} did not complete within {timeout:?}; the port will be reset")]
    MailboxTimeout {
        /// Device name.
        device: String,
        /// Command name.
        command: &'static str,
        /// The bound.
        timeout: Duration,
    },
    /// The port returned a value outside what the driver can use.
    #[error("{device}: {what}")]
    BadResponse {
        /// Device name.
        device: String,
        /// What was wrong.
        what: String,
    },
    /// The port lacks a capability the driver needs.
    #[error("{device}: {what}")]
    Unsupported {
        /// Device name.
        device: String,
        /// What is missing.
        what: String,
    },
    /// A login or name-server request was rejected.
    #[error("{device}: {request} to N_Port {d_id:#08x} was rejected ({how}); {hint}")]
    LoginRejected {
        /// Device name.
        device: String,
        /// FLOGI, PLOGI, PRLI, SCR, RFT_ID, ...
        request: &'static str,
        /// Destination.
        d_id: u32,
        /// LS_RJT reason/explanation or the CT reject.
        how: String,
        /// What to check.
        hint: &'static str,
    },
    /// An ELS or CT exchange failed at the SLI level.
    #[error("{device}: {request} to N_Port {d_id:#08x} failed: {how}")]
    ExchangeFailed {
        /// Device name.
        device: String,
        /// Request name.
        request: &'static str,
        /// Destination.
        d_id: u32,
        /// WCQE status / timeout.
        how: String,
    },
    /// An ELS, CT or LS exchange got no completion in time (it was aborted).
    #[error("{device}: {request} to N_Port {d_id:#08x} got no answer within {timeout:?}")]
    ExchangeTimeout {
        /// Device name.
        device: String,
        /// Request name.
        request: &'static str,
        /// Destination.
        d_id: u32,
        /// The bound.
        timeout: Duration,
    },
    /// The link went down during a login step.
    #[error("{device}: link went down during {during}")]
    LinkDown {
        /// Device name.
        device: String,
        /// The step.
        during: &'static str,
    },
    /// A queue or resource pool is exhausted.
    #[error("{device}: out of {what}")]
    Exhausted {
        /// Device name.
        device: String,
        /// Which resource.
        what: &'static str,
    },
    /// The port has been shut down or failed for good.
    #[error("{device}: the port is {state}")]
    NotRunning {
        /// Device name.
        device: String,
        /// Its state.
        state: &'static str,
    },
    /// A setting of [`super::HbaConfig`] is out of range.
    #[error("invalid driver configuration: {0}")]
    InvalidConfig(String),
    /// Device access failed.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// DMA memory could not be allocated.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// DMA memory access failed.
    #[error(transparent)]
    Dma(#[from] DmaError),
    /// The transport refused a registration.
    #[error("transport: {0}")]
    Transport(String),
}

impl HbaError {
    /// True for errors after which the port must be reset before it is used again.
    pub fn needs_reset(&self) -> bool {
        matches!(
            self,
            HbaError::MailboxTimeout { .. }
                | HbaError::PortError {
                    recoverable: true,
                    ..
                }
        )
    }
}
