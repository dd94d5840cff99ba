//! The harness shared by the virtual-NPU tests: seeded inputs, compiling for the default
//! target, running the vNPU and the interpreter side by side, and building small quantized
//! graphs.
#![allow(dead_code)] // each test binary uses a subset

pub mod commands;

use nnopt_backends::npu::{self, vnpu, LowerOptions, Program};
use nnopt_compiler::interp;
use nnopt_compiler::ir::infer::infer_types;
use nnopt_compiler::ir::{DType, Graph, Op, QuantParams, Tensor, TensorType, ValueRef};

/// A deterministic generator (64-bit LCG).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// A tensor of `dtype` and `shape`: integers over the type's full range, floats in
    /// [-3, 3).
    pub fn tensor(&mut self, dtype: DType, shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n)
            .map(|_| match dtype.int_range() {
                Some((lo, hi)) if dtype != DType::I32 && dtype != DType::I64 => {
                    lo as f64 + (self.next() % (hi - lo + 1) as u64) as f64
                }
                Some(_) => (self.next() % 2001) as f64 - 1000.0,
                None => (self.next() % 60001) as f64 / 10000.0 - 3.0,
            })
            .collect();
        Tensor::from_f64s(dtype, shape, &v).expect("supported dtype")
    }
}

/// Random inputs for every graph input.
pub fn random_inputs(g: &Graph, rng: &mut Lcg) -> Vec<Tensor> {
    g.inputs()
        .iter()
        .map(|&n| {
            let ty = &g.node(n).outputs[0].ty;
            rng.tensor(ty.dtype, &ty.shape)
        })
        .collect()
}

/// Lowers `g`, runs both the vNPU and the interpreter on `inputs`, and asserts equal
/// outputs (f32 compared bit for bit).
pub fn assert_same(what: &str, g: &Graph, p: &Program, inputs: &[Tensor]) {
    let want = interp::run(g, inputs).unwrap_or_else(|e| panic!("{what}: interpreter: {e}"));
    let got = vnpu::run(p, inputs).unwrap_or_else(|e| panic!("{what}: vnpu: {e}"));
    assert_eq!(got.len(), want.len(), "{what}: output count");
    for (k, (a, b)) in got.iter().zip(&want).enumerate() {
        assert_eq!(a.dtype(), b.dtype(), "{what}: output {k} dtype");
        assert_eq!(a.shape(), b.shape(), "{what}: output {k} shape");
        let (av, bv) = (a.to_f64_vec(), b.to_f64_vec());
        let bad = av
            .iter()
            .zip(&bv)
            .filter(|(x, y)| x.to_bits() != y.to_bits())
            .count();
        assert_eq!(
            bad,
            0,
            "{what}: output {k}: {bad} of {} elements differ",
            av.len()
        );
    }
}

/// Compiles `g` for the default target: its placed program, lowering report and binary.
pub fn compile(g: &Graph) -> npu::Compilation {
    let target = npu::target::Target::preset("npu").expect("default target");
    npu::compile(g, &target, &LowerOptions::default())
        .unwrap_or_else(|e| panic!("{}: compile: {e}", g.name))
}

pub fn lower(g: &Graph) -> (Program, npu::LoweringReport) {
    let c = compile(g);
    (c.program, c.lowering)
}

