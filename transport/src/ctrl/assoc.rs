//! Association build and teardown as resumable step machines (nvme-fc.md §3.2,
//! §3.6). Each management poll advances them as far as completions allow.

use std::sync::Arc;
use std::time::Duration;

use crate::ctrl::admin::{AdminQueue, AdminTag, AQ_DEPTH};
use crate::ctrl::entry::{After, CtrlEntry, Ctx, LinkSlot, Step};
use crate::ctrl::options::ConnectOptions;
use crate::ctrl::state::CtrlState;
use crate::ctrl::NsData;
use crate::lldd::{DmaBuffer, IoDir, Lldd, LlddRport, LocalPortId, LsError, LsReq, Sge};
use crate::port::PortState;
use crate::qpair::iu::{self, Cqe};
use crate::qpair::link::ToQpair;
use crate::wire::registers::{REG_CAP, REG_CC, REG_CSTS};
use crate::wire::{
    cns, encode_create_assoc, encode_create_conn, encode_disconnect_assoc,
    encode_disconnect_assoc_acc, fid, Cap, Cc, ConnectData, CreateAssocAcc, CreateAssocParams,
    CreateConnAcc, Csts, IdentifyController, IdentifyNamespace, NvmeStatus, Sqe,
};
use zerocopy::IntoBytes;

/// Size of the admin data buffer (Identify data; Connect data fits).
const ADMIN_BUF_LEN: usize = 4096;

/// One association: everything that exists only while it does.
pub(crate) struct Assoc<L: Lldd> {
    /// The LLDD instance the association was built on; kept even if the same
    /// WWNs are registered again with a new instance meanwhile.
    pub lldd: Arc<L>,
    pub lport: LocalPortId,
    pub rport_token: LlddRport,
    pub gen: u32,
    pub admin: AdminQueue<L::HwQueue>,
    pub dma: Box<dyn DmaBuffer>,
    pub association_id: u64,
    pub cntlid: u16,
    pub cap: u64,
    /// 0's-based I/O SQ size for this association.
    pub sqsize: u16,
    pub nr_ioqs: u16,
    /// I/O queue being connected (management drives it until LIVE).
    pub building_ioq: Option<(u16, AdminQueue<L::HwQueue>, u64)>,
    /// LS in flight and when to give up on it.
    pub ls_tag: Option<(u64, Duration)>,
    pub ls_result: Option<Result<Vec<u8>, LsError>>,
    /// A received Disconnect Association whose ACC waits for teardown (§3.7).
    pub rcv_disconn: Option<PendingLsRsp<L>>,
    /// Set by error recovery while connecting (`ASSOC_FAILED`).
    pub failed: bool,
    pub ns_list: Vec<u32>,
    pub ns_found: Vec<NsData>,
    pub last_ka: Duration,
}

/// A received LS whose response is deferred. It goes out through the LLDD
/// instance and local port that received the LS, which may differ from the
/// instance the association was built on when the ports were registered
/// again meanwhile.
pub(crate) struct PendingLsRsp<L> {
    pub inst: Arc<L>,
    pub lport: LocalPortId,
    pub xchg: u64,
}

impl<L: Lldd> PendingLsRsp<L> {
    pub fn send(self, payload: &[u8]) {
        self.inst.xmt_ls_rsp(self.lport, self.xchg, payload);
    }
}

/// Where the build is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BuildStep {
    CreateAssoc,
    AdminConnect,
    GetCap,
    /// CC written with EN=0 (`enable` false), then with EN=1 (§5.3).
    SetCc {
        enable: bool,
    },
    WaitRdy {
        deadline: Duration,
    },
    IdentifyCtrl,
    SetQueues,
    CreateConn {
        qid: u16,
    },
    IoConnect {
        qid: u16,
    },
    NsList,
    IdentifyNs {
        idx: usize,
    },
}

/// Why an attempt failed.
#[derive(Debug)]
pub(crate) struct BuildFail {
    pub why: String,
    pub dnr: bool,
}

fn fail(why: impl Into<String>) -> BuildFail {
    BuildFail {
        why: why.into(),
        dnr: false,
    }
}

