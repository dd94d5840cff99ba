//! ONNX op handlers, one file per op family. Each handler returns the IR values bound to
//! the node's outputs, in order.

mod arg_reduce;
mod attention;
mod broadcast;
mod causal_conv;
mod control;
mod conv;
mod conv3d;
mod cumulative;
mod flex_attention;
mod gather_nd;
mod generate;
mod indexing;
mod linear_attention;
mod logic;
mod loss;
mod math;
mod norm;
mod quant;
mod recurrent;
mod reduce;
mod resize;
mod rotary;
mod select;
mod shape;
mod signal;
mod space;
mod steps;
mod unary;

use super::attrs::NodeCtx;
use super::consts;
use super::Importer;
use nnopt_compiler::ir::{Tensor, ValueRef};
use nnopt_compiler::Result;

/// An op handler: the IR values bound to the node's outputs.
type Handler = fn(&mut Importer, &NodeCtx) -> Result<Vec<ValueRef>>;

/// One output.
fn one(r: Result<ValueRef>) -> Result<Vec<ValueRef>> {
    r.map(|v| vec![v])
}

/// The ONNX op types the importer reads, with their handlers; ops of other domains than
/// the default one are named `domain::op`.
const HANDLERS: &[(&[&str], Handler)] = &[
    (&["Conv"], |i, c| one(conv::conv(i, c))),
    (&["ConvTranspose"], |i, c| one(conv::conv_transpose(i, c))),
    (
        &["CausalConvWithState"],
        causal_conv::causal_conv_with_state,
    ),
    (&["MaxPool", "AveragePool"], |i, c| one(conv::pool(i, c))),
    (&["LpPool"], |i, c| one(conv::lp_pool(i, c))),
    (&["GlobalAveragePool", "GlobalMaxPool"], |i, c| {
        one(reduce::global_pool(i, c))
    }),
    (
        &[
            "ReduceMean",
            "ReduceMax",
            "ReduceMin",
            "ReduceSum",
            "ReduceProd",
            "ReduceL1",
            "ReduceL2",
            "ReduceSumSquare",
            "ReduceLogSum",
            "ReduceLogSumExp",
        ],
        |i, c| one(reduce::reduce(i, c)),
    ),
    (&["Gemm"], |i, c| one(math::gemm(i, c))),
    (&["MatMul"], |i, c| one(math::matmul(i, c))),
    (&["Det"], |i, c| one(math::det(i, c))),
    (
        &[
            "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Pow", "Mod",
        ],
        |i, c| one(math::binary(i, c)),
    ),
    (unary::OPS, |i, c| one(unary::unary(i, c))),
    (
        &["Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"],
        |i, c| one(logic::compare(i, c)),
    ),
    (
        &[
            "And",
            "Or",
            "Xor",
            "BitwiseAnd",
            "BitwiseOr",
            "BitwiseXor",
            "BitShift",
        ],
        |i, c| one(logic::bitwise(i, c)),
    ),
    (&["Where"], |i, c| one(logic::select(i, c))),
    (&["Attention"], attention::attention),
    (&["ai.onnx.preview::FlexAttention"], |i, c| {
        one(flex_attention::flex_attention(i, c))
    }),
    (&["LinearAttention"], linear_attention::linear_attention),
    (&["RotaryEmbedding"], |i, c| {
        one(rotary::rotary_embedding(i, c))
    }),
    (&["SwiGLU"], |i, c| one(math::swiglu(i, c))),
    (&["TensorScatter"], |i, c| {
        one(indexing::tensor_scatter(i, c))
    }),
    (&["AffineGrid"], |i, c| one(generate::affine_grid(i, c))),
    (&["Trilu"], |i, c| one(select::trilu(i, c))),
    (&["Einsum"], |i, c| one(math::einsum(i, c))),
    (&["DepthToSpace"], |i, c| one(space::depth_to_space(i, c))),
    (&["SpaceToDepth"], |i, c| one(space::space_to_depth(i, c))),
    (&["CenterCropPad"], |i, c| one(space::center_crop_pad(i, c))),
    (&["Col2Im"], |i, c| one(space::col2im(i, c))),
    (&["ScatterND"], |i, c| one(indexing::scatter_nd(i, c))),
    (&["TopK"], indexing::top_k),
    (&["MaxUnpool"], |i, c| one(indexing::max_unpool(i, c))),
    (&["OneHot"], |i, c| one(select::one_hot(i, c))),
    (&["Hardmax"], |i, c| one(select::hardmax(i, c))),
    (&["Compress"], |i, c| one(select::compress(i, c))),
    (&["GatherElements"], |i, c| {
        one(indexing::gather_elements(i, c))
    }),
    (&["NegativeLogLikelihoodLoss"], |i, c| one(loss::nll(i, c))),
    (&["SoftmaxCrossEntropyLoss"], loss::softmax_cross_entropy),
    (&["ScatterElements", "Scatter"], |i, c| {
        one(indexing::scatter_elements(i, c))
    }),
    (
        &["LayerNormalization", "RMSNormalization"],
        norm::layer_norm,
    ),
    (&["LRN"], |i, c| one(norm::lrn(i, c))),
    (&["InstanceNormalization"], |i, c| {
        one(norm::instance_norm(i, c))
    }),
    (&["GroupNormalization"], |i, c| one(norm::group_norm(i, c))),
    (&["LpNormalization"], |i, c| one(norm::lp_norm(i, c))),
    (&["MeanVarianceNormalization"], |i, c| {
        one(norm::mean_variance_norm(i, c))
    }),
    (&["Expand"], |i, c| one(broadcast::expand(i, c))),
    (&["Tile"], |i, c| one(broadcast::tile(i, c))),
    (&["Range"], |i, c| one(generate::range(i, c))),
    (&["Size"], |i, c| one(generate::size(i, c))),
    (&["EyeLike"], |i, c| one(generate::eye_like(i, c))),
    (&["NonZero"], |i, c| one(generate::non_zero(i, c))),
    (
        &[
            "Relu",
            "LeakyRelu",
            "Sigmoid",
            "Tanh",
            "HardSigmoid",
            "HardSwish",
        ],
        |i, c| one(math::activation(i, c)),
    ),
    (&["Clip"], |i, c| one(math::clip(i, c))),
    (&["PRelu"], |i, c| one(math::prelu(i, c))),
    (&["Softmax", "LogSoftmax"], |i, c| one(math::softmax(i, c))),
    (&["BatchNormalization"], |i, c| one(math::batch_norm(i, c))),
    (&["Cast", "CastLike"], |i, c| one(math::cast(i, c))),
    (&["BitCast"], |i, c| one(math::bit_cast(i, c))),
    (&["Scan"], control::scan),
    (&["If"], control::if_),
    (&["Flatten"], |i, c| one(shape::flatten(i, c))),
    (&["Reshape"], |i, c| one(shape::reshape(i, c))),
    (&["Transpose"], |i, c| one(shape::transpose(i, c))),
    (&["Squeeze"], |i, c| one(shape::squeeze(i, c))),
    (&["Unsqueeze"], |i, c| one(shape::unsqueeze(i, c))),
    (&["Concat"], |i, c| one(shape::concat(i, c))),
    (&["Split"], shape::split),
    (&["Slice"], |i, c| one(shape::slice(i, c))),
    (&["Pad"], |i, c| one(shape::pad(i, c))),
    (&["Gather"], |i, c| one(shape::gather(i, c))),
    (&["GatherND"], |i, c| one(gather_nd::gather_nd(i, c))),
    (&["ArgMax", "ArgMin"], |i, c| {
        one(arg_reduce::arg_reduce(i, c))
    }),
    (&["CumSum", "CumProd"], |i, c| {
        one(cumulative::cumulative(i, c))
    }),
    (&["Shape"], |i, c| one(shape::shape(i, c))),
    (&["Constant"], |i, c| one(shape::constant(i, c))),
    (&["ConstantOfShape"], |i, c| {
        one(shape::constant_of_shape(i, c))
    }),
    (&["Identity"], |_, c| Ok(vec![c.input(0)?])),
    (&["Dropout"], shape::dropout),
    (&["Resize", "Upsample"], |i, c| one(resize::resize(i, c))),
    (&["GridSample"], |i, c| one(resize::grid_sample(i, c))),
    (&["RoiAlign"], |i, c| one(resize::roi_align(i, c))),
    (&["DeformConv"], |i, c| one(conv::deform_conv(i, c))),
    (&["QuantizeLinear"], |i, c| one(quant::quantize(i, c))),
    (&["DynamicQuantizeLinear"], quant::dynamic_quantize),
    (&["DequantizeLinear"], |i, c| one(quant::dequantize(i, c))),
    (&["QLinearConv"], |i, c| one(quant::qlinear_conv(i, c))),
    (&["QLinearMatMul"], |i, c| one(quant::qlinear_matmul(i, c))),
    (&["RNN", "GRU", "LSTM"], recurrent::recurrent),
    (
        &["HannWindow", "HammingWindow", "BlackmanWindow"],
        |i, c| one(signal::window(i, c)),
    ),
    (&["MelWeightMatrix"], |i, c| {
        one(signal::mel_weight_matrix(i, c))
    }),
    (&["DFT"], |i, c| one(signal::dft(i, c))),
    (&["STFT"], |i, c| one(signal::stft(i, c))),
];

