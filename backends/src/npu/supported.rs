//! Supported-operator checks: which IR nodes the NPU can run, one named constraint per
//! function (like Vela's supported-operators table), each returning the fallback reason
//! the lowering report shows when it fails.
//!
//! [`check`] runs the constraints every command has on each node before lowering; the
//! operator-specific constraints below are checked by the lowering of that operator, at
//! the point where its inputs are known.

use nnopt_compiler::fp8::Fp8Format;
use nnopt_compiler::ir::{ConvAttrs, DType, Graph, Layout, NodeIndex, Op, ReduceKind};
use nnopt_compiler::ir::{GemmAttrs, PoolAttrs, PoolWindow2d, QuantizeRounding, ResizeFilter};
use nnopt_compiler::ir::{TensorType, UnaryFunc, ValueRef};
use std::collections::HashMap;

/// Why an op falls back to the CPU.
pub type Reason = String;

/// How the NPU runs a node that passes the common constraints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A free memory alias (reshape, identity) of its input.
    Alias,
    /// An f32 or FP8 command of an FP8 program.
    Float,
    /// An integer (quantized) command.
    Integer,
}

/// The verdict of the common constraints for every node (sources excluded).
#[derive(Clone, Debug)]
pub struct Support {
    pub nodes: HashMap<NodeIndex, Result<Placement, Reason>>,
}

/// Checks the common constraints of every non-source node of `g`.
pub fn check(g: &Graph) -> Support {
    // With FP8 values the NPU runs in FP8 mode, with f32 vector ops (an int8 or float
    // program leaves float ops to the CPU).
    let fp8_program = has_fp8_values(g);
    let nodes = g
        .node_indices()
        .into_iter()
        .filter(|&n| !g.node(n).op.is_source())
        .map(|n| (n, check_node(g, n, fp8_program)))
        .collect();
    Support { nodes }
}

/// Refuses values of element types that an NPU program cannot hold (half, bfloat16 and
/// double floats, unsigned integers wider than 8 bits, 4- and 2-bit integers, FP4 and the
/// other FP8 variants).
pub fn check_dtypes(g: &Graph) -> nnopt_compiler::Result<()> {
    for n in g.node_indices() {
        let node = g.node(n);
        if let Some(v) = node.outputs.iter().find(|v| {
            !matches!(
                v.ty.dtype,
                DType::F32
                    | DType::I8
                    | DType::U8
                    | DType::I16
                    | DType::I32
                    | DType::I64
                    | DType::Bool
                    | DType::F8E4M3
                    | DType::F8E5M2
            )
        }) {
            return Err(nnopt_compiler::Error::at_node(
                &node.name,
                format!(
                    "value '{}' is {}: NPU programs hold f32, FP8 and 8- to 64-bit integer \
                     tensors; cast it (or quantize the model) first",
                    v.name, v.ty.dtype
                ),
            ));
        }
    }
    Ok(())
}

/// Whether any value of `g` is FP8.
fn has_fp8_values(g: &Graph) -> bool {
    g.node_indices().into_iter().any(|n| {
        g.node(n)
            .outputs
            .iter()
            .any(|o| Fp8Format::of(o.ty.dtype).is_some())
    })
}

/// The common constraints of one node, in order.
fn check_node(g: &Graph, n: NodeIndex, fp8_program: bool) -> Result<Placement, Reason> {
    has_command(&g.node(n).op)?;
    single_output(g, n)?;
    let float = float_data(g, n);
    data_is_quantized_or_fp8(g, n, float, fp8_program)?;
    constants_only_as_weights(g, n, float)?;
    input_is_activation(g, n)?;
    if let Op::Reshape { .. } | Op::Identity = g.node(n).op {
        alias_keeps_bytes(g, n)?;
        return Ok(Placement::Alias);
    }
    Ok(if float {
        Placement::Float
    } else {
        Placement::Integer
    })
}

/// Index searches, scans, index-tuple gathers, recurrent layers, grid samples,
/// determinants, deformable convolutions, region-of-interest aligns and binarization
/// (standalone or fused) have no NPU command: they run on the CPU.
fn has_command(op: &Op) -> Result<(), Reason> {
    if op.binarizes() {
        return Err("the NPU has no binarize kernel (binary layers run on the CPU)".into());
    }
    let what = match op {
        Op::ArgReduce { .. } => "index searches",
        Op::Cumulative { .. } => "scans",
        Op::GatherNd { .. } => "gathers by index tuples",
        Op::Recurrent(_) => "recurrent layers",
        Op::GridSample { .. } => "grid samples",
        Op::Det => "determinants",
        Op::DeformConv { .. } => "deformable convolutions",
        Op::RoiAlign(_) => "region-of-interest aligns",
        _ => return Ok(()),
    };
    Err(format!(
        "the NPU has no {} kernel ({what} run on the CPU)",
        op.detailed_name()
    ))
}

