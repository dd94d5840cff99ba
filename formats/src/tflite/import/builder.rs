//! Graph construction state: TFLite tensor indices to IR values, typed node creation
//! with shape checking, and constant folding of nodes whose inputs are all constant.

use super::fb;
use super::model::ModelFile;
use super::tensors;
use nnopt_compiler::interp::{eval_op, Operand};
use nnopt_compiler::ir::infer::infer_types;
use nnopt_compiler::ir::{Activation, Graph, Op, Tensor, TensorType, ValueRef};
use nnopt_compiler::{bail, Error, Result};
use std::collections::HashMap;

/// Builds the IR graph of one TFLite subgraph.
pub struct Builder<'f, 'a> {
    pub file: &'f ModelFile<'a>,
    pub g: Graph,
    values: HashMap<i32, ValueRef>,
    /// Name of the node being imported (for errors and generated node names).
    pub node: String,
}

impl<'f, 'a> Builder<'f, 'a> {
    /// An empty graph named `name` over `file`.
    pub fn new(file: &'f ModelFile<'a>, name: &str) -> Self {
        Builder {
            file,
            g: Graph::new(name),
            values: HashMap::new(),
            node: String::new(),
        }
    }

    /// The IR type of TFLite tensor `i`.
    pub fn ty(&self, i: i32) -> Result<TensorType> {
        tensors::tensor_type(&self.file.tensor(i)?)
    }

    /// Name of TFLite tensor `i` (or `tensor_<i>`).
    pub fn tensor_name(&self, i: i32) -> Result<String> {
        let t = self.file.tensor(i)?;
        Ok(t.name()
            .filter(|n| !n.is_empty())
            .map_or_else(|| format!("tensor_{i}"), str::to_string))
    }

    /// Whether TFLite tensor `i` is stored as float16.
    pub fn is_f16(&self, i: i32) -> Result<bool> {
        Ok(self.file.tensor(i)?.type_() == fb::TensorType::FLOAT16)
    }

    /// Constant data of TFLite tensor `i`, if it is a constant in the file or has been
    /// folded to one.
    pub fn const_data(&self, i: i32) -> Result<Option<Tensor>> {
        if let Some(v) = self.values.get(&i) {
            return Ok(self.g.const_value(*v).cloned());
        }
        tensors::const_data(self.file, &self.file.tensor(i)?)
    }

    /// Constant integer values of tensor `i` (shapes, axes, paddings), required.
    pub fn const_ints(&self, i: i32, what: &str) -> Result<Vec<i64>> {
        let t = self
            .const_data(i)?
            .ok_or_else(|| self.err(format!("the {what} must be a constant")))?;
        t.to_i64_vec()
            .ok_or_else(|| self.err(format!("the {what} must be integers, got {}", t.dtype())))
    }

    /// Registers the graph inputs.
    pub fn add_inputs(&mut self) -> Result<()> {
        let inputs: Vec<i32> = self
            .file
            .graph
            .inputs()
            .map_or_else(Vec::new, |v| v.iter().collect());
        for i in inputs {
            if self.is_f16(i)? {
                bail!("float16 graph inputs are not supported");
            }
            let ty = self.ty(i)?;
            let name = self.g.fresh_name(&self.tensor_name(i)?);
            let v = self.g.add_input(name, ty);
            self.values.insert(i, v);
        }
        Ok(())
    }

    /// The value of TFLite tensor `i`: already produced, or a constant from the file.
    pub fn value(&mut self, i: i32) -> Result<ValueRef> {
        if let Some(v) = self.values.get(&i) {
            return Ok(*v);
        }
        let t = self.file.tensor(i)?;
        if t.type_() == fb::TensorType::FLOAT16 {
            return Err(self.err(format!(
                "float16 tensor '{}' is only supported as a DEQUANTIZE input",
                self.tensor_name(i)?
            )));
        }
        let Some(data) = tensors::const_data(self.file, &t)? else {
            return Err(self.err(format!(
                "tensor '{}' is used before any operator produces it",
                self.tensor_name(i)?
            )));
        };
        let ty = self.ty(i)?;
        let name = self.g.fresh_name(&self.tensor_name(i)?);
        let v = self.g.add_const(name, data, ty.quant);
        self.values.insert(i, v);
        Ok(v)
    }

    /// Makes `v` the value of TFLite tensor `i`.
    pub fn bind(&mut self, i: i32, v: ValueRef) -> Result<()> {
        if self.values.insert(i, v).is_some() {
            return Err(self.err(format!(
                "tensor '{}' is produced twice",
                self.tensor_name(i)?
            )));
        }
        Ok(())
    }

    /// An error about the node being imported.
    pub fn err(&self, msg: impl Into<String>) -> Error {
        Error::at_node(&self.node, msg)
    }

