//! The LLDD contract: Linux's `struct nvme_fc_port_template` (nvme-fc.md §1.6) in
//! polled form.
//!
//! Differences from Linux, all deliberate:
//! - Nothing is a callback from another thread. LS completions and LSs received from
//!   a target are collected by the transport's management poll through
//!   [`Lldd::poll_ls`]; FCP completions are collected by the thread that owns a
//!   [`HwQueue`] through [`HwQueue::poll`].
//! - `create_queue` returns an owned [`HwQueue`]; `delete_queue` is its `Drop`. The
//!   transport drops I/O queues high → low, then the admin queue (§3.6 step 8).
//! - The transport owns no DMA memory: the 96-byte CMD IU is handed over by
//!   reference and the LLDD copies it into its own DMA buffer; the response IU comes
//!   back by value in [`FcpDone`]. Data moves through caller-provided IOVA lists.
//!
//! Locking rule: an LLDD must not hold any lock of its own while it calls into the
//! transport (register/unregister). The transport may call LLDD methods while it
//! holds its management lock, except the delete callbacks, which it calls with no
//! lock held so that the LLDD may call back into the transport from them.
//!
//! Re-entrancy: from [`Lldd::create_queue`], [`Lldd::ls_req`], [`Lldd::ls_abort`],
//! [`Lldd::xmt_ls_rsp`], [`Lldd::poll_ls`], [`Lldd::alloc_dma`] and the `Drop` of a
//! [`HwQueue`] (delete_queue) the LLDD must not call into the transport (register,
//! unregister, `Transport::poll`, `stats`, `connect`, controller calls): they may
//! run under the management lock, and such a call would deadlock. Queue events go
//! through [`HwQueue::poll`], LS events through [`Lldd::poll_ls`]; a change of port
//! state is reported from the LLDD's own context, outside these methods.
//!
//! Lifetimes: a [`HwQueue`] may outlive `remoteport_delete` and `localport_delete`.
//! Teardown does not wait forever for a queue pair that stopped polling
//! (docs/design.md, bounded teardown): the association is counted inactive, and
//! the delete callbacks may fire, while that thread still owns its queue; the
//! queue is dropped when the queue pair polls or is dropped. Until its `Drop`, a
//! queue must stay valid, accept `abort`, `flush` and `poll` (completing or
//! failing what it had), and must not touch memory the LLDD freed in a delete
//! callback. New exchanges on it may fail with [`SubmitError::Failed`].

use std::time::Duration;

use crate::wwn::Wwn;

/// Length of the FC-NVMe CMD IU (nvme-fc.md §4.7).
pub const CMD_IU_LEN: usize = 96;
/// Length of the FC-NVMe ERSP IU (nvme-fc.md §4.8).
pub const ERSP_IU_LEN: usize = 32;
/// Length of the all-zero short RSP (nvme-fc.md §4.8).
pub const ZERO_RSP_LEN: usize = 12;

/// FC port roles as in `nvme_fc_port_info.port_role` (nvme-fc.md §1.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PortRoles(pub u32);

impl PortRoles {
    /// `FC_PORT_ROLE_NVME_INITIATOR`.
    pub const INITIATOR: PortRoles = PortRoles(0x10);
    /// `FC_PORT_ROLE_NVME_TARGET`.
    pub const TARGET: PortRoles = PortRoles(0x20);
    /// `FC_PORT_ROLE_NVME_DISCOVERY`.
    pub const DISCOVERY: PortRoles = PortRoles(0x40);

    /// True when every role of `other` is set in `self`.
    pub const fn contains(self, other: PortRoles) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of roles.
    pub const fn union(self, other: PortRoles) -> PortRoles {
        PortRoles(self.0 | other.0)
    }
}

