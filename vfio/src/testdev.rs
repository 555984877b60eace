//! `CopyEngine`: a tiny DMA test device in the spirit of QEMU's `edu`.
//!
//! It proves the in-process backend end to end: the driver programs source IOVA,
//! destination IOVA and length, rings the doorbell, and the device copies through its
//! [`DmaView`] and reports status. The doorbell value is a command count ("num posted",
//! as SLI-4 doorbells carry): writing N runs the programmed copy N times, so lost or
//! merged doorbells show up in the COMMANDS register.
//!
//! BAR 0 layout (4 KiB, little-endian):
//!
//! | offset | width | name | access |
//! |---|---|---|---|
//! | 0x00 | 32 | ID = [`COPY_ENGINE_ID`] | RO |
//! | 0x08 | 64 | SRC: source IOVA | RW |
//! | 0x10 | 64 | DST: destination IOVA | RW |
//! | 0x18 | 32 | LEN: bytes per copy (≤ [`MAX_COPY`]) | RW |
//! | 0x1c | 32 | STATUS: bit 0 DONE, bit 1 ERROR (last command) | RO |
//! | 0x20 | 32 | COMMANDS: commands executed | RO |
//! | 0x24 | 32 | ERRORS: commands that failed | RO |
//! | 0x28 | 64 | ERROR_IOVA: IOVA of the last failed DMA | RO |
//! | 0x100 | 32 | DOORBELL: run the copy `value` times | WO, doorbell |

use crate::dma::DmaView;
use crate::model::{DeviceModel, DoorbellRegister};

/// Value of the ID register.
pub const COPY_ENGINE_ID: u32 = 0x05fc_c0de;
/// Offset of ID.
pub const REG_ID: u64 = 0x00;
/// Offset of SRC.
pub const REG_SRC: u64 = 0x08;
/// Offset of DST.
pub const REG_DST: u64 = 0x10;
/// Offset of LEN.
pub const REG_LEN: u64 = 0x18;
/// Offset of STATUS.
pub const REG_STATUS: u64 = 0x1c;
/// Offset of COMMANDS.
pub const REG_COMMANDS: u64 = 0x20;
/// Offset of ERRORS.
pub const REG_ERRORS: u64 = 0x24;
/// Offset of ERROR_IOVA.
pub const REG_ERROR_IOVA: u64 = 0x28;
/// Offset of DOORBELL.
pub const REG_DOORBELL: u64 = 0x100;
/// STATUS bit: the last command completed.
pub const STATUS_DONE: u32 = 1 << 0;
/// STATUS bit: the last command failed (a DMA outside mapped memory, or LEN too large).
pub const STATUS_ERROR: u32 = 1 << 1;
/// Largest copy.
pub const MAX_COPY: usize = 64 << 10;
/// PCI vendor ID in config space (QEMU's test-device vendor, as `edu` uses).
pub const VENDOR_ID: u16 = 0x1234;
/// PCI device ID in config space (the `edu` device ID).
pub const DEVICE_ID: u16 = 0x11e8;

const BAR0_LEN: u64 = 4096;
const CONFIG_LEN: usize = 256;

/// The copy engine model.
#[derive(Debug)]
pub struct CopyEngine {
    view: DmaView,
    src: u64,
    dst: u64,
    len: u32,
    status: u32,
    commands: u32,
    errors: u32,
    error_iova: u64,
    config: [u8; CONFIG_LEN],
    /// Preallocated so a command allocates nothing.
    scratch: Vec<u8>,
}

impl Default for CopyEngine {
    fn default() -> Self {
        CopyEngine::new()
    }
}

impl CopyEngine {
    /// A reset device.
    pub fn new() -> Self {
        let mut config = [0u8; CONFIG_LEN];
        config[0..2].copy_from_slice(&VENDOR_ID.to_le_bytes());
        config[2..4].copy_from_slice(&DEVICE_ID.to_le_bytes());
        CopyEngine {
            view: DmaView::empty(),
            src: 0,
            dst: 0,
            len: 0,
            status: 0,
            commands: 0,
            errors: 0,
            error_iova: 0,
            config,
            scratch: vec![0; MAX_COPY],
        }
    }

