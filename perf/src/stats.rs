//! Per-direction I/O statistics: counts, bytes and an HDR histogram of
//! completion latency, and the summary the reports print.

use hdrhistogram::Histogram;

/// fio's default `percentile_list`.
pub const PERCENTILES: [f64; 17] = [
    1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95,
    99.99,
];

/// Highest latency the histogram holds (larger samples are clamped): 10 minutes.
const MAX_NS: u64 = 600_000_000_000;

/// Reads or writes of one job (or of all jobs, merged).
#[derive(Clone, Debug)]
pub struct DirStats {
    /// Completed I/Os (successful).
    pub ios: u64,
    /// Bytes moved by them.
    pub bytes: u64,
    /// Submit → completion, nanoseconds.
    pub hist: Histogram<u64>,
}

impl Default for DirStats {
    fn default() -> Self {
        DirStats::new()
    }
}

impl DirStats {
    /// Empty; the histogram is sized once here, so recording never allocates.
    pub fn new() -> Self {
        // Bounds and precision are constants within hdrhistogram's limits: cannot fail.
        #[allow(clippy::expect_used)]
        let hist = Histogram::new_with_bounds(1, MAX_NS, 3).expect("constant histogram bounds");
        DirStats {
            ios: 0,
            bytes: 0,
            hist,
        }
    }

    /// One completed I/O.
    #[inline]
    pub fn record(&mut self, lat_ns: u64, bytes: u64) {
        self.ios += 1;
        self.bytes += bytes;
        self.hist.saturating_record(lat_ns.clamp(1, MAX_NS));
    }

    /// `n` completed I/Os with the same latency (one histogram update).
    #[inline]
    pub fn record_n(&mut self, lat_ns: u64, n: u64, bytes_each: u64) {
        self.ios += n;
        self.bytes += bytes_each * n;
        self.hist.saturating_record_n(lat_ns.clamp(1, MAX_NS), n);
    }

    /// Forgets everything (end of ramp time).
    pub fn reset(&mut self) {
        self.ios = 0;
        self.bytes = 0;
        self.hist.reset();
    }

    /// Adds `other` (for totals).
    pub fn merge(&mut self, other: &DirStats) {
        self.ios += other.ios;
        self.bytes += other.bytes;
        // Same bounds on both sides: adding cannot fail.
        let _ = self.hist.add(&other.hist);
    }

    /// Latency summary.
    pub fn summary(&self) -> LatSummary {
        let h = &self.hist;
        let n = h.len();
        LatSummary {
            n,
            min: if n == 0 { 0 } else { h.min() },
            max: if n == 0 { 0 } else { h.max() },
            mean: if n == 0 { 0.0 } else { h.mean() },
            stddev: if n == 0 { 0.0 } else { h.stdev() },
            percentiles: PERCENTILES
                .iter()
                .map(|&p| {
                    (
                        p,
                        if n == 0 {
                            0
                        } else {
                            h.value_at_quantile(p / 100.0)
                        },
                    )
                })
                .collect(),
        }
    }
}

/// Latency figures in nanoseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct LatSummary {
    /// Samples.
    pub n: u64,
    /// Smallest.
    pub min: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub stddev: f64,
    /// (percent, value) for [`PERCENTILES`].
    pub percentiles: Vec<(f64, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_summary_merge_reset() {
        let mut a = DirStats::new();
        for v in 1..=1000u64 {
            a.record(v * 1000, 4096);
        }
        let s = a.summary();
        assert_eq!((s.n, a.ios, a.bytes), (1000, 1000, 4096 * 1000));
        assert_eq!(s.min, 1000);
        assert!(
            (s.max as f64 - 1_000_000.0).abs() / 1e6 < 0.001,
            "{}",
            s.max
        );
        assert!((s.mean - 500_500.0).abs() / 500_500.0 < 0.001, "{}", s.mean);
        let p50 = s.percentiles.iter().find(|(p, _)| *p == 50.0).unwrap().1;
        assert!((p50 as f64 - 500_000.0).abs() / 5e5 < 0.002, "{p50}");
        let mut b = DirStats::new();
        b.record_n(7000, 3, 512);
        assert_eq!(
            (b.ios, b.bytes, b.summary().n, b.summary().min),
            (3, 1536, 3, 7000)
        );
        let mut t = DirStats::new();
        t.merge(&a);
        t.merge(&a);
        assert_eq!((t.ios, t.summary().n), (2000, 2000));
        a.reset();
        assert_eq!(a.summary(), DirStats::new().summary());
        assert_eq!(a.summary().min, 0);
    }
}