enum Wait<T> {
    Pending,
    Ready(T),
}

impl<L: Lldd> CtrlEntry<L> {
    /// `nvme_fc_create_association`, step 1: count the attempt, check the port,
    /// mark active, create the admin queue, send Create Association.
    pub(crate) fn start_attempt(&mut self, ctx: &mut Ctx<'_, L>) {
        self.next_attempt = None;
        self.resume_pending = false;
        self.nr_reconnects += 1;
        let now = ctx.now;
        let (online, token) = match ctx.reg.rports.get(&self.rport) {
            Some(r) => (r.state == PortState::Online, r.token),
            None => (false, LlddRport(0)),
        };
        let lldd = ctx
            .reg
            .lports
            .get(&self.lport)
            .filter(|l| l.state == PortState::Online)
            .and_then(|l| l.lldd.clone());
        let (true, Some(lldd)) = (online, lldd) else {
            log::info!(
                "{}: attempt {}: remote port not online",
                self.name(),
                self.nr_reconnects
            );
            self.reconnect_or_delete(ctx, false);
            return;
        };
        if self.act_mark.is_some() {
            // Counted as a failed attempt (§3.2 step 1): the controller goes on
            // reconnecting, or is deleted when its timers say so, which also
            // clears the mark.
            log::error!(
                "{}: attempt {}: association already active (-ENOTUNIQ)",
                self.name(),
                self.nr_reconnects
            );
            self.counters.failed_attempts += 1;
            self.reconnect_or_delete(ctx, false);
            return;
        }
        self.act_mark = ctx.reg.ctrl_active(self.rport);
        self.gen = self.gen.wrapping_add(1);
        let admin_hwq = match lldd.create_queue(self.lport, 0, AQ_DEPTH) {
            Ok(q) => q,
            Err(e) => {
                log::warn!("{}: create_queue(0): {e}", self.name());
                self.deactivate(ctx);
                self.reconnect_or_delete(ctx, false);
                return;
            }
        };
        let dma = match lldd.alloc_dma(self.lport, ADMIN_BUF_LEN) {
            Ok(b) if b.len() >= ADMIN_BUF_LEN => b,
            Ok(_) | Err(_) => {
                log::error!(
                    "{}: no DMA memory for admin data from the LLDD",
                    self.name()
                );
                drop(admin_hwq);
                self.deactivate(ctx);
                self.reconnect_or_delete(ctx, false);
                return;
            }
        };
        let mut assoc = Assoc {
            lldd,
            lport: self.lport,
            rport_token: token,
            gen: self.gen,
            admin: AdminQueue::new(admin_hwq, token, iu::CAT_ADMIN),
            dma,
            association_id: 0,
            cntlid: 0xFFFF,
            cap: 0,
            sqsize: self.opts.queue_size - 1,
            nr_ioqs: 0,
            building_ioq: None,
            ls_tag: None,
            ls_result: None,
            rcv_disconn: None,
            failed: false,
            ns_list: Vec::new(),
            ns_found: Vec::new(),
            last_ka: now,
        };
        let sent = encode_create_assoc(&CreateAssocParams {
            ersp_ratio: AQ_DEPTH / 4,
            sqsize: AQ_DEPTH - 1,
            hostid: self.opts.hostid,
            hostnqn: &self.opts.hostnqn,
            subnqn: &self.opts.subnqn,
        })
        .map_err(|e| fail(format!("Create Association: {e}")))
        .and_then(|rq| send_ls(&mut assoc, ctx, rq));
        self.assoc = Some(Box::new(assoc));
        self.step = Step::Build(BuildStep::CreateAssoc);
        if let Err(f) = sent {
            self.build_failed(ctx, f);
        }
    }

