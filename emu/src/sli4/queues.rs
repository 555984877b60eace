//! The port's queues (sli4.md §4): where their entries live in host memory,
//! their indices, credits and valid-bit phase.
//!
//! Port-produced queues (EQ, CQ) write entries at the producer index and
//! count them as outstanding until the host returns credits ("popped") in a
//! doorbell; a queue with no credit left overflows (the entry is dropped and
//! counted). The valid bit follows one of two conventions (§4.4): without
//! autovalid it is always 1 (the host clears consumed entries); with
//! autovalid it is the phase, which starts at 1 and flips each time the
//! producer index wraps. A CQ produces an EQE on its EQ only while armed
//! (doorbell ARM=1, or ARM at create) and disarms itself doing so, as an
//! interrupt would; a polled driver that never arms gets no EQEs (whether a
//! real port posts EQEs for unarmed CQs was not found, §4.5).
//!
//! Host-produced queues (MQ, WQ, RQ) keep the port's consumer index and the
//! number of entries posted by doorbells and not yet consumed.

use std::collections::BTreeMap;

use ufc_vfio::dma::DmaView;
use ufc_vfio::DmaError;

use ufc_hba::sli4::cqe::CQE_LEN;

/// Bytes of a queue page unit (page sizes are given in 4 KiB units).
pub(crate) const PAGE_4K: u64 = 4096;

/// Where a queue's entries are: its pages, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ring {
    pages: Vec<u64>,
    page_bytes: u64,
    entry_size: u32,
    entries: u32,
}

impl Ring {
    /// A ring of `entries` entries of `entry_size` bytes on `pages` of
    /// `page_bytes` each; `None` when they do not fit, or for zero sizes.
    pub(crate) fn new(
        pages: Vec<u64>,
        page_bytes: u64,
        entry_size: u32,
        entries: u32,
    ) -> Option<Ring> {
        let capacity = (pages.len() as u64).checked_mul(page_bytes)?;
        let need = u64::from(entries).checked_mul(u64::from(entry_size))?;
        if pages.is_empty() || entries == 0 || entry_size == 0 || need > capacity {
            return None;
        }
        Some(Ring {
            pages,
            page_bytes,
            entry_size,
            entries,
        })
    }

    pub(crate) fn entries(&self) -> u32 {
        self.entries
    }

    pub(crate) fn entry_size(&self) -> u32 {
        self.entry_size
    }

    /// IOVA of entry `index` (taken modulo the ring size).
    pub(crate) fn addr(&self, index: u32) -> u64 {
        let off = u64::from(index % self.entries) * u64::from(self.entry_size);
        // `new` checked that every entry lies inside the pages.
        let page = self.pages[(off / self.page_bytes) as usize];
        page + off % self.page_bytes
    }
}

/// Producer state of a port-written queue (EQ, CQ).
#[derive(Clone, Debug)]
pub(crate) struct Producer {
    pub(crate) ring: Ring,
    pub(crate) autovalid: bool,
    /// Valid-bit value of the next entry.
    pub(crate) phase: bool,
    pub(crate) pidx: u32,
    /// Entries written and not yet returned by "popped" credits.
    pub(crate) outstanding: u32,
}

impl Producer {
    pub(crate) fn new(ring: Ring, autovalid: bool) -> Producer {
        Producer {
            ring,
            autovalid,
            phase: true,
            pidx: 0,
            outstanding: 0,
        }
    }

    /// The valid-bit value for the next entry.
    fn valid(&self) -> bool {
        !self.autovalid || self.phase
    }

    fn advance(&mut self) {
        self.pidx += 1;
        self.outstanding += 1;
        if self.pidx == self.ring.entries() {
            self.pidx = 0;
            if self.autovalid {
                self.phase = !self.phase;
            }
        }
    }

    /// Returns `popped` credits; false when the host returned more than it had
    /// (the excess is ignored).
    pub(crate) fn pop(&mut self, popped: u32) -> bool {
        let ok = popped <= self.outstanding;
        self.outstanding -= popped.min(self.outstanding);
        ok
    }

    fn full(&self) -> bool {
        self.outstanding >= self.ring.entries()
    }
}

/// An event queue.
#[derive(Clone, Debug)]
pub(crate) struct EventQueue {
    pub(crate) prod: Producer,
}

/// A completion queue.
#[derive(Clone, Debug)]
pub(crate) struct CompletionQueue {
    pub(crate) prod: Producer,
    pub(crate) eq_id: u16,
    pub(crate) armed: bool,
}

