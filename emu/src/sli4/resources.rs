//! The port's FC resources (sli4.md §3.4, §6.1 step 0): the XRI, RPI, VPI and
//! VFI ranges READ_CONFIG reports, the SGL posted for each XRI, and what the
//! registration commands recorded (FCFI with its receive filters, VFI/VPI,
//! RPIs). Ids are chosen by the driver inside [base, base + count); the model
//! checks them.

use std::collections::BTreeMap;

use ufc_hba::sli4::cmds::fcfi::RqFilter;

/// One resource range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// First id.
    pub base: u16,
    /// Number of ids.
    pub count: u16,
}

impl Range {
    /// A range of `count` ids from `base`.
    pub const fn new(base: u16, count: u16) -> Range {
        Range { base, count }
    }

    /// True when `id` is in the range.
    pub fn contains(&self, id: u32) -> bool {
        id >= u32::from(self.base) && id < u32::from(self.base) + u32::from(self.count)
    }

    /// Position of `id` in the range.
    pub fn offset(&self, id: u32) -> Option<usize> {
        self.contains(id)
            .then(|| (id - u32::from(self.base)) as usize)
    }
}

/// Resource counts the port reports in READ_CONFIG (model values: the counts
/// of real G6/G7 functions were not found).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceConfig {
    /// Exchange ids.
    pub xri: Range,
    /// Remote port ids.
    pub rpi: Range,
    /// Virtual port ids.
    pub vpi: Range,
    /// Virtual fabric ids.
    pub vfi: Range,
    /// FCF indices (REG_FCFI registrations).
    pub fcfi_count: u16,
    /// Event queues.
    pub eq_count: u16,
    /// Completion queues.
    pub cq_count: u16,
    /// Work queues.
    pub wq_count: u16,
    /// Receive queues.
    pub rq_count: u16,
    /// Mailbox queues.
    pub mq_count: u16,
}

impl Default for ResourceConfig {
    /// Non-zero bases so that a driver that assumes 0 is caught.
    fn default() -> Self {
        ResourceConfig {
            xri: Range::new(0x0080, 1024),
            rpi: Range::new(0x0010, 256),
            vpi: Range::new(0x0004, 16),
            vfi: Range::new(0x0002, 16),
            fcfi_count: 4,
            eq_count: 32,
            cq_count: 64,
            wq_count: 64,
            rq_count: 16,
            mq_count: 1,
        }
    }
}

/// The pages of one XRI's SGL (FCOE_POST_SGL_PAGES).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sgl {
    pub(crate) page0: u64,
    /// Second page, 0 when the SGL fits 4 KiB.
    pub(crate) page1: u64,
}

/// A registered FCFI: the receive filters of REG_FCFI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fcfi {
    pub(crate) rq_ids: [u16; 4],
    pub(crate) filters: [RqFilter; 4],
}

impl Fcfi {
    /// The header RQ for a frame: the first slot whose filter matches (slots
    /// are evaluated in order 0..3, sli4.md §3.4).
    pub(crate) fn route(&self, r_ctl: u8, fc_type: u8) -> Option<u16> {
        self.rq_ids
            .iter()
            .zip(self.filters.iter())
            .find(|(id, f)| **id != 0xFFFF && f.matches(r_ctl, fc_type))
            .map(|(id, _)| *id)
    }
}

/// A registered remote port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RemotePort {
    pub(crate) d_id: u32,
    pub(crate) vpi: u16,
}

/// A registered VFI (REG_VFI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Vfi {
    pub(crate) fcfi: u16,
    pub(crate) vpi: u16,
    pub(crate) n_port_id: u32,
}

/// Everything the registration commands recorded.
#[derive(Debug)]
pub(crate) struct Resources {
    pub(crate) cfg: ResourceConfig,
    /// SGL per XRI, indexed by XRI - base.
    pub(crate) sgls: Vec<Option<Sgl>>,
    pub(crate) fcfis: BTreeMap<u16, Fcfi>,
    /// VFIs initialised by INIT_VFI (and VPIs by INIT_VFI.VP / INIT_VPI).
    pub(crate) vfis_init: BTreeMap<u16, u16>,
    pub(crate) vpis_init: Vec<u16>,
    pub(crate) vfis: BTreeMap<u16, Vfi>,
    /// VPIs registered (by REG_VFI.VP or REG_VPI) → their N_Port ID.
    pub(crate) vpis: BTreeMap<u16, u32>,
    pub(crate) rpis: BTreeMap<u16, RemotePort>,
}

impl Resources {
    pub(crate) fn new(cfg: ResourceConfig) -> Resources {
        Resources {
            cfg,
            sgls: vec![None; usize::from(cfg.xri.count)],
            fcfis: BTreeMap::new(),
            vfis_init: BTreeMap::new(),
            vpis_init: Vec::new(),
            vfis: BTreeMap::new(),
            vpis: BTreeMap::new(),
            rpis: BTreeMap::new(),
        }
    }

    /// The SGL posted for `xri`.
    pub(crate) fn sgl(&self, xri: u16) -> Option<Sgl> {
        let i = self.cfg.xri.offset(xri.into())?;
        self.sgls.get(i).copied().flatten()
    }

    /// Unregisters every RPI of `vpi`.
    pub(crate) fn unreg_rpis_of_vpi(&mut self, vpi: u16) {
        self.rpis.retain(|_, r| r.vpi != vpi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_routes() {
        let r = Range::new(0x80, 4);
        assert!(r.contains(0x83) && !r.contains(0x84) && !r.contains(0x7F));
        assert_eq!(r.offset(0x81), Some(1));
        let any = RqFilter::default();
        let els_only = RqFilter {
            r_ctl_mask: 0xFF,
            r_ctl_match: 0x22,
            type_mask: 0xFF,
            type_match: 0x01,
        };
        let f = Fcfi {
            rq_ids: [4, 0, 0xFFFF, 0xFFFF],
            filters: [els_only, any, any, any],
        };
        assert_eq!(f.route(0x22, 0x01), Some(4));
        assert_eq!(f.route(0x32, 0x28), Some(0));
        let none = Fcfi {
            rq_ids: [0xFFFF; 4],
            filters: [any; 4],
        };
        assert_eq!(none.route(0x22, 0x01), None);
    }
}