    /// Advances the build; true when something happened.
    pub(crate) fn drive_build(&mut self, ctx: &mut Ctx<'_, L>) -> bool {
        let Step::Build(step) = self.step else {
            return false;
        };
        let Some(assoc) = self.assoc.as_mut() else {
            return false;
        };
        if assoc.failed {
            self.build_failed(ctx, fail("error recovery during connect"));
            return true;
        }
        assoc.admin.poll();
        if let Some((_, q, _)) = assoc.building_ioq.as_mut() {
            q.poll();
        }
        match self.build_step(ctx, step) {
            Ok(Wait::Pending) => false,
            Ok(Wait::Ready(next)) => {
                self.step = next;
                true
            }
            Err(f) => {
                self.build_failed(ctx, f);
                true
            }
        }
    }

    fn build_step(
        &mut self,
        ctx: &mut Ctx<'_, L>,
        step: BuildStep,
    ) -> Result<Wait<Step>, BuildFail> {
        let now = ctx.now;
        let admin_timeout = ctx.cfg.admin_timeout;
        let kato_ms = u32::try_from(self.opts.kato.as_millis()).unwrap_or(u32::MAX);
        let name = &self.shared.name;
        let links = &mut self.links;
        let Some(a) = self.assoc.as_mut() else {
            return Err(fail("no association"));
        };
        let next = match step {
            BuildStep::CreateAssoc => {
                let Wait::Ready(rsp) = ls_result(a, now)? else {
                    return Ok(Wait::Pending);
                };
                let acc = CreateAssocAcc::parse(&rsp)
                    .map_err(|e| fail(format!("Create Association: {e}")))?;
                a.association_id = acc.association_id;
                a.admin.set_connection_id(acc.connection_id);
                let data = connect_data(&self.opts, 0xFFFF)?;
                a.dma.write(0, data.as_bytes());
                let sge = Sge {
                    iova: a.dma.iova(),
                    len: 1024,
                };
                admin_send(
                    &mut a.admin,
                    Sqe::connect(0, AQ_DEPTH - 1, kato_ms, 0),
                    IoDir::Write,
                    Some(sge),
                    now,
                )?;
                BuildStep::AdminConnect
            }
            BuildStep::AdminConnect => {
                let Wait::Ready(c) =
                    admin_result(&mut a.admin, AdminTag::Build, now, admin_timeout)?
                else {
                    return Ok(Wait::Pending);
                };
                check_status(&c, "admin Connect")?;
                a.cntlid = (c.result & 0xFFFF) as u16;
                if c.result & (3 << 17) != 0 {
                    return Err(BuildFail {
                        why: "controller requires authentication, not supported".into(),
                        dnr: true,
                    });
                }
                admin_send(
                    &mut a.admin,
                    Sqe::property_get(REG_CAP, true),
                    IoDir::None,
                    None,
                    now,
                )?;
                BuildStep::GetCap
            }
            BuildStep::GetCap => {
                let Wait::Ready(c) =
                    admin_result(&mut a.admin, AdminTag::Build, now, admin_timeout)?
                else {
                    return Ok(Wait::Pending);
                };
                check_status(&c, "Property Get CAP")?;
                a.cap = c.result;
                if Cap(a.cap).mpsmin() != 0 {
                    return Err(BuildFail {
                        why: format!(
                            "controller's minimum page size 2^(12+{}) exceeds the host's 4 KiB",
                            Cap(a.cap).mpsmin()
                        ),
                        dnr: true,
                    });
                }
                send_cc(&mut a.admin, false, now)?;
                BuildStep::SetCc { enable: false }
            }
            BuildStep::SetCc { enable } => {
                let Wait::Ready(c) =
                    admin_result(&mut a.admin, AdminTag::Build, now, admin_timeout)?
                else {
                    return Ok(Wait::Pending);
                };
                check_status(&c, "Property Set CC")?;
                if !enable {
                    send_cc(&mut a.admin, true, now)?;
                    return Ok(Wait::Ready(Step::Build(BuildStep::SetCc { enable: true })));
                }
                let to = Duration::from_millis(u64::from(Cap(a.cap).timeout_ms()).max(500));
                admin_send(
                    &mut a.admin,
                    Sqe::property_get(REG_CSTS, false),
                    IoDir::None,
                    None,
                    now,
                )?;
                BuildStep::WaitRdy { deadline: now + to }
            }
            BuildStep::WaitRdy { deadline } => {
                let Wait::Ready(c) =
                    admin_result(&mut a.admin, AdminTag::Build, now, admin_timeout)?
                else {
                    return Ok(Wait::Pending);
                };
                check_status(&c, "Property Get CSTS")?;
                // CSTS is a 32-bit property: the upper result dword is unused.
                let csts = Csts(c.result as u32);
                if csts.cfs() {
                    return Err(fail("CSTS.CFS: controller fatal status"));
                }
                if !csts.rdy() {
                    if now >= deadline {
                        return Err(fail("CSTS.RDY not set within CAP.TO"));
                    }
                    admin_send(
                        &mut a.admin,
                        Sqe::property_get(REG_CSTS, false),
                        IoDir::None,
                        None,
                        now,
                    )?;
                    return Ok(Wait::Ready(Step::Build(BuildStep::WaitRdy { deadline })));
                }
                let sge = Sge {
                    iova: a.dma.iova(),
                    len: 4096,
                };
                admin_send(
                    &mut a.admin,
                    Sqe::identify(cns::CONTROLLER, 0),
                    IoDir::Read,
                    Some(sge),
                    now,
                )?;
                BuildStep::IdentifyCtrl
            }
            BuildStep::IdentifyCtrl => {
                let Wait::Ready(c) =
                    admin_result(&mut a.admin, AdminTag::Build, now, admin_timeout)?
                else {
                    return Ok(Wait::Pending);
                };
                check_status(&c, "Identify Controller")?;
                let mut buf = vec![0u8; 4096];
                a.dma.read(0, &mut buf);
                let id = IdentifyController::parse(&buf)
                    .map_err(|e| fail(format!("Identify Controller: {e}")))?;
                if id.icdoff() != 0 {
                    return Err(BuildFail {
                        why: format!("ICDOFF {} is not supported on FC", id.icdoff()),
                        dnr: true,
                    });
                }
                if !id.sgls_supported() {
                    return Err(BuildFail {
                        why: "controller does not support SGLs".into(),
                        dnr: true,
                    });
                }
                // sqsize = min(queue_size - 1, MQES, MAXCMD - 1).
                let mut sqsize = (self.opts.queue_size - 1).min(Cap(a.cap).mqes());
                let maxcmd = id.maxcmd();
                if maxcmd != 0 && maxcmd < sqsize + 1 {
                    sqsize = maxcmd - 1;
                }
                a.sqsize = sqsize.max(1);
                let want = self.opts.nr_io_queues.min(ctx.limits_max_hw_queues).max(1);
                admin_send(
                    &mut a.admin,
                    Sqe::set_features(fid::NUM_QUEUES, fid::num_queues_cdw11(want)),
                    IoDir::None,
                    None,
                    now,
                )?;
                BuildStep::SetQueues
            }
            BuildStep::SetQueues => {
                let Wait::Ready(c) =
                    admin_result(&mut a.admin, AdminTag::Build, now, admin_timeout)?
                else {
                    return Ok(Wait::Pending);
                };
                check_status(&c, "Set Features Number of Queues")?;
                let want = self.opts.nr_io_queues.min(ctx.limits_max_hw_queues).max(1);
                // Dword 0 only; the counts are 16-bit fields.
                let (nsq, ncq) = fid::num_queues_granted(c.result as u32);
                let got = u16::try_from(nsq.min(ncq)).unwrap_or(u16::MAX).min(want);
                if self.ioq_count != 0 && got < self.ioq_count {
                    log::warn!(
                        "{name}: controller now grants {got} I/O queues, had {}; queues above are held",
                        self.ioq_count
                    );
                }
                a.nr_ioqs = got;
                Self::start_ioq(a, ctx, 1)?;
                BuildStep::CreateConn { qid: 1 }
            }
            BuildStep::CreateConn { qid } => {
                let Wait::Ready(rsp) = ls_result(a, now)? else {
                    return Ok(Wait::Pending);
                };
                let conn_id = CreateConnAcc::parse(&rsp)
                    .map_err(|e| fail(format!("Create I/O Connection {qid}: {e}")))?
                    .connection_id;
                let Some((_, q, cid)) = a.building_ioq.as_mut() else {
                    return Err(fail("I/O queue vanished during build"));
                };
                *cid = conn_id;
                q.set_connection_id(conn_id);
                let data = connect_data(&self.opts, a.cntlid)?;
                a.dma.write(0, data.as_bytes());
                let sge = Sge {
                    iova: a.dma.iova(),
                    len: 1024,
                };
                admin_send(
                    q,
                    Sqe::connect(qid, a.sqsize, 0, 0),
                    IoDir::Write,
                    Some(sge),
                    now,
                )?;
                BuildStep::IoConnect { qid }
            }
            BuildStep::IoConnect { qid } => {
                let Some((_, q, _)) = a.building_ioq.as_mut() else {
                    return Err(fail("I/O queue vanished during build"));
                };
                let Wait::Ready(c) = admin_result(q, AdminTag::Build, now, admin_timeout)? else {
                    return Ok(Wait::Pending);
                };
                check_status(&c, "I/O queue Connect")?;
                if let Some((qid, q, conn_id)) = a.building_ioq.take() {
                    let csn = q.csn();
                    park_ioq(links, qid, q.into_hwq(), conn_id, csn);
                }
                if qid < a.nr_ioqs {
                    Self::start_ioq(a, ctx, qid + 1)?;
                    BuildStep::CreateConn { qid: qid + 1 }
                } else {
                    let sge = Sge {
                        iova: a.dma.iova(),
                        len: 4096,
                    };
                    admin_send(
                        &mut a.admin,
                        Sqe::identify(cns::ACTIVE_NS_LIST, 0),
                        IoDir::Read,
                        Some(sge),
                        now,
                    )?;
                    BuildStep::NsList
                }
            }
            BuildStep::NsList => {
                let Wait::Ready(c) =
                    admin_result(&mut a.admin, AdminTag::Build, now, admin_timeout)?
                else {
                    return Ok(Wait::Pending);
                };
                check_status(&c, "Identify active namespace list")?;
                let mut buf = vec![0u8; 4096];
                a.dma.read(0, &mut buf);
                a.ns_list = parse_ns_list(&buf);
                a.ns_found.clear();
                match Self::identify_ns(a, 0, now)? {
                    Some(s) => s,
                    None => return self.go_live(ctx).map(Wait::Ready),
                }
            }
            BuildStep::IdentifyNs { idx } => {
                let Wait::Ready(c) =
                    admin_result(&mut a.admin, AdminTag::Build, now, admin_timeout)?
                else {
                    return Ok(Wait::Pending);
                };
                check_status(&c, "Identify Namespace")?;
                let mut buf = vec![0u8; 4096];
                a.dma.read(0, &mut buf);
                let nsid = a.ns_list.get(idx).copied().unwrap_or(0);
                match IdentifyNamespace::parse(&buf).map(|n| (n.nsze(), n.lba_size())) {
                    Ok((nsze, Some(lba_size))) if nsze != 0 && lba_size >= 512 => {
                        a.ns_found.push(NsData {
                            nsid,
                            lba_size,
                            num_lbas: nsze,
                        })
                    }
                    _ => log::warn!("{name}: namespace {nsid} inactive or unusable; skipped"),
                }
                match Self::identify_ns(a, idx + 1, now)? {
                    Some(s) => s,
                    None => return self.go_live(ctx).map(Wait::Ready),
                }
            }
        };
        Ok(Wait::Ready(Step::Build(next)))
    }

