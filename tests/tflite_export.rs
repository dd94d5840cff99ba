//! `export_tflite` (and `nnopt export`) write TFLite models that nnopt imports back to the
//! same computation (bit for bit) and that LiteRT runs with nnopt's interpreter outputs
//! (bit-exact for int8 with LiteRT's reference kernels, BUILTIN_REF).

mod common;

use common::*;
use nnopt::compiler::interp::run;
use nnopt::compiler::ir::*;
use nnopt::formats::tflite::export_tflite;
use nnopt::formats::tflite::import_tflite_bytes;
use nnopt::npy::write_npy;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The int8 shared models (path under ../shared/models).
const INT8_MODELS: [&str; 5] = [
    "generated/digits_cnn_int8.tflite",
    "generated/mobilenet_v2_035_96_int8.tflite",
    "micro_speech_quantized.tflite",
    "hello_world_int8.tflite",
    "person_detect.tflite",
];

/// LiteRT's kernels to compare with: its reference kernels (BUILTIN_REF), except for
/// mobilenet_v2, where they abort on the original model too (testdata/litert's meta.json
/// records it), so its optimized builtin kernels (also bit-exact for int8 there) are used.
fn resolver(model: &str) -> &'static str {
    if model.contains("mobilenet_v2") {
        "builtin"
    } else {
        "ref"
    }
}

/// A deterministic pseudo-random generator (64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        (lcg_step(&mut self.0) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Random inputs over each input type's range (int types: full range; f32: [-2, 2)).
fn random_inputs(g: &Graph, seed: u64) -> Vec<Tensor> {
    let mut r = Lcg(seed);
    g.inputs()
        .iter()
        .map(|&n| {
            let ty = g.ty(ValueRef::first(n));
            let (lo, hi) = ty.dtype.int_range().unwrap_or((-2, 2));
            let vals: Vec<f64> = (0..ty.num_elements())
                .map(|_| {
                    let u = lo as f64 + r.next() * (hi - lo + 1) as f64;
                    if ty.dtype.is_float() {
                        u
                    } else {
                        u.floor().min(hi as f64)
                    }
                })
                .collect();
            Tensor::from_f64s(ty.dtype, &ty.shape, &vals).expect("input tensor")
        })
        .collect()
}