impl PortRoles {
    const NAMES: [(PortRoles, &'static str); 3] = [
        (Self::INITIATOR, "initiator"),
        (Self::TARGET, "target"),
        (Self::DISCOVERY, "discovery"),
    ];

    fn write_names(self, f: &mut std::fmt::Formatter<'_>, sep: &str) -> std::fmt::Result {
        let mut first = true;
        for (role, name) in Self::NAMES {
            if self.contains(role) {
                if !first {
                    f.write_str(sep)?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for PortRoles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PortRoles(")?;
        self.write_names(f, "|")?;
        f.write_str(")")
    }
}

/// The role names, comma-separated ("target,discovery"), or "none".
impl std::fmt::Display for PortRoles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write_names(f, ",")
    }
}

/// Registration info for a local or remote port (`struct nvme_fc_port_info`, §1.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    /// WWNN.
    pub node_name: Wwn,
    /// WWPN.
    pub port_name: Wwn,
    /// Current 24-bit N_Port ID; the upper 8 bits must be zero.
    pub port_id: u32,
    /// Roles of the port.
    pub roles: PortRoles,
    /// Remote ports only: how long controllers survive the port's absence.
    /// `None` (Linux: 0 in the struct) means the transport default of 60 s.
    pub dev_loss_tmo: Option<Duration>,
    /// Remote ports only: the LLDD's own name for the port (an RPI, an index into
    /// its tables). Opaque to the transport, passed back in every request that
    /// targets this port, and replaced on each re-registration.
    pub lldd_token: LlddRport,
}

/// The LLDD's opaque token for a remote port (see [`PortInfo::lldd_token`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct LlddRport(pub u64);

/// The transport's handle for a local port, stable across re-registration of the
/// same WWNN/WWPN (nvme-fc.md §2.6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct LocalPortId(pub u32);

/// The transport's handle for a remote port, stable across re-registration of the
/// same WWNN/WWPN under the same local port (nvme-fc.md §2.6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct RemotePortId(pub u32);

/// Limits the LLDD imposes (template fields `max_hw_queues` … `dma_boundary`).
/// The transport refuses registration when any is zero (§1.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Caps the I/O queues per controller.
    pub max_hw_queues: u16,
    /// Data segments per command.
    pub max_sgl_segments: u16,
    /// Validated only; protection information is not implemented.
    pub max_dif_sgl_segments: u16,
    /// No data segment may cross a multiple of `dma_boundary + 1`.
    pub dma_boundary: u64,
}

/// One data segment in the caller's DMA memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sge {
    /// Device-visible address.
    pub iova: u64,
    /// Length in bytes.
    pub len: u32,
}

/// Data direction of an FCP exchange (`NVMEFC_FCP_NODATA/WRITE/READ`, §1.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IoDir {
    /// No data phase.
    #[default]
    None,
    /// Host to target.
    Write,
    /// Target to host.
    Read,
}

/// One NVMe command exchange handed to [`HwQueue::submit`] (`struct nvmefc_fcp_req`).
#[derive(Debug)]
pub struct FcpReq<'a> {
    /// The transport's slot number on this queue; comes back in [`FcpDone::tag`].
    pub tag: u16,
    /// Which remote port to send to.
    pub rport: LlddRport,
    /// The CMD IU, already complete (connection id, CSN, data length, SQE).
    pub cmd_iu: &'a [u8; CMD_IU_LEN],
    /// Direction of the data phase.
    pub dir: IoDir,
    /// Total data bytes (equals the sum of `sgl` lengths).
    pub payload_len: u32,
    /// Data segments.
    pub sgl: &'a [Sge],
}

/// How an FCP exchange ended, as far as the LLDD knows (not the NVMe status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FcpStatus {
    /// Exchange completed; the response is in `rsp[..rsp_len]`.
    Good,
    /// The exchange was aborted (by [`HwQueue::abort`] or by the target's ABTS).
    Aborted,
    /// The adapter rejected or lost the exchange locally (SLI-4 LOCAL_REJECT and
    /// similar); the value is the LLDD's reason code, for logs.
    LocalReject(u32),
    /// Any other transport failure (link down, remote port gone).
    TransportError,
}