/// The op types the importer reads, sorted.
pub fn supported_ops() -> Vec<&'static str> {
    let mut ops: Vec<&str> = HANDLERS
        .iter()
        .flat_map(|(names, _)| names.iter().copied())
        .collect();
    ops.sort_unstable();
    ops
}

/// Imports one node.
pub(super) fn import(imp: &mut Importer, cx: &NodeCtx) -> Result<Vec<ValueRef>> {
    let (op, domain) = (cx.op_type(), cx.node.domain.as_str());
    let default = domain.is_empty() || domain == "ai.onnx";
    let key = match default {
        true => op.to_string(),
        false => format!("{domain}::{op}"),
    };
    match HANDLERS
        .iter()
        .find(|(names, _)| names.contains(&key.as_str()))
    {
        Some((_, handler)) => handler(imp, cx),
        None if !default && !HANDLERS.iter().any(|(names, _)| in_domain(names, domain)) => {
            Err(cx.err(format!("operator domain '{domain}' is not supported")))
        }
        None => Err(cx.err(format!(
            "unsupported op type '{key}' (`nnopt ops` lists the supported ones)"
        ))),
    }
}

/// Whether any of `names` is in `domain` (named `domain::op`).
fn in_domain(names: &[&str], domain: &str) -> bool {
    names
        .iter()
        .any(|n| n.split_once("::").is_some_and(|(d, _)| d == domain))
}

