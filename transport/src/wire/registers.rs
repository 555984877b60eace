//! Controller properties read and written through Property Get/Set: offsets and
//! the bit fields the host uses (nvme-fc.md §5.2, §5.3, App. A.1).

/// CAP, 8 bytes.
pub const REG_CAP: u32 = 0x00;
/// VS, 4 bytes.
pub const REG_VS: u32 = 0x08;
/// CC, 4 bytes.
pub const REG_CC: u32 = 0x14;
/// CSTS, 4 bytes.
pub const REG_CSTS: u32 = 0x1C;
/// NSSR, 4 bytes.
pub const REG_NSSR: u32 = 0x20;
/// CRTO, 4 bytes.
pub const REG_CRTO: u32 = 0x68;

const fn bits64(v: u64, lo: u32, width: u32) -> u64 {
    (v >> lo) & ((1u64 << width) - 1)
}

const fn bits32(v: u32, lo: u32, width: u32) -> u32 {
    (v >> lo) & ((1u32 << width) - 1)
}

const fn set32(v: u32, lo: u32, width: u32, x: u32) -> u32 {
    let mask = ((1u32 << width) - 1) << lo;
    (v & !mask) | ((x << lo) & mask)
}

/// Controller Capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Cap(pub u64);

impl Cap {
    /// CSS bit 43 of CAP (CSS bit 6): controller supports "I/O command sets".
    pub const CSS_CSI: u64 = 1 << 43;
    /// CSS bit 37 of CAP (CSS bit 0): NVM command set.
    pub const CSS_NVM: u64 = 1 << 37;

    /// MQES: maximum queue entries, 0's based (bits 15:0).
    pub const fn mqes(self) -> u16 {
        bits64(self.0, 0, 16) as u16
    }

    /// CQR: contiguous queues required (bit 16).
    pub const fn cqr(self) -> bool {
        bits64(self.0, 16, 1) != 0
    }

    /// TO: worst-case ready time in 500 ms units (bits 31:24).
    pub const fn to(self) -> u8 {
        bits64(self.0, 24, 8) as u8
    }

    /// TO in milliseconds.
    pub const fn timeout_ms(self) -> u32 {
        self.to() as u32 * 500
    }

    /// DSTRD: doorbell stride (bits 35:32).
    pub const fn dstrd(self) -> u8 {
        bits64(self.0, 32, 4) as u8
    }

    /// CSS: command sets supported (bits 44:37).
    pub const fn css(self) -> u8 {
        bits64(self.0, 37, 8) as u8
    }

    /// MPSMIN: minimum page size 2^(12+MPSMIN) (bits 51:48).
    pub const fn mpsmin(self) -> u8 {
        bits64(self.0, 48, 4) as u8
    }

    /// MPSMAX: maximum page size 2^(12+MPSMAX) (bits 55:52).
    pub const fn mpsmax(self) -> u8 {
        bits64(self.0, 52, 4) as u8
    }

    /// CRWMS: controller ready with media support (bit 59).
    pub const fn crwms(self) -> bool {
        bits64(self.0, 59, 1) != 0
    }

    /// CRIMS: controller ready independent of media support (bit 60).
    pub const fn crims(self) -> bool {
        bits64(self.0, 60, 1) != 0
    }
}

/// Version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Vs(pub u32);

impl Vs {
    /// NVMe 1.4.
    pub const V1_4: Vs = Vs::new(1, 4, 0);
    /// NVMe 2.0.
    pub const V2_0: Vs = Vs::new(2, 0, 0);

    /// Builds MJR.MNR.TER.
    pub const fn new(major: u16, minor: u8, tertiary: u8) -> Vs {
        Vs(((major as u32) << 16) | ((minor as u32) << 8) | tertiary as u32)
    }

