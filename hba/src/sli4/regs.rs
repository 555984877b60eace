//! Port bring-up registers in BAR0 for if_type 2 and 6 (sli4.md §1.4, §2):
//! SLIPORT_SEMAPHORE, SLIPORT_STATUS, SLIPORT_CONTROL, SLIPORT_ERROR1/2,
//! PHYSDEV_CONTROL, the EQ-delay register and the bootstrap mailbox register.
//! Doorbells are in [`super::doorbell`].

use super::bits::bitfields;

/// BAR0 offset of SLIPORT_SEMAPHORE (read).
pub const SLIPORT_SEMAPHORE: u32 = 0x400;
/// BAR0 offset of SLIPORT_STATUS (read).
pub const SLIPORT_STATUS: u32 = 0x404;
/// BAR0 offset of SLIPORT_CONTROL (write).
pub const SLIPORT_CONTROL: u32 = 0x408;
/// BAR0 offset of SLIPORT_ERROR1 (read).
pub const SLIPORT_ERROR1: u32 = 0x40C;
/// BAR0 offset of SLIPORT_ERROR2 (read).
pub const SLIPORT_ERROR2: u32 = 0x410;
/// BAR0 offset of PHYSDEV_CONTROL (write).
pub const PHYSDEV_CONTROL: u32 = 0x414;
/// BAR0 offset of the per-EQ interrupt delay register (LPFC only).
pub const EQ_DELAY: u32 = 0x418;
/// BAR0 offset of the bootstrap mailbox register (both if_types).
pub const BMBX: u32 = 0x160;
/// BAR0 offset where if_type 2 also maps SLI_INTF (not if_type 6).
pub const SLI_INTF_BAR0_IF2: u32 = 0x58;

/// SLIPORT_SEMAPHORE port-status value meaning "POST complete, port ready".
pub const SEMAPHORE_PORT_READY: u32 = 0xC000;
/// SLIPORT_SEMAPHORE port-status mask of an unrecoverable POST error (0xF000).
pub const SEMAPHORE_PORT_ERROR_MASK: u32 = 0xF000;

/// SLIPORT_SEMAPHORE (BAR0+0x400, §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Semaphore(pub u32);

impl Semaphore {
    bitfields! {
        /// Bit 31: POST fatal error.
        perr / set_perr: 0[31];
        /// Bit 30: secondary firmware image in use.
        sfi / set_sfi: 0[30];
        /// Bits 23-16: host scratch.
        host_scratch / set_host_scratch: 0[16; 8];
        /// Bits 15-0: port status / POST stage (0xC000 = ready).
        port_status / set_port_status: 0[0; 16];
    }

    /// True when POST completed: port status 0xC000 and no PERR.
    pub fn is_ready(&self) -> bool {
        !self.perr() && self.port_status() == SEMAPHORE_PORT_READY
    }

    /// True for a fatal POST state: PERR, or port status 0xFxxx.
    pub fn is_fatal(&self) -> bool {
        self.perr() || self.port_status() & SEMAPHORE_PORT_ERROR_MASK == SEMAPHORE_PORT_ERROR_MASK
    }
}

/// SLIPORT_STATUS (BAR0+0x404, §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Status(pub u32);

impl Status {
    bitfields! {
        /// Bit 31: SLI port error.
        err / set_err: 0[31];
        /// Bit 30: current endianness (0 little).
        end / set_end: 0[30];
        /// Bit 29: over-temperature.
        oti / set_oti: 0[29];
        /// Bit 27: SLI port paused (OCS-U); clear with PHYSDEV_CONTROL.CFP.
        spp / set_spp: 0[27];
        /// Bit 25: dump present.
        dip / set_dip: 0[25];
        /// Bit 24: reset needed (recoverable by a port reset).
        rn / set_rn: 0[24];
        /// Bit 23: ready for SLIPORT_CONTROL / BMBX.
        rdy / set_rdy: 0[23];
        /// Bit 21: function-specific dump present (OCS-U).
        fdp / set_fdp: 0[21];
        /// Bit 0: PLDV (meaning not found, §9).
        pldv / set_pldv: 0[0];
    }

    /// ERR without RN: needs a chip reset or power cycle (§2.2).
    pub fn is_unrecoverable(&self) -> bool {
        self.err() && !self.rn()
    }

    /// ERR with RN: recoverable by SLIPORT_CONTROL.IP.
    pub fn is_recoverable_error(&self) -> bool {
        self.err() && self.rn()
    }
}

/// SLIPORT_CONTROL (BAR0+0x408, §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Control(pub u32);

impl Control {
    /// The value that resets and re-initialises the port: IP=1, END=0.
    pub const INIT_PORT: Control = Control(1 << 27);

    bitfields! {
        /// Bit 31: force diagnostic dump.
        fdd / set_fdd: 0[31];
        /// Bit 30: endianness wanted (0 little).
        end / set_end: 0[30];
        /// Bit 27: initialize port (function-level reset + reinit).
        ip / set_ip: 0[27];
        /// Bit 22: IDIS (meaning not found, §9).
        idis / set_idis: 0[22];
    }
}

