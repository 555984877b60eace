//! The controller's property registers as a fabrics target exposes them through
//! Property Get/Set (nvme-fc.md §5.2, §5.3, A.1): CAP, VS, CC, CSTS.
//!
//! There is no admin queue to create on fabrics, so enabling is only the CC.EN →
//! CSTS.RDY handshake; this model becomes ready at once. A CC written with EN=1 and
//! queue entry sizes other than 64/16 bytes sets CSTS.CFS, as a real controller would.

use ufc_transport::wire::registers::{Cap, Cc, Csts, Vs, REG_CAP, REG_CC, REG_CSTS, REG_VS};

/// Property offsets (nvme-fc.md §5.2).
pub mod offset {
    pub use ufc_transport::wire::registers::{
        REG_CAP as CAP, REG_CC as CC, REG_CSTS as CSTS, REG_VS as VS,
    };
}

/// The version the model reports: NVMe 1.4.
pub const NVME_VERSION: Vs = Vs::V1_4;

/// Why a property access was refused (→ Invalid Field in Command).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PropertyError {
    /// Offset/size pair that names no register (or a read-only one on Set).
    #[error("property at offset {offset:#x} with size {size} does not exist or is read-only")]
    Invalid {
        /// Property offset.
        offset: u32,
        /// Access size in bytes.
        size: u8,
    },
}

/// What a CC write changed, for the controller to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CcChange {
    /// EN went 0 → 1.
    pub enabled: bool,
    /// EN went 1 → 0 (controller reset).
    pub disabled: bool,
    /// SHN went from none to a shutdown request.
    pub shutdown: bool,
}

/// CAP/VS/CC/CSTS of one controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registers {
    cap: u64,
    cc: u32,
    csts: u32,
}

impl Registers {
    /// Registers of a controller whose queues hold at most `mqes + 1` entries
    /// (CAP.MQES, 0's based) and that becomes ready within `to_500ms` × 500 ms.
    pub fn new(mqes: u16, to_500ms: u8) -> Self {
        let cap = u64::from(mqes)
            | 1 << 16 // CQR: queues must be contiguous
            | u64::from(to_500ms) << 24
            | Cap::CSS_NVM; // MPSMIN = MPSMAX = 0: 4 KiB pages only
        Registers {
            cap,
            cc: 0,
            csts: 0,
        }
    }

    /// CAP.
    pub fn cap(&self) -> u64 {
        self.cap
    }

    /// CC.
    pub fn cc(&self) -> u32 {
        self.cc
    }

    /// CSTS.
    pub fn csts(&self) -> u32 {
        self.csts
    }

    /// CC.EN = 1 and CSTS.RDY = 1: the controller accepts non-fabrics commands.
    pub fn ready(&self) -> bool {
        Cc(self.cc).en() && Csts(self.csts).rdy()
    }

    /// Property Get of `size` (4 or 8) bytes at `offset`.
    pub fn get(&self, offset: u32, size: u8) -> Result<u64, PropertyError> {
        match (offset, size) {
            (REG_CAP, 8) => Ok(self.cap),
            (REG_CAP, 4) => Ok(self.cap & 0xffff_ffff),
            (REG_VS, 4) => Ok(u64::from(NVME_VERSION.0)),
            (REG_CC, 4) => Ok(u64::from(self.cc)),
            (REG_CSTS, 4) => Ok(u64::from(self.csts)),
            _ => Err(PropertyError::Invalid { offset, size }),
        }
    }

    /// Property Set; only CC (4 bytes) is writable.
    pub fn set(&mut self, offset: u32, size: u8, value: u64) -> Result<CcChange, PropertyError> {
        if (offset, size) != (REG_CC, 4) {
            return Err(PropertyError::Invalid { offset, size });
        }
        Ok(self.write_cc(value as u32))
    }