    fn identify_ns(
        a: &mut Assoc<L>,
        idx: usize,
        now: Duration,
    ) -> Result<Option<BuildStep>, BuildFail> {
        let Some(&nsid) = a.ns_list.get(idx) else {
            return Ok(None);
        };
        let sge = Sge {
            iova: a.dma.iova(),
            len: 4096,
        };
        admin_send(
            &mut a.admin,
            Sqe::identify(cns::NAMESPACE, nsid),
            IoDir::Read,
            Some(sge),
            now,
        )?;
        Ok(Some(BuildStep::IdentifyNs { idx }))
    }

    /// create_queue(qid, sqsize + 1) and Create I/O Connection (§3.2 step 11).
    fn start_ioq(a: &mut Assoc<L>, ctx: &mut Ctx<'_, L>, qid: u16) -> Result<(), BuildFail> {
        let hwq = a
            .lldd
            .create_queue(a.lport, qid, a.sqsize + 1)
            .map_err(|e| fail(format!("create_queue({qid}): {e}")))?;
        a.building_ioq = Some((qid, AdminQueue::new(hwq, a.rport_token, iu::CAT_NVM), 0));
        let ersp_ratio = ((a.sqsize + 1) / 5).max(1);
        let rq = encode_create_conn(a.association_id, ersp_ratio, qid, a.sqsize);
        send_ls(a, ctx, rq)
    }

