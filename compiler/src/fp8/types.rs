//! `F8E4M3` and `F8E5M2`: one FP8 number each, stored as its raw bits.

use super::format::{Fp8Format, Saturation};
use rand::Rng;
use std::fmt;

macro_rules! fp8_type {
    ($(#[$doc:meta])* $name:ident, $format:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(u8);

        impl $name {
            /// The format of this type.
            pub const FORMAT: Fp8Format = $format;

            /// The number with these bits.
            pub const fn from_bits(bits: u8) -> Self {
                $name(bits)
            }

            /// The raw bits.
            pub const fn to_bits(self) -> u8 {
                self.0
            }

            /// Round to nearest even without saturation (ml_dtypes' `astype`): values past
            /// the largest finite one overflow to infinity or NaN.
            pub fn from_f32(x: f32) -> Self {
                Self::from_f32_with(x, Saturation::NonSaturating)
            }

            /// Round to nearest even, clamping overflow (and infinity) to ± the largest
            /// finite value.
            pub fn from_f32_saturating(x: f32) -> Self {
                Self::from_f32_with(x, Saturation::Saturate)
            }

            /// Round to nearest even with the given overflow behaviour.
            pub fn from_f32_with(x: f32, saturation: Saturation) -> Self {
                $name(Self::FORMAT.encode(x, saturation))
            }

            /// Unbiased stochastic rounding to one of the two neighbouring values.
            pub fn from_f32_stochastic(x: f32, rng: &mut impl Rng, saturation: Saturation) -> Self {
                $name(Self::FORMAT.encode_stochastic(x, rng, saturation))
            }

            /// The exact value as f32.
            pub fn to_f32(self) -> f32 {
                Self::FORMAT.decode(self.0)
            }

            /// Whether this is a NaN.
            pub fn is_nan(self) -> bool {
                self.to_f32().is_nan()
            }
        }

        impl From<$name> for f32 {
            fn from(x: $name) -> f32 {
                x.to_f32()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:#04x} = {})", stringify!($name), self.0, self.to_f32())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.to_f32(), f)
            }
        }
    };
}

fp8_type!(
    /// FP8 E4M3 ("fn" variant): 4 exponent bits, 3 mantissa bits, no infinities,
    /// NaN = `S.1111.111`, finite range ±448.
    F8E4M3,
    Fp8Format::E4M3
);

fp8_type!(
    /// FP8 E5M2: 5 exponent bits, 2 mantissa bits, IEEE-like infinities and NaNs, finite
    /// range ±57344.
    F8E5M2,
    Fp8Format::E5M2
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_follows_the_saturation_flag() {
        assert!(F8E4M3::from_f32(500.0).is_nan());
        assert_eq!(F8E4M3::from_f32_saturating(500.0).to_f32(), 448.0);
        assert_eq!(F8E5M2::from_f32(-1e9).to_f32(), f32::NEG_INFINITY);
        assert_eq!(F8E5M2::from_f32_saturating(-1e9).to_f32(), -57344.0);
        assert_eq!(f32::from(F8E4M3::from_bits(0x01)), 2f32.powi(-9));
        assert_eq!(format!("{:?}", F8E4M3::from_f32(1.0)), "F8E4M3(0x38 = 1)");
    }
}
