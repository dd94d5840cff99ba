//! Per-operator import: one function per TFLite operator family.

mod arg_reduce;
mod batch_matmul;
mod conv;
mod cumulative;
mod elementwise;
mod gather_nd;
mod pool;
mod recurrent;
mod shape;
mod svdf;

use super::builder::Builder;
use super::fb;
use super::model::OpKind;
use nnopt_compiler::Result;

/// Operand lists of one TFLite operator (`-1` marks an omitted optional input).
pub struct Io {
    pub ins: Vec<i32>,
    pub outs: Vec<i32>,
}

impl Io {
    /// Required input `k`.
    pub fn input(&self, b: &Builder<'_, '_>, k: usize) -> Result<i32> {
        self.opt(k)
            .ok_or_else(|| b.err(format!("missing input {k}")))
    }

    /// Optional input `k`.
    pub fn opt(&self, k: usize) -> Option<i32> {
        self.ins.get(k).copied().filter(|&i| i >= 0)
    }

    /// Required output `k`.
    pub fn output(&self, b: &Builder<'_, '_>, k: usize) -> Result<i32> {
        self.outs
            .get(k)
            .copied()
            .filter(|&i| i >= 0)
            .ok_or_else(|| b.err(format!("missing output {k}")))
    }
}

use fb::BuiltinOperator as B;