/// The mailbox queue.
#[derive(Clone, Debug)]
pub(crate) struct MailboxQueue {
    pub(crate) ring: Ring,
    pub(crate) cq_id: u16,
    /// CQ for asynchronous events (v1 may name another one).
    pub(crate) async_cq_id: u16,
    /// Async event subscription bitmap (CREATE_MQ_EXT dword 1).
    pub(crate) events: u32,
    pub(crate) cidx: u32,
    /// MQEs posted and not yet consumed.
    pub(crate) posted: u32,
}

/// A work queue.
#[derive(Clone, Debug)]
pub(crate) struct WorkQueue {
    pub(crate) ring: Ring,
    pub(crate) cq_id: u16,
    pub(crate) cidx: u32,
    pub(crate) posted: u32,
}

/// A receive queue (one half of a header/data pair).
#[derive(Clone, Debug)]
pub(crate) struct ReceiveQueue {
    pub(crate) ring: Ring,
    pub(crate) cq_id: u16,
    pub(crate) buffer_size: u32,
    /// Next entry the port fills.
    pub(crate) cidx: u32,
    /// Buffers posted and not yet filled.
    pub(crate) available: u32,
}

/// Why an entry was not written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PostError {
    #[error("no {0} with id {1}")]
    NoQueue(&'static str, u16),
    #[error("{0} {1} is full: the host returned no credits")]
    Overflow(&'static str, u16),
    #[error("{0} {1}: {2}")]
    Dma(&'static str, u16, DmaError),
}

/// Every queue of the port, by kind and id.
#[derive(Debug, Default)]
pub(crate) struct Queues {
    pub(crate) eqs: BTreeMap<u16, EventQueue>,
    pub(crate) cqs: BTreeMap<u16, CompletionQueue>,
    pub(crate) mqs: BTreeMap<u16, MailboxQueue>,
    pub(crate) wqs: BTreeMap<u16, WorkQueue>,
    pub(crate) rqs: BTreeMap<u16, ReceiveQueue>,
}

/// The lowest id not in `map` below `limit`.
pub(crate) fn free_id<T>(map: &BTreeMap<u16, T>, limit: u32) -> Option<u16> {
    (0..limit.min(0xFFFF))
        .map(|i| i as u16)
        .find(|i| !map.contains_key(i))
}

/// Sets the valid bit (MSB of byte 15) of a CQE to `v`.
fn with_valid(mut cqe: [u8; CQE_LEN], v: bool) -> [u8; CQE_LEN] {
    if v {
        cqe[15] |= 0x80;
    } else {
        cqe[15] &= 0x7F;
    }
    cqe
}

impl Queues {
    /// Writes `cqe` (its valid bit set by the CQ's convention) at the CQ's
    /// producer index; posts an EQE if the CQ is armed.
    pub(crate) fn post_cqe(
        &mut self,
        view: &DmaView,
        cq_id: u16,
        cqe: [u8; CQE_LEN],
    ) -> Result<(), PostError> {
        let cq = self
            .cqs
            .get_mut(&cq_id)
            .ok_or(PostError::NoQueue("CQ", cq_id))?;
        if cq.prod.full() {
            return Err(PostError::Overflow("CQ", cq_id));
        }
        let entry = with_valid(cqe, cq.prod.valid());
        view.write(cq.prod.ring.addr(cq.prod.pidx), &entry)
            .map_err(|e| PostError::Dma("CQ", cq_id, e))?;
        cq.prod.advance();
        if cq.armed {
            cq.armed = false;
            let eq_id = cq.eq_id;
            self.post_eqe(view, eq_id, cq_id)?;
        }
        Ok(())
    }

    /// Writes an EQE naming `cq_id` on EQ `eq_id`.
    pub(crate) fn post_eqe(
        &mut self,
        view: &DmaView,
        eq_id: u16,
        cq_id: u16,
    ) -> Result<(), PostError> {
        let eq = self
            .eqs
            .get_mut(&eq_id)
            .ok_or(PostError::NoQueue("EQ", eq_id))?;
        if eq.prod.full() {
            return Err(PostError::Overflow("EQ", eq_id));
        }
        let eqe = ufc_hba::sli4::eqe::Eqe::for_cq(cq_id, eq.prod.valid());
        // A 16-byte EQE carries the same first dword; the rest stays zero.
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(zerocopy::IntoBytes::as_bytes(&eqe));
        let n = eq.prod.ring.entry_size() as usize;
        view.write(eq.prod.ring.addr(eq.prod.pidx), &bytes[..n.min(16)])
            .map_err(|e| PostError::Dma("EQ", eq_id, e))?;
        eq.prod.advance();
        Ok(())
    }

    /// Arms CQ `cq_id`; an armed CQ with entries outstanding raises its EQE now.
    pub(crate) fn arm_cq(&mut self, view: &DmaView, cq_id: u16) -> Result<(), PostError> {
        let Some(cq) = self.cqs.get_mut(&cq_id) else {
            return Err(PostError::NoQueue("CQ", cq_id));
        };
        if cq.prod.outstanding > 0 {
            cq.armed = false;
            let eq_id = cq.eq_id;
            self.post_eqe(view, eq_id, cq_id)
        } else {
            cq.armed = true;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use ufc_vfio::dma::{DmaMemory, HugePages, IovaAllocator};

    fn mem() -> DmaMemory {
        let iova = Arc::new(IovaAllocator::default());
        DmaMemory::allocate(4 * 4096, HugePages::Never, &iova).unwrap()
    }

    #[test]
    fn ring_addresses_span_pages_and_refuse_overflow() {
        let r = Ring::new(vec![0x1000, 0x9000], 4096, 16, 512).unwrap();
        assert_eq!(r.addr(0), 0x1000);
        assert_eq!(r.addr(255), 0x1000 + 255 * 16);
        assert_eq!(r.addr(256), 0x9000);
        assert_eq!(r.addr(512), 0x1000);
        assert!(Ring::new(vec![0x1000], 4096, 16, 257).is_none());
        assert!(Ring::new(vec![], 4096, 16, 1).is_none());
        assert!(Ring::new(vec![0], 4096, 0, 1).is_none());
    }

    fn cq_on(m: &DmaMemory, autovalid: bool, entries: u32) -> Queues {
        let mut q = Queues::default();
        let ring = Ring::new(vec![m.iova()], 4096, 16, entries).unwrap();
        q.cqs.insert(
            3,
            CompletionQueue {
                prod: Producer::new(ring, autovalid),
                eq_id: 0,
                armed: false,
            },
        );
        let ering = Ring::new(vec![m.iova() + 4096], 4096, 4, 1024).unwrap();
        q.eqs.insert(
            0,
            EventQueue {
                prod: Producer::new(ering, autovalid),
            },
        );
        q
    }

    fn valid_at(m: &DmaMemory, idx: usize) -> bool {
        let mut b = [0u8; 16];
        m.read_at(idx * 16, &mut b).unwrap();
        b[15] & 0x80 != 0
    }

    #[test]
    fn autovalid_phase_flips_on_wrap_and_credits_bound_the_cq() {
        let m = mem();
        let view = DmaView::of(&[&m]);
        let mut q = cq_on(&m, true, 256);
        for _ in 0..256 {
            q.post_cqe(&view, 3, [0; 16]).unwrap();
        }
        assert!(valid_at(&m, 0) && valid_at(&m, 255));
        // No credits returned: the 257th entry overflows.
        assert!(matches!(
            q.post_cqe(&view, 3, [0; 16]),
            Err(PostError::Overflow("CQ", 3))
        ));
        assert!(q.cqs.get_mut(&3).unwrap().prod.pop(256));
        q.post_cqe(&view, 3, [0xFF; 16]).unwrap();
        // Second pass: valid bit 0 even though the entry had it set.
        assert!(!valid_at(&m, 0));
        assert!(!q.cqs.get_mut(&3).unwrap().prod.pop(5));
    }

    #[test]
    fn without_autovalid_the_valid_bit_is_always_one() {
        let m = mem();
        let view = DmaView::of(&[&m]);
        let mut q = cq_on(&m, false, 256);
        for _ in 0..300 {
            q.post_cqe(&view, 3, [0; 16]).unwrap();
            q.cqs.get_mut(&3).unwrap().prod.pop(1);
        }
        assert!(valid_at(&m, 0) && valid_at(&m, 43));
    }

    #[test]
    fn armed_cq_posts_one_eqe_and_disarms() {
        let m = mem();
        let view = DmaView::of(&[&m]);
        let mut q = cq_on(&m, false, 256);
        q.arm_cq(&view, 3).unwrap();
        q.post_cqe(&view, 3, [0; 16]).unwrap();
        q.post_cqe(&view, 3, [0; 16]).unwrap();
        assert_eq!(q.eqs[&0].prod.pidx, 1);
        let mut e = [0u8; 4];
        m.read_at(4096, &mut e).unwrap();
        assert_eq!(u32::from_le_bytes(e), 3 << 16 | 1);
        // Re-arming with entries outstanding raises the event at once.
        q.arm_cq(&view, 3).unwrap();
        assert_eq!(q.eqs[&0].prod.pidx, 2);
        assert!(matches!(
            q.post_cqe(&view, 9, [0; 16]),
            Err(PostError::NoQueue("CQ", 9))
        ));
    }
}
