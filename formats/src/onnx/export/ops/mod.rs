//! ONNX node writers, one file per op family. Each writer emits the ONNX nodes of one IR
//! node and returns the name of its float result (writers of several outputs, or of
//! quantized ones, write their outputs themselves and return nothing).

pub(super) mod arg_reduce;
pub(super) mod conv;
pub(super) mod cumulative;
pub(super) mod math;
pub(super) mod quant;
pub(super) mod recurrent;
pub(super) mod reduce;
pub(super) mod resize;
pub(super) mod shape;
pub(super) mod unary;

use nnopt_compiler::ir::{Node, ValueRef};

/// The IR node being written: the node, its inputs, and their names as float values
/// (empty for quantize and dequantize, which read their input themselves).
pub(super) struct NodeArgs<'g> {
    pub node: &'g Node,
    pub name: &'g str,
    pub ins: Vec<ValueRef>,
    pub x: Vec<String>,
}
