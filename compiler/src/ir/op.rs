//! IR operations with typed attributes.
//!
//! Conventions shared by all ops:
//! - Axes are non-negative and already normalized against the input rank.
//! - Spatial ops carry a [`Layout`]: `Nchw` (ONNX) or `Nhwc` (TFLite). Convolution weights
//!   are `OIHW` for `Nchw` and `OHWI` for `Nhwc`, with `I = input channels / group`.
//! - 2-D padding is `[top, left, bottom, right]`.
//! - Quantized semantics come from the tensor types: an op whose inputs and outputs are
//!   integer types with quantization parameters runs with integer arithmetic.

use super::attrs::{ConvAttrs, GemmAttrs, PoolAttrs, RoiAlignAttrs};
use super::dtype::DType;
use super::narrow_float::E8m0Rounding;
use super::recurrent::RecurrentAttrs;
use super::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Memory layout of 4-D activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    Nchw,
    Nhwc,
}

impl Layout {
    /// Index of the channel axis in a 4-D activation.
    pub fn channel_axis(self) -> usize {
        match self {
            Layout::Nchw => 1,
            Layout::Nhwc => 3,
        }
    }

    /// Indices of the (height, width) axes in a 4-D activation.
    pub fn spatial_axes(self) -> [usize; 2] {
        match self {
            Layout::Nchw => [2, 3],
            Layout::Nhwc => [1, 2],
        }
    }

    /// Indices of the spatial axes of a rank-`rank` activation (batch first).
    pub fn spatial_axes_of(self, rank: usize) -> std::ops::Range<usize> {
        match self {
            Layout::Nchw => 2..rank.max(2),
            Layout::Nhwc => 1..rank.max(2) - 1,
        }
    }
}

/// Elementwise activation functions (standalone, or fused into a producing op).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Relu,
    Relu6,
    /// Clamp to [-1, 1].
    ReluN1To1,
    Clip {
        min: f32,
        max: f32,
    },
    LeakyRelu {
        alpha: f32,
    },
    Sigmoid,
    Tanh,
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    HardSwish,
    /// Binarization for binary networks: +1 for `x >= 0`, -1 otherwise (unlike ONNX's
    /// `Sign`, 0 maps to +1, so the output is always ±1; NaN maps to -1). Its derivative
    /// is the straight-through estimator `1{|x| <= 1}` (the gradient of a clamp to
    /// [-1, 1]), which is what training uses; the true derivative is 0 almost everywhere.
    Binarize,
}

impl Activation {
    /// The clamp interval when the activation is a pure clamp (what integer kernels fuse).
    pub fn clamp_range(self) -> Option<(f32, f32)> {
        match self {
            Activation::Relu => Some((0.0, f32::INFINITY)),
            Activation::Relu6 => Some((0.0, 6.0)),
            Activation::ReluN1To1 => Some((-1.0, 1.0)),
            Activation::Clip { min, max } => Some((min, max)),
            _ => None,
        }
    }