/// The constant data of input `i`, which must be a constant after folding.
fn const_input<'a>(imp: &'a Importer, cx: &NodeCtx, i: usize, what: &str) -> Result<&'a Tensor> {
    imp.const_value(cx.input(i)?)
        .ok_or_else(|| cx.err(format!("input {i} ({what}) must be a constant")))
}

/// Integer values of constant input `i` (shapes, axes, pads), if the input is present.
fn opt_const_ints(imp: &Importer, cx: &NodeCtx, i: usize, what: &str) -> Result<Option<Vec<i64>>> {
    if cx.opt_input(i).is_none() {
        return Ok(None);
    }
    const_input(imp, cx, i, what)?
        .to_i64_vec()
        .map(Some)
        .ok_or_else(|| cx.err(format!("input {i} ({what}) must hold integers")))
}

/// Float values of constant input `i`, if present.
fn opt_const_floats(
    imp: &Importer,
    cx: &NodeCtx,
    i: usize,
    what: &str,
) -> Result<Option<Vec<f64>>> {
    if cx.opt_input(i).is_none() {
        return Ok(None);
    }
    Ok(Some(const_input(imp, cx, i, what)?.to_f64_vec()))
}

/// The IR dtype for an ONNX element type attribute.
fn dtype_attr(cx: &NodeCtx, code: i64) -> Result<nnopt_compiler::ir::DType> {
    consts::dtype_of(code as i32).map_err(|e| cx.err(e))
}
