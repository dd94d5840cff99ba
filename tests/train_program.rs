//! Training programs (`.ntp`) and federated-learning messages: `nnopt compile --target
//! train` and the library write them deterministically, read them back exactly, and
//! reject corrupt or mismatched files and messages.

mod common;

use common::*;
use nnopt::compiler::fp8::Fp8Format;
use nnopt::compiler::ir::text::{print_graph, PrintOptions};
use nnopt::compiler::ir::{DType, Graph, Tensor};
use nnopt::passes::{InitScheme, TrainPrecision};
use nnopt::train::binary::{read, write};
use nnopt::train::message::{layout_id, Encoding, Message, MessageKind, Payload};
use nnopt::train::{CompileOptions, MasterWeights, OptimizerKind, ParamInfo, TrainingProgram};
use rand::SeedableRng;
use std::path::{Path, PathBuf};

/// The digits CNN (TFLite, NHWC) and MLP (ONNX), the ones that exist.
fn models() -> Vec<PathBuf> {
    [
        shared().join("models/generated/digits_cnn_float.tflite"),
        testdata().join("digits/digits_mlp.onnx"),
    ]
    .iter()
    .filter_map(|p| require(p))
    .collect()
}

fn options(precision: TrainPrecision) -> CompileOptions {
    CompileOptions {
        precision,
        batch: 16,
        ..CompileOptions::default()
    }
}

fn text(g: &Graph) -> String {
    print_graph(g, &PrintOptions::default())
}

fn param_bits(p: &TrainingProgram) -> Vec<Vec<u32>> {
    p.initial_params()
        .unwrap()
        .iter()
        .map(|t| t.as_f32().unwrap().iter().map(|x| x.to_bits()).collect())
        .collect()
}

fn assert_same(name: &str, p: &TrainingProgram, q: &TrainingProgram) {
    assert_eq!(text(&p.forward), text(&q.forward), "{name}: forward graph");
    assert_eq!(param_bits(p), param_bits(q), "{name}: parameter values");
    assert_eq!(p.params, q.params, "{name}: parameters");
    assert_eq!(p.precision, q.precision, "{name}: precision");
    assert_eq!(p.optimizer, q.optimizer, "{name}: optimizer");
    assert_eq!(
        (p.batch, p.scaling, p.master_weights),
        (q.batch, q.scaling, q.master_weights),
        "{name}"
    );
    assert_eq!(p.steps.len(), q.steps.len(), "{name}: steps");
    for (s, t) in p.steps.iter().zip(&q.steps) {
        assert_eq!(s.precision, t.precision, "{name}");
        assert_eq!(text(&s.graph), text(&t.graph), "{name}: step graph");
        assert_eq!(s.quant_points, t.quant_points, "{name}: quant points");
    }
}

