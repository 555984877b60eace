//! Fabrics commands: Connect (admin and I/O queues), Property Get/Set
//! (nvme-fc.md §5.1, §5.2).
//!
//! Connect checks, as the Linux target does: record format 0; qid equal to the
//! queue the LS created; sqsize non-zero, within CAP.MQES and equal to the LS's;
//! admin: controller id 0xFFFF (dynamic model), a subsystem this port exposes, an
//! allowed host; I/O: the association's controller id, subsystem and host. A bad
//! parameter returns CONNECT_INVALID_PARAM with its location in the result (bits
//! 15:0 byte offset, bit 16 set when the offset is in the data, §5.1).

use std::sync::Arc;

use ufc_transport::wire::fabrics::{
    fctype, ConnectData, CONNECT_CNTLID_DYNAMIC, CONNECT_DATA_LEN, CONNECT_INVALID_PARAM_IN_DATA,
    PROP_ATTRIB_4, PROP_ATTRIB_8,
};
use ufc_transport::wire::status::NvmeStatus;

use crate::host_memory::HostMemory;
use crate::target::connection::{Cmd, Connection, Exec};
use crate::target::controller::Controller;
use crate::target::io::SGL_INVALID_DATA;
use crate::target::response::Completion;
use crate::target::sgl::SglCursor;

/// Status of any command but Connect on a queue that is not connected (Linux
/// nvmet answers Invalid Opcode, DNR).
pub const NOT_CONNECTED: NvmeStatus = NvmeStatus(NvmeStatus::INVALID_OPCODE.0 | NvmeStatus::DNR);

// Byte offsets used in CONNECT_INVALID_PARAM results (§5.1).
const SQE_RECFMT: u32 = 40;
const SQE_QID: u32 = 42;
const SQE_SQSIZE: u32 = 44;
const DATA_CNTLID: u32 = 16;
const DATA_SUBNQN: u32 = 256;
const DATA_HOSTNQN: u32 = 512;
const IN_DATA: u64 = CONNECT_INVALID_PARAM_IN_DATA as u64;

fn invalid_param(result: u64) -> Exec {
    Exec::Done(Completion {
        status: NvmeStatus::CONNECT_INVALID_PARAM.with_dnr(),
        result,
        transferred: 0,
    })
}

fn fail(status: NvmeStatus, transferred: u32) -> Exec {
    Exec::Done(Completion {
        status: status.with_dnr(),
        result: 0,
        transferred,
    })
}

