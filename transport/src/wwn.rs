//! World Wide Names and the FC transport address strings built from them.
//!
//! Linux accepts `nn-0x<16 hex>:pn-0x<16 hex>` or the same without `0x`
//! (`include/linux/nvme-fc.h`, `nvme_fc_parse_traddr`); FC-NVME-2 requires the
//! `0x`. We accept both in any case and always print zero-padded with `0x`
//! (style-ecosystem.md §0.8).

use std::fmt;
use std::str::FromStr;

/// A 64-bit World Wide Name (WWNN or WWPN).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Wwn(pub u64);

/// Why a WWN or an FC address string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WwnError {
    /// Not exactly 16 hex digits (after an optional `0x`).
    #[error("bad WWN '{0}': expected 16 hex digits, optionally prefixed by 0x (e.g. 0x20000090fa942779)")]
    BadWwn(String),
    /// The address is not of the form `nn-…:pn-…`.
    #[error("bad FC address '{0}': expected nn-0x<16 hex>:pn-0x<16 hex> (e.g. nn-0x20000090fa942779:pn-0x10000090fa942779)")]
    BadAddr(String),
}

impl Wwn {
    /// Parses 16 hex digits, with or without a `0x`/`0X` prefix.
    pub fn parse(s: &str) -> Result<Self, WwnError> {
        let digits = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        if digits.len() != 16 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(WwnError::BadWwn(s.to_owned()));
        }
        u64::from_str_radix(digits, 16)
            .map(Wwn)
            .map_err(|_| WwnError::BadWwn(s.to_owned()))
    }
}

impl fmt::Display for Wwn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:016x}", self.0)
    }
}

impl fmt::Debug for Wwn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Wwn {
    type Err = WwnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Wwn::parse(s)
    }
}

/// An FC port address: node name and port name, as in `traddr`/`host_traddr`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct FcAddr {
    /// World Wide Node Name.
    pub wwnn: Wwn,
    /// World Wide Port Name.
    pub wwpn: Wwn,
}

impl FcAddr {
    /// Parses `nn-0x…:pn-0x…` (the `0x` is optional, case is free).
    pub fn parse(s: &str) -> Result<Self, WwnError> {
        let bad = || WwnError::BadAddr(s.to_owned());
        let (nn, pn) = s.split_once(':').ok_or_else(bad)?;
        let nn = strip_prefix_ci(nn, "nn-").ok_or_else(bad)?;
        let pn = strip_prefix_ci(pn, "pn-").ok_or_else(bad)?;
        Ok(FcAddr {
            wwnn: Wwn::parse(nn).map_err(|_| bad())?,
            wwpn: Wwn::parse(pn).map_err(|_| bad())?,
        })
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

impl fmt::Display for FcAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nn-{}:pn-{}", self.wwnn, self.wwpn)
    }
}

impl FromStr for FcAddr {
    type Err = WwnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FcAddr::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_linux_and_spdk_forms() {
        let a = FcAddr::parse("nn-0x20000090FA942779:pn-0x10000090fa942779").unwrap();
        assert_eq!(a.wwnn, Wwn(0x2000_0090_fa94_2779));
        assert_eq!(a.wwpn, Wwn(0x1000_0090_fa94_2779));
        let b = FcAddr::parse("NN-20000090fa942779:PN-10000090fa942779").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "nn-0x20000090fa942779:pn-0x10000090fa942779");
    }

    #[test]
    fn refuses_short_and_unpadded() {
        assert!(Wwn::parse("0x1234").is_err());
        assert!(FcAddr::parse("nn-0x1:pn-0x2").is_err());
        assert!(FcAddr::parse("pn-0x20000090fa942779:nn-0x10000090fa942779").is_err());
        let e = FcAddr::parse("garbage").unwrap_err().to_string();
        assert!(e.contains("nn-0x<16 hex>:pn-0x<16 hex>"), "{e}");
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(nn: u64, pn: u64) {
            let a = FcAddr { wwnn: Wwn(nn), wwpn: Wwn(pn) };
            prop_assert_eq!(FcAddr::parse(&a.to_string()).unwrap(), a);
        }

        #[test]
        fn arbitrary_strings_never_panic(s in ".{0,48}") {
            let _ = FcAddr::parse(&s);
            let _ = Wwn::parse(&s);
        }
    }
}
