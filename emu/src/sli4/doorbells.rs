//! The doorbell registers (sli4.md §1.4, §4.5): BAR0 on if_type 2 (EQ and CQ
//! share 0x120, told apart by the QT bit), BAR2 on if_type 6. Each write is
//! decoded with `ufc_hba::sli4::doorbell` and applied to its queue: credits
//! and arming for EQ/CQ, posted entries for MQ/WQ/RQ (which the port then
//! consumes at once).

use ufc_hba::sli4::doorbell::{
    doorbell_offset, EqCqDoorbell, IfType, PostDoorbell, QueueKind, WqDoorbell,
};
use ufc_vfio::model::DoorbellRegister;

use super::{bump, Sli4Model};

/// What a declared doorbell register is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DoorbellKind {
    /// if_type 2: EQ or CQ by the QT bit.
    EqCqIf2,
    Eq,
    Cq,
    Mq,
    Wq,
    Rq,
}

/// The doorbell registers of `if_type`, in the order the model declares them.
pub(crate) fn layout(if_type: IfType) -> Vec<(DoorbellRegister, DoorbellKind)> {
    let bar = if_type.doorbell_bar();
    let reg = |kind: QueueKind| DoorbellRegister {
        bar,
        offset: u64::from(doorbell_offset(if_type, kind)),
    };
    let mut v = vec![
        (reg(QueueKind::Wq), DoorbellKind::Wq),
        (reg(QueueKind::Rq), DoorbellKind::Rq),
        (reg(QueueKind::Mq), DoorbellKind::Mq),
    ];
    match if_type {
        IfType::If2 => v.push((reg(QueueKind::Eq), DoorbellKind::EqCqIf2)),
        IfType::If6 => {
            v.push((reg(QueueKind::Eq), DoorbellKind::Eq));
            v.push((reg(QueueKind::Cq), DoorbellKind::Cq));
        }
    }
    v
}

impl Sli4Model {
    /// Applies one doorbell write.
    pub(crate) fn ring(&mut self, kind: DoorbellKind, value: u32) {
        if !self.regs.is_ready() {
            // A port in error or reset ignores its doorbells.
            return;
        }
        match kind {
            DoorbellKind::EqCqIf2 => match EqCqDoorbell::decode_if2(value) {
                (QueueKind::Eq, d) => self.eq_doorbell(d),
                (_, d) => self.cq_doorbell(d),
            },
            DoorbellKind::Eq => self.eq_doorbell(EqCqDoorbell::decode_eq_if6(value)),
            DoorbellKind::Cq => self.cq_doorbell(EqCqDoorbell::decode_cq_if6(value)),
            DoorbellKind::Mq => {
                let d = PostDoorbell::decode(value);
                match self.func.queues.mqs.get_mut(&d.id) {
                    Some(mq) => {
                        mq.posted = mq.posted.saturating_add(d.posted.into());
                        self.run_mq(d.id);
                    }
                    None => bump(&self.counters().doorbell_errors),
                }
            }
            DoorbellKind::Wq => {
                let d = WqDoorbell::decode(value);
                match self.func.queues.wqs.get_mut(&d.id) {
                    Some(wq) => {
                        wq.posted = wq.posted.saturating_add(d.posted.into());
                        self.run_wq(d.id);
                    }
                    None => bump(&self.counters().doorbell_errors),
                }
            }
            DoorbellKind::Rq => {
                let d = PostDoorbell::decode(value);
                match self.func.queues.rqs.get_mut(&d.id) {
                    Some(rq) => {
                        let room = rq.ring.entries() - rq.available;
                        rq.available += u32::from(d.posted).min(room);
                        if u32::from(d.posted) > room {
                            bump(&self.counters().doorbell_errors);
                        }
                        self.deliver_backlog();
                    }
                    None => bump(&self.counters().doorbell_errors),
                }
            }
        }
    }

    fn eq_doorbell(&mut self, d: EqCqDoorbell) {
        match self.func.queues.eqs.get_mut(&d.id) {
            Some(eq) => {
                if !eq.prod.pop(d.popped.into()) {
                    bump(&self.counters().doorbell_errors);
                }
            }
            None => bump(&self.counters().doorbell_errors),
        }
    }

    fn cq_doorbell(&mut self, d: EqCqDoorbell) {
        let Some(cq) = self.func.queues.cqs.get_mut(&d.id) else {
            bump(&self.counters().doorbell_errors);
            return;
        };
        if !cq.prod.pop(d.popped.into()) {
            bump(&self.counters().doorbell_errors);
        }
        if d.arm {
            if let Err(e) = self.func.queues.arm_cq(&self.view, d.id) {
                bump(&self.counters().cq_overflows);
                log::warn!("sli4 model: arming CQ {}: {e}", d.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_follow_section_1_4() {
        let if2: Vec<_> = layout(IfType::If2)
            .iter()
            .map(|(r, _)| (r.bar, r.offset))
            .collect();
        assert_eq!(if2, [(0, 0x40), (0, 0xA0), (0, 0x140), (0, 0x120)]);
        let if6: Vec<_> = layout(IfType::If6)
            .iter()
            .map(|(r, _)| (r.bar, r.offset))
            .collect();
        assert_eq!(
            if6,
            [(2, 0x40), (2, 0x80), (2, 0x160), (2, 0x120), (2, 0xC0)]
        );
    }
}
