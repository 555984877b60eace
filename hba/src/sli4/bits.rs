//! Bit-field helpers for the little-endian dwords of SLI-4 structures.
//!
//! SLI-4 documents every field as "dword n, bits a-b" (sli4.md §0). Structures
//! keep whole dwords as `U32<LittleEndian>` (or `u32` for registers) and the
//! [`bitfields!`] macro generates a getter and a setter per field, so a field's
//! position is written once, next to its doc comment.

use zerocopy::byteorder::{LittleEndian, U32};

/// A 32-bit word that bit fields live in.
pub trait Word {
    /// The value.
    fn load(&self) -> u32;
    /// Replaces the value.
    fn store(&mut self, v: u32);
}

impl Word for U32<LittleEndian> {
    #[inline]
    fn load(&self) -> u32 {
        self.get()
    }
    #[inline]
    fn store(&mut self, v: u32) {
        self.set(v)
    }
}

impl Word for u32 {
    #[inline]
    fn load(&self) -> u32 {
        *self
    }
    #[inline]
    fn store(&mut self, v: u32) {
        *self = v
    }
}

/// Mask of `width` low bits (`width` ≤ 32).
#[inline]
pub const fn mask(width: u32) -> u32 {
    if width >= 32 {
        u32::MAX
    } else {
        (1 << width) - 1
    }
}

/// Bits `lo .. lo + width` of `w`.
#[inline]
pub const fn get(w: u32, lo: u32, width: u32) -> u32 {
    (w >> lo) & mask(width)
}

/// `w` with bits `lo .. lo + width` replaced by `v` (masked to `width`).
#[inline]
pub const fn set(w: u32, lo: u32, width: u32, v: u32) -> u32 {
    let m = mask(width) << lo;
    (w & !m) | ((v << lo) & m)
}

/// Generates accessors inside an `impl` block.
///
/// `name / set_name : field[lo; width];` makes `name() -> u32` and
/// `set_name(u32)` over bits `lo .. lo+width` of `self.field`;
/// `name / set_name : field[bit];` makes `name() -> bool` and `set_name(bool)`.
macro_rules! bitfields {
    () => {};
    ($(#[$d:meta])* $get:ident / $set:ident : $f:tt [$lo:literal ; $w:literal]; $($rest:tt)*) => {
        $(#[$d])*
        #[inline]
        pub fn $get(&self) -> u32 {
            $crate::sli4::bits::get($crate::sli4::bits::Word::load(&self.$f), $lo, $w)
        }
        #[doc = concat!("Sets [`Self::", stringify!($get), "`]; the value is masked to ", stringify!($w), " bits.")]
        #[inline]
        pub fn $set(&mut self, v: u32) {
            let w = $crate::sli4::bits::Word::load(&self.$f);
            $crate::sli4::bits::Word::store(&mut self.$f, $crate::sli4::bits::set(w, $lo, $w, v));
        }
        bitfields!($($rest)*);
    };
    ($(#[$d:meta])* $get:ident / $set:ident : $f:tt [$bit:literal]; $($rest:tt)*) => {
        $(#[$d])*
        #[inline]
        pub fn $get(&self) -> bool {
            $crate::sli4::bits::get($crate::sli4::bits::Word::load(&self.$f), $bit, 1) != 0
        }
        #[doc = concat!("Sets [`Self::", stringify!($get), "`].")]
        #[inline]
        pub fn $set(&mut self, v: bool) {
            let w = $crate::sli4::bits::Word::load(&self.$f);
            $crate::sli4::bits::Word::store(&mut self.$f, $crate::sli4::bits::set(w, $bit, 1, v as u32));
        }
        bitfields!($($rest)*);
    };
}
pub(crate) use bitfields;

/// Little-endian dword type used by every SLI-4 structure.
pub type Le32 = U32<LittleEndian>;

/// Builds a [`Le32`].
#[inline]
pub const fn le32(v: u32) -> Le32 {
    U32::from_bytes(v.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn get_set() {
        assert_eq!(get(0xC000_6D40, 29, 3), 6);
        assert_eq!(get(0xC000_6D40, 12, 4), 6);
        assert_eq!(set(0, 16, 13, 0xFFFF), 0x1FFF_0000);
        assert_eq!(set(u32::MAX, 0, 32, 5), 5);
        assert_eq!(mask(32), u32::MAX);
    }

    proptest! {
        #[test]
        fn set_then_get(w: u32, lo in 0u32..32, width in 1u32..=32, v: u32) {
            let width = width.min(32 - lo);
            let s = set(w, lo, width, v);
            prop_assert_eq!(get(s, lo, width), v & mask(width));
            // Bits outside the field are untouched.
            let m = mask(width) << lo;
            prop_assert_eq!(s & !m, w & !m);
        }
    }
}
