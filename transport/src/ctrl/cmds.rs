//! The LS payloads and admin commands the controller sends, and the checks on
//! what comes back (nvme-fc.md §4.2–§4.6, §5.1–§5.5).

use crate::qpair::iu::sqe as sqe_off;

/// LS command codes (§4.2).
pub mod ls {
    pub const RJT: u8 = 1;
    pub const ACC: u8 = 2;
    pub const CREATE_ASSOC: u8 = 3;
    pub const CREATE_CONN: u8 = 4;
    pub const DISCONNECT_ASSOC: u8 = 5;
    pub const DISCONNECT_CONN: u8 = 6;
}

/// LS descriptor tags (§4.2).
mod tag {
    pub const RQST: u32 = 1;
    pub const RJT: u32 = 2;
    pub const CREATE_ASSOC_CMD: u32 = 3;
    pub const CREATE_CONN_CMD: u32 = 4;
    pub const DISCONN_CMD: u32 = 5;
    pub const CONN_ID: u32 = 6;
    pub const ASSOC_ID: u32 = 7;
}

/// LS_RJT reason codes (§4.6).
pub mod rjt {
    pub const INVAL: u8 = 0x01;
    pub const LOGIC: u8 = 0x03;
    pub const UNAB: u8 = 0x09;
    pub const UNSUP: u8 = 0x0b;
    pub const INV_ASSOC: u8 = 0x40;
    /// Explanation: none.
    pub const EXPL_NONE: u8 = 0x00;
    /// Explanation: invalid length.
    pub const EXPL_INV_LEN: u8 = 0x2d;
}

/// Why an LS response was not accepted (Linux: `-EBADF`, or `-ENXIO` for RJT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccError {
    /// The target rejected the request.
    #[error("LS rejected by the target (reason {reason:#04x}, explanation {explanation:#04x})")]
    Rejected {
        /// Reason code.
        reason: u8,
        /// Explanation code.
        explanation: u8,
    },
    /// A field of the ACC is wrong.
    #[error("malformed LS ACC: {0}")]
    Malformed(&'static str),
}

#[cfg(test)]
fn be16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_be_bytes([s[0], s[1]]))
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        v.copy_from_slice(s);
    }
    u64::from_be_bytes(v)
}

fn le16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        v.copy_from_slice(s);
    }
    u64::from_le_bytes(v)
}

fn put_desc_hdr(b: &mut [u8], at: usize, tag: u32, len: u32) {
    b[at..at + 4].copy_from_slice(&tag.to_be_bytes());
    b[at + 4..at + 8].copy_from_slice(&len.to_be_bytes());
}

fn put_str(b: &mut [u8], at: usize, max: usize, s: &str) {
    let n = s.len().min(max);
    b[at..at + n].copy_from_slice(&s.as_bytes()[..n]);
}

/// Create Association request, 1024 bytes (§4.2, §4.3).
pub fn create_assoc_rqst(
    ersp_ratio: u16,
    sqsize: u16,
    hostid: &[u8; 16],
    hostnqn: &str,
    subnqn: &str,
) -> Vec<u8> {
    let mut b = vec![0u8; 1024];
    b[0] = ls::CREATE_ASSOC;
    b[4..8].copy_from_slice(&1016u32.to_be_bytes());
    put_desc_hdr(&mut b, 8, tag::CREATE_ASSOC_CMD, 1008);
    b[16..18].copy_from_slice(&ersp_ratio.to_be_bytes());
    b[56..58].copy_from_slice(&0xFFFFu16.to_be_bytes());
    b[58..60].copy_from_slice(&sqsize.to_be_bytes());
    b[64..80].copy_from_slice(hostid);
    put_str(&mut b, 80, 256, hostnqn);
    put_str(&mut b, 336, 256, subnqn);
    b
}

fn check_acc_head(b: &[u8], min: usize, dll: u32, rqst: u8) -> Result<(), AccError> {
    if b.first() == Some(&ls::RJT) {
        return Err(AccError::Rejected {
            reason: b.get(33).copied().unwrap_or(0),
            explanation: b.get(34).copied().unwrap_or(0),
        });
    }
    if b.len() < min {
        return Err(AccError::Malformed("too short"));
    }
    if b[0] != ls::ACC {
        return Err(AccError::Malformed("word 0 is not ACC"));
    }
    if be32(b, 4) != dll {
        return Err(AccError::Malformed("desc_list_len"));
    }
    if be32(b, 8) != tag::RQST || be32(b, 12) != 8 {
        return Err(AccError::Malformed("RQST descriptor"));
    }
    if b[16] != rqst {
        return Err(AccError::Malformed("RQST names another LS"));
    }
    Ok(())
}