    /// Applies the activation to one f32 value.
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Relu6 => x.clamp(0.0, 6.0),
            Activation::ReluN1To1 => x.clamp(-1.0, 1.0),
            Activation::Clip { min, max } => x.max(min).min(max),
            Activation::LeakyRelu { alpha } => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Tanh => x.tanh(),
            Activation::HardSigmoid { alpha, beta } => (alpha * x + beta).clamp(0.0, 1.0),
            Activation::HardSwish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
            Activation::Binarize => {
                if x >= 0.0 {
                    1.0
                } else {
                    -1.0
                }
            }
        }
    }

    /// The derivative at `x`. At the kinks of the piecewise-linear activations it is the
    /// one-sided value that is 0 for clamps (relu'(0) = 0, clip'(min) = clip'(max) = 0,
    /// as in PyTorch); leaky relu takes the `x >= 0` branch at 0, like its forward.
    /// For [`Activation::Binarize`] it is the straight-through estimator `1{|x| <= 1}`.
    pub fn derivative(self, x: f32) -> f32 {
        let inside = |lo: f32, hi: f32| if x > lo && x < hi { 1.0 } else { 0.0 };
        match self {
            Activation::Relu => inside(0.0, f32::INFINITY),
            Activation::Relu6 => inside(0.0, 6.0),
            Activation::ReluN1To1 => inside(-1.0, 1.0),
            Activation::Clip { min, max } => inside(min, max),
            Activation::LeakyRelu { alpha } => {
                if x >= 0.0 {
                    1.0
                } else {
                    alpha
                }
            }
            Activation::Sigmoid => {
                let s = self.apply(x);
                s * (1.0 - s)
            }
            Activation::Tanh => {
                let t = x.tanh();
                1.0 - t * t
            }
            Activation::HardSigmoid { alpha, beta } => {
                let v = alpha * x + beta;
                if v > 0.0 && v < 1.0 {
                    alpha
                } else {
                    0.0
                }
            }
            Activation::HardSwish => {
                if x <= -3.0 {
                    0.0
                } else if x >= 3.0 {
                    1.0
                } else {
                    (2.0 * x + 3.0) / 6.0
                }
            }
            Activation::Binarize => {
                if x.abs() <= 1.0 {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

/// Binary elementwise operations (numpy broadcasting). Both operands and the result have
/// one dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    /// `a` to the power `b` (integers: non-negative exponents, wrapping).
    Pow,
    /// `(a - b)²` (TFLite's SQUARED_DIFFERENCE, with its own int8 requantization).
    SquaredDifference,
    /// Remainder with the sign of the divisor (python's `%`; ONNX Mod with `fmod=0`).
    Mod,
    /// Remainder with the sign of the dividend (C's `fmod`; ONNX Mod with `fmod=1`).
    Fmod,
    /// Integers and booleans (ONNX `And` on booleans, `BitwiseAnd` on integers).
    BitAnd,
    BitOr,
    BitXor,
    /// Integers: shifts by `b` bits (zero past the width).
    ShiftLeft,
    ShiftRight,
}

impl BinaryKind {
    /// Whether this is one of the four arithmetic operations, max or min (what the NPU's
    /// f32 elementwise command computes).
    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinaryKind::Add
                | BinaryKind::Sub
                | BinaryKind::Mul
                | BinaryKind::Div
                | BinaryKind::Max
                | BinaryKind::Min
        )
    }
}

/// How a scatter combines an update with the value it lands on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScatterReduction {
    /// The update replaces the value.
    None,
    Add,
    Mul,
    Max,
    Min,
}

/// Comparisons with numpy broadcasting; the result is boolean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareKind {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// Elementwise functions of one operand that are not fusable [`Activation`]s. Floats
/// unless noted; ONNX's names and attribute defaults.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnaryFunc {
    Exp,
    Log,
    Sqrt,
    /// `1 / sqrt(x)`.
    Rsqrt,
    Reciprocal,
    /// Also integers.
    Abs,
    /// Also integers.
    Neg,
    Floor,
    Ceil,
    /// Round half to even.
    Round,
    /// -1, 0 or 1 (NaN stays NaN); also integers.
    Sign,
    Erf,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Asinh,
    Acosh,
    Atanh,
    /// `ln(1 + exp(x))`.
    Softplus,
    /// `x / (1 + |x|)`.
    Softsign,
    /// `x * tanh(softplus(x))`.
    Mish,
    /// `x` for `x > 0`, else `alpha * (exp(x) - 1)`.
    Elu {
        alpha: f32,
    },
    /// `gamma * (x` for `x > 0`, else `alpha * (exp(x) - 1))`.
    Selu {
        alpha: f32,
        gamma: f32,
    },
    /// `max(0, x) + min(0, alpha * (exp(x / alpha) - 1))`.
    Celu {
        alpha: f32,
    },
    /// `x` for `x > alpha`, else 0.
    ThresholdedRelu {
        alpha: f32,
    },
    /// `x * Φ(x)`, or its tanh approximation.
    Gelu {
        tanh: bool,
    },
    /// `x * sigmoid(alpha * x)`.
    Swish {
        alpha: f32,
    },
    /// `x - bias` for `x > lambd`, `x + bias` for `x < -lambd`, else 0.
    Shrink {
        bias: f32,
        lambd: f32,
    },
    /// Booleans: logical not; integers: bitwise not.
    Not,
    /// Boolean result.
    IsNan,
    /// Boolean result: which infinities count.
    IsInf {
        positive: bool,
        negative: bool,
    },
}

impl UnaryFunc {
    /// Whether the result is boolean rather than the operand's type.
    pub fn tests_values(self) -> bool {
        matches!(self, UnaryFunc::IsNan | UnaryFunc::IsInf { .. })
    }
}

/// Pooling kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    Max,
    Avg,
}

