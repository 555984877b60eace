//! Hostile mode (issue 5): the port writes bad completions for FC-NVMe I/O,
//! as a broken or malicious device would, so the driver's bounds checks and
//! recovery can be tested. Armed with
//! [`Sli4Faults::hostile`](super::Sli4Faults::hostile), ended with
//! [`Sli4Faults::hostile_off`](super::Sli4Faults::hostile_off).
//!
//! One in every [`HostileConfig::every`] FCP completions of NVMe I/O queues
//! (the WCQE of an FCP_IREAD64/IWRITE64/ICMND64 that reached a target
//! connection with a queue id of 1 or more, as it completes — at once or,
//! for a command the target held, later; not the completions of aborted
//! exchanges) is corrupted; with [`HostileConfig::admin`] those of the
//! admin queue too. The admin queue is spared by default because an
//! association that must be rebuilt runs more admin commands than `every`:
//! a device that corrupts every n-th of them forever can never be recovered
//! from, and a test of it would only test the reconnect limits. Which kind, and every random value, come from a generator
//! seeded with [`HostileConfig::seed`], so a run that submits the same
//! commands in the same order is corrupted the same way.
//!
//! | kind | what is written | the real completion |
//! |---|---|---|
//! | [`HostileKind::BadRequestTag`] | the WCQE with a request tag in 0x8000..=0xFFFE (outside any driver's tag range, never the all-ones tag) | **replaced**: lost |
//! | [`HostileKind::BadXri`] | an XRI-aborted CQE for an XRI outside the port's XRI range | kept, written after it |
//! | [`HostileKind::BadLength`] | the WCQE with "data placed" beyond the request's length | **replaced** by the corrupt copy (same tag and status): the data itself was moved correctly |
//! | [`HostileKind::UnknownCode`] | the WCQE with a CQE code no port writes on a WQ's CQ (0x03, 0x0E, 0x1F, 0x3F or 0x7F) | **replaced**: lost |
//! | [`HostileKind::BadEqCqId`] | an EQE on the CQ's EQ naming a CQ id in 0x8000..=0xFFFE | kept, written after it |
//! | [`HostileKind::TruncatedErsp`] | the WCQE as status 0x01 (ERSP) with a response length of 1 to 31 bytes | **replaced**: lost |
//! | [`HostileKind::GarbageErsp`] | 32 random bytes in the RSP buffer (their IU length field never the ERSP's 8 words) and the WCQE as status 0x01 with length 32 | **replaced**: lost |
//!
//! A lost completion leaves the exchange finished in the port: an ABORT_WQE
//! for it finds nothing (local reject 0x0C "no abort match"), so the driver
//! has to recover through its own bounds (the transport's abort bound, an
//! association or port reset).

use ufc_hba::sli4::cqe::{wcqe_status, Wcqe};

use super::wq::entry;
use super::{bump, Sli4Model};

/// One way of corrupting an I/O completion (see the module table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostileKind {
    /// A request tag outside any driver's range; the real WCQE is lost.
    BadRequestTag,
    /// An extra XRI-aborted CQE for an XRI outside the port's range.
    BadXri,
    /// A WCQE reporting more data placed than the request had.
    BadLength,
    /// A CQE code unknown on an I/O CQ; the real WCQE is lost.
    UnknownCode,
    /// An extra EQE naming a CQ id out of range.
    BadEqCqId,
    /// An ERSP completion with a response length below 32; the real WCQE is lost.
    TruncatedErsp,
    /// Random bytes as the ERSP IU; the real WCQE is lost.
    GarbageErsp,
}

impl HostileKind {
    /// Every kind, in declaration order.
    pub const ALL: [HostileKind; 7] = [
        HostileKind::BadRequestTag,
        HostileKind::BadXri,
        HostileKind::BadLength,
        HostileKind::UnknownCode,
        HostileKind::BadEqCqId,
        HostileKind::TruncatedErsp,
        HostileKind::GarbageErsp,
    ];

    const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// Whether the real completion is lost (replaced by one the driver must
    /// refuse), so the exchange ends only through the driver's recovery.
    pub const fn loses_completion(self) -> bool {
        matches!(
            self,
            HostileKind::BadRequestTag
                | HostileKind::UnknownCode
                | HostileKind::TruncatedErsp
                | HostileKind::GarbageErsp
        )
    }
}

/// A set of [`HostileKind`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HostileKinds(u8);

impl HostileKinds {
    /// Every kind.
    pub const ALL: HostileKinds = HostileKinds((1 << HostileKind::ALL.len()) - 1);

    /// Just `kind`.
    pub const fn only(kind: HostileKind) -> HostileKinds {
        HostileKinds(kind.bit())
    }