/// Every NPU command writes one tensor.
fn single_output(g: &Graph, n: NodeIndex) -> Result<(), Reason> {
    let node = g.node(n);
    if node.outputs.len() != 1 {
        return Err(format!("the NPU has no {} kernel", node.op.detailed_name()));
    }
    Ok(())
}

/// Whether a node computes on f32 or FP8 values (its output, or FP8 input data).
fn float_data(g: &Graph, n: NodeIndex) -> bool {
    let fp8_data = g
        .node_inputs(n)
        .first()
        .is_some_and(|&x| Fp8Format::of(g.ty(x).dtype).is_some());
    is_float(g.node(n).outputs[0].ty.dtype) || fp8_data
}

/// Float data runs on the NPU only in an FP8 program; integer data must be quantized.
fn data_is_quantized_or_fp8(
    g: &Graph,
    n: NodeIndex,
    float: bool,
    fp8_program: bool,
) -> Result<(), Reason> {
    let out_ty = &g.node(n).outputs[0].ty;
    if (float && !fp8_program) || (!float && !out_ty.is_quantized()) {
        return Err("float (unquantized) tensors run on the CPU".into());
    }
    Ok(())
}

/// NPU commands take activations; only weighted layers (and the slope of an int8
/// parametric ReLU) take constants.
fn constants_only_as_weights(g: &Graph, n: NodeIndex, float: bool) -> Result<(), Reason> {
    let node = g.node(n);
    let weighted = matches!(
        node.op,
        Op::Conv(_) | Op::ConvTranspose { .. } | Op::Gemm { .. } | Op::MatMul
    );
    let slope = matches!(node.op, Op::PRelu) && !float;
    let constant = g
        .node_inputs(n)
        .into_iter()
        .enumerate()
        .filter(|&(i, _)| !(slope && i == 1))
        .map(|(_, v)| v)
        .find(|&v| g.const_value(v).is_some());
    match constant {
        Some(c) if !weighted => Err(format!(
            "constant operand '{}' (NPU commands take activations only)",
            g.value(c).name
        )),
        _ => Ok(()),
    }
}

/// The first input of every command is an activation.
fn input_is_activation(g: &Graph, n: NodeIndex) -> Result<(), Reason> {
    match g.node_inputs(n).first() {
        Some(&x) if g.const_value(x).is_some() => Err("constant input activation".into()),
        _ => Ok(()),
    }
}

/// A reshape or identity is free only when it keeps the element type and byte size.
fn alias_keeps_bytes(g: &Graph, n: NodeIndex) -> Result<(), Reason> {
    let x = *g.node_inputs(n).first().ok_or("missing input")?;
    let out_ty = &g.node(n).outputs[0].ty;
    if g.ty(x).dtype != out_ty.dtype || g.ty(x).size_bytes() != out_ty.size_bytes() {
        return Err("changes the element type or size".into());
    }
    Ok(())
}

/// Whether values of `d` are f32 or FP8.
pub fn is_float(d: DType) -> bool {
    d == DType::F32 || Fp8Format::of(d).is_some()
}

/// Transposed convolutions run as NHWC with one group.
pub fn transposed_conv_form(c: &ConvAttrs) -> Result<(), Reason> {
    if c.layout != Layout::Nhwc || c.group > 1 {
        return Err("transposed convolution other than NHWC with one group".into());
    }
    Ok(())
}

/// A gemm runs as a fully connected layer with alpha = beta = 1 and A not transposed.
pub fn gemm_form(gemm: &GemmAttrs) -> Result<(), Reason> {
    if !gemm.is_fully_connected() {
        return Err("gemm with alpha/beta != 1 or transposed A".into());
    }
    Ok(())
}

