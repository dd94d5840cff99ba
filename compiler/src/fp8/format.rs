//! The two FP8 formats: their parameters and scalar conversions from and to f32.

use crate::ir::DType;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// An FP8 format (`e4m3` or `e5m2` in options and JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fp8Format {
    /// 4 exponent bits (bias 7), 3 mantissa bits; no infinities; NaN is `S.1111.111`;
    /// largest finite value 448 (ONNX `FLOAT8E4M3FN`, ml_dtypes `float8_e4m3fn`).
    E4M3,
    /// 5 exponent bits (bias 15), 2 mantissa bits; IEEE-like with infinities and NaNs;
    /// largest finite value 57344 (ONNX `FLOAT8E5M2`, ml_dtypes `float8_e5m2`).
    E5M2,
}

/// What an encoding does with values beyond the largest finite one (including infinity).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Saturation {
    /// Clamp to ± the largest finite value (ONNX `Cast`/`QuantizeLinear` default).
    #[default]
    Saturate,
    /// IEEE overflow: infinity for E5M2, NaN for E4M3 (which has no infinity); this is
    /// ml_dtypes' `astype`.
    NonSaturating,
}

/// How an encoding rounds a value that lies between two codes.
#[derive(Clone, Copy)]
enum Rounding {
    NearestEven,
    /// Rounds up with probability equal to the distance from the lower neighbour, using
    /// these random bits.
    Stochastic(u64),
}

/// Format parameters used by the conversions.
struct Spec {
    mantissa_bits: u32,
    bias: i32,
    /// Largest finite magnitude code.
    max_code: u8,
    /// Magnitude code of the canonical NaN.
    nan_code: u8,
    /// Magnitude code of infinity, if the format has one.
    inf_code: Option<u8>,
}

const E4M3_SPEC: Spec = Spec {
    mantissa_bits: 3,
    bias: 7,
    max_code: 0x7e,
    nan_code: 0x7f,
    inf_code: None,
};

const E5M2_SPEC: Spec = Spec {
    mantissa_bits: 2,
    bias: 15,
    max_code: 0x7b,
    nan_code: 0x7e,
    inf_code: Some(0x7c),
};

/// The f32 bit pattern of a code (all 256 codes, computed in integers).
const fn decode_bits(s: &Spec, code: u8) -> u32 {
    let sign = ((code & 0x80) as u32) << 24;
    let mag = code & 0x7f;
    if mag > s.max_code {
        return match s.inf_code {
            Some(inf) if mag == inf => sign | 0x7f80_0000,
            _ => sign | 0x7fc0_0000,
        };
    }
    let m = (mag as u32) & ((1 << s.mantissa_bits) - 1);
    let e = (mag >> s.mantissa_bits) as i32;
    if e == 0 {
        if m == 0 {
            return sign;
        }
        // Subnormal: m * 2^(1 - bias - M); normalize on m's leading bit p.
        let p = 31 - m.leading_zeros();
        let exp = p as i32 + 1 - s.bias - s.mantissa_bits as i32 + 127;
        let frac = (m - (1 << p)) << (23 - p);
        return sign | ((exp as u32) << 23) | frac;
    }
    let exp = (e - s.bias + 127) as u32;
    sign | (exp << 23) | (m << (23 - s.mantissa_bits))
}

const fn decode_table(s: &Spec) -> [f32; 256] {
    let mut t = [0f32; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = f32::from_bits(decode_bits(s, i as u8));
        i += 1;
    }
    t
}

static E4M3_DECODE: [f32; 256] = decode_table(&E4M3_SPEC);
static E5M2_DECODE: [f32; 256] = decode_table(&E5M2_SPEC);

/// `value >> shift` rounded as `rounding` says (`shift` in 1..=63).
#[inline(always)]
fn shift_round(value: u64, shift: u32, rounding: Rounding) -> u64 {
    let mask = (1u64 << shift) - 1;
    match rounding {
        Rounding::NearestEven => (value + (mask >> 1) + ((value >> shift) & 1)) >> shift,
        Rounding::Stochastic(random) => (value + (random & mask)) >> shift,
    }
}

impl Fp8Format {
    /// Both formats.
    pub const ALL: [Fp8Format; 2] = [Fp8Format::E4M3, Fp8Format::E5M2];