    fn write_cc(&mut self, new: u32) -> CcChange {
        let (old, new) = (Cc(self.cc), Cc(new));
        let cur = Csts(self.csts);
        let (mut rdy, mut cfs, mut shst) = (cur.rdy(), cur.cfs(), cur.shst());
        let mut change = CcChange::default();
        if new.en() && !old.en() {
            change.enabled = true;
            // Fabrics queue entries are fixed at 64/16 bytes (2^6, 2^4).
            if new.iosqes() != 6 || new.iocqes() != 4 {
                cfs = true;
            } else {
                rdy = true;
            }
        }
        if !new.en() && old.en() {
            change.disabled = true;
            (rdy, cfs, shst) = (false, false, 0);
        }
        if new.shn() != 0 && old.shn() == 0 {
            change.shutdown = true;
            shst = Csts::SHST_COMPLETE;
        } else if new.shn() == 0 && old.shn() != 0 {
            shst = 0;
        }
        self.cc = new.0;
        self.csts = Csts::new(rdy, cfs, shst).0;
        change
    }

    /// Marks a fatal controller error (CSTS.CFS), e.g. keep-alive expiry.
    pub fn set_fatal(&mut self) {
        let c = Csts(self.csts);
        self.csts = Csts::new(false, true, c.shst()).0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CC as the Linux host writes it: CSS NVM, MPS 4 KiB, AMS RR, IOSQES 6, IOCQES 4.
    const CC_HOST: u32 = Cc::host_default(Cc::CSS_NVM).0;
    const CC_EN: u32 = 1;
    const CSTS_RDY: u32 = 1;
    const CSTS_CFS: u32 = 2;
    const CSTS_SHST_MASK: u32 = 3 << 2;
    const CSTS_SHST_COMPLETE: u32 = 2 << 2;

    #[test]
    fn cap_and_vs() {
        let r = Registers::new(1023, 15);
        let cap = r.get(offset::CAP, 8).unwrap();
        assert_eq!(cap & 0xffff, 1023, "MQES");
        assert_eq!((cap >> 24) & 0xff, 15, "TO");
        assert_ne!(cap & 1 << 37, 0, "CSS NVM");
        assert_eq!((cap >> 48) & 0xf, 0, "MPSMIN 4 KiB");
        assert_eq!(r.get(offset::VS, 4).unwrap(), 0x0001_0400);
        assert_eq!(
            r.get(offset::VS, 8),
            Err(PropertyError::Invalid { offset: 8, size: 8 })
        );
        assert!(r.get(0x30, 4).is_err());
    }

    #[test]
    fn enable_then_ready_then_disable() {
        let mut r = Registers::new(127, 15);
        // Linux writes CC with EN=0 first, then with EN=1 (§5.3).
        assert_eq!(
            r.set(offset::CC, 4, u64::from(CC_HOST)).unwrap(),
            CcChange::default()
        );
        assert_eq!(r.get(offset::CSTS, 4).unwrap(), 0);
        assert!(!r.ready());
        let ch = r.set(offset::CC, 4, u64::from(CC_HOST | CC_EN)).unwrap();
        assert!(ch.enabled);
        assert_eq!(r.get(offset::CSTS, 4).unwrap(), 1);
        assert!(r.ready());
        assert_eq!(r.get(offset::CC, 4).unwrap(), u64::from(CC_HOST | CC_EN));
        let ch = r.set(offset::CC, 4, u64::from(CC_HOST)).unwrap();
        assert!(ch.disabled);
        assert_eq!(r.csts(), 0);
    }

    #[test]
    fn shutdown_notification_completes() {
        let mut r = Registers::new(127, 15);
        r.set(offset::CC, 4, u64::from(CC_HOST | CC_EN)).unwrap();
        let ch = r
            .set(offset::CC, 4, u64::from(CC_HOST | CC_EN | 1 << 14))
            .unwrap();
        assert!(ch.shutdown);
        assert_eq!(r.csts() & CSTS_SHST_MASK, CSTS_SHST_COMPLETE);
    }

    #[test]
    fn bad_entry_sizes_are_fatal_and_cap_is_read_only() {
        let mut r = Registers::new(127, 15);
        r.set(offset::CC, 4, u64::from(CC_EN)).unwrap();
        assert_eq!(r.csts() & (CSTS_RDY | CSTS_CFS), CSTS_CFS);
        assert!(!r.ready());
        assert!(r.set(offset::CAP, 8, 0).is_err());
        assert!(r.set(offset::CC, 8, 0).is_err());
    }
}
