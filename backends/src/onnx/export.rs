//! IR to ONNX translation.

use super::proto::{attr, node, tensor_proto, value_info, Attr};
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::ir::*;
use nnopt_compiler::{Error, Result};
use prost::Message;
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};

/// The ONNX opset written for graphs without FP8 values.
pub const OPSET: i64 = 17;

/// The ONNX opset written for graphs with FP8 values (FP8 QuantizeLinear and
/// DequantizeLinear appeared in opset 19).
pub const FP8_OPSET: i64 = 19;

/// Whether values of this type are written in QDQ form (quantized integers and FP8 with
/// scales).
fn is_qdq(ty: &TensorType) -> bool {
    ty.quant.is_some() && (ty.dtype.is_quantizable_int() || is_fp8(ty.dtype))
}

fn is_fp8(d: DType) -> bool {
    matches!(d, DType::F8E4M3 | DType::F8E5M2)
}

/// The opset `g` needs.
pub fn opset_for(g: &Graph) -> i64 {
    let fp8 = g
        .node_indices()
        .into_iter()
        .any(|n| g.node(n).outputs.iter().any(|v| is_fp8(v.ty.dtype)));
    if fp8 {
        FP8_OPSET
    } else {
        OPSET
    }
}

/// Serializes the graph as an ONNX model.
pub fn export_onnx(g: &Graph) -> Result<Vec<u8>> {
    Ok(export_onnx_model(g)?.encode_to_vec())
}

/// Builds the ONNX model proto of the graph.
pub fn export_onnx_model(g: &Graph) -> Result<ModelProto> {
    let mut b = Builder {
        g,
        opset: opset_for(g),
        nodes: vec![],
        inits: vec![],
        dequantized: HashMap::new(),
        node_names: HashSet::new(),
        counter: 0,
    };
    let order = g
        .topo_order()
        .map_err(|n| Error::at_node(&g.node(n).name, "graph has a cycle"))?;
    let mut inputs = vec![];
    for n in order {
        let node = g.node(n);
        match &node.op {
            Op::Input => {
                let v = &node.outputs[0];
                b.check_dtype(&v.ty).map_err(|e| e.in_node(&node.name))?;
                inputs.push(value_info(&v.name, &v.ty));
            }
            Op::Const { value } => {
                b.check_dtype(&node.outputs[0].ty)
                    .map_err(|e| e.in_node(&node.name))?;
                b.inits.push(tensor_proto(&node.outputs[0].name, value));
            }
            _ => b.lower(n).map_err(|e| e.in_node(&node.name))?,
        }
    }
    let outputs = g
        .outputs()
        .iter()
        .map(|&v| value_info(&g.value(v).name, g.ty(v)))
        .collect();
    let b_opset = b.opset;
    let graph = GraphProto {
        name: g.name.clone(),
        node: b.nodes,
        initializer: b.inits,
        input: inputs,
        output: outputs,
        ..Default::default()
    };
    Ok(ModelProto {
        ir_version: 8,
        producer_name: "nnopt".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: b_opset,
        }],
        graph: Some(graph),
        ..Default::default()
    })
}

struct Builder<'g> {
    g: &'g Graph,
    opset: i64,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    dequantized: HashMap<ValueRef, String>,
    node_names: HashSet<String>,
    counter: usize,
}

fn ints(v: impl IntoIterator<Item = usize>) -> Attr {
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
    }
}