    /// Step 12: CONNECTING → LIVE.
    /// Refused when error recovery marked the attempt failed meanwhile, or when
    /// the state machine refuses CONNECTING → LIVE (2025 rule, §3.5).
    fn go_live(&mut self, ctx: &mut Ctx<'_, L>) -> Result<Step, BuildFail> {
        let Some(a) = self.assoc.as_mut() else {
            return Err(fail("no association"));
        };
        if a.failed {
            return Err(fail("error recovery during connect"));
        }
        let nr_ioqs = a.nr_ioqs;
        let ns = std::mem::take(&mut a.ns_found);
        a.last_ka = ctx.now;
        if let Err(e) = self.set_state(CtrlState::Live) {
            return Err(fail(e.to_string()));
        }
        self.ioq_count = nr_ioqs;
        // Queue pairs whose queue this association did not grant cannot resume:
        // their held I/O fails with a path error (they stay usable if a later
        // association grants the queue again).
        for slot in &mut self.links {
            if slot.claimed && slot.link.qid > nr_ioqs {
                log::warn!(
                    "{}: I/O queue {} not granted by the controller any more",
                    self.shared.name,
                    slot.link.qid
                );
                slot.send(ToQpair::FailHeld {
                    status: NvmeStatus::HOST_PATH_ERROR,
                });
            }
        }
        *self
            .shared
            .namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = ns;
        log::info!(
            "{}: live after {} attempt(s), {} I/O queue(s)",
            self.name(),
            self.nr_reconnects,
            nr_ioqs
        );
        self.nr_reconnects = 0;
        self.resume_pending = false;
        self.failfast_at = None;
        self.counters.connects += 1;
        self.attach_links();
        Ok(Step::Live)
    }

