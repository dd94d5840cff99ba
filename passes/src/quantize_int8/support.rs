//! Which ops run in int8, with which operand roles and output parameters: the int8
//! kernels of the interpreter (TFLite's reference kernels) and TFLite's constraints.

use nnopt_compiler::ir::{
    Activation, BinaryKind, CoordTransform, DType, Graph, Layout, NearestRounding, NodeIndex, Op,
    PoolAttrs, PoolKind, ReduceKind, ResizeMode, ValueRef,
};

/// The role of one operand of an int8 op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// An activation, quantized asymmetric per tensor with calibrated parameters.
    Act,
    /// An f32 constant standing for an activation (asymmetric, its own range).
    ConstAct,
    /// Constant weights, quantized symmetric along `axis` (the output channels).
    Weight { axis: usize },
    /// Constant bias, int32 with scale `input scale * weight scale`; `axis` indexes
    /// the output channels in the bias tensor.
    Bias { axis: usize },
    /// Left as it is (e.g. integer gather indices).
    Keep,
}

/// How the parameters of an int8 op's outputs are chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Output {
    /// From the calibrated range of the value.
    Calibrated,
    /// Equal to the first input's (ops that move or select values).
    SameAsInput,
    /// Fixed by the kernel (TFLite: softmax and logistic 1/256 with zero point -128,
    /// tanh 1/128 with zero point 0).
    Fixed { scale: f32, zero_point: i64 },
}

/// How an op runs in int8.
#[derive(Clone, Debug)]
pub struct Rule {
    pub slots: Vec<Slot>,
    pub output: Output,
    /// Pure data movement: worth running in int8 only when its input already is.
    pub moves_data: bool,
    /// The op with attributes normalized for the int8 kernel, when they change.
    pub op: Option<Op>,
}

impl Rule {
    fn compute(slots: Vec<Slot>, output: Output) -> Self {
        Rule {
            slots,
            output,
            moves_data: false,
            op: None,
        }
    }

    fn moving(slots: Vec<Slot>) -> Self {
        Rule {
            slots,
            output: Output::SameAsInput,
            moves_data: true,
            op: None,
        }
    }
}

const FIXED_256: Output = Output::Fixed {
    scale: 1.0 / 256.0,
    zero_point: -128,
};

fn clamp_only(act: Option<Activation>) -> Result<(), String> {
    match act {
        Some(a) if a.clamp_range().is_none() => Err(format!(
            "fused activation {a:?} has no integer form (only clamps: relu, relu6, clip)"
        )),
        _ => Ok(()),
    }
}

fn is_f32_const(g: &Graph, v: ValueRef) -> bool {
    g.const_value(v).is_some_and(|t| t.dtype() == DType::F32)
}

/// An operand role for an f32 value: a constant stands for itself, others are
/// activations.
fn act_or_const(g: &Graph, v: ValueRef) -> Result<Slot, String> {
    if g.ty(v).dtype != DType::F32 {
        return Err(format!("operand '{}' is not f32", g.value(v).name));
    }
    Ok(if is_f32_const(g, v) {
        Slot::ConstAct
    } else {
        Slot::Act
    })
}

/// Roles of (x, w, [bias]) of a conv-like op whose weights have `cout` output channels
/// along `axis`.
fn weighted(g: &Graph, ins: &[ValueRef], axis: usize) -> Result<Vec<Slot>, String> {
    if act_or_const(g, ins[0])? != Slot::Act {
        return Err("the data operand is a constant (fold it first)".into());
    }
    if !is_f32_const(g, ins[1]) {
        return Err("weights are not an f32 constant".into());
    }
    let cout = g.ty(ins[1]).shape[axis];
    let mut slots = vec![Slot::Act, Slot::Weight { axis }];
    if let Some(&b) = ins.get(2) {
        let shape = &g.ty(b).shape;
        if !is_f32_const(g, b) || shape.iter().product::<usize>() != cout {
            return Err(format!(
                "bias is not an f32 constant of {cout} values (one per output channel)"
            ));
        }
        let axis = shape.iter().position(|&d| d == cout).unwrap_or(0);
        slots.push(Slot::Bias { axis });
    }
    Ok(slots)
}

/// TFLite's `(align_corners, half_pixel_centers)` modes, which the int8 resize kernel
/// implements.
fn tflite_resize(mode: ResizeMode, coord: CoordTransform, nearest: NearestRounding) -> bool {
    use CoordTransform as C;
    use NearestRounding as R;
    match mode {
        ResizeMode::Linear => matches!(coord, C::Asymmetric | C::AlignCorners | C::HalfPixel),
        ResizeMode::Nearest => matches!(
            (coord, nearest),
            (C::Asymmetric, R::Floor)
                | (C::AlignCorners, R::RoundPreferCeil)
                | (C::TfHalfPixelForNn, R::Floor)
                | (C::TfHalfPixelForNn, R::RoundPreferCeil)
        ),
        ResizeMode::Cubic => false,
    }
}

