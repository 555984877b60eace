//! A target N_Port on the fabric: the frame-level face of a
//! [`crate::target::TargetPort`]. It keeps the logins of the hosts (PLOGI, then
//! NVMe PRLI), answers the ELSs (PLOGI, PRLI, LOGO), hands FC-NVMe LS requests to
//! [`TargetPort::handle_ls`], answers ABTS with BA_ACC, and turns the LSs the
//! target originates (Disconnect Association) into frames.
//!
//! A frame from a host without a PLOGI is discarded and answered with LOGO
//! (FC-LS: "N_Port login required"); an LS without an NVMe PRLI is discarded.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ufc_hba::fc::els::els_cmd;
use ufc_hba::fc::frame::Frame;
use ufc_hba::fc::header::{f_ctl, fc_type, r_ctl, FcHeader};
use ufc_hba::fc::nameserver::fc4_features;
use ufc_transport::wwn::FcAddr;

use crate::fabric::config::TargetPortConfig;
use crate::fabric::switch::SwitchState;
use crate::fabric::wire::{self, PrliReq, Rjt};
use crate::target::TargetPort;

/// What a host has done with this target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Login {
    /// Names from the host's PLOGI.
    pub(crate) addr: FcAddr,
    /// NVMe PRLI accepted.
    pub(crate) prli: bool,
}

/// An exchange the target originated, awaiting the host's reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    /// An FC-NVMe LS; the target model's exchange number.
    Ls { xchg: u64 },
    /// A LOGO.
    Logo,
    /// A PLOGI: an ACC logs the host in.
    Plogi,
}

/// The target N_Port's fabric-side state.
#[derive(Debug)]
pub(crate) struct TargetNode {
    port: Arc<TargetPort>,
    pub(crate) fc4_types: Vec<u8>,
    discovery: bool,
    pub(crate) reject_plogi: bool,
    pub(crate) reject_prli: bool,
    pub(crate) reject_next_plogi: u32,
    pub(crate) reject_next_prli: u32,
    pub(crate) logins: BTreeMap<u32, Login>,
    pending: BTreeMap<u16, Pending>,
    next_xid: u16,
}

impl TargetNode {
    pub(crate) fn new(port: Arc<TargetPort>, cfg: &TargetPortConfig) -> Self {
        TargetNode {
            port,
            fc4_types: cfg.fc4_types.clone(),
            discovery: cfg.discovery,
            reject_plogi: cfg.reject_plogi,
            reject_prli: cfg.reject_prli,
            reject_next_plogi: 0,
            reject_next_prli: 0,
            logins: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_xid: 0,
        }
    }

    pub(crate) fn port(&self) -> &Arc<TargetPort> {
        &self.port
    }

    /// RFF_ID feature bits the fabric registers for the port's NVMe type.
    pub(crate) fn nvme_features(&self) -> u8 {
        fc4_features::TARGET
            | if self.discovery {
                fc4_features::NVME_DISCOVERY
            } else {
                0
            }
    }

    pub(crate) fn prli_done(&self, host_id: u32) -> bool {
        self.logins.get(&host_id).is_some_and(|l| l.prli)
    }

    fn alloc_xid(&mut self) -> u16 {
        self.next_xid = self.next_xid.wrapping_add(1);
        if self.next_xid == 0xffff {
            self.next_xid = 1;
        }
        self.next_xid
    }

    /// The host at `host_id` is gone (LOGO, link down, re-login): its login ends
    /// and so do its associations, without Disconnect LSs (nobody to send them to).
    pub(crate) fn host_gone(&mut self, host_id: u32) {
        if let Some(login) = self.logins.remove(&host_id) {
            self.end_associations(login.addr);
        }
    }

    /// The target left the fabric: every login ends.
    pub(crate) fn all_gone(&mut self) {
        let hosts: Vec<FcAddr> = self.logins.values().map(|l| l.addr).collect();
        self.logins.clear();
        self.pending.clear();
        for h in hosts {
            self.end_associations(h);
        }
    }

