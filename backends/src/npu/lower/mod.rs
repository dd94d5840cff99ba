//! Lowering of a quantized IR graph to an NPU [`Program`].
//!
//! Nodes are visited in the graph's deterministic topological order. Each becomes an NPU
//! command (convolution, transposed convolution, fully connected, add/sub/mul, parametric
//! ReLU, softmax, pooling, mean/sum, concatenation, constant padding, resize, and table lookups for
//! standalone activations and requantizations), a free
//! memory alias (reshape, identity), part of an IO conversion (a float input's
//! `quantize`, a float output's `dequantize`) or a CPU fallback; consecutive fallbacks
//! form one [`CpuSegment`]. Requantization parameters are computed here exactly as the
//! reference interpreter computes them, so the virtual NPU only does integer arithmetic.
//!
//! FP8 graphs (from the `quantize-fp8` pass) lower their FP8 convolutions and fully
//! connected layers to commands with FP8 weight blocks; a `quantize` to FP8 becomes its
//! own command, or the output stage of the command producing its only input. In such a
//! program f32 pooling, reductions, activations, binary arithmetic, constant padding,
//! concatenation and reshapes run on
//! the NPU with the interpreter's float arithmetic; other float ops (and every float op
//! of a program without FP8 values) fall back to the CPU.
//!
//! NCHW graphs (ONNX) are lowered directly: activations keep their layout, spatial
//! commands carry it, and convolution weights are transposed to OHWI at compile time, so
//! no layout pass (and no transposes at run time) is needed.

mod moves;
mod pointwise;

use super::alloc::{self, Buffer};
use super::program::*;
use super::report::{Fallback, LoweringReport};
use nnopt_compiler::fp8::Fp8Format;
use nnopt_compiler::interp::activation_range;
use nnopt_compiler::interp::fixedpoint::quantize_multiplier;
use nnopt_compiler::ir::text::{print_graph, PrintOptions};
use nnopt_compiler::ir::{
    Activation, BinaryKind, ConvAttrs, DType, Graph, Layout, NodeIndex, Op, PadMode, ReduceKind,
    Tensor, TensorType, ValueRef,
};
use nnopt_compiler::{Error, Result};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Lowering options.
#[derive(Clone, Debug)]
pub struct LowerOptions {
    /// Run ops the NPU cannot execute on the CPU; when false they are errors.
    pub cpu_fallback: bool,
}

impl Default for LowerOptions {
    fn default() -> Self {
        LowerOptions { cpu_fallback: true }
    }
}

/// Lowers `g` to an NPU program with its activations placed in one arena.
pub fn lower(g: &Graph, opts: &LowerOptions) -> Result<(Program, LoweringReport)> {
    let order = g
        .topo_order()
        .map_err(|n| Error::at_node(&g.node(n).name, "graph has a cycle"))?;
    let mut l = Lowering::new(g);
    let inputs = l.bind_inputs()?;
    let outputs = l.bind_outputs()?;
    let mut report = LoweringReport::default();
    let mut items = Vec::new();
    // The CPU nodes scheduled since the last NPU command (the open CPU segment).
    let mut open_run: HashSet<NodeIndex> = HashSet::new();
    for &n in &order {
        let node = g.node(n);
        if node.op.is_source() {
            continue;
        }
        let is_alias = matches!(node.op, Op::Reshape { .. } | Op::Identity);
        let what = if l.absorbed.contains(&n) {
            Ok(None)
        } else if is_alias && g.node_inputs(n).iter().any(|v| open_run.contains(&v.node)) {
            // The segment would read the alias before computing its input.
            Err("its input is computed in the CPU segment it joins".to_string())
        } else {
            l.lower_node(n)
        };
        match what {
            Ok(cmd) => {
                *report.npu_ops.entry(node.op.detailed_name()).or_default() += 1;
                if let Some(c) = cmd {
                    open_run.clear();
                    items.push(Item::Npu(c));
                }
            }
            Err(reason) if opts.cpu_fallback => {
                open_run.insert(n);
                report.fallbacks.push(Fallback {
                    node: node.name.clone(),
                    op: node.op.detailed_name(),
                    reason,
                });
                items.push(Item::Cpu(n));
            }
            Err(reason) => {
                return Err(Error::at_node(
                    &node.name,
                    format!("the NPU cannot run '{}': {reason}", node.op.detailed_name()),
                ))
            }
        }
    }
    let mut commands = Vec::new();
    let mut cpu_segments = Vec::new();
    let mut run: Vec<NodeIndex> = Vec::new();
    for item in items {
        match item {
            Item::Cpu(n) => run.push(n),
            Item::Npu(c) => {
                if !run.is_empty() {
                    cpu_segments.push(l.segment(&std::mem::take(&mut run), &outputs)?);
                    commands.push(Command::Cpu {
                        segment: cpu_segments.len() - 1,
                    });
                }
                commands.push(c);
            }
        }
    }
    if !run.is_empty() {
        cpu_segments.push(l.segment(&run, &outputs)?);
        commands.push(Command::Cpu {
            segment: cpu_segments.len() - 1,
        });
    }
    let mut program = Program {
        name: g.name.clone(),
        inputs,
        outputs,
        tensors: l.tensors,
        arena_size: 0,
        commands,
        weights: l.weights,
        cpu_segments,
    };
    let (arena, naive) = place(&mut program, &l.root);
    report.arena_bytes = arena;
    report.naive_bytes = naive;
    Ok((program, report))
}