fn import_file(path: &Path) -> Graph {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    import_tflite_bytes(&bytes, "model").unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each of `INT8_MODELS` that is present, with its imported graph.
fn int8_models() -> impl Iterator<Item = (&'static str, Graph)> {
    INT8_MODELS.into_iter().filter_map(|m| {
        let path = require(&shared().join("models").join(m))?;
        Some((m, import_file(&path)))
    })
}

/// Exports `g` to `dir/exported.tflite` and returns that path.
fn write_exported(dir: &Path, g: &Graph) -> PathBuf {
    let out = dir.join("exported.tflite");
    std::fs::write(&out, export_tflite(g).expect("export")).expect("written");
    out
}

/// Runs `tools/check_tflite_export.py` on an exported model with inputs and expected
/// outputs; returns its JSON line, or the failure text.
fn litert_check(
    python: &Path,
    dir: &Path,
    model: &Path,
    inputs: &[Tensor],
    expected: &[Tensor],
    resolver: &str,
    rtol: f64,
) -> Result<String, String> {
    let save = |prefix: &str, ts: &[Tensor]| -> Vec<PathBuf> {
        ts.iter()
            .enumerate()
            .map(|(k, t)| {
                let p = dir.join(format!("{prefix}_{k}.npy"));
                write_npy(&p, t).expect("npy written");
                p
            })
            .collect()
    };
    let ins = save("input", inputs);
    let outs = save("expected", expected);
    python_check(
        python,
        "check_tflite_export.py",
        model,
        &ins,
        &outs,
        &["--resolver", resolver],
        rtol,
    )
    .map(|text| text.trim().to_string())
}

#[test]
fn int8_models_round_trip_bit_exact() {
    for (m, g) in int8_models() {
        let bytes = export_tflite(&g).unwrap_or_else(|e| panic!("{m}: export: {e}"));
        let back = import_tflite_bytes(&bytes, "back").unwrap_or_else(|e| panic!("{m}: {e}"));
        for seed in 0..3 {
            let x = random_inputs(&g, seed);
            let want = run(&g, &x).unwrap_or_else(|e| panic!("{m}: {e}"));
            let got = run(&back, &x).unwrap_or_else(|e| panic!("{m}: re-imported: {e}"));
            assert_eq!(
                got, want,
                "{m} seed {seed}: outputs differ after the round trip"
            );
        }
        println!("{m}: {} bytes, round trip bit-exact", bytes.len());
    }
}

#[test]
fn exported_int8_models_run_bit_exact_in_litert() {
    let Some(python) = python() else { return };
    let dir = tempdir();
    let mut failures = vec![];
    for (m, g) in int8_models() {
        let out = write_exported(dir.path(), &g);
        for seed in 0..2 {
            let x = random_inputs(&g, 100 + seed);
            let want = run(&g, &x).expect("interpreter runs");
            match litert_check(&python, dir.path(), &out, &x, &want, resolver(m), 0.0) {
                Ok(line) => println!("{m} seed {seed}: {line}"),
                Err(e) => failures.push(format!("{m} seed {seed}: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn pseudo(shape: &[usize], seed: u64, lo: f64, hi: f64, dtype: DType) -> Tensor {
    let mut r = Lcg(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| (lo + r.next() * (hi - lo)).round())
        .collect();
    Tensor::from_f64s(dtype, shape, &v).expect("tensor")
}

/// Per-channel int8 weights and their int32 bias for an input scale `s_in`.
fn weights(
    g: &mut Graph,
    name: &str,
    shape: &[usize],
    s_in: f32,
    seed: u64,
) -> (ValueRef, ValueRef) {
    let o = shape[0];
    let scales: Vec<f32> = (0..o).map(|k| 0.004 * (1.0 + k as f32 / 4.0)).collect();
    let w = g.add_const(
        format!("{name}_w"),
        pseudo(shape, seed, -127.0, 127.0, DType::I8),
        Some(QuantParams {
            scale: scales.clone(),
            zero_point: vec![0; o],
            axis: Some(0),
        }),
    );
    let b = g.add_const(
        format!("{name}_b"),
        pseudo(&[o], seed + 1, -2000.0, 2000.0, DType::I32),
        Some(QuantParams {
            scale: scales.iter().map(|s| s * s_in).collect(),
            zero_point: vec![0; o],
            axis: Some(0),
        }),
    );
    (w, b)
}

fn q8(shape: &[usize], scale: f32, zp: i64) -> TensorType {
    TensorType::new(DType::I8, shape.to_vec()).with_quant(Some(QuantParams::per_tensor(scale, zp)))
}

/// An NCHW int8 CNN as an ONNX import with quantization would give it: conv (SAME, relu),
/// depthwise conv (stride 2, relu6), max pool, add, concat over channels, global mean,
/// fully connected, softmax (concat inputs share the output's quantization, as LiteRT
/// requires); a float input and two float outputs (one of them NCHW 4-D).
fn nchw_int8_graph() -> Graph {
    let mut g = Graph::new("nchw_int8");
    let x = g.add_input("x", TensorType::new(DType::F32, [1, 3, 8, 8]));
    let xq = g.add_op(
        "xq",
        Op::Quantize {
            to: DType::I8,
            rounding: QuantizeRounding::Tflite,
            saturate: true,
        },
        &[x],
        q8(&[1, 3, 8, 8], 0.02, -3),
    );
    let conv = |pads, strides, group, act| {
        Op::Conv(ConvAttrs {
            layout: Layout::Nchw,
            strides,
            dilations: [1, 1],
            pads,
            group,
            activation: Some(act),
        })
    };
    let (w1, b1) = weights(&mut g, "c1", &[8, 3, 3, 3], 0.02, 1);
    let c1 = g.add_op(
        "c1",
        conv([1, 1, 1, 1], [1, 1], 1, Activation::Relu),
        &[xq, w1, b1],
        q8(&[1, 8, 8, 8], 0.05, -128),
    );
    let (w2, b2) = weights(&mut g, "c2", &[8, 1, 3, 3], 0.05, 3);
    let c2 = g.add_op(
        "c2",
        conv([0, 0, 1, 1], [2, 2], 8, Activation::Relu6),
        &[c1, w2, b2],
        q8(&[1, 8, 4, 4], 0.03, -100),
    );
    let p = g.add_op(
        "pool",
        Op::Pool {
            pool: PoolAttrs {
                kind: PoolKind::Max,
                layout: Layout::Nchw,
                kernel: vec![2, 2],
                strides: vec![2, 2],
                dilations: vec![],
                pads: vec![0, 0, 0, 0],
                ceil_mode: false,
                count_include_pad: false,
            },
            activation: None,
        },
        &[c1],
        q8(&[1, 8, 4, 4], 0.05, -128),
    );
    let a = g.add_op(
        "add",
        Op::Binary {
            kind: BinaryKind::Add,
            activation: None,
        },
        &[c2, p],
        q8(&[1, 8, 4, 4], 0.05, -128),
    );
    let cat = g.add_op(
        "cat",
        Op::Concat { axis: 1 },
        &[a, p],
        q8(&[1, 16, 4, 4], 0.05, -128),
    );
    let mean = g.add_op(
        "mean",
        Op::Reduce {
            kind: ReduceKind::Mean,
            axes: vec![2, 3],
            keep_dims: false,
        },
        &[cat],
        q8(&[1, 16], 0.05, -70),
    );
    let (w3, b3) = weights(&mut g, "fc", &[10, 16], 0.05, 5);
    let fc = g.add_op(
        "fc",
        Op::Gemm(GemmAttrs::fully_connected(true, None)),
        &[mean, w3, b3],
        q8(&[1, 10], 0.1, 3),
    );
    let sm = g.add_op(
        "softmax",
        Op::Softmax { axis: 1, beta: 1.0 },
        &[fc],
        q8(&[1, 10], 1.0 / 256.0, -128),
    );
    let y = g.add_op(
        "y",
        Op::Dequantize,
        &[sm],
        TensorType::new(DType::F32, [1, 10]),
    );
    let fmap = g.add_op(
        "fmap",
        Op::Dequantize,
        &[a],
        TensorType::new(DType::F32, [1, 8, 4, 4]),
    );
    g.set_outputs(vec![y, fmap]);
    verify(&g).expect("test graph verifies");
    g
}

#[test]
fn nchw_int8_graph_exports_as_nhwc_and_matches_litert() {
    let g = nchw_int8_graph();
    let bytes = export_tflite(&g).expect("export");
    let back = import_tflite_bytes(&bytes, "back").expect("re-import");
    // The whole chain runs NHWC: the only transposes are after the input and before the
    // 4-D output.
    let transposes = back
        .node_indices()
        .into_iter()
        .filter(|&n| matches!(back.node(n).op, Op::Transpose { .. }))
        .count();
    assert_eq!(transposes, 2, "transposes in the exported graph");
    let inputs: Vec<Vec<Tensor>> = (0..3).map(|s| random_inputs(&g, 7 + s)).collect();
    for x in &inputs {
        let want = run(&g, x).expect("interpreter runs");
        assert_eq!(run(&back, x).expect("re-imported runs"), want);
    }
    let Some(python) = python() else { return };
    let dir = tempdir();
    let path = dir.path().join("nchw_int8.tflite");
    std::fs::write(&path, &bytes).expect("written");
    for x in &inputs {
        let want = run(&g, x).expect("interpreter runs");
        if let Err(e) = litert_check(&python, dir.path(), &path, x, &want, "ref", 0.0) {
            panic!("LiteRT disagrees: {e}");
        }
    }
}

#[test]
fn float_onnx_models_export_and_match_litert() {
    let models = [
        "cnn_bn_pool_softmax",
        "depthwise_conv",
        "residual_block",
        "mlp_gemm",
    ];
    let Some(python) = python() else { return };
    let dir = tempdir();
    let mut failures = vec![];
    for m in models {
        let Some(path) = require(&testdata().join(format!("onnx/models/{m}.onnx"))) else {
            continue;
        };
        let mut g = nnopt::load_model(&path).expect("import");
        nnopt::optimize(&mut g, None, &Default::default()).expect("optimize");
        let bytes = export_tflite(&g).unwrap_or_else(|e| panic!("{m}: {e}"));
        let out = dir.path().join(format!("{m}.tflite"));
        std::fs::write(&out, &bytes).expect("written");
        let x = random_inputs(&g, 11);
        let want = run(&g, &x).expect("interpreter runs");
        match litert_check(&python, dir.path(), &out, &x, &want, "ref", 1e-4) {
            Ok(line) => println!("{m}: {line}"),
            Err(e) => failures.push(format!("{m}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn cli_export_writes_int8_and_quantizes_float_models() {
    let Some(model) = require(&shared().join("models/hello_world_int8.tflite")) else {
        return;
    };
    let dir = tempdir();
    let out = dir.path().join("hw.tflite");
    let m = model.to_str().expect("utf-8 path");
    let o = out.to_str().expect("utf-8 path");
    nnopt_ok(&["export", m, "--int8", "-o", o]);
    let g = import_file(&out);
    let src = import_file(&model);
    let x = random_inputs(&src, 3);
    assert_eq!(run(&g, &x).expect("runs"), run(&src, &x).expect("runs"));
    // A float ONNX model: --int8 runs the int8 quantizer (random calibration here).
    let Some(float) = require(&testdata().join("onnx/models/cnn_bn_pool_softmax.onnx")) else {
        return;
    };
    nnopt_ok(&["export", float.to_str().expect("utf-8"), "--int8", "-o", o]);
    let q = import_file(&out);
    let int8_ops = q
        .node_indices()
        .into_iter()
        .filter(|&n| matches!(q.node(n).op, Op::Conv(_)))
        .filter(|&n| q.node(n).outputs[0].ty.dtype == DType::I8)
        .count();
    assert!(int8_ops > 0, "no int8 convolution in the exported model");
    let r = nnopt(&["export", m, "--calibration", m, "-o", o]);
    assert!(!r.status.success(), "calibration without --int8 must fail");
}

/// Arm's Vela (ethos-u-vela) compiles exported int8 models with every operator on the NPU.
#[test]
fn exported_int8_models_compile_with_vela() {
    let Some(vela) = require(&repo().join(".venv/bin/vela")) else {
        return;
    };
    let dir = tempdir();
    for (m, g) in int8_models() {
        let out = write_exported(dir.path(), &g);
        let r = Command::new(&vela)
            .arg(&out)
            .args(["--accelerator-config", "ethos-u55-256", "--output-dir"])
            .arg(dir.path().join("vela"))
            .output()
            .expect("vela runs");
        let text = String::from_utf8_lossy(&r.stdout);
        assert!(
            r.status.success(),
            "{m}: vela failed:\n{text}{}",
            String::from_utf8_lossy(&r.stderr)
        );
        let line = text
            .lines()
            .find(|l| l.contains("CPU operators"))
            .unwrap_or_else(|| panic!("{m}: no operator summary in vela's output:\n{text}"));
        println!("{m}: {line}");
        assert!(
            line.contains("= 0 "),
            "{m}: vela left operators on the CPU: {line}"
        );
    }
}

/// A model Vela has compiled (its `ethos-u` custom operator) is refused with a message
/// that says so and what to give nnopt instead.
#[test]
fn vela_output_is_refused_with_a_specific_message() {
    let Some(vela) = require(&repo().join(".venv/bin/vela")) else {
        return;
    };
    let dir = tempdir();
    let model = repo().join("examples/models/digits_cnn_int8.tflite");
    let r = Command::new(&vela)
        .arg(&model)
        .args(["--accelerator-config", "ethos-u55-256", "--output-dir"])
        .arg(dir.path())
        .output()
        .expect("vela runs");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let compiled = dir.path().join("digits_cnn_int8_vela.tflite");
    let out = nnopt(&["inspect", compiled.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(
            "already compiled by Vela for an Ethos-U NPU; give nnopt the model before Vela"
        ),
        "{stderr}"
    );
}

/// Float models quantized by nnopt's int8 PTQ (as `nnopt export --int8` does) run in
/// LiteRT bit-exact with nnopt's interpreter on the quantized graph; the ONNX one is NCHW.
#[test]
fn ptq_models_export_bit_exact_in_litert() {
    let models = [
        testdata().join("onnx/models/cnn_bn_pool_softmax.onnx"),
        testdata().join("onnx/models/depthwise_conv.onnx"),
        shared().join("models/generated/digits_cnn_float.tflite"),
    ];
    let Some(python) = python() else { return };
    let dir = tempdir();
    let mut failures = vec![];
    for path in models {
        let Some(path) = require(&path) else { continue };
        let name = path.file_stem().and_then(|s| s.to_str()).expect("stem");
        let mut g = nnopt::load_model(&path).expect("import");
        nnopt::optimize(&mut g, None, &Default::default()).expect("optimize");
        nnopt::calibration::quantize(&mut g, &Default::default()).expect("quantize");
        let out = dir.path().join(format!("{name}_int8.tflite"));
        std::fs::write(
            &out,
            export_tflite(&g).unwrap_or_else(|e| panic!("{name}: {e}")),
        )
        .expect("written");
        for seed in 0..2 {
            let x = random_inputs(&g, 40 + seed);
            let want = run(&g, &x).expect("interpreter runs");
            match litert_check(&python, dir.path(), &out, &x, &want, "ref", 0.0) {
                Ok(line) => println!("{name} seed {seed}: {line}"),
                Err(e) => failures.push(format!("{name} seed {seed}: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn exported_blaze_networks_run_bit_exact_in_litert() {
    // PReLU, channel padding and nearest upsampling, as the cost model's `blaze` search
    // space builds them (LiteRT once refused PRELU's operator version); seeds 1 and 2
    // concatenate inputs of other scales than their output (requantized before the
    // CONCATENATION, which LiteRT once refused). Seed 3 (a landmark head that differs
    // from LiteRT) is an open issue.
    use nnopt_costmodel::Space;
    let Some(python) = python() else { return };
    let dir = tempdir();
    let mut failures = vec![];
    let mut ops = std::collections::BTreeSet::new();
    for seed in [0, 1, 2, 4, 5] {
        let bytes = nnopt::costmodel::dataset::int8_tflite(Space::Blaze, seed).expect("export");
        let g = import_tflite_bytes(&bytes, "blaze").expect("import");
        ops.extend(nnopt::summary::summarize(&g).ops.into_keys());
        let out = dir.path().join(format!("blaze_{seed}.tflite"));
        std::fs::write(&out, &bytes).expect("written");
        let x = random_inputs(&g, 70 + seed);
        let want = run(&g, &x).expect("interpreter runs");
        match litert_check(&python, dir.path(), &out, &x, &want, "ref", 0.0) {
            Ok(line) => println!("blaze_{seed}: {line}"),
            Err(e) => failures.push(format!("blaze_{seed}: {e}")),
        }
    }
    for op in ["p_relu", "pad", "resize", "gemm"] {
        assert!(ops.contains(op), "no {op} in the networks tested: {ops:?}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Pools whose ONNX padding TFLite has no option for: a max pool padded `[1, 1, 1, 1]`
/// over 8×8 (SAME would pad `[0, 0, 1, 1]`) and, with `avg`, an average pool that counts
/// its padding; `ty` makes a value type of the graph (float or int8).
fn padded_pools_graph(ty: &dyn Fn(&[usize]) -> TensorType, avg: bool) -> Graph {
    let mut g = Graph::new("padded_pools");
    let x = g.add_input("x", ty(&[1, 4, 8, 8]));
    let pool = |kind, strides: usize, count_include_pad| Op::Pool {
        pool: PoolAttrs {
            kind,
            layout: Layout::Nchw,
            kernel: vec![3, 3],
            strides: vec![strides, strides],
            dilations: vec![],
            pads: vec![1, 1, 1, 1],
            ceil_mode: false,
            count_include_pad,
        },
        activation: None,
    };
    let max = g.add_op(
        "max",
        pool(PoolKind::Max, 2, false),
        &[x],
        ty(&[1, 4, 4, 4]),
    );
    let mut outputs = vec![max];
    if avg {
        outputs.push(g.add_op("avg", pool(PoolKind::Avg, 1, true), &[x], ty(&[1, 4, 8, 8])));
    }
    g.set_outputs(outputs);
    verify(&g).expect("test graph verifies");
    g
}

#[test]
fn pools_with_explicit_padding_export_and_match_litert() {
    let float = padded_pools_graph(&|s| TensorType::new(DType::F32, s.to_vec()), true);
    // Same scale in and out, as LiteRT's int8 pools require (nnopt's int8 average pool
    // never counts padding).
    let int8 = padded_pools_graph(&|s| q8(s, 0.05, -3), false);
    for (g, rtol) in [(float, 1e-6), (int8, 0.0)] {
        let bytes = export_tflite(&g).expect("export");
        let back = import_tflite_bytes(&bytes, "back").expect("re-import");
        let x = random_inputs(&g, 5);
        let want = run(&g, &x).expect("interpreter runs");
        let got = run(&back, &x).expect("re-imported runs");
        for (w, o) in want.iter().zip(&got) {
            assert_eq!(w.shape(), o.shape());
        }
        let Some(python) = python() else { return };
        let dir = tempdir();
        let path = dir.path().join("padded_pools.tflite");
        std::fs::write(&path, &bytes).expect("written");
        if let Err(e) = litert_check(&python, dir.path(), &path, &x, &want, "ref", rtol) {
            panic!(
                "{:?}: LiteRT disagrees: {e}",
                g.ty(ValueRef::first(g.inputs()[0])).dtype
            );
        }
    }
    // An average pool that does not count a padding TFLite cannot express is refused.
    let mut g = Graph::new("refused");
    let x = g.add_input("x", TensorType::new(DType::F32, [1, 4, 8, 8]));
    let avg = Op::Pool {
        pool: PoolAttrs {
            kind: PoolKind::Avg,
            layout: Layout::Nchw,
            kernel: vec![3, 3],
            strides: vec![2, 2],
            dilations: vec![],
            pads: vec![1, 1, 1, 1],
            ceil_mode: false,
            count_include_pad: false,
        },
        activation: None,
    };
    let y = g.add_op("avg", avg, &[x], TensorType::new(DType::F32, [1, 4, 4, 4]));
    g.set_outputs(vec![y]);
    let err = export_tflite(&g).unwrap_err().to_string();
    assert!(err.contains("does not count the padding"), "{err}");
}