/// Reduction kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReduceKind {
    Mean,
    Max,
    Min,
    Sum,
    /// Product (1 over an empty set).
    Prod,
}

/// Which extreme an [`Op::ArgReduce`] finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgKind {
    Max,
    Min,
}

/// The running operation of an [`Op::Cumulative`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CumulativeKind {
    Sum,
    Prod,
}

/// Padding modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadMode {
    Constant,
    Reflect,
    Edge,
    /// Circular: the far end of the axis continues before its start (ONNX `wrap`).
    Wrap,
}

/// Resize interpolation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    Nearest,
    Linear,
    /// Keys' cubic convolution with coefficient `cubic_coeff_a`.
    Cubic,
}

/// What [`Op::GridSample`] reads at coordinates outside the input (ONNX names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GridPadding {
    /// Zero.
    Zeros,
    /// The nearest border value.
    Border,
    /// The value at the coordinate reflected by the borders.
    Reflection,
}

/// How output coordinates map to input coordinates in [`Op::Resize`] (ONNX names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoordTransform {
    HalfPixel,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    /// TFLite's `half_pixel_centers` for nearest neighbour.
    TfHalfPixelForNn,
    /// Half pixel, re-centred when the output length is not exactly `scale * input`.
    HalfPixelSymmetric,
    /// TensorFlow's crop-and-resize: output spans the `roi` box of each axis; samples
    /// outside the input take `extrapolation_value`.
    TfCropAndResize,
}

/// Filter options of [`Op::Resize`], with ONNX's attribute names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResizeFilter {
    /// The `A` of cubic interpolation (-0.75 as in PyTorch; TensorFlow uses -0.5).
    pub cubic_coeff_a: f32,
    /// Give samples outside the input zero weight and renormalize the rest.
    pub exclude_outside: bool,
    /// Widen linear / cubic filters by the downscaling factor (an antialiasing filter).
    pub antialias: bool,
    /// Per-axis `(start, end)` box in normalized input coordinates, for
    /// [`CoordTransform::TfCropAndResize`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roi: Option<Vec<(f32, f32)>>,
    /// Value of samples outside the input, for [`CoordTransform::TfCropAndResize`].
    pub extrapolation_value: f32,
}

impl Default for ResizeFilter {
    fn default() -> Self {
        ResizeFilter {
            cubic_coeff_a: -0.75,
            exclude_outside: false,
            antialias: false,
            roi: None,
            extrapolation_value: 0.0,
        }
    }
}

/// The attributes of an [`Op::Resize`], borrowed (see [`Op::resize_spec`]).
pub struct ResizeSpec<'a> {
    pub mode: ResizeMode,
    pub coord: CoordTransform,
    pub nearest: NearestRounding,
    pub sizes: &'a [usize],
    pub scales: Option<&'a [f32]>,
    pub filter: &'a ResizeFilter,
}

impl ResizeFilter {
    /// Whether every option has its default value.
    pub fn is_default(&self) -> bool {
        *self == ResizeFilter::default()
    }
}

/// Rounding of the source coordinate in nearest-neighbour [`Op::Resize`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NearestRounding {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

/// Rounding and requantization rules of [`Op::Quantize`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantizeRounding {
    /// ONNX QuantizeLinear: round half to even; integer inputs go through their real values.
    #[default]
    HalfEven,
    /// TFLite QUANTIZE: round half away from zero; integer inputs are requantized with
    /// TFLite's fixed-point multiplier.
    Tflite,
}

impl QuantizeRounding {
    /// Whether this is the default (ONNX) rule, which the text form omits.
    pub fn is_half_even(&self) -> bool {
        *self == QuantizeRounding::HalfEven
    }
}

/// DepthToSpace element order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepthToSpaceMode {
    /// depth-column-row (ONNX default, TFLite's only mode).
    Dcr,
    /// column-row-depth.
    Crd,
}

