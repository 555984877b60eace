//! Counters of what the fabric did with the frames it saw; every frame it did not
//! deliver is counted under the reason.

/// Fabric counters (a snapshot from [`crate::fabric::Fabric::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FabricStats {
    /// Frames sent by attached host ports.
    pub frames_from_hosts: u64,
    /// Frames queued for host ports.
    pub frames_to_hosts: u64,
    /// Dropped: the sender's link was down.
    pub dropped_link_down: u64,
    /// Dropped: the sender had no N_Port ID yet and the frame was not a FLOGI, or
    /// its S_ID was not its N_Port ID.
    pub dropped_bad_s_id: u64,
    /// Dropped: no logged-in port at the D_ID.
    pub dropped_bad_d_id: u64,
    /// Dropped: the sender was not logged in (PLOGI/PRLI) with the destination.
    pub dropped_not_logged_in: u64,
    /// Dropped: frame kind the destination does not take (e.g. FCP frames, which
    /// go through [`crate::fabric::Fabric::target_for`]).
    pub dropped_unsupported: u64,
    /// Dropped by the `drop_next_frames` fault.
    pub dropped_fault: u64,
    /// RSCNs sent.
    pub rscn_sent: u64,
    /// ACCs received for fabric- or target-originated requests (RSCN, LOGO,
    /// PLOGI, FC-NVMe LSs).
    pub acc_received: u64,
    /// LS_RJTs received for target-originated ELSs.
    pub rjt_received: u64,
}