/// Validates a Create Association ACC (§4.4); returns (association id, admin
/// connection id).
pub fn check_create_assoc_acc(b: &[u8]) -> Result<(u64, u64), AccError> {
    check_acc_head(b, 56, 48, ls::CREATE_ASSOC)?;
    if be32(b, 24) != tag::ASSOC_ID || be32(b, 28) != 8 {
        return Err(AccError::Malformed("ASSOC_ID descriptor"));
    }
    if be32(b, 40) != tag::CONN_ID || be32(b, 44) != 8 {
        return Err(AccError::Malformed("CONN_ID descriptor"));
    }
    Ok((be64(b, 32), be64(b, 48)))
}

/// Create I/O Connection request, 80 bytes (§4.3).
pub fn create_conn_rqst(assoc_id: u64, qid: u16, sqsize: u16, ersp_ratio: u16) -> Vec<u8> {
    let mut b = vec![0u8; 80];
    b[0] = ls::CREATE_CONN;
    b[4..8].copy_from_slice(&72u32.to_be_bytes());
    put_desc_hdr(&mut b, 8, tag::ASSOC_ID, 8);
    b[16..24].copy_from_slice(&assoc_id.to_be_bytes());
    put_desc_hdr(&mut b, 24, tag::CREATE_CONN_CMD, 48);
    b[32..34].copy_from_slice(&ersp_ratio.to_be_bytes());
    b[72..74].copy_from_slice(&qid.to_be_bytes());
    b[74..76].copy_from_slice(&sqsize.to_be_bytes());
    b
}

/// Validates a Create I/O Connection ACC (§4.4); returns the connection id.
pub fn check_create_conn_acc(b: &[u8]) -> Result<u64, AccError> {
    check_acc_head(b, 40, 32, ls::CREATE_CONN)?;
    if be32(b, 24) != tag::CONN_ID || be32(b, 28) != 8 {
        return Err(AccError::Malformed("CONN_ID descriptor"));
    }
    Ok(be64(b, 32))
}

/// Disconnect Association request, 48 bytes (§4.3).
pub fn disconnect_assoc_rqst(assoc_id: u64) -> Vec<u8> {
    let mut b = vec![0u8; 48];
    b[0] = ls::DISCONNECT_ASSOC;
    b[4..8].copy_from_slice(&40u32.to_be_bytes());
    put_desc_hdr(&mut b, 8, tag::ASSOC_ID, 8);
    b[16..24].copy_from_slice(&assoc_id.to_be_bytes());
    put_desc_hdr(&mut b, 24, tag::DISCONN_CMD, 16);
    b
}

/// Validates a received Disconnect Association (§4.5); the association id.
pub fn parse_disconnect_assoc(b: &[u8]) -> Option<u64> {
    let ok = b.len() >= 48
        && b[0] == ls::DISCONNECT_ASSOC
        && be32(b, 4) == 40
        && be32(b, 8) == tag::ASSOC_ID
        && be32(b, 12) == 8
        && be32(b, 24) == tag::DISCONN_CMD
        && be32(b, 28) == 16
        && be32(b, 32) == 0;
    ok.then(|| be64(b, 16))
}

/// ACC for a received LS with code `code` (24 bytes).
pub fn ls_acc(code: u8) -> Vec<u8> {
    let mut b = vec![0u8; 24];
    b[0] = ls::ACC;
    b[4..8].copy_from_slice(&16u32.to_be_bytes());
    put_desc_hdr(&mut b, 8, tag::RQST, 8);
    b[16] = code;
    b
}

/// LS_RJT for a received LS with code `code` (40 bytes).
pub fn ls_rjt(code: u8, reason: u8, explanation: u8) -> Vec<u8> {
    let mut b = vec![0u8; 40];
    b[0] = ls::RJT;
    b[4..8].copy_from_slice(&32u32.to_be_bytes());
    put_desc_hdr(&mut b, 8, tag::RQST, 8);
    b[16] = code;
    put_desc_hdr(&mut b, 24, tag::RJT, 8);
    b[33] = reason;
    b[34] = explanation;
    b
}

/// An SQE as bytes.
pub type SqeBytes = [u8; sqe_off::LEN];

const FABRICS: u8 = 0x7F;

/// Fabrics Connect (§5.1); the data buffer holds [`connect_data`].
pub fn connect(qid: u16, sqsize: u16, kato_ms: u32) -> SqeBytes {
    let mut s = [0u8; sqe_off::LEN];
    s[0] = FABRICS;
    s[4] = 0x01;
    s[42..44].copy_from_slice(&qid.to_le_bytes());
    s[44..46].copy_from_slice(&sqsize.to_le_bytes());
    s[48..52].copy_from_slice(&kato_ms.to_le_bytes());
    s
}

