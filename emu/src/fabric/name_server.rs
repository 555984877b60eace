//! The directory (name server) database behind 0xFFFFFC: one entry per logged-in
//! N_Port with its names, port type, registered FC-4 types (RFT_ID) and FC-4
//! features (RFF_ID), and the queries GID_FT and GID_PT (sli4.md §6.4).
//!
//! Entries appear at fabric login (FLOGI, or the fabric bringing a target port up)
//! and vanish at logout or link down. Encoding lives in the CT service; this file
//! holds only state.

use std::collections::BTreeMap;

use ufc_hba::fc::nameserver::{in_scope, port_type, Fc4Types};
use ufc_transport::wwn::FcAddr;

/// What the name server knows of one N_Port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NsEntry {
    /// WWNN/WWPN from the fabric login.
    pub addr: FcAddr,
    /// Port type (0x01 N_Port).
    pub port_type: u8,
    /// FC-4 TYPE bitmap as RFT_ID carries it.
    pub fc4_types: Fc4Types,
    /// FC-4 features per type (RFF_ID): (type, feature bits).
    pub fc4_features: Vec<(u8, u8)>,
}

impl NsEntry {
    /// A fresh entry with nothing registered.
    pub fn new(addr: FcAddr) -> Self {
        NsEntry {
            addr,
            port_type: port_type::N_PORT,
            fc4_types: Fc4Types::default(),
            fc4_features: Vec::new(),
        }
    }

    /// The feature bits registered for type `t`.
    pub fn features(&self, t: u8) -> Option<u8> {
        self.fc4_features
            .iter()
            .find(|(ty, _)| *ty == t)
            .map(|(_, f)| *f)
    }

    /// Registers feature bits for type `t` (replaces an earlier registration).
    pub fn set_features(&mut self, t: u8, bits: u8) {
        match self.fc4_features.iter_mut().find(|(ty, _)| *ty == t) {
            Some(e) => e.1 = bits,
            None => self.fc4_features.push((t, bits)),
        }
    }
}

/// Why a registration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NsRefusal {
    /// The port id in the request is not logged in to the fabric.
    UnknownPort,
}

/// The database: entries by N_Port ID, ordered so that query answers are sorted.
#[derive(Debug, Default)]
pub struct NameServer {
    entries: BTreeMap<u32, NsEntry>,
}

impl NameServer {
    /// Adds or replaces the entry of `id` (fabric login).
    pub fn login(&mut self, id: u32, addr: FcAddr) {
        self.entries.insert(id, NsEntry::new(addr));
    }

    /// Removes the entry of `id` (logout, link down); true when there was one.
    pub fn logout(&mut self, id: u32) -> bool {
        self.entries.remove(&id).is_some()
    }

    /// The entry of `id`.
    pub fn entry(&self, id: u32) -> Option<&NsEntry> {
        self.entries.get(&id)
    }

    /// RFT_ID: replaces the FC-4 type bitmap of `id`.
    pub fn register_types(&mut self, id: u32, bitmap: Fc4Types) -> Result<(), NsRefusal> {
        let e = self.entries.get_mut(&id).ok_or(NsRefusal::UnknownPort)?;
        e.fc4_types = bitmap;
        Ok(())
    }

    /// RFF_ID: registers `features` for FC-4 `fc4_type` of `id`. Like switches do,
    /// this also registers the type itself.
    pub fn register_features(
        &mut self,
        id: u32,
        fc4_type: u8,
        features: u8,
    ) -> Result<(), NsRefusal> {
        let e = self.entries.get_mut(&id).ok_or(NsRefusal::UnknownPort)?;
        e.fc4_types.insert(fc4_type);
        e.set_features(fc4_type, features);
        Ok(())
    }

    /// GID_FT: the N_Port IDs with FC-4 type `t` registered, within the domain
    /// and area scope (0 = any), ascending.
    pub fn gid_ft(&self, t: u8, domain_scope: u8, area_scope: u8) -> Vec<u32> {
        self.entries
            .iter()
            .filter(|(id, e)| e.fc4_types.contains(t) && in_scope(**id, domain_scope, area_scope))
            .map(|(id, _)| *id)
            .collect()
    }

    /// GID_PT: the N_Port IDs of port type `pt` (0x7F: all Nx_Ports) within
    /// the scope, ascending.
    pub fn gid_pt(&self, pt: u8, domain_scope: u8, area_scope: u8) -> Vec<u32> {
        self.entries
            .iter()
            .filter(|(id, e)| {
                (pt == port_type::NX_PORT || e.port_type == pt)
                    && in_scope(**id, domain_scope, area_scope)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no port is logged in.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ufc_transport::wwn::Wwn;

    fn a(n: u64) -> FcAddr {
        FcAddr {
            wwnn: Wwn(0x2000 + n),
            wwpn: Wwn(0x1000 + n),
        }
    }

    #[test]
    fn types_features_and_queries() {
        let mut ns = NameServer::default();
        ns.login(0x010102, a(2));
        ns.login(0x010100, a(0));
        ns.login(0x010101, a(1));
        ns.login(0x020100, a(3));
        assert_eq!(ns.gid_ft(0x28, 0, 0), Vec::<u32>::new());
        ns.register_types(0x010102, Fc4Types::from_types(&[0x28]))
            .unwrap();
        ns.register_features(0x010100, 0x28, 0x01).unwrap();
        ns.register_types(0x010101, Fc4Types::from_types(&[0x08]))
            .unwrap();
        ns.register_types(0x020100, Fc4Types::from_types(&[0x08, 0x28]))
            .unwrap();
        assert_eq!(ns.gid_ft(0x28, 0, 0), vec![0x010100, 0x010102, 0x020100]);
        assert_eq!(ns.gid_ft(0x28, 0x01, 0), vec![0x010100, 0x010102]);
        assert_eq!(ns.gid_ft(0x08, 0x02, 0x01), vec![0x020100]);
        assert_eq!(ns.entry(0x010100).unwrap().features(0x28), Some(0x01));
        assert_eq!(ns.entry(0x010101).unwrap().features(0x28), None);
        assert_eq!(ns.gid_pt(port_type::NX_PORT, 0, 0).len(), 4);
        assert_eq!(ns.gid_pt(port_type::N_PORT, 0x01, 0).len(), 3);
        assert_eq!(ns.gid_pt(port_type::NL_PORT, 0, 0), Vec::<u32>::new());
        assert_eq!(
            ns.register_types(0x030000, Fc4Types::default()),
            Err(NsRefusal::UnknownPort)
        );
        assert!(ns.logout(0x010100));
        assert!(!ns.logout(0x010100));
        assert_eq!(ns.len(), 3);
        assert_eq!(ns.gid_ft(0x28, 0, 0), vec![0x010102, 0x020100]);
    }
}
