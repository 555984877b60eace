//! Response selection per connection: the 12-byte zero RSP or an ERSP, the RSN
//! counter and the SQ head (nvme-fc.md §4.8, A.2).
//!
//! An ERSP is sent when any of these holds (as the Linux target decides):
//! every `ersp_ratio`-th response of the connection, a fabrics command, a data
//! length other than the CMD IU's `data_len`, a non-zero status, a non-zero result
//! (CQE DW0/DW1), a fused command, or an SQ at least 90 % full. The RSN starts at 1
//! and advances only when an ERSP is sent.

use ufc_transport::lldd::ERSP_IU_LEN;
use ufc_transport::wire::cqe::Cqe;
use ufc_transport::wire::iu::ErspIu;
use ufc_transport::wire::status::NvmeStatus;

use crate::target::fcp::Rsp;

/// How a command ended, before the response is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// NVMe status (Linux encoding, DNR included).
    pub status: NvmeStatus,
    /// CQE DW0 | DW1 << 32.
    pub result: u64,
    /// Data bytes moved.
    pub transferred: u32,
}

impl Completion {
    /// Success with no result and `transferred` bytes.
    pub const fn ok(transferred: u32) -> Self {
        Completion {
            status: NvmeStatus::SUCCESS,
            result: 0,
            transferred,
        }
    }

    /// Success with a result value.
    pub const fn result(result: u64) -> Self {
        Completion {
            status: NvmeStatus::SUCCESS,
            result,
            transferred: 0,
        }
    }

    /// A failure with no data moved.
    pub const fn error(status: NvmeStatus) -> Self {
        Completion {
            status,
            result: 0,
            transferred: 0,
        }
    }
}

/// Per-connection response state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseState {
    sqid: u16,
    /// Entries in the SQ (sqsize + 1).
    sq_entries: u32,
    ersp_ratio: u32,
    responses: u32,
    last_rsn: u32,
    sqhd: u16,
    outstanding: u32,
}

/// Why the response must be an ERSP whatever the ratio says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ForceErsp {
    /// Fabrics command (Connect, Property Get/Set).
    pub fabrics: bool,
    /// Fused command.
    pub fused: bool,
}

impl ResponseState {
    /// State of queue `sqid` with `sqsize` (0's based) and the LS's `ersp_ratio`.
    pub fn new(sqid: u16, sqsize: u16, ersp_ratio: u16) -> Self {
        ResponseState {
            sqid,
            sq_entries: u32::from(sqsize) + 1,
            ersp_ratio: u32::from(ersp_ratio).max(1),
            responses: 0,
            last_rsn: 0,
            sqhd: 0,
            outstanding: 0,
        }
    }

    /// A command was taken off the SQ: advance SQHD.
    #[inline]
    pub fn consume(&mut self) {
        let next = u32::from(self.sqhd) + 1;
        self.sqhd = if next >= self.sq_entries {
            0
        } else {
            next as u16
        };
        self.outstanding += 1;
    }

    /// Current SQ head.
    pub fn sqhd(&self) -> u16 {
        self.sqhd
    }

    /// RSN of the last ERSP sent (0 before the first).
    pub fn last_rsn(&self) -> u32 {
        self.last_rsn
    }

    /// A consumed command left without a response (held, then aborted).
    pub fn forget(&mut self) {
        self.outstanding = self.outstanding.saturating_sub(1);
    }

    /// Chooses and builds the response for command `cid` whose CMD IU announced
    /// `expected` data bytes.
    #[inline]
    pub fn respond(&mut self, cid: u16, expected: u32, c: &Completion, force: ForceErsp) -> Rsp {
        // Occupancy counts this command, which is still on the queue until now.
        let nearly_full = self.outstanding * 10 >= self.sq_entries * 9;
        self.outstanding = self.outstanding.saturating_sub(1);
        self.responses = self.responses.wrapping_add(1);
        let ersp = self.responses % self.ersp_ratio == 0
            || force.fabrics
            || force.fused
            || c.transferred != expected
            || !c.status.is_success()
            || c.result != 0
            || nearly_full;
        if !ersp {
            return Rsp::Zero;
        }
        self.last_rsn = self.last_rsn.wrapping_add(1);
        let cqe = Cqe::new(cid, self.sqid, self.sqhd, c.status, c.result);
        let iu = ErspIu::new(self.last_rsn, c.transferred, cqe);
        let mut bytes = [0u8; ERSP_IU_LEN];
        bytes.copy_from_slice(iu.as_bytes());
        Rsp::Ersp(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(rsp: Rsp) -> ErspIu {
        match rsp {
            Rsp::Ersp(b) => ErspIu::parse(&b).unwrap(),
            Rsp::Zero => panic!("expected an ERSP"),
        }
    }

    #[test]
    fn every_nth_is_an_ersp_and_rsn_counts_erspss_only() {
        let mut r = ResponseState::new(1, 127, 4);
        let ok = Completion::ok(4096);
        let mut kinds = Vec::new();
        for i in 0..9u16 {
            r.consume();
            kinds.push(r.respond(i, 4096, &ok, ForceErsp::default()));
        }
        let ersp_at: Vec<usize> = kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| matches!(k, Rsp::Ersp(_)))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(ersp_at, [3, 7]);
        assert_eq!(parse(kinds[3]).rsn(), 1);
        let e = parse(kinds[7]);
        assert_eq!(e.rsn(), 2);
        assert_eq!(e.xfrd_len(), 4096);
        assert_eq!(e.cqe.cid(), 7);
        assert_eq!(e.cqe.sqid.get(), 1);
        assert_eq!(e.cqe.sqhd.get(), 8);
    }

    #[test]
    fn forced_erspss() {
        let mut r = ResponseState::new(0, 31, 8);
        let cases = [
            (Completion::ok(100), 200, ForceErsp::default()),
            (
                Completion::error(NvmeStatus::INVALID_FIELD.with_dnr()),
                0,
                ForceErsp::default(),
            ),
            (Completion::result(0x1234), 0, ForceErsp::default()),
            (
                Completion::ok(0),
                0,
                ForceErsp {
                    fabrics: true,
                    fused: false,
                },
            ),
        ];
        for (i, (c, expected, force)) in cases.iter().enumerate() {
            r.consume();
            let e = parse(r.respond(i as u16, *expected, c, *force));
            assert_eq!(e.rsn(), i as u32 + 1);
            assert_eq!(e.cqe.nvme_status(), c.status);
            assert_eq!(e.cqe.result(), c.result);
        }
        r.consume();
        assert_eq!(
            r.respond(9, 0, &Completion::ok(0), ForceErsp::default()),
            Rsp::Zero
        );
    }

    #[test]
    fn sqhd_wraps_and_full_queue_forces_ersp() {
        let mut r = ResponseState::new(2, 3, 100);
        for _ in 0..4 {
            r.consume();
        }
        assert_eq!(r.sqhd(), 0);
        // Four outstanding on a four-entry SQ: at least 90 % full.
        assert!(matches!(
            r.respond(0, 0, &Completion::ok(0), ForceErsp::default()),
            Rsp::Ersp(_)
        ));
        assert_eq!(
            r.respond(1, 0, &Completion::ok(0), ForceErsp::default()),
            Rsp::Zero
        );
    }
}
