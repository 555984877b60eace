//! The NVM I/O command set: Read, Write, Flush, Write Zeroes, plus the fabrics
//! Disconnect of an I/O queue. Data moves through the host's SGL; nothing is
//! allocated per command.

use ufc_transport::wire::fabrics::fctype;
use ufc_transport::wire::opcode::{admin, io};
use ufc_transport::wire::status::NvmeStatus;

use crate::host_memory::HostMemory;
use crate::target::connection::{Cmd, ConnStats, Connection, Exec};
use crate::target::controller::Controller;
use crate::target::namespace::NsIoError;
use crate::target::response::Completion;
use crate::target::sgl::SglCursor;

/// Data SGL Length Invalid (generic 0x0F): the transfer length disagrees with the
/// command (Linux nvmet `NVME_SC_SGL_INVALID_DATA`).
pub const SGL_INVALID_DATA: NvmeStatus = NvmeStatus(0x00F);
/// Flush of every namespace (NSID FFFFFFFFh).
const NSID_ALL: u32 = 0xffff_ffff;

fn err(status: NvmeStatus) -> Exec {
    Exec::Done(Completion::error(status.with_dnr()))
}

fn io_error(e: &NsIoError, write: bool) -> Exec {
    match e {
        NsIoError::OutOfRange => err(NvmeStatus::LBA_RANGE),
        NsIoError::Mem(_) => err(NvmeStatus::DATA_XFER_ERROR),
        NsIoError::File(_) if write => err(NvmeStatus::WRITE_FAULT),
        NsIoError::File(_) => err(NvmeStatus::READ_ERROR),
    }
}

/// Executes an I/O queue command.
pub(crate) fn execute<M: HostMemory>(
    conn: &Connection,
    ctrl: &Controller,
    stats: &mut ConnStats,
    cmd: &Cmd<'_, M>,
) -> Exec {
    let sqe = &cmd.iu.sqe;
    if sqe.opcode == admin::FABRICS {
        return match sqe.fctype() {
            fctype::DISCONNECT => {
                conn.disconnect();
                Exec::Done(Completion::ok(0))
            }
            _ => err(NvmeStatus::INVALID_OPCODE),
        };
    }
    if !ctrl.ready() {
        return err(NvmeStatus::CMD_SEQ_ERROR);
    }
    let subsys = ctrl.subsystem();
    match sqe.opcode {
        io::READ | io::WRITE => {
            let write = sqe.opcode == io::WRITE;
            let Some(ns) = subsys.namespace(sqe.nsid()) else {
                return err(NvmeStatus::INVALID_NS);
            };
            let count = u64::from(sqe.nlb());
            if !ns.range_ok(sqe.slba(), count) {
                return err(NvmeStatus::LBA_RANGE);
            }
            let bytes = count << ns.block_shift();
            let mdts = subsys.config().mdts;
            if mdts != 0 && bytes > 4096u64 << mdts {
                return err(NvmeStatus::INVALID_FIELD);
            }
            if u64::from(cmd.data_len()) != bytes {
                return err(SGL_INVALID_DATA);
            }
            if SglCursor::total(cmd.sgl) < bytes {
                return err(NvmeStatus::DATA_XFER_ERROR);
            }
            let mut cursor = SglCursor::new(cmd.sgl);
            let r = if write {
                ns.write(sqe.slba(), count, &mut cursor, cmd.mem)
            } else {
                ns.read(sqe.slba(), count, &mut cursor, cmd.mem)
            };
            match r {
                Ok(n) => {
                    // n <= bytes == data_len, a u32.
                    let n = n as u32;
                    if write {
                        stats.writes += 1;
                        stats.bytes_written += u64::from(n);
                    } else {
                        stats.reads += 1;
                        stats.bytes_read += u64::from(n);
                    }
                    Exec::Done(Completion::ok(n))
                }
                Err(e) => io_error(&e, write),
            }
        }
        io::WRITE_ZEROES => {
            let Some(ns) = subsys.namespace(sqe.nsid()) else {
                return err(NvmeStatus::INVALID_NS);
            };
            match ns.write_zeroes(sqe.slba(), u64::from(sqe.nlb())) {
                Ok(()) => Exec::Done(Completion::ok(0)),
                Err(e) => io_error(&e, true),
            }
        }
        io::FLUSH => {
            let nsid = sqe.nsid();
            let result = if nsid == NSID_ALL {
                (1..=subsys.namespace_count())
                    .filter_map(|id| subsys.namespace(id))
                    .try_for_each(|ns| ns.flush())
            } else {
                match subsys.namespace(nsid) {
                    Some(ns) => ns.flush(),
                    None => return err(NvmeStatus::INVALID_NS),
                }
            };
            match result {
                Ok(()) => Exec::Done(Completion::ok(0)),
                Err(e) => io_error(&e, true),
            }
        }
        _ => err(NvmeStatus::INVALID_OPCODE),
    }
}
