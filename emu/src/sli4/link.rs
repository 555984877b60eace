//! The FC link (sli4.md §3.4 INIT_LINK/READ_TOPOLOGY, §4.6, §7.2): the port
//! attaches to its F_Port on INIT_LINK and leaves on DOWN_LINK; the F_Port's
//! link events become FC link-attention ACQEs (attention type, topology
//! point-to-point/fabric, speed, event tag); READ_TOPOLOGY reports the state
//! of the last event. On link down every exchange in flight completes with
//! local reject 0x1A "link down" (the status a real port uses was not found,
//! §7.2), and with INIT_LINK's UNREG_LOGIN_ALL bit every RPI is unregistered.

use zerocopy::IntoBytes;

use ufc_hba::sli4::cmds::link::InitLink;
use ufc_hba::sli4::cmds::read_topology::{speed, topology, ReadTopology};
use ufc_hba::sli4::cqe::{acqe_code, link_attention, link_speed, link_topology, FcLinkAttention};
use ufc_hba::sli4::mbox::{mbx_status, Mqe};

use super::mailbox::Completion;
use super::{bump, Sli4Model};
use crate::fabric::PortEvent;

/// The link as the port last reported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Link {
    /// Speed in Gb/s while up.
    pub(crate) up: Option<u32>,
    /// Tag of the last link attention.
    pub(crate) event_tag: u32,
    /// INIT_LINK asked to unregister every login on link down.
    pub(crate) unreg_all_on_down: bool,
}

/// ACQE speed code for `gbps`.
fn acqe_speed(gbps: u32) -> u8 {
    match gbps {
        1 => link_speed::G1,
        2 => link_speed::G2,
        4 => link_speed::G4,
        8 => link_speed::G8,
        10 => link_speed::G10,
        16 => link_speed::G16,
        32 => link_speed::G32,
        64 => link_speed::G64,
        128 => link_speed::G128,
        256 => link_speed::G256,
        _ => 0,
    }
}

/// READ_TOPOLOGY speed code for `gbps`.
fn topology_speed(gbps: u32) -> u32 {
    match gbps {
        1 => speed::G1,
        2 => speed::G2,
        4 => speed::G4,
        8 => speed::G8,
        10 => speed::G10,
        16 => speed::G16,
        32 => speed::G32,
        64 => speed::G64,
        128 => speed::G128,
        256 => speed::G256,
        _ => 0,
    }
}

impl Sli4Model {
    /// INIT_LINK: attach to the F_Port; the link-up ACQE follows when the
    /// fabric reports the link. Any topology is accepted and comes up
    /// point-to-point (G6/G7 run P2P on a fabric; LPFC forces it, §3.4).
    pub(crate) fn init_link(&mut self, mqe: &mut Mqe) -> Completion {
        let c = InitLink::from_mqe(mqe);
        self.func.link.unreg_all_on_down = c.unreg_all();
        if self.func.host.is_some() {
            return Completion::OK;
        }
        match self.fabric.attach(self.cfg.addr.wwpn) {
            Ok(h) => {
                self.func.host = Some(h);
                Completion::OK
            }
            Err(e) => {
                log::warn!("sli4 model: INIT_LINK: {e}");
                Completion::status(mbx_status::FAILURE)
            }
        }
    }

    /// DOWN_LINK: leave the F_Port; a link-down ACQE if the link was up.
    pub(crate) fn down_link(&mut self) -> Completion {
        self.func.host = None;
        self.link_down();
        Completion::OK
    }

    /// READ_TOPOLOGY: the state of the last link attention.
    pub(crate) fn read_topology(&mut self, mqe: &mut Mqe) -> Completion {
        let link = self.func.link;
        let mut c = ReadTopology::new();
        c.event_tag.set(link.event_tag);
        match link.up {
            Some(gbps) => {
                c.set_attention_type(link_attention::LINK_UP.into());
                c.set_topology(topology::P2P_OR_FABRIC);
                c.set_link_up(true);
                c.set_link_speed(topology_speed(gbps));
                let credit = u32::from(self.fabric.config().bb_credit.min(255));
                c.set_max_bb_credit(credit);
                c.set_init_bb_credit(credit);
            }
            None => c.set_attention_type(link_attention::LINK_DOWN.into()),
        }
        let status = mqe.status();
        *mqe = c.to_mqe();
        mqe.set_status(status);
        Completion::OK
    }

    fn post_link_attention(&mut self, attention: u8, gbps: u32) {
        self.func.link.event_tag = self.func.link.event_tag.wrapping_add(1);
        let mut a = FcLinkAttention::new(
            attention,
            link_topology::P2P_OR_FABRIC,
            acqe_speed(gbps),
            self.func.link.event_tag,
            true,
        );
        // Port type FC (bits 7-6 = 1, LPFC), port number 0.
        a.set_port_number(1 << 6);
        a.set_logical_speed(gbps.saturating_mul(100));
        let mut entry = [0u8; 16];
        entry.copy_from_slice(a.as_bytes());
        bump(&self.counters().link_events);
        self.post_acqe(acqe_code::FC_LINK, entry);
    }

    fn link_up(&mut self, gbps: u32) {
        if self.func.link.up.is_some() {
            return;
        }
        self.func.link.up = Some(gbps);
        self.post_link_attention(link_attention::LINK_UP, gbps);
    }

    /// The link went down (fabric event, DOWN_LINK).
    pub(crate) fn link_down(&mut self) {
        let Some(gbps) = self.func.link.up.take() else {
            return;
        };
        self.fail_exchanges_link_down();
        self.fcp_scratch.forget();
        self.func.rx.clear();
        if self.func.link.unreg_all_on_down {
            self.func.res.rpis.clear();
        }
        self.post_link_attention(link_attention::LINK_DOWN, gbps);
    }

    /// Takes the F_Port's events: link changes and frames. True if any.
    pub(crate) fn poll_fabric(&mut self) -> bool {
        let mut worked = false;
        loop {
            let Some(ev) = self.func.host.as_ref().and_then(|h| h.poll()) else {
                return worked;
            };
            worked = true;
            match ev {
                PortEvent::LinkUp { speed_gbps } => self.link_up(speed_gbps),
                PortEvent::LinkDown => self.link_down(),
                PortEvent::Frame(f) => self.receive_frame(f),
            }
        }
    }
}