#[test]
fn library_round_trip_is_exact_and_deterministic() {
    for model in models() {
        let g = nnopt::load_model(&model).unwrap();
        for precision in [TrainPrecision::Fp8, TrainPrecision::Fp32] {
            let name = format!("{} {}", model.display(), precision.name());
            let p = TrainingProgram::compile(&g, &options(precision)).unwrap();
            let bytes = write(&p);
            let q = read(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_same(&name, &p, &q);
            assert_eq!(write(&q), bytes, "{name}: write(read(file)) is the file");
            let again = TrainingProgram::compile(&g, &options(precision)).unwrap();
            assert_eq!(write(&again), bytes, "{name}: two compilations, two files");
            let fp8 = precision == TrainPrecision::Fp8;
            assert_eq!(q.steps.len(), if fp8 { 2 } else { 1 }, "{name}");
            assert_eq!(!q.steps[0].quant_points.is_empty(), fp8, "{name}");
            // The starting values are the model's own, bit for bit.
            let model_bits: Vec<Vec<u32>> = p
                .params
                .iter()
                .map(|info| {
                    let n = g.find_node(&info.name).unwrap();
                    let v = g
                        .const_value(nnopt::compiler::ir::ValueRef::first(n))
                        .unwrap();
                    v.as_f32().unwrap().iter().map(|x| x.to_bits()).collect()
                })
                .collect();
            assert_eq!(param_bits(&q), model_bits, "{name}");
        }
    }
}

#[test]
fn reinitialized_programs_depend_on_the_seed_only() {
    let Some(model) = models().into_iter().next() else {
        return;
    };
    let g = nnopt::load_model(&model).unwrap();
    let reinit = |seed| {
        let opts = CompileOptions {
            reinit: Some(seed),
            ..options(TrainPrecision::Fp8)
        };
        TrainingProgram::compile(&g, &opts).unwrap()
    };
    let (a, b, c) = (reinit(1), reinit(1), reinit(2));
    assert_eq!(write(&a), write(&b));
    assert_ne!(param_bits(&a), param_bits(&c));
    assert_same("reinit", &a, &read(&write(&a)).unwrap());
}

#[test]
fn corrupt_and_truncated_programs_are_rejected() {
    for model in models() {
        let g = nnopt::load_model(&model).unwrap();
        let bytes = write(&TrainingProgram::compile(&g, &options(TrainPrecision::Fp8)).unwrap());
        // Every bit of the header and of the first and last KiB, and a bit of every
        // 97th byte elsewhere.
        let n = bytes.len();
        let bytes_to_flip = (0..n).filter(|&i| i < 20 + 1024 || i + 1024 >= n || i % 97 == 0);
        let mut flips = 0;
        for i in bytes_to_flip {
            let bits: Vec<u8> = if i < 20 + 1024 || i + 1024 >= n {
                (0..8).collect()
            } else {
                vec![(i % 8) as u8]
            };
            for bit in bits {
                let mut bad = bytes.clone();
                bad[i] ^= 1 << bit;
                assert!(
                    read(&bad).is_err(),
                    "{}: flip of byte {i} bit {bit} accepted",
                    model.display()
                );
                flips += 1;
            }
        }
        assert!(flips > 16_000, "{flips}");
        for len in (0..n).step_by(n / 200 + 1).chain([n - 1]) {
            let err = read(&bytes[..len]).unwrap_err().to_string();
            assert!(
                err.contains("shorter") || err.contains("truncated"),
                "truncation to {len}: {err}"
            );
        }
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(read(&padded).unwrap_err().to_string().contains("padded"));
    }
}

fn message(params: &[ParamInfo], encoding: Encoding, seed: u64) -> Message {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let values: Vec<Tensor> = params
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let n: usize = p.shape.iter().product();
            let v: Vec<f64> = (0..n)
                .map(|i| ((i * 7 + k) % 13) as f64 / 4.0 - 1.5)
                .collect();
            Tensor::from_f64s(DType::F32, &p.shape, &v).unwrap()
        })
        .collect();
    Message {
        kind: MessageKind::Update,
        round: 7,
        client: 3,
        samples: 1234,
        layout: layout_id(params),
        payloads: values
            .iter()
            .map(|v| Payload::encode(v, encoding, true, &mut rng).unwrap())
            .collect(),
    }
}

fn small_params() -> Vec<ParamInfo> {
    vec![
        ParamInfo {
            name: "w".into(),
            shape: vec![4, 3],
        },
        ParamInfo {
            name: "b".into(),
            shape: vec![3],
        },
    ]
}

#[test]
fn messages_round_trip_and_reject_corruption() {
    let params = small_params();
    for encoding in [
        Encoding::F32,
        Encoding::Fp8(Fp8Format::E4M3),
        Encoding::Fp8(Fp8Format::E5M2),
    ] {
        let m = message(&params, encoding, 5);
        let bytes = m.to_bytes();
        assert_eq!(&bytes[..4], b"NFLM");
        assert_eq!(bytes, m.to_bytes(), "deterministic");
        // Compact: the header, the message fields and a few bytes a payload.
        let data: usize = m.payloads.iter().map(|p| p.data.len()).sum();
        let overhead = bytes.len() - data;
        assert!(
            overhead <= 100 + 32 * m.payloads.len(),
            "{overhead} bytes of overhead"
        );
        let back = Message::from_bytes(&bytes).unwrap();
        assert_eq!(back, m);
        back.check_against(&params).unwrap();
        for i in 0..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(
                Message::from_bytes(&bad).is_err(),
                "{encoding:?}: flip of bit {i} accepted"
            );
        }
        for len in 0..bytes.len() {
            assert!(
                Message::from_bytes(&bytes[..len]).is_err(),
                "truncation to {len}"
            );
        }
    }
    let broadcast = Message {
        kind: MessageKind::Broadcast,
        client: 0,
        samples: 0,
        ..message(&params, Encoding::F32, 1)
    };
    assert_eq!(
        Message::from_bytes(&broadcast.to_bytes()).unwrap(),
        broadcast
    );
}