/// An IR operation. Inputs are listed per variant as `(name: meaning)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// A graph input (no inputs).
    Input,
    /// A constant (no inputs).
    Const {
        #[serde(skip, default = "empty_tensor")]
        value: Tensor,
    },
    /// 2-D convolution: (x, w, [bias]).
    Conv(ConvAttrs),
    /// 2-D NCHW deformable convolution without activation: (x, w `[O, C / group, kh, kw]`,
    /// offset `[N, offset_groups * kh * kw * 2, oh, ow]` (dy, dx of each tap), bias `[O]`,
    /// [mask `[N, offset_groups * kh * kw, oh, ow]`]). Moved taps read the input by
    /// bilinear interpolation, zero outside.
    DeformConv {
        #[serde(flatten)]
        conv: ConvAttrs,
        offset_groups: usize,
    },
    /// Region-of-interest align (see [`RoiAlignAttrs`]): (x `[N, C, H, W]`, rois `[R, 4]`
    /// as x1, y1, x2, y2, batch_indices `[R]`) -> `[R, C, output_size...]`.
    RoiAlign(RoiAlignAttrs),
    /// 2-D transposed convolution: (x, w, [bias]); `w` is `IOHW` for `Nchw` (ONNX) and
    /// `OHWI` for `Nhwc` (TFLite), with the group split on the input channels.
    ConvTranspose {
        #[serde(flatten)]
        conv: ConvAttrs,
        output_padding: [usize; 2],
    },
    /// `alpha * op(a) @ op(b) + beta * c`: (a, b, [c]); 2-D `a` and `b`.
    Gemm(GemmAttrs),
    /// Batched matrix product with numpy broadcasting: (a, b).
    MatMul,
    /// Binary elementwise op with broadcasting: (a, b).
    Binary {
        kind: BinaryKind,
        activation: Option<Activation>,
    },
    /// Parametric ReLU: (x, slope), slope broadcast against x.
    PRelu,
    /// One step of TFLite's SVDF (singular value decomposition filter):
    /// (x `[batch, input]`, weights_feature `[filters, input]`, weights_time
    /// `[filters, memory]`, state `[batch, filters * memory]`, [bias `[filters / rank]`])
    /// -> (y `[batch, filters / rank]`, the next state). Each filter's state row shifts one
    /// step left and takes `x · weights_feature[f]` as its newest entry; the rows are
    /// dotted with their time weights, groups of `rank` filters summed, the bias added,
    /// and (f32 only) the activation applied. The op is stateless: a streaming caller
    /// feeds the next state back.
    Svdf {
        rank: usize,
        activation: Option<Activation>,
    },
    /// A recurrent layer over a whole sequence (RNN, GRU or LSTM cell, see
    /// [`RecurrentAttrs`]): (x, w, r, b, initial_h, [initial_c], [p], [sequence_lens]) ->
    /// (y, y_h, [y_c]). Stateless: the initial states are inputs.
    Recurrent(RecurrentAttrs),
    /// Elementwise activation: (x).
    Activation { act: Activation },
    /// Elementwise function: (x).
    Unary { func: UnaryFunc },
    /// Elementwise comparison with broadcasting, boolean result: (a, b).
    Compare { kind: CompareKind },
    /// `x` where `condition`, else `y`, all broadcast: (condition, x, y).
    Where,
    /// Broadcast to the numpy broadcast of the input shape and `shape`: (x).
    Expand { shape: Vec<usize> },
    /// `out[i] = data[i with coordinate `axis` replaced by indices[i]]`: (data, indices).
    GatherElements { axis: usize },
    /// A copy of `data` with the slice `data[indices[i...]]` (index tuples along the last
    /// axis of `indices`) replaced or combined by `updates[i...]`: (data, indices, updates).
    ScatterNd { reduction: ScatterReduction },
    /// Einstein summation (see [`super::einsum::Einsum`]): (x0, x1, ...).
    Einsum { equation: String },
    /// Determinants of the square matrices in the last two axes: (x) -> `x`'s batch axes.
    Det,
    /// The `k` largest (or smallest) values along `axis`, from the extreme on, and their
    /// int64 indices: (x) -> (values, indices).
    TopK {
        axis: usize,
        k: usize,
        largest: bool,
    },
    /// A copy of `data` with each update placed where GatherElements would read it:
    /// (data, indices, updates).
    ScatterElements {
        axis: usize,
        reduction: ScatterReduction,
    },
    /// Softmax over one axis: `exp(beta * x)` normalized. (x)
    Softmax { axis: usize, beta: f32 },
    /// Log of softmax over one axis: (x).
    LogSoftmax { axis: usize },
    /// Inference batch normalization over `axis`: (x, scale, bias, mean, var).
    BatchNorm { epsilon: f32, axis: usize },
    /// Pooling (see [`PoolAttrs`]) with an optional fused activation: (x).
    Pool {
        #[serde(flatten)]
        pool: PoolAttrs,
        activation: Option<Activation>,
    },
    /// Reduction over axes: (x).
    Reduce {
        kind: ReduceKind,
        axes: Vec<usize>,
        keep_dims: bool,
    },
    /// Reshape to a static shape: (x).
    Reshape { shape: Vec<usize> },
    /// Axis permutation: (x).
    Transpose { perm: Vec<usize> },
    /// Concatenation along an axis: (x0, x1, ...).
    Concat { axis: usize },
    /// Split along an axis into pieces of the given sizes (one output each): (x).
    Split { axis: usize, sizes: Vec<usize> },
    /// Strided slice with one entry per input axis (python semantics, clamped): (x).
    Slice {
        starts: Vec<i64>,
        ends: Vec<i64>,
        steps: Vec<i64>,
    },
    /// Padding with `pads[axis] = (before, after)`: (x).
    Pad {
        pads: Vec<(usize, usize)>,
        mode: PadMode,
        value: f32,
    },
    /// Gather along an axis with integer indices (negative indices wrap): (data, indices).
    Gather { axis: usize },
    /// Gather of slices by index tuples (ONNX GatherND, TFLite GATHER_ND): (data,
    /// indices). The last axis of `indices` holds tuples indexing `data`'s axes after the
    /// first `batch_dims`, which `data` and `indices` share; negative indices wrap.
    GatherNd { batch_dims: usize },
    /// Index of the largest or smallest element along `axis`, as `index_dtype` (i32 or
    /// i64); ties take the first index, or the last with `select_last_index`. Quantized
    /// inputs compare their stored integers. (x)
    ArgReduce {
        kind: ArgKind,
        axis: usize,
        keep_dims: bool,
        select_last_index: bool,
        index_dtype: DType,
    },
    /// Running sum or product along `axis`; `exclusive` leaves the current element out,
    /// `reverse` runs from the end. (x)
    Cumulative {
        kind: CumulativeKind,
        axis: usize,
        exclusive: bool,
        reverse: bool,
    },
    /// Resize to a static output shape: (x). The coordinate transform uses `scales` (one
    /// per axis, ONNX `scales` input) when given, else `sizes[i] / input_dim[i]`.
    Resize {
        mode: ResizeMode,
        coord: CoordTransform,
        nearest: NearestRounding,
        sizes: Vec<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scales: Option<Vec<f32>>,
        /// Interpolation filter options (ONNX defaults when absent).
        #[serde(default, skip_serializing_if = "ResizeFilter::is_default")]
        filter: ResizeFilter,
    },
    /// ONNX GridSample: `x` `[N, C, D1..Dr]` interpolated at the normalized coordinates of
    /// `grid` `[N, O1..Or, r]` (innermost axis first, -1 and 1 the outer edges of the
    /// border pixels, or their centres with `align_corners`), giving `[N, C, O1..Or]`.
    /// Cubic interpolation is Keys' with `A = -0.75`. (x, grid)
    GridSample {
        mode: ResizeMode,
        padding: GridPadding,
        align_corners: bool,
    },
    /// DepthToSpace on 4-D activations: (x).
    DepthToSpace {
        block: usize,
        layout: Layout,
        mode: DepthToSpaceMode,
    },
    /// Quantize (float to int, or int to int requantization) to `to`; parameters on the
    /// output type: (x).
    Quantize {
        to: DType,
        #[serde(default, skip_serializing_if = "QuantizeRounding::is_half_even")]
        rounding: QuantizeRounding,
        /// FP8 targets: clamp overflow to the largest finite value (ONNX `saturate=1`,
        /// the default), else overflow to infinity or NaN.
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        saturate: bool,
    },
    /// Dequantize an int (parameters on the input type) or a float16-stored constant: (x).
    Dequantize,
    /// Element type conversion: (x).
    Cast {
        to: DType,
        /// FP8 targets: clamp overflow to the largest finite value (ONNX `saturate=1`,
        /// the default), else overflow to infinity or NaN.
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        saturate: bool,
        /// E8M0 targets: how values between powers of two round.
        #[serde(default, skip_serializing_if = "E8m0Rounding::is_default")]
        rounding: E8m0Rounding,
    },
    /// The same bytes read as another element type of the same size: (x).
    BitCast { to: DType },
    /// Returns its input: (x).
    Identity,
    /// Gradient of an elementwise activation, `act'(x) * dy` (see
    /// [`Activation::derivative`]): (x, dy).
    ActivationGrad { act: Activation },
    /// Gradient of a convolution without fused activation with respect to its input:
    /// (x, w, dy) -> dx; `x` gives only the shape.
    ConvGradInput(ConvAttrs),
    /// Gradient of a convolution without fused activation with respect to its weights:
    /// (x, w, dy) -> dw; `w` gives only the shape.
    ConvGradWeights(ConvAttrs),
    /// Gradient of [`Op::Pool`] (same attributes, no activation) with respect to its
    /// input: (x, dy) -> dx. Max pooling routes each output gradient to the first input
    /// holding the window's maximum; average pooling spreads it over the window's divisor.
    PoolGrad(PoolAttrs),
    /// Mean over the batch of the softmax cross-entropy of logits `[N, C]` against integer
    /// class labels `[N]`: (logits, labels) -> f32 scalar.
    SoftmaxCrossEntropy,
    /// Gradient of [`Op::SoftmaxCrossEntropy`] with respect to the logits,
    /// `(softmax(logits) - onehot(labels)) / N`: (logits, labels).
    SoftmaxCrossEntropyGrad,
    /// FP8 quantize-dequantize with a runtime scale, for FP8 training:
    /// (x, scale) -> (y, amax) with `y = decode(encode(x / scale)) * scale` (round to
    /// nearest even, saturating) and `amax = max |x|` (the next steps' scale comes from
    /// it). A scale that is not a positive finite number passes `x` through unchanged,
    /// for steps before any amax is known.
    Fp8FakeQuant { format: crate::fp8::Fp8Format },
}

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

