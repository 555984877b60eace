//! SLI_INTF, the SLI interface register in PCI configuration space at 0x58
//! (sli4.md §1.2), and the PCI identity of the supported functions (§1.1).

use super::bits::bitfields;

/// PCI vendor id of Emulex/Broadcom FC functions.
pub const PCI_VENDOR_EMULEX: u16 = 0x10DF;
/// Lancer G6 FC (LPe31000/LPe32000), if_type 2.
pub const PCI_DEVICE_LANCER_G6: u16 = 0xE300;
/// Lancer G7 FC (LPe35000/LPe36000), if_type 6.
pub const PCI_DEVICE_LANCER_G7: u16 = 0xF400;
/// Lancer G7+ FC (LPe37000/LPe38000), if_type 6.
pub const PCI_DEVICE_LANCER_G7P: u16 = 0xF500;
/// Lancer G7+ "S" (LPe38104S), if_type 6.
pub const PCI_DEVICE_LANCER_G7P_S: u16 = 0xF600;

/// Configuration-space offset of SLI_INTF.
pub const SLI_INTF_OFFSET: u16 = 0x58;
/// SLI_INTF.VALID value of an SLI-4 function.
pub const SLI_INTF_VALID: u32 = 0b110;
/// SLI_INTF.SLI_REV value required.
pub const SLI_REV_4: u32 = 4;

/// SLI_INTF.IF_TYPE values.
pub mod if_type {
    /// BE3/Skyhawk physical function.
    pub const IF_TYPE_0: u32 = 0;
    /// Lancer FC/Ethernet (G5/G6).
    pub const IF_TYPE_2: u32 = 2;
    /// Lancer G7/G7+.
    pub const IF_TYPE_6: u32 = 6;
}

/// SLI_INTF.SLI_FAMILY values.
pub mod family {
    /// Lancer A0.
    pub const LANCER_A0: u32 = 0xA;
    /// Lancer B0.
    pub const LANCER_B0: u32 = 0xB;
    /// Lancer G6.
    pub const LANCER_G6: u32 = 0xC;
    /// Lancer G7.
    pub const LANCER_G7: u32 = 0xD;
    /// Lancer G7+.
    pub const LANCER_G7P: u32 = 0xE;
    /// Read ASIC_ID (config 0x9C bits 15-8) instead.
    pub const SEE_ASIC_ID: u32 = 0xF;
}

/// The SLI_INTF value as read from configuration space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SliIntf(pub u32);

impl SliIntf {
    /// An emulator's G6 value (hint fields zero; derived from the field table,
    /// not observed on hardware, sli4.md §1.2).
    pub const G6: SliIntf = SliIntf(0xC000_2C40);
    /// An emulator's G7 value.
    pub const G7: SliIntf = SliIntf(0xC000_6D40);

    bitfields! {
        /// Bits 31-29: VALID, 0b110 for an SLI-4 function.
        valid / set_valid: 0[29; 3];
        /// Bits 28-24: SLI_HINT2.
        hint2 / set_hint2: 0[24; 5];
        /// Bits 23-16: SLI_HINT1.
        hint1 / set_hint1: 0[16; 8];
        /// Bits 15-12: IF_TYPE ([`if_type`]).
        if_type / set_if_type: 0[12; 4];
        /// Bits 11-8: SLI_FAMILY ([`family`]).
        family / set_family: 0[8; 4];
        /// Bits 7-4: SLI_REV, 4.
        sli_rev / set_sli_rev: 0[4; 4];
        /// Bit 0: function type, 1 = virtual function.
        is_virtual / set_virtual: 0[0];
    }

    /// True when VALID = 0b110 and SLI_REV = 4.
    pub fn is_sli4(&self) -> bool {
        self.valid() == SLI_INTF_VALID && self.sli_rev() == SLI_REV_4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intf_fields() {
        let g6 = SliIntf::G6;
        assert!(g6.is_sli4());
        assert_eq!((g6.if_type(), g6.family()), (2, family::LANCER_G6));
        let g7 = SliIntf::G7;
        assert_eq!((g7.if_type(), g7.family()), (6, family::LANCER_G7));
        assert!(!g7.is_virtual());
        let mut v = SliIntf::default();
        v.set_valid(SLI_INTF_VALID);
        v.set_if_type(if_type::IF_TYPE_6);
        v.set_family(family::LANCER_G7);
        v.set_sli_rev(SLI_REV_4);
        assert_eq!(v, g7);
        assert!(!SliIntf(0x8000_6D40).is_sli4());
    }
}
