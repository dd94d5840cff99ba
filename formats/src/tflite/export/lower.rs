//! IR graph to [`ModelDef`]: walks the graph in topological order, tracks which TFLite
//! tensor holds each IR value (and whether it is an NCHW value stored NHWC, see the module
//! docs), and dispatches each op to its writer.

use super::layout::{expand_to_rank4, permute, permute_quant, permute_tensor, TO_NCHW, TO_NHWC};
use super::model::{EmptyOptions, ModelDef, Options};
use super::ops;
use crate::tflite::schema as fb;
use nnopt_compiler::ir::{Activation, DType, Graph, NodeIndex, Op, Tensor, TensorType, ValueRef};
use nnopt_compiler::{Error, Result};
use std::collections::{HashMap, HashSet};

/// Where an IR value lives in the TFLite model.
#[derive(Clone, Copy, Debug)]
pub struct Stored {
    pub tensor: i32,
    /// The value is a 4-D NCHW value held transposed to NHWC.
    pub nhwc: bool,
}

/// Lowering state.
pub struct Lowerer<'g> {
    pub g: &'g Graph,
    pub m: ModelDef,
    values: HashMap<ValueRef, Stored>,
    /// Transposed copies of values, made at most once each.
    as_nhwc: HashMap<ValueRef, i32>,
    as_nchw: HashMap<ValueRef, i32>,
    names: HashSet<String>,
    /// Name of the node being lowered (for errors and generated tensor names).
    pub node: String,
}

/// Lowers the whole graph.
pub fn lower(g: &Graph) -> Result<ModelDef> {
    let mut l = Lowerer {
        g,
        m: ModelDef::default(),
        values: HashMap::new(),
        as_nhwc: HashMap::new(),
        as_nchw: HashMap::new(),
        names: HashSet::new(),
        node: String::new(),
    };
    let order = g
        .topo_order()
        .map_err(|n| Error::at_node(&g.node(n).name, "graph has a cycle"))?;
    for &n in g.inputs() {
        let v = ValueRef::first(n);
        let value = g.value(v);
        check_dtype(&value.ty).map_err(|e| e.in_node(&value.name))?;
        let t = l.new_tensor(&value.name, value.ty.clone(), None);
        l.values.insert(
            v,
            Stored {
                tensor: t,
                nhwc: false,
            },
        );
        l.m.inputs.push(t);
    }
    for n in order {
        let node = g.node(n);
        if node.op.is_source() {
            continue;
        }
        l.node = node.name.clone();
        lower_node(&mut l, n).map_err(|e| e.in_node(&node.name))?;
    }
    l.node = String::from("graph outputs");
    for &v in g.outputs() {
        let t = l.logical(v)?;
        l.m.outputs.push(t);
    }
    Ok(l.m)
}

fn lower_node(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    for v in &l.g.node(n).outputs {
        check_dtype(&v.ty)?;
    }
    match &l.g.node(n).op {
        Op::Conv(a) => ops::conv::conv(l, n, a),
        Op::Gemm(_) => ops::conv::fully_connected(l, n),
        Op::Pool { .. } => ops::pool::pool(l, n),
        Op::MatMul => ops::elementwise::batch_matmul(l, n),
        Op::Binary { .. } | Op::PRelu => ops::elementwise::binary(l, n),
        Op::Activation { act } => ops::elementwise::activation(l, n, *act),
        Op::Unary { func } => ops::elementwise::unary_func(l, n, *func),
        Op::Softmax { .. } | Op::LogSoftmax { .. } => ops::elementwise::softmax(l, n),
        Op::Quantize { .. } | Op::Dequantize | Op::Cast { .. } => ops::elementwise::convert(l, n),
        Op::Identity => {
            let x = l.g.node_inputs(n)[0];
            let s = l.stored(x)?;
            l.values.insert(ValueRef::first(n), s);
            Ok(())
        }
        Op::Reduce { .. } => ops::shape::reduce(l, n),
        Op::Reshape { .. } => ops::shape::reshape(l, n),
        Op::Transpose { perm } => ops::shape::transpose(l, n, perm),
        Op::Concat { axis } => ops::shape::concat(l, n, *axis),
        Op::Split { .. } => ops::shape::split(l, n),
        Op::Slice { .. } => ops::shape::slice(l, n),
        Op::Pad { .. } => ops::shape::pad(l, n),
        Op::Gather { axis } => ops::shape::gather(l, n, *axis),
        Op::GatherNd { .. } => ops::gather_nd::gather_nd(l, n),
        Op::ArgReduce { .. } => ops::arg_reduce::arg_reduce(l, n),
        Op::Cumulative { .. } => ops::cumulative::cumulative(l, n),
        Op::Resize { .. } => ops::shape::resize(l, n),
        Op::DepthToSpace { .. } => ops::shape::depth_to_space(l, n),
        Op::BatchNorm { .. } => Err(l.err(
            "BatchNorm has no TFLite operator; fold it into the preceding conv first (nnopt opt)",
        )),
        other => Err(l.err(format!("op '{}' has no TFLite export", other.name()))),
    }
}

