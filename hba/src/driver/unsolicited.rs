//! Unsolicited ELS requests from the RQ (sli4.md §6.1 "RSCN", "Incoming
//! LOGO / PLOGI / PRLI"): each is answered with XMIT_ELS_RSP64 on the
//! exchange it came on (its OX_ID), then acted on.

use super::error::HbaError;
use super::port::RxFrame;
use super::Hba;
use crate::fc::els::{els_cmd, ls_acc};
use crate::fc::header::{fc_type, r_ctl};
use crate::fc::login::LoginPayload;
use crate::fc::ls_rjt::{explanation, reason, LsRjt};
use crate::fc::prli::{nvme_sp, response_code, NvmePrli};
use crate::fc::rscn::Rscn;
use crate::sli4::wqe::Context;

impl Hba {
    /// Handles the frames the RQ delivered; returns how many.
    pub(crate) fn handle_frames(&mut self) -> Result<usize, HbaError> {
        let mut n = 0;
        while let Some(f) = self.port.as_mut().and_then(|p| p.frames.pop_front()) {
            n += 1;
            self.stats.unsolicited += 1;
            if f.header.r_ctl == r_ctl::ELS_REQ && f.header.fc_type == fc_type::ELS {
                self.on_els(f)?;
            } else if f.header.r_ctl == r_ctl::FC4_LS_REQ && f.header.fc_type == fc_type::NVME {
                self.on_nvme_ls(f);
            } else if f.header.r_ctl == r_ctl::BLS_ABTS && f.header.fc_type == fc_type::BLS {
                self.on_abts(&f)?;
            } else {
                log::info!(
                    "{}: unsolicited frame R_CTL {:#04x} TYPE {:#04x} from {:#08x} dropped (not handled yet)",
                    self.name,
                    f.header.r_ctl,
                    f.header.fc_type,
                    f.header.s_id()
                );
            }
        }
        Ok(n)
    }

    /// Context and temporary RPI for a reply to `s_id`: its RPI if logged
    /// in, else the VPI with the fabric-controller RPI as temporary.
    fn reply_context(&self, s_id: u32) -> Option<(Context, u16)> {
        let port = self.port.as_ref()?;
        if let Some(n) = self.nodes.get(&s_id) {
            return Some((Context::rpi(n.rpi), n.rpi));
        }
        let temp = self.fabric.map_or(port.res.rpi_base, |f| f.fc_rpi);
        Some((Context::vpi(port.res.vpi), temp))
    }

    fn reply(&mut self, f: &RxFrame, payload: &[u8]) -> Result<(), HbaError> {
        let s_id = f.header.s_id();
        let Some((ctx, temp)) = self.reply_context(s_id) else {
            return Ok(());
        };
        let Some(port) = self.port.as_mut() else {
            return Ok(());
        };
        port.els_response(s_id, f.header.ox_id.get(), ctx, temp, payload)
    }

    fn on_els(&mut self, f: RxFrame) -> Result<(), HbaError> {
        let s_id = f.header.s_id();
        let cmd = f.payload.first().copied().unwrap_or(0);
        let logged_in = self.fabric.is_some();
        match cmd {
            els_cmd::RSCN if logged_in => {
                self.stats.rscns += 1;
                let pages = Rscn::parse(&f.payload).map(|r| r.len()).unwrap_or(0);
                log::info!("{}: RSCN from {s_id:#08x} with {pages} page(s)", self.name);
                self.reply(&f, &ls_acc())?;
                self.rescan = true;
            }
            els_cmd::LOGO if logged_in => {
                self.reply(&f, &ls_acc())?;
                log::info!("{}: LOGO from {s_id:#08x}", self.name);
                self.drop_node(s_id, false)?;
                // A port still in the name server gets a new PLOGI on the
                // next discovery pass, after login_retry (a port that left
                // is no longer listed).
                let at = self.cfg.clock.now().saturating_add(self.cfg.login_retry);
                self.rescan_at = Some(self.rescan_at.map_or(at, |t| t.min(at)));
            }
            els_cmd::PLOGI if logged_in => self.on_plogi(&f)?,
            els_cmd::PRLI if logged_in && self.nodes.contains_key(&s_id) => {
                // We offer the initiator function only.
                let acc = NvmePrli::accept(response_code::EXECUTED, nvme_sp::INITIATOR, 0);
                self.reply(&f, acc.as_bytes())?;
            }
            _ => {
                let rjt = if logged_in {
                    LsRjt::new(reason::CMD_NOT_SUPPORTED, explanation::NONE)
                } else {
                    LsRjt::new(reason::UNABLE_TO_PERFORM, explanation::PLOGI_REQUIRED)
                };
                self.reply(&f, rjt.as_bytes())?;
            }
        }
        Ok(())
    }

    /// A PLOGI from a remote port: a login replaces any earlier one. We
    /// accept with our parameters, register the RPI and, as the initiator,
    /// send the PRLI ourselves.
    fn on_plogi(&mut self, f: &RxFrame) -> Result<(), HbaError> {
        let s_id = f.header.s_id();
        let Ok(req) = LoginPayload::parse(&f.payload) else {
            let rjt = LsRjt::new(reason::PROTOCOL_ERROR, explanation::NONE);
            return self.reply(f, rjt.as_bytes());
        };
        self.drop_node(s_id, false)?;
        let Some(sp) = self.our_sparams() else {
            return Ok(());
        };
        let Some(port) = self.port.as_mut() else {
            return Ok(());
        };
        let Some(rpi) = port.res.alloc_rpi() else {
            let rjt = LsRjt::new(
                reason::UNABLE_TO_PERFORM,
                explanation::INSUFFICIENT_RESOURCES,
            );
            return self.reply(f, rjt.as_bytes());
        };
        let vpi = port.res.vpi;
        let acc = LoginPayload::new(els_cmd::LS_ACC, sp);
        port.els_response(
            s_id,
            f.header.ox_id.get(),
            Context::vpi(vpi),
            rpi,
            acc.as_bytes(),
        )?;
        log::info!("{}: PLOGI from {s_id:#08x} accepted", self.name);
        match self.complete_login(s_id, rpi, &req.sp) {
            Ok(()) => {
                self.stats.target_logins += 1;
                Ok(())
            }
            Err(
                e @ (HbaError::LoginRejected { .. }
                | HbaError::ExchangeFailed { .. }
                | HbaError::ExchangeTimeout { .. }
                | HbaError::BadResponse { .. }
                | HbaError::Mailbox { .. }),
            ) => {
                self.stats.target_login_failures += 1;
                self.note(&e);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