    /// A failed attempt: unwind through teardown, then reconnect or delete.
    pub(crate) fn build_failed(&mut self, ctx: &mut Ctx<'_, L>, f: BuildFail) {
        log::warn!(
            "{}: association attempt {} failed: {}",
            self.name(),
            self.nr_reconnects,
            f.why
        );
        self.counters.failed_attempts += 1;
        self.start_teardown(ctx, After::Reconnect { dnr: f.dnr });
    }

    /// §3.6 steps 1–4: abort everything of the association, ask the queue pairs
    /// to quiesce, and wait (bounded) in [`Self::drive_teardown`].
    pub(crate) fn start_teardown(&mut self, ctx: &mut Ctx<'_, L>, after: After) {
        if let Step::Teardown { after: a, .. } = &mut self.step {
            if matches!(after, After::Delete) {
                *a = After::Delete;
            }
            return;
        }
        let Some(assoc) = self.assoc.as_mut() else {
            // No association, so no mark may stay behind (-ENOTUNIQ leftovers).
            self.deactivate(ctx);
            self.step = Step::Idle;
            self.after_teardown(ctx, after);
            return;
        };
        assoc.admin.abort_all();
        if let Some((_, q, _)) = assoc.building_ioq.as_mut() {
            q.abort_all();
        }
        if let Some((tag, _)) = assoc.ls_tag.take() {
            assoc.lldd.ls_abort(assoc.lport, tag);
        }
        let gen = assoc.gen;
        let bound = ctx.cfg.teardown_bound;
        for slot in &mut self.links {
            if slot.attached == Some(gen) {
                slot.send(crate::qpair::link::ToQpair::Quiesce {
                    gen,
                    bound: bound / 2,
                });
                slot.quiescing = true;
            }
        }
        self.step = Step::Teardown {
            after,
            deadline: ctx.now + bound,
        };
    }