/// A matrix product runs as a fully connected layer when its right operand is a constant
/// 2-D matrix (the weights) and its left one has rank 2 or more (rows of any batch).
pub fn matmul_as_fully_connected(g: &Graph, ins: &[ValueRef]) -> Result<(), Reason> {
    let (Some(&a), Some(&b)) = (ins.first(), ins.get(1)) else {
        return Err("mat_mul needs two inputs".into());
    };
    let constant_matrix = g.const_value(b).is_some_and(|w| w.shape().len() == 2);
    if !constant_matrix || g.ty(a).shape.len() < 2 {
        return Err(
            "mat_mul runs as fully connected only with a constant 2-D right operand".into(),
        );
    }
    Ok(())
}

/// Pooling windows: 2 spatial axes, no dilation or ceil mode, averages that do not count
/// padding.
pub fn pool_window(pool: &PoolAttrs, input: &TensorType) -> Result<PoolWindow2d, Reason> {
    if pool.kernel.len() != 2
        || pool.strides.len() != 2
        || pool.pads.len() != 4
        || input.shape.len() != 4
    {
        return Err("pooling over other than 2 spatial axes".into());
    }
    let (Some(window), false) = (pool.window_2d(), pool.ceil_mode) else {
        return Err("pooling with dilation or ceil mode".into());
    };
    if pool.averages_padding() {
        return Err("average pooling that counts padding".into());
    }
    Ok(window)
}

/// Integer reductions are means and sums.
pub fn integer_reduce_kind(kind: ReduceKind) -> Result<(), Reason> {
    if !matches!(kind, ReduceKind::Mean | ReduceKind::Sum) {
        return Err(format!("the NPU has no reduce {kind:?} kernel"));
    }
    Ok(())
}

/// Float reductions are means, sums, maxima and minima.
pub fn float_reduce_kind(kind: ReduceKind) -> Result<(), Reason> {
    if kind == ReduceKind::Prod {
        return Err(format!("the NPU has no reduce {kind:?} kernel"));
    }
    Ok(())
}

/// Reduction axes exist in the input.
pub fn reduce_axes_in_range(axes: &[usize], input: &TensorType) -> Result<(), Reason> {
    if axes.iter().any(|&a| a >= input.shape.len()) {
        return Err("reduction axis out of range".into());
    }
    Ok(())
}

/// Constant padding gives one (before, after) pair per input axis.
pub fn pads_match_rank(pads: &[(usize, usize)], input: &TensorType) -> Result<(), Reason> {
    if pads.len() != input.shape.len() {
        return Err("pads do not match the input rank".into());
    }
    Ok(())
}

/// Quantization to FP8 saturates.
pub fn fp8_quantize_saturates(saturate: bool) -> Result<(), Reason> {
    if !saturate {
        return Err("non-saturating FP8 quantization".into());
    }
    Ok(())
}

/// Resize uses the default filter options.
pub fn resize_default_filter(filter: &ResizeFilter) -> Result<(), Reason> {
    if !filter.is_default() {
        return Err("resize with non-default filter options".into());
    }
    Ok(())
}

/// Resize scales the spatial axes of non-empty NHWC data.
pub fn resize_nhwc(input: &TensorType, output: &TensorType) -> Result<(), Reason> {
    let (xs, os) = (&input.shape, &output.shape);
    let nhwc = xs.len() == 4 && os.len() == 4 && xs[0] == os[0] && xs[3] == os[3];
    if !nhwc || xs.contains(&0) || os.contains(&0) {
        return Err("resize other than of NHWC spatial axes".into());
    }
    Ok(())
}

/// Softmax: int8 to int8 or int16, or uint8 to uint8, over an existing axis.
pub fn softmax_types(axis: usize, input: &TensorType, output: &TensorType) -> Result<(), Reason> {
    let types_ok = matches!(
        (input.dtype, output.dtype),
        (DType::I8, DType::I8 | DType::I16) | (DType::U8, DType::U8)
    );
    if !types_ok || axis >= input.shape.len() {
        return Err(format!("softmax from {} to {}", input.dtype, output.dtype));
    }
    Ok(())
}

