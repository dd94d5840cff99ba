//! QuantizeLinear and DequantizeLinear of IR quantize and dequantize nodes.

use super::NodeArgs;
use crate::onnx::export::builder::{is_fp8, Builder};
use crate::onnx::export::proto::{attr, Attr};
use nnopt_compiler::{Error, Result};

/// Quantize: the output's QuantizeLinear (a non-saturating FP8 one sets `saturate = 0`).
pub(crate) fn quantize(b: &mut Builder, cx: NodeArgs, saturate: bool) -> Result<()> {
    let NodeArgs { node, ins, .. } = cx;
    let input = b.float_input(ins[0])?;
    let out = &node.outputs[0];
    if out.ty.quant.is_none() {
        return Err(Error::new("quantize output has no quantization parameters"));
    }
    b.finish_output(input, out)?;
    if !saturate && is_fp8(out.ty.dtype) {
        let q = b
            .nodes
            .last_mut()
            .expect("finish_output wrote QuantizeLinear");
        q.attribute.push(attr("saturate", Attr::Int(0)));
    }
    Ok(())
}

/// Dequantize: the input's DequantizeLinear, renamed to the output.
pub(crate) fn dequantize(b: &mut Builder, cx: NodeArgs) -> Result<()> {
    let NodeArgs { node, ins, .. } = cx;
    let input = b.float_input(ins[0])?;
    b.finish_output(input, &node.outputs[0])
}
