//! The virtual NPU against the reference interpreter: every int8 TFLite model is lowered
//! and run on seeded random inputs and on LiteRT's test inputs; outputs must be equal bit
//! for bit. Small hand-written graphs cover each NPU kernel, NCHW lowering, CPU segments
//! and the float IO boundary.

#[path = "../../formats/tests/common/mod.rs"]
mod common;

use common::litert::{all_models, available, load_cases, models_dir, testdata_dir};
use nnopt_backends::npu::{self, vnpu, Command, IoConversion, LowerOptions, Program};
use nnopt_compiler::interp;
use nnopt_compiler::ir::text::parse_graph;
use nnopt_compiler::ir::{DType, Graph, Tensor};
use nnopt_formats::tflite::import_tflite_bytes;

/// A deterministic generator (64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// A tensor of `dtype` and `shape`: integers over the type's full range, floats in
    /// [-3, 3).
    fn tensor(&mut self, dtype: DType, shape: &[usize]) -> Tensor {
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
fn random_inputs(g: &Graph, rng: &mut Lcg) -> Vec<Tensor> {
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
fn assert_same(what: &str, g: &Graph, p: &Program, inputs: &[Tensor]) {
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
fn compile(g: &Graph) -> npu::Compilation {
    let target = npu::target::Target::preset("npu").expect("default target");
    npu::compile(g, &target, &LowerOptions::default())
        .unwrap_or_else(|e| panic!("{}: compile: {e}", g.name))
}

fn lower(g: &Graph) -> (Program, npu::LoweringReport) {
    let c = compile(g);
    (c.program, c.lowering)
}

/// Checks a shared model: random inputs, LiteRT's inputs, and the op placement. Returns
/// the sorted fallback op names.
fn check_model(model: &str) -> Option<Vec<String>> {
    let path = models_dir().join(format!("{model}.tflite"));
    if !available(&path) {
        return None;
    }
    let bytes = std::fs::read(&path).expect("model readable");
    let stem = path.file_stem().and_then(|s| s.to_str()).expect("stem");
    let g = import_tflite_bytes(&bytes, stem).unwrap_or_else(|e| panic!("{model}: import: {e}"));
    let npu::Compilation {
        program: p,
        lowering: report,
        binary: file,
        ..
    } = compile(&g);
    eprintln!(
        "{model}: {} commands ({} on CPU), arena {} bytes vs naive {} bytes; NPU ops {:?}",
        p.commands.len(),
        p.commands
            .iter()
            .filter(|c| matches!(c, Command::Cpu { .. }))
            .count(),
        report.arena_bytes,
        report.naive_bytes,
        report.npu_ops
    );
    for f in &report.fallbacks {
        eprintln!("  CPU: {} ({}): {}", f.node, f.op, f.reason);
    }
    assert!(report.arena_bytes <= report.naive_bytes, "{model}: arena");
    assert_eq!(p.arena_size, report.arena_bytes);
    assert_no_live_overlap(&p);
    // The program survives the .npub binary unchanged.
    let (back, _) = npu::binary::read(&file).expect("binary reads");
    assert!(
        back == p,
        "{model}: the program changed through the binary format"
    );
    let mut rng = Lcg(0x5eed ^ bytes.len() as u64);
    for i in 0..3 {
        let inputs = random_inputs(&g, &mut rng);
        assert_same(&format!("{model} random {i}"), &g, &p, &inputs);
    }
    let inputs = random_inputs(&g, &mut rng);
    let start = std::time::Instant::now();
    vnpu::run(&p, &inputs).expect("vnpu runs");
    eprintln!("{model}: one vNPU inference took {:?}", start.elapsed());
    let data = testdata_dir().join("litert").join(stem);
    if litert_refused(stem) {
        eprintln!("{model}: LiteRT refuses the model, so there are no LiteRT inputs");
    } else if available(&data.join("meta.json")) {
        let cases = load_cases(&data, true);
        assert!(!cases.is_empty(), "{model}: no LiteRT cases");
        for c in &cases {
            assert_same(&format!("{model} LiteRT case {}", c.k), &g, &p, &c.inputs);
        }
    }
    let mut ops: Vec<String> = report.fallbacks.iter().map(|f| f.op.clone()).collect();
    ops.sort();
    ops.dedup();
    Some(ops)
}

/// Whether tools/make_testdata.py recorded that LiteRT refuses `stem` (and so wrote no
/// cases for it), as it does for person_detect's invalid quantization parameters.
fn litert_refused(stem: &str) -> bool {
    let path = testdata_dir().join("litert").join("refused.json");
    if !available(&path) {
        return false;
    }
    let text = std::fs::read_to_string(&path).expect("refused.json readable");
    let v: serde_json::Value = serde_json::from_str(&text).expect("refused.json parses");
    v[stem]["data_written"] == serde_json::Value::Bool(false)
}

/// No two tensors that are live at the same step share arena bytes (aliases excepted:
/// they are the same buffer by design).
fn assert_no_live_overlap(p: &Program) {
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

#[test]
fn hello_world_runs_fully_on_the_npu() {
    if let Some(ops) = check_model("hello_world_int8") {
        assert!(ops.is_empty(), "unexpected CPU ops {ops:?}");
    }
}

#[test]
fn micro_speech_runs_fully_on_the_npu() {
    if let Some(ops) = check_model("micro_speech_quantized") {
        assert!(ops.is_empty(), "unexpected CPU ops {ops:?}");
    }
}

#[test]
fn person_detect_runs_fully_on_the_npu() {
    if let Some(ops) = check_model("person_detect") {
        assert!(ops.is_empty(), "unexpected CPU ops {ops:?}");
    }
}

#[test]
fn keyword_scrambled_matches_the_interpreter() {
    // SVDF and the int16 requantizations at both ends run on the CPU; the fully connected
    // layers between the SVDFs and the int8 -> int16 softmax on the NPU.
    if let Some(ops) = check_model("keyword_scrambled_8bit") {
        assert_eq!(ops, ["quantize", "svdf"]);
    }
}

#[test]
fn digits_cnn_runs_fully_on_the_npu() {
    if let Some(ops) = check_model("generated/digits_cnn_int8") {
        assert!(ops.is_empty(), "unexpected CPU ops {ops:?}");
    }
}

#[test]
fn float_model_runs_as_one_cpu_segment() {
    if let Some(ops) = check_model("generated/digits_cnn_float") {
        assert!(!ops.is_empty());
    }
    let path = models_dir().join("generated/digits_cnn_float.tflite");
    if available(&path) {
        let g = import_tflite_bytes(&std::fs::read(&path).unwrap(), "digits_cnn_float").unwrap();
        let (p, _) = lower(&g);
        let kinds: Vec<&str> = p.commands.iter().map(|c| c.kind_name()).collect();
        assert_eq!(kinds, ["cpu"]);
    }
}

#[test]
fn every_importable_shared_model_lowers() {
    for path in all_models() {
        let name = path.display().to_string();
        let Ok(g) = import_tflite_bytes(&std::fs::read(&path).unwrap(), "m") else {
            continue;
        };
        let (p, report) = lower(&g);
        let covered: usize = report.npu_ops.values().sum();
        eprintln!(
            "{name}: {covered} ops on the NPU, {} on the CPU, {} CPU segments",
            report.fallbacks.len(),
            p.cpu_segments.len()
        );
        assert_no_live_overlap(&p);
        assert_eq!(p.inputs.len(), g.inputs().len(), "{name}");
        assert_eq!(p.outputs.len(), g.outputs().len(), "{name}");
    }
}

/// ONNX's QLinearConv node test: an NCHW uint8 convolution lowered directly (weights
/// transposed to OHWI at compile time), equal to the interpreter and to ONNX's expected
/// output.
#[test]
fn onnx_qlinearconv_runs_nchw_on_the_npu() {
    let Some(dir) = common::testdata("onnx-node/test_qlinearconv") else {
        return;
    };
    let bytes = std::fs::read(dir.join("model.onnx")).expect("model readable");
    let data = dir.join("test_data_set_0");
    let mut inputs = Vec::new();
    for k in 0.. {
        let f = data.join(format!("input_{k}.pb"));
        if !f.exists() {
            break;
        }
        inputs.push(common::read_pb(&f).expect("input reads"));
    }
    // Bind everything but the activation (scales, zero points, weights) as constants.
    let constants: std::collections::HashMap<String, Tensor> =
        inputs[1..].iter().cloned().collect();
    let g = nnopt_formats::onnx::import_onnx_with_constants(&bytes, "qlinearconv", &constants)
        .expect("imports");
    let (p, report) = lower(&g);
    assert!(report.fallbacks.is_empty(), "{:?}", report.fallbacks);
    let Command::Conv2d(c) = &p.commands[0] else {
        panic!("expected a conv, got {:?}", p.commands);
    };
    assert_eq!(c.layout, Layout::Nchw);
    let x = vec![inputs[0].1.clone()];
    assert_same("qlinearconv", &g, &p, &x);
    let (_, want) = common::read_pb(&data.join("output_0.pb")).expect("output reads");
    assert_eq!(vnpu::run(&p, &x).unwrap()[0], want);
}

#[test]
fn mobilenet_v2_matches_the_interpreter() {
    // Its softmax input scale is too small for TFLite's fixed-point kernel: LiteRT runs
    // its float-table kernel, on the CPU.
    if let Some(ops) = check_model("generated/mobilenet_v2_035_96_int8") {
        assert_eq!(ops, ["softmax"]);
    }
}

// ---- Small graphs: one per kernel and feature ----

use nnopt_compiler::ir::infer::infer_types;
use nnopt_compiler::ir::{
    Activation, BinaryKind, ConvAttrs, GemmAttrs, Layout, Op, PadMode, PoolAttrs, PoolKind,
    QuantParams, QuantizeRounding, TensorType, ValueRef,
};

fn qt(dtype: DType, shape: &[usize], scale: f32, zp: i64) -> TensorType {
    TensorType::new(dtype, shape.to_vec()).with_quant(Some(QuantParams::per_tensor(scale, zp)))
}

/// Adds `op` with its inferred output type quantized with (scale, zp).
fn add_q(
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
fn conv_consts(
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

/// Checks that `g` lowers without CPU segments and runs bit-exactly on random inputs.
fn check_npu_only(what: &str, g: &Graph) -> Program {
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

#[test]
fn conv_kernels_match_the_interpreter() {
    // (in channels, out channels, groups, kernel) and the conv attributes.
    let conv = |layout, strides, dilations, pads, group, activation| ConvAttrs {
        layout,
        strides,
        dilations,
        pads,
        group,
        activation,
    };
    let cases = [
        (
            3,
            5,
            [3, 3],
            conv(
                Layout::Nhwc,
                [1, 1],
                [1, 1],
                [1, 1, 1, 1],
                1,
                Some(Activation::Relu),
            ),
        ),
        (
            4,
            4,
            [3, 3],
            conv(
                Layout::Nhwc,
                [2, 2],
                [1, 1],
                [0, 0, 1, 1],
                4,
                Some(Activation::Relu6),
            ),
        ),
        // Depthwise with depth multiplier 2 and dilation.
        (
            3,
            6,
            [3, 2],
            conv(Layout::Nhwc, [1, 2], [2, 1], [2, 1, 2, 0], 3, None),
        ),
        (
            4,
            6,
            [1, 1],
            conv(Layout::Nhwc, [1, 1], [1, 1], [0, 0, 0, 0], 2, None),
        ),
        (
            3,
            4,
            [3, 3],
            conv(
                Layout::Nchw,
                [2, 1],
                [1, 1],
                [1, 1, 1, 1],
                1,
                Some(Activation::Relu),
            ),
        ),
    ];
    for (i, (cin, cout, k, attrs)) in cases.into_iter().enumerate() {
        let (layout, groups) = (attrs.layout, attrs.group);
        for u8_data in [false, true] {
            let mut rng = Lcg(100 + i as u64);
            let mut g = Graph::new(format!("conv{i}"));
            let dt = if u8_data { DType::U8 } else { DType::I8 };
            let xs = match layout {
                Layout::Nhwc => vec![2, 7, 6, cin],
                Layout::Nchw => vec![2, cin, 7, 6],
            };
            let x = g.add_input("x", qt(dt, &xs, 0.05, if u8_data { 130 } else { -3 }));
            let ws = match layout {
                Layout::Nhwc => [cout, k[0], k[1], cin / groups],
                Layout::Nchw => [cout, cin / groups, k[0], k[1]],
            };
            let (w, b) = conv_consts(&mut g, &mut rng, &ws, cout, u8_data);
            let op = Op::Conv(attrs.clone());
            let y = add_q(
                &mut g,
                "y",
                op,
                &[x, w, b],
                dt,
                0.11,
                if u8_data { 120 } else { 5 },
            );
            g.set_outputs(vec![y]);
            let p = check_npu_only(&format!("conv case {i} u8={u8_data}"), &g);
            assert!(matches!(p.commands.as_slice(), [Command::Conv2d(_)]));
        }
    }
}

#[test]
fn fully_connected_matches_the_interpreter() {
    for trans_b in [true, false] {
        let mut rng = Lcg(11);
        let mut g = Graph::new("fc");
        let x = g.add_input("x", qt(DType::I8, &[3, 20], 0.1, 4));
        let shape = if trans_b { [7, 20] } else { [20, 7] };
        let (w, b) = conv_consts(&mut g, &mut rng, &shape, 7, false);
        let op = Op::Gemm(GemmAttrs::fully_connected(trans_b, Some(Activation::Relu)));
        let y = add_q(&mut g, "y", op, &[x, w, b], DType::I8, 0.3, -10);
        g.set_outputs(vec![y]);
        check_npu_only(&format!("fc trans_b={trans_b}"), &g);
    }
}

#[test]
fn elementwise_kernels_match_the_interpreter() {
    for kind in [BinaryKind::Add, BinaryKind::Sub, BinaryKind::Mul] {
        for (sa, sb) in [
            (vec![2, 3, 4], vec![2, 3, 4]),
            (vec![2, 3, 4], vec![4]),
            (vec![2, 1, 4], vec![3, 1]),
        ] {
            let mut g = Graph::new("binary");
            let a = g.add_input("a", qt(DType::I8, &sa, 0.07, -2));
            let b = g.add_input("b", qt(DType::I8, &sb, 0.03, 9));
            let op = Op::Binary {
                kind,
                activation: Some(Activation::Relu6),
            };
            let y = add_q(&mut g, "y", op, &[a, b], DType::I8, 0.05, -7);
            g.set_outputs(vec![y]);
            check_npu_only(&format!("{kind:?} {sa:?} {sb:?}"), &g);
        }
    }
}

#[test]
fn pool_kernels_match_the_interpreter() {
    for kind in [PoolKind::Max, PoolKind::Avg] {
        for layout in [Layout::Nhwc, Layout::Nchw] {
            let mut g = Graph::new("pool");
            let xs = match layout {
                Layout::Nhwc => vec![1, 9, 8, 3],
                Layout::Nchw => vec![1, 3, 9, 8],
            };
            let x = g.add_input("x", qt(DType::I8, &xs, 0.02, 1));
            let op = Op::Pool {
                pool: PoolAttrs {
                    kind,
                    layout,
                    kernel: vec![3, 2],
                    strides: vec![2, 2],
                    dilations: vec![],
                    pads: vec![1, 0, 1, 1],
                    ceil_mode: false,
                    count_include_pad: false,
                },
                activation: Some(Activation::Relu),
            };
            let y = add_q(&mut g, "y", op, &[x], DType::I8, 0.02, 1);
            g.set_outputs(vec![y]);
            check_npu_only(&format!("{kind:?} pool {layout:?}"), &g);
        }
    }
}

#[test]
fn reduce_kernels_match_the_interpreter() {
    use nnopt_compiler::ir::ReduceKind;
    for (kind, axes, keep_dims) in [
        (ReduceKind::Mean, vec![1, 2], false),
        (ReduceKind::Mean, vec![0, 3], true),
        (ReduceKind::Sum, vec![2], false),
    ] {
        let mut g = Graph::new("reduce");
        let x = g.add_input("x", qt(DType::I8, &[2, 5, 3, 4], 0.04, -6));
        let op = Op::Reduce {
            kind,
            axes: axes.clone(),
            keep_dims,
        };
        let y = add_q(&mut g, "y", op, &[x], DType::I8, 0.03, 2);
        g.set_outputs(vec![y]);
        check_npu_only(&format!("{kind:?} over {axes:?}"), &g);
    }
}

#[test]
fn concat_and_reshape_are_memory_ops() {
    let mut g = Graph::new("concat");
    let a = g.add_input("a", qt(DType::I8, &[2, 3, 4], 0.1, 0));
    let b = g.add_input("b", qt(DType::I8, &[2, 2, 4], 0.1, 0));
    let c = add_q(
        &mut g,
        "c",
        Op::Concat { axis: 1 },
        &[a, b],
        DType::I8,
        0.1,
        0,
    );
    let r = add_q(
        &mut g,
        "r",
        Op::Reshape { shape: vec![4, 10] },
        &[c],
        DType::I8,
        0.1,
        0,
    );
    g.set_outputs(vec![r]);
    let p = check_npu_only("concat + reshape", &g);
    assert!(matches!(p.commands.as_slice(), [Command::Concat(_)]));
    // The reshape aliases the concatenation's output.
    let out = &p.tensors[p.outputs[0].tensor];
    let Command::Concat(cc) = &p.commands[0] else {
        unreachable!()
    };
    assert_eq!(out.offset, p.tensors[cc.output].offset);
}

#[test]
fn pointwise_ops_become_exact_table_lookups() {
    let acts = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::HardSwish,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Relu6,
    ];
    for dt in [DType::I8, DType::U8] {
        let (zi, zo) = if dt == DType::U8 { (128, 100) } else { (-3, 6) };
        let mut ops: Vec<(String, Op, f32, i64)> = acts
            .iter()
            .map(|&act| (format!("{act:?}"), Op::Activation { act }, 0.02, zo))
            .collect();
        for rounding in [QuantizeRounding::HalfEven, QuantizeRounding::Tflite] {
            let op = Op::Quantize {
                to: dt,
                rounding,
                saturate: true,
            };
            ops.push((format!("requantize {rounding:?}"), op, 0.13, zo - 2));
        }
        for (what, op, so, zo) in ops {
            let mut g = Graph::new("lookup");
            let x = g.add_input("x", qt(dt, &[2, 5, 31], 0.05, zi));
            let y = add_q(&mut g, "y", op, &[x], dt, so, zo);
            g.set_outputs(vec![y]);
            let p = check_npu_only(&format!("{what} {dt}"), &g);
            assert!(
                matches!(p.commands.as_slice(), [Command::Lookup(_)]),
                "{what}"
            );
        }
    }
}

#[test]
fn requantizing_concat_matches_the_interpreter() {
    for dt in [DType::I8, DType::U8] {
        let z = if dt == DType::U8 { 128 } else { 0 };
        let mut g = Graph::new("concat");
        let a = g.add_input("a", qt(dt, &[2, 3, 4], 0.1, z));
        let b = g.add_input("b", qt(dt, &[2, 2, 4], 0.037, z + 11));
        let c = g.add_input("c", qt(dt, &[2, 1, 4], 0.4, z - 20));
        let y = add_q(&mut g, "y", Op::Concat { axis: 1 }, &[a, b, c], dt, 0.1, z);
        g.set_outputs(vec![y]);
        let p = check_npu_only(&format!("requantizing concat {dt}"), &g);
        let [Command::Concat(cc)] = p.commands.as_slice() else {
            panic!("one concat expected")
        };
        assert_eq!(cc.tables.len(), 3 * 256);
    }
}

#[test]
fn constant_padding_matches_the_interpreter() {
    for (value, zp) in [(0.0, -4), (0.75, -4), (-100.0, 10)] {
        let mut g = Graph::new("pad");
        let x = g.add_input("x", qt(DType::I8, &[1, 4, 3, 2], 0.05, zp));
        let op = Op::Pad {
            pads: vec![(0, 0), (2, 1), (0, 3), (1, 0)],
            mode: PadMode::Constant,
            value,
        };
        let y = add_q(&mut g, "y", op, &[x], DType::I8, 0.05, zp);
        g.set_outputs(vec![y]);
        let p = check_npu_only(&format!("pad with {value}"), &g);
        assert!(matches!(p.commands.as_slice(), [Command::Pad(_)]));
    }
}

#[test]
fn prelu_matches_the_interpreter() {
    for alpha_shape in [vec![5], vec![1, 1, 5], vec![3, 4, 5]] {
        let mut rng = Lcg(21);
        let mut g = Graph::new("prelu");
        let x = g.add_input("x", qt(DType::I8, &[2, 3, 4, 5], 0.04, 7));
        let alpha = rng.tensor(DType::I8, &alpha_shape);
        let alpha = g.add_const("alpha", alpha, Some(QuantParams::per_tensor(0.003, -9)));
        let y = add_q(&mut g, "y", Op::PRelu, &[x, alpha], DType::I8, 0.06, -20);
        g.set_outputs(vec![y]);
        let p = check_npu_only(&format!("prelu slopes {alpha_shape:?}"), &g);
        assert!(matches!(p.commands.as_slice(), [Command::PRelu(_)]));
    }
}

#[test]
fn resize_matches_the_interpreter() {
    use nnopt_compiler::ir::{CoordTransform, NearestRounding, ResizeMode};
    let variants = [
        (
            ResizeMode::Linear,
            CoordTransform::Asymmetric,
            NearestRounding::Floor,
        ),
        (
            ResizeMode::Linear,
            CoordTransform::AlignCorners,
            NearestRounding::Floor,
        ),
        (
            ResizeMode::Linear,
            CoordTransform::HalfPixel,
            NearestRounding::Floor,
        ),
        (
            ResizeMode::Nearest,
            CoordTransform::Asymmetric,
            NearestRounding::Floor,
        ),
        (
            ResizeMode::Nearest,
            CoordTransform::AlignCorners,
            NearestRounding::RoundPreferCeil,
        ),
        (
            ResizeMode::Nearest,
            CoordTransform::TfHalfPixelForNn,
            NearestRounding::Floor,
        ),
        (
            ResizeMode::Nearest,
            CoordTransform::TfHalfPixelForNn,
            NearestRounding::RoundPreferCeil,
        ),
    ];
    for (mode, coord, nearest) in variants {
        for (dt, sizes) in [(DType::I8, [2, 10, 7, 3]), (DType::U8, [2, 3, 2, 3])] {
            let mut g = Graph::new("resize");
            let x = g.add_input("x", qt(dt, &[2, 5, 4, 3], 0.05, 9));
            let op = Op::Resize {
                mode,
                coord,
                nearest,
                sizes: sizes.to_vec(),
                scales: None,
                filter: Default::default(),
            };
            let y = add_q(&mut g, "y", op, &[x], dt, 0.05, 9);
            g.set_outputs(vec![y]);
            let p = check_npu_only(&format!("{mode:?} {coord:?} {nearest:?} to {sizes:?}"), &g);
            assert!(matches!(p.commands.as_slice(), [Command::Resize(_)]));
        }
    }
}

#[test]
fn softmax_matches_the_interpreter() {
    // (input type, output type, output scale and zero point, axis, input scale)
    let cases = [
        (DType::I8, DType::I8, 1.0 / 256.0, -128, 1, 0.05),
        (DType::I8, DType::I8, 1.0 / 256.0, -128, 0, 0.3),
        (DType::U8, DType::U8, 1.0 / 256.0, 0, 2, 0.05),
        (DType::I8, DType::I16, 1.0 / 65536.0, -32768, 1, 0.1),
    ];
    for (dt, ot, so, zo, axis, si) in cases {
        let mut g = Graph::new("softmax");
        let zi = if dt == DType::U8 { 128 } else { 3 };
        let x = g.add_input("x", qt(dt, &[3, 7, 5], si, zi));
        let op = Op::Softmax { axis, beta: 1.0 };
        let tys = infer_types(&op, &[g.ty(x)]).expect("types infer");
        let y = g.add_op("y", op, &[x], qt(ot, &tys[0].shape, so, zo));
        g.set_outputs(vec![y]);
        let p = check_npu_only(&format!("softmax {dt} -> {ot} over axis {axis}"), &g);
        assert!(matches!(p.commands.as_slice(), [Command::Softmax(_)]));
    }
}

#[test]
fn transposed_conv_matches_the_interpreter() {
    // (strides, dilations, pads, output padding, kernel)
    let cases = [
        ([2, 2], [1, 1], [0, 0, 0, 0], [0, 0], [2, 2]),
        ([2, 2], [1, 1], [1, 1, 1, 1], [1, 1], [3, 3]),
        ([1, 3], [2, 1], [1, 0, 2, 1], [0, 2], [3, 2]),
        ([1, 1], [1, 1], [0, 0, 0, 0], [0, 0], [1, 1]),
    ];
    for (i, (strides, dilations, pads, output_padding, k)) in cases.into_iter().enumerate() {
        for u8_data in [false, true] {
            let mut rng = Lcg(300 + i as u64);
            let mut g = Graph::new(format!("conv_transpose{i}"));
            let dt = if u8_data { DType::U8 } else { DType::I8 };
            let (cin, cout) = (3, 4);
            let x = g.add_input(
                "x",
                qt(dt, &[2, 5, 4, cin], 0.05, if u8_data { 130 } else { -3 }),
            );
            let (w, b) = conv_consts(&mut g, &mut rng, &[cout, k[0], k[1], cin], cout, u8_data);
            let op = Op::ConvTranspose {
                conv: ConvAttrs {
                    layout: Layout::Nhwc,
                    strides,
                    dilations,
                    pads,
                    group: 1,
                    activation: Some(Activation::Relu),
                },
                output_padding,
            };
            let y = add_q(
                &mut g,
                "y",
                op,
                &[x, w, b],
                dt,
                0.11,
                if u8_data { 120 } else { 5 },
            );
            g.set_outputs(vec![y]);
            let p = check_npu_only(&format!("transposed conv case {i} u8={u8_data}"), &g);
            assert!(matches!(p.commands.as_slice(), [Command::Conv2d(c)] if c.transposed));
        }
    }
}

/// A float model quantized at its ends: the NPU quantizes the input and dequantizes the
/// output itself; the softmax in the middle, whose beta is too small for TFLite's
/// fixed-point kernel (LiteRT's float-table kernel computes it), runs as a CPU segment
/// between NPU commands.
const FLOAT_IO: &str = r#"graph "float_io"(%x) {
  %x: f32[1,6] = input
  %xq: i8[1,6] q(scale=[0.02], zp=[-1]) = quantize {"to":"i8","rounding":"tflite"}(%x)
  %w: i8[4,6] q(scale=[0.01, 0.02, 0.015, 0.03], zp=[0, 0, 0, 0], axis=0) = const [1, -2, 3, 4, -5, 6, 7, 8, -9, 10, 11, 12, -13, 14, 15, 16, 17, -18, 19, 20, 21, -22, 23, 127]
  %b: i32[4] = const [10, -20, 30, -40]
  %h: i8[1,4] q(scale=[0.01], zp=[2]) = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":true,"activation":null}(%xq, %w, %b)
  %s: i8[1,4] q(scale=[0.00390625], zp=[-128]) = softmax {"axis":1,"beta":0.000001}(%h)
  %t: i8[1,4] q(scale=[0.01], zp=[0]) = binary {"kind":"add","activation":null}(%s, %h)
  %y: f32[1,4] = dequantize(%t)
  return %y
}"#;

#[test]
fn float_io_is_quantized_at_the_boundary() {
    let g = parse_graph(FLOAT_IO).expect("parses");
    let (p, report) = lower(&g);
    assert_eq!(
        p.inputs[0].conversion,
        IoConversion::Quantize {
            rounding: nnopt_compiler::ir::QuantizeRounding::Tflite
        }
    );
    assert_eq!(p.inputs[0].dtype, DType::F32);
    assert_eq!(p.outputs[0].conversion, IoConversion::Dequantize);
    assert_eq!(p.outputs[0].dtype, DType::F32);
    let kinds: Vec<&str> = p.commands.iter().map(|c| c.kind_name()).collect();
    assert_eq!(kinds, ["fully_connected", "cpu", "elementwise"]);
    assert_eq!(report.fallbacks.len(), 1);
    assert_eq!(report.fallbacks[0].op, "softmax");
    let mut rng = Lcg(3);
    for i in 0..8 {
        assert_same(
            &format!("float io #{i}"),
            &g,
            &p,
            &random_inputs(&g, &mut rng),
        );
    }
    // Values on rounding ties and out of range.
    let x = Tensor::from_f64s(DType::F32, &[1, 6], &[0.01, -0.01, 0.03, 5.0, -5.0, 0.0]).unwrap();
    assert_same("float io ties", &g, &p, &[x]);
}

#[test]
fn onnx_style_half_even_quantize_at_the_boundary() {
    let src = FLOAT_IO.replace(r#","rounding":"tflite""#, "");
    let g = parse_graph(&src).expect("parses");
    let (p, _) = lower(&g);
    assert_eq!(
        p.inputs[0].conversion,
        IoConversion::Quantize {
            rounding: nnopt_compiler::ir::QuantizeRounding::HalfEven
        }
    );
    let x = Tensor::from_f64s(DType::F32, &[1, 6], &[0.01, -0.01, 0.03, 0.05, -0.07, 0.0]).unwrap();
    assert_same("half-even ties", &g, &p, &[x]);
}

/// The shape of the quantize-int8 pass's output: quantize at the input, fused conv
/// activation, a float tail (dequantize + log_softmax) and two outputs.
const PTQ_TINY_CNN: &str = r#"graph "tiny_cnn"(%x) {
  %x: f32[1,2,2,1] = input
  %x_quant: i8[1,2,2,1] q(scale=[0.007843138], zp=[-1]) = quantize {"to":"i8","rounding":"tflite"}(%x)
  %w_int8: i8[2,1,1,1] q(scale=[0.003937008, 0.015748031], zp=[0, 0], axis=0) = const [127, -127]
  %b_int32: i32[2] q(scale=[3.0878495e-5, 0.00012351398], zp=[0, 0], axis=0) = const [3238, -1619]
  %r: i8[1,2,2,2] q(scale=[0.0070588235], zp=[-128]) = conv {"layout":"nhwc","strides":[1,1],"dilations":[1,1],"pads":[0,0,0,0],"group":1,"activation":"relu"}(%x_quant, %w_int8, %b_int32) @"c"
  %m: i8[1,1,1,2] q(scale=[0.0070588235], zp=[-128]) = pool {"kind":"max","layout":"nhwc","kernel":[2,2],"strides":[2,2],"pads":[0,0,0,0],"count_include_pad":false,"activation":null}(%r)
  %f: i8[1,2] q(scale=[0.0070588235], zp=[-128]) = reshape {"shape":[1,2]}(%m)
  %s_int8: i8[1,2] q(scale=[0.00390625], zp=[-128]) = softmax {"axis":1,"beta":1.0}(%f)
  %f_dequant: f32[1,2] = dequantize(%f)
  %l: f32[1,2] = log_softmax {"axis":1}(%f_dequant)
  %s: f32[1,2] = dequantize(%s_int8)
  return %s, %l
}"#;

#[test]
fn quantize_int8_pass_output_runs_with_a_float_tail() {
    let g = parse_graph(PTQ_TINY_CNN).expect("parses");
    let (p, report) = lower(&g);
    let kinds: Vec<&str> = p.commands.iter().map(|c| c.kind_name()).collect();
    assert_eq!(kinds, ["conv2d", "pool", "softmax", "cpu"]);
    let cpu: Vec<&str> = report.fallbacks.iter().map(|f| f.op.as_str()).collect();
    assert_eq!(cpu, ["dequantize", "log_softmax"]);
    assert_eq!(p.outputs[0].conversion, IoConversion::Dequantize);
    assert_eq!(p.outputs[1].conversion, IoConversion::None);
    let mut rng = Lcg(5);
    for i in 0..8 {
        assert_same(
            &format!("ptq tiny cnn #{i}"),
            &g,
            &p,
            &random_inputs(&g, &mut rng),
        );
    }
}

#[test]
fn reshape_between_cpu_ops_joins_their_segment() {
    // Softmaxes whose beta only LiteRT's float-table kernel computes: CPU ops.
    let g = parse_graph(
        r#"graph "cpu_reshape"(%x) {
  %x: i8[2,6] q(scale=[0.1], zp=[3]) = input
  %a: i8[2,6] q(scale=[0.00390625], zp=[-128]) = softmax {"axis":1,"beta":0.0000001}(%x)
  %r: i8[3,4] q(scale=[0.00390625], zp=[-128]) = reshape {"shape":[3,4]}(%a)
  %b: i8[3,4] q(scale=[0.00390625], zp=[-128]) = softmax {"axis":1,"beta":0.0000001}(%r)
  return %b
}"#,
    )
    .expect("parses");
    let (p, report) = lower(&g);
    assert_eq!(p.cpu_segments.len(), 1);
    assert_eq!(report.fallbacks.len(), 3);
    let mut rng = Lcg(9);
    for i in 0..4 {
        assert_same(
            &format!("cpu reshape #{i}"),
            &g,
            &p,
            &random_inputs(&g, &mut rng),
        );
    }
}

#[test]
fn strict_lowering_names_the_unsupported_node() {
    let g = parse_graph(FLOAT_IO).expect("parses");
    let target = npu::target::Target::preset("npu").expect("default target");
    let strict = LowerOptions {
        cpu_fallback: false,
    };
    let e = npu::compile(&g, &target, &strict).unwrap_err();
    assert_eq!(e.node.as_deref(), Some("s"));
    assert!(e.message.contains("softmax"), "{e}");
}

#[test]
fn wrong_inputs_are_errors() {
    let g = parse_graph(FLOAT_IO).expect("parses");
    let (p, _) = lower(&g);
    assert!(vnpu::run(&p, &[]).is_err());
    let wrong = Tensor::zeros(DType::I8, &[1, 6]);
    assert!(vnpu::run(&p, &[wrong]).is_err());
    let x = Tensor::zeros(DType::F32, &[1, 6]);
    let mut bad = p.clone();
    bad.arena_size = 3;
    assert!(vnpu::run(&bad, std::slice::from_ref(&x)).is_err());
    // Corrupt parameters are errors, not panics.
    let mut bad = p.clone();
    bad.weights[0].requant[0].shift = 40;
    assert!(vnpu::run(&bad, std::slice::from_ref(&x)).is_err());
    let mut bad = p.clone();
    if let Command::FullyConnected(fc) = &mut bad.commands[0] {
        fc.stage.act_min = 5;
        fc.stage.act_max = -5;
    }
    assert!(vnpu::run(&bad, std::slice::from_ref(&x)).is_err());
    let mut bad = p.clone();
    bad.commands.push(Command::Cpu { segment: 9 });
    assert!(vnpu::run(&bad, std::slice::from_ref(&x)).is_err());
}
