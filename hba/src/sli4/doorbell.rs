//! Queue doorbells for if_type 2 (all in BAR0) and if_type 6 (all in BAR2)
//! (sli4.md §1.4, §4.5). Every doorbell is one 32-bit write.
//!
//! Encoders mask each value to its field; callers keep ids below the
//! `MAX_*_ID` limits (queue ids come from the create responses). Decoders are
//! for the device model and accept any `u32`.

use super::bits::{get, set};

/// The SLI interface type, which decides doorbell placement and formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IfType {
    /// if_type 2: Lancer G5/G6, doorbells in BAR0, no autovalid.
    If2,
    /// if_type 6: Lancer G7/G7+, doorbells in BAR2, autovalid queues.
    If6,
}

impl IfType {
    /// From SLI_INTF.IF_TYPE; `None` for interface types this driver does not run.
    pub const fn from_sli_intf(if_type: u32) -> Option<IfType> {
        match if_type {
            2 => Some(IfType::If2),
            6 => Some(IfType::If6),
            _ => None,
        }
    }

    /// The PCI BAR index holding the doorbells (0 or 2).
    pub const fn doorbell_bar(self) -> u8 {
        match self {
            IfType::If2 => 0,
            IfType::If6 => 2,
        }
    }
}

/// Queue kinds, to look doorbell offsets up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueKind {
    /// Event queue.
    Eq,
    /// Completion queue.
    Cq,
    /// Mailbox queue.
    Mq,
    /// Work queue.
    Wq,
    /// Receive queue.
    Rq,
}

/// Offset of a queue's doorbell inside [`IfType::doorbell_bar`] (§1.4). On
/// if_type 2 the EQ and CQ doorbells share 0x120 (the QT bit selects).
pub const fn doorbell_offset(if_type: IfType, kind: QueueKind) -> u32 {
    match (if_type, kind) {
        (_, QueueKind::Wq) => 0x040,
        (IfType::If2, QueueKind::Rq) => 0x0A0,
        (IfType::If6, QueueKind::Rq) => 0x080,
        (IfType::If2, QueueKind::Cq) => 0x120,
        (IfType::If6, QueueKind::Cq) => 0x0C0,
        (_, QueueKind::Eq) => 0x120,
        (IfType::If2, QueueKind::Mq) => 0x140,
        (IfType::If6, QueueKind::Mq) => 0x160,
    }
}

/// Largest EQ id an if_type 2 doorbell carries (14 bits split 9 + 5).
pub const MAX_EQ_ID_IF2: u16 = (1 << 14) - 1;
/// Largest CQ id an if_type 2 doorbell carries (15 bits split 10 + 5).
pub const MAX_CQ_ID_IF2: u16 = (1 << 15) - 1;
/// Largest EQ id an if_type 6 doorbell carries (12 bits).
pub const MAX_EQ_ID_IF6: u16 = (1 << 12) - 1;
/// Largest "popped" count in one EQ/CQ doorbell (13 bits).
pub const MAX_POPPED: u16 = (1 << 13) - 1;
/// Largest "posted" count in one MQ/RQ doorbell (14 bits).
pub const MAX_POSTED: u16 = (1 << 14) - 1;

/// An EQ or CQ doorbell: credits returned and (for interrupt mode) re-arm.
/// A polled driver writes `arm = false`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EqCqDoorbell {
    /// Queue id.
    pub id: u16,
    /// Entries consumed since the last doorbell (bits 28-16).
    pub popped: u16,
    /// Re-arm (bit 29).
    pub arm: bool,
    /// if_type 2 EQ: CI, clear interrupt (bit 9; OCS always sets it).
    /// if_type 6 EQ: IO, interrupt override (bit 31). CQ: SE (bit 31).
    pub flag: bool,
}

const QT_EQ: u32 = 1 << 10;
const ARM: u32 = 1 << 29;

fn popped_arm(d: &EqCqDoorbell) -> u32 {
    set(0, 16, 13, d.popped.into()) | if d.arm { ARM } else { 0 }
}

