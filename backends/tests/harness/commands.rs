//! Small graphs of the requantize, SVDF and float-table softmax commands, shared by the
//! virtual-NPU tests and the firmware runtime's (`tests/runtime_commands.rs`).

use super::{qt, Lcg};
use nnopt_compiler::ir::{
    Activation, DType, Graph, Op, QuantParams, QuantizeRounding, Tensor, Value,
};

/// A requantization `from` -> `to` (TFLite rounding) of a `[2, 3, 17]` input, scaled by
/// `ratio` (input scale over output scale).
pub fn requantize_graph(from: DType, to: DType, ratio: f32) -> Graph {
    let zp = |d: DType| match d {
        DType::U8 => 128,
        DType::I8 => -3,
        DType::I16 => 7,
        _ => -11,
    };
    let mut g = Graph::new(format!("requantize {from} -> {to}"));
    let x = g.add_input("x", qt(from, &[2, 3, 17], 0.05, zp(from)));
    let op = Op::Quantize {
        to,
        rounding: QuantizeRounding::Tflite,
        saturate: true,
    };
    let y = g.add_op("y", op, &[x], qt(to, &[2, 3, 17], 0.05 / ratio, zp(to)));
    g.set_outputs(vec![y]);
    g
}

/// Integers of `dtype` and `shape` in `[-bound, bound]`.
fn ints(rng: &mut Lcg, dtype: DType, shape: &[usize], bound: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| (rng.next() % (2 * bound + 1)) as f64 - bound as f64)
        .collect();
    Tensor::from_f64s(dtype, shape, &v).expect("in range")
}

/// One SVDF step with constant weights and initial state (int8 or int16 `state`), 7
/// inputs, 3 units of `rank` filters, memory 5; its next state is a graph output when
/// `next_used`.
pub fn svdf_graph(state: DType, rank: usize, batch: usize, next_used: bool) -> Graph {
    let (input, units, memory) = (7, 3, 5);
    let filters = units * rank;
    let wide = state == DType::I16;
    let mut rng = Lcg(40 + rank as u64 + batch as u64);
    let q = |s: f32, zp: i64| Some(QuantParams::per_tensor(s, zp));
    let mut g = Graph::new(format!("svdf {state} rank {rank} batch {batch}"));
    let x = g.add_input("x", qt(DType::I8, &[batch, input], 0.05, -3));
    let wf = ints(&mut rng, DType::I8, &[filters, input], 127);
    let wf = g.add_const("wf", wf, q(0.01, 0));
    let bound = if wide { 3000 } else { 127 };
    let wt = ints(&mut rng, state, &[filters, memory], bound);
    let wt = g.add_const("wt", wt, q(if wide { 0.0004 } else { 0.02 }, 0));
    let (ss, zs) = if wide { (0.002, 5) } else { (0.5, -6) };
    let s0 = ints(&mut rng, state, &[batch, filters * memory], bound);
    let s0 = g.add_const("state", s0, q(ss, zs));
    let bias = ints(&mut rng, DType::I32, &[units], 2000);
    let bias = g.add_const("bias", bias, None);
    let so = if wide { 0.4 } else { 5.0 };
    let outputs = vec![
        Value {
            name: "y".into(),
            ty: qt(DType::I8, &[batch, units], so, 4),
        },
        Value {
            name: "next".into(),
            ty: qt(state, &[batch, filters * memory], ss, zs),
        },
    ];
    let op = Op::Svdf {
        rank,
        activation: Some(Activation::Relu),
    };
    let n = g.add_node("svdf", op, &[x, wf, wt, s0, bias], outputs);
    let out = |output| nnopt_compiler::ir::ValueRef { node: n, output };
    g.set_outputs(if next_used {
        vec![out(0), out(1)]
    } else {
        vec![out(0)]
    });
    g
}

/// A softmax of `dtype` codes along axis `axis` of `[3, 7, 5]` whose input scale is too
/// small for TFLite's fixed-point kernel (LiteRT's float table computes it).
pub fn table_softmax_graph(dtype: DType, axis: usize, output_scale: f32) -> Graph {
    let (zi, zo) = if dtype == DType::U8 {
        (128, 0)
    } else {
        (3, -128)
    };
    let mut g = Graph::new(format!("table softmax {dtype} axis {axis}"));
    let x = g.add_input("x", qt(dtype, &[3, 7, 5], 1e-8, zi));
    let op = Op::Softmax { axis, beta: 1.0 };
    let y = g.add_op("y", op, &[x], qt(dtype, &[3, 7, 5], output_scale, zo));
    g.set_outputs(vec![y]);
    g
}
