//! The admin command set on a connected admin queue: fabrics Property Get/Set,
//! Identify, Get Log Page, Set/Get Features, Async Event Request, Keep Alive, Abort.
//! Everything but fabrics commands needs an enabled controller (CC.EN, CSTS.RDY),
//! else Command Sequence Error, as Linux nvmet answers.

use ufc_transport::wire::fabrics::fctype;
use ufc_transport::wire::opcode::{admin, cns, fid, lid};
use ufc_transport::wire::status::NvmeStatus;

use crate::host_memory::HostMemory;
use crate::target::connection::{Cmd, Connection, Exec};
use crate::target::controller::Controller;
use crate::target::io::SGL_INVALID_DATA;
use crate::target::log_page;
use crate::target::response::Completion;
use crate::target::sgl::SglCursor;
use crate::target::{fabrics, identify};

/// Set Features "save" bit (CDW10 bit 31).
const SET_FEATURES_SAVE: u32 = 1 << 31;

fn err(status: NvmeStatus) -> Exec {
    Exec::Done(Completion::error(status.with_dnr()))
}

/// Executes an admin command on a connected queue.
pub(crate) fn execute<M: HostMemory>(
    conn: &Connection,
    ctrl: &Controller,
    cmd: &Cmd<'_, M>,
) -> Exec {
    let sqe = &cmd.iu.sqe;
    if sqe.is_fabrics() {
        return match sqe.fctype() {
            fctype::PROPERTY_GET | fctype::PROPERTY_SET => fabrics::property(ctrl, cmd),
            // Disconnect targets I/O queues only; on the admin queue it is a bad field.
            fctype::DISCONNECT => err(NvmeStatus::INVALID_FIELD),
            _ => err(NvmeStatus::INVALID_OPCODE),
        };
    }
    if !ctrl.ready() {
        return err(NvmeStatus::CMD_SEQ_ERROR);
    }
    match sqe.opcode {
        admin::IDENTIFY => identify_cmd(ctrl, cmd),
        admin::GET_LOG_PAGE => get_log_page(conn, cmd),
        admin::SET_FEATURES => set_features(ctrl, cmd),
        admin::GET_FEATURES => get_features(ctrl, cmd),
        admin::ASYNC_EVENT => async_event(conn, ctrl),
        admin::KEEP_ALIVE => {
            ctrl.keep_alive();
            Exec::Done(Completion::ok(0))
        }
        // The model completes commands at once, so there is never one to abort:
        // DW0 bit 0 set = "command not aborted".
        admin::ABORT => Exec::Done(Completion::result(1)),
        _ => err(NvmeStatus::INVALID_OPCODE),
    }
}

/// Copies `data` to the host; the CMD IU must announce at most its length.
fn send<M: HostMemory>(cmd: &Cmd<'_, M>, data: &[u8]) -> Exec {
    let want = cmd.data_len() as usize;
    if want > data.len() {
        return err(SGL_INVALID_DATA);
    }
    match SglCursor::new(cmd.sgl).copy_to_host(cmd.mem, &data[..want]) {
        Ok(n) if n == want => Exec::Done(Completion::ok(n as u32)),
        Ok(n) => Exec::Done(Completion {
            status: NvmeStatus::DATA_XFER_ERROR.with_dnr(),
            result: 0,
            transferred: n as u32,
        }),
        Err(_) => err(NvmeStatus::DATA_XFER_ERROR),
    }
}

fn identify_cmd<M: HostMemory>(ctrl: &Controller, cmd: &Cmd<'_, M>) -> Exec {
    let sqe = &cmd.iu.sqe;
    let subsys = ctrl.subsystem();
    let page = match sqe.cns() {
        cns::CONTROLLER => identify::controller(ctrl),
        cns::NAMESPACE => match subsys.namespace(sqe.nsid()) {
            Some(ns) => identify::namespace(ns),
            None => return err(NvmeStatus::INVALID_NS),
        },
        cns::ACTIVE_NS_LIST => identify::active_ns_list(subsys, sqe.nsid()),
        _ => return err(NvmeStatus::INVALID_FIELD),
    };
    send(cmd, &page[..])
}