impl Builder<'_> {
    fn fresh(&mut self, base: &str) -> String {
        self.counter += 1;
        format!("{base}__nnopt{}", self.counter)
    }

    fn check_dtype(&self, ty: &TensorType) -> Result<()> {
        if ty.dtype == DType::I16 && ty.quant.is_some() {
            return Err(Error::new(format!(
                "ONNX opset {OPSET} has no int16 quantization ({ty})"
            )));
        }
        Ok(())
    }

    fn init(&mut self, base: &str, t: Tensor) -> String {
        let name = self.fresh(base);
        self.inits.push(tensor_proto(&name, &t));
        name
    }

    fn i64s(&mut self, base: &str, v: &[i64]) -> String {
        let t = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).expect("1-D"));
        self.init(base, t)
    }

    fn f32_scalar(&mut self, base: &str, v: f32) -> String {
        self.init(base, Tensor::F32(ArrayD::from_elem(IxDyn(&[]), v)))
    }

    fn push(
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
        let zp_t = if is_fp8(dtype) {
            // FP8 zero points are 0 (code 0x00).
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
    fn float_input(&mut self, v: ValueRef) -> Result<String> {
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
    fn finish_output(&mut self, float_name: String, out: &Value) -> Result<()> {
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

    fn transpose(&mut self, x: String, perm: [usize; 4]) -> String {
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

    fn activation(&mut self, x: String, a: Activation) -> String {
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
        }
        out
    }

    /// Emits a single-output op, applying an optional fused activation.
    fn simple(
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

    fn conv_attrs(c: &ConvAttrs, kernel: [usize; 2]) -> Vec<tract_onnx::pb::AttributeProto> {
        vec![
            attr("kernel_shape", ints(kernel)),
            attr("strides", ints(c.strides)),
            attr("dilations", ints(c.dilations)),
            attr("pads", ints(c.pads)),
            attr("group", Attr::Int(c.group as i64)),
        ]
    }

    /// Weight input in ONNX layout: constant data is transposed, other values get a node.
    fn weight(&mut self, v: ValueRef, perm: Option<[usize; 4]>) -> Result<String> {
        let name = self.float_input(v)?;
        let Some(perm) = perm else { return Ok(name) };
        Ok(self.transpose(name, perm))
    }

    fn lower(&mut self, n: NodeIndex) -> Result<()> {
        let g = self.g;
        let node = g.node(n);
        let ins = g.node_inputs(n);
        let name = node.name.clone();
        let mut x = vec![];
        if !matches!(node.op, Op::Quantize { .. } | Op::Dequantize) {
            for &v in &ins {
                x.push(self.float_input(v)?);
            }
        }
        let out = match &node.op {
            Op::Input | Op::Const { .. } => unreachable!("sources are handled by the caller"),
            Op::Conv(c) | Op::ConvTranspose { conv: c, .. } => {
                let transposed = matches!(node.op, Op::ConvTranspose { .. });
                let w_shape = g.ty(ins[1]).shape.clone();
                let (kernel, perm) = match c.layout {
                    Layout::Nchw => ([w_shape[2], w_shape[3]], None),
                    // OHWI -> OIHW for conv; OHWI -> IOHW for the transposed conv.
                    Layout::Nhwc if transposed => ([w_shape[1], w_shape[2]], Some([3, 0, 1, 2])),
                    Layout::Nhwc => ([w_shape[1], w_shape[2]], Some([0, 3, 1, 2])),
                };
                let mut args = vec![match c.layout {
                    Layout::Nchw => x[0].clone(),
                    Layout::Nhwc => self.transpose(x[0].clone(), [0, 3, 1, 2]),
                }];
                args.push(self.weight(ins[1], perm)?);
                if let Some(bias) = x.get(2) {
                    args.push(bias.clone());
                }
                let mut attrs = Self::conv_attrs(c, kernel);
                let op = if let Op::ConvTranspose { output_padding, .. } = &node.op {
                    attrs.push(attr("output_padding", ints(*output_padding)));
                    "ConvTranspose"
                } else {
                    "Conv"
                };
                let y = self.simple(op, &name, args, attrs, c.activation);
                match c.layout {
                    Layout::Nchw => y,
                    Layout::Nhwc => self.transpose(y, [0, 2, 3, 1]),
                }
            }
            Op::Gemm(GemmAttrs {
                alpha,
                beta,
                trans_a,
                trans_b,
                activation,
            }) => {
                let attrs = vec![
                    attr("alpha", Attr::Float(*alpha)),
                    attr("beta", Attr::Float(*beta)),
                    attr("transA", Attr::Int(*trans_a as i64)),
                    attr("transB", Attr::Int(*trans_b as i64)),
                ];
                self.simple("Gemm", &name, x, attrs, *activation)
            }
            Op::MatMul => self.simple("MatMul", &name, x, vec![], None),
            Op::Binary { kind, activation } => {
                let op = match kind {
                    BinaryKind::Add => "Add",
                    BinaryKind::Sub => "Sub",
                    BinaryKind::Mul => "Mul",
                    BinaryKind::Div => "Div",
                    BinaryKind::Max => "Max",
                    BinaryKind::Min => "Min",
                };
                self.simple(op, &name, x, vec![], *activation)
            }
            Op::PRelu => self.simple("PRelu", &name, x, vec![], None),
            Op::Activation { act } => self.activation(x[0].clone(), *act),
            Op::Softmax { axis, beta } => {
                let mut input = x[0].clone();
                if *beta != 1.0 {
                    let b = self.f32_scalar("softmax_beta", *beta);
                    input =
                        self.simple("Mul", &format!("{name}_beta"), vec![input, b], vec![], None);
                }
                self.simple(
                    "Softmax",
                    &name,
                    vec![input],
                    vec![attr("axis", Attr::Int(*axis as i64))],
                    None,
                )
            }
            Op::LogSoftmax { axis } => self.simple(
                "LogSoftmax",
                &name,
                x,
                vec![attr("axis", Attr::Int(*axis as i64))],
                None,
            ),
            Op::BatchNorm { epsilon, axis } => {
                if *axis != 1 {
                    return Err(Error::new(format!(
                        "ONNX BatchNormalization needs channel axis 1, not {axis}"
                    )));
                }
                self.simple(
                    "BatchNormalization",
                    &name,
                    x,
                    vec![attr("epsilon", Attr::Float(*epsilon))],
                    None,
                )
            }
            Op::Pool { pool, activation } => {
                let PoolAttrs {
                    kind,
                    layout,
                    kernel,
                    strides,
                    dilations,
                    pads,
                    ceil_mode,
                    count_include_pad,
                } = pool;
                if *layout == Layout::Nhwc && kernel.len() != 2 {
                    return Err(Error::new(format!(
                        "node '{name}': channels-last pooling must be 2-D to export"
                    )));
                }
                let dilated = pool.is_dilated();
                if dilated && *kind == PoolKind::Avg && self.opset < 19 {
                    return Err(Error::new(format!(
                        "node '{name}': dilated AveragePool needs ONNX opset 19; the exporter writes opset {}",
                        self.opset
                    )));
                }
                let input = match layout {
                    Layout::Nchw => x[0].clone(),
                    Layout::Nhwc => self.transpose(x[0].clone(), [0, 3, 1, 2]),
                };
                let mut attrs = vec![
                    attr("kernel_shape", ints(kernel.clone())),
                    attr("strides", ints(strides.clone())),
                    attr("pads", ints(pads.clone())),
                ];
                if dilated {
                    attrs.push(attr("dilations", ints(dilations.clone())));
                }
                if *ceil_mode {
                    attrs.push(attr("ceil_mode", Attr::Int(1)));
                }
                let op = match kind {
                    PoolKind::Max => "MaxPool",
                    PoolKind::Avg => {
                        attrs.push(attr(
                            "count_include_pad",
                            Attr::Int(*count_include_pad as i64),
                        ));
                        "AveragePool"
                    }
                };
                let y = self.simple(op, &name, vec![input], attrs, *activation);
                match layout {
                    Layout::Nchw => y,
                    Layout::Nhwc => self.transpose(y, [0, 2, 3, 1]),
                }
            }
            Op::Reduce {
                kind,
                axes,
                keep_dims,
            } => {
                let keep = attr("keepdims", Attr::Int(*keep_dims as i64));
                let axes_i: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
                match kind {
                    ReduceKind::Sum => {
                        let a = self.i64s("axes", &axes_i);
                        self.simple("ReduceSum", &name, vec![x[0].clone(), a], vec![keep], None)
                    }
                    k => {
                        let op = match k {
                            ReduceKind::Mean => "ReduceMean",
                            ReduceKind::Max => "ReduceMax",
                            _ => "ReduceMin",
                        };
                        if self.opset >= 18 {
                            // Opset 18 moved the axes of every reduction into an input.
                            let a = self.i64s("axes", &axes_i);
                            self.simple(op, &name, vec![x[0].clone(), a], vec![keep], None)
                        } else {
                            let axes = attr("axes", Attr::Ints(axes_i));
                            self.simple(op, &name, x, vec![keep, axes], None)
                        }
                    }
                }
            }
            Op::Reshape { shape } => {
                let s: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
                let s = self.i64s("shape", &s);
                self.simple("Reshape", &name, vec![x[0].clone(), s], vec![], None)
            }
            Op::Transpose { perm } => self.simple(
                "Transpose",
                &name,
                x,
                vec![attr("perm", ints(perm.clone()))],
                None,
            ),
            Op::Concat { axis } => self.simple(
                "Concat",
                &name,
                x,
                vec![attr("axis", Attr::Int(*axis as i64))],
                None,
            ),
            Op::Split { axis, sizes } => {
                let s: Vec<i64> = sizes.iter().map(|&d| d as i64).collect();
                let s = self.i64s("split", &s);
                let outs: Vec<String> = node.outputs.iter().map(|v| self.fresh(&v.name)).collect();
                self.push(
                    "Split",
                    &name,
                    vec![x[0].clone(), s],
                    outs.clone(),
                    vec![attr("axis", Attr::Int(*axis as i64))],
                );
                for (o, v) in outs.into_iter().zip(&node.outputs) {
                    self.finish_output(o, v)?;
                }
                return Ok(());
            }
            Op::Slice {
                starts,
                ends,
                steps,
            } => {
                let axes: Vec<i64> = (0..starts.len() as i64).collect();
                let s = self.i64s("starts", starts);
                let e = self.i64s("ends", ends);
                let a = self.i64s("axes", &axes);
                let st = self.i64s("steps", steps);
                self.simple(
                    "Slice",
                    &name,
                    vec![x[0].clone(), s, e, a, st],
                    vec![],
                    None,
                )
            }
            Op::Pad { pads, mode, value } => {
                let mut p: Vec<i64> = pads.iter().map(|&(b, _)| b as i64).collect();
                p.extend(pads.iter().map(|&(_, a)| a as i64));
                let p = self.i64s("pads", &p);
                let v = self.f32_scalar("pad_value", *value);
                let mode = match mode {
                    PadMode::Constant => "constant",
                    PadMode::Reflect => "reflect",
                    PadMode::Edge => "edge",
                };
                self.simple(
                    "Pad",
                    &name,
                    vec![x[0].clone(), p, v],
                    vec![attr("mode", Attr::Str(mode.into()))],
                    None,
                )
            }
            Op::Gather { axis } => self.simple(
                "Gather",
                &name,
                x,
                vec![attr("axis", Attr::Int(*axis as i64))],
                None,
            ),
            Op::Resize {
                mode,
                coord,
                nearest,
                sizes,
                scales,
                filter,
            } => {
                if filter.antialias {
                    return Err(Error::new(format!(
                        "node '{name}': the exporter does not write antialiased Resize (an ONNX opset 18 attribute)"
                    )));
                }
                // ONNX takes either scales or sizes; scales keep the exact coordinate
                // transform when they are not output / input.
                let (sc, sz) = match scales {
                    Some(s) => {
                        let t = Tensor::F32(
                            ArrayD::from_shape_vec(IxDyn(&[s.len()]), s.clone()).expect("1-D"),
                        );
                        (self.init("scales", t), String::new())
                    }
                    None => {
                        let sz: Vec<i64> = sizes.iter().map(|&d| d as i64).collect();
                        (String::new(), self.i64s("sizes", &sz))
                    }
                };
                let coord = match coord {
                    CoordTransform::HalfPixel => "half_pixel",
                    CoordTransform::PytorchHalfPixel => "pytorch_half_pixel",
                    CoordTransform::AlignCorners => "align_corners",
                    CoordTransform::Asymmetric => "asymmetric",
                    CoordTransform::TfHalfPixelForNn => "tf_half_pixel_for_nn",
                    CoordTransform::HalfPixelSymmetric => "half_pixel_symmetric",
                    CoordTransform::TfCropAndResize => "tf_crop_and_resize",
                };
                let nearest = match nearest {
                    NearestRounding::RoundPreferFloor => "round_prefer_floor",
                    NearestRounding::RoundPreferCeil => "round_prefer_ceil",
                    NearestRounding::Floor => "floor",
                    NearestRounding::Ceil => "ceil",
                };
                let mode = match mode {
                    ResizeMode::Nearest => "nearest",
                    ResizeMode::Linear => "linear",
                    ResizeMode::Cubic => "cubic",
                };
                let attrs = vec![
                    attr("mode", Attr::Str(mode.into())),
                    attr("coordinate_transformation_mode", Attr::Str(coord.into())),
                    attr("nearest_mode", Attr::Str(nearest.into())),
                    attr("cubic_coeff_a", Attr::Float(filter.cubic_coeff_a)),
                    attr(
                        "exclude_outside",
                        Attr::Int(i64::from(filter.exclude_outside)),
                    ),
                    attr(
                        "extrapolation_value",
                        Attr::Float(filter.extrapolation_value),
                    ),
                ];
                let roi = match &filter.roi {
                    Some(boxes) => {
                        let (starts, ends): (Vec<f32>, Vec<f32>) = boxes.iter().copied().unzip();
                        let roi = [starts, ends].concat();
                        let t = Tensor::F32(
                            ArrayD::from_shape_vec(IxDyn(&[roi.len()]), roi).expect("1-D"),
                        );
                        self.init("roi", t)
                    }
                    None => String::new(),
                };
                let mut ins = vec![x[0].clone(), roi, sc, sz];
                while ins.last().is_some_and(|s| s.is_empty()) {
                    ins.pop();
                }
                self.simple("Resize", &name, ins, attrs, None)
            }
            Op::DepthToSpace {
                block,
                layout,
                mode,
            } => {
                let input = match layout {
                    Layout::Nchw => x[0].clone(),
                    Layout::Nhwc => self.transpose(x[0].clone(), [0, 3, 1, 2]),
                };
                let mode = match mode {
                    DepthToSpaceMode::Dcr => "DCR",
                    DepthToSpaceMode::Crd => "CRD",
                };
                let attrs = vec![
                    attr("blocksize", Attr::Int(*block as i64)),
                    attr("mode", Attr::Str(mode.into())),
                ];
                let y = self.simple("DepthToSpace", &name, vec![input], attrs, None);
                match layout {
                    Layout::Nchw => y,
                    Layout::Nhwc => self.transpose(y, [0, 2, 3, 1]),
                }
            }
            Op::Quantize { saturate, .. } => {
                let input = self.float_input(ins[0])?;
                let out = &node.outputs[0];
                if out.ty.quant.is_none() {
                    return Err(Error::new("quantize output has no quantization parameters"));
                }
                self.finish_output(input, out)?;
                if !saturate && is_fp8(out.ty.dtype) {
                    let q = self
                        .nodes
                        .last_mut()
                        .expect("finish_output wrote QuantizeLinear");
                    q.attribute.push(attr("saturate", Attr::Int(0)));
                }
                return Ok(());
            }
            Op::Dequantize => {
                let input = self.float_input(ins[0])?;
                return self.finish_output(input, &node.outputs[0]);
            }
            Op::Cast { to, saturate } => {
                let mut attrs = vec![attr("to", Attr::Int(super::proto::onnx_dtype(*to) as i64))];
                if !saturate && is_fp8(*to) {
                    attrs.push(attr("saturate", Attr::Int(0)));
                }
                self.simple("Cast", &name, x, attrs, None)
            }
            Op::Identity => x[0].clone(),
            Op::ActivationGrad { .. }
            | Op::ConvGradInput(_)
            | Op::ConvGradWeights(_)
            | Op::PoolGrad(_)
            | Op::SoftmaxCrossEntropy
            | Op::SoftmaxCrossEntropyGrad
            | Op::Fp8FakeQuant { .. } => {
                return Err(Error::new(format!(
                    "node '{name}': training op {} has no ONNX export",
                    node.op.name()
                )))
            }
            Op::Svdf { .. } => {
                return Err(Error::new(format!(
                    "node '{name}': svdf (a stateful TFLite op) has no ONNX operator"
                )))
            }
        };
        self.finish_output(out, &node.outputs[0])
    }
}
