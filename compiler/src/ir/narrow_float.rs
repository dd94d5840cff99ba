//! The storage-only float element types — FP4 E2M1, FP8 E4M3FNUZ and E5M2FNUZ, and the
//! E8M0 power-of-two scale — their values, and conversion from f32 as ONNX `Cast` does
//! it (ml_dtypes' conversions, or ONNX's own for E8M0).

use super::DType;
use serde::{Deserialize, Serialize};

/// How a conversion to E8M0 rounds a value between two powers of two (ONNX Cast's
/// `round_mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum E8m0Rounding {
    /// To the power of two above (ONNX's default).
    #[default]
    Up,
    /// To the power of two below (the exponent is kept).
    Down,
    /// To the nearer power of two, decided on the f32 mantissa's leading bits as ONNX's
    /// reference does.
    Nearest,
}

impl E8m0Rounding {
    /// Whether this is the default (for `skip_serializing_if`).
    pub fn is_default(&self) -> bool {
        *self == E8m0Rounding::Up
    }
}

/// A sign–exponent–mantissa format narrower than FP8 or without IEEE specials.
struct Layout {
    exponent_bits: u32,
    mantissa_bits: u32,
    bias: i32,
    /// "fnuz": the code with only the sign bit set is the one NaN; there is no -0.
    fnuz: bool,
}

const E2M1: Layout = Layout {
    exponent_bits: 2,
    mantissa_bits: 1,
    bias: 1,
    fnuz: false,
};
const E4M3_FNUZ: Layout = Layout {
    exponent_bits: 4,
    mantissa_bits: 3,
    bias: 8,
    fnuz: true,
};
const E5M2_FNUZ: Layout = Layout {
    exponent_bits: 5,
    mantissa_bits: 2,
    bias: 16,
    fnuz: true,
};

fn layout(dtype: DType) -> Option<&'static Layout> {
    match dtype {
        DType::F4E2M1 => Some(&E2M1),
        DType::F8E4M3Fnuz => Some(&E4M3_FNUZ),
        DType::F8E5M2Fnuz => Some(&E5M2_FNUZ),
        _ => None,
    }
}

impl Layout {
    fn sign_bit(&self) -> u8 {
        1 << (self.exponent_bits + self.mantissa_bits)
    }

    /// Largest magnitude code (every magnitude code is finite in these formats).
    fn max_magnitude(&self) -> u8 {
        self.sign_bit() - 1
    }

    /// The value of a magnitude code (exact in f64).
    fn magnitude(&self, mag: u8) -> f64 {
        let m = (mag as i32) & ((1 << self.mantissa_bits) - 1);
        let e = (mag >> self.mantissa_bits) as i32;
        let scale = |p: i32| 2f64.powi(p);
        if e == 0 {
            m as f64 * scale(1 - self.bias - self.mantissa_bits as i32)
        } else {
            (1.0 + m as f64 / scale(self.mantissa_bits as i32)) * scale(e - self.bias)
        }
    }

    fn decode(&self, code: u8) -> f32 {
        let sign = self.sign_bit();
        if self.fnuz && code == sign {
            return f32::NAN;
        }
        let v = self.magnitude(code & (sign - 1)) as f32;
        if code & sign != 0 {
            -v
        } else {
            v
        }
    }

    /// Nearest code, ties to the even code. Beyond the largest value: that value when
    /// saturating (FP4 always saturates), else NaN; infinities likewise.
    fn encode(&self, x: f32, saturate: bool) -> u8 {
        let sign = self.sign_bit();
        let saturate = saturate || !self.fnuz;
        if x.is_nan() {
            // ml_dtypes turns NaN into -0 for FP4, which has no NaN.
            return sign;
        }
        let max = self.max_magnitude();
        let a = x.abs() as f64;
        let mag = if x.is_infinite() {
            if saturate {
                max
            } else {
                return sign;
            }
        } else {
            // Largest magnitude code at or below |x|, then the nearer of it and the next.
            let below = (0..=max)
                .rev()
                .find(|&m| self.magnitude(m) <= a)
                .unwrap_or(0);
            let next = if below == max {
                // A virtual code one step beyond the largest value decides overflow.
                2.0 * self.magnitude(max) - self.magnitude(max - 1)
            } else {
                self.magnitude(below + 1)
            };
            let (lo, hi) = (a - self.magnitude(below), next - a);
            let up = hi < lo || (hi == lo && below % 2 == 1);
            match (up, below == max) {
                (false, _) => below,
                (true, false) => below + 1,
                (true, true) if saturate => max,
                (true, true) => return sign,
            }
        };
        if x.is_sign_negative() && !(self.fnuz && mag == 0) {
            sign | mag
        } else {
            mag
        }
    }
}

/// E8M0's value of a code: `2^(code - 127)`, NaN for `0xff`.
fn e8m0_decode(code: u8) -> f32 {
    if code == 0xff {
        f32::NAN
    } else {
        2f64.powi(code as i32 - 127) as f32
    }
}

