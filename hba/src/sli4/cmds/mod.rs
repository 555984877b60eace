//! Mailbox command payloads of the minimal initiator inventory (sli4.md §3.3,
//! §3.4, §3.5, §10).
//!
//! Native commands are 256-byte structs laid over the whole [`Mqe`] (dword 0 is
//! the MQE header), converted with `to_mqe` / `from_mqe`. SLI_CONFIG
//! sub-commands are structs of the payload after the 16-byte request header,
//! wrapped with [`super::sli_config::embed`] and read back with
//! [`super::sli_config::embedded_response`].
//!
//! [`Mqe`]: super::mbox::Mqe

/// Conversions between a native command struct and the [`super::mbox::Mqe`],
/// its constructor, and the size check.
macro_rules! native_cmd {
    ($name:ident, $code:expr) => {
        const _: () = assert!(core::mem::size_of::<$name>() == $crate::sli4::mbox::MQE_LEN);

        impl $name {
            /// A zeroed command carrying its command code.
            pub fn new() -> $name {
                let mut c = <$name as zerocopy::FromZeros>::new_zeroed();
                c.header = $crate::sli4::bits::le32(u32::from($code) << 8);
                c
            }

            /// As a plain MQE (to copy into the BMBX or the MQ).
            pub fn to_mqe(&self) -> $crate::sli4::mbox::Mqe {
                zerocopy::transmute!(*self)
            }

            /// Views an MQE (a response written by the port, or a request read
            /// by the device model) as this command.
            pub fn from_mqe(m: &$crate::sli4::mbox::Mqe) -> $name {
                zerocopy::transmute!(*m)
            }

            /// MQE status (bytes 2-3).
            pub fn status(&self) -> u16 {
                (self.header.get() >> 16) as u16
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name::new()
            }
        }
    };
}

/// Payload dword type of every command.
pub(crate) use super::bits::Le32;

pub mod cq_create;
pub mod eq_create;
pub mod fcfi;
pub mod get_sli4_params;
pub mod link;
pub mod mq_create;
pub mod post_sgl_pages;
pub mod queue_destroy;
pub mod read_config;
pub mod read_rev;
pub mod read_sparm64;
pub mod read_topology;
pub mod request_features;
pub mod rpi;
pub mod rq_create;
pub mod vfi;
pub mod wq_create;

/// A queue page address pair (low, high) as the create commands list them.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Default,
    zerocopy::FromBytes,
    zerocopy::IntoBytes,
    zerocopy::KnownLayout,
    zerocopy::Immutable,
)]
#[repr(C)]
pub struct PageAddr {
    /// Address low 32 bits.
    pub lo: Le32,
    /// Address high 32 bits.
    pub hi: Le32,
}

impl PageAddr {
    /// The pair for `addr`.
    pub fn new(addr: u64) -> PageAddr {
        PageAddr {
            lo: super::bits::le32(addr as u32),
            hi: super::bits::le32((addr >> 32) as u32),
        }
    }

    /// The address.
    pub fn addr(&self) -> u64 {
        u64::from(self.hi.get()) << 32 | u64::from(self.lo.get())
    }
}

/// Fills `dst` from `pages`; `None` if there are more pages than slots.
pub(crate) fn fill_pages(dst: &mut [PageAddr], pages: &[u64]) -> Option<()> {
    if pages.len() > dst.len() {
        return None;
    }
    for (d, &p) in dst.iter_mut().zip(pages) {
        *d = PageAddr::new(p);
    }
    Some(())
}
