//! Round trips and rejections of `.ntp` files built from a small graph.

use super::{read, write};
use crate::{CompileOptions, MasterWeights, OptimizerKind, TrainingProgram};
use nnopt_compiler::fp8::Fp8Format;
use nnopt_compiler::ir::text::{parse_graph, print_graph, PrintOptions};
use nnopt_compiler::ir::{Op, Tensor};
use nnopt_passes::TrainPrecision;

const TINY: &str = r#"graph "tiny"(%x) {
  %x: f32[1,4] = input
  %w: f32[4,3] = const [0.5, -1.0, 2.0, 0.0, 1.0, 1.0, -0.5, 0.25, 0.125, 3.0, -2.0, 1.5]
  %b: f32[3] = const [0.1, 0.2, 0.3]
  %h: f32[1,3] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":false,"activation":"relu"}(%x, %w, %b)
  %v: f32[3,2] = const [1.0, -1.0, 0.5, 0.5, -0.25, 2.0]
  %y: f32[1,2] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":false,"activation":null}(%h, %v)
  %p: f32[1,2] = softmax {"axis":1,"beta":1.0}(%y)
  return %p
}
"#;

fn tiny(precision: TrainPrecision) -> TrainingProgram {
    let g = parse_graph(TINY).unwrap();
    let mut opts = CompileOptions {
        precision,
        batch: 4,
        master_weights: MasterWeights::Fp8,
        ..CompileOptions::default()
    };
    opts.optimizer.learning_rate = 0.125;
    TrainingProgram::compile(&g, &opts).unwrap()
}

fn text(g: &nnopt_compiler::ir::Graph) -> String {
    print_graph(g, &PrintOptions::default())
}

fn bits(p: &TrainingProgram) -> Vec<Vec<u32>> {
    p.initial_params()
        .unwrap()
        .iter()
        .map(|t| t.as_f32().unwrap().iter().map(|x| x.to_bits()).collect())
        .collect()
}

/// `p` and `q` are the same program.
fn assert_same(p: &TrainingProgram, q: &TrainingProgram) {
    assert_eq!(text(&p.forward), text(&q.forward));
    assert_eq!(bits(p), bits(q));
    assert_eq!(p.params, q.params);
    assert_eq!(p.precision, q.precision);
    assert_eq!(p.optimizer, q.optimizer);
    assert_eq!(p.batch, q.batch);
    assert_eq!(p.scaling, q.scaling);
    assert_eq!(p.master_weights, q.master_weights);
    assert_eq!(p.steps.len(), q.steps.len());
    for (s, t) in p.steps.iter().zip(&q.steps) {
        assert_eq!(s.precision, t.precision);
        assert_eq!(text(&s.graph), text(&t.graph));
        assert_eq!(s.quant_points, t.quant_points);
    }
}

#[test]
fn round_trip_is_exact_and_deterministic() {
    for precision in [TrainPrecision::Fp8, TrainPrecision::Fp32] {
        let mut p = tiny(precision);
        // Values the IR text would not keep bit-exactly, or at all.
        let odd = [
            f32::from_bits(0x7fc0_1234),
            -0.0,
            f32::from_bits(1),
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MIN_POSITIVE,
            -1.0e-42,
            3.4e38,
            0.1,
            -7.0,
            1.0 / 3.0,
            f32::from_bits(0xffc0_0001),
        ];
        let n = p.forward.find_node("w").unwrap();
        p.forward.node_mut(n).op = Op::Const {
            value: Tensor::F32(ndarray::ArrayD::from_shape_vec(vec![4, 3], odd.to_vec()).unwrap()),
        };
        let bytes = write(&p);
        assert_eq!(&bytes[..4], b"NTRP");
        let q = read(&bytes).unwrap();
        assert_same(&p, &q);
        assert_eq!(write(&q), bytes, "write(read(x)) == x");
        assert_eq!(write(&tiny(precision)), write(&tiny(precision)));
        let steps = if precision == TrainPrecision::Fp8 {
            2
        } else {
            1
        };
        assert_eq!(q.steps.len(), steps);
        assert_eq!(q.params.len(), 3);
    }
}

#[test]
fn every_flipped_bit_and_every_truncation_is_rejected() {
    let bytes = write(&tiny(TrainPrecision::Fp8));
    for i in 0..bytes.len() * 8 {
        let mut bad = bytes.clone();
        bad[i / 8] ^= 1 << (i % 8);
        assert!(read(&bad).is_err(), "flip of bit {i} accepted");
    }
    for len in 0..bytes.len() {
        assert!(read(&bytes[..len]).is_err(), "truncation to {len} accepted");
    }
}

