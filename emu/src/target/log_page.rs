//! Log pages the target serves: Error Information (01h), SMART / Health (02h) and
//! Changed Namespace List (04h). Layouts per the NVMe base specification.

use crate::target::connection::ConnStats;

/// Size of one Error Information entry.
pub const ERROR_ENTRY_LEN: usize = 64;
/// Size of the SMART / Health Information page.
pub const SMART_LEN: usize = 512;
/// Size of the Changed Namespace List page.
pub const CHANGED_NS_LEN: usize = 4096;
/// Error log entries the controller keeps (Identify ELPE + 1).
pub const ERROR_ENTRIES: usize = 64;

/// Composite temperature the model reports: 300 K (27 °C).
const TEMPERATURE_K: u16 = 300;

/// SMART / Health page from the counters of every queue of the controller.
///
/// Data units are thousands of 512-byte units, rounded up (NVMe base spec 5.14.1.2).
pub fn smart(stats: &ConnStats) -> [u8; SMART_LEN] {
    let mut p = [0u8; SMART_LEN];
    // Byte 0 critical warning: none. Bytes 1–2 composite temperature (Kelvin).
    p[1..3].copy_from_slice(&TEMPERATURE_K.to_le_bytes());
    p[3] = 100; // available spare, %
    p[4] = 10; // available spare threshold, %
    let units = |bytes: u64| bytes.div_ceil(512).div_ceil(1000);
    put_u128(&mut p, 32, units(stats.bytes_read));
    put_u128(&mut p, 48, units(stats.bytes_written));
    put_u128(&mut p, 64, stats.reads);
    put_u128(&mut p, 80, stats.writes);
    p
}

fn put_u128(p: &mut [u8], off: usize, v: u64) {
    p[off..off + 16].copy_from_slice(&u128::from(v).to_le_bytes());
}

/// Sums the counters of several queues.
pub fn sum(stats: impl IntoIterator<Item = ConnStats>) -> ConnStats {
    stats.into_iter().fold(ConnStats::default(), |mut a, s| {
        a.commands += s.commands;
        a.reads += s.reads;
        a.writes += s.writes;
        a.bytes_read += s.bytes_read;
        a.bytes_written += s.bytes_written;
        a.dropped += s.dropped;
        a.csn_out_of_order += s.csn_out_of_order;
        a
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smart_counts_in_thousand_sector_units() {
        let s = ConnStats {
            reads: 3,
            writes: 2,
            bytes_read: 512 * 1000 + 1,
            bytes_written: 512 * 2500,
            ..ConnStats::default()
        };
        let p = smart(&s);
        assert_eq!(u16::from_le_bytes([p[1], p[2]]), 300);
        assert_eq!(p[32], 2, "1000 units + a partial one round up");
        assert_eq!(p[48], 3);
        assert_eq!(p[64], 3);
        assert_eq!(p[80], 2);
        let total = sum([s, s]);
        assert_eq!(total.reads, 6);
        assert_eq!(total.bytes_written, 2 * 512 * 2500);
    }
}