/// A function of one operand becomes a table only when every input code has a value: the
/// int8 rsqrt of a code below the zero point is an error (TFLite Micro rejects it at run
/// time), so rsqrt needs its zero point at the lowest code.
pub fn unary_table(op: &Op, input: &TensorType) -> Result<(), Reason> {
    let Op::Unary {
        func: UnaryFunc::Rsqrt,
    } = op
    else {
        return Ok(());
    };
    let Some((lowest, _)) = input.dtype.int_range() else {
        return Err(format!("rsqrt of {} data has no table", input.dtype));
    };
    match &input.quant {
        Some(q) if q.zero_point.iter().all(|&z| z == lowest) => Ok(()),
        q => Err(format!(
            "rsqrt needs its input zero point at the lowest code ({lowest}), got {}: codes \
             below it have no value (TFLite Micro rejects them at run time), so there is no \
             table",
            q.as_ref()
                .map_or("none".to_string(), |q| format!("{:?}", q.zero_point))
        )),
    }
}

/// Requantization outside tables: integers of any width (int8, uint8, int16, int32) with
/// TFLite's rounding, per tensor.
pub fn requantize_form(op: &Op, input: &TensorType, output: &TensorType) -> Result<(), Reason> {
    let int = |t: &TensorType| matches!(t.dtype, DType::I8 | DType::U8 | DType::I16 | DType::I32);
    if !int(input) || !int(output) {
        return Err(format!(
            "{} to {}: the NPU requantizes integers only",
            input.dtype, output.dtype
        ));
    }
    if !matches!(
        op,
        Op::Quantize {
            rounding: QuantizeRounding::Tflite,
            ..
        }
    ) {
        return Err("requantization of wide integers rounding half to even".into());
    }
    Ok(())
}

/// Fixed-point multipliers whose shift TFLite's arithmetic defines.
pub fn shift_in_range(shift: i32) -> Result<(), Reason> {
    if !(-31..=31).contains(&shift) {
        return Err(format!("requantization shift {shift} out of range"));
    }
    Ok(())
}

/// An SVDF runs as a host command when its next state is not used (the command does not
/// keep it).
pub fn svdf_state_unused(g: &Graph, n: NodeIndex) -> Result<(), Reason> {
    let next = ValueRef { node: n, output: 1 };
    if !g.consumers(next).is_empty() || g.outputs().contains(&next) {
        return Err("svdf whose next state is used".into());
    }
    Ok(())
}

/// The float-table softmax maps 8-bit codes to the same type along an existing axis.
pub fn table_softmax_types(
    axis: usize,
    input: &TensorType,
    output: &TensorType,
) -> Result<(), Reason> {
    let types_ok = matches!(
        (input.dtype, output.dtype),
        (DType::I8, DType::I8) | (DType::U8, DType::U8)
    );
    if !types_ok || axis >= input.shape.len() || input.shape != output.shape {
        return Err(format!(
            "table softmax from {} to {}",
            input.dtype, output.dtype
        ));
    }
    Ok(())
}

/// One IR op the NPU runs, as `nnopt ops` lists it.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct OpSupport {
    /// The IR op ([`Op::name`], with the kinds it covers).
    pub op: &'static str,
    /// The NPU command it becomes.
    pub command: &'static str,
    /// When it runs as an integer command (int8 programs); `None`: never.
    pub int8: Option<&'static str>,
    /// When it runs in an FP8 program (f32 or FP8 data); `None`: never.
    pub fp8: Option<&'static str>,
}

