//! `nnopt compile --target npu --precision fp8`: FP8 (E4M3) binaries read back and run on
//! the virtual NPU bit-exactly with the interpreter on the FP8 IR they were lowered from,
//! corrupt FP8 binaries are rejected, and the CLI compiles, describes and runs them.

mod common;

use common::{lcg_step, nnopt, nnopt_ok, require, run_on, shared, tempdir, testdata};
use ndarray::Axis;
use nnopt::backends::npu::binary;
use nnopt::backends::npu::compress::compress_weights;
use nnopt::backends::npu::target::Target;
use nnopt::backends::npu::{vnpu, Command, Program};
use nnopt::calibration::{CalibrationArgs, CalibrationData};
use nnopt::compile::{compile_npu, Compiled, NpuOptions, Precision};
use nnopt::compiler::interp;
use nnopt::compiler::ir::{Graph, Tensor};
use std::path::{Path, PathBuf};

fn options(precision: Precision, calibration: Vec<PathBuf>) -> NpuOptions {
    NpuOptions {
        target: Target::preset("npu").unwrap(),
        precision,
        cpu_fallback: true,
        calibration: CalibrationArgs {
            data: CalibrationData {
                calibration,
                ..Default::default()
            },
            ..Default::default()
        },
        pipeline: None,
    }
}

/// Seeded f32 inputs in [-1, 1).
fn inputs(g: &Graph, seed: u64) -> Vec<Tensor> {
    let mut s = seed.wrapping_add(1);
    let mut next = move || lcg_step(&mut s) >> 33;
    g.inputs()
        .iter()
        .map(|&n| {
            let ty = &g.node(n).outputs[0].ty;
            let v: Vec<f64> = (0..ty.num_elements())
                .map(|_| (next() % 2000) as f64 / 1000.0 - 1.0)
                .collect();
            Tensor::from_f64s(ty.dtype, &ty.shape, &v).unwrap()
        })
        .collect()
}

/// The held digits images stacked as one `[n, 8, 8, 1]` calibration file (every fifth
/// row, as tests/ptq_accuracy.rs calibrates), and the first images as test inputs.
fn digits_calibration(dir: &Path, out: &Path) -> Vec<Tensor> {
    let x = nnopt::npy::read_npy(&dir.join("test_x.npy")).expect("test_x.npy");
    let x = x.as_f32().expect("f32 images").clone();
    let rows: Vec<usize> = (0..x.len_of(Axis(0))).step_by(5).collect();
    let calib = x.select(Axis(0), &rows);
    nnopt::npy::write_npy(out, &Tensor::F32(calib)).expect("write calibration");
    (1..4)
        .map(|i| Tensor::F32(x.select(Axis(0), &[i])))
        .collect()
}

/// Checks that the binary of `c` reads back to the same program and runs bit-exactly with
/// the interpreter on the FP8 graph, on each input set.
fn assert_bit_exact(name: &str, c: &Compiled, inputs: &[Vec<Tensor>]) {
    let (p, target) = binary::read(&c.binary).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(p, c.program, "{name}: program changed through the binary");
    assert_eq!(target.fp8_macs_per_cycle, 128);
    for (k, x) in inputs.iter().enumerate() {
        let want = interp::run(&c.graph, x).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = vnpu::run(&p, x).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            // Bit patterns, so that NaN and -0.0 are compared exactly.
            let bits = |t: &Tensor| t.as_f32().map(|a| a.mapv(f32::to_bits));
            assert_eq!(g.shape(), w.shape(), "{name} input {k}");
            assert_eq!(bits(g), bits(w), "{name} input {k}");
            assert_eq!(g.dtype(), w.dtype());
        }
    }
}

/// Commands running FP8 layers.
fn fp8_layers(c: &Compiled) -> usize {
    c.program
        .commands
        .iter()
        .filter(|cmd| match cmd {
            Command::Conv2d(x) => x.fp8.is_some(),
            Command::FullyConnected(x) => x.fp8.is_some(),
            _ => false,
        })
        .count()
}