/// One scheduled node before CPU runs are grouped.
enum Item {
    Npu(Command),
    Cpu(NodeIndex),
}

/// Lowering state: arena tensors created so far and the weight blocks.
struct Lowering<'g> {
    g: &'g Graph,
    tensors: Vec<TensorDesc>,
    tensor_of: HashMap<ValueRef, TensorId>,
    /// For each tensor, the tensor whose buffer it shares (itself unless an alias).
    root: Vec<TensorId>,
    weights: Vec<WeightBlock>,
    /// Quantize/dequantize nodes folded into IO bindings or command outputs.
    absorbed: HashSet<NodeIndex>,
    /// The graph has FP8 values: the NPU runs in FP8 mode, with f32 vector ops (an int8
    /// or float program leaves float ops to the CPU).
    fp8_program: bool,
}

/// Reason an op falls back to the CPU.
type Reason = String;

impl<'g> Lowering<'g> {
    fn new(g: &'g Graph) -> Self {
        Lowering {
            g,
            tensors: Vec::new(),
            tensor_of: HashMap::new(),
            root: Vec::new(),
            weights: Vec::new(),
            absorbed: HashSet::new(),
            fp8_program: g.node_indices().into_iter().any(|n| {
                g.node(n)
                    .outputs
                    .iter()
                    .any(|o| Fp8Format::of(o.ty.dtype).is_some())
            }),
        }
    }

    /// The arena tensor holding `v`, created on first use.
    fn tensor(&mut self, v: ValueRef) -> TensorId {
        if let Some(&t) = self.tensor_of.get(&v) {
            return t;
        }
        let val = self.g.value(v);
        let id = self.tensors.len();
        self.tensors.push(TensorDesc {
            name: val.name.clone(),
            dtype: val.ty.dtype,
            shape: val.ty.shape.clone(),
            quant: val.ty.quant.clone(),
            offset: 0,
            size: val.ty.size_bytes(),
        });
        self.root.push(id);
        self.tensor_of.insert(v, id);
        id
    }