    const fn spec(self) -> &'static Spec {
        match self {
            Fp8Format::E4M3 => &E4M3_SPEC,
            Fp8Format::E5M2 => &E5M2_SPEC,
        }
    }

    /// The format of an FP8 IR dtype.
    pub fn of(dtype: DType) -> Option<Fp8Format> {
        match dtype {
            DType::F8E4M3 => Some(Fp8Format::E4M3),
            DType::F8E5M2 => Some(Fp8Format::E5M2),
            _ => None,
        }
    }

    /// The IR dtype that stores this format.
    pub fn dtype(self) -> DType {
        match self {
            Fp8Format::E4M3 => DType::F8E4M3,
            Fp8Format::E5M2 => DType::F8E5M2,
        }
    }

    /// Short lowercase name (`e4m3`, `e5m2`).
    pub fn name(self) -> &'static str {
        match self {
            Fp8Format::E4M3 => "e4m3",
            Fp8Format::E5M2 => "e5m2",
        }
    }

    /// Number of explicit mantissa bits.
    pub fn mantissa_bits(self) -> u32 {
        self.spec().mantissa_bits
    }

    /// Exponent bias.
    pub fn exponent_bias(self) -> i32 {
        self.spec().bias
    }

    /// Largest finite value.
    pub fn max_value(self) -> f32 {
        self.decode(self.spec().max_code)
    }

    /// Smallest positive subnormal value; every finite value is an integer multiple of it.
    pub fn min_subnormal(self) -> f32 {
        self.decode(1)
    }

    /// Smallest positive normal value.
    pub fn min_normal(self) -> f32 {
        self.decode(1 << self.spec().mantissa_bits)
    }

    /// `x` rounded to this format with saturation, as a function computed arithmetically:
    /// the same value as `decode(encode(x, Saturate))` (nearest, ties to even; beyond the
    /// largest finite value, infinities included, that value; NaN stays NaN), without a
    /// code or a table, so that loops over it vectorize.
    pub fn saturating_rounder(self) -> impl Fn(f32) -> f32 + Copy {
        let shift = 23 - self.spec().mantissa_bits;
        let (min_normal, step, max) = (self.min_normal(), self.min_subnormal(), self.max_value());
        move |x: f32| {
            let a = x.abs();
            let r = if a >= min_normal {
                // Round the f32 bits to `mantissa_bits`, ties to even; a carry moves up a
                // binade (and past the largest finite f32 to infinity, saturated below).
                let bits = a.to_bits();
                let bits = bits + ((1 << (shift - 1)) - 1) + ((bits >> shift) & 1);
                f32::from_bits(bits & !((1 << shift) - 1))
            } else {
                // Subnormals: integer multiples of the smallest one (exact scalings).
                (a / step).round_ties_even() * step
            };
            let r = if r > max { max } else { r };
            r.copysign(x)
        }
    }

    /// The canonical positive NaN code.
    pub fn nan_code(self) -> u8 {
        self.spec().nan_code
    }

    /// The 256-entry decode table, indexed by code.
    pub fn decode_table(self) -> &'static [f32; 256] {
        match self {
            Fp8Format::E4M3 => &E4M3_DECODE,
            Fp8Format::E5M2 => &E5M2_DECODE,
        }
    }

    /// The value of a code (exact; NaN codes give NaN with the code's sign).
    #[inline]
    pub fn decode(self, code: u8) -> f32 {
        self.decode_table()[code as usize]
    }

    /// Whether a code is NaN.
    pub fn is_nan(self, code: u8) -> bool {
        self.decode(code).is_nan()
    }

    /// Rounds `x` to the nearest code, ties to the even code (IEEE round-to-nearest-even,
    /// subnormals included). NaN keeps its sign and becomes the NaN code.
    #[inline]
    pub fn encode(self, x: f32, saturation: Saturation) -> u8 {
        self.encode_rounded(x, saturation, Rounding::NearestEven)
    }

    /// Stochastic rounding: a value between two neighbouring codes becomes the upper one
    /// with probability proportional to its distance from the lower one (exactly, from the
    /// bits of `x`), so the rounding is unbiased; values on a code stay there.
    #[inline]
    pub fn encode_stochastic(self, x: f32, rng: &mut impl Rng, saturation: Saturation) -> u8 {
        self.encode_rounded(x, saturation, Rounding::Stochastic(rng.next_u64()))
    }

    /// Computes the normal and the subnormal candidate and selects, so that the result
    /// costs the same on every path (no data-dependent branches for the compiler to keep).
    #[inline(always)]
    fn encode_rounded(self, x: f32, saturation: Saturation, rounding: Rounding) -> u8 {
        let s = self.spec();
        let bits = x.to_bits();
        let sign = ((bits >> 24) & 0x80) as u8;
        let abs = bits & 0x7fff_ffff;
        let m = s.mantissa_bits;
        let exp = (abs >> 23) as i32;
        // Normal in FP8: round the f32 bits (exponent and mantissa together), then rebias
        // the exponent; a carry moves up to the next binade.
        let normal =
            shift_round(abs as u64, 23 - m, rounding).wrapping_sub(((127 - s.bias) as u64) << m);
        // Subnormal in FP8: integer multiples of the smallest subnormal.
        let full = if exp == 0 {
            abs
        } else {
            (abs & 0x7f_ffff) | 0x80_0000
        };
        let shift = (151 - s.bias - m as i32 - exp.max(1)).clamp(1, 63) as u32;
        let subnormal = shift_round(full as u64, shift, rounding);
        let code = if exp - 127 + s.bias >= 1 {
            normal
        } else {
            subnormal
        };
        let overflow = self.overflow_code(saturation);
        let mag = if code > s.max_code as u64 {
            overflow
        } else {
            code as u8
        };
        let mag = match abs {
            0x7f80_0000 => overflow,
            a if a > 0x7f80_0000 => s.nan_code,
            _ => mag,
        };
        sign | mag
    }

    fn overflow_code(self, saturation: Saturation) -> u8 {
        let s = self.spec();
        match saturation {
            Saturation::Saturate => s.max_code,
            Saturation::NonSaturating => s.inf_code.unwrap_or(s.nan_code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn saturating_rounder_equals_encode_then_decode() {
        for f in Fp8Format::ALL {
            let round = f.saturating_rounder();
            let check = |x: f32| {
                let want = f.decode(f.encode(x, Saturation::Saturate));
                let got = round(x);
                if want.is_nan() {
                    assert!(got.is_nan(), "{f:?} {x:e}: {got}");
                } else {
                    assert_eq!(got.to_bits(), want.to_bits(), "{f:?} {x:e}");
                }
            };
            // Every code's value, its f32 neighbours, and the midpoints to the next code
            // with theirs (where ties are decided).
            for c in 0..=0x7fu8 {
                let (v, next) = (f.decode(c), f.decode(c.saturating_add(1)));
                for x in [v, (v + next) / 2.0] {
                    if x.is_finite() {
                        for y in [
                            x,
                            f32::from_bits(x.to_bits() + 1),
                            f32::from_bits(x.to_bits().saturating_sub(1)),
                        ] {
                            check(y);
                            check(-y);
                        }
                    }
                }
            }
            // A sweep over all f32 bit patterns, and the specials.
            for bits in (0..=u32::MAX).step_by(65_521) {
                check(f32::from_bits(bits));
            }
            for x in [
                0.0,
                -0.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::NAN,
                f32::MAX,
                f32::MIN_POSITIVE,
                1e-45,
            ] {
                check(x);
            }
        }
    }

    #[test]
    fn known_codes_and_onnx_cast_cases() {
        let (e4, e5) = (Fp8Format::E4M3, Fp8Format::E5M2);
        assert_eq!(e4.decode(0x7e), 448.0);
        assert_eq!(e4.min_subnormal(), 2f32.powi(-9));
        assert_eq!(e4.min_normal(), 2f32.powi(-6));
        assert!(e4.decode(0xff).is_nan());
        assert_eq!(e5.max_value(), 57344.0);
        assert_eq!(e5.min_subnormal(), 2f32.powi(-16));
        assert_eq!(e5.decode(0xfc), f32::NEG_INFINITY);
        // Values from ONNX's test_cast_FLOAT_to_FLOAT8* cases (saturating).
        let xs = [
            0.478_925_47,
            0.819_105_5,
            1e6,
            1e-7,
            f32::NAN,
            f32::INFINITY,
            -1e-7,
        ];
        let want4 = [0x2f, 0x35, 0x7e, 0x00, 0x7f, 0x7e, 0x80];
        let want5 = [0x38, 0x3b, 0x7b, 0x00, 0x7e, 0x7b, 0x80];
        for ((&x, &a), &b) in xs.iter().zip(&want4).zip(&want5) {
            assert_eq!(e4.encode(x, Saturation::Saturate), a, "e4m3 {x}");
            assert_eq!(e5.encode(x, Saturation::Saturate), b, "e5m2 {x}");
        }
        // Ties go to the even code: 1 + 1/16 lies halfway between 1 (0x38) and 1.125.
        assert_eq!(e4.encode(1.0625, Saturation::Saturate), 0x38);
        assert_eq!(e4.encode(1.1875, Saturation::Saturate), 0x3a);
        assert_eq!(e4.encode(464.0, Saturation::NonSaturating), 0x7e);
        assert_eq!(e4.encode(465.0, Saturation::NonSaturating), 0x7f);
        assert_eq!(e5.encode(61440.0, Saturation::NonSaturating), 0x7c);
    }

    #[test]
    fn every_finite_code_round_trips() {
        for f in Fp8Format::ALL {
            for code in 0..=255u8 {
                let v = f.decode(code);
                if v.is_finite() {
                    assert_eq!(
                        f.encode(v, Saturation::NonSaturating),
                        code,
                        "{f:?} {code:#x}"
                    );
                }
            }
        }
    }

    #[test]
    fn stochastic_rounding_picks_a_neighbour() {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(7);
        let f = Fp8Format::E4M3;
        let x = 1.03f32; // between 1.0 (0x38) and 1.125 (0x39)
        let mut ups = 0;
        for _ in 0..10_000 {
            match f.encode_stochastic(x, &mut rng, Saturation::Saturate) {
                0x38 => {}
                0x39 => ups += 1,
                c => panic!("picked {c:#x}"),
            }
        }
        // P(up) = 0.03 / 0.125 = 0.24.
        assert!((2_200..2_600).contains(&ups), "{ups}");
        assert_eq!(
            f.encode_stochastic(1.0, &mut rng, Saturation::Saturate),
            0x38
        );
    }
}