    /// Major (bits 31:16).
    pub const fn major(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// Minor (bits 15:8).
    pub const fn minor(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// Tertiary (bits 7:0).
    pub const fn tertiary(self) -> u8 {
        self.0 as u8
    }
}

/// Controller Configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Cc(pub u32);

impl Cc {
    /// CSS value: NVM command set.
    pub const CSS_NVM: u8 = 0;
    /// CSS value: all supported I/O command sets.
    pub const CSS_CSI: u8 = 6;
    /// SHN value: normal shutdown.
    pub const SHN_NORMAL: u8 = 1;
    /// SHN value: abrupt shutdown.
    pub const SHN_ABRUPT: u8 = 2;

    /// The CC the host writes (§5.3) before setting EN: CSS, MPS 0 (4 KiB),
    /// AMS round robin, SHN none, IOSQES 6, IOCQES 4, EN 0.
    pub const fn host_default(css: u8) -> Cc {
        Cc(0).with_css(css).with_iosqes(6).with_iocqes(4)
    }

    /// EN (bit 0).
    pub const fn en(self) -> bool {
        bits32(self.0, 0, 1) != 0
    }

    /// With EN set or cleared.
    pub const fn with_en(self, en: bool) -> Cc {
        Cc(set32(self.0, 0, 1, en as u32))
    }

    /// CSS (bits 6:4).
    pub const fn css(self) -> u8 {
        bits32(self.0, 4, 3) as u8
    }

    /// With CSS.
    pub const fn with_css(self, css: u8) -> Cc {
        Cc(set32(self.0, 4, 3, css as u32))
    }

    /// MPS (bits 10:7): page size 2^(12+MPS).
    pub const fn mps(self) -> u8 {
        bits32(self.0, 7, 4) as u8
    }

    /// With MPS.
    pub const fn with_mps(self, mps: u8) -> Cc {
        Cc(set32(self.0, 7, 4, mps as u32))
    }

    /// AMS (bits 13:11).
    pub const fn ams(self) -> u8 {
        bits32(self.0, 11, 3) as u8
    }

    /// SHN (bits 15:14).
    pub const fn shn(self) -> u8 {
        bits32(self.0, 14, 2) as u8
    }

    /// With SHN.
    pub const fn with_shn(self, shn: u8) -> Cc {
        Cc(set32(self.0, 14, 2, shn as u32))
    }

    /// IOSQES (bits 19:16): log2 of the SQE size.
    pub const fn iosqes(self) -> u8 {
        bits32(self.0, 16, 4) as u8
    }

    /// With IOSQES.
    pub const fn with_iosqes(self, v: u8) -> Cc {
        Cc(set32(self.0, 16, 4, v as u32))
    }

    /// IOCQES (bits 23:20): log2 of the CQE size.
    pub const fn iocqes(self) -> u8 {
        bits32(self.0, 20, 4) as u8
    }

    /// With IOCQES.
    pub const fn with_iocqes(self, v: u8) -> Cc {
        Cc(set32(self.0, 20, 4, v as u32))
    }

    /// CRIME (bit 24).
    pub const fn crime(self) -> bool {
        bits32(self.0, 24, 1) != 0
    }
}

/// Controller Status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Csts(pub u32);

impl Csts {
    /// SHST value: shutdown processing complete.
    pub const SHST_COMPLETE: u8 = 2;

    /// RDY (bit 0).
    pub const fn rdy(self) -> bool {
        bits32(self.0, 0, 1) != 0
    }

    /// CFS, controller fatal status (bit 1).
    pub const fn cfs(self) -> bool {
        bits32(self.0, 1, 1) != 0
    }

    /// SHST (bits 3:2).
    pub const fn shst(self) -> u8 {
        bits32(self.0, 2, 2) as u8
    }

    /// Builds a CSTS value (for a target model).
    pub const fn new(rdy: bool, cfs: bool, shst: u8) -> Csts {
        Csts(set32(
            set32(set32(0, 0, 1, rdy as u32), 1, 1, cfs as u32),
            2,
            2,
            shst as u32,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cap_fields() {
        // MQES 1023, CQR, TO 30, DSTRD 0, CSS NVM+CSI, MPSMIN 0, MPSMAX 4, CRIMS.
        let cap = Cap(0x3FF | 1 << 16 | 30 << 24 | Cap::CSS_NVM | Cap::CSS_CSI | 4 << 52 | 1 << 60);
        assert_eq!(
            (cap.mqes(), cap.cqr(), cap.to(), cap.timeout_ms()),
            (1023, true, 30, 15_000)
        );
        assert_eq!(
            (
                cap.css(),
                cap.mpsmin(),
                cap.mpsmax(),
                cap.crims(),
                cap.crwms()
            ),
            (0x41, 0, 4, true, false)
        );
    }

    #[test]
    fn cc_host_default_golden() {
        // IOCQES 4 << 20 | IOSQES 6 << 16.
        assert_eq!(Cc::host_default(Cc::CSS_NVM).0, 0x0046_0000);
        assert_eq!(Cc::host_default(Cc::CSS_NVM).with_en(true).0, 0x0046_0001);
        assert_eq!(Cc::host_default(Cc::CSS_CSI).0, 0x0046_0060);
        let cc = Cc(0x0046_0001).with_shn(Cc::SHN_NORMAL);
        assert_eq!(
            (cc.0, cc.shn(), cc.en(), cc.iosqes(), cc.iocqes()),
            (0x0046_4001, 1, true, 6, 4)
        );
    }

    #[test]
    fn csts_and_vs() {
        let c = Csts::new(true, false, Csts::SHST_COMPLETE);
        assert_eq!(c.0, 0b1001);
        assert!(c.rdy() && !c.cfs() && c.shst() == 2);
        assert_eq!(Vs::V1_4.0, 0x0001_0400);
        assert_eq!((Vs(0x0002_0100).major(), Vs(0x0002_0100).minor()), (2, 1));
    }

    proptest! {
        #[test]
        fn cc_setters_round_trip(en: bool, css in 0u8..8, mps in 0u8..16, shn in 0u8..4, sq in 0u8..16, cq in 0u8..16) {
            let cc = Cc(0).with_en(en).with_css(css).with_mps(mps).with_shn(shn).with_iosqes(sq).with_iocqes(cq);
            prop_assert_eq!((cc.en(), cc.css(), cc.mps(), cc.shn(), cc.iosqes(), cc.iocqes()), (en, css, mps, shn, sq, cq));
        }
    }
}