fn summary(name: &str, c: &Compiled) {
    let (raw, enc) = c.weight_totals();
    println!(
        "{name}: {} binary bytes, weights {raw} -> {enc}, {} NPU cycles, {} FP8 layers, {} CPU fallbacks {:?}",
        c.binary.len(),
        c.estimate.npu_cycles,
        fp8_layers(c),
        c.lowering.fallbacks.len(),
        c.lowering
            .fallbacks
            .iter()
            .map(|f| f.op.as_str())
            .collect::<Vec<_>>()
    );
}

#[test]
fn digits_fp8_runs_bit_exactly_on_every_op_of_the_npu() {
    let (Some(model), Some(dir)) = (
        require(&shared().join("models/generated/digits_cnn_float.tflite")),
        require(&testdata().join("digits")),
    ) else {
        return;
    };
    let tmp = tempdir();
    let calib = tmp.path().join("calib.npy");
    let xs = digits_calibration(&dir, &calib);
    let g = nnopt::load_model(&model).unwrap();
    let c = compile_npu(g.clone(), &options(Precision::Fp8, vec![calib.clone()])).unwrap();
    let fp8 = c.fp8.as_ref().expect("FP8 report");
    assert!(!fp8.synthetic && fp8.warnings.is_empty(), "{fp8}");
    assert!(c.warnings().is_empty());
    assert!(fp8_layers(&c) >= 3, "{:?}", c.program.commands);
    assert!(
        c.lowering.fallbacks.is_empty(),
        "{:?}",
        c.lowering.fallbacks
    );
    let sets: Vec<Vec<Tensor>> = xs.into_iter().map(|x| vec![x]).collect();
    assert_bit_exact("digits fp8", &c, &sets);
    // FP8 weights are a quarter of f32 and compress losslessly; the MACs run at the FP8
    // rate (half the int8 rate on npu-256), so the estimate differs from int8.
    let int8 = compile_npu(g, &options(Precision::Int8, vec![calib])).unwrap();
    summary("digits fp8", &c);
    summary("digits int8", &int8);
    assert_eq!(c.estimate.macs, int8.estimate.macs);
    assert_ne!(c.estimate.npu_cycles, int8.estimate.npu_cycles);
    let types: Vec<&str> = c.weights.iter().map(|w| w.weight_type).collect();
    assert!(types.iter().all(|&t| t == "f8e4m3"), "{types:?}");
}

#[test]
fn onnx_models_compile_to_fp8_and_run_bit_exactly() {
    let Some(dir) = require(&testdata().join("onnx/models")) else {
        return;
    };
    let mut models: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    models.sort();
    assert!(models.len() >= 10, "{models:?}");
    let mut with_fp8 = 0;
    for m in &models {
        let name = m.file_stem().unwrap().to_string_lossy().into_owned();
        let g = nnopt::load_model(m).unwrap();
        let c = match compile_npu(g.clone(), &options(Precision::Fp8, vec![])) {
            Ok(c) => c,
            // Models the NPU cannot take at all (a constant graph output) fail with int8
            // precision too.
            Err(e) => {
                let int8 = compile_npu(g, &options(Precision::Int8, vec![]));
                assert!(int8.is_err(), "{name}: fails only with FP8: {e}");
                println!("{name}: not compiled: {e}");
                continue;
            }
        };
        let sets: Vec<Vec<Tensor>> = (0..2).map(|s| inputs(&c.graph, s)).collect();
        assert_bit_exact(&name, &c, &sets);
        with_fp8 += usize::from(fp8_layers(&c) > 0);
        summary(&name, &c);
    }
    // The convolution and Gemm models get FP8 layers.
    assert!(with_fp8 >= 5, "only {with_fp8} models have FP8 layers");
}