impl EqCqDoorbell {
    /// The EQ doorbell value (§4.5).
    pub fn encode_eq(&self, if_type: IfType) -> u32 {
        let id = u32::from(self.id);
        match if_type {
            IfType::If2 => {
                let mut v = popped_arm(self) | QT_EQ | (id & 0x1FF) | set(0, 11, 5, id >> 9);
                if self.flag {
                    v |= 1 << 9;
                }
                v
            }
            IfType::If6 => (id & 0xFFF) | popped_arm(self) | if self.flag { 1 << 31 } else { 0 },
        }
    }

    /// The CQ doorbell value (§4.5).
    pub fn encode_cq(&self, if_type: IfType) -> u32 {
        let id = u32::from(self.id);
        let se = if self.flag { 1 << 31 } else { 0 };
        match if_type {
            IfType::If2 => (id & 0x3FF) | set(0, 11, 5, id >> 10) | popped_arm(self) | se,
            IfType::If6 => id | popped_arm(self) | se,
        }
    }

    /// Decodes the shared if_type 2 EQ/CQ doorbell: which kind (QT bit) and
    /// its fields.
    pub fn decode_if2(v: u32) -> (QueueKind, EqCqDoorbell) {
        let is_eq = v & QT_EQ != 0;
        let (id, flag) = if is_eq {
            (get(v, 0, 9) | get(v, 11, 5) << 9, v & (1 << 9) != 0)
        } else {
            (get(v, 0, 10) | get(v, 11, 5) << 10, v & (1 << 31) != 0)
        };
        let d = EqCqDoorbell {
            id: id as u16,
            popped: get(v, 16, 13) as u16,
            arm: v & ARM != 0,
            flag,
        };
        (if is_eq { QueueKind::Eq } else { QueueKind::Cq }, d)
    }

    /// Decodes an if_type 6 EQ doorbell (BAR2+0x120).
    pub fn decode_eq_if6(v: u32) -> EqCqDoorbell {
        EqCqDoorbell {
            id: get(v, 0, 12) as u16,
            popped: get(v, 16, 13) as u16,
            arm: v & ARM != 0,
            flag: v & (1 << 31) != 0,
        }
    }

    /// Decodes an if_type 6 CQ doorbell (BAR2+0x0C0).
    pub fn decode_cq_if6(v: u32) -> EqCqDoorbell {
        EqCqDoorbell {
            id: get(v, 0, 16) as u16,
            popped: get(v, 16, 13) as u16,
            arm: v & ARM != 0,
            flag: v & (1 << 31) != 0,
        }
    }
}

/// An MQ or RQ ("ring" format) doorbell: id 15-0, entries posted 29-16.
/// For an RQ pair, ring only the header RQ's id (§3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PostDoorbell {
    /// Queue id.
    pub id: u16,
    /// Entries posted since the last doorbell (14 bits).
    pub posted: u16,
}

impl PostDoorbell {
    /// The doorbell value (same layout for MQ and RQ, both if_types).
    pub fn encode(&self) -> u32 {
        u32::from(self.id) | set(0, 16, 14, self.posted.into())
    }

    /// Decodes an MQ/RQ doorbell.
    pub fn decode(v: u32) -> PostDoorbell {
        PostDoorbell {
            id: get(v, 0, 16) as u16,
            posted: get(v, 16, 14) as u16,
        }
    }
}

/// A WQ ("list" format) doorbell (§4.5): id 15-0, index of the WQE just
/// written 23-16 (if_type 2 only; LPFC leaves it 0 on if_type 6 — we follow
/// LPFC, sli4.md §8), number posted 31-24.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WqDoorbell {
    /// WQ id.
    pub id: u16,
    /// Index of the WQE just written (if_type 2).
    pub index: u8,
    /// Number of WQEs posted.
    pub posted: u8,
}

impl WqDoorbell {
    /// The doorbell value; the index is dropped on if_type 6.
    pub fn encode(&self, if_type: IfType) -> u32 {
        let index = match if_type {
            IfType::If2 => u32::from(self.index) << 16,
            IfType::If6 => 0,
        };
        u32::from(self.id) | index | u32::from(self.posted) << 24
    }

