//! PCI addresses (domain:bus:device.function), as sysfs spells them.

use std::fmt;
use std::str::FromStr;

use crate::error::DeviceError;

/// A PCI function address. Displays as `0000:3b:00.0`, the form sysfs uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PciAddress {
    /// PCI segment (domain).
    pub domain: u16,
    /// Bus number.
    pub bus: u8,
    /// Device number, 0..32.
    pub device: u8,
    /// Function number, 0..8.
    pub function: u8,
}

impl PciAddress {
    /// Parses `DDDD:BB:DD.F` or the short `BB:DD.F` (domain 0), hex digits.
    pub fn parse(input: &str) -> Result<Self, DeviceError> {
        let bad = |reason| DeviceError::BadAddress {
            input: input.to_owned(),
            reason,
        };
        let (head, function) = input
            .rsplit_once('.')
            .ok_or_else(|| bad("missing '.' before the function number"))?;
        let parts: Vec<&str> = head.split(':').collect();
        let (domain, bus, device) = match parts.as_slice() {
            [d, b, s] => (*d, *b, *s),
            [b, s] => ("0", *b, *s),
            _ => return Err(bad("expected two or three ':'-separated fields")),
        };
        let field = |text: &str, max_digits: usize, what| {
            if text.is_empty() || text.len() > max_digits {
                return Err(bad(what));
            }
            u32::from_str_radix(text, 16).map_err(|_| bad(what))
        };
        let domain = field(domain, 4, "domain must be 1-4 hex digits")?;
        let bus = field(bus, 2, "bus must be 1-2 hex digits")?;
        let device = field(device, 2, "device must be 1-2 hex digits")?;
        let function = field(function, 1, "function must be one digit 0-7")?;
        if device >= 32 {
            return Err(bad("device number must be below 0x20"));
        }
        if function >= 8 {
            return Err(bad("function number must be 0-7"));
        }
        // Each value was range-limited by its digit count or the checks above.
        Ok(PciAddress {
            domain: domain as u16,
            bus: bus as u8,
            device: device as u8,
            function: function as u8,
        })
    }
}

impl FromStr for PciAddress {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PciAddress::parse(s)
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_long_and_short_forms() {
        let a = PciAddress::parse("0000:3b:00.0").unwrap();
        assert_eq!(a, PciAddress::parse("3b:00.0").unwrap());
        assert_eq!(a.to_string(), "0000:3b:00.0");
        let b = PciAddress::parse("abcd:FF:1f.7").unwrap();
        assert_eq!(b.to_string(), "abcd:ff:1f.7");
    }

    #[test]
    fn rejects_malformed_with_reason() {
        for (input, reason) in [
            ("3b:00", "missing '.'"),
            ("3b.0", "two or three"),
            ("0000:3b:20.0", "below 0x20"),
            ("0000:3b:00.8", "0-7"),
            ("00000:3b:00.0", "domain"),
            ("0000:3g:00.0", "bus"),
            ("1:2:3:4.0", "two or three"),
        ] {
            let msg = PciAddress::parse(input).unwrap_err().to_string();
            assert!(msg.contains("malformed PCI address"), "{msg}");
            assert!(msg.contains(reason), "{input}: {msg}");
            assert!(msg.contains(input), "{msg}");
        }
    }
}
