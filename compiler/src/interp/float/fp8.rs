//! FP8 encoding and decoding (E4M3FN and E5M2), saturating like ONNX's default Cast.

use crate::ir::DType;

/// An FP8 format: exponent bias, mantissa bits, largest finite code and NaN code.
#[derive(Clone, Copy)]
pub(super) struct Format {
    bias: i32,
    mantissa_bits: u32,
    max_code: u8,
    nan: u8,
}

impl Format {
    /// The format of an FP8 dtype.
    pub fn of(dtype: DType) -> Option<Format> {
        match dtype {
            DType::F8E4M3 => Some(Format {
                bias: 7,
                mantissa_bits: 3,
                max_code: 0x7e,
                nan: 0x7f,
            }),
            DType::F8E5M2 => Some(Format {
                bias: 15,
                mantissa_bits: 2,
                max_code: 0x7b,
                nan: 0x7e,
            }),
            _ => None,
        }
    }

    /// The value of a code.
    pub fn decode(self, bits: u8) -> f32 {
        let sign = if bits & 0x80 != 0 { -1.0 } else { 1.0 };
        let mag = bits & 0x7f;
        if mag > self.max_code {
            // E4M3FN: only NaN; E5M2: infinity (mantissa 0) or NaN.
            let inf = self.mantissa_bits == 2 && mag == 0x7c;
            return if inf { sign * f32::INFINITY } else { f32::NAN };
        }
        let m = (mag & ((1 << self.mantissa_bits) - 1)) as f32 / (1 << self.mantissa_bits) as f32;
        let e = (mag >> self.mantissa_bits) as i32;
        let v = if e == 0 {
            m * 2f32.powi(1 - self.bias)
        } else {
            (1.0 + m) * 2f32.powi(e - self.bias)
        };
        sign * v
    }

    /// The nearest code (ties to even), saturating to the largest finite value; NaN gives
    /// the NaN code.
    pub fn encode(self, x: f32) -> u8 {
        if x.is_nan() {
            return self.nan;
        }
        let sign = if x.is_sign_negative() { 0x80 } else { 0 };
        let a = x.abs();
        // Largest code whose value is <= a (values grow with the code).
        let (mut lo, mut hi) = (0u8, self.max_code);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if self.decode(mid) <= a {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        if lo == self.max_code {
            return sign | lo;
        }
        let (below, above) = (a - self.decode(lo), self.decode(lo + 1) - a);
        let code = if below < above || (below == above && lo % 2 == 0) {
            lo
        } else {
            lo + 1
        };
        sign | code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_encodes_known_codes() {
        let e4 = Format::of(DType::F8E4M3).unwrap();
        let e5 = Format::of(DType::F8E5M2).unwrap();
        assert_eq!(e4.decode(0x7e), 448.0);
        assert_eq!(e4.decode(0x01), 2f32.powi(-9));
        assert!(e4.decode(0xff).is_nan());
        assert_eq!(e5.decode(0x7b), 57344.0);
        assert_eq!(e5.decode(0xfc), f32::NEG_INFINITY);
        // Values from ONNX's test_cast_FLOAT_to_FLOAT8* cases.
        let xs = [
            0.47892547,
            0.8191055,
            1e6,
            1e-7,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -1e-7,
        ];
        let want4 = [0x2f, 0x35, 0x7e, 0x00, 0x7f, 0x7e, 0xfe, 0x80];
        let want5 = [0x38, 0x3b, 0x7b, 0x00, 0x7e, 0x7b, 0xfb, 0x80];
        for ((&x, &a), &b) in xs.iter().zip(&want4).zip(&want5) {
            assert_eq!(e4.encode(x), a, "e4m3 {x}");
            assert_eq!(e5.encode(x), b, "e5m2 {x}");
        }
        // Ties go to the even code: 1 + 1/16 lies halfway between 1 (0x38) and 1.125.
        assert_eq!(e4.encode(1.0625), 0x38);
        assert_eq!(e4.encode(1.1875), 0x3a);
        for code in 0..=0x7eu8 {
            assert_eq!(e4.encode(e4.decode(code)), code);
        }
    }
}
