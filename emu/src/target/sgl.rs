//! Walking the host's IOVA list (the `FcpReq` SGL) as one linear data buffer.

use ufc_transport::lldd::Sge;

use crate::host_memory::{HostMemory, MemError};

/// A position in an SGL, advanced piece by piece; keeps the per-I/O walk free of
/// allocation and of rescans from the first segment.
#[derive(Debug)]
pub struct SglCursor<'a> {
    sgl: &'a [Sge],
    idx: usize,
    off_in_seg: u32,
}

impl<'a> SglCursor<'a> {
    /// A cursor at byte 0 of `sgl`.
    pub fn new(sgl: &'a [Sge]) -> Self {
        SglCursor {
            sgl,
            idx: 0,
            off_in_seg: 0,
        }
    }

    /// Total bytes the SGL describes.
    pub fn total(sgl: &[Sge]) -> u64 {
        sgl.iter().map(|s| u64::from(s.len)).sum()
    }

    /// The next contiguous host range of at most `max` bytes, or `None` at the end.
    pub fn next_piece(&mut self, max: usize) -> Option<(u64, usize)> {
        loop {
            let seg = self.sgl.get(self.idx)?;
            let left = seg.len - self.off_in_seg;
            if left == 0 {
                self.idx += 1;
                self.off_in_seg = 0;
                continue;
            }
            let n = (left as usize).min(max);
            let iova = seg.iova.wrapping_add(u64::from(self.off_in_seg));
            // n <= left, which is a u32.
            self.off_in_seg += n as u32;
            return Some((iova, n));
        }
    }

    /// Copies `src` to the host at the cursor; returns the bytes copied (short when
    /// the SGL ends first).
    pub fn copy_to_host<M: HostMemory>(
        &mut self,
        mem: &M,
        mut src: &[u8],
    ) -> Result<usize, MemError> {
        let mut done = 0;
        while !src.is_empty() {
            let Some((iova, n)) = self.next_piece(src.len()) else {
                break;
            };
            mem.write(iova, &src[..n])?;
            src = &src[n..];
            done += n;
        }
        Ok(done)
    }

    /// Copies from the host at the cursor into `dst`; returns the bytes copied.
    pub fn copy_from_host<M: HostMemory>(
        &mut self,
        mem: &M,
        dst: &mut [u8],
    ) -> Result<usize, MemError> {
        let mut done = 0;
        while done < dst.len() {
            let Some((iova, n)) = self.next_piece(dst.len() - done) else {
                break;
            };
            mem.read(iova, &mut dst[done..done + n])?;
            done += n;
        }
        Ok(done)
    }

    /// Skips `len` bytes; returns how many the SGL had.
    pub fn skip(&mut self, mut len: usize) -> usize {
        let mut done = 0;
        while len > 0 {
            let Some((_, n)) = self.next_piece(len) else {
                break;
            };
            len -= n;
            done += n;
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_memory::VecMemory;

    #[test]
    fn pieces_cross_segments() {
        let sgl = [
            Sge {
                iova: 0x1000,
                len: 6,
            },
            Sge {
                iova: 0x2000,
                len: 0,
            },
            Sge {
                iova: 0x3000,
                len: 4,
            },
        ];
        assert_eq!(SglCursor::total(&sgl), 10);
        let mut c = SglCursor::new(&sgl);
        assert_eq!(c.next_piece(4), Some((0x1000, 4)));
        assert_eq!(c.next_piece(4), Some((0x1004, 2)));
        assert_eq!(c.next_piece(100), Some((0x3000, 4)));
        assert_eq!(c.next_piece(1), None);
    }

    #[test]
    fn copies_scatter_and_gather() {
        let mem = VecMemory::new(0x1000, 0x3000);
        let sgl = [
            Sge {
                iova: 0x1ffe,
                len: 3,
            },
            Sge {
                iova: 0x3000,
                len: 5,
            },
        ];
        let n = SglCursor::new(&sgl)
            .copy_to_host(&mem, b"abcdefghij")
            .unwrap();
        assert_eq!(n, 8);
        let mut back = [0u8; 8];
        assert_eq!(
            SglCursor::new(&sgl)
                .copy_from_host(&mem, &mut back)
                .unwrap(),
            8
        );
        assert_eq!(&back, b"abcdefgh");
        let mut c = SglCursor::new(&sgl);
        assert_eq!(c.skip(4), 4);
        assert_eq!(c.next_piece(10), Some((0x3001, 4)));
    }
}