#[test]
fn mediapipe_models_compile_to_fp8_and_run_bit_exactly() {
    for m in ["face_detection_short_range", "selfie_segmentation"] {
        let Some(path) = require(&shared().join(format!("models/{m}.tflite"))) else {
            continue;
        };
        let g = nnopt::load_model(&path).unwrap();
        let c = compile_npu(g.clone(), &options(Precision::Fp8, vec![]))
            .unwrap_or_else(|e| panic!("{m}: {e}"));
        assert!(c.fp8.as_ref().is_some_and(|r| r.synthetic) && !c.warnings().is_empty());
        assert!(fp8_layers(&c) >= 10, "{m}");
        // Standalone f32 activations (hard swish, sigmoid) run on the NPU in FP8 mode.
        let ops: Vec<&str> = c.lowering.fallbacks.iter().map(|f| f.op.as_str()).collect();
        assert!(
            !ops.iter().any(|o| o.starts_with("activation")),
            "{m}: {ops:?}"
        );
        assert_bit_exact(m, &c, &[inputs(&c.graph, 7)]);
        summary(m, &c);
        let int8 = compile_npu(g, &options(Precision::Int8, vec![])).unwrap();
        summary(&format!("{m} int8"), &int8);
    }
}

#[test]
fn corrupt_fp8_binaries_are_rejected() {
    let Some(dir) = require(&testdata().join("onnx/models")) else {
        return;
    };
    let g = nnopt::load_model(&dir.join("cnn_bn_pool_softmax.onnx")).unwrap();
    let c = compile_npu(g, &options(Precision::Fp8, vec![])).unwrap();
    assert!(fp8_layers(&c) > 0);
    let file = &c.binary;
    for i in 0..file.len() {
        let mut bad = file.clone();
        bad[i] ^= 1 << (i % 8);
        assert!(binary::read(&bad).is_err(), "flip at byte {i} was accepted");
    }
    let mut bad = file.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    let err = binary::read(&bad).unwrap_err().to_string();
    assert!(err.contains("CRC"), "{err}");
    // A well-formed file that describes an inconsistent FP8 block is refused too.
    let mut p = c.program.clone();
    let block = p.weights.iter_mut().find(|w| w.fp8.is_some()).unwrap();
    block.fp8.as_mut().unwrap().scales.pop();
    let err = write_binary(&p).unwrap_err().to_string();
    assert!(err.contains("FP8 weights"), "{err}");
    // An FP8 command may not take an integer block.
    let mut p = c.program.clone();
    let block = p.weights.iter_mut().find(|w| w.fp8.is_some()).unwrap();
    block.fp8 = None;
    assert!(write_binary(&p).is_err());
}

/// Compresses the weights of `p` and serializes it for the default target.
fn write_binary(p: &Program) -> nnopt::compiler::Result<Vec<u8>> {
    let weights = compress_weights(p)?;
    binary::write(p, &Target::preset("npu").unwrap(), &weights.blocks)
}

#[test]
fn fp8_lowering_snapshot() {
    let Some(dir) = require(&testdata().join("onnx/models")) else {
        return;
    };
    let g = nnopt::load_model(&dir.join("cnn_bn_pool_softmax.onnx")).unwrap();
    let c = compile_npu(g, &options(Precision::Fp8, vec![])).unwrap();
    let table = nnopt::report::npu::render_table(&c, "cnn_bn_pool_softmax");
    let stable: Vec<&str> = table
        .lines()
        .filter(|l| !l.starts_with("compiled in"))
        .collect();
    insta::assert_snapshot!(format!(
        "{}\n\nschedule:\n{}",
        stable.join("\n"),
        nnopt::backends::npu::print::schedule(&c.program).join("\n")
    ));
}

