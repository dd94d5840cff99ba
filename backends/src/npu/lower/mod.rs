//! Lowering of a quantized IR graph to an NPU [`Program`].
//!
//! Nodes are visited in the graph's deterministic topological order. Each becomes an NPU
//! command (convolution, transposed convolution, fully connected, add/sub/mul, parametric
//! ReLU, softmax, pooling, mean/sum, concatenation, constant padding, resize,
//! requantization of wide integers, and table lookups for standalone activations,
//! functions of one operand and requantizations of 8-bit codes), a free memory alias (reshape, identity), part of an
//! IO conversion (a float input's `quantize`, a float output's `dequantize`) or a CPU
//! fallback. A fallback whose op has a host kernel (SVDF, LiteRT's float-table softmax)
//! becomes its host-CPU command; other consecutive fallbacks form one [`CpuSegment`].
//! Requantization parameters are computed here exactly as the reference interpreter
//! computes them, so the virtual NPU only does integer arithmetic.
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
//!
//! This module drives the lowering and dispatches each node to its command family's
//! module; the nodes come checked by [`supported`](super::supported), and the
//! arena offsets are left to arena planning ([`alloc::place`](super::alloc::place)).

mod conv;
mod elementwise;
mod float;
mod host;
mod io;
mod moves;
mod pointwise;
mod pool;
mod quant;
mod segment;

use super::program::*;
use super::report::{Fallback, LoweringReport};
use super::supported::{self, Placement, Reason, Support};
use nnopt_compiler::ir::{Graph, NodeIndex, Op, PadMode, ValueRef};
use nnopt_compiler::{Error, Result};
use std::collections::{HashMap, HashSet};

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

/// A lowered program whose tensors are not placed in the arena yet.
#[derive(Clone, Debug)]
pub struct Lowered {
    /// The program, every tensor at offset 0 and an arena size of 0.
    pub program: Program,
    /// Fallbacks and NPU ops (the arena figures are filled in by arena planning).
    pub report: LoweringReport,
    /// For each tensor, the tensor whose buffer it shares (itself unless an alias).
    pub buffer_of: Vec<TensorId>,
}

/// Lowers `g`, whose nodes `support` has checked, to an NPU program.
pub fn lower(g: &Graph, support: &Support, opts: &LowerOptions) -> Result<Lowered> {
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
            match support.nodes.get(&n) {
                Some(Ok(placement)) => l.lower_node(n, *placement),
                Some(Err(reason)) => Err(reason.clone()),
                None => Err("not checked for NPU support".into()),
            }
        };
        match what {
            Ok(cmd) => {
                *report.npu_ops.entry(node.op.detailed_name()).or_default() += 1;
                if let Some(c) = cmd {
                    open_run.clear();
                    items.push(Item::Command(c));
                }
            }
            Err(reason) if opts.cpu_fallback => {
                report.fallbacks.push(Fallback {
                    node: node.name.clone(),
                    op: node.op.detailed_name(),
                    reason,
                });
                match l.host_command(n) {
                    Some(c) => {
                        open_run.clear();
                        items.push(Item::Command(c));
                    }
                    None => {
                        open_run.insert(n);
                        items.push(Item::Cpu(n));
                    }
                }
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
            Item::Command(c) => {
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
    let program = Program {
        name: g.name.clone(),
        inputs,
        outputs,
        tensors: l.tensors,
        arena_size: 0,
        commands,
        weights: l.weights,
        cpu_segments,
    };
    Ok(Lowered {
        program,
        report,
        buffer_of: l.root,
    })
}

/// One scheduled node before CPU runs are grouped.
enum Item {
    /// An NPU or host-CPU command.
    Command(Command),
    /// A node of a CPU segment.
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
}

impl<'g> Lowering<'g> {
    fn new(g: &'g Graph) -> Self {
        Lowering {
            g,
            tensors: Vec::new(),
            tensor_of: HashMap::new(),
            root: Vec::new(),
            weights: Vec::new(),
            absorbed: HashSet::new(),
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

    /// A tensor of `shape` over the bytes of `v`'s tensor (a free reshape), or that tensor
    /// itself when the shape is its own.
    fn view(&mut self, v: ValueRef, shape: Vec<usize>) -> TensorId {
        let base = self.tensor(v);
        if self.tensors[base].shape == shape {
            return base;
        }
        let desc = TensorDesc {
            name: format!("{}:view", self.tensors[base].name),
            shape,
            ..self.tensors[base].clone()
        };
        let id = self.tensors.len();
        self.tensors.push(desc);
        self.root.push(self.root[base]);
        id
    }

    /// Lowers one node that passed the common checks: `Ok(Some(command))`, `Ok(None)`
    /// for a free alias, or the reason it has to run on the CPU.
    fn lower_node(
        &mut self,
        n: NodeIndex,
        placement: Placement,
    ) -> std::result::Result<Option<Command>, Reason> {
        let g = self.g;
        let node = g.node(n);
        let ins = g.node_inputs(n);
        let out = ValueRef::first(n);
        match placement {
            Placement::Alias => {
                let tx = self.tensor(ins[0]);
                let root = self.root[tx];
                let t = self.tensor(out);
                self.root[t] = root;
                return Ok(None);
            }
            Placement::Float => return self.lower_float(n).map(Some),
            Placement::Integer => {}
        }
        Ok(Some(match &node.op {
            Op::Conv(c) => Command::Conv2d(self.conv(&node.name, c, &ins, out)?),
            Op::ConvTranspose { conv: c, .. } => {
                supported::transposed_conv_form(c)?;
                Command::Conv2d(Conv2d {
                    transposed: true,
                    ..self.conv(&node.name, c, &ins, out)?
                })
            }
            Op::Activation { .. } | Op::Unary { .. } => {
                Command::Lookup(self.lookup(&node.name, &node.op, &ins, out)?)
            }
            Op::Quantize { .. } => self.quantize(&node.name, &node.op, &ins, out)?,
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
            Op::Gemm { .. } => self.gemm(&node.name, &node.op, &ins, out)?,
            Op::MatMul => self.matmul(&node.name, &ins, out)?,
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
}
