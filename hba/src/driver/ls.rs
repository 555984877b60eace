//! NVMe LS requests over GEN_REQUEST64 (sli4.md §5.4: R_CTL 0x32, TYPE 0x28,
//! the target's RPI), queued by [`super::HbaLldd`] and sent from the poll.

use std::sync::Arc;

use super::error::HbaError;
use super::{els, Hba};

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

    /// One NVMe LS over GEN_REQUEST64 (§5.4: R_CTL 0x32, TYPE 0x28, the
    /// target's RPI). The outer error is a port failure; the inner one what
    /// the transport is told.
    fn send_ls(
        &mut self,
        req: &ufc_transport::lldd::LsReq,
    ) -> Result<Result<Vec<u8>, ufc_transport::lldd::LsError>, HbaError> {
        use crate::fc::header::{fc_type, r_ctl};
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
