//! The program's IO bindings: graph inputs and outputs as arena tensors, with the float
//! quantize / dequantize at the boundary absorbed into the binding.

use super::quant::act_quant;
use super::Lowering;
use crate::npu::program::{IoBinding, IoConversion};
use nnopt_compiler::ir::{DType, Op, ValueRef};
use nnopt_compiler::{Error, Result};

impl Lowering<'_> {
    /// Binds graph inputs; a float input consumed only by a per-tensor quantize is
    /// quantized by the NPU itself.
    pub(super) fn bind_inputs(&mut self) -> Result<Vec<IoBinding>> {
        let g = self.g;
        let mut out = Vec::new();
        for &n in g.inputs() {
            let v = ValueRef::first(n);
            let ty = g.ty(v);
            let consumers = g.consumers(v);
            let quantize = match consumers.as_slice() {
                [(c, 0)] if ty.dtype == DType::F32 && !g.outputs().contains(&v) => {
                    match &g.node(*c).op {
                        Op::Quantize { to, rounding, .. }
                            if act_quant(&g.node(*c).outputs[0].ty).is_ok()
                                && g.node(*c).outputs[0].ty.dtype == *to =>
                        {
                            Some((*c, *rounding))
                        }
                        _ => None,
                    }
                }
                _ => None,
            };
            let (tensor, conversion) = match quantize {
                Some((c, rounding)) => {
                    self.absorbed.insert(c);
                    (
                        self.tensor(ValueRef::first(c)),
                        IoConversion::Quantize { rounding },
                    )
                }
                None => (self.tensor(v), IoConversion::None),
            };
            out.push(IoBinding {
                name: g.node(n).name.clone(),
                tensor,
                dtype: ty.dtype,
                shape: ty.shape.clone(),
                conversion,
            });
        }
        Ok(out)
    }

    /// Binds graph outputs; a float output made by a per-tensor dequantize (used nowhere
    /// else) is dequantized by the NPU itself.
    pub(super) fn bind_outputs(&mut self) -> Result<Vec<IoBinding>> {
        let g = self.g;
        let mut out = Vec::new();
        for &v in g.outputs() {
            let node = g.node(v.node);
            let ty = g.ty(v);
            if node.op.is_source() && !matches!(node.op, Op::Input) {
                return Err(Error::at_node(
                    &node.name,
                    "a constant graph output is not supported by the NPU",
                ));
            }
            let dequantized = match node.op {
                Op::Dequantize if ty.dtype == DType::F32 && g.consumers(v).is_empty() => {
                    g.node_inputs(v.node).first().copied().filter(|&u| {
                        g.const_value(u).is_none()
                            && act_quant(g.ty(u)).is_ok()
                            && g.ty(u).dtype != DType::I32
                    })
                }
                _ => None,
            };
            let (tensor, conversion) = match dequantized {
                Some(u) => {
                    self.absorbed.insert(v.node);
                    (self.tensor(u), IoConversion::Dequantize)
                }
                None => (self.tensor(v), IoConversion::None),
            };
            out.push(IoBinding {
                name: g.value(v).name.clone(),
                tensor,
                dtype: ty.dtype,
                shape: ty.shape.clone(),
                conversion,
            });
        }
        Ok(out)
    }
}
