//! PCI configuration space of the emulated function (sli4.md §1): vendor and
//! device id, class "Fibre Channel", three 64-bit memory BARs (BAR0, BAR2,
//! BAR4 as Linux indexes them) with the usual size-probe semantics, and
//! SLI_INTF at 0x58.

use ufc_hba::sli4::intf::{SliIntf, PCI_VENDOR_EMULEX, SLI_INTF_OFFSET};

/// Size of the configuration space the model presents (PCIe extended).
pub const CONFIG_LEN: usize = 4096;
/// Length of BAR0 and, on if_type 6, BAR2. The BAR sizes of real G6/G7
/// functions were not found (sli4.md §9); the highest offset used is 0x418.
pub const BAR_LEN: u64 = 16 * 1024;

/// PCI class code: serial bus controller (0x0C), Fibre Channel (0x04).
const CLASS_FC: u32 = 0x0C_0400;
/// Offset of the first BAR register.
const BAR_BASE: usize = 0x10;
/// Memory BAR, 64-bit (type 0b10 in bits 2-1).
const BAR_MEM64: u32 = 0b100;

/// The configuration space.
#[derive(Debug, Clone)]
pub(crate) struct ConfigSpace {
    bytes: Box<[u8; CONFIG_LEN]>,
    /// Sizes of BAR0/2/4 (0 = absent).
    bar_len: [u64; 3],
}

impl ConfigSpace {
    /// Config space for `device` with SLI_INTF `intf`; `bars` are the lengths
    /// of BAR0, BAR2 and BAR4.
    pub(crate) fn new(device: u16, revision: u8, intf: SliIntf, bars: [u64; 3]) -> ConfigSpace {
        let mut b = Box::new([0u8; CONFIG_LEN]);
        b[0..2].copy_from_slice(&PCI_VENDOR_EMULEX.to_le_bytes());
        b[2..4].copy_from_slice(&device.to_le_bytes());
        // Status: capabilities list absent; command starts zero (memory off).
        b[8] = revision;
        b[9..12].copy_from_slice(&CLASS_FC.to_le_bytes()[..3]);
        // Subsystem ids were not found (sli4.md §9): mirror vendor and device.
        b[0x2C..0x2E].copy_from_slice(&PCI_VENDOR_EMULEX.to_le_bytes());
        b[0x2E..0x30].copy_from_slice(&device.to_le_bytes());
        let at = usize::from(SLI_INTF_OFFSET);
        b[at..at + 4].copy_from_slice(&intf.0.to_le_bytes());
        let mut cs = ConfigSpace {
            bytes: b,
            bar_len: bars,
        };
        for (i, len) in bars.iter().enumerate() {
            if *len != 0 {
                cs.set_dword(BAR_BASE + 8 * i, BAR_MEM64);
            }
        }
        cs
    }

    fn dword(&self, at: usize) -> u32 {
        let mut d = [0u8; 4];
        d.copy_from_slice(&self.bytes[at..at + 4]);
        u32::from_le_bytes(d)
    }

    fn set_dword(&mut self, at: usize, v: u32) {
        self.bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// A read of `data.len()` bytes at `offset` (outside the space reads 0xFF).
    pub(crate) fn read(&self, offset: u16, data: &mut [u8]) {
        let start = usize::from(offset);
        match self.bytes.get(start..start + data.len()) {
            Some(src) => data.copy_from_slice(src),
            None => data.fill(0xFF),
        }
    }

    /// A write: only COMMAND and the BAR address bits are writable (SLI_INTF
    /// is read-only; LPFC's write of 0x3C to 0x58 on G6 is ignored).
    pub(crate) fn write(&mut self, offset: u16, data: &[u8]) {
        let start = usize::from(offset);
        for (i, &v) in data.iter().enumerate() {
            let at = start + i;
            if (4..6).contains(&at) {
                self.bytes[at] = v;
            }
        }
        // BAR registers: whole-dword writes, masked by the BAR size so that
        // writing all-ones reads back the size (PCI BAR probing).
        if data.len() == 4 && (BAR_BASE..BAR_BASE + 24).contains(&start) && start % 4 == 0 {
            let mut d = [0u8; 4];
            d.copy_from_slice(data);
            let v = u32::from_le_bytes(d);
            let i = (start - BAR_BASE) / 8;
            let len = self.bar_len[i];
            if len == 0 {
                return;
            }
            let mask = !(len - 1);
            if (start - BAR_BASE) % 8 == 0 {
                self.set_dword(start, (v & mask as u32 & !0xF) | BAR_MEM64);
            } else {
                self.set_dword(start, v & (mask >> 32) as u32);
            }
        }
    }

    /// SLI_INTF as presented.
    pub(crate) fn sli_intf(&self) -> u32 {
        self.dword(usize::from(SLI_INTF_OFFSET))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_class_intf_and_bar_probe() {
        let mut cs = ConfigSpace::new(0xF400, 0x10, SliIntf::G7, [BAR_LEN, BAR_LEN, 0]);
        let mut d = [0u8; 4];
        cs.read(0, &mut d);
        assert_eq!(u32::from_le_bytes(d), 0xF400_10DF);
        cs.read(0x08, &mut d);
        assert_eq!(u32::from_le_bytes(d), 0x0C04_0010);
        cs.read(0x58, &mut d);
        assert_eq!(u32::from_le_bytes(d), 0xC000_6D40);
        cs.write(0x58, &[0x3C]);
        assert_eq!(cs.sli_intf(), 0xC000_6D40);
        // BAR0 size probe.
        cs.write(0x10, &u32::MAX.to_le_bytes());
        cs.read(0x10, &mut d);
        assert_eq!(u32::from_le_bytes(d), !(BAR_LEN as u32 - 1) | 0b100);
        // BAR4 is absent: writes stick at zero.
        cs.write(0x20, &u32::MAX.to_le_bytes());
        cs.read(0x20, &mut d);
        assert_eq!(u32::from_le_bytes(d), 0);
        // Outside the space reads all-ones, never panics.
        let mut far = [0u8; 4];
        cs.read(4094, &mut far);
        assert_eq!(far, [0xFF; 4]);
    }
}
