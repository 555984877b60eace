//! Extended link services: command codes and the command word every ELS payload
//! starts with (FC-LS-3; sli4.md §6.1, §6.5). Each payload has its own file:
//! [`super::login`], [`super::prli`], [`super::logo`], [`super::scr`],
//! [`super::rscn`], [`super::ls_rjt`].

use super::error::FcError;

/// ELS command codes (byte 0 of the payload; LPFC `ELS_CMD_*`).
pub mod els_cmd {
    /// Link service reject (reply).
    pub const LS_RJT: u8 = 0x01;
    /// Link service accept (reply).
    pub const LS_ACC: u8 = 0x02;
    /// N_Port login.
    pub const PLOGI: u8 = 0x03;
    /// Fabric login.
    pub const FLOGI: u8 = 0x04;
    /// Logout.
    pub const LOGO: u8 = 0x05;
    /// Read exchange concise (unused).
    pub const REC: u8 = 0x13;
    /// Process login.
    pub const PRLI: u8 = 0x20;
    /// Process logout.
    pub const PRLO: u8 = 0x21;
    /// Address discovery.
    pub const ADISC: u8 = 0x52;
    /// Fabric discovery (NPIV).
    pub const FDISC: u8 = 0x51;
    /// Registered state change notification (fabric → N_Port).
    pub const RSCN: u8 = 0x61;
    /// State change registration (N_Port → fabric controller).
    pub const SCR: u8 = 0x62;
    /// Register diagnostic functions (congestion; unused).
    pub const RDF: u8 = 0x19;
}

/// Length of the 4-byte LS_ACC that carries no payload (ACC to LOGO, SCR,
/// RSCN, PRLO): `02 00 00 00` (sli4.md §6.5).
pub const LS_ACC_LEN: usize = 4;

/// The 4-byte bare LS_ACC.
pub const fn ls_acc() -> [u8; LS_ACC_LEN] {
    [els_cmd::LS_ACC, 0, 0, 0]
}

/// The ELS command code of a payload (byte 0), or [`FcError::Truncated`].
pub fn command(payload: &[u8]) -> Result<u8, FcError> {
    payload.first().copied().ok_or(FcError::Truncated {
        what: "ELS payload",
        len: 0,
        need: 1,
    })
}

/// True when `payload` is an LS_ACC (command byte 0x02). Used for the bare
/// ACC and as the first check on payload-carrying accepts.
pub fn is_ls_acc(payload: &[u8]) -> bool {
    payload.first() == Some(&els_cmd::LS_ACC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_word() {
        assert_eq!(ls_acc(), [0x02, 0, 0, 0]);
        assert_eq!(command(&[0x62, 0, 0, 0]), Ok(els_cmd::SCR));
        assert!(command(&[]).is_err());
        assert!(is_ls_acc(&ls_acc()));
        assert!(!is_ls_acc(&[0x01, 0, 0, 0]));
        assert!(!is_ls_acc(&[]));
    }
}
