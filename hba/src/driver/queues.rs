//! The rings in DMA memory (sli4.md §4): EQ and CQ (port-produced, with both
//! valid-bit conventions), MQ and WQ (host-produced, no valid bit), and the
//! header/data RQ pair. Indices read from the device (release CQEs, RCQE
//! element indices) are bounds-checked by the callers through these types.

use std::sync::atomic::{fence, Ordering};

use ufc_vfio::Doorbell;
use zerocopy::{FromBytes, IntoBytes};

use super::dma::{DmaArena, Region};
use super::error::HbaError;
use crate::sli4::cqe::{Cqe, CQE_LEN};
use crate::sli4::doorbell::{EqCqDoorbell, IfType, PostDoorbell, WqDoorbell, MAX_POPPED};
use crate::sli4::eqe::{eqe_major, Eqe, Phase, EQE_LEN};
use crate::sli4::mbox::{Mqe, MQE_LEN};
use crate::sli4::sge::Rqe;
use crate::sli4::wqe::{Wqe, WQE_LEN};

/// Page size of every queue page.
pub(crate) const PAGE: usize = 4096;

/// The 4 KiB page addresses of a ring.
pub(crate) fn pages(r: &Region) -> Vec<u64> {
    (0..r.len.div_ceil(PAGE))
        .map(|i| r.iova + (i * PAGE) as u64)
        .collect()
}

/// Consumer side of a port-produced ring (EQ or CQ).
struct Consumer {
    region: Region,
    entry_len: usize,
    entries: u32,
    index: u32,
    phase: Phase,
}

impl Consumer {
    /// Reads the entry at the consumer index if it is new (its valid bit,
    /// `bit` of byte `at`, says so); clears that bit when the convention
    /// wants it, and advances.
    fn next<const N: usize>(
        &mut self,
        arena: &DmaArena,
        (at, bit): (usize, u8),
    ) -> Result<Option<[u8; N]>, HbaError> {
        let off = self.index as usize * self.entry_len;
        // An empty poll, the common one, reads only the valid byte.
        let mut v = [0u8; 1];
        arena.read(&self.region, off + at, &mut v)?;
        if (v[0] & bit != 0) != self.phase.expected() {
            return Ok(None);
        }
        // The valid bit is seen: read the whole entry after it so no older
        // word is used (the port writes the valid bit last).
        fence(Ordering::Acquire);
        let mut e = [0u8; N];
        arena.read(&self.region, off, &mut e)?;
        if self.phase.host_clears() {
            let cleared = [v[0] & !bit];
            arena.write(&self.region, off + at, &cleared)?;
        }
        self.index += 1;
        if self.index == self.entries {
            self.index = 0;
            self.phase.on_wrap();
        }
        Ok(Some(e))
    }
}

/// An event queue. A polled driver only drains it and returns credits; it
/// still checks that each standard EQE names one of the port's CQs.
pub(crate) struct EventQueue {
    pub id: u16,
    ring: Consumer,
    db: Doorbell,
    if_type: IfType,
    /// The CQs bound to this EQ.
    cqs: Vec<u16>,
}

impl EventQueue {
    /// An EQ of `region.len / 4` entries with the valid-bit convention `autovalid`.
    pub fn new(
        id: u16,
        region: Region,
        autovalid: bool,
        db: Doorbell,
        if_type: IfType,
    ) -> EventQueue {
        EventQueue {
            id,
            cqs: Vec::new(),
            ring: Consumer {
                entries: (region.len / EQE_LEN) as u32,
                region,
                entry_len: EQE_LEN,
                index: 0,
                phase: Phase::new(autovalid),
            },
            db,
            if_type,
        }
    }

    /// The CQs bound to this EQ, once they all exist.
    pub fn set_cqs(&mut self, cqs: Vec<u16>) {
        self.cqs = cqs;
    }

    /// Consumes every new EQE; returns how many, and counts in `bad_cq` the
    /// standard EQEs that name a CQ the port did not bind to this EQ.
    pub fn drain(&mut self, arena: &DmaArena, bad_cq: &mut u64) -> Result<u32, HbaError> {
        let mut n = 0u32;
        while let Some(e) = self.ring.next::<EQE_LEN>(arena, (0, 1))? {
            if let Some(e) = Eqe::from_prefix(&e) {
                let cq = e.resource_id() as u16;
                if e.major_code() == eqe_major::STANDARD
                    && !self.cqs.is_empty()
                    && !self.cqs.contains(&cq)
                {
                    *bad_cq += 1;
                }
            }
            n += 1;
            if n == u32::from(MAX_POPPED) {
                break;
            }
        }
        if n > 0 {
            let d = EqCqDoorbell {
                id: self.id,
                popped: n as u16,
                arm: false,
                flag: false,
            };
            self.db.write(d.encode_eq(self.if_type));
        }
        Ok(n)
    }
}