/// An operator handler.
type Handler = fn(&mut Builder<'_, '_>, B, &fb::Operator<'_>, &Io) -> Result<()>;

/// The custom operator Vela puts in place of what it compiled for an Ethos-U NPU.
const VELA_OP: &str = "ethos-u";

/// MediaPipe's custom transposed convolution with bias, the one custom op read.
const TRANSPOSE_CONV_BIAS: &str = "Convolution2DTransposeBias";

/// The builtin operators the importer reads, with their handlers.
const HANDLERS: &[(&[B], Handler)] = &[
    (&[B::CONV_2D], |b, _, op, io| conv::conv2d(b, op, io)),
    (&[B::DEPTHWISE_CONV_2D], |b, _, op, io| {
        conv::depthwise(b, op, io)
    }),
    (&[B::TRANSPOSE_CONV], |b, _, op, io| {
        conv::transpose_conv(b, op, io)
    }),
    (&[B::FULLY_CONNECTED], |b, _, op, io| {
        conv::fully_connected(b, op, io)
    }),
    (
        &[
            B::ADD,
            B::SUB,
            B::MUL,
            B::DIV,
            B::MAXIMUM,
            B::MINIMUM,
            B::SQUARED_DIFFERENCE,
        ],
        elementwise::binary,
    ),
    (&[B::GELU, B::RSQRT, B::EXP], elementwise::unary),
    (&[B::BATCH_MATMUL], |b, _, op, io| {
        batch_matmul::batch_matmul(b, op, io)
    }),
    (&[B::PRELU], |b, _, _, io| elementwise::prelu(b, io)),
    (&[B::SVDF], |b, _, op, io| svdf::svdf(b, op, io)),
    (&[B::UNIDIRECTIONAL_SEQUENCE_LSTM], |b, _, op, io| {
        recurrent::lstm(b, op, io)
    }),
    (
        &[
            B::LOGISTIC,
            B::TANH,
            B::RELU,
            B::RELU6,
            B::RELU_N1_TO_1,
            B::HARD_SWISH,
            B::LEAKY_RELU,
        ],
        elementwise::activation,
    ),
    (&[B::SOFTMAX], |b, _, op, io| {
        elementwise::softmax(b, op, io)
    }),
    (&[B::QUANTIZE], |b, _, _, io| elementwise::quantize(b, io)),
    (&[B::DEQUANTIZE], |b, _, _, io| {
        elementwise::dequantize(b, io)
    }),
    (&[B::CAST], |b, _, _, io| elementwise::cast(b, io)),
    (&[B::DENSIFY], |b, _, _, io| elementwise::densify(b, io)),
    (&[B::AVERAGE_POOL_2D, B::MAX_POOL_2D], pool::pool2d),
    (
        &[B::MEAN, B::SUM, B::REDUCE_MAX, B::REDUCE_MIN],
        pool::reduce,
    ),
    (&[B::RESHAPE, B::SQUEEZE, B::EXPAND_DIMS], |b, _, _, io| {
        shape::reshape(b, io)
    }),
    (&[B::CONCATENATION], |b, _, op, io| shape::concat(b, op, io)),
    (&[B::PAD, B::PADV2], |b, _, _, io| shape::pad(b, io)),
    (&[B::STRIDED_SLICE], |b, _, op, io| {
        shape::strided_slice(b, op, io)
    }),
    (&[B::SLICE], |b, _, _, io| shape::slice(b, io)),
    (&[B::SHAPE], |b, _, _, io| shape::shape(b, io)),
    (&[B::PACK], |b, _, op, io| shape::pack(b, op, io)),
    (&[B::TRANSPOSE], |b, _, _, io| shape::transpose(b, io)),
    (&[B::GATHER_ND], |b, _, _, io| gather_nd::gather_nd(b, io)),
    (&[B::ARG_MAX, B::ARG_MIN], |b, code, _, io| {
        arg_reduce::arg_reduce(b, code, io)
    }),
    (&[B::CUMSUM], |b, _, op, io| cumulative::cumsum(b, op, io)),
    (&[B::DEPTH_TO_SPACE], |b, _, op, io| {
        shape::depth_to_space(b, op, io)
    }),
    (
        &[B::RESIZE_BILINEAR, B::RESIZE_NEAREST_NEIGHBOR],
        shape::resize,
    ),
];

/// The constant axis in input 1 of an operator on tensor `xi`, normalized against its
/// rank.
fn const_axis(b: &Builder<'_, '_>, io: &Io, xi: i32) -> Result<usize> {
    let rank = b.ty(xi)?.shape.len() as i64;
    let axes = b.const_ints(io.input(b, 1)?, "axis")?;
    let [a] = axes[..] else {
        return Err(b.err(format!("the axis must be one value, got {axes:?}")));
    };
    let axis = if a < 0 { a + rank } else { a };
    if !(0..rank).contains(&axis) {
        return Err(b.err(format!("axis {a} out of range for rank {rank}")));
    }
    Ok(axis as usize)
}

/// The operators the importer reads, sorted: builtin names, then the custom one.
pub fn supported_ops() -> Vec<String> {
    let mut ops: Vec<String> = HANDLERS
        .iter()
        .flat_map(|(codes, _)| codes.iter())
        .map(|c| c.variant_name().unwrap_or("?").to_string())
        .collect();
    ops.sort_unstable();
    ops.push(format!("{TRANSPOSE_CONV_BIAS} (custom)"));
    ops
}

/// Imports operator number `index` into the graph.
pub fn import_op(b: &mut Builder<'_, '_>, index: usize, op: &fb::Operator<'_>) -> Result<()> {
    let io = Io {
        ins: op.inputs().map_or_else(Vec::new, |v| v.iter().collect()),
        outs: op.outputs().map_or_else(Vec::new, |v| v.iter().collect()),
    };
    b.node = match io.outs.first() {
        Some(&o) if o >= 0 => b.tensor_name(o)?,
        _ => format!("operator_{index}"),
    };
    let kind = b.file.op_kind(op).map_err(|e| e.in_node(&b.node))?;
    let r = match &kind {
        OpKind::Builtin(code) => match HANDLERS.iter().find(|(codes, _)| codes.contains(code)) {
            Some((_, handler)) => handler(b, *code, op, &io),
            None => Err(b.err(format!(
                "unsupported operator {} (operator #{index}; `nnopt ops` lists the supported \
                 ones)",
                kind.name()
            ))),
        },
        OpKind::Custom(c) if c == TRANSPOSE_CONV_BIAS => conv::transpose_conv_bias(b, op, &io),
        OpKind::Custom(c) if c == VELA_OP => Err(b.err(format!(
            "operator #{index} is Vela's '{VELA_OP}' custom operator: this model was already \
             compiled by Vela for an Ethos-U NPU; give nnopt the model before Vela"
        ))),
        OpKind::Custom(c) => Err(b.err(format!(
            "unsupported custom op '{c}' (operator #{index}; `nnopt ops` lists the supported \
             ones)"
        ))),
    };
    r.map_err(|e| e.in_node(&b.node))
}