fn get_log_page<M: HostMemory>(conn: &Connection, cmd: &Cmd<'_, M>) -> Exec {
    let sqe = &cmd.iu.sqe;
    let len = (u64::from(sqe.numd_0based()) + 1) * 4;
    let offset = sqe.log_offset();
    if u64::from(cmd.data_len()) != len {
        return err(SGL_INVALID_DATA);
    }
    let smart;
    let zeros;
    let page: &[u8] = match sqe.lid() {
        lid::ERROR => {
            zeros = [0u8; log_page::ERROR_ENTRY_LEN * log_page::ERROR_ENTRIES];
            &zeros
        }
        lid::SMART => {
            let stats = conn
                .association()
                .map(|a| log_page::sum(a.connections().iter().map(|c| c.stats())))
                .unwrap_or_default();
            smart = log_page::smart(&stats);
            &smart
        }
        // No namespace ever changes while a controller lives: the list is empty.
        lid::CHANGED_NS => &[0u8; log_page::CHANGED_NS_LEN],
        _ => return err(NvmeStatus::INVALID_FIELD),
    };
    let Some(rest) = usize::try_from(offset).ok().and_then(|o| page.get(o..)) else {
        return err(NvmeStatus::INVALID_FIELD);
    };
    // Bytes past the end of a log page read as zero.
    let mut cursor = SglCursor::new(cmd.sgl);
    let want = len as usize;
    let head = rest.len().min(want);
    let r = cursor.copy_to_host(cmd.mem, &rest[..head]).and_then(|n| {
        let mut done = n;
        let pad = [0u8; 512];
        while done < want {
            let k = (want - done).min(pad.len());
            let m = cursor.copy_to_host(cmd.mem, &pad[..k])?;
            if m == 0 {
                break;
            }
            done += m;
        }
        Ok(done)
    });
    match r {
        Ok(n) if n == want => Exec::Done(Completion::ok(n as u32)),
        _ => err(NvmeStatus::DATA_XFER_ERROR),
    }
}

fn set_features<M>(ctrl: &Controller, cmd: &Cmd<'_, M>) -> Exec {
    let sqe = &cmd.iu.sqe;
    if sqe.cdw10.get() & SET_FEATURES_SAVE != 0 {
        return err(NvmeStatus::FEATURE_NOT_SAVEABLE);
    }
    let cdw11 = sqe.cdw11.get();
    match sqe.fid() {
        fid::NUM_QUEUES => {
            let (nsqr, ncqr) = (cdw11 & 0xffff, cdw11 >> 16);
            if nsqr == 0xffff || ncqr == 0xffff {
                return err(NvmeStatus::INVALID_FIELD);
            }
            // Grant what was asked, up to the subsystem's limit (0's based values).
            let max = u32::from(ctrl.subsystem().config().max_io_queues) - 1;
            let granted = nsqr.max(ncqr).min(max) as u16;
            ctrl.state().queues_granted = Some(granted);
            let g = u64::from(granted);
            Exec::Done(Completion::result(g | g << 16))
        }
        fid::KEEP_ALIVE_TIMER => {
            ctrl.set_kato(cdw11);
            Exec::Done(Completion::ok(0))
        }
        fid::ASYNC_EVENT_CONFIG => {
            ctrl.state().async_event_config = cdw11;
            Exec::Done(Completion::ok(0))
        }
        _ => err(NvmeStatus::INVALID_FIELD),
    }
}

fn get_features<M>(ctrl: &Controller, cmd: &Cmd<'_, M>) -> Exec {
    let sqe = &cmd.iu.sqe;
    let st = ctrl.state();
    let v = match sqe.fid() {
        fid::NUM_QUEUES => {
            let max = ctrl.subsystem().config().max_io_queues - 1;
            let g = u64::from(st.queues_granted.unwrap_or(max));
            g | g << 16
        }
        fid::KEEP_ALIVE_TIMER => u64::from(st.kato_ms),
        fid::ASYNC_EVENT_CONFIG => u64::from(st.async_event_config),
        _ => return err(NvmeStatus::INVALID_FIELD),
    };
    Exec::Done(Completion::result(v))
}

fn async_event(conn: &Connection, ctrl: &Controller) -> Exec {
    let mut st = ctrl.state();
    if let Some(ev) = st.pending_events.pop_front() {
        return Exec::Done(Completion::result(u64::from(ev)));
    }
    drop(st);
    if conn.held() > usize::from(ctrl.subsystem().config().aerl) {
        return err(NvmeStatus::ASYNC_LIMIT);
    }
    Exec::Hold
}
