//! READ_REV (0x11): firmware and hardware revisions, optional VPD (sli4.md
//! §3.4; OCS `sli4_cmd_read_rev_t`, LPFC `struct lpfc_mbx_read_rev`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::Le32;
use crate::sli4::bits::{bitfields, le32};
use crate::sli4::mbox::mbx_cmd;

/// READ_REV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct ReadRev {
    /// MQE header.
    pub header: Le32,
    /// Dword 1: SLI level 19-16, FCoE mode 20, CEE version 22-21, VPD 29.
    pub dw1: Le32,
    /// Dword 2: first hardware revision.
    pub first_hw_rev: Le32,
    /// Dword 3: second hardware revision.
    pub second_hw_rev: Le32,
    /// Dword 4: reserved.
    pub dw4: Le32,
    /// Dword 5: third hardware revision.
    pub third_hw_rev: Le32,
    /// Dword 6: FC-PH low 7-0, high 15-8, feature level low 23-16, high 31-24.
    pub dw6: Le32,
    /// Dword 7: reserved.
    pub dw7: Le32,
    /// Dword 8: firmware id.
    pub fw_id: Le32,
    /// Dwords 9-12: firmware name, 16 ASCII bytes.
    pub fw_name: [u8; 16],
    /// Dword 13: ULP firmware id.
    pub ulp_fw_id: Le32,
    /// Dwords 14-17: ULP firmware name.
    pub ulp_fw_name: [u8; 16],
    /// Dwords 18-47: reserved.
    pub rsvd18: [Le32; 30],
    /// Dword 48: available VPD buffer length 23-0 (request).
    pub dw48: Le32,
    /// Dword 49: VPD buffer address low.
    pub vpd_addr_lo: Le32,
    /// Dword 50: VPD buffer address high.
    pub vpd_addr_hi: Le32,
    /// Dword 51: returned VPD length.
    pub returned_vpd_len: Le32,
    /// Dword 52: actual VPD length.
    pub actual_vpd_len: Le32,
    /// Dwords 53-63: reserved.
    pub rsvd53: [Le32; 11],
}
native_cmd!(ReadRev, mbx_cmd::READ_REV);

impl ReadRev {
    bitfields! {
        /// Dword 1 bits 19-16: SLI level.
        sli_level / set_sli_level: dw1[16; 4];
        /// Dword 1 bit 20: FCoE mode.
        fcoe / set_fcoe: dw1[20];
        /// Dword 1 bit 29: VPD requested / present.
        vpd / set_vpd: dw1[29];
        /// Dword 6 bits 23-16: feature level low.
        feature_level_low / set_feature_level_low: dw6[16; 8];
        /// Dword 6 bits 31-24: feature level high.
        feature_level_high / set_feature_level_high: dw6[24; 8];
        /// Dword 48 bits 23-0: available VPD buffer length.
        vpd_avail_len / set_vpd_avail_len: dw48[0; 24];
    }

    /// A request with a VPD buffer of `len` bytes at `addr`.
    pub fn with_vpd(addr: u64, len: u32) -> ReadRev {
        let mut r = ReadRev::new();
        r.set_vpd(true);
        r.set_vpd_avail_len(len);
        r.vpd_addr_lo = le32(addr as u32);
        r.vpd_addr_hi = le32((addr >> 32) as u32);
        r
    }

    /// The firmware name up to its first NUL, lossily decoded.
    pub fn fw_name(&self) -> String {
        let end = self.fw_name.iter().position(|&b| b == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.fw_name[..end]).into_owned()
    }

    /// LPFC's test for the first G7 ASIC, which cannot embed NVMe commands in
    /// WQEs (§5.6): first hardware revision 0xD and second 0.
    pub fn is_first_g7_asic(&self) -> bool {
        self.first_hw_rev.get() == 0xD && self.second_hw_rev.get() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_rev_golden() {
        let r = ReadRev::with_vpd(0x1_0000_2000, 4096);
        let m = r.to_mqe();
        let b = m.as_bytes();
        assert_eq!(&b[0..8], &[0, 0x11, 0, 0, 0, 0, 0, 0x20]);
        assert_eq!(&b[192..196], &[0, 0x10, 0, 0]);
        assert_eq!(&b[196..204], &[0, 0x20, 0, 0, 1, 0, 0, 0]);
        let mut resp = ReadRev::from_mqe(&m);
        resp.fw_name[..7].copy_from_slice(b"14.4.39");
        resp.first_hw_rev.set(0xD);
        assert_eq!(resp.fw_name(), "14.4.39");
        assert!(resp.is_first_g7_asic());
        assert_eq!(core::mem::offset_of!(ReadRev, fw_name), 36);
        assert_eq!(core::mem::offset_of!(ReadRev, dw48), 192);
    }
}