/// No two tensors that are live at the same step share arena bytes (aliases excepted:
/// they are the same buffer by design).
pub fn assert_no_live_overlap(p: &Program) {
    let steps = p.commands.len() + 2;
    let mut first = vec![usize::MAX; p.tensors.len()];
    let mut last = vec![0; p.tensors.len()];
    for b in &p.inputs {
        first[b.tensor] = 0;
    }
    for b in &p.outputs {
        last[b.tensor] = steps - 1;
    }
    for (k, c) in p.commands.iter().enumerate() {
        for t in c.outputs(p) {
            first[t] = first[t].min(k + 1);
        }
        for t in c.inputs(p) {
            last[t] = last[t].max(k + 1);
        }
    }
    for (k, c) in p.commands.iter().enumerate() {
        // Inputs and outputs of one command must be disjoint.
        for i in c.inputs(p) {
            for o in c.outputs(p) {
                let (a, b) = (&p.tensors[i], &p.tensors[o]);
                assert!(
                    a.range().end <= b.offset || b.range().end <= a.offset,
                    "command {k}: input '{}' overlaps output '{}'",
                    a.name,
                    b.name
                );
            }
        }
    }
    for t in &p.tensors {
        assert!(
            t.range().end <= p.arena_size,
            "'{}' exceeds the arena",
            t.name
        );
    }
}

pub fn qt(dtype: DType, shape: &[usize], scale: f32, zp: i64) -> TensorType {
    TensorType::new(dtype, shape.to_vec()).with_quant(Some(QuantParams::per_tensor(scale, zp)))
}

/// Adds `op` with its inferred output type quantized with (scale, zp).
pub fn add_q(
    g: &mut Graph,
    name: &str,
    op: Op,
    ins: &[ValueRef],
    dtype: DType,
    s: f32,
    zp: i64,
) -> ValueRef {
    let tys: Vec<TensorType> = ins.iter().map(|&v| g.ty(v).clone()).collect();
    let refs: Vec<&TensorType> = tys.iter().collect();
    let out = infer_types(&op, &refs).expect("types infer").remove(0);
    g.add_op(name, op, ins, qt(dtype, &out.shape, s, zp))
}

/// Per-channel int8 weights (or uint8 with zero point 3 when `u8_weights`) and an int32
/// bias for `n` output channels.
pub fn conv_consts(
    g: &mut Graph,
    rng: &mut Lcg,
    shape: &[usize],
    n: usize,
    u8_weights: bool,
) -> (ValueRef, ValueRef) {
    let w = rng.tensor(if u8_weights { DType::U8 } else { DType::I8 }, shape);
    let scales: Vec<f32> = (0..n).map(|i| 0.002 + 0.001 * i as f32).collect();
    let wq = QuantParams {
        scale: scales.clone(),
        zero_point: vec![if u8_weights { 3 } else { 0 }; n],
        axis: Some(0),
    };
    let w = g.add_const("w", w, Some(wq));
    let b = rng.tensor(DType::I32, &[n]);
    let b = g.add_const("b", b, None);
    (w, b)
}

/// Checks that `g` lowers without CPU segments, its fallbacks (ops `host_ops`) all host
/// commands, and that the program survives the binary and runs bit-exactly on random
/// inputs.
pub fn check_without_segments(what: &str, g: &Graph, host_ops: &[&str]) -> Program {
    let c = compile(g);
    let p = c.program;
    assert!(
        p.cpu_segments.is_empty(),
        "{what}: {:?}",
        c.lowering.fallbacks
    );
    let ops: Vec<&str> = c.lowering.fallbacks.iter().map(|f| f.op.as_str()).collect();
    assert_eq!(ops, host_ops, "{what}: fallbacks");
    let (back, _) = npu::binary::read(&c.binary).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(back == p, "{what}: the program changed through the binary");
    let mut rng = Lcg(7);
    for i in 0..4 {
        assert_same(&format!("{what} #{i}"), g, &p, &random_inputs(g, &mut rng));
    }
    p
}

/// Checks that `g` lowers without CPU segments and runs bit-exactly on random inputs.
pub fn check_npu_only(what: &str, g: &Graph) -> Program {
    let (p, report) = lower(g);
    assert!(
        report.fallbacks.is_empty(),
        "{what}: fell back: {:?}",
        report.fallbacks
    );
    let mut rng = Lcg(7);
    for i in 0..4 {
        assert_same(&format!("{what} #{i}"), g, &p, &random_inputs(g, &mut rng));
    }
    p
}