/// Completion of one FCP exchange, returned by [`HwQueue::poll`].
#[derive(Clone, Copy, Debug)]
pub struct FcpDone {
    /// The tag of the request.
    pub tag: u16,
    /// Outcome of the exchange.
    pub status: FcpStatus,
    /// Data bytes actually moved (`transferred_length`).
    pub transferred: u32,
    /// Response bytes received: 0, 12 (zero RSP) or 32 (ERSP) (`rcv_rsplen`).
    pub rsp_len: u8,
    /// The response IU; only `rsp[..rsp_len]` is meaningful.
    pub rsp: [u8; ERSP_IU_LEN],
}

/// Why a submission was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// Out of exchanges or queue entries: try again after a poll (`-EBUSY`).
    #[error("LLDD queue busy, retry after polling")]
    Busy,
    /// The exchange cannot be started (port gone, queue dead).
    #[error("LLDD could not start the exchange")]
    Failed,
}

/// A hardware queue (WQ/CQ pair, or fcloop's in-memory equivalent), owned by one
/// thread. Created by [`Lldd::create_queue`]; dropping it is `delete_queue`.
pub trait HwQueue: Send + 'static {
    /// Starts one exchange. May post to the hardware immediately but need not
    /// ring the doorbell before [`HwQueue::flush`].
    fn submit(&mut self, req: &FcpReq<'_>) -> Result<(), SubmitError>;

    /// Makes every exchange submitted since the last flush visible to the device
    /// (one doorbell per batch).
    fn flush(&mut self);

    /// Aborts the exchange with this tag (ABTS). Its completion still arrives
    /// through `poll`, normally with [`FcpStatus::Aborted`]. Unknown tags are ignored.
    fn abort(&mut self, tag: u16);

    /// Reaps up to `budget` completions, calling `f` for each; returns how many.
    fn poll<F: FnMut(FcpDone)>(&mut self, budget: u32, f: F) -> u32;
}

/// An LS request (`struct nvmefc_ls_req`).
#[derive(Debug)]
pub struct LsReq {
    /// The transport's tag; comes back in [`LsEvent::Done`].
    pub tag: u64,
    /// The destination.
    pub rport: LlddRport,
    /// Request payload.
    pub payload: Vec<u8>,
    /// Room for the response.
    pub rsp_max: usize,
    /// The LLDD enforces it (ABTS, then `Done` with [`LsError::Timeout`]); §1.3.
    pub timeout: Duration,
}

/// Why an LS request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LsError {
    /// No response within the request's timeout.
    #[error("LS timed out")]
    Timeout,
    /// Aborted by [`Lldd::ls_abort`].
    #[error("LS aborted")]
    Aborted,
    /// Link or port failure.
    #[error("LS transport error")]
    Transport,
}

/// What [`Lldd::poll_ls`] reports.
#[derive(Debug)]
pub enum LsEvent {
    /// An LS request finished.
    Done {
        /// The request's tag.
        tag: u64,
        /// The response payload, or why there is none.
        result: Result<Vec<u8>, LsError>,
    },
    /// The target sent an LS (Disconnect Association, §3.7). Answer it with
    /// [`Lldd::xmt_ls_rsp`] with the same `xchg`.
    Received {
        /// The remote port it came from.
        rport: RemotePortId,
        /// The LLDD's exchange handle for the response.
        xchg: u64,
        /// Request payload.
        payload: Vec<u8>,
    },
}

/// Errors an LLDD returns from control calls.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LlddError {
    /// Out of resources (queues, exchanges).
    #[error("LLDD out of resources: {0}")]
    NoResources(String),
    /// The port or link is not usable.
    #[error("LLDD port unavailable: {0}")]
    PortUnavailable(String),
    /// Anything else, with the LLDD's description.
    #[error("LLDD error: {0}")]
    Other(String),
}