#[test]
fn mismatched_messages_are_rejected() {
    let params = small_params();
    let m = message(&params, Encoding::Fp8(Fp8Format::E4M3), 2);
    let mut other = params.clone();
    other[1].shape = vec![1, 3];
    let err = m.check_against(&other).unwrap_err().to_string();
    let want = format!(
        "message for parameter layout {:08x}, this program has {:08x}",
        layout_id(&params),
        layout_id(&other)
    );
    assert_eq!(err, want);
    let mut fewer = m.clone();
    fewer.payloads.pop();
    let err = fewer.check_against(&params).unwrap_err().to_string();
    assert!(
        err.contains("1 payloads, this program has 2 parameters"),
        "{err}"
    );
    let mut short = m.clone();
    short.payloads[0].data.pop();
    let err = short.check_against(&params).unwrap_err().to_string();
    assert!(
        err.contains("'w' [4, 3] has 11 bytes, 12 values of e4m3 need 12"),
        "{err}"
    );
    let mut nan = m.clone();
    nan.payloads[1].scale = f32::NAN;
    let err = Message::from_bytes(&nan.to_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("payload #1") && err.contains("scale NaN"),
        "{err}"
    );
    let err = Message::from_bytes(b"NTRP").unwrap_err().to_string();
    assert!(err.contains("not an FL message"), "{err}");
}

/// A model with no conv or gemm: nothing to train.
const NO_PARAMS: &str = r#"graph "no_params"(%x) {
  %x: f32[1,10] = input
  %p: f32[1,10] = softmax {"axis":1,"beta":1.0}(%x)
  return %p
}
"#;

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn cli_compiles_inspects_and_is_deterministic() {
    let dir = tempdir();
    for model in models() {
        let stem = model.file_stem().unwrap().to_string_lossy().into_owned();
        let a = dir.path().join(format!("{stem}_a.ntp"));
        let b = dir.path().join(format!("{stem}_b.ntp"));
        let out = nnopt_ok(&[
            "compile",
            path_str(&model),
            "--target",
            "train",
            "-o",
            path_str(&a),
            "--json",
        ]);
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(j["precision"], "fp8");
        assert_eq!(j["batch"], 16);
        assert_eq!(j["amax_history"], 16);
        assert_eq!(j["master_weights"], "f32");
        assert_eq!(j["optimizer"]["kind"], "sgd");
        assert_eq!(
            j["optimizer"]["learning_rate"].to_string(),
            "0.05",
            "f32 values print as such"
        );
        assert_eq!(j["output"], path_str(&a));
        let steps = j["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0]["precision"], "fp8");
        assert_eq!(steps[1]["precision"], "fp32");
        for role in ["weight", "activation", "gradient"] {
            assert!(steps[0]["quant_points"][role].is_object(), "{role}: {j}");
        }
        let bytes = std::fs::read(&a).unwrap();
        assert_eq!(j["bytes"], bytes.len());
        // The library gives the same file.
        let g = nnopt::load_model(&model).unwrap();
        let lib = write(&TrainingProgram::compile(&g, &options(TrainPrecision::Fp8)).unwrap());
        assert_eq!(lib, bytes, "{stem}: CLI and library");
        let text = nnopt_ok(&[
            "compile",
            path_str(&model),
            "--target",
            "train",
            "-o",
            path_str(&b),
        ]);
        assert!(text.contains("wrote"), "{text}");
        assert_eq!(std::fs::read(&b).unwrap(), bytes, "{stem}: two runs");
        let inspect: serde_json::Value =
            serde_json::from_str(&nnopt_ok(&["inspect", path_str(&a), "--json"])).unwrap();
        for key in [
            "precision",
            "batch",
            "params",
            "steps",
            "layout",
            "learning_rate",
        ] {
            assert_eq!(inspect[key], j[key], "{key}");
        }
        assert_eq!(inspect["format"], "2.0");
        let table = nnopt_ok(&["inspect", path_str(&a)]);
        for want in [
            "training program, format 2.0",
            "master weights f32",
            "quantizers:",
            "fp32",
        ] {
            assert!(table.contains(want), "{want}: {table}");
        }
        // Options reach the program.
        let c = dir.path().join(format!("{stem}_c.ntp"));
        nnopt_ok(&[
            "compile",
            path_str(&model),
            "--target",
            "train",
            "--precision",
            "fp32",
            "-o",
            path_str(&c),
            "--batch",
            "8",
            "--optimizer",
            "sgd",
            "--warmup-steps",
            "20",
            "--init",
            "glorot",
            "--learning-rate",
            "0.125",
            "--momentum",
            "0.5",
            "--weight-decay",
            "0",
            "--amax-history",
            "4",
            "--master-weights",
            "fp8",
            "--reinit",
            "--seed",
            "9",
        ]);
        let p = read(&std::fs::read(&c).unwrap()).unwrap();
        assert_eq!(p.batch, 8);
        assert_eq!(p.precision, TrainPrecision::Fp32);
        assert_eq!(
            (
                p.optimizer.kind,
                p.optimizer.learning_rate,
                p.optimizer.momentum,
                p.optimizer.weight_decay,
                p.optimizer.warmup_steps
            ),
            (OptimizerKind::Sgd, 0.125, 0.5, 0.0, 20)
        );
        assert_eq!(p.scaling.history, 4);
        assert_eq!(p.master_weights, MasterWeights::Fp8);
        assert_eq!(p.steps.len(), 1);
        let opts = CompileOptions {
            precision: TrainPrecision::Fp32,
            batch: 8,
            reinit: Some(9),
            init: InitScheme::Glorot,
            ..CompileOptions::default()
        };
        let want = TrainingProgram::compile(&g, &opts).unwrap();
        assert_eq!(param_bits(&p), param_bits(&want), "--reinit --seed 9");
    }
}

#[test]
fn default_output_is_beside_the_model() {
    let dir = tempdir();
    let model = dir.path().join("mlp.nnir");
    std::fs::write(
        &model,
        r#"graph "mlp"(%x) {
  %x: f32[1,4] = input
  %w: f32[4,3] = const [0.5, -1.0, 2.0, 0.0, 1.0, 1.0, -0.5, 0.25, 0.75, 1.5, -2.0, 0.125]
  %b: f32[3] = const [0.1, -0.2, 0.3]
  %y: f32[1,3] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":false,"activation":null}(%x, %w, %b)
  return %y
}
"#,
    )
    .unwrap();
    nnopt_ok(&["compile", path_str(&model), "--target", "train"]);
    let p = read(&std::fs::read(dir.path().join("mlp.ntp")).unwrap()).unwrap();
    assert_eq!(p.params.len(), 2);
    assert_eq!(p.precision, TrainPrecision::Fp8);
}