/// A completion queue.
pub(crate) struct CompletionQueue {
    pub id: u16,
    ring: Consumer,
    db: Doorbell,
    if_type: IfType,
    popped: u32,
}

impl CompletionQueue {
    /// A CQ of `region.len / 16` entries.
    pub fn new(
        id: u16,
        region: Region,
        autovalid: bool,
        db: Doorbell,
        if_type: IfType,
    ) -> CompletionQueue {
        CompletionQueue {
            id,
            ring: Consumer {
                entries: (region.len / CQE_LEN) as u32,
                region,
                entry_len: CQE_LEN,
                index: 0,
                phase: Phase::new(autovalid),
            },
            db,
            if_type,
            popped: 0,
        }
    }

    /// The next new CQE, if any. Call [`Self::release`] after a batch.
    pub fn next(&mut self, arena: &DmaArena) -> Result<Option<Cqe>, HbaError> {
        let e = self.ring.next::<CQE_LEN>(arena, (15, 0x80))?;
        Ok(e.map(|b| {
            self.popped += 1;
            Cqe::read_from_bytes(&b[..]).unwrap_or_default()
        }))
    }

    /// Returns the consumed entries to the port (popped, no re-arm).
    pub fn release(&mut self) {
        while self.popped > 0 {
            let n = self.popped.min(u32::from(MAX_POPPED));
            let d = EqCqDoorbell {
                id: self.id,
                popped: n as u16,
                arm: false,
                flag: false,
            };
            self.db.write(d.encode_cq(self.if_type));
            self.popped -= n;
        }
    }
}

/// The mailbox queue: 256-byte MQEs, the port writes each response back into
/// its slot.
pub(crate) struct MailboxQueue {
    pub id: u16,
    region: Region,
    entries: u32,
    producer: u32,
    db: Doorbell,
}

impl MailboxQueue {
    /// An MQ over `region`.
    pub fn new(id: u16, region: Region, db: Doorbell) -> MailboxQueue {
        MailboxQueue {
            id,
            entries: (region.len / MQE_LEN) as u32,
            region,
            producer: 0,
            db,
        }
    }

    /// Writes `mqe` into the next slot and rings the doorbell; returns the slot.
    /// The caller keeps one command outstanding at a time.
    pub fn post(&mut self, arena: &DmaArena, mqe: &Mqe) -> Result<u32, HbaError> {
        let slot = self.producer;
        arena.write(&self.region, slot as usize * MQE_LEN, mqe.as_bytes())?;
        self.producer = (self.producer + 1) % self.entries;
        self.db.write(
            PostDoorbell {
                id: self.id,
                posted: 1,
            }
            .encode(),
        );
        Ok(slot)
    }

    /// The MQE in `slot` (the port's response).
    pub fn read(&self, arena: &DmaArena, slot: u32) -> Result<Mqe, HbaError> {
        let mut b = [0u8; MQE_LEN];
        arena.read(
            &self.region,
            (slot % self.entries) as usize * MQE_LEN,
            &mut b,
        )?;
        Ok(Mqe::read_from_bytes(&b[..]).unwrap_or_default())
    }
}

/// A work queue of 64-byte WQEs. Every WQE asks for a release CQE (WQEC) so
/// the free count follows the port's consumption.
pub(crate) struct WorkQueue {
    pub id: u16,
    region: Region,
    entries: u32,
    producer: u64,
    consumer: u64,
    /// `producer % entries`, kept as the producer moves (no division per WQE).
    tail: u32,
    db: Doorbell,
    if_type: IfType,
}

impl WorkQueue {
    /// A WQ over `region`.
    pub fn new(id: u16, region: Region, db: Doorbell, if_type: IfType) -> WorkQueue {
        WorkQueue {
            id,
            entries: (region.len / WQE_LEN) as u32,
            region,
            producer: 0,
            consumer: 0,
            tail: 0,
            db,
            if_type,
        }
    }

    /// Writes `wqe` (with WQEC set) and rings the doorbell.
    pub fn post(&mut self, arena: &DmaArena, wqe: Wqe) -> Result<(), HbaError> {
        let index = self.write(arena, wqe)?;
        self.ring(index, 1);
        Ok(())
    }

    /// True when no entry is free (one slot always stays empty).
    pub fn is_full(&self) -> bool {
        self.producer - self.consumer >= u64::from(self.entries - 1)
    }