/// Connect data, 1024 bytes (§5.1).
pub fn connect_data(hostid: &[u8; 16], cntlid: u16, subnqn: &str, hostnqn: &str) -> [u8; 1024] {
    let mut b = [0u8; 1024];
    b[0..16].copy_from_slice(hostid);
    b[16..18].copy_from_slice(&cntlid.to_le_bytes());
    put_str(&mut b, 256, 256, subnqn);
    put_str(&mut b, 512, 256, hostnqn);
    b
}

/// Property Get (§5.2); `wide` reads 8 bytes.
pub fn prop_get(offset: u32, wide: bool) -> SqeBytes {
    let mut s = [0u8; sqe_off::LEN];
    s[0] = FABRICS;
    s[4] = 0x04;
    s[40] = u8::from(wide);
    s[44..48].copy_from_slice(&offset.to_le_bytes());
    s
}

/// Property Set, 4 bytes (§5.2).
pub fn prop_set(offset: u32, value: u32) -> SqeBytes {
    let mut s = [0u8; sqe_off::LEN];
    s[0] = FABRICS;
    s[4] = 0x00;
    s[44..48].copy_from_slice(&offset.to_le_bytes());
    s[48..56].copy_from_slice(&u64::from(value).to_le_bytes());
    s
}

/// Controller registers (§5.2).
pub mod reg {
    pub const CAP: u32 = 0x00;
    pub const CC: u32 = 0x14;
    pub const CSTS: u32 = 0x1C;
}

/// CC with EN=1, CSS=NVM, MPS=4 KiB, AMS=RR, IOSQES=6, IOCQES=4 (§5.3).
pub const CC_ENABLE: u32 = 1 | (6 << 16) | (4 << 20);

fn admin_sqe(opcode: u8, nsid: u32, cdw10: u32, cdw11: u32) -> SqeBytes {
    let mut s = [0u8; sqe_off::LEN];
    s[0] = opcode;
    s[4..8].copy_from_slice(&nsid.to_le_bytes());
    s[40..44].copy_from_slice(&cdw10.to_le_bytes());
    s[44..48].copy_from_slice(&cdw11.to_le_bytes());
    s
}

/// Identify (opcode 0x06) with `cns`.
pub fn identify(cns: u8, nsid: u32) -> SqeBytes {
    admin_sqe(0x06, nsid, u32::from(cns), 0)
}

/// CNS values.
pub mod cns {
    pub const NAMESPACE: u8 = 0x00;
    pub const CONTROLLER: u8 = 0x01;
    pub const ACTIVE_NS_LIST: u8 = 0x02;
}

/// Set Features Number of Queues for `n` I/O queues (§5.5).
pub fn set_num_queues(n: u16) -> SqeBytes {
    let v = u32::from(n.max(1) - 1);
    admin_sqe(0x09, 0, 0x07, v | (v << 16))
}

/// Keep Alive (opcode 0x18).
pub fn keep_alive() -> SqeBytes {
    admin_sqe(0x18, 0, 0, 0)
}

/// Asynchronous Event Request (opcode 0x0C).
pub fn async_event() -> SqeBytes {
    admin_sqe(0x0C, 0, 0, 0)
}

/// What the transport needs from Identify Controller (§5.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdCtrl {
    /// Controller id.
    pub cntlid: u16,
    /// Maximum outstanding commands (0 = not reported).
    pub maxcmd: u16,
    /// Number of namespaces.
    pub nn: u32,
    /// SGL support.
    pub sgls: u32,
    /// In-capsule data offset (must be 0 on FC).
    pub icdoff: u16,
}

/// Parses Identify Controller data.
pub fn parse_id_ctrl(b: &[u8]) -> IdCtrl {
    IdCtrl {
        cntlid: le16(b, 78),
        maxcmd: le16(b, 514),
        nn: le32(b, 516),
        sgls: le32(b, 536),
        icdoff: le16(b, 1800),
    }
}

/// Parses an Active Namespace ID list (CNS 2).
pub fn parse_ns_list(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .take_while(|&id| id != 0)
        .collect()
}

/// What the transport needs from Identify Namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdNs {
    /// Namespace size in blocks.
    pub nsze: u64,
    /// Block size in bytes.
    pub lba_size: u32,
}

/// Parses Identify Namespace data; `None` for an inactive namespace or a block
/// size outside 512 B ..= 64 KiB.
pub fn parse_id_ns(b: &[u8]) -> Option<IdNs> {
    let nsze = le64(b, 0);
    let nlbaf = b.get(25).copied().unwrap_or(0);
    let flbas = b.get(26).copied().unwrap_or(0);
    let mut idx = usize::from(flbas & 0x0F);
    if nlbaf >= 16 {
        idx |= usize::from((flbas >> 5) & 0x03) << 4;
    }
    let lbads = b.get(128 + idx * 4 + 2).copied().unwrap_or(0);
    if nsze == 0 || !(9..=16).contains(&lbads) {
        return None;
    }
    Some(IdNs {
        nsze,
        lba_size: 1 << lbads,
    })
}