/// Runs `nnopt args` expecting failure mentioning `want`, and no file at `out`.
fn fails(args: &[&str], want: &str, out: &Path) {
    let o = nnopt(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert!(
        err.contains(want),
        "{args:?}: '{err}' does not mention '{want}'"
    );
    assert!(!out.exists(), "{args:?} wrote {}", out.display());
}

#[test]
fn cli_errors_leave_no_output() {
    let dir = tempdir();
    let none = dir.path().join("no_params.nnir");
    std::fs::write(&none, NO_PARAMS).unwrap();
    let out = dir.path().join("out.ntp");
    let o = path_str(&out);
    fails(
        &["compile", path_str(&none), "--target", "train", "-o", o],
        "no trainable parameters",
        &out,
    );
    for model in models() {
        let m = path_str(&model);
        fails(
            &[
                "compile",
                m,
                "--target",
                "train",
                "--precision",
                "int8",
                "-o",
                o,
            ],
            "--precision int8 is for NPU targets",
            &out,
        );
        fails(
            &["compile", m, "--target", "train", "--batch", "0", "-o", o],
            "batch size must be at least 1",
            &out,
        );
        fails(
            &[
                "compile", m, "--target", "train", "--report", "r.html", "-o", o,
            ],
            "--report does not apply to --target train",
            &out,
        );
        fails(
            &["compile", m, "--target", "train", "--seed", "3", "-o", o],
            "--reinit",
            &out,
        );
        let npub = dir.path().join("out.npub");
        fails(
            &["compile", m, "--batch", "4", "-o", path_str(&npub)],
            "--batch only applies to --target train",
            &npub,
        );
        fails(
            &["compile", m, "--precision", "fp32", "-o", path_str(&npub)],
            "--precision fp32 is for --target train",
            &npub,
        );
    }
    let mut bad = write(&{
        let g = nnopt::compiler::ir::text::parse_graph(
            r#"graph "g"(%x) {
  %x: f32[1,2] = input
  %w: f32[2,2] = const [1.0, 2.0, 3.0, 4.0]
  %y: f32[1,2] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":false,"activation":null}(%x, %w)
  return %y
}
"#,
        )
        .unwrap();
        TrainingProgram::compile(&g, &options(TrainPrecision::Fp32)).unwrap()
    });
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let corrupt = dir.path().join("corrupt.ntp");
    std::fs::write(&corrupt, &bad).unwrap();
    let o = nnopt(&["inspect", path_str(&corrupt)]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("corrupt.ntp") && err.contains("training program is corrupt: CRC-32"),
        "{err}"
    );
}
