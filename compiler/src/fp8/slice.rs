//! Slice conversions: table lookup decode and a branch-light encode loop.

use super::format::{Fp8Format, Saturation};
use rand::Rng;

/// Decodes `codes` into `out` (same length) by table lookup.
///
/// # Panics
/// If the lengths differ.
pub fn decode_into(format: Fp8Format, codes: &[u8], out: &mut [f32]) {
    assert_eq!(codes.len(), out.len(), "decode_into: length mismatch");
    let table = format.decode_table();
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = table[c as usize];
    }
}

/// Encodes `xs` into `out` (same length), rounding to nearest even.
///
/// # Panics
/// If the lengths differ.
pub fn encode_into(format: Fp8Format, xs: &[f32], out: &mut [u8], saturation: Saturation) {
    assert_eq!(xs.len(), out.len(), "encode_into: length mismatch");
    for (o, &x) in out.iter_mut().zip(xs) {
        *o = format.encode(x, saturation);
    }
}

/// Encodes `xs` into `out` (same length) with stochastic rounding, one draw of `rng` per
/// value in order (so a seeded RNG gives reproducible codes).
///
/// # Panics
/// If the lengths differ.
pub fn encode_stochastic_into(
    format: Fp8Format,
    xs: &[f32],
    out: &mut [u8],
    rng: &mut impl Rng,
    saturation: Saturation,
) {
    assert_eq!(
        xs.len(),
        out.len(),
        "encode_stochastic_into: length mismatch"
    );
    for (o, &x) in out.iter_mut().zip(xs) {
        *o = format.encode_stochastic(x, rng, saturation);
    }
}
