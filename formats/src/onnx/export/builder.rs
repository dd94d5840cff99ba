//! The ONNX graph being written: fresh names, initializers, nodes, and the QDQ wrapping of
//! quantized values (DequantizeLinear before a float op, QuantizeLinear after it).

use super::proto::{attr, node, tensor_proto, Attr};
use super::OPSET;
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::ir::{
    Activation, DType, Graph, QuantParams, Tensor, TensorType, Value, ValueRef,
};
use nnopt_compiler::{Error, Result};
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::{NodeProto, TensorProto};

/// Whether values of this type are written in QDQ form (quantized integers, FP8 and FP4
/// with scales).
fn is_qdq(ty: &TensorType) -> bool {
    ty.quant.is_some() && (ty.dtype.is_qdq_int() || ty.dtype.is_qdq_float())
}

/// Whether `d` is an FP8 type (E8M0 aside: it has no QDQ form).
pub(super) fn is_fp8(d: DType) -> bool {
    matches!(
        d,
        DType::F8E4M3 | DType::F8E5M2 | DType::F8E4M3Fnuz | DType::F8E5M2Fnuz
    )
}

/// The ONNX nodes and initializers written so far for graph `g`.
pub(super) struct Builder<'g> {
    pub g: &'g Graph,
    pub opset: i64,
    pub nodes: Vec<NodeProto>,
    pub inits: Vec<TensorProto>,
    dequantized: HashMap<ValueRef, String>,
    node_names: HashSet<String>,
    counter: usize,
}

/// An ints attribute.
pub(super) fn ints(v: impl IntoIterator<Item = usize>) -> Attr {
    Attr::Ints(v.into_iter().map(|x| x as i64).collect())
}

fn act_name(a: Activation) -> &'static str {
    match a {
        Activation::Relu => "relu",
        Activation::Relu6 => "relu6",
        Activation::ReluN1To1 => "relu_n1_to_1",
        Activation::Clip { .. } => "clip",
        Activation::LeakyRelu { .. } => "leaky_relu",
        Activation::Sigmoid => "sigmoid",
        Activation::Tanh => "tanh",
        Activation::HardSigmoid { .. } => "hard_sigmoid",
        Activation::HardSwish => "hard_swish",
        Activation::Binarize => "binarize",
    }
}

impl<'g> Builder<'g> {
    /// An empty builder writing `g` at `opset`.
    pub fn new(g: &'g Graph, opset: i64) -> Self {
        Builder {
            g,
            opset,
            nodes: vec![],
            inits: vec![],
            dequantized: HashMap::new(),
            node_names: HashSet::new(),
            counter: 0,
        }
    }

    /// A unique name derived from `base`.
    pub fn fresh(&mut self, base: &str) -> String {
        self.counter += 1;
        format!("{base}__nnopt{}", self.counter)
    }

    /// Rejects types ONNX cannot represent.
    pub fn check_dtype(&self, ty: &TensorType) -> Result<()> {
        if ty.dtype == DType::I16 && ty.quant.is_some() {
            return Err(Error::new(format!(
                "ONNX opset {OPSET} has no int16 quantization ({ty})"
            )));
        }
        Ok(())
    }

    pub fn init(&mut self, base: &str, t: Tensor) -> String {
        let name = self.fresh(base);
        self.inits.push(tensor_proto(&name, &t));
        name
    }

