//! FP8 dot products with an exact accumulator.
//!
//! Every FP8 value is an integer multiple of its format's smallest subnormal (2^-9 for
//! E4M3, 2^-16 for E5M2), so products are exact integers at a fixed binary point and a
//! 128-bit integer sums them without any rounding. The sum is rounded once, to nearest
//! even, when it is read as f32. The result is therefore independent of summation order:
//! the interpreter and the virtual NPU can loop differently and still agree bit for bit.
//! It is at least as accurate as accumulating in f32. Infinite and NaN operands follow
//! IEEE arithmetic (their products are summed in f32 beside the exact part).

use super::format::Fp8Format;

/// log2 of the reciprocal of the smallest subnormal: values are `k * 2^-fraction_bits`.
const fn fraction_bits(f: Fp8Format) -> u32 {
    match f {
        Fp8Format::E4M3 => 9,
        Fp8Format::E5M2 => 16,
    }
}

/// Marks NaN and infinity codes in the fixed-point tables ([`Fp8Dot`] handles them apart).
const SPECIAL: i64 = i64::MIN;

/// E4M3 x E4M3 products are below 2^36 in magnitude, so this many of them sum in an i64
/// without overflow before the sum moves into the i128.
const NARROW_TERMS: u32 = 1 << 26;

/// Every code as an integer multiple of the smallest subnormal ([`SPECIAL`] for NaN and
/// infinity).
const fn fixed_table(f: Fp8Format) -> [i64; 256] {
    let (mbits, max_code) = match f {
        Fp8Format::E4M3 => (3u32, 0x7eu8),
        Fp8Format::E5M2 => (2, 0x7b),
    };
    let mut t = [SPECIAL; 256];
    let mut c = 0;
    while c < 256 {
        let mag = (c & 0x7f) as u8;
        if mag <= max_code {
            let m = (mag as i64) & ((1 << mbits) - 1);
            let e = (mag >> mbits) as i32;
            // In units of the smallest subnormal 2^(1-bias-M): m (subnormal) or
            // (2^M + m) * 2^(e-1) (normal).
            let v = if e == 0 {
                m
            } else {
                ((1 << mbits) + m) << (e - 1)
            };
            t[c] = if c & 0x80 != 0 { -v } else { v };
        }
        c += 1;
    }
    t
}

static E4M3_FIXED: [i64; 256] = fixed_table(Fp8Format::E4M3);
static E5M2_FIXED: [i64; 256] = fixed_table(Fp8Format::E5M2);

fn fixed(f: Fp8Format) -> &'static [i64; 256] {
    match f {
        Fp8Format::E4M3 => &E4M3_FIXED,
        Fp8Format::E5M2 => &E5M2_FIXED,
    }
}

/// An exact accumulator of products `a * b`, `a` in format `fa` and `b` in `fb`.
#[derive(Clone, Copy, Debug)]
pub struct Fp8Dot {
    fa: Fp8Format,
    fb: Fp8Format,
    ta: &'static [i64; 256],
    tb: &'static [i64; 256],
    /// Both operands E4M3: products are summed in `narrow` first (cheaper than i128).
    both_e4m3: bool,
    narrow: i64,
    narrow_terms: u32,
    exact: i128,
    /// Sum of the products involving infinity or NaN.
    special: f32,
    has_special: bool,
}

impl Fp8Dot {
    /// An empty sum of products of `fa` and `fb` values.
    pub fn new(fa: Fp8Format, fb: Fp8Format) -> Self {
        Fp8Dot {
            fa,
            fb,
            ta: fixed(fa),
            tb: fixed(fb),
            both_e4m3: fa == Fp8Format::E4M3 && fb == Fp8Format::E4M3,
            narrow: 0,
            narrow_terms: 0,
            exact: 0,
            special: 0.0,
            has_special: false,
        }
    }

    /// Adds the product of codes `a` and `b`.
    #[inline]
    pub fn add(&mut self, a: u8, b: u8) {
        let (va, vb) = (self.ta[a as usize], self.tb[b as usize]);
        if va == SPECIAL || vb == SPECIAL {
            self.special += self.fa.decode(a) * self.fb.decode(b);
            self.has_special = true;
        } else if self.both_e4m3 {
            self.narrow += va * vb;
            self.narrow_terms += 1;
            if self.narrow_terms == NARROW_TERMS {
                self.exact += self.narrow as i128;
                self.narrow = 0;
                self.narrow_terms = 0;
            }
        } else {
            self.exact += va as i128 * vb as i128;
        }
    }

    /// The sum, rounded once to the nearest f32 (ties to even).
    pub fn value(&self) -> f32 {
        let unit = -((fraction_bits(self.fa) + fraction_bits(self.fb)) as i32);
        // `as f32` rounds to nearest even; scaling by a power of two is exact here.
        let exact = (self.exact + self.narrow as i128) as f32 * 2f32.powi(unit);
        if self.has_special {
            exact + self.special
        } else {
            exact
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_values_are_the_decoded_values() {
        for f in Fp8Format::ALL {
            for c in 0..=255u8 {
                let v = f.decode(c);
                assert_eq!(v.is_finite(), fixed(f)[c as usize] != SPECIAL);
                if v.is_finite() {
                    let k = fixed(f)[c as usize] as f64 * 2f64.powi(-(fraction_bits(f) as i32));
                    assert_eq!(k, v as f64, "{f:?} {c:#x}");
                }
            }
        }
    }

    #[test]
    fn sums_exactly_and_rounds_once() {
        let f = Fp8Format::E4M3;
        let big = f.encode(448.0, Default::default());
        let tiny = 0x01; // 2^-9
        let one = f.encode(1.0, Default::default());
        let mut d = Fp8Dot::new(f, f);
        // 448*448 + 2^-18 - 448*448 = 2^-18 exactly; f32 accumulation would give 0.
        d.add(big, big);
        d.add(tiny, tiny);
        d.add(big | 0x80, big);
        assert_eq!(d.value(), 2f32.powi(-18));
        d.add(one, 0x7f); // NaN
        assert!(d.value().is_nan());
        let e5 = Fp8Format::E5M2;
        let mut d = Fp8Dot::new(e5, f);
        d.add(0x7c, one); // inf * 1
        d.add(e5.encode(-2.0, Default::default()), one);
        assert_eq!(d.value(), f32::INFINITY);
    }
}