    /// Writes `wqe` (with WQEC set) into the next slot without ringing the
    /// doorbell; returns the slot's ring index for [`Self::ring`].
    pub fn write(&mut self, arena: &DmaArena, wqe: Wqe) -> Result<u32, HbaError> {
        self.write_entry(arena, wqe, |_| true)
    }

    /// [`Self::write`], with WQEC set only when `wqec(ring index)` says so:
    /// a release CQE frees every entry up to its index, so one every few
    /// entries keeps the free count close enough.
    pub fn write_entry(
        &mut self,
        arena: &DmaArena,
        mut wqe: Wqe,
        wqec: impl FnOnce(u32) -> bool,
    ) -> Result<u32, HbaError> {
        if self.is_full() {
            return Err(HbaError::Exhausted {
                device: arena.device_name().to_owned(),
                what: "work queue entries",
            });
        }
        let index = self.tail;
        wqe.set_wqec(wqec(index));
        arena.write(&self.region, index as usize * WQE_LEN, wqe.as_bytes())?;
        self.producer += 1;
        self.tail = if index + 1 == self.entries {
            0
        } else {
            index + 1
        };
        Ok(index)
    }

    /// One doorbell for `posted` entries written from ring index `first`.
    pub fn ring(&mut self, first: u32, posted: u8) {
        let d = WqDoorbell {
            id: self.id,
            index: first as u8,
            posted,
        };
        self.db.write(d.encode(self.if_type));
    }

    /// A WQE-release CQE for ring index `index`: every entry up to it is free.
    /// Returns false (and changes nothing) for an index that names no
    /// outstanding entry.
    pub fn released(&mut self, index: u16) -> bool {
        let n = u64::from(self.entries);
        let index = u64::from(index);
        if index >= n {
            return false;
        }
        let advance = (index + 1 + n - self.consumer % n) % n;
        let advance = if advance == 0 { n } else { advance };
        if advance > self.producer - self.consumer {
            return false;
        }
        self.consumer += advance;
        true
    }
}

/// The header/data RQ pair (§3.5 "RQ pairs"): entries are posted to both in
/// lock-step and only the header RQ's doorbell is rung.
pub(crate) struct ReceiveQueuePair {
    pub hdr_id: u16,
    pub data_id: u16,
    hdr_ring: Region,
    data_ring: Region,
    hdr_bufs: Vec<Region>,
    data_bufs: Vec<Region>,
    entries: u32,
    host: u32,
    db: Doorbell,
}

