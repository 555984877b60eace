//! NVMe LS requests over GEN_REQUEST64 (sli4.md §5.4: R_CTL 0x32, TYPE 0x28,
//! the target's RPI), queued by [`super::HbaLldd`] and sent from the poll; and
//! LSs a target sends (Disconnect Association): handed to the transport as
//! [`ufc_transport::lldd::LsEvent::Received`], answered with XMIT_SEQUENCE64
//! (§5.5, R_CTL 0x33) on the exchange they came on.

use std::sync::Arc;

use super::error::HbaError;
use super::port::RxFrame;
use super::{els, Hba};
use crate::fc::header::{fc_type, r_ctl};

/// The exchange handle the transport gets for a received LS: the sender's
/// N_Port ID in bits 23-0, its OX_ID in 39-24 and its RPI in 55-40, all the
/// answer needs (the node is checked again when it is sent).
pub(crate) fn ls_xchg(s_id: u32, ox_id: u16, rpi: u16) -> u64 {
    u64::from(s_id & 0x00FF_FFFF) | u64::from(ox_id) << 24 | u64::from(rpi) << 40
}

/// (N_Port ID, OX_ID, RPI) of an [`ls_xchg`] handle.
pub(crate) fn ls_xchg_parts(x: u64) -> (u32, u16, u16) {
    ((x & 0x00FF_FFFF) as u32, (x >> 24) as u16, (x >> 40) as u16)
}

impl Hba {
    /// Sends the LS requests the transport queued, one at a time, and
    /// reports each end through [`HbaLldd`] (the transport collects them in
    /// its `poll_ls`). A port failure fails the request and the poll.
    pub(crate) fn run_ls(&mut self) -> Result<usize, HbaError> {
        let Some(lldd) = self.reg.as_ref().map(|r| Arc::clone(&r.lldd)) else {
            return Ok(0);
        };
        let mut n = 0;
        while let Some((lport, req)) = lldd.take_ls_request() {
            n += 1;
            match self.send_ls(&req) {
                Ok(result) => lldd.ls_done(lport, req.tag, result),
                Err(e) => {
                    lldd.ls_done(lport, req.tag, Err(ufc_transport::lldd::LsError::Transport));
                    return Err(e);
                }
            }
        }
        Ok(n)
    }

    /// An NVMe LS request from a remote port (R_CTL 0x32, TYPE 0x28): handed
    /// to the transport if the sender is a registered NVMe target; otherwise
    /// dropped and counted (the sender's LS times out and it aborts it).
    pub(crate) fn on_nvme_ls(&mut self, f: RxFrame) {
        let s_id = f.header.s_id();
        let node = self
            .nodes
            .get(&s_id)
            .and_then(|n| n.transport_id.map(|rid| (n.rpi, rid)));
        let lldd = self
            .reg
            .as_ref()
            .and_then(|r| r.lport.map(|lp| (lp, Arc::clone(&r.lldd))));
        let (Some((rpi, rport)), Some((lport, lldd))) = (node, lldd) else {
            self.stats.ls_dropped += 1;
            log::info!(
                "{}: NVMe LS from {s_id:#08x} dropped: not a registered NVMe target",
                self.name
            );
            return;
        };
        // The RQ bounded the payload by its buffer; the transport takes
        // what fits one request buffer, as for the LSs we send.
        if f.payload.is_empty() || f.payload.len() > super::lldd::LS_MAX_REQUEST {
            self.stats.ls_dropped += 1;
            log::warn!(
                "{}: NVMe LS of {} bytes from {s_id:#08x} dropped",
                self.name,
                f.payload.len()
            );
            return;
        }
        self.stats.ls_received += 1;
        let xchg = ls_xchg(s_id, f.header.ox_id.get(), rpi);
        lldd.ls_received(lport, rport, xchg, f.payload);
    }

    /// Sends the answers the transport gave to received LSs. An answer for
    /// a node that left or logged in again since is dropped.
    pub(crate) fn run_ls_responses(&mut self) -> Result<usize, HbaError> {
        let Some(lldd) = self.reg.as_ref().map(|r| Arc::clone(&r.lldd)) else {
            return Ok(0);
        };
        let mut n = 0;
        while let Some((_lport, xchg, payload)) = lldd.take_ls_response() {
            n += 1;
            let (d_id, ox_id, rpi) = ls_xchg_parts(xchg);
            let known = self.nodes.get(&d_id).is_some_and(|n| n.rpi == rpi);
            let Some(port) = self.port.as_mut().filter(|_| known && self.link.up) else {
                log::info!(
                    "{}: LS response to {d_id:#08x} OX_ID {ox_id:#x} dropped: the node is gone",
                    self.name
                );
                continue;
            };
            match port.sequence_response(
                rpi,
                d_id,
                ox_id,
                (r_ctl::FC4_LS_REP, fc_type::NVME),
                &payload,
            ) {
                Ok(()) => self.stats.ls_responses += 1,
                Err(
                    e @ (HbaError::PortError { .. }
                    | HbaError::DeviceGone { .. }
                    | HbaError::MailboxTimeout { .. }),
                ) => return Err(e),
                Err(e) => log::warn!("{e}"),
            }
        }
        Ok(n)
    }

    /// One NVMe LS over GEN_REQUEST64 (§5.4: R_CTL 0x32, TYPE 0x28, the
    /// target's RPI). The outer error is a port failure; the inner one what
    /// the transport is told.
    fn send_ls(
        &mut self,
        req: &ufc_transport::lldd::LsReq,
    ) -> Result<Result<Vec<u8>, ufc_transport::lldd::LsError>, HbaError> {
        use ufc_transport::lldd::LsError;
        // The token is RPI << 32 | N_Port ID (discovery's registration).
        let id = (req.rport.0 & 0x00FF_FFFF) as u32;
        let rpi = (req.rport.0 >> 32) as u16;
        let known = self
            .nodes
            .get(&id)
            .is_some_and(|n| n.rpi == rpi && n.transport_id.is_some());
        let Some(port) = self.port.as_mut().filter(|_| known && self.link.up) else {
            return Ok(Err(LsError::Transport));
        };
        let seq = els::GenSequence {
            r_ctl: r_ctl::FC4_LS_REQ,
            fc_type: fc_type::NVME,
            timeout: req.timeout,
            rsp_max: req.rsp_max,
        };
        match port.gen_request(rpi, id, &req.payload, seq, "NVMe LS") {
            Ok(mut rsp) => {
                rsp.truncate(req.rsp_max);
                Ok(Ok(rsp))
            }
            Err(HbaError::ExchangeTimeout { .. }) => Ok(Err(LsError::Timeout)),
            Err(
                e @ (HbaError::PortError { .. }
                | HbaError::DeviceGone { .. }
                | HbaError::MailboxTimeout { .. }),
            ) => Err(e),
            Err(e) => {
                log::warn!("{e}");
                Ok(Err(LsError::Transport))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_exchange_handle_round_trips() {
        let x = ls_xchg(0x01_0203, 0xBEEF, 0x1234);
        assert_eq!(ls_xchg_parts(x), (0x01_0203, 0xBEEF, 0x1234));
        // Bits above 23 of an N_Port ID are not ours to keep.
        assert_eq!(ls_xchg_parts(ls_xchg(0xFF00_0001, 1, 2)).0, 1);
    }
}
