//! Fault injection: what a test (or the SLI-4 model's own fault knobs) can do to
//! the fabric. Every fault acts at once, on the caller's thread, and its effects
//! (link events, RSCNs, LOGOs) are queued for the host ports like any frame.

use ufc_hba::fc::frame::Frame;
use ufc_transport::wwn::{FcAddr, Wwn};

use crate::fabric::event::PortEvent;
use crate::fabric::services;
use crate::fabric::switch::{Fabric, FrameDirection};
use crate::fabric::target_node::TargetNode;
use crate::fabric::FabricError;

impl Fabric {
    /// Takes the link of host port `wwpn` down: the attached port sees
    /// [`PortEvent::LinkDown`], every login it had (fabric, name server, SCR,
    /// targets and their associations) vanishes, registered ports get an RSCN,
    /// frames it still sends are refused and frames queued for it are lost. The
    /// link stays down, across detach/attach, until [`Fabric::link_up`].
    pub fn link_down(&self, wwpn: Wwn) -> Result<(), FabricError> {
        let now = self.clock().now();
        let mut st = self.state();
        let i = self
            .host_index(&st, wwpn)
            .ok_or(FabricError::NoSuchPort { kind: "host", wwpn })?;
        st.implicit_logout(now, i);
        if let Some(h) = st.host_mut(i) {
            h.forced_down = true;
            if h.link_up {
                h.link_up = false;
                h.rx.clear();
                h.rx.push_back((now, PortEvent::LinkDown));
            }
        }
        Ok(())
    }

    /// Ends a [`Fabric::link_down`]: an attached port sees
    /// [`PortEvent::LinkUp`] and must log in again from FLOGI.
    pub fn link_up(&self, wwpn: Wwn) -> Result<(), FabricError> {
        let now = self.clock().now();
        let speed = self.config().link_speed_gbps;
        let mut st = self.state();
        let i = self
            .host_index(&st, wwpn)
            .ok_or(FabricError::NoSuchPort { kind: "host", wwpn })?;
        if let Some(h) = st.host_mut(i) {
            h.forced_down = false;
            if h.attached && !h.link_up {
                h.link_up = true;
                h.rx.push_back((now, PortEvent::LinkUp { speed_gbps: speed }));
            }
        }
        Ok(())
    }

    /// Target port `wwpn` leaves the fabric (cable pull): its logins and
    /// associations end, the name server forgets it, registered ports get an
    /// RSCN, frames to it are dropped and [`Fabric::target_for`] no longer finds
    /// it. No-op when it is already gone.
    pub fn target_leave(&self, wwpn: Wwn) -> Result<(), FabricError> {
        let now = self.clock().now();
        let mut st = self.state();
        let j = self
            .target_index(&st, wwpn)
            .ok_or(FabricError::NoSuchPort {
                kind: "target",
                wwpn,
            })?;
        services::target_offline(&mut st, now, j);
        Ok(())
    }

    /// Target port `wwpn` comes back under the same N_Port ID and registers with
    /// the name server again; registered ports get an RSCN. Hosts must PLOGI and
    /// PRLI again. No-op when it is on the fabric.
    pub fn target_return(&self, wwpn: Wwn) -> Result<(), FabricError> {
        let now = self.clock().now();
        let mut st = self.state();
        let j = self
            .target_index(&st, wwpn)
            .ok_or(FabricError::NoSuchPort {
                kind: "target",
                wwpn,
            })?;
        services::target_online(&mut st, now, j);
        Ok(())
    }

    /// Target port `wwpn` answers the next `n` PLOGIs with LS_RJT (unable to
    /// perform command request).
    pub fn reject_next_plogi(&self, wwpn: Wwn, n: u32) -> Result<(), FabricError> {
        self.with_target(wwpn, |t| t.reject_next_plogi = n)
    }

    /// Target port `wwpn` answers the next `n` NVMe PRLIs with LS_RJT.
    pub fn reject_next_prli(&self, wwpn: Wwn, n: u32) -> Result<(), FabricError> {
        self.with_target(wwpn, |t| t.reject_next_prli = n)
    }