    /// Waits for aborted exchanges and quiesced queue pairs, then finishes.
    pub(crate) fn drive_teardown(&mut self, ctx: &mut Ctx<'_, L>) -> bool {
        let Step::Teardown { after, deadline } = self.step else {
            return false;
        };
        let Some(assoc) = self.assoc.as_mut() else {
            self.deactivate(ctx);
            self.step = Step::Idle;
            self.after_teardown(ctx, after);
            return true;
        };
        assoc.admin.poll();
        let mut busy = assoc.admin.outstanding();
        if let Some((_, q, _)) = assoc.building_ioq.as_mut() {
            q.poll();
            busy += q.outstanding();
        }
        let waiting_qpairs = self.links.iter().filter(|s| s.quiescing).count();
        if (busy != 0 || waiting_qpairs != 0) && ctx.now < deadline {
            return false;
        }
        if busy != 0 {
            self.counters.stuck_exchanges += busy as u64;
            log::error!(
                "{}: {busy} aborted admin exchange(s) did not complete within the teardown bound; reclaimed",
                self.name()
            );
        }
        for slot in &mut self.links {
            if slot.quiescing {
                slot.quiescing = false;
                slot.attached = None;
                self.counters.quiesce_timeouts += 1;
                log::error!(
                    "{}: qpair {} did not answer Quiesce within the teardown bound; proceeding without it",
                    self.shared.name,
                    slot.link.qid
                );
            }
        }
        self.finish_teardown(ctx, after);
        true
    }

    /// §3.6 steps 7–10.
    fn finish_teardown(&mut self, ctx: &mut Ctx<'_, L>, after: After) {
        if let Some(assoc) = self.assoc.take() {
            let assoc = *assoc;
            let online = ctx
                .reg
                .rports
                .get(&self.rport)
                .is_some_and(|r| r.state == PortState::Online && r.token == assoc.rport_token);
            if assoc.association_id != 0 && online {
                let tag = ctx.new_ls_tag();
                let rq = LsReq {
                    tag,
                    rport: assoc.rport_token,
                    payload: encode_disconnect_assoc(assoc.association_id),
                    rsp_max: 64,
                    timeout: ctx.cfg.ls_timeout,
                };
                // Fire and forget: the result is ignored (§3.6 step 7).
                if let Err(e) = assoc.lldd.ls_req(assoc.lport, rq) {
                    log::info!("{}: Disconnect Association not sent: {e}", self.name());
                }
            }
            if let Some(rsp) = assoc.rcv_disconn {
                rsp.send(&encode_disconnect_assoc_acc());
            }
            if let Some((_, q, _)) = assoc.building_ioq {
                drop(q.into_hwq());
            }
            // delete_queue: I/O queues high → low, then the admin queue.
            for slot in self.links.iter_mut().rev() {
                slot.attached = None;
                drop(slot.parked.take());
            }
            drop(assoc.admin.into_hwq());
            drop(assoc.dma);
            drop(assoc.lldd);
            self.deactivate(ctx);
        }
        self.step = Step::Idle;
        self.after_teardown(ctx, after);
    }

    /// Clears the active mark and decrements the seed counters (§2.4).
    pub(crate) fn deactivate(&mut self, ctx: &mut Ctx<'_, L>) {
        if let Some(mark) = self.act_mark.take() {
            ctx.reg.ctrl_inactive(self.rport, mark, ctx.calls);
        }
    }
}

/// Connect data for this host (the NQN lengths were validated with the options).
fn connect_data(opts: &ConnectOptions, cntlid: u16) -> Result<ConnectData, BuildFail> {
    ConnectData::new(opts.hostid, cntlid, &opts.subnqn, &opts.hostnqn)
        .map_err(|e| fail(format!("Connect data: {e}")))
}

