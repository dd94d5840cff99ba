//! The virtual NPU against the reference interpreter on small hand-written graphs: one
//! or more per NPU kernel (conv, fully connected, elementwise, pooling, reduction, memory
//! ops, table lookups of activations and of functions such as exp, erf, gelu and rsqrt,
//! requantizing concat, padding, PReLU, resize, softmax, transposed
//! convolution, requantization of wide integers, matrix products by a constant matrix) and
//! host-CPU command (SVDF, float-table softmax), each lowered without CPU segments and run
//! bit for bit; and the named reasons of ops that fall back to the CPU.

mod harness;

use harness::commands::*;
use harness::*;
use nnopt_backends::npu::{Command, Program};
use nnopt_compiler::ir::infer::infer_types;
use nnopt_compiler::ir::{
    Activation, BinaryKind, ConvAttrs, DType, GemmAttrs, Graph, Layout, Op, PadMode, PoolAttrs,
    PoolKind, QuantParams, QuantizeRounding, TensorType, UnaryFunc, ValueRef,
};

/// Adds the conv `op` as the graph output "y" (scale 0.11, zero point 120 for u8 data and 5
/// for i8) and checks that it lowers to the NPU alone and matches the interpreter.
fn finish_conv(what: &str, g: &mut Graph, op: Op, ins: &[ValueRef], u8_data: bool) -> Program {
    let dt = if u8_data { DType::U8 } else { DType::I8 };
    let y = add_q(g, "y", op, ins, dt, 0.11, if u8_data { 120 } else { 5 });
    g.set_outputs(vec![y]);
    check_npu_only(what, g)
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
    use Activation::{Relu, Relu6};
    use Layout::{Nchw, Nhwc};
    #[rustfmt::skip]
    let cases = [
        (3, 5, [3, 3], conv(Nhwc, [1, 1], [1, 1], [1, 1, 1, 1], 1, Some(Relu))),
        (4, 4, [3, 3], conv(Nhwc, [2, 2], [1, 1], [0, 0, 1, 1], 4, Some(Relu6))),
        // Depthwise with depth multiplier 2 and dilation.
        (3, 6, [3, 2], conv(Nhwc, [1, 2], [2, 1], [2, 1, 2, 0], 3, None)),
        (4, 6, [1, 1], conv(Nhwc, [1, 1], [1, 1], [0, 0, 0, 0], 2, None)),
        (3, 4, [3, 3], conv(Nchw, [2, 1], [1, 1], [1, 1, 1, 1], 1, Some(Relu))),
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
            let what = format!("conv case {i} u8={u8_data}");
            let p = finish_conv(&what, &mut g, op, &[x, w, b], u8_data);
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
fn matmul_by_a_constant_matrix_runs_as_fully_connected() {
    for xs in [vec![5, 6], vec![2, 3, 6], vec![2, 1, 3, 6]] {
        let mut rng = Lcg(13);
        let mut g = Graph::new("matmul");
        let x = g.add_input("x", qt(DType::I8, &xs, 0.05, 3));
        let w = rng.tensor(DType::I8, &[6, 4]);
        let w = g.add_const("w", w, Some(QuantParams::per_tensor(0.02, -2)));
        let y = add_q(&mut g, "y", Op::MatMul, &[x, w], DType::I8, 0.4, -4);
        g.set_outputs(vec![y]);
        let p = check_npu_only(&format!("mat_mul {xs:?}"), &g);
        assert!(
            matches!(p.commands[..], [Command::FullyConnected(_)]),
            "{:?}",
            p.commands
        );
    }
}

#[test]
fn ops_without_npu_commands_fall_back_with_their_reason() {
    let mut g = Graph::new("fallbacks");
    let a = g.add_input("a", qt(DType::I8, &[2, 3, 4], 0.05, 3));
    let b = g.add_input("b", qt(DType::I8, &[2, 4, 5], 0.05, 3));
    let m = add_q(&mut g, "m", Op::MatMul, &[a, b], DType::I8, 0.3, 0);
    let arg = Op::ArgReduce {
        kind: nnopt_compiler::ir::ArgKind::Max,
        axis: 2,
        keep_dims: false,
        select_last_index: false,
        index_dtype: DType::I32,
    };
    let ty = infer_types(&arg, &[g.ty(m)]).unwrap().remove(0);
    let i = g.add_op("i", arg, &[m], ty);
    g.set_outputs(vec![i]);
    let (_, report) = lower(&g);
    assert_eq!(
        fallback_reasons(&report),
        [
            (
                "mat_mul",
                "mat_mul runs as fully connected only with a constant 2-D right operand"
            ),
            (
                "arg_reduce.max",
                "the NPU has no arg_reduce.max kernel (index searches run on the CPU)"
            ),
        ]
    );
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

/// Compiles `op` on one input of type `x` with output `(dtype, scale, zero point)` and
/// checks that it is a single table lookup, bit-exact with the interpreter.
fn assert_one_lookup(what: &str, op: Op, x: TensorType, (dt, scale, zp): (DType, f32, i64)) {
    let mut g = Graph::new("lookup");
    let x = g.add_input("x", x);
    let y = add_q(&mut g, "y", op, &[x], dt, scale, zp);
    g.set_outputs(vec![y]);
    let p = check_npu_only(what, &g);
    assert!(
        matches!(p.commands.as_slice(), [Command::Lookup(_)]),
        "{what}"
    );
}

/// The (op, reason) of every CPU fallback of a lowering report.
fn fallback_reasons(report: &nnopt_backends::npu::LoweringReport) -> Vec<(&str, &str)> {
    report
        .fallbacks
        .iter()
        .map(|f| (f.op.as_str(), f.reason.as_str()))
        .collect()
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
            let x = qt(dt, &[2, 5, 31], 0.05, zi);
            assert_one_lookup(&format!("{what} {dt}"), op, x, (dt, so, zo));
        }
    }
}

#[test]
fn unary_functions_become_exact_table_lookups() {
    let funcs = [
        UnaryFunc::Exp,
        UnaryFunc::Erf,
        UnaryFunc::Gelu { tanh: false },
        UnaryFunc::Gelu { tanh: true },
        UnaryFunc::Rsqrt,
        UnaryFunc::Sqrt,
        UnaryFunc::Log,
        UnaryFunc::Softplus,
    ];
    for dt in [DType::I8, DType::U8] {
        let lowest = if dt == DType::U8 { 0 } else { -128 };
        for func in funcs {
            // Rsqrt has a table only with no codes below the zero point.
            let zi = if func == UnaryFunc::Rsqrt {
                lowest
            } else {
                lowest + 100
            };
            let x = qt(dt, &[2, 5, 31], 0.04, zi);
            let out = (dt, 0.03, lowest + 20);
            assert_one_lookup(&format!("{func:?} {dt}"), Op::Unary { func }, x, out);
        }
    }
}

#[test]
fn layer_norm_ops_without_tables_fall_back_with_their_reason() {
    let mut g = Graph::new("fallbacks");
    let a = g.add_input("a", qt(DType::I8, &[2, 8], 0.05, 3));
    let b = g.add_input("b", qt(DType::I8, &[2, 1], 0.05, 3));
    let sq = Op::Binary {
        kind: BinaryKind::SquaredDifference,
        activation: None,
    };
    let d = add_q(&mut g, "d", sq, &[a, b], DType::I8, 0.02, -128);
    let rsqrt = Op::Unary {
        func: UnaryFunc::Rsqrt,
    };
    let r = add_q(&mut g, "r", rsqrt, &[a], DType::I8, 0.1, -128);
    g.set_outputs(vec![d, r]);
    let (_, report) = lower(&g);
    assert_eq!(
        fallback_reasons(&report),
        [
            (
                "binary.squared_difference",
                "the NPU has no binary SquaredDifference kernel"
            ),
            (
                "unary.rsqrt",
                "rsqrt needs its input zero point at the lowest code (-128), got [3]: codes \
                 below it have no value (TFLite Micro rejects them at run time), so there is \
                 no table"
            ),
        ]
    );
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
    // Channels of NHWC tensors (axis 3: the tables once indexed past a row's rank).
    let mut g = Graph::new("channel concat");
    let a = g.add_input("a", qt(DType::I8, &[1, 2, 2, 3], 0.1, 0));
    let b = g.add_input("b", qt(DType::I8, &[1, 2, 2, 5], 0.05, 9));
    let y = add_q(
        &mut g,
        "y",
        Op::Concat { axis: 3 },
        &[a, b],
        DType::I8,
        0.1,
        0,
    );
    g.set_outputs(vec![y]);
    check_npu_only("requantizing channel concat", &g);
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
            let what = format!("transposed conv case {i} u8={u8_data}");
            let p = finish_conv(&what, &mut g, op, &[x, w, b], u8_data);
            assert!(matches!(p.commands.as_slice(), [Command::Conv2d(c)] if c.transposed));
        }
    }
}

