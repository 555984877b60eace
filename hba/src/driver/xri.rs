//! The exchange (XRI) pool of the ELS/CT queue (sli4.md §5.7): each XRI owns a
//! pre-registered SGL (posted with FCOE_POST_SGL_PAGES), a request buffer and
//! a response buffer. The pool index is the WQE request tag, so a WCQE finds
//! its exchange with one bounds check.

use zerocopy::IntoBytes;

use super::dma::{DmaArena, Region};
use super::error::HbaError;
use crate::sli4::cmds::post_sgl_pages::SglPages;
use crate::sli4::sge::{Bde, Sge, SGE_LEN};

/// Bytes of one XRI's SGL (the port reads at most two SGEs for ELS/CT).
pub(crate) const SGL_LEN: usize = 256;
/// Request buffer bytes (one FC frame payload).
pub(crate) const REQ_LEN: usize = 2048;
/// Response buffer bytes.
pub(crate) const RSP_LEN: usize = 4096;

/// How an exchange ended (the WCQE fields the driver reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Completion {
    /// WCQE status.
    pub status: u8,
    /// WCQE parameter (dword 2).
    pub parameter: u32,
    /// Bytes placed (response length), clamped to the response buffer.
    pub rsp_len: usize,
    /// Exchange busy: the XRI waits for its XRI-aborted CQE.
    pub xb: bool,
}

/// State of one exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum XriState {
    /// In the free list.
    Free,
    /// A WQE is outstanding and someone waits for its completion.
    Waiting,
    /// A WQE is outstanding; nobody waits (responses we sent, abandoned waits).
    Detached,
    /// Completed, the result not yet taken.
    Done(Completion),
    /// Completed with XB; reusable after the XRI-aborted CQE.
    Busy,
}

pub(crate) struct Xri {
    pub xri: u16,
    pub sgl: Region,
    pub req: Region,
    pub rsp: Region,
    pub state: XriState,
}

/// The pool.
pub(crate) struct XriPool {
    pub base: u16,
    xris: Vec<Xri>,
    free: Vec<u16>,
}

impl XriPool {
    /// `count` consecutive XRIs from `base`, with their memory carved from `arena`.
    pub fn new(arena: &mut DmaArena, base: u16, count: u16) -> Result<XriPool, HbaError> {
        let mut xris = Vec::with_capacity(count.into());
        for i in 0..count {
            xris.push(Xri {
                xri: base + i,
                sgl: arena.alloc(SGL_LEN, 64, "DMA memory for XRI SGLs")?,
                req: arena.alloc(REQ_LEN, 64, "DMA memory for ELS buffers")?,
                rsp: arena.alloc(RSP_LEN, 64, "DMA memory for ELS buffers")?,
                state: XriState::Free,
            });
        }
        Ok(XriPool {
            base,
            free: (0..count).rev().collect(),
            xris,
        })
    }

    /// Moves the pool to the XRI range READ_CONFIG reported.
    pub fn rebase(&mut self, base: u16) {
        self.base = base;
        for (i, x) in self.xris.iter_mut().enumerate() {
            x.xri = base.wrapping_add(i as u16);
        }
    }

    /// The SGL page of every XRI, in XRI order, for POST_SGL_PAGES.
    pub fn sgl_pages(&self) -> Vec<SglPages> {
        self.xris
            .iter()
            .map(|x| SglPages::one(x.sgl.iova))
            .collect()
    }

    /// Takes a free exchange; returns its tag.
    pub fn take(&mut self) -> Option<u16> {
        let tag = self.free.pop()?;
        if let Some(x) = self.xris.get_mut(usize::from(tag)) {
            x.state = XriState::Waiting;
        }
        Some(tag)
    }

    /// The exchange with `tag`, if the tag is one of ours.
    pub fn get(&self, tag: u16) -> Option<&Xri> {
        self.xris.get(usize::from(tag))
    }

    fn get_mut(&mut self, tag: u16) -> Option<&mut Xri> {
        self.xris.get_mut(usize::from(tag))
    }

    /// Writes the request payload and the SGL {request, response} (ELS/CT
    /// requests, §5.7), or only {payload} when `rsp_max` is 0 (responses).
    /// Returns the BDE of the payload for WQE dwords 0-2.
    pub fn prepare(
        &self,
        arena: &DmaArena,
        tag: u16,
        payload: &[u8],
        rsp_max: usize,
    ) -> Result<Bde, HbaError> {
        let Some(x) = self.get(tag) else {
            return Err(HbaError::BadResponse {
                device: arena.device_name().to_owned(),
                what: format!("driver bug: no exchange {tag}"),
            });
        };
        if payload.len() > x.req.len {
            return Err(HbaError::Exhausted {
                device: arena.device_name().to_owned(),
                what: "ELS request buffer space",
            });
        }
        arena.write(&x.req, 0, payload)?;
        let rsp_len = rsp_max.min(x.rsp.len);
        let sge0 = Sge::data(x.req.iova, payload.len() as u32, 0, rsp_len == 0);
        arena.zero(&x.sgl)?;
        arena.write(&x.sgl, 0, sge0.as_bytes())?;
        if rsp_len > 0 {
            let sge1 = Sge::data(x.rsp.iova, rsp_len as u32, 0, true);
            arena.write(&x.sgl, SGE_LEN, sge1.as_bytes())?;
        }
        Ok(Bde::host(x.req.iova, payload.len() as u32))
    }

