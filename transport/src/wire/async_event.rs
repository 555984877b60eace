//! The Asynchronous Event Request completion (CQE dword 0), which the host
//! decodes before re-arming the AER (nvme-fc.md §5.5).

/// Asynchronous event types (dword 0 bits 2:0).
pub mod event_type {
    /// Error status.
    pub const ERROR: u8 = 0;
    /// SMART / health status.
    pub const SMART: u8 = 1;
    /// Notice.
    pub const NOTICE: u8 = 2;
    /// I/O command set specific status.
    pub const IO_CMD_SET: u8 = 6;
    /// Vendor specific.
    pub const VENDOR: u8 = 7;
}

/// Notice event information: namespace attribute changed (read log page 0x04).
pub const NOTICE_NS_CHANGED: u8 = 0x00;
/// Notice event information: firmware activation starting.
pub const NOTICE_FW_ACTIVATION: u8 = 0x01;
/// Notice event information: ANA change.
pub const NOTICE_ANA_CHANGE: u8 = 0x03;
/// Notice event information: discovery log page change (discovery controllers).
pub const NOTICE_DISC_CHANGE: u8 = 0xF0;

/// A decoded Asynchronous Event Request result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsyncEvent {
    /// Event type ([`event_type`]), bits 2:0.
    pub event_type: u8,
    /// Event information, bits 15:8.
    pub info: u8,
    /// Log page to read to clear the event, bits 23:16.
    pub log_page: u8,
}

impl AsyncEvent {
    /// Decodes CQE dword 0.
    pub const fn from_dw0(dw0: u32) -> AsyncEvent {
        AsyncEvent {
            event_type: (dw0 & 0x7) as u8,
            info: (dw0 >> 8) as u8,
            log_page: (dw0 >> 16) as u8,
        }
    }

    /// Encodes CQE dword 0 (target model).
    pub const fn to_dw0(self) -> u32 {
        (self.event_type as u32 & 0x7) | ((self.info as u32) << 8) | ((self.log_page as u32) << 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ns_changed_golden() {
        let ev = AsyncEvent {
            event_type: event_type::NOTICE,
            info: NOTICE_NS_CHANGED,
            log_page: 0x04,
        };
        assert_eq!(ev.to_dw0(), 0x0004_0002);
        assert_eq!(AsyncEvent::from_dw0(0x0004_0002), ev);
    }

    proptest! {
        #[test]
        fn round_trip(t in 0u8..8, info: u8, lp: u8) {
            let ev = AsyncEvent { event_type: t, info, log_page: lp };
            prop_assert_eq!(AsyncEvent::from_dw0(ev.to_dw0()), ev);
        }
    }
}