    fn end_associations(&self, host: FcAddr) {
        for a in self.port.associations() {
            if a.params().host == host {
                self.port.disconnect_association(a.id());
            }
        }
        // disconnect_association queued a Disconnect LS per association; the host
        // has no login to receive it on.
        while self.port.take_outgoing_ls(host).is_some() {}
    }

    /// Runs the target's keep-alive timers and turns the LSs it wants to send to
    /// logged-in hosts into frames from `my_id`.
    pub(crate) fn collect_outgoing(&mut self, my_id: u32, out: &mut Vec<Frame>) {
        self.port.poll();
        let hosts: Vec<(u32, FcAddr)> = self
            .logins
            .iter()
            .filter(|(_, l)| l.prli)
            .map(|(id, l)| (*id, l.addr))
            .collect();
        for (host_id, addr) in hosts {
            while let Some((xchg, payload)) = self.port.take_outgoing_ls(addr) {
                let ox_id = self.alloc_xid();
                self.pending.insert(ox_id, Pending::Ls { xchg });
                out.push(Frame::new(
                    FcHeader::request(r_ctl::FC4_LS_REQ, fc_type::NVME, host_id, my_id, ox_id),
                    payload,
                ));
            }
        }
    }

    /// A target-originated LOGO to `host_id`.
    pub(crate) fn logo_request(&mut self, me: (u32, FcAddr), host_id: u32) -> Frame {
        self.els_request(me.0, host_id, Pending::Logo, wire::logo(me.0, me.1.wwpn))
    }

    /// A target-originated PLOGI to `host_id`.
    pub(crate) fn plogi_request(&mut self, me: (u32, FcAddr), host_id: u32) -> Frame {
        self.els_request(me.0, host_id, Pending::Plogi, wire::n_port_plogi(me.1))
    }

    fn els_request(&mut self, my_id: u32, host_id: u32, kind: Pending, payload: Vec<u8>) -> Frame {
        let ox_id = self.alloc_xid();
        self.pending.insert(ox_id, kind);
        Frame::new(
            FcHeader::request(r_ctl::ELS_REQ, fc_type::ELS, host_id, my_id, ox_id),
            payload,
        )
    }
}

fn reply(req: &Frame, r_ctl: u8, rx_id: u16, payload: Vec<u8>) -> Frame {
    Frame::new(FcHeader::reply_to(&req.header, r_ctl, rx_id), payload)
}