    /// Target port `wwpn` answers every PLOGI (`true`) with LS_RJT, or none.
    pub fn set_reject_plogi(&self, wwpn: Wwn, reject: bool) -> Result<(), FabricError> {
        self.with_target(wwpn, |t| t.reject_plogi = reject)
    }

    /// Target port `wwpn` answers every NVMe PRLI (`true`) with LS_RJT, or none.
    pub fn set_reject_prli(&self, wwpn: Wwn, reject: bool) -> Result<(), FabricError> {
        self.with_target(wwpn, |t| t.reject_prli = reject)
    }

    /// Target port `target` logs out host port `host` (an unsolicited LOGO from
    /// the target): the login and its associations end on the target side and
    /// the host receives the LOGO. False when they were not logged in.
    pub fn target_logo(&self, target: Wwn, host: Wwn) -> Result<bool, FabricError> {
        self.target_to_host(target, host, true, |t, me, host_id| {
            t.host_gone(host_id);
            t.logo_request(me, host_id)
        })
    }

    /// Target port `target` sends a PLOGI to host port `host` (as targets do to
    /// initiators they learn of); the host's ACC logs it in with the target (no
    /// PRLI yet). False when either is off the fabric.
    pub fn target_plogi(&self, target: Wwn, host: Wwn) -> Result<bool, FabricError> {
        self.target_to_host(target, host, false, |t, me, host_id| {
            t.plogi_request(me, host_id)
        })
    }

    fn target_to_host(
        &self,
        target: Wwn,
        host: Wwn,
        need_login: bool,
        make: impl FnOnce(&mut TargetNode, (u32, FcAddr), u32) -> Frame,
    ) -> Result<bool, FabricError> {
        let now = self.clock().now();
        let mut st = self.state();
        let j = self
            .target_index(&st, target)
            .ok_or(FabricError::NoSuchPort {
                kind: "target",
                wwpn: target,
            })?;
        let i = self.host_index(&st, host).ok_or(FabricError::NoSuchPort {
            kind: "host",
            wwpn: host,
        })?;
        let (host_id, me) = (st.ports[i].id, (st.ports[j].id, st.ports[j].addr));
        if !st.ports[i].logged_in || !st.ports[j].logged_in {
            return Ok(false);
        }
        let Some(t) = st.target_mut(j) else {
            return Ok(false);
        };
        if need_login && !t.logins.contains_key(&host_id) {
            return Ok(false);
        }
        let frame = make(t, me, host_id);
        st.deliver(now, frame);
        Ok(true)
    }

    /// The next `n` frames sent by any host port are lost in the fabric (counted
    /// as `dropped_fault`): the sender's exchange times out.
    pub fn drop_next_frames(&self, n: u32) {
        self.state().drop_next = n;
    }

    /// Every frame `rule` returns true for is lost (counted as `dropped_fault`),
    /// in either direction: frames hosts send, and frames queued for hosts
    /// (replies, RSCN, target-initiated requests). The rule runs under the
    /// fabric's lock: it must not call back into the fabric.
    pub fn drop_frames_if(
        &self,
        rule: impl FnMut(FrameDirection, &Frame) -> bool + Send + 'static,
    ) {
        self.state().drop_rule = Some(Box::new(rule));
    }

    /// Removes the [`Fabric::drop_frames_if`] rule.
    pub fn clear_drop_rule(&self) {
        self.state().drop_rule = None;
    }

    /// Frames queued for host ports from now on become visible `delay` later on
    /// the fabric clock (initially the configured `frame_delay`).
    pub fn set_frame_delay(&self, delay: std::time::Duration) {
        self.state().frame_delay = delay;
    }

    fn with_target(&self, wwpn: Wwn, f: impl FnOnce(&mut TargetNode)) -> Result<(), FabricError> {
        let mut st = self.state();
        let j = self
            .target_index(&st, wwpn)
            .ok_or(FabricError::NoSuchPort {
                kind: "target",
                wwpn,
            })?;
        if let Some(t) = st.target_mut(j) {
            f(t);
        }
        Ok(())
    }
}