    /// Adds a single-output node; its shape and dtype must match inference. When every
    /// input is a constant the node is evaluated now and replaced by a constant.
    pub fn add(&mut self, op: Op, inputs: &[ValueRef], ty: TensorType) -> Result<ValueRef> {
        let in_tys: Vec<&TensorType> = inputs.iter().map(|&v| self.g.ty(v)).collect();
        let inferred = infer_types(&op, &in_tys).map_err(|e| e.in_node(&self.node))?;
        let Some(first) = inferred.first() else {
            bail!("op produced no output type")
        };
        let dtype_ok = first.dtype == ty.dtype || op.declares_output_dtype();
        if first.shape != ty.shape || !dtype_ok {
            return Err(self.err(format!(
                "{} produces {first}, but the model declares {ty}",
                op.name()
            )));
        }
        let name = self.g.fresh_name(&self.node);
        let consts: Option<Vec<&Tensor>> = inputs.iter().map(|&v| self.g.const_value(v)).collect();
        if let Some(consts) = consts.filter(|c| !c.is_empty()) {
            let operands: Vec<Operand<'_>> = consts
                .iter()
                .zip(&in_tys)
                .map(|(d, t)| Operand { data: d, ty: t })
                .collect();
            let out = eval_op(&op, &operands, std::slice::from_ref(&ty))
                .map_err(|e| e.in_node(&self.node))?
                .into_iter()
                .next()
                .ok_or_else(|| self.err("constant folding produced no value"))?;
            return Ok(self.g.add_const(name, out, ty.quant));
        }
        Ok(self.g.add_op(name, op, inputs, ty))
    }

    /// Adds a node producing TFLite tensor `out`, typed as declared in the file.
    pub fn emit(&mut self, op: Op, inputs: &[ValueRef], out: i32) -> Result<ValueRef> {
        if self.is_f16(out)? {
            return Err(self.err("float16 activations are not supported"));
        }
        let ty = self.ty(out)?;
        let v = self.add(op, inputs, ty)?;
        self.bind(out, v)?;
        Ok(v)
    }

    /// Applies a fused activation that the IR op cannot carry as a separate node.
    pub fn activation_after(&mut self, v: ValueRef, act: Option<Activation>) -> Result<ValueRef> {
        match act {
            None => Ok(v),
            Some(act) => {
                let ty = self.g.ty(v).clone();
                self.add(Op::Activation { act }, &[v], ty)
            }
        }
    }

    /// Finishes the graph: outputs, dead-node removal, compaction.
    pub fn finish(mut self) -> Result<Graph> {
        let outs: Vec<i32> = self
            .file
            .graph
            .outputs()
            .map_or_else(Vec::new, |v| v.iter().collect());
        let mut outputs = Vec::with_capacity(outs.len());
        for i in outs {
            let v = match self.values.get(&i) {
                Some(v) => *v,
                None => self.value(i)?,
            };
            outputs.push(v);
        }
        self.g.set_outputs(outputs);
        loop {
            let dead: Vec<_> = self
                .g
                .node_indices()
                .into_iter()
                .filter(|&n| {
                    let node = self.g.node(n);
                    !matches!(node.op, Op::Input)
                        && (0..node.outputs.len())
                            .all(|k| self.g.use_count(ValueRef { node: n, output: k }) == 0)
                })
                .collect();
            if dead.is_empty() {
                break;
            }
            for n in dead {
                self.g.remove_node(n);
            }
        }
        Ok(self.g.compacted())
    }
}

/// The IR activation of a TFLite fused activation function.
pub fn fused(a: fb::ActivationFunctionType) -> Result<Option<Activation>> {
    Ok(match a {
        fb::ActivationFunctionType::NONE => None,
        fb::ActivationFunctionType::RELU => Some(Activation::Relu),
        fb::ActivationFunctionType::RELU6 => Some(Activation::Relu6),
        fb::ActivationFunctionType::RELU_N1_TO_1 => Some(Activation::ReluN1To1),
        fb::ActivationFunctionType::TANH => Some(Activation::Tanh),
        other => bail!(
            "fused activation {} is not supported",
            other.variant_name().unwrap_or("unknown")
        ),
    })
}

/// TFLite's padding for one spatial axis: `(before, after)`.
pub fn padding(
    p: fb::Padding,
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> Result<(usize, usize)> {
    if stride == 0 || dilation == 0 || kernel == 0 {
        bail!("stride, dilation and kernel size must be positive");
    }
    match p {
        fb::Padding::VALID => Ok((0, 0)),
        fb::Padding::SAME => {
            let out = input.div_ceil(stride);
            let eff = (kernel - 1) * dilation + 1;
            let total = ((out.max(1) - 1) * stride + eff).saturating_sub(input);
            Ok((total / 2, total - total / 2))
        }
        other => bail!(
            "padding {} is not supported",
            other.variant_name().unwrap_or("unknown")
        ),
    }
}
