//! The in-memory NPU program: the contract between lowering, memory planning, the binary
//! format and the virtual NPU.
//!
//! A [`Program`] is plain data. Activations live in one byte arena (little-endian
//! elements); each [`TensorDesc`] names a slice of it. [`Command`]s run in order, read
//! and write arena tensors by id and take precomputed weights, biases and
//! requantization parameters from [`WeightBlock`]s by index, so the NPU never sees a
//! float scale. Ops the NPU cannot run become host-CPU commands where the runtime has a
//! kernel for them ([`Svdf`], [`TableSoftmax`]: [`Command::on_host`]), else IR subgraphs
//! ([`CpuSegment`]) that the runtime executes with the reference interpreter.
//!
//! FP8 programs (`--precision fp8`) keep f32 activations between layers: a
//! [`Command::Quantize`] (or the output stage of the producing command) encodes the data
//! input of each FP8 convolution or fully connected layer, whose weight block holds FP8
//! codes with f32 scales and biases ([`Fp8Weights`]) and whose [`Fp8Stage`] scales the
//! exact FP8 dot product back to f32. f32 pooling, add/sub/mul and data moves run on the
//! NPU with the reference interpreter's float arithmetic.
//!
//! Layout: 4-D activations keep the source model's layout (NHWC for TFLite, NCHW for
//! ONNX), named by each spatial command; weights are always stored OHWI. Memory aliases
//! (reshape, squeeze, identity) cost nothing: their output tensor shares the input's
//! arena bytes, so they produce no command.

use nnopt_compiler::fp8::Fp8Format;
use nnopt_compiler::interp::SvdfParams;
use nnopt_compiler::ir::{
    Activation, BinaryKind, DType, Layout, QuantParams, QuantizeRounding, ReduceKind,
};
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
    /// FP8 blocks: `weights` holds FP8 codes (their bit patterns) and the integer parts
    /// above are empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp8: Option<Fp8Weights>,
}

impl WeightBlock {
    /// Bytes the block takes in memory: weights and per-channel parameters.
    pub fn decoded_bytes(&self) -> usize {
        let fp8 = self
            .fp8
            .as_ref()
            .map_or(0, |f| f.scales.len() + f.bias.len());
        self.weights.len()
            + 4 * (self.weight_zero_points.len() + self.bias.len() + fp8)
            + std::mem::size_of::<Requant>() * self.requant.len()
    }

    /// Number of output channels.
    pub fn channels(&self) -> usize {
        self.fp8
            .as_ref()
            .map_or(self.requant.len(), |f| f.scales.len())
    }

    /// The weight element type's name (`i8`, `f8e4m3`, `f8e5m2`).
    pub fn weight_type(&self) -> &'static str {
        match self.fp8.as_ref().map(|f| f.format) {
            None => "i8",
            Some(Fp8Format::E4M3) => "f8e4m3",
            Some(Fp8Format::E5M2) => "f8e5m2",
        }
    }
}

/// The FP8 part of a weight block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fp8Weights {
    /// Format of the weight codes.
    pub format: Fp8Format,
    /// Weight scale per output channel.
    pub scales: Vec<f32>,
    /// f32 bias per output channel (zeros when the op has none).
    pub bias: Vec<f32>,
}

/// Output stage of an FP8 convolution or fully connected layer: with `dot` the exact sum
/// of the FP8 products rounded once to f32, `y = dot * (input_scale * scale[c]) + bias[c]`
/// in f32, then the activation; stored as f32, or as FP8 `encode(y / s)` (round to
/// nearest even, saturating) when `output` is set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fp8Stage {
    /// Format of the input codes.
    pub input_format: Fp8Format,
    /// Per-tensor scale of the input.
    pub input_scale: f32,
    pub activation: Option<Activation>,
    /// FP8 output (a fused quantize); f32 when `None`.
    pub output: Option<Fp8Encoding>,
}

/// An FP8 encoding of f32 values: `encode(x / scale)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fp8Encoding {
    pub format: Fp8Format,
    pub scale: f32,
}

/// Requantization of a convolution or fully connected result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Integer output stage (unused by FP8 commands).
    pub stage: OutputStage,
    /// FP8 data and weights: the FP8 output stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp8: Option<Fp8Stage>,
    /// A transposed convolution (int8, NHWC, one group): output pixel `o` gathers the
    /// input pixels `i` with `i * stride + k * dilation - pad = o` for kernel tap `k`;
    /// the output's size is the IR's (output padding included).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transposed: bool,
}

/// Fully connected layer: input `[batch, in]` (any shape flattened to it), weights
/// `[out, in]`, output `[batch, out]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FullyConnected {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub weights: usize,
    /// Integer output stage (unused by FP8 commands).
    pub stage: OutputStage,
    /// FP8 data and weights: the FP8 output stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp8: Option<Fp8Stage>,
}