/// CAP.MQES (0's based).
pub fn cap_mqes(cap: u64) -> u16 {
    (cap & 0xFFFF) as u16
}

/// CAP.TO in milliseconds.
pub fn cap_timeout_ms(cap: u64) -> u64 {
    ((cap >> 24) & 0xFF) * 500
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_assoc_layout() {
        let b = create_assoc_rqst(8, 31, &[7; 16], "hostnqn", "subnqn");
        assert_eq!(b.len(), 1024);
        assert_eq!(
            (b[0], be32(&b, 4), be32(&b, 8), be32(&b, 12)),
            (3, 1016, 3, 1008)
        );
        assert_eq!((be16(&b, 16), be16(&b, 56), be16(&b, 58)), (8, 0xFFFF, 31));
        assert_eq!(&b[64..80], &[7; 16]);
        assert_eq!(&b[80..87], b"hostnqn");
        assert_eq!(&b[336..342], b"subnqn");
    }

    fn acc(rqst: u8, descs: &[(u32, u64)]) -> Vec<u8> {
        let mut b = vec![0u8; 24 + 16 * descs.len()];
        b[0] = ls::ACC;
        let dll = (b.len() - 8) as u32;
        b[4..8].copy_from_slice(&dll.to_be_bytes());
        put_desc_hdr(&mut b, 8, tag::RQST, 8);
        b[16] = rqst;
        for (i, (t, v)) in descs.iter().enumerate() {
            put_desc_hdr(&mut b, 24 + 16 * i, *t, 8);
            b[32 + 16 * i..40 + 16 * i].copy_from_slice(&v.to_be_bytes());
        }
        b
    }

    #[test]
    fn acc_validation() {
        let a = acc(3, &[(7, 0xAB00_0000_0000), (6, 0xAB00_0000_0000)]);
        assert_eq!(
            check_create_assoc_acc(&a),
            Ok((0xAB00_0000_0000, 0xAB00_0000_0000))
        );
        let mut bad = a.clone();
        bad[16] = 4;
        assert!(check_create_assoc_acc(&bad).is_err());
        assert!(check_create_assoc_acc(&a[..40]).is_err());
        let c = acc(4, &[(6, 0xAB00_0000_0001)]);
        assert_eq!(check_create_conn_acc(&c), Ok(0xAB00_0000_0001));
        assert!(check_create_assoc_acc(&c).is_err());
        let r = ls_rjt(3, rjt::LOGIC, 0x43);
        assert_eq!(
            check_create_assoc_acc(&r),
            Err(AccError::Rejected {
                reason: 3,
                explanation: 0x43
            })
        );
    }

    #[test]
    fn disconnect_round_trip_and_rejects() {
        let d = disconnect_assoc_rqst(0x1234_0000);
        assert_eq!(d.len(), 48);
        assert_eq!(parse_disconnect_assoc(&d), Some(0x1234_0000));
        let mut old = d.clone();
        old[35] = 1; // old-format scope
        assert_eq!(parse_disconnect_assoc(&old), None);
        assert_eq!(parse_disconnect_assoc(&d[..40]), None);
        let a = ls_acc(5);
        assert_eq!((a[0], be32(&a, 4), a[16]), (2, 16, 5));
    }

    #[test]
    fn create_conn_layout() {
        let b = create_conn_rqst(0x55, 3, 127, 25);
        assert_eq!((b[0], be32(&b, 4), be64(&b, 16)), (4, 72, 0x55));
        assert_eq!((be32(&b, 24), be32(&b, 28), be16(&b, 32)), (4, 48, 25));
        assert_eq!((be16(&b, 72), be16(&b, 74)), (3, 127));
    }

    #[test]
    fn identify_parsing() {
        let mut c = vec![0u8; 4096];
        c[514..516].copy_from_slice(&64u16.to_le_bytes());
        c[536] = 1;
        let id = parse_id_ctrl(&c);
        assert_eq!((id.maxcmd, id.sgls, id.icdoff), (64, 1, 0));
        let mut n = vec![0u8; 4096];
        n[0..8].copy_from_slice(&1000u64.to_le_bytes());
        n[26] = 1;
        n[128 + 4 + 2] = 12;
        assert_eq!(
            parse_id_ns(&n),
            Some(IdNs {
                nsze: 1000,
                lba_size: 4096
            })
        );
        let mut l = vec![0u8; 4096];
        l[0] = 1;
        l[4] = 3;
        assert_eq!(parse_ns_list(&l), vec![1, 3]);
        assert_eq!(set_num_queues(4)[44..48], 0x0003_0003u32.to_le_bytes());
        assert_eq!(cap_mqes(0x0F00_0000_007F), 127);
    }
}