    fn run_one(&mut self) {
        let len = self.len as usize;
        let result = if len > MAX_COPY {
            Err(self.src)
        } else {
            let buf = &mut self.scratch[..len];
            self.view
                .read(self.src, buf)
                .and_then(|()| self.view.write(self.dst, buf))
                .map_err(|e| e.iova())
        };
        self.commands = self.commands.wrapping_add(1);
        match result {
            Ok(()) => self.status = STATUS_DONE,
            Err(iova) => {
                self.status = STATUS_DONE | STATUS_ERROR;
                self.errors = self.errors.wrapping_add(1);
                self.error_iova = iova;
            }
        }
    }

    fn reg_value(&self, offset: u64) -> u64 {
        match offset {
            REG_ID => u64::from(COPY_ENGINE_ID),
            REG_SRC => self.src,
            REG_DST => self.dst,
            REG_LEN => u64::from(self.len),
            REG_STATUS => u64::from(self.status),
            REG_COMMANDS => u64::from(self.commands),
            REG_ERRORS => u64::from(self.errors),
            REG_ERROR_IOVA => self.error_iova,
            _ => 0,
        }
    }
}

impl DeviceModel for CopyEngine {
    fn name(&self) -> &str {
        "copy-engine"
    }

    fn bar_len(&self, bar: u8) -> u64 {
        if bar == 0 {
            BAR0_LEN
        } else {
            0
        }
    }

    fn config_len(&self) -> u64 {
        CONFIG_LEN as u64
    }

    fn doorbells(&self) -> Vec<DoorbellRegister> {
        vec![DoorbellRegister {
            bar: 0,
            offset: REG_DOORBELL,
        }]
    }

    fn set_dma_view(&mut self, view: DmaView) {
        self.view = view;
    }

    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        let start = usize::from(offset);
        if let Some(src) = self.config.get(start..start + data.len()) {
            data.copy_from_slice(src);
        }
    }

    fn config_write(&mut self, offset: u16, data: &[u8]) {
        // Only COMMAND (0x04..0x06) is writable.
        for (i, b) in data.iter().enumerate() {
            let at = usize::from(offset) + i;
            if (4..6).contains(&at) {
                self.config[at] = *b;
            }
        }
    }

    fn bar_read(&mut self, _bar: u8, offset: u64, data: &mut [u8]) {
        // 64-bit registers may be read as a whole or as two 32-bit halves.
        let (base, shift) = match offset {
            REG_SRC | REG_DST | REG_ERROR_IOVA => (offset, 0),
            o if o == REG_SRC + 4 || o == REG_DST + 4 || o == REG_ERROR_IOVA + 4 => (o - 4, 32),
            o => (o, 0),
        };
        let v = (self.reg_value(base) >> shift).to_le_bytes();
        let n = data.len().min(8);
        data[..n].copy_from_slice(&v[..n]);
    }

    fn bar_write(&mut self, _bar: u8, offset: u64, data: &[u8]) {
        let mut b = [0u8; 8];
        let n = data.len().min(8);
        b[..n].copy_from_slice(&data[..n]);
        let v = u64::from_le_bytes(b);
        let low = |old: u64| (old & !0xffff_ffff) | (v & 0xffff_ffff);
        let high = |old: u64| (old & 0xffff_ffff) | (v << 32);
        match (offset, n) {
            (REG_SRC, 8) => self.src = v,
            (REG_SRC, _) => self.src = low(self.src),
            (o, _) if o == REG_SRC + 4 => self.src = high(self.src),
            (REG_DST, 8) => self.dst = v,
            (REG_DST, _) => self.dst = low(self.dst),
            (o, _) if o == REG_DST + 4 => self.dst = high(self.dst),
            (REG_LEN, _) => self.len = v as u32,
            _ => log::debug!("copy-engine: write to read-only or unknown register {offset:#x}"),
        }
    }

    fn doorbell(&mut self, _doorbell: usize, value: u32) {
        for _ in 0..value {
            self.run_one();
        }
    }

    fn reset(&mut self) -> Result<(), String> {
        let view = std::mem::take(&mut self.view);
        *self = CopyEngine::new();
        // Reset clears registers, not the platform's DMA mappings.
        self.view = view;
        Ok(())
    }
}