/// The port template. One value of the implementing type is one LLDD instance; a
/// restarted driver registers the same WWNs with a new instance (nvme-fc.md §2.6).
pub trait Lldd: Send + Sync + 'static {
    /// The LLDD's hardware queue.
    type HwQueue: HwQueue;

    /// The template's limits; read once at local-port registration.
    fn limits(&self) -> Limits;

    /// `create_queue`: qidx 0 is the admin queue (qsize 32), I/O queues are
    /// 1..=n with qsize = sqsize + 1.
    fn create_queue(
        &self,
        lport: LocalPortId,
        qidx: u16,
        qsize: u16,
    ) -> Result<Self::HwQueue, LlddError>;

    /// `ls_req`: starts an LS; its end is reported by [`Lldd::poll_ls`]. An `Err`
    /// means it never started and no `Done` will follow.
    fn ls_req(&self, lport: LocalPortId, req: LsReq) -> Result<(), LlddError>;

    /// `ls_abort`: a `Done` for `tag` still follows.
    fn ls_abort(&self, lport: LocalPortId, tag: u64);

    /// `xmt_ls_rsp`: sends the response to a received LS (no-op for an exchange
    /// that was aborted or belongs to a port already gone).
    fn xmt_ls_rsp(&self, lport: LocalPortId, xchg: u64, payload: &[u8]);

    /// Reports finished LS requests and received LSs of this local port.
    fn poll_ls(&self, lport: LocalPortId, sink: &mut dyn FnMut(LsEvent));

    /// `localport_delete`: the unregistered local port has no remote port with an
    /// active association left; the LLDD may now free it (§2.4).
    fn localport_delete(&self, lport: LocalPortId);

    /// `remoteport_delete`: the unregistered remote port has no active
    /// association left; the transport will not touch it again (§2.4).
    fn remoteport_delete(&self, rport: RemotePortId);

    /// Device-visible memory for the data of the transport's own admin commands
    /// (Connect data 1024 B, Identify 4096 B). Called on the management path once
    /// per association build; the buffer is dropped at teardown. In Linux the
    /// transport allocates and DMA-maps through the LLDD's `struct device`; here
    /// only the LLDD knows which memory its device can reach.
    ///
    /// The default refuses, so an LLDD that does not provide it cannot connect.
    fn alloc_dma(&self, lport: LocalPortId, len: usize) -> Result<Box<dyn DmaBuffer>, LlddError> {
        let _ = (lport, len);
        Err(LlddError::NoResources(
            "this LLDD provides no DMA memory for admin commands (implement Lldd::alloc_dma)"
                .into(),
        ))
    }
}

/// A device-visible buffer handed out by [`Lldd::alloc_dma`].
pub trait DmaBuffer: Send + std::fmt::Debug {
    /// Device address of byte 0.
    fn iova(&self) -> u64;
    /// Length in bytes.
    fn len(&self) -> usize;
    /// True when the buffer has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies bytes the device wrote, starting at `offset`; out-of-range bytes
    /// are left untouched in `dst`.
    fn read(&self, offset: usize, dst: &mut [u8]);
    /// Copies `src` into the buffer at `offset` for the device to read;
    /// out-of-range bytes are ignored.
    fn write(&mut self, offset: usize, src: &[u8]);
}

#[cfg(test)]
mod tests {
    use super::PortRoles;

    #[test]
    fn roles_print_by_name() {
        let both = PortRoles::TARGET.union(PortRoles::DISCOVERY);
        assert_eq!(both.to_string(), "target,discovery");
        assert_eq!(format!("{both:?}"), "PortRoles(target|discovery)");
        assert_eq!(PortRoles::default().to_string(), "none");
        assert_eq!(
            format!("{:?}", PortRoles::INITIATOR),
            "PortRoles(initiator)"
        );
    }
}