/// SLIPORT_ERROR1/ERROR2 code pairs that are known (§2.4; neither driver
/// lists all).
pub mod error_code {
    /// ERROR1 of a firmware-reported event with an ERROR2 sub-code.
    pub const ERR1_FW_EVENT: u32 = 0x2;
    /// ERROR1 "error code 1" (generic).
    pub const ERR1_GENERIC: u32 = 0x1;
    /// ERROR2 with ERR1 = 2: firmware restart (expected; recover silently).
    pub const ERR2_FW_RESTART: u32 = 0x0;
    /// ERROR2 with ERR1 = 2: function provisioning change.
    pub const ERR2_FUNC_PROVISIONING: u32 = 0x1;
    /// ERROR2 with ERR1 = 2: forced dump.
    pub const ERR2_FORCED_DUMP: u32 = 0x2;
    /// ERROR2 with ERR1 = 2: EQ failure.
    pub const ERR2_EQ_FAILURE: u32 = 0x3;
    /// ERROR2 with ERR1 = 2: CQ failure.
    pub const ERR2_CQ_FAILURE: u32 = 0x4;
    /// ERROR2 with ERR1 = 2: bus failure.
    pub const ERR2_BUS_FAILURE: u32 = 0x5;
    /// ERROR2 with ERR1 = 2: RQ failure.
    pub const ERR2_RQ_FAILURE: u32 = 0x6;
    /// OCS-U: mailbox timeout (ERROR1), with ERROR2 0x21.
    pub const ERR1_MBOX_TIMEOUT: u32 = 0xF000_0001;
    /// OCS-U: firmware watchdog timeout (ERROR1), with ERROR2 0x10.
    pub const ERR1_FW_WATCHDOG: u32 = 0xF000_0002;
    /// OCS-U: RQ empty timeout (ERROR1).
    pub const ERR1_RQ_EMPTY_TIMEOUT: u32 = 0x5200_4A01;
}

/// PHYSDEV_CONTROL (BAR0+0x414, §2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PhysdevControl(pub u32);

/// PHYSDEV_CONTROL.FRL values.
pub mod frl {
    /// Reset all functions.
    pub const ALL: u32 = 0;
    /// FC/FCoE functions.
    pub const FC: u32 = 1;
    /// NIC functions.
    pub const NIC: u32 = 2;
}

impl PhysdevControl {
    bitfields! {
        /// Bit 0: physical device reset.
        drst / set_drst: 0[0];
        /// Bit 1: firmware reset (all PCI functions of the ASIC).
        frst / set_frst: 0[1];
        /// Bit 2: diagnostic dump.
        dd / set_dd: 0[2];
        /// Bit 3: LC (LPFC only; meaning not documented).
        lc / set_lc: 0[3];
        /// Bits 7-4: firmware reset level ([`frl`]).
        frl / set_frl: 0[4; 4];
        /// Bit 11: continue from pause (after STATUS.SPP).
        cfp / set_cfp: 0[11];
        /// Bit 24: dump with RAS log (LPFC).
        ddl_ras / set_ddl_ras: 0[24];
    }
}

/// The EQ delay register (BAR0+0x418, LPFC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EqDelay(pub u32);

impl EqDelay {
    bitfields! {
        /// Bits 11-0: EQ id.
        eq_id / set_eq_id: 0[0; 12];
        /// Bits 31-16: delay.
        delay / set_delay: 0[16; 16];
    }
}

/// The bootstrap mailbox register (BAR0+0x160, §2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Bmbx(pub u32);

/// Alignment the BMBX buffer needs.
pub const BMBX_ALIGN: u64 = 16;

impl Bmbx {
    bitfields! {
        /// Bit 0 (read): the port accepted the last write / completed the command.
        rdy / set_rdy: 0[0];
        /// Bit 1 (write): 1 = this write carries address bits 63-34.
        hi / set_hi: 0[1];
        /// Bits 31-2: 30 address bits (63-34 with HI, 33-4 without).
        addr_bits / set_addr_bits: 0[2; 30];
    }

    /// The first write for a BMBX buffer at `addr`: bits 63-34 and HI=1.
    pub const fn write_hi(addr: u64) -> Bmbx {
        Bmbx((((addr >> 34) as u32) << 2) | 0b10)
    }

    /// The second write: address bits 33-4, HI=0. Writing it starts the command.
    pub const fn write_lo(addr: u64) -> Bmbx {
        Bmbx((((addr >> 4) as u32) & 0x3FFF_FFFF) << 2)
    }

    /// The address half this write carries, placed back in a 64-bit address
    /// (the device model ORs the two halves together).
    pub const fn address_part(&self) -> u64 {
        let bits = (self.0 >> 2) as u64;
        if self.0 & 0b10 != 0 {
            bits << 34
        } else {
            bits << 4
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn register_bits_golden() {
        assert!(Semaphore(0x0000_C000).is_ready());
        assert!(!Semaphore(0x8000_C000).is_ready());
        assert!(Semaphore(0x0000_F00D).is_fatal());
        assert!(!Semaphore(0x0000_0C00).is_fatal());
        let s = Status(0x8180_0000);
        assert!(s.err() && s.rn() && s.rdy() && s.is_recoverable_error());
        assert!(Status(0x8000_0000).is_unrecoverable());
        assert_eq!(Control::INIT_PORT.0, 0x0800_0000);
        let mut p = PhysdevControl::default();
        p.set_frst(true);
        p.set_dd(true);
        p.set_frl(frl::FC);
        assert_eq!(p.0, 0x16);
        let mut d = EqDelay::default();
        d.set_eq_id(5);
        d.set_delay(0x100);
        assert_eq!(d.0, 0x0100_0005);
    }

    #[test]
    fn bmbx_address_golden() {
        let addr = 0x0000_0012_3456_7890u64;
        let hi = Bmbx::write_hi(addr);
        let lo = Bmbx::write_lo(addr);
        assert_eq!(hi.0, 0x0000_0012);
        assert_eq!(lo.0, 0x8D15_9E24);
        assert!(hi.hi() && !lo.hi());
        assert_eq!(hi.address_part() | lo.address_part(), addr);
    }

    proptest! {
        #[test]
        fn bmbx_round_trip(a: u64) {
            let addr = a & !0xF;
            prop_assert_eq!(Bmbx::write_hi(addr).address_part() | Bmbx::write_lo(addr).address_part(), addr);
        }
    }
}