/// Connect on a queue not connected yet; any other command is refused there.
pub(crate) fn connect<M: HostMemory>(conn: &Connection, cmd: &Cmd<'_, M>) -> Exec {
    let sqe = &cmd.iu.sqe;
    if !sqe.is_fabrics() || sqe.fctype() != fctype::CONNECT {
        return Exec::Done(Completion::error(NOT_CONNECTED));
    }
    if cmd.data_len() as usize != CONNECT_DATA_LEN {
        return fail(SGL_INVALID_DATA, 0);
    }
    let mut data = [0u8; CONNECT_DATA_LEN];
    let got = match SglCursor::new(cmd.sgl).copy_from_host(cmd.mem, &mut data) {
        Ok(n) => n,
        Err(_) => return fail(NvmeStatus::DATA_XFER_ERROR, 0),
    };
    if got != CONNECT_DATA_LEN {
        return fail(NvmeStatus::DATA_XFER_ERROR, got as u32);
    }
    let xfer = CONNECT_DATA_LEN as u32;
    let recfmt = sqe.connect_recfmt();
    let qid = sqe.connect_qid();
    let sqsize = sqe.connect_sqsize();
    let kato_ms = sqe.connect_kato_ms();
    let Ok(data) = ConnectData::parse(&data) else {
        return fail(NvmeStatus::INTERNAL, got as u32);
    };
    let hostid = data.hostid;
    let cntlid = data.cntlid();
    let subnqn = data.subsysnqn();
    let hostnqn = data.hostnqn();

    let done = |e: Exec| match e {
        Exec::Done(mut c) => {
            c.transferred = xfer;
            Exec::Done(c)
        }
        Exec::Hold => Exec::Hold,
    };
    if recfmt != 0 {
        return done(Exec::Done(Completion {
            status: NvmeStatus::CONNECT_FORMAT.with_dnr(),
            result: u64::from(SQE_RECFMT),
            transferred: 0,
        }));
    }
    if qid != conn.qid() {
        return done(invalid_param(u64::from(SQE_QID)));
    }
    let Some(assoc) = conn.association() else {
        return done(fail(NvmeStatus::CONNECT_CTRL_BUSY, 0));
    };
    if qid == 0 {
        let Some(subsys) = assoc.subsystem(&subnqn) else {
            return done(invalid_param(IN_DATA | u64::from(DATA_SUBNQN)));
        };
        if sqsize == 0 || sqsize > subsys.config().mqes || sqsize != conn.sqsize() {
            return done(invalid_param(u64::from(SQE_SQSIZE)));
        }
        if cntlid != CONNECT_CNTLID_DYNAMIC {
            return done(invalid_param(IN_DATA | u64::from(DATA_CNTLID)));
        }
        if !subsys.host_allowed(&hostnqn) {
            return done(Exec::Done(Completion {
                status: NvmeStatus::CONNECT_INVALID_HOST.with_dnr(),
                result: IN_DATA | u64::from(DATA_HOSTNQN),
                transferred: 0,
            }));
        }
        let ctrl = Controller::new(subsys, hostnqn, hostid, kato_ms, assoc.clock());
        {
            let mut st = assoc.state();
            if st.terminated || st.ctrl.is_some() {
                return done(fail(NvmeStatus::CONNECT_CTRL_BUSY, 0));
            }
            st.ctrl = Some(Arc::clone(&ctrl));
        }
        let id = ctrl.cntlid();
        conn.bind(ctrl);
        return done(Exec::Done(Completion::result(u64::from(id))));
    }
    let Some(ctrl) = assoc.controller() else {
        return done(invalid_param(IN_DATA | u64::from(DATA_CNTLID)));
    };
    let subsys = ctrl.subsystem();
    if qid > subsys.config().max_io_queues {
        return done(invalid_param(u64::from(SQE_QID)));
    }
    if sqsize == 0 || sqsize > subsys.config().mqes || sqsize != conn.sqsize() {
        return done(invalid_param(u64::from(SQE_SQSIZE)));
    }
    if cntlid != ctrl.cntlid() {
        return done(invalid_param(IN_DATA | u64::from(DATA_CNTLID)));
    }
    if subnqn != subsys.nqn() {
        return done(invalid_param(IN_DATA | u64::from(DATA_SUBNQN)));
    }
    if hostnqn != ctrl.hostnqn() {
        return done(Exec::Done(Completion {
            status: NvmeStatus::CONNECT_INVALID_HOST.with_dnr(),
            result: IN_DATA | u64::from(DATA_HOSTNQN),
            transferred: 0,
        }));
    }
    let id = ctrl.cntlid();
    conn.bind(ctrl);
    done(Exec::Done(Completion::result(u64::from(id))))
}

/// Property Get / Property Set on a connected admin queue.
pub(crate) fn property<M>(ctrl: &Controller, cmd: &Cmd<'_, M>) -> Exec {
    let sqe = &cmd.iu.sqe;
    let size = match sqe.property_attrib() {
        PROP_ATTRIB_4 => 4,
        PROP_ATTRIB_8 => 8,
        _ => return fail(NvmeStatus::INVALID_FIELD, 0),
    };
    let offset = sqe.property_offset();
    match sqe.fctype() {
        fctype::PROPERTY_GET => match ctrl.property_get(offset, size) {
            Ok(v) => Exec::Done(Completion::result(v)),
            Err(_) => fail(NvmeStatus::INVALID_FIELD, 0),
        },
        fctype::PROPERTY_SET => {
            let value = sqe.property_value();
            match ctrl.property_set(offset, size, value) {
                Ok(_) => Exec::Done(Completion::ok(0)),
                Err(_) => fail(NvmeStatus::INVALID_FIELD, 0),
            }
        }
        _ => fail(NvmeStatus::INVALID_OPCODE, 0),
    }
}