/// ONNX's conversion to E8M0 (`onnx.numpy_helper.to_float8e8m0`): the f32 exponent
/// field, rounded on the mantissa bits; NaN and infinities become NaN, signs are dropped.
fn e8m0_encode(x: f32, saturate: bool, rounding: E8m0Rounding) -> u8 {
    let bits = x.to_bits();
    let exponent = (bits >> 23) & 0xff;
    if exponent == 0xff {
        return 0xff;
    }
    let up = match rounding {
        E8m0Rounding::Down => false,
        E8m0Rounding::Up => bits & 0x7f_ffff != 0,
        E8m0Rounding::Nearest => {
            let guard = bits & 0x40_0000 != 0;
            let rest = bits & 0x3f_ffff != 0;
            guard && (rest || exponent > 0)
        }
    };
    let up = up && !(saturate && exponent == 0xfe);
    (exponent + u32::from(up)) as u8
}

/// The value of a code of a storage-only float type (`None` for other types).
pub fn decode(dtype: DType, code: u8) -> Option<f32> {
    match dtype {
        DType::F8E8M0 => Some(e8m0_decode(code)),
        _ => layout(dtype).map(|l| l.decode(code)),
    }
}

/// The code of `x` in a storage-only float type (`None` for other types). `saturate`
/// chooses between the largest value and NaN on overflow for the "fnuz" types and keeps
/// E8M0 from rounding up past its largest exponent; FP4 always saturates.
pub fn encode(dtype: DType, x: f32, saturate: bool, rounding: E8m0Rounding) -> Option<u8> {
    match dtype {
        DType::F8E8M0 => Some(e8m0_encode(x, saturate, rounding)),
        _ => layout(dtype).map(|l| l.encode(x, saturate)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(dtype: DType, x: f32, saturate: bool) -> u8 {
        encode(dtype, x, saturate, E8m0Rounding::Up).unwrap()
    }

    #[test]
    fn fp4_values_and_rounding() {
        let values: Vec<f32> = (0..8).map(|c| decode(DType::F4E2M1, c).unwrap()).collect();
        assert_eq!(values, [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]);
        assert_eq!(decode(DType::F4E2M1, 0xf), Some(-6.0));
        // Ties to even codes: 0.25 -> 0, 1.25 -> 1.0, 2.5 -> 2.0, 5 -> 4.
        for (x, code) in [
            (0.25, 0),
            (1.25, 2),
            (2.5, 4),
            (5.0, 6),
            (5.1, 7),
            (-3.5, 0xe),
        ] {
            assert_eq!(enc(DType::F4E2M1, x, false), code, "{x}");
        }
        // Saturates whatever `saturate` says; NaN becomes -0 as in ml_dtypes.
        assert_eq!(enc(DType::F4E2M1, 1e6, false), 7);
        assert_eq!(enc(DType::F4E2M1, f32::NEG_INFINITY, false), 0xf);
        assert_eq!(enc(DType::F4E2M1, f32::NAN, true), 0x8);
        assert_eq!(enc(DType::F4E2M1, -0.0, true), 0x8);
    }

    #[test]
    fn fnuz_specials() {
        let f = DType::F8E4M3Fnuz;
        assert_eq!(decode(f, 0x7f), Some(240.0));
        assert!(decode(f, 0x80).unwrap().is_nan());
        assert_eq!(decode(f, 0x01), Some(2f32.powi(-10)));
        assert_eq!(enc(f, f32::INFINITY, true), 0x7f);
        assert_eq!(enc(f, f32::INFINITY, false), 0x80);
        assert_eq!(enc(f, 1e6, false), 0x80);
        // No negative zero: tiny negatives round to +0.
        assert_eq!(enc(f, -1e-7, true), 0);
        assert_eq!(enc(f, 0.478_925_47, true), decode_inverse(f, 0.46875));
        assert_eq!(decode(DType::F8E5M2Fnuz, 0x7f), Some(57344.0));
        for code in (0..=255u8).filter(|&c| c != 0x80) {
            let v = decode(f, code).unwrap();
            assert_eq!(enc(f, v, false), code, "{code:#x}");
        }
    }

    fn decode_inverse(dtype: DType, v: f32) -> u8 {
        (0..=255u8).find(|&c| decode(dtype, c) == Some(v)).unwrap()
    }

    #[test]
    fn e8m0_rounding_modes() {
        let r = |x: f32, mode| encode(DType::F8E8M0, x, true, mode).unwrap();
        assert_eq!(r(1.0, E8m0Rounding::Up), 127);
        assert_eq!(r(1.1, E8m0Rounding::Up), 128);
        assert_eq!(r(1.1, E8m0Rounding::Down), 127);
        assert_eq!(r(1.4, E8m0Rounding::Nearest), 127);
        assert_eq!(r(1.6, E8m0Rounding::Nearest), 128);
        assert_eq!(r(0.0, E8m0Rounding::Up), 0);
        assert_eq!(r(f32::INFINITY, E8m0Rounding::Up), 0xff);
        assert_eq!(r(f32::MAX, E8m0Rounding::Up), 0xfe);
        assert_eq!(
            encode(DType::F8E8M0, f32::MAX, false, E8m0Rounding::Up),
            Some(0xff)
        );
        assert_eq!(decode(DType::F8E8M0, 0), Some(2f32.powi(-127)));
        assert_eq!(decode(DType::F8E8M0, 130), Some(8.0));
    }
}