fn empty_tensor() -> Tensor {
    Tensor::zeros(DType::F32, &[0])
}

impl Op {
    /// A conversion to `to` with ONNX Cast's defaults (saturating, E8M0 rounding up).
    pub fn cast(to: DType) -> Op {
        Op::Cast {
            to,
            saturate: true,
            rounding: E8m0Rounding::Up,
        }
    }

    /// The attributes of a Resize; `None` for other ops.
    pub fn resize_spec(&self) -> Option<ResizeSpec<'_>> {
        let Op::Resize {
            mode,
            coord,
            nearest,
            sizes,
            scales,
            filter,
        } = self
        else {
            return None;
        };
        Some(ResizeSpec {
            mode: *mode,
            coord: *coord,
            nearest: *nearest,
            sizes,
            scales: scales.as_deref(),
            filter,
        })
    }

    /// Whether the declared output dtype is the op's own choice rather than inferred from
    /// its inputs: a quantize, and a softmax (TFLite's int8 softmax may write int16).
    pub fn declares_output_dtype(&self) -> bool {
        matches!(self, Op::Quantize { .. } | Op::Softmax { .. })
    }

    /// The op's name as printed in the text form (`conv`, `gemm`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Const { .. } => "const",
            Op::Conv(_) => "conv",
            Op::ConvTranspose { .. } => "conv_transpose",
            Op::DeformConv { .. } => "deform_conv",
            Op::RoiAlign(_) => "roi_align",
            Op::Gemm(_) => "gemm",
            Op::MatMul => "mat_mul",
            Op::Binary { .. } => "binary",
            Op::PRelu => "p_relu",
            Op::Svdf { .. } => "svdf",
            Op::Recurrent(_) => "recurrent",
            Op::Activation { .. } => "activation",
            Op::Unary { .. } => "unary",
            Op::Compare { .. } => "compare",
            Op::Where => "where",
            Op::Expand { .. } => "expand",
            Op::GatherElements { .. } => "gather_elements",
            Op::ScatterElements { .. } => "scatter_elements",
            Op::ScatterNd { .. } => "scatter_nd",
            Op::TopK { .. } => "top_k",
            Op::Det => "det",
            Op::Einsum { .. } => "einsum",
            Op::Softmax { .. } => "softmax",
            Op::LogSoftmax { .. } => "log_softmax",
            Op::BatchNorm { .. } => "batch_norm",
            Op::Pool { .. } => "pool",
            Op::Reduce { .. } => "reduce",
            Op::Reshape { .. } => "reshape",
            Op::Transpose { .. } => "transpose",
            Op::Concat { .. } => "concat",
            Op::Split { .. } => "split",
            Op::Slice { .. } => "slice",
            Op::Pad { .. } => "pad",
            Op::Gather { .. } => "gather",
            Op::GatherNd { .. } => "gather_nd",
            Op::ArgReduce { .. } => "arg_reduce",
            Op::Cumulative { .. } => "cumulative",
            Op::Resize { .. } => "resize",
            Op::GridSample { .. } => "grid_sample",
            Op::DepthToSpace { .. } => "depth_to_space",
            Op::Quantize { .. } => "quantize",
            Op::Dequantize => "dequantize",
            Op::Cast { .. } => "cast",
            Op::BitCast { .. } => "bit_cast",
            Op::Identity => "identity",
            Op::ActivationGrad { .. } => "activation_grad",
            Op::ConvGradInput(_) => "conv_grad_input",
            Op::ConvGradWeights(_) => "conv_grad_weights",
            Op::PoolGrad(_) => "pool_grad",
            Op::SoftmaxCrossEntropy => "softmax_cross_entropy",
            Op::SoftmaxCrossEntropyGrad => "softmax_cross_entropy_grad",
            Op::Fp8FakeQuant { .. } => "fp8_fake_quant",
        }
    }

    /// A more specific name for statistics (e.g. `binary.add`, `activation.relu`).
    pub fn detailed_name(&self) -> String {
        let sub = match self {
            Op::Binary { kind, .. } => serde_json::to_value(kind).ok(),
            Op::Activation { act } => serde_json::to_value(act).ok(),
            Op::Unary { func } => serde_json::to_value(func).ok(),
            Op::Compare { kind } => serde_json::to_value(kind).ok(),
            Op::Pool { pool, .. } => serde_json::to_value(pool.kind).ok(),
            Op::Reduce { kind, .. } => serde_json::to_value(kind).ok(),
            Op::Recurrent(a) => serde_json::to_value(a.cell).ok(),
            Op::ArgReduce { kind, .. } => serde_json::to_value(kind).ok(),
            Op::Cumulative { kind, .. } => serde_json::to_value(kind).ok(),
            _ => None,
        };
        match sub {
            Some(serde_json::Value::String(s)) => format!("{}.{}", self.name(), s),
            Some(serde_json::Value::Object(m)) => match m.keys().next() {
                Some(k) => format!("{}.{}", self.name(), k),
                None => self.name().to_string(),
            },
            _ => self.name().to_string(),
        }
    }

    /// The fused activation, for ops that carry one.
    pub fn fused_activation(&self) -> Option<Activation> {
        match self {
            Op::Conv(c) => c.activation,
            Op::ConvTranspose { conv, .. } => conv.activation,
            Op::Gemm(g) => g.activation,
            Op::Binary { activation, .. } | Op::Pool { activation, .. } => *activation,
            _ => None,
        }
    }

    /// Whether the op's output is binarized ([`Activation::Binarize`], standalone or
    /// fused): the ±1 neurons of a binary network.
    pub fn binarizes(&self) -> bool {
        let act = match self {
            Op::Activation { act } => Some(*act),
            op => op.fused_activation(),
        };
        act == Some(Activation::Binarize)
    }

    /// The fused-activation slot of ops that have one (empty or not).
    pub fn activation_slot(&mut self) -> Option<&mut Option<Activation>> {
        match self {
            Op::Conv(c) => Some(&mut c.activation),
            Op::ConvTranspose { conv, .. } => Some(&mut conv.activation),
            Op::Gemm(g) => Some(&mut g.activation),
            Op::Binary { activation, .. } | Op::Pool { activation, .. } => Some(activation),
            _ => None,
        }
    }

    /// Whether the op is a constant or graph input (a source of values).
    pub fn is_source(&self) -> bool {
        matches!(self, Op::Input | Op::Const { .. })
    }
}

/// Resolves one axis of a python-style strided slice: returns (first index, count).
/// Negative `start`/`end` count from the end; out-of-range values are clamped.
pub fn slice_range(dim: usize, start: i64, end: i64, step: i64) -> (i64, usize) {
    let d = dim as i64;
    let norm = |v: i64| if v < 0 { v + d } else { v };
    let (s, e) = if step > 0 {
        (norm(start).clamp(0, d), norm(end).clamp(0, d))
    } else {
        (norm(start).clamp(-1, d - 1), norm(end).clamp(-1, d - 1))
    };
    let count = if step > 0 {
        if e > s {
            (e - s + step - 1) / step
        } else {
            0
        }
    } else if s > e {
        (s - e + (-step) - 1) / (-step)
    } else {
        0
    };
    (s, count as usize)
}