/// `read(write(p))` fails with a message containing `want`.
fn rejected(p: &TrainingProgram, want: &str) {
    let err = read(&write(p)).unwrap_err().to_string();
    assert!(err.contains(want), "'{err}' does not mention '{want}'");
}

#[test]
fn inconsistent_programs_are_rejected() {
    let p = tiny(TrainPrecision::Fp8);
    let mut q = p.clone();
    q.batch = 8;
    rejected(&q, "batch 8");
    let mut q = p.clone();
    q.batch = 0;
    rejected(&q, "batch size is 0");
    let mut q = p.clone();
    q.params[0].shape = vec![4, 4];
    rejected(&q, "needs 64 bytes");
    let mut q = p.clone();
    q.params.swap(0, 1);
    rejected(&q, "expected parameter %b");
    let mut q = p.clone();
    q.params.pop();
    rejected(&q, "inputs, expected");
    let mut q = p.clone();
    q.steps.reverse();
    rejected(&q, "it should have [\"fp8\", \"fp32\"]");
    let mut q = p.clone();
    q.steps.pop();
    rejected(&q, "it should have");
    let mut q = p.clone();
    q.precision = TrainPrecision::Fp32;
    rejected(&q, "the fp32 program has steps");
    let mut q = p.clone();
    q.steps[0].quant_points[0].format = Fp8Format::E5M2;
    rejected(&q, "quant point #0");
    let mut q = p.clone();
    q.steps[0].quant_points.swap(0, 1);
    rejected(&q, "does not match the fp8_fake_quant");
    let mut q = p.clone();
    q.steps[0].quant_points.pop();
    rejected(&q, "the fp8 step: it has");
    let mut q = p.clone();
    q.steps[1].quant_points = p.steps[0].quant_points.clone();
    rejected(&q, "an fp32 step has FP8 quant points");
    let mut q = p.clone();
    q.scaling.history = 0;
    rejected(&q, "amax history");
    let mut q = p.clone();
    q.optimizer.learning_rate = f32::NAN;
    rejected(&q, "learning rate is NaN");
    let mut q = p.clone();
    q.optimizer.beta2 = 1.0;
    rejected(&q, "must be below 1");
    let mut q = p.clone();
    q.params.clear();
    q.steps.clear();
    rejected(&q, "no parameters");
    let mut q = p.clone();
    let n = q.forward.find_node("b").unwrap();
    q.forward.node_mut(n).name = "b2".into();
    rejected(&q, "'b'");
}

#[test]
fn other_files_are_rejected_with_the_reason() {
    let p = tiny(TrainPrecision::Fp32);
    let bytes = write(&p);
    let err = |b: &[u8]| read(b).unwrap_err().to_string();
    assert!(err(b"NPUB").contains("not a training program"));
    let mut npub = bytes.clone();
    npub[..4].copy_from_slice(b"NPUB");
    assert!(err(&npub).contains("bad magic (expected \"NTRP\")"));
    let mut newer = bytes.clone();
    newer[4] = 3;
    assert!(err(&newer).contains("training program format 3.0 is not supported"));
    let mut older = bytes.clone();
    older[4] = 0;
    assert!(err(&older).contains("format 0.0 is not supported (this nnopt reads 1.x to 2.x)"));
}

/// A format 1.0 file (written by nnopt before the optimizer left the step graph: `tiny`
/// compiled for FP8 with SGD at learning rate 0.125) loads: its forward graph,
/// parameters and hyper-parameters are kept and its steps built again, the same as a
/// program compiled now with the same options.
#[test]
fn format_1_programs_load_with_rebuilt_steps() {
    let old = read(include_bytes!("../../tests/data/tiny_format1.ntp")).unwrap();
    assert_eq!(old.optimizer.kind, OptimizerKind::Sgd);
    assert_eq!(
        (old.optimizer.learning_rate, old.optimizer.momentum),
        (0.125, 0.9)
    );
    let mut opts = CompileOptions {
        precision: TrainPrecision::Fp8,
        batch: 4,
        ..CompileOptions::default()
    };
    opts.optimizer = old.optimizer.clone();
    let now = TrainingProgram::compile(&parse_graph(TINY).unwrap(), &opts).unwrap();
    assert_same(&old, &now);
    let again = read(&write(&old)).unwrap();
    assert_same(&old, &again);
    assert_eq!(&write(&old)[4..6], &[2, 0], "written as format 2");
}