/// Kind of an elementwise command with its precomputed parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
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
    /// f32 add, sub or mul, then `activation` (zero points and clamps unused).
    F32 {
        op: BinaryKind,
        activation: Option<Activation>,
    },
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
    /// f32 commands: FP8 output (a fused quantize); f32 when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encode: Option<Fp8Encoding>,
}

/// Pooling kinds of the NPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    Max,
    /// Average over the window's taps inside the input, rounded half away from zero.
    Avg,
}

/// 2-D max or average pooling with equal input and output quantization, or on f32 data
/// (then `activation` applies and the integer clamp is unused).
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
    /// Fused activation of f32 pooling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    /// f32 pooling: FP8 output (a fused quantize); f32 when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encode: Option<Fp8Encoding>,
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
    /// An f32 reduction of this kind, with the interpreter's arithmetic (the integer
    /// parameters are unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub float: Option<ReduceKind>,
    /// f32 reduction: FP8 output (a fused quantize); f32 when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encode: Option<Fp8Encoding>,
}

/// Concatenation along `axis`: a copy of each input's rows into the output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Concat {
    pub name: String,
    pub inputs: Vec<TensorId>,
    pub output: TensorId,
    pub axis: usize,
    /// Empty when the inputs share the output's quantization; otherwise one 256-entry
    /// [`Lookup`] table per input (8-bit data) that requantizes its codes on the way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<u8>,
}

/// TFLite's integer resize of NHWC data (`ResizeBilinearInteger` when `bilinear`, else
/// `ResizeNearestNeighbor`) with equal input and output quantization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resize {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub bilinear: bool,
    pub align_corners: bool,
    pub half_pixel_centers: bool,
}

/// TFLite's reference int8 softmax along `axis` (`reference_ops::Softmax`): fixed-point
/// exponentials of the differences to the row maximum scaled by `multiplier` and
/// `left_shift`, normalized and written with the output type's minimum as zero point
/// (8-bit output, or 16-bit for int8 -> int16).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Softmax {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub axis: usize,
    pub multiplier: i32,
    pub left_shift: i32,
}

/// TFLite's `Requantize` between integer types of any width (int8, uint8, int16, int32;
/// 8-bit to 8-bit runs as a [`Lookup`]): `MultiplyByQuantizedMultiplier(x -
/// input_zero_point, requant) + output_zero_point`, clamped to the output type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Requantize {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    pub requant: Requant,
}

/// TFLite Micro's integer SVDF step (`EvalIntegerSvdfReference`) from a constant initial
/// state, on the host CPU: int8 input `[batch, input]` and output `[batch, filters /
/// rank]`, int8 or int16 (`state_type`) state and time weights; the next state is not
/// kept. Each filter's state row shifts one entry left and takes the requantized
/// (`feature`) dot product of the input and its feature weights as its newest entry;
/// the rows are dotted with their time weights, groups of `rank` filters summed with the
/// bias, requantized (`time`) to the output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Svdf {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub rank: usize,
    /// State entries per filter.
    pub memory: usize,
    /// I8 or I16: the element type of the state and the time weights.
    pub state_type: DType,
    /// `[filters, input]`.
    pub weights_feature: Vec<i8>,
    /// `[filters, memory]`, codes of `state_type`.
    pub weights_time: Vec<i16>,
    /// The initial state `[batch, filters * memory]`, codes of `state_type`.
    pub state: Vec<i16>,
    /// `[filters / rank]`.
    pub bias: Vec<i32>,
    pub input_zero_point: i32,
    pub state_zero_point: i32,
    pub output_zero_point: i32,
    /// Input times feature weights to the state's scale.
    pub feature: Requant,
    /// Filter sums to the output's scale.
    pub time: Requant,
}

impl Svdf {
    /// The step's sizes and parameters on input `x` and output `o`, if the tensors and
    /// the constants' lengths fit the command.
    pub fn params(&self, x: &TensorDesc, o: &TensorDesc) -> Option<SvdfParams> {
        let [batch, input] = <[usize; 2]>::try_from(x.shape.as_slice()).ok()?;
        let [batch2, units] = <[usize; 2]>::try_from(o.shape.as_slice()).ok()?;
        let filters = units.checked_mul(self.rank)?;
        let lengths = [
            (self.weights_feature.len(), filters.checked_mul(input)?),
            (self.weights_time.len(), filters.checked_mul(self.memory)?),
            (
                self.state.len(),
                batch.checked_mul(filters)?.checked_mul(self.memory)?,
            ),
            (self.bias.len(), units),
        ];
        let fits = x.dtype == DType::I8
            && o.dtype == DType::I8
            && batch == batch2
            && self.rank > 0
            && self.memory > 0
            && matches!(self.state_type, DType::I8 | DType::I16)
            && lengths.iter().all(|(have, want)| have == want);
        fits.then_some(SvdfParams {
            batch,
            input,
            filters,
            memory: self.memory,
            rank: self.rank,
            input_zero_point: self.input_zero_point,
            state_zero_point: self.state_zero_point,
            output_zero_point: self.output_zero_point,
            feature: (self.feature.multiplier, self.feature.shift),
            time: (self.time.multiplier, self.time.shift),
            state_i16: self.state_type == DType::I16,
        })
    }
}