    pub fn i64s(&mut self, base: &str, v: &[i64]) -> String {
        let t = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).expect("1-D"));
        self.init(base, t)
    }

    pub fn f32_scalar(&mut self, base: &str, v: f32) -> String {
        self.init(base, Tensor::F32(ArrayD::from_elem(IxDyn(&[]), v)))
    }

    pub fn push(
        &mut self,
        op: &str,
        name: &str,
        inputs: Vec<String>,
        outputs: Vec<String>,
        attrs: Vec<tract_onnx::pb::AttributeProto>,
    ) {
        // Node names must be unique in ONNX.
        let name = if self.node_names.insert(name.to_string()) {
            name.to_string()
        } else {
            let fresh = self.fresh(name);
            self.node_names.insert(fresh.clone());
            fresh
        };
        self.nodes.push(node(op, &name, inputs, outputs, attrs));
    }

    /// Scale and zero-point initializers of quantization parameters, plus the axis attribute.
    fn qparams(
        &mut self,
        base: &str,
        dtype: DType,
        q: &QuantParams,
    ) -> Result<(String, String, Vec<tract_onnx::pb::AttributeProto>)> {
        let n = q.scale.len();
        let shape: Vec<usize> = if q.axis.is_some() { vec![n] } else { vec![] };
        let scale = self.init(
            &format!("{base}_scale"),
            Tensor::F32(
                ArrayD::from_shape_vec(IxDyn(&shape), q.scale.clone()).expect("scale count"),
            ),
        );
        let zps: Vec<f64> = (0..n).map(|i| q.at(i).1 as f64).collect();
        let zp_t = if dtype.is_qdq_float() {
            // FP8 and FP4 zero points are 0 (code 0x00).
            Tensor::zeros(dtype, &shape)
        } else {
            Tensor::from_f64s(dtype, &shape, &zps)
                .ok_or_else(|| Error::new(format!("cannot write zero points of type {dtype}")))?
        };
        let zp = self.init(&format!("{base}_zero_point"), zp_t);
        let attrs = q
            .axis
            .map(|a| vec![attr("axis", Attr::Int(a as i64))])
            .unwrap_or_default();
        Ok((scale, zp, attrs))
    }

    /// The name under which input `v` is available as float (dequantizing quantized values).
    pub fn float_input(&mut self, v: ValueRef) -> Result<String> {
        let val = self.g.value(v).clone();
        let Some(q) = val.ty.quant.clone().filter(|_| is_qdq(&val.ty)) else {
            return Ok(val.name);
        };
        if let Some(n) = self.dequantized.get(&v) {
            return Ok(n.clone());
        }
        let (s, z, attrs) = self.qparams(&val.name, val.ty.dtype, &q)?;
        let out = self.fresh(&format!("{}_dq", val.name));
        self.push(
            "DequantizeLinear",
            &out.clone(),
            vec![val.name.clone(), s, z],
            vec![out.clone()],
            attrs,
        );
        self.dequantized.insert(v, out.clone());
        Ok(out)
    }

    /// Writes `float_name` into output value `out`, quantizing when the output is quantized.
    pub fn finish_output(&mut self, float_name: String, out: &Value) -> Result<()> {
        match out.ty.quant.clone().filter(|_| is_qdq(&out.ty)) {
            Some(q) => {
                let (s, z, attrs) = self.qparams(&out.name, out.ty.dtype, &q)?;
                self.push(
                    "QuantizeLinear",
                    &out.name.clone(),
                    vec![float_name, s, z],
                    vec![out.name.clone()],
                    attrs,
                );
            }
            None => {
                // Rename the temporary made by this node's lowering instead of copying it.
                let producer = self
                    .nodes
                    .iter_mut()
                    .rev()
                    .find(|n| n.output.contains(&float_name));
                match producer {
                    Some(p) if float_name.contains("__nnopt") => {
                        for o in p.output.iter_mut().filter(|o| **o == float_name) {
                            o.clone_from(&out.name);
                        }
                    }
                    _ => self.push(
                        "Identity",
                        &out.name.clone(),
                        vec![float_name],
                        vec![out.name.clone()],
                        vec![],
                    ),
                }
            }
        }
        Ok(())
    }

    pub fn transpose(&mut self, x: String, perm: [usize; 4]) -> String {
        let out = self.fresh(&x);
        self.push(
            "Transpose",
            &out.clone(),
            vec![x],
            vec![out.clone()],
            vec![attr("perm", ints(perm))],
        );
        out
    }

    pub fn activation(&mut self, x: String, a: Activation) -> String {
        let out = self.fresh(&format!("{x}_{}", act_name(a)));
        let o = vec![out.clone()];
        let clip = |b: &mut Self, lo: f32, hi: f32| {
            let lo = b.f32_scalar("clip_min", lo);
            let hi = b.f32_scalar("clip_max", hi);
            b.push("Clip", &out, vec![x.clone(), lo, hi], o.clone(), vec![]);
        };
        match a {
            Activation::Relu => self.push("Relu", &out, vec![x.clone()], o.clone(), vec![]),
            Activation::Relu6 => clip(self, 0.0, 6.0),
            Activation::ReluN1To1 => clip(self, -1.0, 1.0),
            Activation::Clip { min, max } => clip(self, min, max),
            Activation::LeakyRelu { alpha } => self.push(
                "LeakyRelu",
                &out,
                vec![x.clone()],
                o.clone(),
                vec![attr("alpha", Attr::Float(alpha))],
            ),
            Activation::Sigmoid => self.push("Sigmoid", &out, vec![x.clone()], o.clone(), vec![]),
            Activation::Tanh => self.push("Tanh", &out, vec![x.clone()], o.clone(), vec![]),
            Activation::HardSigmoid { alpha, beta } => self.push(
                "HardSigmoid",
                &out,
                vec![x.clone()],
                o.clone(),
                vec![
                    attr("alpha", Attr::Float(alpha)),
                    attr("beta", Attr::Float(beta)),
                ],
            ),
            Activation::HardSwish => {
                self.push("HardSwish", &out, vec![x.clone()], o.clone(), vec![])
            }
            // ONNX's Sign maps 0 to 0; binarize is Where(x < 0, -1, 1).
            Activation::Binarize => {
                let zero = self.f32_scalar("binarize_zero", 0.0);
                let negative = self.fresh(&format!("{x}_negative"));
                let less = vec![x.clone(), zero];
                self.push("Less", &negative, less, vec![negative.clone()], vec![]);
                let minus = self.f32_scalar("binarize_minus", -1.0);
                let plus = self.f32_scalar("binarize_plus", 1.0);
                let ins = vec![negative, minus, plus];
                self.push("Where", &out, ins, o.clone(), vec![]);
            }
        }
        out
    }

    /// Emits a single-output op, applying an optional fused activation.
    pub fn simple(
        &mut self,
        op: &str,
        name: &str,
        ins: Vec<String>,
        attrs: Vec<tract_onnx::pb::AttributeProto>,
        act: Option<Activation>,
    ) -> String {
        let out = self.fresh(name);
        self.push(op, name, ins, vec![out.clone()], attrs);
        match act {
            Some(a) => self.activation(out, a),
            None => out,
        }
    }

    /// Weight input in ONNX layout: constant data is transposed, other values get a node.
    pub fn weight(&mut self, v: ValueRef, perm: Option<[usize; 4]>) -> Result<String> {
        let name = self.float_input(v)?;
        let Some(perm) = perm else { return Ok(name) };
        Ok(self.transpose(name, perm))
    }
}