    /// This set and `kind`.
    pub const fn with(self, kind: HostileKind) -> HostileKinds {
        HostileKinds(self.0 | kind.bit())
    }

    /// Whether `kind` is in the set.
    pub const fn contains(self, kind: HostileKind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn nth(self, mut n: u32) -> Option<HostileKind> {
        HostileKind::ALL
            .into_iter()
            .filter(|k| self.contains(*k))
            .find(|_| {
                let hit = n == 0;
                n = n.wrapping_sub(1);
                hit
            })
    }

    fn len(self) -> u32 {
        self.0.count_ones()
    }
}

impl FromIterator<HostileKind> for HostileKinds {
    fn from_iter<I: IntoIterator<Item = HostileKind>>(iter: I) -> Self {
        iter.into_iter()
            .fold(HostileKinds::default(), |s, k| s.with(k))
    }
}

/// How hostile the port is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostileConfig {
    /// One FCP completion in this many is corrupted (the `every`-th, the
    /// 2×`every`-th, ...); 0 or 1: every one.
    pub every: u32,
    /// Seed of the generator choosing kinds and values.
    pub seed: u64,
    /// The kinds to choose from (uniformly); empty: nothing is corrupted.
    pub kinds: HostileKinds,
    /// Admin queue (qid 0) completions count and are corrupted too.
    pub admin: bool,
}

impl HostileConfig {
    /// Only `kind`, one completion in `every`.
    pub const fn only(kind: HostileKind, every: u32, seed: u64) -> HostileConfig {
        HostileConfig {
            every,
            seed,
            kinds: HostileKinds::only(kind),
            admin: false,
        }
    }

    /// Every kind, chosen at random, one completion in `every`.
    pub const fn mix(every: u32, seed: u64) -> HostileConfig {
        HostileConfig {
            every,
            seed,
            kinds: HostileKinds::ALL,
            admin: false,
        }
    }
}

/// Hostile mode's running state.
#[derive(Clone, Debug)]
pub(crate) struct Hostile {
    cfg: HostileConfig,
    /// splitmix64 state.
    rng: u64,
    /// FCP completions seen since hostile mode was armed.
    seen: u64,
}

impl Hostile {
    pub(crate) fn new(cfg: HostileConfig) -> Hostile {
        Hostile {
            cfg,
            rng: cfg.seed,
            seen: 0,
        }
    }

    /// splitmix64 (Steele, Lea, Flood 2014): tiny, and good enough to pick
    /// kinds and bytes reproducibly.
    fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next_u64() % u64::from(n.max(1))) as u32
    }

    /// Counts one FCP completion of queue `qid`; the kind to apply to it,
    /// if any.
    fn pick(&mut self, qid: u16) -> Option<HostileKind> {
        if qid == 0 && !self.cfg.admin {
            return None;
        }
        self.seen += 1;
        let every = u64::from(self.cfg.every.max(1));
        if self.seen % every != 0 || self.cfg.kinds.is_empty() {
            return None;
        }
        let n = self.below(self.cfg.kinds.len());
        self.cfg.kinds.nth(n)
    }
}

/// CQE codes no port writes on the CQ of a WQ (sli4.md §4.3 lists the rest).
const UNKNOWN_CODES: [u8; 5] = [0x03, 0x0E, 0x1F, 0x3F, 0x7F];
/// ERSP IU length in 32-bit words (FC-NVMe; bytes 2-3 of the IU).
const ERSP_IU_WORDS: u16 = 8;