/// Handles `frame` from a host, addressed to the target on F_Port `j`.
pub(crate) fn receive(st: &mut SwitchState, now: Duration, j: usize, frame: Frame) {
    let my_id = st.ports[j].id;
    let my_addr = st.ports[j].addr;
    let host_id = frame.header.s_id();
    let rx_id = st.alloc_xid();
    let Some(t) = st.target_mut(j) else {
        return;
    };
    let logged_in = t.logins.contains_key(&host_id);
    let rsp = match (frame.header.r_ctl, frame.header.fc_type) {
        (r_ctl::ELS_REQ, fc_type::ELS) => match wire::els_command(&frame) {
            Some(els_cmd::PLOGI) => Some(plogi(t, &frame, my_addr)),
            Some(els_cmd::PRLI) if logged_in => Some(prli(t, &frame)),
            Some(els_cmd::PRLI) => Some(wire::ls_rjt(Rjt::PLOGI_REQUIRED)),
            // LOGO is accepted whether or not there was a login (FC-LS).
            Some(els_cmd::LOGO) => {
                t.host_gone(host_id);
                Some(wire::els_acc())
            }
            _ if !logged_in => None,
            _ => Some(wire::ls_rjt(Rjt::NOT_SUPPORTED)),
        }
        .map(|p| reply(&frame, r_ctl::ELS_REP, rx_id, p)),
        (r_ctl::ELS_REP, fc_type::ELS) => {
            let acc = wire::els_command(&frame) == Some(els_cmd::LS_ACC);
            match t.pending.remove(&frame.header.ox_id.get()) {
                Some(Pending::Plogi) if acc => {
                    if let Some(addr) = wire::plogi_names(&frame.payload) {
                        t.host_gone(host_id);
                        t.logins.insert(host_id, Login { addr, prli: false });
                    }
                    st.stats.acc_received += 1;
                }
                Some(Pending::Logo | Pending::Plogi) if acc => st.stats.acc_received += 1,
                Some(Pending::Logo | Pending::Plogi) => st.stats.rjt_received += 1,
                _ => st.stats.dropped_unsupported += 1,
            }
            return;
        }
        (r_ctl::FC4_LS_REQ, fc_type::NVME) if t.prli_done(host_id) => {
            let host = t.logins.get(&host_id).map(|l| l.addr).unwrap_or_default();
            let rsp = t.port.handle_ls(host, &frame.payload);
            Some(reply(&frame, r_ctl::FC4_LS_REP, rx_id, rsp))
        }
        (r_ctl::FC4_LS_REP, fc_type::NVME) if logged_in => {
            match t.pending.remove(&frame.header.ox_id.get()) {
                Some(Pending::Ls { xchg }) => {
                    t.port.handle_ls_rsp(xchg, &frame.payload);
                    st.stats.acc_received += 1;
                }
                _ => st.stats.dropped_unsupported += 1,
            }
            return;
        }
        (r_ctl::BLS_ABTS, fc_type::BLS) if logged_in => {
            // LSs are answered as they arrive, so nothing is left to abort here;
            // the exchange is simply accepted as aborted.
            t.pending.remove(&frame.header.ox_id.get());
            let mut h =
                FcHeader::reply_to(&frame.header, r_ctl::BLS_BA_ACC, frame.header.rx_id.get());
            // The ABTS ends the exchange: no sequence initiative to hand back.
            h.set_f_ctl(f_ctl::EXCH_RESPONDER | f_ctl::LAST_SEQ | f_ctl::END_SEQ);
            Some(Frame::new(
                h,
                wire::ba_acc(frame.header.ox_id.get(), frame.header.rx_id.get()),
            ))
        }
        _ if logged_in => {
            st.stats.dropped_unsupported += 1;
            return;
        }
        _ => None,
    };
    match rsp {
        Some(f) => st.deliver(now, f),
        None => {
            // No login: discard and tell the sender to log in (FC-LS).
            st.stats.dropped_not_logged_in += 1;
            let Some(t) = st.target_mut(j) else {
                return;
            };
            let logo = t.logo_request((my_id, my_addr), host_id);
            st.deliver(now, logo);
        }
    }
}

fn plogi(t: &mut TargetNode, frame: &Frame, me: FcAddr) -> Vec<u8> {
    let host_id = frame.header.s_id();
    let Some(host) = wire::plogi_names(&frame.payload) else {
        return wire::ls_rjt(Rjt::BAD_PAYLOAD);
    };
    if t.reject_plogi || t.reject_next_plogi > 0 {
        t.reject_next_plogi = t.reject_next_plogi.saturating_sub(1);
        return wire::ls_rjt(Rjt::UNABLE);
    }
    // A new PLOGI replaces the old login and everything built on it.
    t.host_gone(host_id);
    t.logins.insert(
        host_id,
        Login {
            addr: host,
            prli: false,
        },
    );
    wire::n_port_plogi_acc(me)
}

fn prli(t: &mut TargetNode, frame: &Frame) -> Vec<u8> {
    let host_id = frame.header.s_id();
    match wire::nvme_prli_request(&frame.payload) {
        Some(PrliReq::Nvme) => {}
        // An NVMe-only target has no process for other FC-4 types.
        Some(PrliReq::OtherType) => return wire::ls_rjt(Rjt::NOT_SUPPORTED),
        None => return wire::ls_rjt(Rjt::BAD_PAYLOAD),
    }
    if t.reject_prli || t.reject_next_prli > 0 {
        t.reject_next_prli = t.reject_next_prli.saturating_sub(1);
        return wire::ls_rjt(Rjt::UNABLE);
    }
    if let Some(l) = t.logins.get_mut(&host_id) {
        l.prli = true;
    }
    wire::nvme_prli_acc(t.discovery)
}
