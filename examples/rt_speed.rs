//! Time per inference of the firmware runtime (nnopt-rt) against the reference
//! interpreter and the virtual NPU on the same compiled models, one thread each (a
//! microcontroller has one core).
//!
//! Usage: `cargo run --release --example rt_speed -- [--json] [--runs N] MODEL...`
//!
//! Each model (.tflite, .onnx, .nnir) is compiled for the NPU (int8); then the quantized
//! graph runs in the interpreter (prepared weights kept across runs), the program on the
//! virtual NPU, and the `.npub` on nnopt-rt with its weights stored (what `nnopt compile
//! --emit c` writes by default: read in place) and compressed (decoded into scratch at
//! every run), on the same input; nnopt-rt's outputs must equal the virtual NPU's byte for
//! byte; the stored binary also runs on the runtime's portable kernels (vector kernels
//! off, as on a CPU without AVX2). Prints the median time of `N` runs (default 21) after
//! one warm-up.

use nnopt::backends::npu::compress::WeightCoding;
use nnopt::backends::npu::target::Target;
use nnopt::backends::npu::vnpu;
use nnopt::compile::{compile_npu, NpuOptions};
use nnopt::compiler::interp;
use nnopt::compiler::ir::Tensor;
use std::path::Path;
use std::time::Instant;

fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

struct Row {
    model: String,
    interp_ms: f64,
    vnpu_ms: f64,
    rt_ms: f64,
    rt_portable_ms: f64,
    rt_compressed_ms: f64,
    arena: usize,
}

/// Median time of nnopt-rt running `binary`, checked against `want`.
fn time_rt(
    binary: &[u8],
    xr: &[&[u8]],
    want: &[Vec<u8>],
    runs: usize,
) -> Result<(f64, usize), String> {
    let model = nnopt_rt::Model::load(binary).map_err(|e| format!("nnopt-rt: {e}"))?;
    let mut arena = vec![0u8; model.arena_size()];
    let mut yb: Vec<Vec<u8>> = want.iter().map(|w| vec![0u8; w.len()]).collect();
    let mut run = |yb: &mut Vec<Vec<u8>>| {
        let mut yr: Vec<&mut [u8]> = yb.iter_mut().map(Vec::as_mut_slice).collect();
        model
            .run(&mut arena, xr, &mut yr)
            .map_err(|e| e.to_string())
    };
    run(&mut yb)?;
    if yb != want {
        return Err("nnopt-rt and the virtual NPU disagree".into());
    }
    let ms = median_ms(runs, || run(&mut yb).expect("nnopt-rt runs"));
    Ok((ms, model.arena_size()))
}

fn measure(path: &Path, runs: usize) -> Result<Row, String> {
    let g = nnopt::load_model(path).map_err(|e| e.to_string())?;
    let opts = NpuOptions {
        target: Target::preset("npu").map_err(|e| e.to_string())?,
        precision: Default::default(),
        cpu_fallback: true,
        calibration: Default::default(),
        pipeline: None,
    };
    let c = compile_npu(g, &opts).map_err(|e| e.to_string())?;
    let inputs: Vec<Tensor> = c
        .program
        .inputs
        .iter()
        .map(|b| {
            let n: usize = b.shape.iter().product();
            let v: Vec<f64> = (0..n)
                .map(|i| ((i * 37 + 11) % 200) as f64 - 100.0)
                .collect();
            Tensor::from_f64s(b.dtype, &b.shape, &v).expect("input")
        })
        .collect();
    let session = interp::Session::new(&c.graph);
    let vsession = vnpu::Session::new(&c.program).map_err(|e| e.to_string())?;
    let xb: Vec<Vec<u8>> = inputs.iter().map(Tensor::to_le_bytes).collect();
    let xr: Vec<&[u8]> = xb.iter().map(Vec::as_slice).collect();
    let want: Vec<Vec<u8>> = vsession
        .run(&inputs)
        .map_err(|e| e.to_string())?
        .iter()
        .map(Tensor::to_le_bytes)
        .collect();
    let stored =
        nnopt::firmware::binary_with(&c, WeightCoding::Stored).map_err(|e| e.to_string())?;
    let (rt_ms, arena) = time_rt(&stored, &xr, &want, runs)?;
    let (rt_compressed_ms, _) = time_rt(&c.binary, &xr, &want, runs)?;
    nnopt_rt::set_vector_kernels(false);
    let portable = time_rt(&stored, &xr, &want, runs);
    nnopt_rt::set_vector_kernels(true);
    let (rt_portable_ms, _) = portable?;
    let interp_ms = median_ms(runs, || {
        session.run(&inputs).expect("interpreter runs");
    });
    let vnpu_ms = median_ms(runs, || {
        vsession.run(&inputs).expect("virtual NPU runs");
    });
    Ok(Row {
        model: path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
        interp_ms,
        vnpu_ms,
        rt_ms,
        rt_portable_ms,
        rt_compressed_ms,
        arena,
    })
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (mut json, mut runs, mut models) = (false, 21usize, Vec::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|r| r.parse().ok())
                    .filter(|&r| r > 0)
                    .ok_or("--runs takes a positive number")?
            }
            _ => models.push(a),
        }
    }
    if models.is_empty() {
        return Err("usage: rt_speed [--json] [--runs N] MODEL...".into());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| e.to_string())?;
    let rows: Vec<Row> = pool.install(|| {
        models
            .iter()
            .map(|m| measure(Path::new(m), runs).map_err(|e| format!("{m}: {e}")))
            .collect::<Result<_, _>>()
    })?;
    if json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "model": r.model, "interpreter_ms": r.interp_ms, "vnpu_ms": r.vnpu_ms,
                    "rt_ms": r.rt_ms, "rt_vs_interpreter": r.rt_ms / r.interp_ms,
                    "rt_portable_ms": r.rt_portable_ms,
                    "rt_compressed_ms": r.rt_compressed_ms,
                    "arena_bytes": r.arena,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        return Ok(());
    }
    println!(
        "{:<26} {:>14} {:>9} {:>11} {:>9} {:>11} {:>15} {:>9}",
        "model",
        "interpreter ms",
        "vnpu ms",
        "nnopt-rt ms",
        "rt/interp",
        "portable ms",
        "compressed ms",
        "arena B"
    );
    for r in &rows {
        println!(
            "{:<26} {:>14.3} {:>9.3} {:>11.3} {:>9.2} {:>11.3} {:>15.3} {:>9}",
            r.model,
            r.interp_ms,
            r.vnpu_ms,
            r.rt_ms,
            r.rt_ms / r.interp_ms,
            r.rt_portable_ms,
            r.rt_compressed_ms,
            r.arena
        );
    }
    Ok(())
}
