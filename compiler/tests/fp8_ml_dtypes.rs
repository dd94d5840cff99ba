//! FP8 conversions against ml_dtypes (`testdata/fp8/`, made by `tools/testdata_fp8.py`):
//! all 256 codes decode identically, and boundary values plus 2^20 random f32 values
//! encode bit for bit like ml_dtypes' round-to-nearest-even, saturating and not.
//! Stochastic rounding is checked for unbiasedness and for only picking neighbours.

mod common;

use common::{read_npy, testdata};
use nnopt_compiler::fp8::{
    decode_into, encode_into, encode_stochastic_into, Fp8Format, Saturation,
};
use nnopt_compiler::ir::Tensor;
use rand::SeedableRng;
use std::path::Path;

fn f32s(dir: &Path, name: &str) -> Vec<f32> {
    match read_npy(&dir.join(name)) {
        Tensor::F32(a) => a.iter().copied().collect(),
        t => panic!("{name}: expected f32, got {}", t.dtype()),
    }
}

fn u8s(dir: &Path, name: &str) -> Vec<u8> {
    match read_npy(&dir.join(name)) {
        Tensor::U8(a) => a.iter().copied().collect(),
        t => panic!("{name}: expected u8, got {}", t.dtype()),
    }
}

/// Same value, or both NaN with the same sign.
fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits()
        || (a.is_nan() && b.is_nan() && a.is_sign_negative() == b.is_sign_negative())
}

#[test]
fn every_code_decodes_like_ml_dtypes() {
    let Some(dir) = testdata("fp8") else { return };
    for f in Fp8Format::ALL {
        let want = f32s(&dir, &format!("decode_{}.npy", f.name()));
        let codes: Vec<u8> = (0..=255).collect();
        let mut got = vec![0f32; 256];
        decode_into(f, &codes, &mut got);
        for (c, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert!(
                same(g, w),
                "{}: code {c:#04x} decodes to {g}, ml_dtypes {w}",
                f.name()
            );
            assert!(same(f.decode(c as u8), w));
        }
    }
}

#[test]
fn encoding_matches_ml_dtypes_bit_for_bit() {
    let Some(dir) = testdata("fp8") else { return };
    let xs = f32s(&dir, "inputs.npy");
    assert!(xs.len() > 1 << 20, "{} inputs", xs.len());
    for f in Fp8Format::ALL {
        for (prefix, sat) in [
            ("rne", Saturation::NonSaturating),
            ("sat", Saturation::Saturate),
        ] {
            let want = u8s(&dir, &format!("{prefix}_{}.npy", f.name()));
            let mut got = vec![0u8; xs.len()];
            encode_into(f, &xs, &mut got, sat);
            let bad: Vec<usize> = (0..xs.len()).filter(|&i| got[i] != want[i]).collect();
            assert!(
                bad.is_empty(),
                "{} {prefix}: {} of {} differ, first: x = {:e} ({:#010x}) -> {:#04x}, ml_dtypes {:#04x}",
                f.name(),
                bad.len(),
                xs.len(),
                xs[bad[0]],
                xs[bad[0]].to_bits(),
                got[bad[0]],
                want[bad[0]]
            );
        }
    }
}

#[test]
fn stochastic_rounding_is_unbiased_and_picks_neighbours() {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(42);
    let draws = 200_000;
    for f in Fp8Format::ALL {
        // Values inside a normal binade, in the subnormal range and near the top.
        let points = [
            0.3f32,
            1.0 + 1.0 / 3.0,
            -5.7,
            f.min_subnormal() * 2.3,
            f.max_value() * 0.97,
        ];
        for &x in &points {
            let below = f.decode(f.encode(x, Saturation::Saturate));
            let rne = f.encode(x, Saturation::Saturate);
            let (lo, hi) = if below.abs() <= x.abs() {
                (rne, rne + 1)
            } else {
                (rne - 1, rne)
            };
            let (vlo, vhi) = (f.decode(lo), f.decode(hi));
            let xs = vec![x; draws];
            let mut codes = vec![0u8; draws];
            encode_stochastic_into(f, &xs, &mut codes, &mut rng, Saturation::Saturate);
            let mut sum = 0f64;
            for &c in &codes {
                assert!(
                    c == lo || c == hi,
                    "{} {x}: picked {c:#04x}, neighbours {lo:#04x} {hi:#04x}",
                    f.name()
                );
                sum += f.decode(c) as f64;
            }
            let mean_err = sum / draws as f64 - x as f64;
            // The standard error of the mean is at most half the gap / sqrt(draws).
            let gap = (vhi - vlo).abs() as f64;
            assert!(
                mean_err.abs() < 5.0 * gap / (draws as f64).sqrt(),
                "{} {x}: mean error {mean_err:e}, gap {gap:e}",
                f.name()
            );
        }
    }
}
