//! Arithmetic over the numeric element types (f32 and the plain integers).

use crate::ir::BinaryKind;
use ndarray::{Array2, ArrayView2};
use std::fmt::Debug;

/// A numeric element type. Integer arithmetic wraps like ONNX Runtime's; integer division
/// truncates toward zero.
pub(super) trait Num: Copy + PartialOrd + Debug + Default + Send + Sync + 'static {
    /// The smallest value (`-inf` for floats).
    const LOWEST: Self;
    /// The largest value (`+inf` for floats).
    const HIGHEST: Self;
    /// Whether this is a floating-point type.
    const FLOAT: bool;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    /// `None` for an integer division by zero.
    fn div(self, o: Self) -> Option<Self>;
    /// Maximum; NaN if either operand is NaN.
    fn max_nan(self, o: Self) -> Self;
    /// Minimum; NaN if either operand is NaN.
    fn min_nan(self, o: Self) -> Self;
    /// Conversion from an element count (for means), saturating.
    fn from_usize(n: usize) -> Self;
    /// Conversion from f32, saturating (NaN gives 0 for integers).
    fn from_f32_sat(x: f32) -> Self;
    /// `self` to the power `o`; `None` for a negative integer exponent.
    fn pow(self, o: Self) -> Option<Self>;
    /// Remainder with the dividend's sign (`fmod`) or the divisor's; `None` for an
    /// integer division by zero.
    fn rem(self, o: Self, fmod: bool) -> Option<Self>;
    /// A bitwise op or shift ([`BinaryKind::BitAnd`] to [`BinaryKind::ShiftRight`]);
    /// `None` for floats.
    fn bits(self, o: Self, kind: BinaryKind) -> Option<Self>;

    /// The matrix product `a @ b` (inner dimensions already checked).
    fn matmul(a: ArrayView2<'_, Self>, b: ArrayView2<'_, Self>) -> Array2<Self> {
        let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
        let mut out = Array2::<Self>::default((m, n));
        for i in 0..m {
            for p in 0..k {
                let av = a[[i, p]];
                for j in 0..n {
                    out[[i, j]] = out[[i, j]].add(av.mul(b[[p, j]]));
                }
            }
        }
        out
    }
}

macro_rules! int_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            const LOWEST: Self = <$t>::MIN;
            const HIGHEST: Self = <$t>::MAX;
            const FLOAT: bool = false;
            fn add(self, o: Self) -> Self { self.wrapping_add(o) }
            fn sub(self, o: Self) -> Self { self.wrapping_sub(o) }
            fn mul(self, o: Self) -> Self { self.wrapping_mul(o) }
            fn div(self, o: Self) -> Option<Self> {
                if o == 0 { None } else { Some(self.wrapping_div(o)) }
            }
            fn max_nan(self, o: Self) -> Self { Ord::max(self, o) }
            fn min_nan(self, o: Self) -> Self { Ord::min(self, o) }
            fn from_usize(n: usize) -> Self { <$t>::try_from(n).unwrap_or(<$t>::MAX) }
            fn from_f32_sat(x: f32) -> Self { x as $t }
            fn pow(self, o: Self) -> Option<Self> {
                let e = o as i128;
                (e >= 0).then(|| self.wrapping_pow(u32::try_from(e).unwrap_or(u32::MAX)))
            }
            fn rem(self, o: Self, fmod: bool) -> Option<Self> {
                if o == 0 {
                    return None;
                }
                let r = self.wrapping_rem(o);
                let flip = !fmod && r != 0 && ((r as i128) < 0) != ((o as i128) < 0);
                Some(if flip { r.wrapping_add(o) } else { r })
            }
            fn bits(self, o: Self, kind: BinaryKind) -> Option<Self> {
                let shift = u32::try_from(o as i128).ok().filter(|&s| s < <$t>::BITS);
                Some(match kind {
                    BinaryKind::BitAnd => self & o,
                    BinaryKind::BitOr => self | o,
                    BinaryKind::BitXor => self ^ o,
                    BinaryKind::ShiftLeft => shift.map_or(0, |s| self << s),
                    // Signed values shift arithmetically: past the width only the sign
                    // is left.
                    BinaryKind::ShiftRight => match shift {
                        Some(s) => self >> s,
                        None if (self as i128) < 0 => !0,
                        None => 0,
                    },
                    _ => return None,
                })
            }
        }
    )*};
}

int_num!(i8, u8, i16, i32, i64, u16, u32, u64);

impl Num for f32 {
    const LOWEST: Self = f32::NEG_INFINITY;
    const HIGHEST: Self = f32::INFINITY;
    const FLOAT: bool = true;
    fn add(self, o: Self) -> Self {
        self + o
    }
    fn sub(self, o: Self) -> Self {
        self - o
    }
    fn mul(self, o: Self) -> Self {
        self * o
    }
    fn div(self, o: Self) -> Option<Self> {
        Some(self / o)
    }
    fn max_nan(self, o: Self) -> Self {
        if self.is_nan() || o.is_nan() {
            f32::NAN
        } else {
            self.max(o)
        }
    }
    fn min_nan(self, o: Self) -> Self {
        if self.is_nan() || o.is_nan() {
            f32::NAN
        } else {
            self.min(o)
        }
    }
    fn from_usize(n: usize) -> Self {
        n as f32
    }
    fn from_f32_sat(x: f32) -> Self {
        x
    }
    fn pow(self, o: Self) -> Option<Self> {
        Some(self.powf(o))
    }
    fn rem(self, o: Self, fmod: bool) -> Option<Self> {
        let r = self % o;
        let flip = !fmod && r != 0.0 && (r < 0.0) != (o < 0.0);
        Some(if flip { r + o } else { r })
    }
    fn bits(self, _: Self, _: BinaryKind) -> Option<Self> {
        None
    }
    fn matmul(a: ArrayView2<'_, Self>, b: ArrayView2<'_, Self>) -> Array2<Self> {
        a.dot(&b)
    }
}