impl Sli4Model {
    /// Posts the WCQE of an FCP exchange of NVMe queue `qid` on `cq_id`,
    /// through hostile mode when it is on. `rsp` is the exchange's RSP
    /// buffer, `req_len` the request's data length.
    pub(crate) fn complete_fcp(
        &mut self,
        cq_id: u16,
        wcqe: Wcqe,
        rsp: Option<(u64, u32)>,
        req_len: u32,
        qid: u16,
    ) {
        let Some(h) = self.fcp_faults.hostile.as_mut() else {
            self.complete(cq_id, wcqe);
            return;
        };
        let Some(kind) = h.pick(qid) else {
            self.complete(cq_id, wcqe);
            return;
        };
        let r = h.next_u64();
        bump(&self.counters().hostile_cqes);
        log::debug!(
            "sli4 model: hostile {kind:?} on the completion of request tag {:#x}",
            wcqe.request_tag()
        );
        let mut w = wcqe;
        match kind {
            HostileKind::BadRequestTag => {
                w.set_request_tag(0x8000 | (r % 0x7FFF) as u32);
                self.complete(cq_id, w);
            }
            HostileKind::BadXri => {
                let x = self.cfg.resources.xri;
                let end = u32::from(x.base) + u32::from(x.count);
                let xri = if end < 0xFFFF {
                    end + (r % u64::from(0xFFFF - end)) as u32
                } else {
                    // The range reaches the top: below it (base > 0 then).
                    (r % u64::from(x.base.max(1))) as u32
                };
                self.xri_aborted(xri as u16, cq_id, false);
                self.complete(cq_id, w);
            }
            HostileKind::BadLength => {
                let beyond = req_len.max(w.total_data_placed());
                w.dw1.set(beyond.saturating_add(1 + (r % 4096) as u32));
                self.complete(cq_id, w);
            }
            HostileKind::UnknownCode => {
                let code = UNKNOWN_CODES[(r % UNKNOWN_CODES.len() as u64) as usize];
                w.set_code(code.into());
                // Not a WCQE any more: posted as is, counted by neither
                // `wqe_errors` nor `ersps`.
                self.post_cqe(cq_id, entry(&w), "hostile CQE");
            }
            HostileKind::BadEqCqId => {
                let bogus = 0x8000 | (r % 0x7FFF) as u16;
                let eq = self.func.queues.cqs.get(&cq_id).map(|c| c.eq_id);
                if let Some(eq) = eq {
                    if let Err(e) = self.func.queues.post_eqe(&self.view, eq, bogus) {
                        bump(&self.counters().cq_overflows);
                        log::debug!("sli4 model: hostile EQE not written: {e}");
                    }
                }
                self.complete(cq_id, w);
            }
            HostileKind::TruncatedErsp => {
                w.set_status(wcqe_status::FCP_RSP_FAILURE.into());
                w.dw2.set(1 + (r % 31) as u32);
                self.complete(cq_id, w);
            }
            HostileKind::GarbageErsp => {
                let mut garbage = [0u8; 32];
                let mut seed = r;
                for chunk in garbage.chunks_exact_mut(8) {
                    seed = seed.rotate_left(17) ^ 0xA076_1D64_78BD_642F;
                    seed = seed.wrapping_mul(0xE703_7ED1_A0B4_28DB);
                    chunk.copy_from_slice(&seed.to_le_bytes());
                }
                let words = u16::from_be_bytes([garbage[2], garbage[3]]);
                if words == ERSP_IU_WORDS {
                    garbage[3] ^= 0x01;
                }
                if let Some((at, len)) = rsp {
                    let n = (len as usize).min(garbage.len());
                    if let Err(e) = self.view.write(at, &garbage[..n]) {
                        self.dma_failed("hostile ERSP", &e);
                    }
                }
                w.set_status(wcqe_status::FCP_RSP_FAILURE.into());
                w.dw2.set(garbage.len() as u32);
                self.complete(cq_id, w);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_one_in_every_from_the_set_and_repeats_with_the_seed() {
        let run = |seed| {
            let mut h = Hostile::new(HostileConfig::mix(3, seed));
            (0..60).map(|_| h.pick(1)).collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7), "same seed, same choices");
        for (i, k) in a.iter().enumerate() {
            assert_eq!(k.is_some(), (i + 1) % 3 == 0, "completion {}", i + 1);
        }
        let kinds: HostileKinds = a.iter().flatten().copied().collect();
        assert!(kinds.len() >= 5, "20 picks cover most kinds: {kinds:?}");
        let mut h = Hostile::new(HostileConfig::only(HostileKind::BadXri, 1, 1));
        assert!((0..10).all(|_| h.pick(3) == Some(HostileKind::BadXri)));
        assert!(
            (0..10).all(|_| h.pick(0).is_none()),
            "the admin queue is spared"
        );
        let mut h = Hostile::new(HostileConfig {
            admin: true,
            ..HostileConfig::only(HostileKind::BadXri, 1, 1)
        });
        assert_eq!(h.pick(0), Some(HostileKind::BadXri));
        let mut h = Hostile::new(HostileConfig {
            every: 1,
            seed: 1,
            kinds: HostileKinds::default(),
            admin: false,
        });
        assert!((0..10).all(|_| h.pick(1).is_none()));
    }

    #[test]
    fn kind_sets() {
        let s = HostileKinds::only(HostileKind::BadLength).with(HostileKind::GarbageErsp);
        assert!(s.contains(HostileKind::BadLength) && !s.contains(HostileKind::BadXri));
        assert_eq!(s.nth(1), Some(HostileKind::GarbageErsp));
        assert_eq!(s.nth(2), None);
        assert_eq!(HostileKinds::ALL.len(), 7);
        assert!(HostileKind::ALL
            .iter()
            .all(|k| HostileKinds::ALL.contains(*k)));
    }
}