/// LiteRT's float-table softmax (`optimized_ops::Softmax`) of 8-bit codes along `axis`,
/// on the host CPU: `table[255 - d]` is the exponential of a code's distance `d` to its
/// row's maximum; probabilities are scaled by `1 / (sum * output_scale)` in f32, rounded
/// half away from zero and offset by `output_zero_point` (same input and output type).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableSoftmax {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub axis: usize,
    /// 256 entries.
    pub table: Vec<f32>,
    pub output_scale: f32,
    pub output_zero_point: i32,
}

/// A 256-entry table lookup on 8-bit codes: `output = table[input as u8]` per element
/// (int8 codes index by their two's-complement byte). Standalone int8 activations
/// (sigmoid, tanh, hard swish, ...) and requantizations become tables computed at
/// compile time with the reference interpreter's integer kernel, so they are exact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lookup {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub table: Vec<u8>,
}

/// TFLite's int8 parametric ReLU: with `d = x - input_zero_point`, `y = d` requantized by
/// `identity` when `d >= 0`, else `d * alpha` requantized by `negative`; then
/// `output_zero_point` is added and the result clamped to `[act_min, act_max]`. `alpha`
/// (slope codes minus their zero point, shape `alpha_shape`) broadcasts against the input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PRelu {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub alpha: Vec<i16>,
    pub alpha_shape: Vec<usize>,
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    pub identity: Requant,
    pub negative: Requant,
    pub act_min: i32,
    pub act_max: i32,
}

/// f32 to FP8 conversion (the IR's `quantize` to an FP8 type): `encode(x / scale)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quantize {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub encoding: Fp8Encoding,
}

/// A standalone activation on f32 data (FP8 programs): `activation.apply(x)` per element,
/// stored as f32 or as the FP8 codes of a fused quantize.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Activate {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub activation: Activation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encode: Option<Fp8Encoding>,
}

/// Constant padding: `pads[i] = (before, after)` elements around axis `i`, of `value` for
/// f32 data (stored as f32 or as the FP8 codes of a fused quantize), of the integer code
/// `fill` for quantized data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pad {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub pads: Vec<(usize, usize)>,
    pub value: f32,
    #[serde(default)]
    pub fill: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encode: Option<Fp8Encoding>,
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
    Quantize(Quantize),
    Activate(Activate),
    Pad(Pad),
    Lookup(Lookup),
    PRelu(PRelu),
    Resize(Resize),
    Softmax(Softmax),
    Requantize(Requantize),
    /// Runs on the host CPU.
    Svdf(Svdf),
    /// Runs on the host CPU.
    TableSoftmax(TableSoftmax),
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
            Command::Quantize(c) => vec![c.input],
            Command::Activate(c) => vec![c.input],
            Command::Pad(c) => vec![c.input],
            Command::Lookup(c) => vec![c.input],
            Command::PRelu(c) => vec![c.input],
            Command::Resize(c) => vec![c.input],
            Command::Softmax(c) => vec![c.input],
            Command::Requantize(c) => vec![c.input],
            Command::Svdf(c) => vec![c.input],
            Command::TableSoftmax(c) => vec![c.input],
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
            Command::Quantize(c) => vec![c.output],
            Command::Activate(c) => vec![c.output],
            Command::Pad(c) => vec![c.output],
            Command::Lookup(c) => vec![c.output],
            Command::PRelu(c) => vec![c.output],
            Command::Resize(c) => vec![c.output],
            Command::Softmax(c) => vec![c.output],
            Command::Requantize(c) => vec![c.output],
            Command::Svdf(c) => vec![c.output],
            Command::TableSoftmax(c) => vec![c.output],
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
            Command::Quantize(_) => "quantize",
            Command::Activate(_) => "activation",
            Command::Pad(_) => "pad",
            Command::Lookup(_) => "lookup",
            Command::PRelu(_) => "prelu",
            Command::Resize(_) => "resize",
            Command::Softmax(_) => "softmax",
            Command::Requantize(_) => "requantize",
            Command::Svdf(_) => "svdf",
            Command::TableSoftmax(_) => "table_softmax",
            Command::Cpu { .. } => "cpu",
        }
    }

    /// Whether the command runs on the host CPU (CPU segments and host kernels), not the
    /// NPU.
    pub fn on_host(&self) -> bool {
        matches!(
            self,
            Command::Svdf(_) | Command::TableSoftmax(_) | Command::Cpu { .. }
        )
    }
}