/// An Active Namespace ID list (CNS 2): little-endian ids up to the first zero.
fn parse_ns_list(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .take_while(|&id| id != 0)
        .collect()
}

/// Management keeps an I/O queue after its Connect until LIVE.
fn park_ioq<Q>(links: &mut Vec<LinkSlot<Q>>, qid: u16, hwq: Q, connection_id: u64, csn: u32) {
    while links.len() < usize::from(qid) {
        // links.len() < qid <= u16::MAX.
        let next = links.len() as u16 + 1;
        links.push(LinkSlot::new(next));
    }
    let slot = &mut links[usize::from(qid) - 1];
    slot.parked = Some(hwq);
    slot.connection_id = connection_id;
    slot.csn = csn;
}

fn send_ls<L: Lldd>(
    a: &mut Assoc<L>,
    ctx: &mut Ctx<'_, L>,
    payload: Vec<u8>,
) -> Result<(), BuildFail> {
    let tag = ctx.new_ls_tag();
    a.ls_result = None;
    a.lldd
        .ls_req(
            a.lport,
            LsReq {
                tag,
                rport: a.rport_token,
                payload,
                rsp_max: 256,
                timeout: ctx.cfg.ls_timeout,
            },
        )
        .map_err(|e| fail(format!("ls_req: {e}")))?;
    // The LLDD enforces the LS timeout; ours is a backstop for a lost Done.
    a.ls_tag = Some((tag, ctx.now + ctx.cfg.ls_timeout + ctx.cfg.teardown_bound));
    Ok(())
}

fn ls_result<L: Lldd>(a: &mut Assoc<L>, now: Duration) -> Result<Wait<Vec<u8>>, BuildFail> {
    match a.ls_result.take() {
        Some(Ok(rsp)) => {
            a.ls_tag = None;
            Ok(Wait::Ready(rsp))
        }
        Some(Err(e)) => {
            a.ls_tag = None;
            Err(fail(format!("LS failed: {e}")))
        }
        None => match a.ls_tag {
            Some((tag, deadline)) if now >= deadline => {
                a.lldd.ls_abort(a.lport, tag);
                a.ls_tag = None;
                Err(fail("LS never completed; aborted"))
            }
            _ => Ok(Wait::Pending),
        },
    }
}

fn admin_send<Q: crate::lldd::HwQueue>(
    q: &mut AdminQueue<Q>,
    sqe: Sqe,
    dir: IoDir,
    data: Option<Sge>,
    now: Duration,
) -> Result<(), BuildFail> {
    q.submit(AdminTag::Build, sqe, dir, data, now)
        .map_err(|e| fail(format!("admin submit: {e}")))
}

/// CC as the host writes it: NVM command set, 4 KiB pages, round robin,
/// IOSQES 6, IOCQES 4; EN as given.
fn send_cc<Q: crate::lldd::HwQueue>(
    q: &mut AdminQueue<Q>,
    enable: bool,
    now: Duration,
) -> Result<(), BuildFail> {
    let cc = Cc::host_default(0).with_en(enable);
    admin_send(
        q,
        Sqe::property_set(REG_CC, u64::from(cc.0), false),
        IoDir::None,
        None,
        now,
    )
}

fn admin_result<Q: crate::lldd::HwQueue>(
    q: &mut AdminQueue<Q>,
    tag: AdminTag,
    now: Duration,
    timeout: Duration,
) -> Result<Wait<Cqe>, BuildFail> {
    match q.take_done(tag) {
        Some(Ok(c)) => Ok(Wait::Ready(c)),
        Some(Err(e)) => Err(fail(format!("admin command: {e}"))),
        None if q.busy(tag) && now >= q.sent_at(tag) + timeout => {
            Err(fail("admin command timed out"))
        }
        None => Ok(Wait::Pending),
    }
}

fn check_status(c: &Cqe, what: &str) -> Result<(), BuildFail> {
    if c.status.is_success() {
        return Ok(());
    }
    Err(BuildFail {
        why: format!("{what} failed with status {}", c.status),
        dnr: c.status.dnr(),
    })
}