/// How node `n` runs in int8, or why it stays float.
pub fn classify(g: &Graph, n: NodeIndex) -> Result<Rule, String> {
    let node = g.node(n);
    let ins = g.node_inputs(n);
    let out_shape = &node.outputs[0].ty.shape;
    if node.outputs.iter().any(|v| v.ty.dtype != DType::F32) {
        return Err("output is not f32".into());
    }
    let first_act = || -> Result<Vec<Slot>, String> {
        match ins.first() {
            Some(&v) if act_or_const(g, v)? == Slot::Act => Ok(vec![Slot::Act]),
            _ => Err("the data operand is not an f32 activation".into()),
        }
    };
    Ok(match &node.op {
        Op::Conv(c) => {
            clamp_only(c.activation)?;
            Rule::compute(weighted(g, &ins, 0)?, Output::Calibrated)
        }
        Op::ConvTranspose { conv, .. } => {
            clamp_only(conv.activation)?;
            if conv.layout != Layout::Nhwc || conv.group != 1 {
                return Err("the int8 transposed convolution is NHWC without groups".into());
            }
            Rule::compute(weighted(g, &ins, 0)?, Output::Calibrated)
        }
        Op::Gemm(gemm) => {
            clamp_only(gemm.activation)?;
            if !gemm.is_fully_connected() {
                return Err("int8 fully connected needs alpha = beta = 1, A not transposed".into());
            }
            Rule::compute(
                weighted(g, &ins, if gemm.trans_b { 0 } else { 1 })?,
                Output::Calibrated,
            )
        }
        Op::MatMul => {
            let b = ins[1];
            let slots = if is_f32_const(g, b) {
                if g.ty(b).shape.len() != 2 {
                    return Err("constant MatMul operand is not 2-D".into());
                }
                let mut s = weighted(g, &ins, 1)?;
                s.truncate(2);
                s
            } else {
                vec![act_or_const(g, ins[0])?, act_or_const(g, b)?]
            };
            Rule::compute(slots, Output::Calibrated)
        }
        Op::Binary { kind, activation } => {
            clamp_only(*activation)?;
            if !matches!(
                kind,
                BinaryKind::Add | BinaryKind::Sub | BinaryKind::Mul | BinaryKind::SquaredDifference
            ) {
                return Err(format!(
                    "{kind:?} has no int8 kernel with independent operand scales"
                ));
            }
            let slots = vec![act_or_const(g, ins[0])?, act_or_const(g, ins[1])?];
            if slots.iter().all(|s| *s == Slot::ConstAct) {
                return Err("all operands are constant (fold them first)".into());
            }
            Rule::compute(slots, Output::Calibrated)
        }
        Op::PRelu => {
            let mut slots = first_act()?;
            slots.push(act_or_const(g, ins[1])?);
            Rule::compute(slots, Output::Calibrated)
        }
        Op::Activation { act } => {
            let output = match act {
                Activation::Sigmoid => FIXED_256,
                Activation::Tanh => Output::Fixed {
                    scale: 1.0 / 128.0,
                    zero_point: 0,
                },
                Activation::HardSigmoid { .. } => {
                    return Err("hard sigmoid has no int8 kernel".into())
                }
                _ => Output::Calibrated,
            };
            Rule::compute(first_act()?, output)
        }
        Op::Unary { func } => {
            if !nnopt_compiler::interp::has_integer_kernel(&node.op) {
                return Err(format!("{func:?} has no int8 kernel"));
            }
            Rule::compute(first_act()?, Output::Calibrated)
        }
        Op::Softmax { .. } => Rule::compute(first_act()?, FIXED_256),
        Op::Pool { pool, activation } => {
            clamp_only(*activation)?;
            let (Some(window), false) = (pool.window_2d(), pool.ceil_mode) else {
                return Err("int8 pooling is 2-D without dilation or ceil mode".into());
            };
            let mut rule = Rule::compute(first_act()?, Output::SameAsInput);
            if pool.averages_padding() {
                if window.pads != [0; 4] {
                    return Err("int8 average pooling does not count padding".into());
                }
                rule.op = Some(Op::Pool {
                    pool: PoolAttrs {
                        count_include_pad: false,
                        ..pool.clone()
                    },
                    activation: *activation,
                });
            }
            rule.moves_data = pool.kind == PoolKind::Max && activation.is_none();
            rule
        }
        Op::Reduce { kind, .. } => match kind {
            ReduceKind::Mean | ReduceKind::Sum => Rule::compute(first_act()?, Output::Calibrated),
            ReduceKind::Max | ReduceKind::Min => Rule::moving(first_act()?),
            ReduceKind::Prod => return Err("reduce prod has no int8 kernel".into()),
        },
        Op::Concat { .. } => Rule::compute(
            ins.iter()
                .map(|&v| act_or_const(g, v))
                .collect::<Result<_, _>>()?,
            Output::Calibrated,
        ),
        Op::Resize {
            mode,
            coord,
            nearest,
            scales,
            filter,
            ..
        } => {
            let in_shape = &g.ty(ins[0]).shape;
            let nhwc_spatial =
                in_shape.len() == 4 && out_shape[0] == in_shape[0] && out_shape[3] == in_shape[3];
            if !nhwc_spatial || !filter.is_default() || scales.is_some() {
                return Err("int8 resize works on NHWC spatial axes with sizes only".into());
            }
            if !tflite_resize(*mode, *coord, *nearest) {
                return Err(format!(
                    "int8 resize has TFLite's coordinate modes only, not {mode:?}/{coord:?}"
                ));
            }
            let mut rule = Rule::moving(first_act()?);
            rule.moves_data = *mode == ResizeMode::Nearest;
            rule
        }
        Op::Reshape { .. }
        | Op::Transpose { .. }
        | Op::Slice { .. }
        | Op::Split { .. }
        | Op::Pad { .. }
        | Op::DepthToSpace { .. } => Rule::moving(first_act()?),
        Op::Gather { .. } | Op::GatherNd { .. } => {
            let mut slots = first_act()?;
            slots.push(Slot::Keep);
            Rule::moving(slots)
        }
        Op::Input | Op::Const { .. } => return Err("a source".into()),
        other => return Err(format!("'{}' has no int8 kernel", other.detailed_name())),
    })
}
