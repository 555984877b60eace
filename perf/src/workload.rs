//! Where the next I/O goes: sequential, random covering every unit once per pass
//! (fio's random map, here a full-period LCG walk that needs no memory), or
//! uniformly random (`--norandommap`).

/// xorshift64*: fast, good enough for offsets and the read/write mix.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator; seed 0 is replaced by a fixed odd constant.
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (multiply-high, no division); 0 when `n` is 0.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// The unit sequence of one job.
#[derive(Clone, Debug)]
pub enum Offsets {
    /// 0, 1, 2, … wrapping at the end.
    Sequential {
        /// Next unit.
        next: u64,
        /// Units in the region.
        units: u64,
    },
    /// A permutation of `0..units` per pass: x ← a·x + c mod 2^k (full period
    /// by Hull–Dobell: c odd, a ≡ 1 mod 4), values ≥ units skipped.
    RandomMap {
        /// LCG state.
        x: u64,
        /// Odd increment.
        c: u64,
        /// 2^k − 1 with 2^k ≥ units.
        mask: u64,
        /// Units in the region.
        units: u64,
    },
    /// Independent uniform draws.
    Uniform {
        /// Units in the region.
        units: u64,
    },
}

/// Multiplier ≡ 1 mod 4 (Knuth's MMIX constant).
const LCG_A: u64 = 6_364_136_223_846_793_005;

impl Offsets {
    /// The generator for `units` units (at least 1).
    pub fn new(random: bool, norandommap: bool, units: u64, rng: &mut Rng) -> Self {
        let units = units.max(1);
        match (random, norandommap) {
            (false, _) => Offsets::Sequential { next: 0, units },
            (true, true) => Offsets::Uniform { units },
            (true, false) => {
                let mask = units.next_power_of_two().wrapping_sub(1);
                Offsets::RandomMap {
                    x: rng.next_u64() & mask,
                    c: rng.next_u64() | 1,
                    mask,
                    units,
                }
            }
        }
    }

    /// Next unit index.
    #[inline]
    pub fn next(&mut self, rng: &mut Rng) -> u64 {
        match self {
            Offsets::Sequential { next, units } => {
                let u = *next;
                *next = if u + 1 >= *units { 0 } else { u + 1 };
                u
            }
            Offsets::RandomMap { x, c, mask, units } => loop {
                *x = x.wrapping_mul(LCG_A).wrapping_add(*c) & *mask;
                if *x < *units {
                    return *x;
                }
            },
            Offsets::Uniform { units } => rng.below(*units),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_wraps() {
        let mut r = Rng::new(1);
        let mut o = Offsets::new(false, false, 3, &mut r);
        let v: Vec<u64> = (0..7).map(|_| o.next(&mut r)).collect();
        assert_eq!(v, vec![0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn random_map_covers_every_unit_once_per_pass() {
        for units in [1u64, 2, 5, 1000, 1 << 12] {
            let mut r = Rng::new(units);
            let mut o = Offsets::new(true, false, units, &mut r);
            let mut seen = vec![0u32; units as usize];
            for _ in 0..units {
                seen[o.next(&mut r) as usize] += 1;
            }
            assert!(seen.iter().all(|&n| n == 1), "units {units}");
        }
    }

    #[test]
    fn uniform_stays_in_range() {
        let mut r = Rng::new(7);
        let mut o = Offsets::new(true, true, 10, &mut r);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            seen[o.next(&mut r) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
