//! The in-memory NPU program: the contract between lowering, memory planning, the binary
//! format and the virtual NPU.
//!
//! A [`Program`] is plain data. Activations live in one byte arena (little-endian
//! elements); each [`TensorDesc`] names a slice of it. [`Command`]s run in order, read
//! and write arena tensors by id and take precomputed weights, biases and
//! requantization parameters from [`WeightBlock`]s by index, so the NPU never sees a
//! float scale. Ops the NPU cannot run are kept as IR subgraphs ([`CpuSegment`]) that
//! the runtime executes with the reference interpreter.
//!
//! Layout: 4-D activations keep the source model's layout (NHWC for TFLite, NCHW for
//! ONNX), named by each spatial command; weights are always stored OHWI. Memory aliases
//! (reshape, squeeze, identity) cost nothing: their output tensor shares the input's
//! arena bytes, so they produce no command.

use nnopt_compiler::ir::{DType, Layout, QuantParams, QuantizeRounding};
use serde::{Deserialize, Serialize};

/// Index of a tensor in [`Program::tensors`].
pub type TensorId = usize;

/// A compiled NPU program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// Source model name.
    pub name: String,
    /// Graph inputs in order: how caller data enters the arena.
    pub inputs: Vec<IoBinding>,
    /// Graph outputs in order: how results leave the arena.
    pub outputs: Vec<IoBinding>,
    /// Every arena tensor (activations, graph inputs and outputs).
    pub tensors: Vec<TensorDesc>,
    /// Size of the activation arena in bytes.
    pub arena_size: usize,
    /// The schedule, executed in order.
    pub commands: Vec<Command>,
    /// Constant data of the commands that take weights.
    pub weights: Vec<WeightBlock>,
    /// IR subgraphs run on the CPU by [`Command::Cpu`].
    pub cpu_segments: Vec<CpuSegment>,
}

/// One tensor in the arena.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorDesc {
    /// Name of the IR value it holds.
    pub name: String,
    /// Element type (integer types on the NPU; CPU segments may exchange f32).
    pub dtype: DType,
    /// Logical shape, row-major.
    pub shape: Vec<usize>,
    /// Quantization parameters, when the values are quantized.
    pub quant: Option<QuantParams>,
    /// Byte offset in the arena.
    pub offset: usize,
    /// Size in bytes (`elements * dtype size`).
    pub size: usize,
}

impl TensorDesc {
    /// Number of elements.
    pub fn num_elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// The arena byte range of this tensor.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.size
    }
}

/// How a caller-visible graph input or output maps to an arena tensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IoBinding {
    /// Name of the source model's input or output.
    pub name: String,
    /// The arena tensor.
    pub tensor: TensorId,
    /// Element type the caller passes or receives (f32 for a float model).
    pub dtype: DType,
    /// Shape the caller passes or receives.
    pub shape: Vec<usize>,
    /// Conversion between the caller's data and the arena tensor.
    pub conversion: IoConversion,
}

/// Boundary conversion of an [`IoBinding`]; quantization parameters are the arena
/// tensor's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IoConversion {
    /// The caller's data is stored as is.
    None,
    /// f32 input quantized into the arena with the given rounding rule.
    Quantize { rounding: QuantizeRounding },
    /// Arena integers dequantized to f32 on output.
    Dequantize,
}

/// A fixed-point multiplier: `x * multiplier * 2^(shift - 31)` with TFLite's rounding
/// (`MultiplyByQuantizedMultiplier`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requant {
    pub multiplier: i32,
    pub shift: i32,
}

/// Constant data of one command, precomputed at compile time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightBlock {
    /// Weights: OHWI `[out, kh, kw, in / groups]` for convolutions, `[out, in]` for fully
    /// connected layers. uint8 weights are stored shifted by -128 (zero points too).
    pub weights: Vec<i8>,
    /// Weight zero point per output channel (0 for TFLite's symmetric weights).
    pub weight_zero_points: Vec<i32>,
    /// int32 bias per output channel (zeros when the op has none).
    pub bias: Vec<i32>,
    /// Output requantization per output channel.
    pub requant: Vec<Requant>,
}

/// Requantization of a convolution or fully connected result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputStage {
    /// Zero point subtracted from the input (`input_offset = -zp` in TFLite).
    pub input_zero_point: i32,
    /// Zero point added to the requantized result.
    pub output_zero_point: i32,
    /// Clamp of the fused activation in the output's integer domain.
    pub act_min: i32,
    pub act_max: i32,
}

/// 2-D convolution, grouped or depthwise: output channel `oc` reads input channels of
/// group `oc / (out_channels / groups)`; depthwise with a depth multiplier `m` is
/// `groups = in_channels`, `out_channels = m * in_channels`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2d {
    /// Source node name.
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub weights: usize,
    pub layout: Layout,
    /// Kernel `[height, width]`.
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub dilations: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    pub groups: usize,
    pub stage: OutputStage,
}