#[test]
fn cli_compiles_describes_and_runs_fp8() {
    let (Some(model), Some(int8)) = (
        require(&shared().join("models/generated/digits_cnn_float.tflite")),
        require(&shared().join("models/generated/digits_cnn_int8.tflite")),
    ) else {
        return;
    };
    let dir = tempdir();
    let out = dir.path().join("d.npub");
    let json = nnopt_ok(&[
        "compile",
        model.to_str().unwrap(),
        "--precision",
        "fp8",
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["precision"], "fp8");
    assert_eq!(v["weight_blocks"][0]["weight_type"], "f8e4m3");
    let info = nnopt_ok(&["inspect", out.to_str().unwrap()]);
    assert!(
        info.contains("f8e4m3 x") && info.contains("fp8(weights f8e4m3"),
        "{info}"
    );
    let x = Tensor::F32(ndarray::ArrayD::zeros(vec![2, 8, 8, 1]));
    let y = run_on(&out, &x, dir.path());
    assert_eq!(
        (y.dtype().to_string().as_str(), y.shape()),
        ("f32", &[2, 10][..])
    );
    // An int8 model cannot be compiled to FP8.
    let bad = nnopt(&["compile", int8.to_str().unwrap(), "--precision", "fp8"]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("already int8"), "{err}");
}

/// An FP8 graph beyond what `--precision fp8` makes: E5M2 data into a depthwise NHWC
/// convolution with E4M3 weights and a leaky ReLU, an f32 max, a non-saturating quantize
/// (left to the CPU) and a dequantize.
const HAND_WRITTEN: &str = r#"graph "hand"(%x) {
  %x: f32[1,4,4,2] = input
  %w: f8e4m3[2,3,3,1] q(scale=[0.5, 0.25], zp=[0, 0], axis=0) = const [56, 48, 60, 184, 0, 66, 200, 52, 40, 57, 176, 62, 33, 190, 1, 129, 70, 44]
  %b: f32[2] = const [0.1, -0.2]
  %xq: f8e5m2[1,4,4,2] q(scale=[0.05], zp=[0]) = quantize {"to":"f8e5m2"}(%x)
  %c: f32[1,4,4,2] = conv {"layout":"nhwc","strides":[1,1],"dilations":[1,1],"pads":[1,1,1,1],"group":2,"activation":{"leaky_relu":{"alpha":0.1}}}(%xq, %w, %b)
  %m: f32[1,4,4,2] = binary {"kind":"max","activation":null}(%c, %x)
  %q: f8e4m3[1,4,4,2] q(scale=[0.001], zp=[0]) = quantize {"to":"f8e4m3","saturate":false}(%m)
  %d: f32[1,4,4,2] = dequantize(%q)
  return %d, %m
}
"#;

#[test]
fn hand_written_fp8_graph_runs_bit_exactly() {
    use nnopt::backends::npu::{compile, LowerOptions};
    let g = nnopt::compiler::ir::text::parse_graph(HAND_WRITTEN).unwrap();
    let target = Target::preset("npu").unwrap();
    let c = compile(&g, &target, &LowerOptions::default()).unwrap();
    let (p, report, file) = (c.program, c.lowering, c.binary);
    let reasons: Vec<(&str, &str)> = report
        .fallbacks
        .iter()
        .map(|f| (f.node.as_str(), f.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].1.contains("non-saturating"), "{reasons:?}");
    let kinds: Vec<&str> = p.commands.iter().map(|c| c.kind_name()).collect();
    assert_eq!(kinds, ["quantize", "conv2d", "elementwise", "cpu"]);
    let (back, _) = binary::read(&file).unwrap();
    assert_eq!(back, p);
    for seed in 0..3 {
        // Values up to +-40: the non-saturating quantize overflows to NaN.
        let x: Vec<Tensor> = inputs(&g, seed)
            .into_iter()
            .map(|t| Tensor::F32(t.as_f32().unwrap().mapv(|v| v * 40.0)))
            .collect();
        let want = interp::run(&g, &x).unwrap();
        let got = vnpu::run(&back, &x).unwrap();
        let bits = |t: &Tensor| t.as_f32().unwrap().mapv(f32::to_bits);
        for (a, b) in got.iter().zip(&want) {
            assert_eq!(bits(a), bits(b), "seed {seed}");
        }
        assert!(want[0].as_f32().unwrap().iter().any(|v| v.is_nan()));
    }
}
