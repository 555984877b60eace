//! The five queue destroy commands (sli4.md §3.3, §3.5): COMMON DESTROY_MQ
//! (0x35), DESTROY_CQ (0x36), DESTROY_EQ (0x37); FC WQ_DESTROY (0x02),
//! RQ_DESTROY (0x06). Payload dword 0 bits 15-0 = queue id; no response
//! payload.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::Le32;
use crate::sli4::bits::{bitfields, le32};
use crate::sli4::mbox::Mqe;
use crate::sli4::sli_config::{common_op, embed, fc_op, subsystem};

/// Which queue a destroy command names.
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

impl QueueKind {
    /// (subsystem, opcode) of the destroy command.
    pub const fn destroy_opcode(self) -> (u8, u8) {
        match self {
            QueueKind::Eq => (subsystem::COMMON, common_op::DESTROY_EQ),
            QueueKind::Cq => (subsystem::COMMON, common_op::DESTROY_CQ),
            QueueKind::Mq => (subsystem::COMMON, common_op::DESTROY_MQ),
            QueueKind::Wq => (subsystem::FC, fc_op::WQ_DESTROY),
            QueueKind::Rq => (subsystem::FC, fc_op::RQ_DESTROY),
        }
    }

    /// The queue kind a (subsystem, opcode) pair destroys, if any.
    pub const fn from_destroy_opcode(subsystem: u8, opcode: u8) -> Option<QueueKind> {
        match (subsystem, opcode) {
            (subsystem::COMMON, common_op::DESTROY_EQ) => Some(QueueKind::Eq),
            (subsystem::COMMON, common_op::DESTROY_CQ) => Some(QueueKind::Cq),
            (subsystem::COMMON, common_op::DESTROY_MQ) => Some(QueueKind::Mq),
            (subsystem::FC, fc_op::WQ_DESTROY) => Some(QueueKind::Wq),
            (subsystem::FC, fc_op::RQ_DESTROY) => Some(QueueKind::Rq),
            _ => None,
        }
    }

    /// Lower-case name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            QueueKind::Eq => "EQ",
            QueueKind::Cq => "CQ",
            QueueKind::Mq => "MQ",
            QueueKind::Wq => "WQ",
            QueueKind::Rq => "RQ",
        }
    }
}

/// Request payload of every destroy command.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DestroyQueue {
    /// Dword 0: queue id 15-0.
    pub dw0: Le32,
}
const _: () = assert!(core::mem::size_of::<DestroyQueue>() == 4);

impl DestroyQueue {
    bitfields! {
        /// Dword 0 bits 15-0: queue id.
        queue_id / set_queue_id: dw0[0; 16];
    }

    /// The destroy MQE for queue `id` of `kind` (version 0).
    pub fn mqe(kind: QueueKind, id: u16) -> Mqe {
        let (sub, op) = kind.destroy_opcode();
        let req = DestroyQueue {
            dw0: le32(id.into()),
        };
        // 4 request bytes always fit the 216-byte embedded area.
        embed(sub, op, 0, &req, 0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sli4::sli_config::embedded_request;

    #[test]
    fn destroy_golden() {
        let cases = [
            (QueueKind::Eq, [0x37, 0x01]),
            (QueueKind::Cq, [0x36, 0x01]),
            (QueueKind::Mq, [0x35, 0x01]),
            (QueueKind::Wq, [0x02, 0x0C]),
            (QueueKind::Rq, [0x06, 0x0C]),
        ];
        for (kind, op) in cases {
            let m = DestroyQueue::mqe(kind, 0x1234);
            let b = m.as_bytes();
            assert_eq!(&b[0..5], &[0, 0x9B, 0, 0, 1]);
            assert_eq!(&b[24..26], &op);
            assert_eq!(&b[32..36], &4u32.to_le_bytes());
            assert_eq!(&b[40..44], &[0x34, 0x12, 0, 0]);
            let (h, p) = embedded_request::<DestroyQueue>(&m);
            assert_eq!(
                QueueKind::from_destroy_opcode(h.subsystem() as u8, h.opcode() as u8),
                Some(kind)
            );
            assert_eq!(p.unwrap().queue_id(), 0x1234);
        }
        assert_eq!(QueueKind::from_destroy_opcode(0x0C, 0x37), None);
    }
}