    /// Records the WCQE of `tag`. Returns false for a tag with no outstanding WQE.
    pub fn complete(&mut self, tag: u16, c: Completion) -> bool {
        let Some(x) = self.get_mut(tag) else {
            return false;
        };
        match x.state {
            XriState::Waiting => x.state = XriState::Done(c),
            XriState::Detached if c.xb => x.state = XriState::Busy,
            XriState::Detached => {
                x.state = XriState::Free;
                self.free.push(tag);
            }
            _ => return false,
        }
        true
    }

    /// Takes the result of a completed exchange and frees it (or parks it
    /// busy with XB).
    pub fn take_result(&mut self, tag: u16) -> Option<Completion> {
        let x = self.get_mut(tag)?;
        let XriState::Done(c) = x.state else {
            return None;
        };
        if c.xb {
            x.state = XriState::Busy;
        } else {
            x.state = XriState::Free;
            self.free.push(tag);
        }
        Some(c)
    }

    /// Nobody waits for `tag` any more (timeout, link down, a response WQE).
    pub fn detach(&mut self, tag: u16) {
        let Some(x) = self.get_mut(tag) else { return };
        match x.state {
            XriState::Waiting => x.state = XriState::Detached,
            XriState::Done(_) => {
                let _ = self.take_result(tag);
            }
            _ => {}
        }
    }

    /// The XRI-aborted CQE for `xri`: a busy exchange may be reused.
    pub fn xri_aborted(&mut self, xri: u16) -> bool {
        let Some(tag) = xri.checked_sub(self.base) else {
            return false;
        };
        let Some(x) = self.get_mut(tag) else {
            return false;
        };
        if x.state == XriState::Busy {
            x.state = XriState::Free;
            self.free.push(tag);
            true
        } else {
            false
        }
    }

    /// Reads the response of a completed request.
    pub fn response(&self, arena: &DmaArena, tag: u16, len: usize) -> Result<Vec<u8>, HbaError> {
        let Some(x) = self.get(tag) else {
            return Ok(Vec::new());
        };
        let mut v = vec![0u8; len.min(x.rsp.len)];
        arena.read(&x.rsp, 0, &mut v)?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::queues::tests::fake;
    use zerocopy::FromBytes;

    #[test]
    fn exchange_life_cycle() {
        let (_dev, mut arena, _w) = fake();
        let mut pool = XriPool::new(&mut arena, 0, 2).unwrap();
        pool.rebase(0x100);
        assert_eq!(pool.get(1).unwrap().xri, 0x101);
        let done = |xb| Completion {
            status: 0,
            parameter: 0,
            rsp_len: 8,
            xb,
        };
        let a = pool.take().unwrap();
        let b = pool.take().unwrap();
        assert!(pool.take().is_none());
        let bde = pool.prepare(&arena, a, &[1, 2, 3], RSP_LEN).unwrap();
        assert_eq!(bde.length(), 3);
        let mut sgl = [0u8; 32];
        arena.read(&pool.get(a).unwrap().sgl, 0, &mut sgl).unwrap();
        let s0 = Sge::read_from_bytes(&sgl[..16]).unwrap();
        let s1 = Sge::read_from_bytes(&sgl[16..]).unwrap();
        assert!(!s0.last() && s1.last() && s1.len() == RSP_LEN as u32);
        assert!(!pool.complete(7, done(false)), "unknown tag");
        assert!(pool.complete(a, done(false)));
        assert!(!pool.complete(a, done(false)), "second completion");
        assert_eq!(pool.take_result(a).map(|c| c.rsp_len), Some(8));
        // Detached with XB: busy until the XRI-aborted CQE.
        pool.detach(b);
        assert!(pool.complete(b, done(true)));
        assert!(pool.take().is_some());
        assert!(pool.take().is_none());
        assert!(!pool.xri_aborted(0x0FF));
        assert!(pool.xri_aborted(0x100 + b));
        assert!(pool.take().is_some());
        assert!(pool.prepare(&arena, 0, &[0; REQ_LEN + 1], 0).is_err());
    }
}