/// Fully connected layer: input `[batch, in]` (any shape flattened to it), weights
/// `[out, in]`, output `[batch, out]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FullyConnected {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub weights: usize,
    pub stage: OutputStage,
}

/// Kind of an elementwise command with its precomputed parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ElementwiseKind {
    /// TFLite int8 add/sub: both inputs shifted left by `left_shift`, rescaled by their
    /// multipliers, summed (or subtracted), then rescaled to the output.
    AddSub {
        subtract: bool,
        left_shift: i32,
        input_a: Requant,
        input_b: Requant,
        output: Requant,
    },
    /// TFLite int8 mul: the product of the centered inputs rescaled to the output.
    Mul { output: Requant },
}

/// Binary elementwise op with numpy broadcasting of `a` and `b` to the output shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Elementwise {
    pub name: String,
    pub a: TensorId,
    pub b: TensorId,
    pub output: TensorId,
    pub kind: ElementwiseKind,
    pub a_zero_point: i32,
    pub b_zero_point: i32,
    pub output_zero_point: i32,
    pub act_min: i32,
    pub act_max: i32,
}

/// Pooling kinds of the NPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    Max,
    /// Average over the window's taps inside the input, rounded half away from zero.
    Avg,
}

/// 2-D max or average pooling with equal input and output quantization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub kind: PoolKind,
    pub layout: Layout,
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    pub act_min: i32,
    pub act_max: i32,
}

/// Mean or sum over `axes` (e.g. global average pooling): the int32 sum of each output's
/// inputs minus `count * input_zero_point`, requantized with `requant` (a mean folds
/// `1 / count` into it, as TFLite's `QuantizedMeanOrSum`), clamped to the output type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reduce {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    /// Reduced axes of the input.
    pub axes: Vec<usize>,
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    pub requant: Requant,
    pub act_min: i32,
    pub act_max: i32,
}

/// Concatenation along `axis` of inputs that share the output's quantization: a copy of
/// each input's rows into the output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Concat {
    pub name: String,
    pub inputs: Vec<TensorId>,
    pub output: TensorId,
    pub axis: usize,
}

/// One step of the schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command {
    Conv2d(Conv2d),
    FullyConnected(FullyConnected),
    Elementwise(Elementwise),
    Pool(Pool),
    Reduce(Reduce),
    Concat(Concat),
    /// Run [`Program::cpu_segments`]`[segment]` on the CPU.
    Cpu {
        segment: usize,
    },
}

/// An IR subgraph the NPU cannot run, executed by the reference interpreter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CpuSegment {
    /// The subgraph in IR text form with full constants
    /// (`nnopt_compiler::ir::text::parse_graph` reads it back). Its inputs and outputs
    /// are in the order of `inputs` and `outputs`.
    pub graph: String,
    /// Arena tensors fed to the subgraph's inputs.
    pub inputs: Vec<TensorId>,
    /// Arena tensors receiving the subgraph's outputs.
    pub outputs: Vec<TensorId>,
    /// Names of the IR nodes it contains, in order.
    pub nodes: Vec<String>,
}

impl Command {
    /// Arena tensors read by the command (for CPU segments: the segment's inputs).
    pub fn inputs<'a>(&'a self, p: &'a Program) -> Vec<TensorId> {
        match self {
            Command::Conv2d(c) => vec![c.input],
            Command::FullyConnected(c) => vec![c.input],
            Command::Elementwise(c) => vec![c.a, c.b],
            Command::Pool(c) => vec![c.input],
            Command::Reduce(c) => vec![c.input],
            Command::Concat(c) => c.inputs.clone(),
            Command::Cpu { segment } => p
                .cpu_segments
                .get(*segment)
                .map_or_else(Vec::new, |s| s.inputs.clone()),
        }
    }

    /// Arena tensors written by the command.
    pub fn outputs<'a>(&'a self, p: &'a Program) -> Vec<TensorId> {
        match self {
            Command::Conv2d(c) => vec![c.output],
            Command::FullyConnected(c) => vec![c.output],
            Command::Elementwise(c) => vec![c.output],
            Command::Pool(c) => vec![c.output],
            Command::Reduce(c) => vec![c.output],
            Command::Concat(c) => vec![c.output],
            Command::Cpu { segment } => p
                .cpu_segments
                .get(*segment)
                .map_or_else(Vec::new, |s| s.outputs.clone()),
        }
    }

    /// Short kind name for reports (`conv2d`, `cpu`, ...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Command::Conv2d(_) => "conv2d",
            Command::FullyConnected(_) => "fully_connected",
            Command::Elementwise(_) => "elementwise",
            Command::Pool(_) => "pool",
            Command::Reduce(_) => "reduce",
            Command::Concat(_) => "concat",
            Command::Cpu { .. } => "cpu",
        }
    }
}
