//! The bootstrap mailbox (sli4.md §2.6): the driver writes the 16-byte
//! aligned address of a 272-byte region in two halves; the "lo" write starts
//! the MQE in it, which the port executes synchronously (or after the slow
//! mailbox delay), writing the response over the MQE and the MCQE at +256,
//! then raising RDY.

use ufc_hba::sli4::regs::Bmbx as BmbxReg;

use super::mailbox::MboxSource;
use super::Sli4Model;

/// The register's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bmbx {
    /// Address bits 63-34 from the last "hi" write.
    pub(crate) hi: u64,
    /// RDY: the last write was accepted / the command completed.
    pub(crate) rdy: bool,
}

impl Default for Bmbx {
    fn default() -> Self {
        Bmbx { hi: 0, rdy: true }
    }
}

impl Sli4Model {
    /// A read of the BMBX register: RDY in bit 0, while the port is ready.
    pub(crate) fn bmbx_read(&self) -> u32 {
        let mut v = BmbxReg::default();
        v.set_rdy(self.regs.is_ready() && self.bmbx.rdy);
        v.0
    }

    /// A write of the BMBX register.
    pub(crate) fn bmbx_write(&mut self, value: u32) {
        if !self.regs.is_ready() {
            log::debug!("sli4 model: BMBX write {value:#x} while the port is not ready; ignored");
            return;
        }
        if !self.bmbx.rdy {
            log::warn!("sli4 model: BMBX write {value:#x} while a command runs; ignored");
            return;
        }
        let w = BmbxReg(value);
        if w.hi() {
            self.bmbx.hi = w.address_part();
            return;
        }
        let addr = self.bmbx.hi | w.address_part();
        self.bmbx.rdy = false;
        self.submit_mailbox(MboxSource::Bmbx { addr });
    }
}
