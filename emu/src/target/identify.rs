//! Identify data the target returns (nvme-fc.md §5.5): controller (CNS 01h) with
//! the fields an FC host checks — ICDOFF 0, SGLs supported, MAXCMD, KAS, NN,
//! SUBNQN, IOCCSZ/IORCSZ, MDTS, CNTLID, VER — namespace (CNS 00h) and the active
//! namespace list (CNS 02h). Built on the management path; allocation is fine here.

use zerocopy::byteorder::{LittleEndian, U16, U32, U64};
use zerocopy::IntoBytes;

use ufc_transport::wire::identify::{
    IdentifyController, IdentifyNamespace, IDENTIFY_LEN, ONCS_WRITE_ZEROES, SGLS_SUPPORTED,
};

use crate::target::controller::Controller;
use crate::target::namespace::Namespace;
use crate::target::registers::NVME_VERSION;
use crate::target::subsystem::Subsystem;

/// Size of the fabrics command capsule in 16-byte units: the 64-byte SQE only,
/// no in-capsule data (IOCCSZ).
const IOCCSZ: u32 = 4;
/// Size of the response capsule in 16-byte units: the 16-byte CQE (IORCSZ).
const IORCSZ: u32 = 1;
/// Firmware revision (Identify FR, 8 ASCII bytes).
const FIRMWARE: &str = "ufc-emu";

/// Identify Controller data.
pub fn controller(ctrl: &Controller) -> Vec<u8> {
    let subsys = ctrl.subsystem();
    let cfg = subsys.config();
    let mut id = IdentifyController::zeroed();
    id.set_sn(&cfg.serial);
    id.set_mn(&cfg.model);
    id.set_fr(FIRMWARE);
    id.mdts = cfg.mdts;
    id.cntlid = U16::new(ctrl.cntlid());
    id.ver = U32::new(NVME_VERSION.0);
    id.aerl = cfg.aerl;
    id.elpe = (crate::target::log_page::ERROR_ENTRIES - 1) as u8;
    // LPA bit 2: Get Log Page extended data (offset, NUMDU) is supported.
    id.lpa = 1 << 2;
    id.kas = U16::new(cfg.kas);
    // Required SQ/CQ entry sizes, min = max: 64 and 16 bytes.
    id.sqes = 0x66;
    id.cqes = 0x44;
    id.maxcmd = U16::new(cfg.mqes.saturating_add(1));
    id.nn = U32::new(subsys.namespace_count());
    id.oncs = U16::new(ONCS_WRITE_ZEROES);
    id.sgls = U32::new(SGLS_SUPPORTED);
    // A subsystem NQN is at most 223 bytes (checked at creation), so this fits.
    let _ = id.set_subnqn(subsys.nqn());
    id.ioccsz = U32::new(IOCCSZ);
    id.iorcsz = U32::new(IORCSZ);
    id.icdoff = U16::new(0);
    // Dynamic controller model.
    id.fcatt = 0;
    id.msdbd = 1;
    id.as_bytes().to_vec()
}

/// Identify Namespace data.
pub fn namespace(ns: &Namespace) -> Vec<u8> {
    let mut id = IdentifyNamespace::zeroed();
    id.nsze = U64::new(ns.nblocks());
    id.ncap = U64::new(ns.nblocks());
    id.nuse = U64::new(ns.nblocks());
    // block_shift is 9 or 12 (checked at namespace creation).
    id.set_single_format(ns.block_shift() as u8);
    id.as_bytes().to_vec()
}

/// Active namespace list: NSIDs greater than `after`, ascending, up to 1024.
pub fn active_ns_list(subsys: &Subsystem, after: u32) -> Vec<u8> {
    let mut out = vec![0u8; IDENTIFY_LEN];
    let ids = (after.saturating_add(1)..=subsys.namespace_count()).take(IDENTIFY_LEN / 4);
    for (slot, nsid) in out.chunks_exact_mut(4).zip(ids) {
        slot.copy_from_slice(U32::<LittleEndian>::new(nsid).as_bytes());
    }
    out
}
