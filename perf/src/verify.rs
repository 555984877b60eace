//! Tagged blocks for `--verify`: every written I/O unit starts with a header
//! (magic, checksum, LBA, generation, job) and is filled with a pattern derived
//! from (LBA, generation); every read of a unit this run wrote is checked.
//!
//! `crc32c` checks the header and a CRC-32C (Castagnoli, as fio's `crc32c`) over
//! the whole unit; `pattern` checks the header and compares every byte with the
//! regenerated pattern.

/// Bytes of the header at the start of every unit.
pub const HEADER_LEN: usize = 32;
/// "UFCV", little-endian.
const MAGIC: u32 = 0x5643_4655;

/// What `--verify` checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyKind {
    /// Header plus CRC-32C of the unit.
    Crc32c,
    /// Header plus a byte-for-byte comparison with the pattern.
    Pattern,
}

/// Parses `--verify crc32c|pattern` (fio names; `md5` & co. are not offered).
pub fn parse_kind(s: &str) -> Result<VerifyKind, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "crc32c" | "crc32c-intel" => Ok(VerifyKind::Crc32c),
        "pattern" => Ok(VerifyKind::Pattern),
        _ => Err(format!(
            "'{s}' is not a verify method; expected crc32c or pattern"
        )),
    }
}

/// Why a read did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// No header where this run wrote one.
    #[error("no verify header (magic {found:#010x})")]
    Magic {
        /// What was found instead of the magic.
        found: u32,
    },
    /// The header belongs to another block.
    #[error("header names LBA {found}, expected {expected}")]
    Lba {
        /// In the header.
        found: u64,
        /// Read.
        expected: u64,
    },
    /// An older or newer write.
    #[error("header has generation {found}, expected {expected}")]
    Generation {
        /// In the header.
        found: u64,
        /// Last written.
        expected: u64,
    },
    /// Data changed.
    #[error("checksum {found:#010x}, computed {computed:#010x}")]
    Crc {
        /// In the header.
        found: u32,
        /// Over the data read.
        computed: u32,
    },
    /// Data differs from the pattern.
    #[error("data differs from the pattern at byte {offset}")]
    Data {
        /// First differing byte.
        offset: usize,
    },
}

const CRC32C_TABLE: [u32; 256] = crc32c_table();

const fn crc32c_table() -> [u32; 256] {
    // Reflected Castagnoli polynomial.
    const POLY: u32 = 0x82F6_3B78;
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// CRC-32C of `data`, continuing from `crc` (0 to start).
pub fn crc32c(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c = CRC32C_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

fn crc_of_unit(unit: &[u8]) -> u32 {
    // The checksum field (bytes 4..8) counts as zero.
    let c = crc32c(0, &unit[..4]);
    let c = crc32c(c, &[0; 4]);
    crc32c(c, &unit[8..])
}

/// The pattern of (LBA, generation): xorshift64 words, little-endian.
struct PatternWords(u64);

impl PatternWords {
    fn new(lba: u64, generation: u64) -> Self {
        PatternWords((lba ^ generation.rotate_left(40)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_bytes(&mut self) -> [u8; 8] {
        let x = &mut self.0;
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        x.to_le_bytes()
    }
}

fn fill_pattern(body: &mut [u8], lba: u64, generation: u64) {
    let mut words = PatternWords::new(lba, generation);
    for chunk in body.chunks_mut(8) {
        let bytes = words.next_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

/// Offset in `body` of the first byte that differs from the pattern.
fn first_difference(body: &[u8], lba: u64, generation: u64) -> Option<usize> {
    let mut words = PatternWords::new(lba, generation);
    body.chunks(8).enumerate().find_map(|(i, chunk)| {
        let want = words.next_bytes();
        chunk
            .iter()
            .zip(want)
            .position(|(a, b)| *a != b)
            .map(|j| i * 8 + j)
    })
}

/// Fills `unit` (at least [`HEADER_LEN`] bytes) for a write of `lba`.
pub fn fill(unit: &mut [u8], lba: u64, generation: u64, job: u32) {
    fill_pattern(&mut unit[HEADER_LEN..], lba, generation);
    unit[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    unit[4..8].copy_from_slice(&[0; 4]);
    unit[8..16].copy_from_slice(&lba.to_le_bytes());
    unit[16..24].copy_from_slice(&generation.to_le_bytes());
    unit[24..28].copy_from_slice(&job.to_le_bytes());
    let len = u32::try_from(unit.len()).unwrap_or(u32::MAX);
    unit[28..32].copy_from_slice(&len.to_le_bytes());
    let crc = crc_of_unit(unit);
    unit[4..8].copy_from_slice(&crc.to_le_bytes());
}

fn le32(b: &[u8]) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Checks a unit read from `lba`, last written with `generation`.
pub fn check(unit: &[u8], lba: u64, generation: u64, kind: VerifyKind) -> Result<(), Mismatch> {
    if unit.len() < HEADER_LEN {
        return Err(Mismatch::Magic { found: 0 });
    }
    let magic = le32(&unit[0..]);
    if magic != MAGIC {
        return Err(Mismatch::Magic { found: magic });
    }
    let found = le64(&unit[8..]);
    if found != lba {
        return Err(Mismatch::Lba {
            found,
            expected: lba,
        });
    }
    let found = le64(&unit[16..]);
    if found != generation {
        return Err(Mismatch::Generation {
            found,
            expected: generation,
        });
    }
    match kind {
        VerifyKind::Crc32c => {
            let (found, computed) = (le32(&unit[4..]), crc_of_unit(unit));
            if found != computed {
                return Err(Mismatch::Crc { found, computed });
            }
        }
        VerifyKind::Pattern => {
            if let Some(i) = first_difference(&unit[HEADER_LEN..], lba, generation) {
                return Err(Mismatch::Data {
                    offset: HEADER_LEN + i,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_known_answer() {
        // RFC 3720 appendix B.4: 32 bytes of zeros.
        assert_eq!(crc32c(0, &[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(0, b"123456789"), 0xE306_9283);
    }

    #[test]
    fn round_trip_and_each_mismatch() {
        for kind in [VerifyKind::Crc32c, VerifyKind::Pattern] {
            let mut u = vec![0u8; 4096];
            fill(&mut u, 77, 3, 1);
            assert_eq!(check(&u, 77, 3, kind), Ok(()));
            assert_eq!(
                check(&u, 78, 3, kind),
                Err(Mismatch::Lba {
                    found: 77,
                    expected: 78
                })
            );
            assert!(matches!(
                check(&u, 77, 4, kind),
                Err(Mismatch::Generation { .. })
            ));
            u[1000] ^= 1;
            let e = check(&u, 77, 3, kind).unwrap_err();
            match kind {
                VerifyKind::Crc32c => assert!(matches!(e, Mismatch::Crc { .. })),
                VerifyKind::Pattern => assert_eq!(e, Mismatch::Data { offset: 1000 }),
            }
            assert!(matches!(
                check(&[0u8; 512], 0, 1, kind),
                Err(Mismatch::Magic { found: 0 })
            ));
            assert!(
                check(&[0u8; 8], 0, 1, kind).is_err(),
                "short units never panic"
            );
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(parse_kind("crc32c"), Ok(VerifyKind::Crc32c));
        assert_eq!(parse_kind("Pattern"), Ok(VerifyKind::Pattern));
        assert!(parse_kind("md5").unwrap_err().contains("crc32c or pattern"));
    }
}