    /// Decodes a WQ doorbell (the device model ignores `index` on if_type 6).
    pub fn decode(v: u32) -> WqDoorbell {
        WqDoorbell {
            id: get(v, 0, 16) as u16,
            index: get(v, 16, 8) as u8,
            posted: get(v, 24, 8) as u8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn offsets() {
        use QueueKind::*;
        let if2: Vec<u32> = [Eq, Cq, Mq, Wq, Rq]
            .iter()
            .map(|&k| doorbell_offset(IfType::If2, k))
            .collect();
        assert_eq!(if2, [0x120, 0x120, 0x140, 0x040, 0x0A0]);
        let if6: Vec<u32> = [Eq, Cq, Mq, Wq, Rq]
            .iter()
            .map(|&k| doorbell_offset(IfType::If6, k))
            .collect();
        assert_eq!(if6, [0x120, 0x0C0, 0x160, 0x040, 0x080]);
        assert_eq!(
            (IfType::If2.doorbell_bar(), IfType::If6.doorbell_bar()),
            (0, 2)
        );
        assert_eq!(IfType::from_sli_intf(6), Some(IfType::If6));
        assert_eq!(IfType::from_sli_intf(0), None);
    }

    #[test]
    fn eq_cq_golden() {
        // EQ id 0x203 (id[8:0]=3, id[13:9]=1), popped 5, CI, no arm.
        let d = EqCqDoorbell {
            id: 0x203,
            popped: 5,
            arm: false,
            flag: true,
        };
        assert_eq!(
            d.encode_eq(IfType::If2),
            0x0005_0000 | 1 << 11 | 1 << 10 | 1 << 9 | 3
        );
        assert_eq!(d.encode_eq(IfType::If6), 0x8005_0203);
        // CQ id 0x403 (id[9:0]=3, id[14:10]=1), popped 1, arm.
        let c = EqCqDoorbell {
            id: 0x403,
            popped: 1,
            arm: true,
            flag: false,
        };
        assert_eq!(c.encode_cq(IfType::If2), 0x2001_0803);
        assert_eq!(c.encode_cq(IfType::If6), 0x2001_0403);
        assert_eq!(
            EqCqDoorbell::decode_if2(d.encode_eq(IfType::If2)),
            (QueueKind::Eq, d)
        );
        assert_eq!(
            EqCqDoorbell::decode_if2(c.encode_cq(IfType::If2)),
            (QueueKind::Cq, c)
        );
    }

    #[test]
    fn post_and_wq_golden() {
        let m = PostDoorbell { id: 7, posted: 1 };
        assert_eq!(m.encode(), 0x0001_0007);
        let w = WqDoorbell {
            id: 0x21,
            index: 0x3F,
            posted: 1,
        };
        assert_eq!(w.encode(IfType::If2), 0x013F_0021);
        assert_eq!(w.encode(IfType::If6), 0x0100_0021);
        assert_eq!(WqDoorbell::decode(0x013F_0021), w);
    }

    proptest! {
        #[test]
        fn eq_cq_round_trip(id: u16, popped in 0u16..=MAX_POPPED, arm: bool, flag: bool) {
            let eq2 = EqCqDoorbell { id: id & MAX_EQ_ID_IF2, popped, arm, flag };
            prop_assert_eq!(EqCqDoorbell::decode_if2(eq2.encode_eq(IfType::If2)), (QueueKind::Eq, eq2));
            let cq2 = EqCqDoorbell { id: id & MAX_CQ_ID_IF2, popped, arm, flag };
            prop_assert_eq!(EqCqDoorbell::decode_if2(cq2.encode_cq(IfType::If2)), (QueueKind::Cq, cq2));
            let eq6 = EqCqDoorbell { id: id & MAX_EQ_ID_IF6, popped, arm, flag };
            prop_assert_eq!(EqCqDoorbell::decode_eq_if6(eq6.encode_eq(IfType::If6)), eq6);
            let cq6 = EqCqDoorbell { id, popped, arm, flag };
            prop_assert_eq!(EqCqDoorbell::decode_cq_if6(cq6.encode_cq(IfType::If6)), cq6);
        }

        #[test]
        fn post_round_trip(id: u16, posted in 0u16..=MAX_POSTED, idx: u8, n: u8) {
            let p = PostDoorbell { id, posted };
            prop_assert_eq!(PostDoorbell::decode(p.encode()), p);
            let w = WqDoorbell { id, index: idx, posted: n };
            prop_assert_eq!(WqDoorbell::decode(w.encode(IfType::If2)), w);
        }
    }
}