/// Rejects element types TFLite cannot hold.
fn check_dtype(ty: &TensorType) -> Result<()> {
    match ty.dtype {
        d if matches!(d, DType::F8E4M3 | DType::F8E5M2 | DType::Bf16)
            || d.is_storage_float()
            || d.is_sub_byte_int() =>
        {
            Err(Error::new(format!(
                "{} tensors have no TFLite type",
                ty.dtype
            )))
        }
        _ => Ok(()),
    }
}

impl<'g> Lowerer<'g> {
    /// An error located at the node being lowered.
    pub fn err(&self, msg: impl Into<String>) -> Error {
        Error::at_node(&self.node, msg)
    }

    /// The IR type of a value.
    pub fn ty(&self, v: ValueRef) -> &'g TensorType {
        self.g.ty(v)
    }

    /// Adds a tensor with a unique name derived from `base`.
    pub fn new_tensor(&mut self, base: &str, ty: TensorType, data: Option<Vec<u8>>) -> i32 {
        let mut name = base.to_string();
        let mut k = 1;
        while !self.names.insert(name.clone()) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.m.add_tensor(name, ty, data)
    }

    /// Adds a constant tensor.
    pub fn const_tensor(&mut self, base: &str, t: &Tensor, ty: TensorType) -> i32 {
        self.new_tensor(base, ty, Some(t.to_le_bytes()))
    }

    /// Adds a 1-D int32 constant (shapes, axes, paddings).
    pub fn const_i32(&mut self, base: &str, values: &[i32], shape: &[usize]) -> i32 {
        let t = Tensor::from_f64s(
            DType::I32,
            shape,
            &values.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        )
        .expect("shape matches the values");
        let ty = t.tensor_type();
        self.const_tensor(&format!("{}/{base}", self.node), &t, ty)
    }

    /// Adds an operator.
    pub fn op(&mut self, code: fb::BuiltinOperator, ins: Vec<i32>, outs: Vec<i32>, o: Options) {
        self.m.add_op(code, ins, outs, o);
    }

    /// Whether value `v` is held NHWC-transposed.
    pub fn is_nhwc(&self, v: ValueRef) -> bool {
        self.values.get(&v).is_some_and(|s| s.nhwc)
    }

    /// Where `v` lives as it is (constants are written on first use, untransposed).
    pub fn stored(&mut self, v: ValueRef) -> Result<Stored> {
        if let Some(s) = self.values.get(&v) {
            return Ok(*s);
        }
        let Some(data) = self.g.const_value(v) else {
            return Err(self.err(format!(
                "value '{}' is used before it is defined",
                self.g.value(v).name
            )));
        };
        let value = self.g.value(v);
        let t = self.const_tensor(&value.name, data, value.ty.clone());
        let s = Stored {
            tensor: t,
            nhwc: false,
        };
        self.values.insert(v, s);
        Ok(s)
    }

    /// The tensor holding `v` in its own (logical) layout.
    pub fn logical(&mut self, v: ValueRef) -> Result<i32> {
        let s = self.stored(v)?;
        if !s.nhwc {
            return Ok(s.tensor);
        }
        if let Some(&t) = self.as_nchw.get(&v) {
            return Ok(t);
        }
        let value = self.g.value(v);
        let t = self.new_tensor(&format!("{}_nchw", value.name), value.ty.clone(), None);
        self.transpose_op(s.tensor, &TO_NCHW, t);
        self.as_nchw.insert(v, t);
        Ok(t)
    }

    /// The tensor holding the 4-D NCHW value `v` transposed to NHWC.
    pub fn nhwc(&mut self, v: ValueRef) -> Result<i32> {
        let ty = self.ty(v);
        if ty.shape.len() != 4 {
            return Err(self.err(format!("expected a 4-D NCHW value, got {ty}")));
        }
        if let Some(s) = self.values.get(&v).filter(|s| s.nhwc) {
            return Ok(s.tensor);
        }
        if let Some(&t) = self.as_nhwc.get(&v) {
            return Ok(t);
        }
        let name = format!("{}_nhwc", self.g.value(v).name);
        let nty = TensorType {
            dtype: ty.dtype,
            shape: permute(&ty.shape, &TO_NHWC),
            quant: permute_quant(&ty.quant, &TO_NHWC),
        };
        let t = match self.g.const_value(v) {
            Some(data) => self.const_tensor(&name, &permute_tensor(data, &TO_NHWC), nty),
            None => {
                let x = self.logical(v)?;
                let t = self.new_tensor(&name, nty, None);
                self.transpose_op(x, &TO_NHWC, t);
                t
            }
        };
        self.as_nhwc.insert(v, t);
        Ok(t)
    }

    /// The NHWC operand of an op working on NHWC storage: 4-D values transposed, lower-rank
    /// constants broadcast to rank 4 first.
    pub fn nhwc_operand(&mut self, v: ValueRef) -> Result<i32> {
        if self.ty(v).shape.len() == 4 {
            return self.nhwc(v);
        }
        let data = self.g.const_value(v).ok_or_else(|| {
            self.err("a lower-rank operand of an NHWC-stored op must be a constant")
        })?;
        let ty = self.ty(v);
        let (t, q) = expand_to_rank4(data, &ty.quant).map_err(|e| e.in_node(&self.node))?;
        let t = permute_tensor(&t, &TO_NHWC);
        let nty = t.tensor_type().with_quant(q);
        let name = format!("{}_nhwc", self.g.value(v).name);
        Ok(self.const_tensor(&name, &t, nty))
    }

    /// A TRANSPOSE of `x` by `perm` into `out`.
    pub fn transpose_op(&mut self, x: i32, perm: &[usize], out: i32) {
        let p: Vec<i32> = perm.iter().map(|&p| p as i32).collect();
        let pt = self.const_i32("perm", &p, &[p.len()]);
        self.op(
            fb::BuiltinOperator::TRANSPOSE,
            vec![x, pt],
            vec![out],
            Options::Empty(EmptyOptions::Transpose),
        );
    }

    /// Creates the tensor of output `k` of node `n`, NHWC-transposed when `nhwc`.
    pub fn define(&mut self, n: NodeIndex, k: usize, nhwc: bool) -> i32 {
        let v = ValueRef { node: n, output: k };
        let value = self.g.value(v);
        let ty = if nhwc {
            TensorType {
                dtype: value.ty.dtype,
                shape: permute(&value.ty.shape, &TO_NHWC),
                quant: value.ty.quant.clone(),
            }
        } else {
            value.ty.clone()
        };
        let t = self.new_tensor(&value.name, ty, None);
        self.values.insert(v, Stored { tensor: t, nhwc });
        t
    }

    /// Emits `code` producing output 0 of `n`, with activation `act` fused when TFLite's
    /// fused activations cover it, else as a separate operator after it.
    pub fn emit_fused(
        &mut self,
        n: NodeIndex,
        code: fb::BuiltinOperator,
        ins: Vec<i32>,
        nhwc: bool,
        act: Option<Activation>,
        options: impl FnOnce(fb::ActivationFunctionType) -> Options,
    ) -> Result<()> {
        let fused = act.and_then(fused_code);
        match act.filter(|_| fused.is_none()) {
            None => {
                let out = self.define(n, 0, nhwc);
                let f = fused.unwrap_or(fb::ActivationFunctionType::NONE);
                self.op(code, ins, vec![out], options(f));
                Ok(())
            }
            Some(act) => {
                let o = options(fb::ActivationFunctionType::NONE);
                self.emit_then_activation(n, code, ins, nhwc, act, o)
            }
        }
    }

    /// Emits `code` into a temporary tensor, then activation `act` producing output 0 of
    /// `n` (for activations an op cannot fuse).
    pub fn emit_then_activation(
        &mut self,
        n: NodeIndex,
        code: fb::BuiltinOperator,
        ins: Vec<i32>,
        nhwc: bool,
        act: Activation,
        options: Options,
    ) -> Result<()> {
        let out = self.define(n, 0, nhwc);
        let ty = self.m.ty(out).clone();
        let name = format!("{}_pre_act", self.node);
        let mid = self.new_tensor(&name, ty, None);
        self.op(code, ins, vec![mid], options);
        let (c, o) = ops::elementwise::activation_op(self, act)?;
        self.op(c, vec![mid], vec![out], o);
        Ok(())
    }
}

/// TFLite's fused activation for `a`, when it has one.
pub fn fused_code(a: Activation) -> Option<fb::ActivationFunctionType> {
    use fb::ActivationFunctionType as F;
    match a {
        Activation::Tanh => Some(F::TANH),
        _ => match a.clamp_range() {
            Some((lo, hi)) if lo == 0.0 && hi == f32::INFINITY => Some(F::RELU),
            Some((lo, hi)) if lo == 0.0 && hi == 6.0 => Some(F::RELU6),
            Some((lo, hi)) if lo == -1.0 && hi == 1.0 => Some(F::RELU_N1_TO_1),
            _ => None,
        },
    }
}