impl ReceiveQueuePair {
    /// A pair with one buffer per ring slot.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        hdr_id: u16,
        data_id: u16,
        hdr_ring: Region,
        data_ring: Region,
        hdr_bufs: Vec<Region>,
        data_bufs: Vec<Region>,
        db: Doorbell,
    ) -> ReceiveQueuePair {
        ReceiveQueuePair {
            hdr_id,
            data_id,
            entries: hdr_bufs.len() as u32,
            hdr_ring,
            data_ring,
            hdr_bufs,
            data_bufs,
            host: 0,
            db,
        }
    }

    fn put(&mut self, arena: &DmaArena) -> Result<(), HbaError> {
        let i = self.host as usize;
        let (Some(h), Some(d)) = (self.hdr_bufs.get(i), self.data_bufs.get(i)) else {
            return Ok(());
        };
        arena.write(&self.hdr_ring, i * 8, Rqe::new(h.iova).as_bytes())?;
        arena.write(&self.data_ring, i * 8, Rqe::new(d.iova).as_bytes())?;
        self.host = (self.host + 1) % self.entries;
        Ok(())
    }

    /// Posts every slot but one (a full ring would look empty) and rings once.
    pub fn post_all(&mut self, arena: &DmaArena) -> Result<(), HbaError> {
        let n = self.entries.saturating_sub(1);
        for _ in 0..n {
            self.put(arena)?;
        }
        self.db.write(
            PostDoorbell {
                id: self.hdr_id,
                posted: n as u16,
            }
            .encode(),
        );
        Ok(())
    }

    /// Gives one consumed slot back to the port.
    pub fn repost(&mut self, arena: &DmaArena) -> Result<(), HbaError> {
        self.put(arena)?;
        self.db.write(
            PostDoorbell {
                id: self.hdr_id,
                posted: 1,
            }
            .encode(),
        );
        Ok(())
    }

    /// The header and data buffers of ring slot `index`; `None` out of range.
    pub fn buffers(&self, index: u32) -> Option<(Region, Region)> {
        let i = index as usize;
        Some((*self.hdr_bufs.get(i)?, *self.data_bufs.get(i)?))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};

    use ufc_vfio::dma::{DmaView, HugePages, IovaAllocator};
    use ufc_vfio::model::{DeviceModel, DoorbellRegister};
    use ufc_vfio::Device;

    use super::*;
    use crate::sli4::cqe::Wcqe;

    /// A device with one doorbell (BAR0 + 0x120) that records what it is given.
    pub(crate) struct Fake {
        pub writes: Arc<Mutex<Vec<u32>>>,
    }

    impl DeviceModel for Fake {
        fn name(&self) -> &str {
            "fake"
        }
        fn bar_len(&self, bar: u8) -> u64 {
            if bar == 0 {
                4096
            } else {
                0
            }
        }
        fn doorbells(&self) -> Vec<DoorbellRegister> {
            vec![DoorbellRegister {
                bar: 0,
                offset: 0x120,
            }]
        }
        fn set_dma_view(&mut self, _view: DmaView) {}
        fn config_read(&mut self, _offset: u16, data: &mut [u8]) {
            data.fill(0);
        }
        fn config_write(&mut self, _offset: u16, _data: &[u8]) {}
        fn bar_read(&mut self, _bar: u8, _offset: u64, data: &mut [u8]) {
            data.fill(0);
        }
        fn bar_write(&mut self, _bar: u8, _offset: u64, _data: &[u8]) {}
        fn doorbell(&mut self, _doorbell: usize, value: u32) {
            self.writes.lock().unwrap().push(value);
        }
        fn reset(&mut self) -> Result<(), String> {
            Ok(())
        }
    }

    pub(crate) fn fake() -> (Device, DmaArena, Arc<Mutex<Vec<u32>>>) {
        let writes = Arc::new(Mutex::new(Vec::new()));
        let dev = Device::from_model(Fake {
            writes: Arc::clone(&writes),
        });
        let arena = DmaArena::new(
            &dev,
            16384,
            HugePages::Never,
            &Arc::new(IovaAllocator::default()),
        )
        .unwrap();
        (dev, arena, writes)
    }

    fn put(arena: &DmaArena, r: &Region, i: usize, tag: u16, valid: bool) {
        let w = Wcqe::new(tag, 0, 0, 0, valid);
        arena.write(r, i * CQE_LEN, w.as_bytes()).unwrap();
    }

    fn take(cq: &mut CompletionQueue, arena: &DmaArena) -> Option<u16> {
        cq.next(arena)
            .unwrap()
            .map(|c| Wcqe::from(c).request_tag() as u16)
    }

    #[test]
    fn cq_host_clears_valid_bit() {
        let (dev, mut arena, writes) = fake();
        let r = arena.alloc(4 * CQE_LEN, 64, "t").unwrap();
        let db = dev.doorbell(0, 0x120).unwrap();
        let mut cq = CompletionQueue::new(7, r, false, db, IfType::If2);
        assert_eq!(take(&mut cq, &arena), None);
        for round in 0..3u16 {
            for i in 0..4 {
                put(&arena, &r, i, round * 4 + i as u16, true);
            }
            for i in 0..4 {
                assert_eq!(take(&mut cq, &arena), Some(round * 4 + i));
                let mut b = [0u8; 16];
                arena.read(&r, i as usize * CQE_LEN, &mut b).unwrap();
                assert_eq!(b[15] & 0x80, 0, "consumed entry cleared");
            }
            assert_eq!(take(&mut cq, &arena), None);
        }
        cq.release();
        dev.poll_model();
        let w = writes.lock().unwrap().clone();
        let (kind, d) = EqCqDoorbell::decode_if2(w[0]);
        assert_eq!(
            (kind, d.id, d.popped, d.arm),
            (crate::sli4::doorbell::QueueKind::Cq, 7, 12, false)
        );
    }

    #[test]
    fn eq_counts_eqes_for_unknown_cqs() {
        let (dev, mut arena, writes) = fake();
        let r = arena.alloc(8 * EQE_LEN, 64, "t").unwrap();
        let db = dev.doorbell(0, 0x120).unwrap();
        let mut eq = EventQueue::new(3, r, false, db, IfType::If2);
        eq.set_cqs(vec![5, 6]);
        for (i, cq) in [5u16, 0x8001, 6, 7].into_iter().enumerate() {
            arena
                .write(&r, i * EQE_LEN, Eqe::for_cq(cq, true).as_bytes())
                .unwrap();
        }
        let mut bad = 0;
        assert_eq!(eq.drain(&arena, &mut bad).unwrap(), 4);
        assert_eq!(bad, 2, "0x8001 and 7 are not ours");
        assert_eq!(eq.drain(&arena, &mut bad).unwrap(), 0);
        dev.poll_model();
        let (_, d) = EqCqDoorbell::decode_if2(writes.lock().unwrap()[0]);
        assert_eq!((d.id, d.popped), (3, 4));
    }

    #[test]
    fn cq_autovalid_phase_toggles_on_wrap() {
        let (dev, mut arena, writes) = fake();
        let r = arena.alloc(4 * CQE_LEN, 64, "t").unwrap();
        let db = dev.doorbell(0, 0x120).unwrap();
        let mut cq = CompletionQueue::new(9, r, true, db, IfType::If6);
        // First pass: valid = 1.
        for i in 0..4 {
            put(&arena, &r, i, i as u16, true);
        }
        for i in 0..4 {
            assert_eq!(take(&mut cq, &arena), Some(i));
        }
        // The old entries (valid 1) are not new on the second pass.
        assert_eq!(take(&mut cq, &arena), None);
        put(&arena, &r, 0, 100, false);
        assert_eq!(take(&mut cq, &arena), Some(100));
        let mut b = [0u8; 16];
        arena.read(&r, 0, &mut b).unwrap();
        assert_eq!(b[2], 100, "autovalid entries are never written by the host");
        assert_eq!(take(&mut cq, &arena), None);
        cq.release();
        dev.poll_model();
        let d = EqCqDoorbell::decode_cq_if6(writes.lock().unwrap()[0]);
        assert_eq!((d.id, d.popped), (9, 5));
    }

    #[test]
    fn wq_release_bounds() {
        let (dev, mut arena, writes) = fake();
        let r = arena.alloc(4 * WQE_LEN, 64, "t").unwrap();
        let db = dev.doorbell(0, 0x120).unwrap();
        let mut wq = WorkQueue::new(3, r, db, IfType::If2);
        assert!(!wq.released(0), "nothing outstanding");
        for _ in 0..3 {
            wq.post(&arena, Wqe::default()).unwrap();
        }
        assert!(
            wq.post(&arena, Wqe::default()).is_err(),
            "one slot stays empty"
        );
        assert!(!wq.released(4), "index beyond the ring");
        assert!(wq.released(1));
        assert!(!wq.released(1), "already released");
        assert!(wq.released(2));
        wq.post(&arena, Wqe::default()).unwrap();
        let mut b = [0u8; WQE_LEN];
        arena.read(&r, 0, &mut b).unwrap();
        assert_eq!(b[44] & 0x80, 0x80, "WQEC set");
        dev.poll_model();
        let w = writes.lock().unwrap().clone();
        let d = WqDoorbell::decode(w[3]);
        assert_eq!((d.id, d.index, d.posted), (3, 3, 1));
        // The producer index wraps to slot 0.
        assert!(wq.released(3));
        wq.post(&arena, Wqe::default()).unwrap();
        dev.poll_model();
        let d = WqDoorbell::decode(writes.lock().unwrap()[4]);
        assert_eq!((d.index, d.posted), (0, 1));
    }

    proptest::proptest! {
        /// Whatever the port writes into a CQ, and whatever release indices it
        /// reports, the consumer neither panics nor runs past what was posted.
        #[test]
        fn device_input_never_panics(
            entries in proptest::collection::vec(proptest::array::uniform16(proptest::prelude::any::<u8>()), 8),
            releases in proptest::collection::vec(proptest::prelude::any::<u16>(), 0..16),
            autovalid in proptest::prelude::any::<bool>(),
        ) {
            let (dev, mut arena, _w) = fake();
            let r = arena.alloc(8 * CQE_LEN, 64, "t").unwrap();
            for (i, e) in entries.iter().enumerate() {
                arena.write(&r, i * CQE_LEN, e).unwrap();
            }
            let mut cq = CompletionQueue::new(1, r, autovalid, dev.doorbell(0, 0x120).unwrap(), IfType::If6);
            let mut n = 0;
            while cq.next(&arena).unwrap().is_some() {
                n += 1;
                proptest::prop_assert!(n <= 8, "one pass at most without new writes");
            }
            cq.release();
            let w = arena.alloc(8 * WQE_LEN, 64, "t").unwrap();
            let mut wq = WorkQueue::new(2, w, dev.doorbell(0, 0x120).unwrap(), IfType::If2);
            for _ in 0..5 {
                wq.post(&arena, Wqe::default()).unwrap();
            }
            for x in releases {
                let _ = wq.released(x);
                proptest::prop_assert!(wq.consumer <= wq.producer);
            }
        }
    }
}