/// The IR ops the lowering turns into NPU commands and the constraints it checks (the
/// functions above and the lowering's own). Every node must also pass [`check`]: one
/// output, quantized (or FP8-program) data, constants only as weights. The host-CPU
/// commands (`svdf`, `table_softmax`) take ops that fail them. Anything else runs on the
/// CPU in the reference interpreter.
pub const NPU_OPS: &[OpSupport] = &[
    OpSupport {
        op: "conv",
        command: "conv2d",
        int8: Some("4-D, any groups (depthwise included), int8 per-channel weights, int32 bias"),
        fp8: Some("FP8 (E4M3/E5M2) weights and data, f32 bias"),
    },
    OpSupport {
        op: "conv_transpose",
        command: "conv2d (transposed)",
        int8: Some("NHWC with one group"),
        fp8: None,
    },
    OpSupport {
        op: "gemm",
        command: "fully_connected",
        int8: Some("alpha = beta = 1, A not transposed, 2-D input, constant weights"),
        fp8: Some("as int8, FP8 weights"),
    },
    OpSupport {
        op: "mat_mul",
        command: "fully_connected",
        int8: Some("constant 2-D right operand (int8 weights), left operand of rank 2 or more"),
        fp8: None,
    },
    OpSupport {
        op: "binary.add, binary.sub, binary.mul",
        command: "elementwise",
        int8: Some("two activation inputs (broadcasting), int8 output"),
        fp8: Some("f32 data; also div, max, min"),
    },
    OpSupport {
        op: "p_relu",
        command: "prelu",
        int8: Some("slope broadcasts to the input (a constant slope is allowed)"),
        fp8: None,
    },
    OpSupport {
        op: "activation, quantize",
        command: "lookup (8-bit codes: 256-entry table), requantize, quantize (FP8)",
        int8: Some(
            "8-bit to 8-bit: any activation, requantization; requantization between int8, uint8, int16 and int32 (TFLite rounding, per tensor)",
        ),
        fp8: Some("f32 activations; quantize f32 to FP8 saturating"),
    },
    OpSupport {
        op: "unary",
        command: "lookup (8-bit codes: 256-entry table)",
        int8: Some(
            "8-bit to the same type: every real function (exp, erf, gelu, rsqrt, ...); rsqrt only when no input code lies below the zero point",
        ),
        fp8: None,
    },
    OpSupport {
        op: "softmax",
        command: "softmax, table_softmax (host CPU)",
        int8: Some(
            "int8 to int8 or int16, uint8 to uint8; an input scale too small for the fixed-point kernel: LiteRT's float table on the host CPU (8-bit to the same type)",
        ),
        fp8: None,
    },
    OpSupport {
        op: "svdf",
        command: "svdf (host CPU)",
        int8: Some(
            "int8 data, int8 or int16 state, constant weights and initial state, next state unused",
        ),
        fp8: None,
    },
    OpSupport {
        op: "pool",
        command: "pool",
        int8: Some(
            "2 spatial axes, no dilation or ceil mode, averages exclude padding, no requantization",
        ),
        fp8: Some("f32 data, same windows"),
    },
    OpSupport {
        op: "reduce.mean, reduce.sum",
        command: "reduce",
        int8: Some("axes within the input"),
        fp8: Some("f32 data; also max and min"),
    },
    OpSupport {
        op: "concat",
        command: "concat",
        int8: Some("any axis (inputs requantized to the output's scale)"),
        fp8: Some("f32 data"),
    },
    OpSupport {
        op: "pad",
        command: "pad",
        int8: Some("constant mode, one pair per axis, no requantization"),
        fp8: Some("f32 data, constant mode"),
    },
    OpSupport {
        op: "resize",
        command: "resize",
        int8: Some("NHWC spatial axes, default filter options, no requantization"),
        fp8: None,
    },
    OpSupport {
        op: "reshape, identity",
        command: "(none: an alias of the input's memory)",
        int8: Some("same element type and byte size"),
        fp8: Some("same element type and byte size"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use nnopt_compiler::ir::infer::infer_types;
    use nnopt_compiler::ir::{RecurrentAttrs, RecurrentCell, RecurrentDirection, Tensor, Value};

    #[test]
    fn a_recurrent_layer_falls_back_with_a_named_reason() {
        let cell = RecurrentCell::Gru {
            linear_before_reset: false,
        };
        let op = Op::Recurrent(RecurrentAttrs {
            cell,
            direction: RecurrentDirection::Forward,
            hidden_size: 2,
            activations: cell.default_activations(),
            clip: None,
            cell_clip: None,
            batch_major: false,
            sequence_lens: false,
        });
        let mut g = Graph::new("gru");
        let x = g.add_input("x", TensorType::new(DType::F32, vec![3, 1, 4]));
        let ins: Vec<ValueRef> = [vec![1, 6, 4], vec![1, 6, 2], vec![1, 12], vec![1, 1, 2]]
            .iter()
            .enumerate()
            .map(|(i, s)| g.add_const(format!("c{i}"), Tensor::zeros(DType::F32, s), None))
            .collect();
        let ins = [vec![x], ins].concat();
        let types: Vec<TensorType> = ins.iter().map(|&v| g.ty(v).clone()).collect();
        let refs: Vec<&TensorType> = types.iter().collect();
        let outputs = infer_types(&op, &refs)
            .unwrap()
            .into_iter()
            .enumerate()
            .map(|(k, ty)| Value {
                name: format!("y{k}"),
                ty,
            })
            .collect();
        let n = g.add_node("gru", op, &ins, outputs);
        let reason = check(&g).nodes[&n].clone().unwrap_err();
        assert!(
            reason.contains("no recurrent.gru kernel") && reason.contains("recurrent layers"),
            "{reason}"
        );
    }
}
