//! Our own IOVA allocator.
//!
//! VFIO's type-1 IOMMU lets the user choose IOVAs. We hand out aligned spans from one
//! window and leave a guard gap after each span, so a device that runs past the end of a
//! region hits an unmapped IOVA (an IOMMU fault, or a [`DmaError`](crate::DmaError) in a
//! model) instead of the next region. Control path only: a mutex guards the free list.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::error::MemoryError;

/// Default window start: 4 GiB keeps clear of IOVA 0 (which catches null-pointer DMA)
/// and of the x86 MSI window at 0xfee0_0000.
pub const DEFAULT_IOVA_START: u64 = 1 << 32;
/// Default window end: 2^39 fits IOMMUs with 39-bit address width, the narrowest common.
pub const DEFAULT_IOVA_END: u64 = 1 << 39;

/// Allocator of IOVA spans in `[start, end)`.
#[derive(Debug)]
pub struct IovaAllocator {
    start: u64,
    end: u64,
    state: Mutex<IovaState>,
}

#[derive(Debug, Default)]
struct IovaState {
    /// Free spans, start → end (exclusive), non-overlapping and non-adjacent.
    free: BTreeMap<u64, u64>,
    /// Allocated spans, start → reserved end (span + guard).
    used: BTreeMap<u64, u64>,
}

impl Default for IovaAllocator {
    fn default() -> Self {
        IovaAllocator::new(DEFAULT_IOVA_START, DEFAULT_IOVA_END)
    }
}

impl IovaAllocator {
    /// An allocator over `[start, end)`. An empty or reversed window allocates nothing.
    pub fn new(start: u64, end: u64) -> Self {
        let mut state = IovaState::default();
        if end > start {
            state.free.insert(start, end);
        }
        IovaAllocator {
            start,
            end,
            state: Mutex::new(state),
        }
    }

    /// Reserves `len` bytes aligned to `align` (a power of two) followed by a guard gap
    /// of `align` bytes; returns the start IOVA. First fit.
    pub fn alloc(&self, len: u64, align: u64) -> Result<u64, MemoryError> {
        let exhausted = || MemoryError::IovaExhausted {
            start: self.start,
            end: self.end,
            len,
            align,
        };
        if len == 0 || !align.is_power_of_two() {
            return Err(MemoryError::InvalidConfig(format!(
                "IOVA request of {len} bytes aligned to {align:#x}: length must be non-zero \
                 and alignment a power of two"
            )));
        }
        let reserve = len.checked_add(align).ok_or_else(exhausted)?;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut found = None;
        for (&fstart, &fend) in &st.free {
            let Some(aligned) = fstart.checked_add(align - 1).map(|v| v & !(align - 1)) else {
                continue;
            };
            if aligned.checked_add(reserve).is_some_and(|e| e <= fend) {
                found = Some((fstart, fend, aligned));
                break;
            }
        }
        let (fstart, fend, iova) = found.ok_or_else(exhausted)?;
        st.free.remove(&fstart);
        if iova > fstart {
            st.free.insert(fstart, iova);
        }
        let rend = iova + reserve;
        if rend < fend {
            st.free.insert(rend, fend);
        }
        st.used.insert(iova, rend);
        Ok(iova)
    }

    /// Returns the span that starts at `iova`. Unknown IOVAs are ignored and reported
    /// as `false`.
    pub fn free(&self, iova: u64) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut end) = st.used.remove(&iova) else {
            log::warn!("IOVA {iova:#x} freed but not allocated");
            return false;
        };
        let mut start = iova;
        // Coalesce with the free span that ends at `start` and the one that begins at `end`.
        if let Some((&ps, &pe)) = st.free.range(..start).next_back() {
            if pe == start {
                st.free.remove(&ps);
                start = ps;
            }
        }
        if let Some(ne) = st.free.remove(&end) {
            end = ne;
        }
        st.free.insert(start, end);
        true
    }

    /// Bytes not reserved (spans plus guards).
    pub fn free_bytes(&self) -> u64 {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.free.iter().map(|(s, e)| e - s).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_first_fit_with_guard_gap() {
        let a = IovaAllocator::new(0x1000, 0x100_0000);
        let x = a.alloc(0x3000, 0x1000).unwrap();
        assert_eq!(x, 0x1000);
        let y = a.alloc(0x1000, 0x1000).unwrap();
        // 0x3000 span + 0x1000 guard.
        assert_eq!(y, 0x5000);
        let z = a.alloc(0x1000, 0x20_0000).unwrap();
        assert_eq!(z, 0x20_0000);
        assert_eq!(z % 0x20_0000, 0);
    }

    #[test]
    fn free_coalesces_and_reuses() {
        let a = IovaAllocator::new(0, 0x10_0000);
        let total = a.free_bytes();
        let x = a.alloc(0x1000, 0x1000).unwrap();
        let y = a.alloc(0x1000, 0x1000).unwrap();
        let z = a.alloc(0x1000, 0x1000).unwrap();
        assert!(a.free(y));
        assert!(a.free(x));
        assert!(a.free(z));
        assert_eq!(a.free_bytes(), total);
        assert!(!a.free(z), "double free must be refused");
        assert_eq!(a.alloc(0x8000, 0x1000).unwrap(), 0);
    }

    #[test]
    fn exhaustion_is_an_error_naming_the_window() {
        let a = IovaAllocator::new(0x1000, 0x4000);
        a.alloc(0x1000, 0x1000).unwrap();
        let e = a.alloc(0x2000, 0x1000).unwrap_err().to_string();
        assert!(e.contains("0x1000..0x4000"), "{e}");
        assert!(e.contains("8192 bytes"), "{e}");
    }

    #[test]
    fn rejects_bad_requests_and_overflow() {
        let a = IovaAllocator::new(0, u64::MAX);
        assert!(a.alloc(0, 0x1000).is_err());
        assert!(a.alloc(0x1000, 3).is_err());
        assert!(a.alloc(u64::MAX, 0x1000).is_err());
        assert!(IovaAllocator::new(5, 5).alloc(1, 1).is_err());
    }

    #[test]
    fn spans_never_overlap() {
        let a = IovaAllocator::new(0x1000, 0x40_0000);
        let mut spans = Vec::new();
        for i in 0..40u64 {
            let len = 0x1000 * (1 + i % 5);
            if let Ok(s) = a.alloc(len, 0x1000) {
                spans.push((s, s + len));
            }
            if i % 3 == 0 {
                if let Some((s, _)) = spans.pop() {
                    a.free(s);
                }
            }
        }
        spans.sort();
        for w in spans.windows(2) {
            assert!(w[0].1 < w[1].0, "overlap or no guard: {w:?}");
        }
    }
}
