//! ONNX op handlers, one file per op family. Each handler returns the IR values bound to
//! the node's outputs, in order.

mod conv;
mod math;
mod quant;
mod reduce;
mod resize;
mod shape;

use super::attrs::NodeCtx;
use super::consts;
use super::Importer;
use nnopt_compiler::ir::{Tensor, ValueRef};
use nnopt_compiler::Result;

/// Imports one node.
pub(super) fn import(imp: &mut Importer, cx: &NodeCtx) -> Result<Vec<ValueRef>> {
    let one = |r: Result<ValueRef>| r.map(|v| vec![v]);
    match cx.op_type() {
        "Conv" => one(conv::conv(imp, cx)),
        "ConvTranspose" => one(conv::conv_transpose(imp, cx)),
        "MaxPool" | "AveragePool" => one(conv::pool(imp, cx)),
        "GlobalAveragePool" | "GlobalMaxPool" => one(reduce::global_pool(imp, cx)),
        "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceSum" => one(reduce::reduce(imp, cx)),
        "Gemm" => one(math::gemm(imp, cx)),
        "MatMul" => one(math::matmul(imp, cx)),
        "Add" | "Sub" | "Mul" | "Div" | "Max" | "Min" | "Sum" => one(math::binary(imp, cx)),
        "Relu" | "LeakyRelu" | "Sigmoid" | "Tanh" | "HardSigmoid" | "HardSwish" => {
            one(math::activation(imp, cx))
        }
        "Clip" => one(math::clip(imp, cx)),
        "PRelu" => one(math::prelu(imp, cx)),
        "Softmax" | "LogSoftmax" => one(math::softmax(imp, cx)),
        "BatchNormalization" => one(math::batch_norm(imp, cx)),
        "Cast" => one(math::cast(imp, cx)),
        "Flatten" => one(shape::flatten(imp, cx)),
        "Reshape" => one(shape::reshape(imp, cx)),
        "Transpose" => one(shape::transpose(imp, cx)),
        "Squeeze" => one(shape::squeeze(imp, cx)),
        "Unsqueeze" => one(shape::unsqueeze(imp, cx)),
        "Concat" => one(shape::concat(imp, cx)),
        "Split" => shape::split(imp, cx),
        "Slice" => one(shape::slice(imp, cx)),
        "Pad" => one(shape::pad(imp, cx)),
        "Gather" => one(shape::gather(imp, cx)),
        "Shape" => one(shape::shape(imp, cx)),
        "Constant" => one(shape::constant(imp, cx)),
        "ConstantOfShape" => one(shape::constant_of_shape(imp, cx)),
        "Identity" => Ok(vec![cx.input(0)?]),
        "Dropout" => shape::dropout(imp, cx),
        "Resize" | "Upsample" => one(resize::resize(imp, cx)),
        "QuantizeLinear" => one(quant::quantize(imp, cx)),
        "DequantizeLinear" => one(quant::dequantize(imp, cx)),
        "QLinearConv" => one(quant::qlinear_conv(imp, cx)),
        "QLinearMatMul" => one(quant::qlinear_matmul(imp, cx)),
        other => Err(cx.err(format!("unsupported op type '{other}'"))),
    }
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
