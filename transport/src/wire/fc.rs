//! FC frame header values that classify FC-NVMe frames (nvme-fc.md §4.1).

/// FC-4 TYPE of every FC-NVMe frame (`FC_TYPE_NVME`, also the CMD IU `fc_id`).
pub const FC_TYPE_NVME: u8 = 0x28;
/// FC-4 TYPE of basic link services (ABTS).
pub const FC_TYPE_BLS: u8 = 0x00;

/// R_CTL values of FC-NVMe frames.
pub mod r_ctl {
    /// Solicited data (write data).
    pub const DATA: u8 = 0x01;
    /// Confirm.
    pub const CONF: u8 = 0x03;
    /// Transfer ready.
    pub const XFER_RDY: u8 = 0x05;
    /// Unsolicited command: the CMD IU.
    pub const CMND: u8 = 0x06;
    /// Command status: the 12-byte zero RSP.
    pub const RSP: u8 = 0x07;
    /// Extended response: the ERSP IU.
    pub const ERSP: u8 = 0x08;
    /// NVMe SR (FC-NVME-2; unused by Linux).
    pub const SR: u8 = 0x09;
    /// NVMe SR response.
    pub const SR_RSP: u8 = 0x0A;
    /// FC-4 link service request (NVMe LS request, `FC_RCTL_ELS4_REQ`).
    pub const LS_REQ: u8 = 0x32;
    /// FC-4 link service reply (NVMe LS ACC/RJT, `FC_RCTL_ELS4_REP`).
    pub const LS_REP: u8 = 0x33;
    /// Basic link service ABTS.
    pub const ABTS: u8 = 0x81;
}

/// F_CTL first byte of an LS request: first sequence, end sequence, sequence
/// initiative.
pub const F_CTL_LS_REQ: u8 = 0x29;
/// F_CTL first byte of an LS response: exchange responder, last sequence, end
/// sequence, sequence initiative.
pub const F_CTL_LS_RSP: u8 = 0x99;
