//! A host N_Port played by hand-built frames, shared by the fabric tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (house rules)

use std::sync::Arc;

use ufc_emu::clock::{Clock, ManualClock};
use ufc_emu::fabric::{Fabric, FabricConfig, HostPort, PortEvent, NAME_SERVER_DID};
use ufc_hba::fc::els::els_cmd;
use ufc_hba::fc::frame::Frame;
use ufc_hba::fc::header::{fc_type, r_ctl, FcHeader};
use ufc_hba::fc::login::{LoginPayload, ServiceParams};
use ufc_hba::fc::prli::{nvme_sp, NvmePrli};
use ufc_transport::wwn::Wwn;

#[allow(unused_imports)] // not every test file uses both
pub use ufc_emu::fabric::{FABRIC_CTRL_DID, FABRIC_DID};

/// A fabric on a manual clock.
pub fn fabric(cfg: FabricConfig) -> (Arc<Fabric>, ManualClock) {
    let (clock, hand) = Clock::manual();
    (Fabric::new(cfg, clock).unwrap(), hand)
}

/// A host port driven frame by frame.
pub struct Host {
    pub port: HostPort,
    /// N_Port ID from the FLOGI ACC (0 before).
    pub id: u32,
    next_ox: u16,
    /// Frames that were not the reply awaited (RSCN, LOGO, target LSs).
    pub unsolicited: Vec<Frame>,
    /// Link events seen while waiting for replies.
    pub events: Vec<PortEvent>,
}

impl Host {
    /// Attaches to the host F_Port configured as `host_ports[index]` and takes the LinkUp.
    pub fn attach(fabric: &Arc<Fabric>, index: usize) -> Host {
        let wwpn = fabric.config().host_ports[index].addr.wwpn;
        Host::new(fabric.attach(wwpn).unwrap())
    }

    /// Drives an attached port; takes its LinkUp.
    pub fn new(port: HostPort) -> Host {
        assert!(matches!(port.poll(), Some(PortEvent::LinkUp { .. })));
        Host {
            port,
            id: 0,
            next_ox: 0x100,
            unsolicited: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn wwpn(&self) -> Wwn {
        self.port.addr().wwpn
    }

    /// Sends a single-frame request; returns its OX_ID.
    pub fn send(&mut self, rctl: u8, ty: u8, d_id: u32, payload: &[u8]) -> u16 {
        self.next_ox += 1;
        let h = FcHeader::request(rctl, ty, d_id, self.id, self.next_ox);
        self.port
            .send(&Frame::new(h, payload.to_vec()).to_bytes())
            .unwrap();
        self.next_ox
    }

    /// Everything queued for the port now.
    pub fn drain(&mut self) -> Vec<PortEvent> {
        std::iter::from_fn(|| self.port.poll()).collect()
    }

    /// Moves everything queued into `unsolicited`/`events`.
    pub fn collect(&mut self) {
        for ev in self.drain() {
            match ev {
                PortEvent::Frame(f) => self.unsolicited.push(f),
                other => self.events.push(other),
            }
        }
    }

    /// The reply to exchange `ox_id`, if queued now; other frames are kept.
    pub fn reply_to(&mut self, ox_id: u16) -> Option<Frame> {
        self.collect();
        let i = self
            .unsolicited
            .iter()
            .position(|f| f.header.ox_id.get() == ox_id && f.header.is_from_responder())?;
        Some(self.unsolicited.remove(i))
    }

    /// Sends a request and returns its reply (which must be there at once).
    pub fn request(&mut self, rctl: u8, ty: u8, d_id: u32, payload: &[u8]) -> Frame {
        let ox = self.send(rctl, ty, d_id, payload);
        self.reply_to(ox)
            .unwrap_or_else(|| panic!("no reply to exchange {ox:#x} sent to {d_id:06x}"))
    }

    pub fn els(&mut self, d_id: u32, payload: &[u8]) -> Frame {
        self.request(r_ctl::ELS_REQ, fc_type::ELS, d_id, payload)
    }

    pub fn ct(&mut self, payload: &[u8]) -> Frame {
        self.request(r_ctl::UNSOL_CTL, fc_type::CT, NAME_SERVER_DID, payload)
    }

    pub fn login_payload(&self, cmd: u8) -> Vec<u8> {
        let a = self.port.addr();
        let mut sp = ServiceParams::n_port(a.wwpn, a.wwnn);
        if cmd == els_cmd::FLOGI {
            sp.prepare_flogi();
        }
        LoginPayload::new(cmd, sp).as_bytes().to_vec()
    }

    /// FLOGI; takes the N_Port ID from the ACC's D_ID. Returns the ACC.
    pub fn flogi(&mut self) -> Frame {
        self.id = 0;
        let acc = self.els(FABRIC_DID, &self.login_payload(els_cmd::FLOGI));
        assert_eq!(acc.payload[0], els_cmd::LS_ACC, "FLOGI refused: {acc:?}");
        self.id = acc.header.d_id();
        acc
    }

    pub fn plogi(&mut self, d_id: u32) -> Frame {
        let p = self.login_payload(els_cmd::PLOGI);
        self.els(d_id, &p)
    }

    pub fn nvme_prli(&mut self, d_id: u32) -> Frame {
        let p = NvmePrli::request(nvme_sp::INITIATOR | nvme_sp::CONFIRMED_COMPLETION);
        self.els(d_id, p.as_bytes())
    }

    /// Frames in `unsolicited` that are ELS requests with command `cmd`, removed.
    pub fn take_els(&mut self, cmd: u8) -> Vec<Frame> {
        self.collect();
        let (take, keep) = std::mem::take(&mut self.unsolicited)
            .into_iter()
            .partition(|f| f.header.r_ctl == r_ctl::ELS_REQ && f.payload.first() == Some(&cmd));
        self.unsolicited = keep;
        take
    }
}