#[test]
fn requantize_matches_the_interpreter() {
    // (from, to, input scale over output scale)
    let cases = [
        (DType::I16, DType::I8, 0.0106),
        (DType::I16, DType::I32, 0.5),
        (DType::U8, DType::I16, 50.0),
        (DType::I8, DType::I32, 500.0),
        (DType::I32, DType::U8, 0.3),
        (DType::I32, DType::I16, 1.0),
    ];
    for (from, to, ratio) in cases {
        let g = requantize_graph(from, to, ratio);
        let p = check_without_segments(&g.name, &g, &[]);
        assert!(
            matches!(p.commands.as_slice(), [Command::Requantize(_)]),
            "{}",
            g.name
        );
    }
}

#[test]
fn svdf_runs_as_a_host_command() {
    for state in [DType::I8, DType::I16] {
        for (rank, batch) in [(1, 1), (1, 2), (2, 2)] {
            let g = svdf_graph(state, rank, batch, false);
            let p = check_without_segments(&g.name, &g, &["svdf"]);
            let [c] = p.commands.as_slice() else {
                panic!("{}: {:?}", g.name, p.commands)
            };
            assert!(matches!(c, Command::Svdf(_)) && c.on_host(), "{}", g.name);
        }
    }
    // A used next state is not kept by the command: the op stays an IR segment.
    let g = svdf_graph(DType::I16, 2, 2, true);
    let (p, report) = lower(&g);
    assert_eq!(p.cpu_segments.len(), 1);
    assert_eq!(report.fallbacks.len(), 1);
    assert_same(
        "svdf with its next state",
        &g,
        &p,
        &random_inputs(&g, &mut Lcg(1)),
    );
}

#[test]
fn table_softmax_runs_as_a_host_command() {
    // Output scales that put the flat distribution's codes near rounding ties.
    let cases = [
        (DType::I8, 1, 1.0 / 7.0 / 36.5),
        (DType::I8, 0, 1.0 / 256.0),
        (DType::U8, 2, 0.2 / 51.5),
    ];
    for (dt, axis, so) in cases {
        let g = table_softmax_graph(dt, axis, so);
        let p = check_without_segments(&g.name, &g, &["softmax"]);
        let [c] = p.commands.as_slice() else {
            panic!("{}: {:?}", g.name, p.commands)
        };
        assert!(
            matches!(c, Command::TableSoftmax(_)) && c.on_host(),
            "{}",
            g.name
        );
    }
}