    /// Binds graph inputs; a float input consumed only by a per-tensor quantize is
    /// quantized by the NPU itself.
    fn bind_inputs(&mut self) -> Result<Vec<IoBinding>> {
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
    fn bind_outputs(&mut self) -> Result<Vec<IoBinding>> {
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

    /// Lowers one node: `Ok(Some(command))`, `Ok(None)` for a free alias, or the reason
    /// it has to run on the CPU.
    fn lower_node(&mut self, n: NodeIndex) -> std::result::Result<Option<Command>, Reason> {
        let g = self.g;
        let node = g.node(n);
        let ins = g.node_inputs(n);
        if node.outputs.len() != 1 {
            return Err(format!("the NPU has no {} kernel", node.op.detailed_name()));
        }
        let out = ValueRef::first(n);
        let out_ty = &node.outputs[0].ty;
        let fp8_data = ins
            .first()
            .is_some_and(|&x| Fp8Format::of(g.ty(x).dtype).is_some());
        let float = is_float(out_ty.dtype) || fp8_data;
        if (float && !self.fp8_program) || (!float && !out_ty.is_quantized()) {
            return Err("float (unquantized) tensors run on the CPU".into());
        }
        let weighted = matches!(
            node.op,
            Op::Conv(_) | Op::ConvTranspose { .. } | Op::Gemm(_)
        );
        let slope = matches!(node.op, Op::PRelu) && !float;
        if let Some(&c) = ins
            .iter()
            .enumerate()
            .filter(|&(i, _)| !(slope && i == 1))
            .map(|(_, v)| v)
            .find(|&&v| g.const_value(v).is_some())
        {
            if !weighted {
                return Err(format!(
                    "constant operand '{}' (NPU commands take activations only)",
                    g.value(c).name
                ));
            }
        }
        if let Some(&x) = ins.first() {
            if g.const_value(x).is_some() {
                return Err("constant input activation".into());
            }
        }
        if let Op::Reshape { .. } | Op::Identity = node.op {
            let x = *ins.first().ok_or("missing input")?;
            if g.ty(x).dtype != out_ty.dtype || g.ty(x).size_bytes() != out_ty.size_bytes() {
                return Err("changes the element type or size".into());
            }
            let tx = self.tensor(x);
            let root = self.root[tx];
            let t = self.tensor(out);
            self.root[t] = root;
            return Ok(None);
        }
        if float {
            return self.lower_float(n).map(Some);
        }
        Ok(Some(match &node.op {
            Op::Conv(c) => Command::Conv2d(self.conv(&node.name, c, &ins, out)?),
            Op::ConvTranspose { conv: c, .. } => {
                if c.layout != Layout::Nhwc || c.group > 1 {
                    return Err("transposed convolution other than NHWC with one group".into());
                }
                Command::Conv2d(Conv2d {
                    transposed: true,
                    ..self.conv(&node.name, c, &ins, out)?
                })
            }
            Op::Activation { .. } | Op::Quantize { .. } => {
                Command::Lookup(self.lookup(&node.name, &node.op, &ins, out)?)
            }
            Op::PRelu => Command::PRelu(self.prelu(&node.name, &ins, out)?),
            Op::Softmax { axis, beta } => {
                Command::Softmax(self.softmax(&node.name, *axis, *beta, &ins, out)?)
            }
            Op::Resize { .. } => Command::Resize(self.resize(&node.name, &node.op, &ins, out)?),
            Op::Pad {
                pads,
                mode: PadMode::Constant,
                value,
            } => Command::Pad(self.pad(&node.name, pads, *value, &ins, out)?),
            Op::Gemm(_) => self.gemm(&node.name, &node.op, &ins, out)?,
            Op::Binary { kind, activation } => {
                Command::Elementwise(self.elementwise(&node.name, *kind, *activation, &ins, out)?)
            }
            Op::Pool { .. } => Command::Pool(self.pool(&node.name, &node.op, &ins, out)?),
            Op::Reduce { kind, axes, .. } => {
                Command::Reduce(self.reduce(&node.name, *kind, axes, &ins, out)?)
            }
            Op::Concat { axis } => Command::Concat(self.concat(&node.name, *axis, &ins, out)?),
            other => return Err(format!("the NPU has no {} kernel", other.detailed_name())),
        }))
    }

    /// A fully connected command for a gemm with alpha = beta = 1 and A not transposed.
    fn gemm(
        &mut self,
        name: &str,
        op: &Op,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> std::result::Result<Command, Reason> {
        let Op::Gemm(gemm) = op else {
            return Err(format!("{} is not a gemm", op.name()));
        };
        if !gemm.is_fully_connected() {
            return Err("gemm with alpha/beta != 1 or transposed A".into());
        }
        Ok(Command::FullyConnected(self.fully_connected(
            name,
            gemm.trans_b,
            gemm.activation,
            ins,
            out,
        )?))
    }

    /// Lowers an op on f32 or FP8 values: FP8 convolutions and fully connected layers,
    /// quantization to FP8, and the f32 ops the NPU computes exactly like the
    /// interpreter.
    fn lower_float(&mut self, n: NodeIndex) -> std::result::Result<Command, Reason> {
        let g = self.g;
        let node = g.node(n);
        let ins = g.node_inputs(n);
        let out = ValueRef::first(n);
        let out_ty = g.ty(out);
        let f32_acts = || ins.iter().all(|&v| g.ty(v).dtype == DType::F32);
        Ok(match &node.op {
            Op::Conv(c) => Command::Conv2d(self.conv(&node.name, c, &ins, out)?),
            Op::Gemm(_) => self.gemm(&node.name, &node.op, &ins, out)?,
            Op::Quantize { to, saturate, .. } => {
                if !saturate {
                    return Err("non-saturating FP8 quantization".into());
                }
                let x = *ins.first().ok_or("missing input")?;
                let format = Fp8Format::of(*to)
                    .filter(|_| out_ty.dtype == *to && g.ty(x).dtype == DType::F32)
                    .ok_or_else(|| format!("quantize from {} to {to}", g.ty(x).dtype))?;
                Command::Quantize(Quantize {
                    name: node.name.clone(),
                    input: self.tensor(x),
                    output: self.tensor(out),
                    encoding: Fp8Encoding {
                        format,
                        scale: tensor_scale(out_ty)?,
                    },
                })
            }
            Op::Pool { .. } if f32_acts() && out_ty.dtype == DType::F32 => {
                Command::Pool(self.pool(&node.name, &node.op, &ins, out)?)
            }
            Op::Binary { kind, activation } if f32_acts() && out_ty.dtype == DType::F32 => {
                let [a, b] = match ins.as_slice() {
                    [a, b] => [*a, *b],
                    _ => return Err("binary op needs two inputs".into()),
                };
                let (output, encode) = self.float_output(out);
                Command::Elementwise(Elementwise {
                    name: node.name.clone(),
                    a: self.tensor(a),
                    b: self.tensor(b),
                    output,
                    encode,
                    kind: ElementwiseKind::F32 {
                        op: *kind,
                        activation: *activation,
                    },
                    a_zero_point: 0,
                    b_zero_point: 0,
                    output_zero_point: 0,
                    act_min: 0,
                    act_max: 0,
                })
            }
            Op::Pad {
                pads,
                mode: PadMode::Constant,
                value,
            } if f32_acts() && out_ty.dtype == DType::F32 => {
                let x = *ins.first().ok_or("missing input")?;
                if pads.len() != g.ty(x).shape.len() {
                    return Err("pads do not match the input rank".into());
                }
                let (output, encode) = self.float_output(out);
                Command::Pad(Pad {
                    name: node.name.clone(),
                    input: self.tensor(x),
                    output,
                    pads: pads.clone(),
                    value: *value,
                    fill: 0,
                    encode,
                })
            }
            Op::Activation { act } if f32_acts() && out_ty.dtype == DType::F32 => {
                let x = *ins.first().ok_or("missing input")?;
                let (output, encode) = self.float_output(out);
                Command::Activate(Activate {
                    name: node.name.clone(),
                    input: self.tensor(x),
                    output,
                    activation: *act,
                    encode,
                })
            }
            Op::Reduce { kind, axes, .. } if f32_acts() && out_ty.dtype == DType::F32 => {
                let x = *ins.first().ok_or("missing input")?;
                if axes.iter().any(|&a| a >= g.ty(x).shape.len()) {
                    return Err("reduction axis out of range".into());
                }
                let mut axes = axes.clone();
                axes.sort_unstable();
                axes.dedup();
                let (output, encode) = self.float_output(out);
                Command::Reduce(Reduce {
                    name: node.name.clone(),
                    input: self.tensor(x),
                    output,
                    encode,
                    axes,
                    input_zero_point: 0,
                    output_zero_point: 0,
                    requant: Requant {
                        multiplier: 0,
                        shift: 0,
                    },
                    act_min: 0,
                    act_max: 0,
                    float: Some(*kind),
                })
            }
            Op::Concat { axis } => {
                for &x in &ins {
                    if g.ty(x).dtype != out_ty.dtype || g.ty(x).quant != out_ty.quant {
                        return Err("inputs need conversion".into());
                    }
                }
                Command::Concat(Concat {
                    name: node.name.clone(),
                    inputs: ins.iter().map(|&x| self.tensor(x)).collect(),
                    output: self.tensor(out),
                    axis: *axis,
                    tables: vec![],
                })
            }
            other => {
                return Err(format!(
                    "the NPU has no {} kernel for {} data",
                    other.detailed_name(),
                    out_ty.dtype
                ))
            }
        })
    }

    /// The FP8 output encoding of an FP8 layer's f32 result `out` when its only use is a
    /// per-tensor `quantize` to FP8, which is then absorbed: (its output, the encoding).
    fn fused_quantize(&mut self, out: ValueRef) -> Option<(ValueRef, Fp8Encoding)> {
        let g = self.g;
        if g.outputs().contains(&out) {
            return None;
        }
        let consumers = g.consumers(out);
        let &[(q, 0)] = consumers.as_slice() else {
            return None;
        };
        let qt = &g.node(q).outputs[0].ty;
        let Op::Quantize {
            to, saturate: true, ..
        } = g.node(q).op
        else {
            return None;
        };
        let format = Fp8Format::of(to).filter(|_| qt.dtype == to)?;
        let scale = tensor_scale(qt).ok()?;
        self.absorbed.insert(q);
        Some((ValueRef::first(q), Fp8Encoding { format, scale }))
    }

    /// The arena tensor an f32 command writes `out` to, with the FP8 encoding of a fused
    /// `quantize` (see [`Self::fused_quantize`]).
    fn float_output(&mut self, out: ValueRef) -> (TensorId, Option<Fp8Encoding>) {
        match self.fused_quantize(out) {
            Some((q, enc)) => (self.tensor(q), Some(enc)),
            None => (self.tensor(out), None),
        }
    }

    /// The weight block and output stage of an FP8 layer (FP8 data `xt`, FP8 weights
    /// `wt` whose codes are `weights`, `n` output channels), and its output value: `out`,
    /// or the FP8 quantization of `out` fused into the stage.
    #[allow(clippy::too_many_arguments)]
    fn fp8_layer(
        &mut self,
        xt: &TensorType,
        wt: &TensorType,
        weights: Vec<i8>,
        bias: Option<&ValueRef>,
        n: usize,
        activation: Option<Activation>,
        out: ValueRef,
    ) -> std::result::Result<(usize, Fp8Stage, ValueRef), Reason> {
        let g = self.g;
        let input_format = Fp8Format::of(xt.dtype).ok_or("data is not FP8")?;
        let format = Fp8Format::of(wt.dtype).ok_or("FP8 data needs FP8 weights")?;
        let scales = type_scales(wt, n, "weights")?;
        let input_scale = type_scales(xt, 1, "input")?[0];
        let bias = match bias {
            None => vec![0.0; n],
            Some(&b) => match g.const_value(b) {
                Some(Tensor::F32(a)) if a.len() == n => a.iter().copied().collect(),
                _ => {
                    return Err(format!(
                        "FP8 layers need an f32 constant bias of {n} values"
                    ))
                }
            },
        };
        let ot = g.ty(out);
        let (output, value) = match Fp8Format::of(ot.dtype) {
            Some(format) => (
                Some(Fp8Encoding {
                    format,
                    scale: type_scales(ot, 1, "output")?[0],
                }),
                out,
            ),
            None if ot.dtype == DType::F32 => match self.fused_quantize(out) {
                Some((q, enc)) => (Some(enc), q),
                None => (None, out),
            },
            None => return Err(format!("FP8 layer with {} output", ot.dtype)),
        };
        self.weights.push(WeightBlock {
            weights,
            weight_zero_points: vec![],
            bias: vec![],
            requant: vec![],
            fp8: Some(Fp8Weights {
                format,
                scales,
                bias,
            }),
        });
        let stage = Fp8Stage {
            input_format,
            input_scale,
            activation,
            output,
        };
        Ok((self.weights.len() - 1, stage, value))
    }

    fn conv(
        &mut self,
        name: &str,
        c: &ConvAttrs,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> std::result::Result<Conv2d, Reason> {
        let g = self.g;
        let [x, w] = [ins.first(), ins.get(1)].map(|v| v.copied());
        let (Some(x), Some(w)) = (x, w) else {
            return Err("conv needs input and weights".into());
        };
        let (xt, ot) = (g.ty(x), g.ty(out));
        if xt.shape.len() != 4 || ot.shape.len() != 4 {
            return Err("conv on non-4-D tensors".into());
        }
        let fp8 = Fp8Format::of(xt.dtype).is_some();
        let [(in_scale, in_zp), (out_scale, out_zp)] = layer_quant(xt, ot, fp8)?;
        let (wv, wt) = layer_weights(g, w, 4)?;
        let ws = wv.shape();
        // Canonical OHWI.
        let (o, kh, kw, i) = match c.layout {
            Layout::Nhwc => (ws[0], ws[1], ws[2], ws[3]),
            Layout::Nchw => (ws[0], ws[2], ws[3], ws[1]),
        };
        let ca = c.layout.channel_axis();
        let (cin, cout) = (xt.shape[ca], ot.shape[ca]);
        let groups = c.group.max(1);
        if o != cout || cin != i * groups || !cout.is_multiple_of(groups) {
            return Err(format!(
                "weights {ws:?} do not match {cin} -> {cout} channels in {groups} groups"
            ));
        }
        let raw = weight_values(wv, wt)?;
        let weights = match c.layout {
            Layout::Nhwc => raw.values,
            Layout::Nchw => {
                let mut t = vec![0i8; raw.values.len()];
                for oo in 0..o {
                    for ii in 0..i {
                        for y in 0..kh {
                            for xx in 0..kw {
                                t[((oo * kh + y) * kw + xx) * i + ii] =
                                    raw.values[((oo * i + ii) * kh + y) * kw + xx];
                            }
                        }
                    }
                }
                t
            }
        };
        let (block, stage, fp8, out) = if fp8 {
            let (b, st, v) =
                self.fp8_layer(xt, wt, weights, ins.get(2), cout, c.activation, out)?;
            (b, OutputStage::default(), Some(st), v)
        } else {
            let block = self.weight_block(
                wt,
                weights,
                raw.shift,
                ins.get(2),
                cout,
                in_scale,
                out_scale,
            )?;
            let (act_min, act_max) = act_range(c.activation, ot)?;
            let stage = OutputStage {
                input_zero_point: in_zp,
                output_zero_point: out_zp,
                act_min,
                act_max,
            };
            (block, stage, None, out)
        };
        Ok(Conv2d {
            name: name.to_string(),
            input: self.tensor(x),
            output: self.tensor(out),
            weights: block,
            layout: c.layout,
            kernel: [kh, kw],
            strides: c.strides,
            dilations: c.dilations,
            pads: c.pads,
            groups,
            stage,
            fp8,
            transposed: false,
        })
    }

    fn fully_connected(
        &mut self,
        name: &str,
        trans_b: bool,
        act: Option<Activation>,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> std::result::Result<FullyConnected, Reason> {
        let g = self.g;
        let (Some(&x), Some(&w)) = (ins.first(), ins.get(1)) else {
            return Err("gemm needs two inputs".into());
        };
        let (xt, ot) = (g.ty(x), g.ty(out));
        if xt.shape.len() != 2 {
            return Err("fully connected input is not 2-D".into());
        }
        let fp8 = Fp8Format::of(xt.dtype).is_some();
        let [(in_scale, in_zp), (out_scale, out_zp)] = layer_quant(xt, ot, fp8)?;
        let (wv, wt) = layer_weights(g, w, 2)?;
        let ws = wv.shape();
        let (nout, k) = if trans_b {
            (ws[0], ws[1])
        } else {
            (ws[1], ws[0])
        };
        if k != xt.shape[1] || ot.shape != [xt.shape[0], nout] {
            return Err(format!("weights {ws:?} do not match input {:?}", xt.shape));
        }
        let raw = weight_values(wv, wt)?;
        let weights = if trans_b {
            raw.values
        } else {
            let mut t = vec![0i8; raw.values.len()];
            for kk in 0..k {
                for j in 0..nout {
                    t[j * k + kk] = raw.values[kk * nout + j];
                }
            }
            t
        };
        let (block, stage, fp8, out) = if fp8 {
            let (b, st, v) = self.fp8_layer(xt, wt, weights, ins.get(2), nout, act, out)?;
            (b, OutputStage::default(), Some(st), v)
        } else {
            let block = self.weight_block(
                wt,
                weights,
                raw.shift,
                ins.get(2),
                nout,
                in_scale,
                out_scale,
            )?;
            let (act_min, act_max) = act_range(act, ot)?;
            let stage = OutputStage {
                input_zero_point: in_zp,
                output_zero_point: out_zp,
                act_min,
                act_max,
            };
            (block, stage, None, out)
        };
        Ok(FullyConnected {
            name: name.to_string(),
            input: self.tensor(x),
            output: self.tensor(out),
            weights: block,
            stage,
            fp8,
        })
    }

    /// Builds the weight block of a conv or fully connected layer: per-channel weight
    /// zero points, bias and requantization (`PopulateConvolutionQuantizationParams`).
    #[allow(clippy::too_many_arguments)]
    fn weight_block(
        &mut self,
        wt: &TensorType,
        weights: Vec<i8>,
        zp_shift: i32,
        bias: Option<&ValueRef>,
        n: usize,
        in_scale: f32,
        out_scale: f32,
    ) -> std::result::Result<usize, Reason> {
        if Fp8Format::of(wt.dtype).is_some() {
            return Err("FP8 weights with integer data".into());
        }
        let wq = wt.quant.as_ref().ok_or("weights are not quantized")?;
        if wq.scale.len() != 1 && wq.scale.len() != n {
            return Err(format!(
                "weights have {} scales for {n} channels",
                wq.scale.len()
            ));
        }
        let params: Vec<(f32, i64)> = (0..n).map(|i| wq.at(i)).collect();
        let bias = match bias {
            None => vec![0; n],
            Some(&b) => {
                let bv = self.g.const_value(b).ok_or("bias is not constant")?;
                if !matches!(bv.dtype(), DType::I8 | DType::U8 | DType::I16 | DType::I32) {
                    return Err(format!("{} bias", bv.dtype()));
                }
                let v: Vec<i32> = bv
                    .to_i64_vec()
                    .ok_or("bias is not integer")?
                    .into_iter()
                    .map(|x| x as i32)
                    .collect();
                if v.len() != n {
                    return Err(format!("bias has {} values, expected {n}", v.len()));
                }
                v
            }
        };
        let requant = params
            .iter()
            .map(|&(ws, _)| {
                let (multiplier, shift) =
                    quantize_multiplier(in_scale as f64 * ws as f64 / out_scale as f64);
                Requant { multiplier, shift }
            })
            .collect();
        self.weights.push(WeightBlock {
            weights,
            weight_zero_points: params.iter().map(|p| p.1 as i32 - zp_shift).collect(),
            bias,
            requant,
            fp8: None,
        });
        Ok(self.weights.len() - 1)
    }

    fn elementwise(
        &mut self,
        name: &str,
        kind: BinaryKind,
        act: Option<Activation>,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> std::result::Result<Elementwise, Reason> {
        let g = self.g;
        let [a, b] = match ins {
            [a, b] => [*a, *b],
            _ => return Err("binary op needs two inputs".into()),
        };
        let ot = g.ty(out);
        if !matches!(ot.dtype, DType::I8 | DType::U8) {
            return Err(format!("{} output", ot.dtype));
        }
        let (s1, z1) = act_quant(g.ty(a))?;
        let (s2, z2) = act_quant(g.ty(b))?;
        let (so, zo) = act_quant(ot)?;
        let rq = |m: f64| {
            let (multiplier, shift) = quantize_multiplier(m);
            Requant { multiplier, shift }
        };
        let kind = match kind {
            BinaryKind::Add | BinaryKind::Sub => {
                // TFLite's PrepareGeneralSubOp / add: computed in f32, then f64.
                let left_shift = 20;
                let twice_max = (2.0f32 * s1.max(s2)) as f64;
                ElementwiseKind::AddSub {
                    subtract: kind == BinaryKind::Sub,
                    left_shift,
                    input_a: rq(s1 as f64 / twice_max),
                    input_b: rq(s2 as f64 / twice_max),
                    output: rq(twice_max / ((1i32 << left_shift) as f32 * so) as f64),
                }
            }
            BinaryKind::Mul => ElementwiseKind::Mul {
                output: rq((s1 * s2 / so) as f64),
            },
            other => return Err(format!("the NPU has no binary {other:?} kernel")),
        };
        let (act_min, act_max) = act_range(act, ot)?;
        Ok(Elementwise {
            name: name.to_string(),
            a: self.tensor(a),
            b: self.tensor(b),
            output: self.tensor(out),
            kind,
            a_zero_point: z1,
            b_zero_point: z2,
            output_zero_point: zo,
            act_min,
            act_max,
            encode: None,
        })
    }

    fn pool(
        &mut self,
        name: &str,
        op: &Op,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> std::result::Result<Pool, Reason> {
        let Op::Pool { pool, activation } = op else {
            return Err("not a pool op".into());
        };
        let g = self.g;
        let x = *ins.first().ok_or("missing input")?;
        let (xt, ot) = (g.ty(x), g.ty(out));
        if pool.kernel.len() != 2
            || pool.strides.len() != 2
            || pool.pads.len() != 4
            || xt.shape.len() != 4
        {
            return Err("pooling over other than 2 spatial axes".into());
        }
        let (Some(window), false) = (pool.window_2d(), pool.ceil_mode) else {
            return Err("pooling with dilation or ceil mode".into());
        };
        if pool.averages_padding() {
            return Err("average pooling that counts padding".into());
        }
        let float = xt.dtype == DType::F32 && ot.dtype == DType::F32;
        let (act_min, act_max, activation) = if float {
            (0, 0, *activation)
        } else {
            if act_quant(xt)? != act_quant(ot)? || xt.dtype != ot.dtype {
                return Err("pooling with requantization".into());
            }
            let (lo, hi) = act_range(*activation, ot)?;
            (lo, hi, None)
        };
        // f32 pooling absorbs a quantize of its result (after every check above).
        let (output, encode) = if float {
            self.float_output(out)
        } else {
            (self.tensor(out), None)
        };
        Ok(Pool {
            name: name.to_string(),
            input: self.tensor(x),
            output,
            kind: match pool.kind {
                nnopt_compiler::ir::PoolKind::Max => PoolKind::Max,
                nnopt_compiler::ir::PoolKind::Avg => PoolKind::Avg,
            },
            layout: pool.layout,
            kernel: window.kernel,
            strides: window.strides,
            pads: window.pads,
            act_min,
            act_max,
            activation,
            encode,
        })
    }

    fn reduce(
        &mut self,
        name: &str,
        kind: ReduceKind,
        axes: &[usize],
        ins: &[ValueRef],
        out: ValueRef,
    ) -> std::result::Result<Reduce, Reason> {
        let g = self.g;
        let x = *ins.first().ok_or("missing input")?;
        let (xt, ot) = (g.ty(x), g.ty(out));
        if !matches!(kind, ReduceKind::Mean | ReduceKind::Sum) {
            return Err(format!("the NPU has no reduce {kind:?} kernel"));
        }
        if axes.iter().any(|&a| a >= xt.shape.len()) {
            return Err("reduction axis out of range".into());
        }
        let (si, zi) = act_quant(xt)?;
        let (so, zo) = act_quant(ot)?;
        let count: i64 = axes.iter().map(|&a| xt.shape[a] as i64).product();
        // TFLite's QuantizedMeanOrSum: a mean folds 1 / count into the multiplier.
        let (mut m, mut shift) = quantize_multiplier(si as f64 / so as f64);
        if kind == ReduceKind::Mean && count > 0 {
            let sh = (63 - (count as u64).leading_zeros() as i32)
                .min(32)
                .min(31 + shift);
            m = (((m as i64) << sh) / count) as i32;
            shift -= sh;
        }
        let (act_min, act_max) = act_range(None, ot)?;
        Ok(Reduce {
            name: name.to_string(),
            input: self.tensor(x),
            output: self.tensor(out),
            axes: axes.to_vec(),
            input_zero_point: zi,
            output_zero_point: zo,
            requant: Requant {
                multiplier: m,
                shift,
            },
            act_min,
            act_max,
            float: None,
            encode: None,
        })
    }

    /// Builds the CPU segment of a run of fallback nodes: an IR subgraph whose inputs are
    /// the values it reads from the arena and whose outputs are the values read later.
    fn segment(&mut self, run: &[NodeIndex], outputs: &[IoBinding]) -> Result<CpuSegment> {
        let g = self.g;
        let members: HashSet<NodeIndex> = run.iter().copied().collect();
        let bound: HashSet<TensorId> = outputs.iter().map(|b| b.tensor).collect();
        let mut sg = Graph::new(format!("{}.cpu", g.name));
        let mut map: HashMap<ValueRef, ValueRef> = HashMap::new();
        let mut seg_inputs = Vec::new();
        for &n in run {
            for v in g.node_inputs(n) {
                if map.contains_key(&v) || members.contains(&v.node) {
                    continue;
                }
                let val = g.value(v);
                let new = match g.const_value(v) {
                    Some(t) => sg.add_const(val.name.clone(), t.clone(), val.ty.quant.clone()),
                    None => {
                        seg_inputs.push(self.tensor(v));
                        sg.add_input(val.name.clone(), val.ty.clone())
                    }
                };
                map.insert(v, new);
            }
            let node = g.node(n);
            let ins: Vec<ValueRef> = g.node_inputs(n).iter().map(|v| map[v]).collect();
            let new = sg.add_node(
                node.name.clone(),
                node.op.clone(),
                &ins,
                node.outputs.clone(),
            );
            for k in 0..node.outputs.len() {
                map.insert(
                    ValueRef { node: n, output: k },
                    ValueRef {
                        node: new,
                        output: k,
                    },
                );
            }
        }
        let mut seg_outputs = Vec::new();
        let mut sg_outputs = Vec::new();
        for &n in run {
            for k in 0..g.node(n).outputs.len() {
                let v = ValueRef { node: n, output: k };
                let used_outside = g.consumers(v).iter().any(|(c, _)| !members.contains(c))
                    || self.tensor_of.get(&v).is_some_and(|t| bound.contains(t));
                if used_outside {
                    seg_outputs.push(self.tensor(v));
                    sg_outputs.push(map[&v]);
                }
            }
        }
        sg.set_outputs(sg_outputs);
        let text = print_graph(
            &sg,
            &PrintOptions {
                elide_constants_over: None,
            },
        );
        Ok(CpuSegment {
            graph: text,
            inputs: seg_inputs,
            outputs: seg_outputs,
            nodes: run.iter().map(|&n| g.node(n).name.clone()).collect(),
        })
    }
}

/// Weight values as int8, with the shift applied to uint8 data (and its zero points).
struct RawWeights {
    values: Vec<i8>,
    shift: i32,
}

fn weight_values(w: &Tensor, wt: &TensorType) -> std::result::Result<RawWeights, Reason> {
    match w {
        Tensor::I8(a) => Ok(RawWeights {
            values: a.iter().copied().collect(),
            shift: 0,
        }),
        Tensor::U8(a) => Ok(RawWeights {
            values: a.iter().map(|&v| (v as i32 - 128) as i8).collect(),
            shift: 128,
        }),
        // FP8 codes, kept bit for bit.
        Tensor::F8E4M3(a) | Tensor::F8E5M2(a) => Ok(RawWeights {
            values: a.iter().map(|&v| v as i8).collect(),
            shift: 0,
        }),
        _ => Err(format!("{} weights ({wt})", w.dtype())),
    }
}

/// Whether values of `d` are f32 or FP8 (lowered by [`Lowering::lower_float`]).
fn is_float(d: DType) -> bool {
    d == DType::F32 || Fp8Format::of(d).is_some()
}

/// The scales of a float-quantized type, as the interpreter's FP8 kernels read them: one
/// per tensor (1 without parameters) repeated `n` times, or `n`.
fn type_scales(ty: &TensorType, n: usize, what: &str) -> std::result::Result<Vec<f32>, Reason> {
    let s = ty.quant.as_ref().map_or(vec![1.0], |q| q.scale.clone());
    match s.len() {
        1 => Ok(vec![s[0]; n]),
        k if k == n => Ok(s),
        k => Err(format!("{what} has {k} scales, expected 1 or {n}")),
    }
}

/// The per-tensor scale of an FP8 `quantize` output.
fn tensor_scale(ty: &TensorType) -> std::result::Result<f32, Reason> {
    match &ty.quant {
        Some(q) if q.scale.len() == 1 => Ok(q.scale[0]),
        _ => Err("FP8 quantization needs one per-tensor scale".into()),
    }
}

/// The per-tensor scale and zero point of an integer activation.
type ActQuant = (f32, i32);

/// The (scale, zero point) of a conv or fully connected layer's input and output; unit
/// for FP8 layers, whose scales live in their FP8 stage.
fn layer_quant(
    xt: &TensorType,
    ot: &TensorType,
    fp8: bool,
) -> std::result::Result<[ActQuant; 2], Reason> {
    if fp8 {
        return Ok([(1.0, 0); 2]);
    }
    Ok([act_quant(xt)?, act_quant(ot)?])
}

/// A layer's constant weights of the given rank and their type.
fn layer_weights(
    g: &Graph,
    w: ValueRef,
    rank: usize,
) -> std::result::Result<(&Tensor, &TensorType), Reason> {
    let wv = g.const_value(w).ok_or("weights are not constant")?;
    if wv.shape().len() != rank {
        return Err(format!("weights are not {rank}-D"));
    }
    Ok((wv, g.ty(w)))
}

/// Per-tensor scale and zero point of an integer activation.
fn act_quant(ty: &TensorType) -> std::result::Result<(f32, i32), Reason> {
    if !matches!(ty.dtype, DType::I8 | DType::U8 | DType::I16) {
        return Err(format!("{} activations", ty.dtype));
    }
    match &ty.quant {
        Some(q) if q.scale.len() == 1 => Ok((q.scale[0], q.zero_point[0] as i32)),
        Some(_) => Err("per-axis quantized activations".into()),
        None => Err("unquantized activations".into()),
    }
}

/// The output clamp of a fused activation (TFLite's `CalculateActivationRangeQuantized`).
fn act_range(act: Option<Activation>, out: &TensorType) -> std::result::Result<(i32, i32), Reason> {
    activation_range(act, out).map_err(|e| e.message)
}

/// Places every buffer (alias groups share one) and fills in tensor offsets and the arena
/// size. Returns (arena bytes, naive bytes).
fn place(p: &mut Program, root: &[TensorId]) -> (usize, usize) {
    let n_steps = p.commands.len() + 2;
    let mut first = vec![usize::MAX; p.tensors.len()];
    let mut last = vec![0usize; p.tensors.len()];
    for b in &p.inputs {
        first[root[b.tensor]] = 0;
    }
    for b in &p.outputs {
        last[root[b.tensor]] = n_steps - 1;
    }
    for (k, c) in p.commands.iter().enumerate() {
        let step = k + 1;
        for t in c.outputs(p) {
            first[root[t]] = first[root[t]].min(step);
        }
        for t in c.inputs(p) {
            last[root[t]] = last[root[t]].max(step);
        }
    }
    let roots: Vec<TensorId> = (0..p.tensors.len()).filter(|&t| root[t] == t).collect();
    let buffers: Vec<Buffer> = roots
        .iter()
        .map(|&t| {
            let f = first[t].min(last[t]);
            Buffer {
                size: p.tensors[t].size,
                first: f,
                last: last[t].max(f),
            }
        })
        .collect();
    let plan = alloc::plan(&buffers);
    let offset_of: BTreeMap<TensorId, usize> = roots.iter().copied().zip(plan.offsets).collect();
    for t in 0..p.tensors.len() {
        p.tensors[t].offset = offset_of[&root[t]];
    }
    p.arena_size = plan.arena_size;
    (plan.arena_size, plan.naive_size)
}
