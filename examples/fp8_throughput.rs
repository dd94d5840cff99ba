//! FP8 conversion throughput of nnopt's slice functions, for `benches/fp8_throughput.py`.
//!
//! Usage: `cargo run --release --example fp8_throughput -- VALUES.npy [REPEATS]`
//!
//! Reads f32 values from a .npy file, converts them with every slice function (LUT decode,
//! nearest-even encode saturating and not, stochastic encode) `REPEATS` times each and
//! prints one JSON object: the best time in seconds per operation and format.

use nnopt::compiler::fp8::{
    decode_into, encode_into, encode_stochastic_into, Fp8Format, Saturation,
};
use nnopt::compiler::ir::Tensor;
use rand::SeedableRng;
use std::hint::black_box;
use std::time::Instant;

fn best_of(repeats: usize, mut f: impl FnMut()) -> f64 {
    (0..repeats)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .ok_or("usage: fp8_throughput VALUES.npy [REPEATS]")?;
    let repeats: usize = args
        .get(2)
        .map_or(Ok(7), |r| r.parse())
        .map_err(|e| format!("{e}"))?;
    let xs: Vec<f32> =
        match nnopt::npy::read_npy(std::path::Path::new(path)).map_err(|e| e.to_string())? {
            Tensor::F32(a) => a.iter().copied().collect(),
            t => return Err(format!("expected f32 values, got {}", t.dtype())),
        };
    let n = xs.len();
    let mut codes = vec![0u8; n];
    let mut back = vec![0f32; n];
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(0);
    let mut results = serde_json::Map::new();
    for f in Fp8Format::ALL {
        let mut timed = |op: &str, s: f64| {
            results.insert(format!("{}_{op}", f.name()), serde_json::json!(s));
        };
        timed(
            "encode_saturating",
            best_of(repeats, || {
                encode_into(f, black_box(&xs), &mut codes, Saturation::Saturate)
            }),
        );
        timed(
            "encode",
            best_of(repeats, || {
                encode_into(f, black_box(&xs), &mut codes, Saturation::NonSaturating)
            }),
        );
        timed(
            "decode",
            best_of(repeats, || decode_into(f, black_box(&codes), &mut back)),
        );
        timed(
            "encode_stochastic",
            best_of(repeats, || {
                encode_stochastic_into(
                    f,
                    black_box(&xs),
                    &mut codes,
                    &mut rng,
                    Saturation::Saturate,
                )
            }),
        );
    }
    results.insert("values".into(), serde_json::json!(n));
    results.insert("repeats".into(), serde_json::json!(repeats));
    println!("{}", serde_json::Value::Object(results));
    Ok(())
}
