//! Per-operator import: one function per TFLite operator family.

mod conv;
mod elementwise;
mod pool;
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
    use fb::BuiltinOperator as B;
    let r = match &kind {
        OpKind::Builtin(code) => match *code {
            B::CONV_2D => conv::conv2d(b, op, &io),
            B::DEPTHWISE_CONV_2D => conv::depthwise(b, op, &io),
            B::TRANSPOSE_CONV => conv::transpose_conv(b, op, &io),
            B::FULLY_CONNECTED => conv::fully_connected(b, op, &io),
            B::ADD | B::SUB | B::MUL | B::DIV | B::MAXIMUM | B::MINIMUM => {
                elementwise::binary(b, *code, op, &io)
            }
            B::PRELU => elementwise::prelu(b, &io),
            B::SVDF => svdf::svdf(b, op, &io),
            B::LOGISTIC
            | B::TANH
            | B::RELU
            | B::RELU6
            | B::RELU_N1_TO_1
            | B::HARD_SWISH
            | B::LEAKY_RELU => elementwise::activation(b, *code, op, &io),
            B::SOFTMAX => elementwise::softmax(b, op, &io),
            B::QUANTIZE => elementwise::quantize(b, &io),
            B::DEQUANTIZE => elementwise::dequantize(b, &io),
            B::CAST => elementwise::cast(b, &io),
            B::AVERAGE_POOL_2D | B::MAX_POOL_2D => pool::pool2d(b, *code, op, &io),
            B::MEAN | B::SUM | B::REDUCE_MAX | B::REDUCE_MIN => pool::reduce(b, *code, op, &io),
            B::RESHAPE | B::SQUEEZE | B::EXPAND_DIMS => shape::reshape(b, &io),
            B::CONCATENATION => shape::concat(b, op, &io),
            B::PAD | B::PADV2 => shape::pad(b, &io),
            B::STRIDED_SLICE => shape::strided_slice(b, op, &io),
            B::SLICE => shape::slice(b, &io),
            B::SHAPE => shape::shape(b, &io),
            B::PACK => shape::pack(b, op, &io),
            B::TRANSPOSE => shape::transpose(b, &io),
            B::DEPTH_TO_SPACE => shape::depth_to_space(b, op, &io),
            B::RESIZE_BILINEAR | B::RESIZE_NEAREST_NEIGHBOR => shape::resize(b, *code, op, &io),
            _ => Err(b.err(format!(
                "unsupported operator {} (operator #{index})",
                kind.name()
            ))),
        },
        OpKind::Custom(c) if c == "Convolution2DTransposeBias" => {
            conv::transpose_conv_bias(b, op, &io)
        }
        OpKind::Custom(c) => Err(b.err(format!("unsupported custom op '{c}' (operator #{index})"))),
    };
    r.map_err(|e| e.in_node(&b.node))
}
