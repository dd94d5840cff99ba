//! The integer and host-kernel commands of an NPU program, read from their FlatBuffer
//! tables by field slot (union type numbers and slots follow `schemas/npu.fbs`). FP8 and
//! f32 commands and CPU-fallback segments are reported as unsupported.

use crate::error::{Error, ErrorKind, Result};
use crate::flatbuf::{Table, Vector};
use crate::schema::{DType, Shape, MAX_RANK};

/// A fixed-point multiplier (TFLite's `MultiplyByQuantizedMultiplier`).
#[derive(Clone, Copy, Debug)]
pub struct Requant {
    pub multiplier: i32,
    pub shift: i32,
}

impl Requant {
    fn read(t: &Table<'_>, slot: usize) -> Result<Self> {
        let b = t.inline_struct(slot, 8)?.unwrap_or(&[0; 8]);
        Ok(Requant {
            multiplier: i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            shift: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        })
    }

    /// Whether the shift is one TFLite's arithmetic defines.
    pub fn valid(&self) -> bool {
        (-31..=31).contains(&self.shift)
    }
}

/// The most a zero point may be off zero: enough for every 8- and 16-bit type (int16
/// tensors use zero point 0), small enough that subtracting one from a code never
/// overflows.
const MAX_ZERO_POINT: i32 = 1 << 16;

/// A zero point read from the binary, checked against [`MAX_ZERO_POINT`].
fn zero_point(z: i32) -> Result<i32> {
    if z.unsigned_abs() > MAX_ZERO_POINT as u32 {
        return Err(Error::malformed("zero point out of range"));
    }
    Ok(z)
}

/// Output clamp in the output's integer domain.
#[derive(Clone, Copy, Debug)]
pub struct Clamp {
    pub min: i32,
    pub max: i32,
}

/// Requantization of a convolution or fully connected layer.
#[derive(Clone, Copy, Debug)]
pub struct OutputStage {
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    pub clamp: Clamp,
}

impl OutputStage {
    fn read(t: &Table<'_>, slot: usize) -> Result<Self> {
        let b = t.inline_struct(slot, 16)?.unwrap_or(&[0; 16]);
        let at = |i: usize| i32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Ok(OutputStage {
            input_zero_point: zero_point(at(0))?,
            output_zero_point: zero_point(at(4))?,
            clamp: Clamp {
                min: at(8),
                max: at(12),
            },
        })
    }
}

/// A 2-D convolution (grouped, depthwise or transposed).
#[derive(Clone, Copy, Debug)]
pub struct Conv {
    pub input: usize,
    pub output: usize,
    pub weights: usize,
    pub nchw: bool,
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub dilations: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    pub groups: usize,
    pub stage: OutputStage,
    pub transposed: bool,
}

/// A fully connected layer.
#[derive(Clone, Copy, Debug)]
pub struct FullyConnected {
    pub input: usize,
    pub output: usize,
    pub weights: usize,
    pub stage: OutputStage,
}

/// TFLite's int8 add/sub or mul.
#[derive(Clone, Copy, Debug)]
pub enum ElementwiseKind {
    AddSub {
        subtract: bool,
        left_shift: i32,
        input_a: Requant,
        input_b: Requant,
        output: Requant,
    },
    Mul {
        output: Requant,
    },
}

/// A binary elementwise command with broadcasting.
#[derive(Clone, Copy, Debug)]
pub struct Elementwise {
    pub a: usize,
    pub b: usize,
    pub output: usize,
    pub kind: ElementwiseKind,
    pub a_zero_point: i32,
    pub b_zero_point: i32,
    pub output_zero_point: i32,
    pub clamp: Clamp,
}

/// Max or average 2-D pooling.
#[derive(Clone, Copy, Debug)]
pub struct Pool {
    pub input: usize,
    pub output: usize,
    pub max: bool,
    pub nchw: bool,
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub pads: [usize; 4],
    pub clamp: Clamp,
}

/// A mean or sum over axes.
#[derive(Clone, Copy, Debug)]
pub struct Reduce {
    pub input: usize,
    pub output: usize,
    /// Reduced axes, as a mask over the input's axes.
    pub axes: [bool; MAX_RANK],
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    pub requant: Requant,
    pub clamp: Clamp,
}

/// Concatenation along an axis, optionally through a 256-entry table per input.
#[derive(Clone, Copy)]
pub struct Concat<'a> {
    pub inputs: Vector<'a>,
    pub output: usize,
    pub axis: usize,
    pub tables: &'a [u8],
}

/// Constant padding of integer data.
#[derive(Clone, Copy)]
pub struct Pad<'a> {
    pub input: usize,
    pub output: usize,
    /// `(before, after)` pairs, flattened.
    pub pads: Vector<'a>,
    pub fill: i32,
}

/// A 256-entry table lookup on 8-bit codes.
#[derive(Clone, Copy)]
pub struct Lookup<'a> {
    pub input: usize,
    pub output: usize,
    pub table: &'a [u8],
}

/// TFLite's int8 parametric ReLU.
#[derive(Clone, Copy)]
pub struct PRelu<'a> {
    pub input: usize,
    pub output: usize,
    pub alpha: Vector<'a>,
    pub alpha_shape: Shape,
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    pub identity: Requant,
    pub negative: Requant,
    pub clamp: Clamp,
}

/// TFLite's integer resize of NHWC data.
#[derive(Clone, Copy, Debug)]
pub struct Resize {
    pub input: usize,
    pub output: usize,
    pub bilinear: bool,
    pub align_corners: bool,
    pub half_pixel_centers: bool,
}

/// TFLite's reference integer softmax.
#[derive(Clone, Copy, Debug)]
pub struct Softmax {
    pub input: usize,
    pub output: usize,
    pub axis: usize,
    pub multiplier: i32,
    pub left_shift: i32,
}

/// TFLite's requantization between integer types.
#[derive(Clone, Copy, Debug)]
pub struct Requantize {
    pub input: usize,
    pub output: usize,
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    pub requant: Requant,
}

/// TFLite Micro's integer SVDF step from a constant initial state.
#[derive(Clone, Copy)]
pub struct Svdf<'a> {
    pub input: usize,
    pub output: usize,
    pub rank: usize,
    pub memory: usize,
    /// The element type of the state and the time weights.
    pub state_type: DType,
    /// int8 `[filters, input]`.
    pub weights_feature: &'a [u8],
    /// `[filters, memory]` of `state_type`.
    pub weights_time: &'a [u8],
    /// `[batch, filters * memory]` of `state_type`.
    pub state: &'a [u8],
    /// int32 `[filters / rank]`.
    pub bias: &'a [u8],
    pub input_zero_point: i32,
    pub state_zero_point: i32,
    pub output_zero_point: i32,
    pub feature: Requant,
    pub time: Requant,
}

/// LiteRT's float-table softmax of 8-bit codes.
#[derive(Clone, Copy)]
pub struct TableSoftmax<'a> {
    pub input: usize,
    pub output: usize,
    pub axis: usize,
    /// 256 little-endian f32.
    pub table: &'a [u8],
    pub output_scale: f32,
    pub output_zero_point: i32,
}

/// One step of the schedule.
#[derive(Clone, Copy)]
pub enum Command<'a> {
    Conv(Conv),
    FullyConnected(FullyConnected),
    Elementwise(Elementwise),
    Pool(Pool),
    Reduce(Reduce),
    Concat(Concat<'a>),
    Pad(Pad<'a>),
    Lookup(Lookup<'a>),
    PRelu(PRelu<'a>),
    Resize(Resize),
    Softmax(Softmax),
    Requantize(Requantize),
    Svdf(Svdf<'a>),
    TableSoftmax(TableSoftmax<'a>),
}

const FP8: Error = Error::new(
    ErrorKind::Unsupported,
    "FP8 or f32 command: the runtime runs integer programs",
);

fn index(t: &Table<'_>, slot: usize) -> Result<usize> {
    Ok(t.u32(slot, 0)? as usize)
}

/// A vector of exactly `N` unsigned numbers.
fn fixed<const N: usize>(t: &Table<'_>, slot: usize) -> Result<[usize; N]> {
    let v = t.vector(slot, 4)?;
    if v.len() != N {
        return Err(Error::malformed(
            "kernel, stride or padding of the wrong length",
        ));
    }
    let mut out = [0usize; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = v.u32(i)? as usize;
    }
    Ok(out)
}

fn clamp(t: &Table<'_>, min: usize) -> Result<Clamp> {
    Ok(Clamp {
        min: t.i32(min, 0)?,
        max: t.i32(min + 1, 0)?,
    })
}

fn nchw(t: &Table<'_>, slot: usize) -> Result<bool> {
    match t.u8(slot, 0)? {
        0 => Ok(true),
        1 => Ok(false),
        _ => Err(Error::malformed("unknown layout")),
    }
}

impl<'a> Command<'a> {
    /// Reads a `CommandEntry` table.
    pub fn read(entry: Table<'a>) -> Result<Self> {
        let kind = entry.u8(0, 0)?;
        let t = entry
            .table(1)?
            .ok_or(Error::malformed("command entry without a command"))?;
        Ok(match kind {
            1 => {
                if t.table(11)?.is_some() {
                    return Err(FP8);
                }
                Command::Conv(Conv {
                    input: index(&t, 1)?,
                    output: index(&t, 2)?,
                    weights: index(&t, 3)?,
                    nchw: nchw(&t, 4)?,
                    kernel: fixed(&t, 5)?,
                    strides: fixed(&t, 6)?,
                    dilations: fixed(&t, 7)?,
                    pads: fixed(&t, 8)?,
                    groups: t.u32(9, 0)?.max(1) as usize,
                    stage: OutputStage::read(&t, 10)?,
                    transposed: t.bool(12)?,
                })
            }
            2 => {
                if t.table(5)?.is_some() {
                    return Err(FP8);
                }
                Command::FullyConnected(FullyConnected {
                    input: index(&t, 1)?,
                    output: index(&t, 2)?,
                    weights: index(&t, 3)?,
                    stage: OutputStage::read(&t, 4)?,
                })
            }
            3 => {
                if t.bool(14)? {
                    return Err(FP8);
                }
                let output = Requant::read(&t, 8)?;
                let kind = match t.u8(4, 0)? {
                    op @ (0 | 1) => ElementwiseKind::AddSub {
                        subtract: op == 1,
                        left_shift: t.i32(5, 0)?,
                        input_a: Requant::read(&t, 6)?,
                        input_b: Requant::read(&t, 7)?,
                        output,
                    },
                    2 => ElementwiseKind::Mul { output },
                    _ => return Err(Error::malformed("integer elementwise op is not add, sub or mul")),
                };
                Command::Elementwise(Elementwise {
                    a: index(&t, 1)?,
                    b: index(&t, 2)?,
                    output: index(&t, 3)?,
                    kind,
                    a_zero_point: zero_point(t.i32(9, 0)?)?,
                    b_zero_point: zero_point(t.i32(10, 0)?)?,
                    output_zero_point: zero_point(t.i32(11, 0)?)?,
                    clamp: clamp(&t, 12)?,
                })
            }
            4 => Command::Pool(Pool {
                input: index(&t, 1)?,
                output: index(&t, 2)?,
                max: match t.u8(3, 0)? {
                    0 => true,
                    1 => false,
                    _ => return Err(Error::malformed("unknown pooling kind")),
                },
                nchw: nchw(&t, 4)?,
                kernel: fixed(&t, 5)?,
                strides: fixed(&t, 6)?,
                pads: fixed(&t, 7)?,
                clamp: clamp(&t, 8)?,
            }),
            5 => Command::Concat(Concat {
                inputs: t.vector(1, 4)?,
                output: index(&t, 2)?,
                axis: index(&t, 3)?,
                tables: t.vector(4, 1)?.bytes(),
            }),
            6 => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    "CPU-fallback segment: compile for firmware with --no-cpu-fallback to see what to change",
                ))
            }
            7 => {
                if t.u8(9, 0)? != 0 {
                    return Err(FP8);
                }
                let axes_v = t.vector(3, 4)?;
                let mut axes = [false; MAX_RANK];
                for i in 0..axes_v.len() {
                    let a = axes_v.u32(i)? as usize;
                    *axes
                        .get_mut(a)
                        .ok_or(Error::malformed("reduction axis out of range"))? = true;
                }
                Command::Reduce(Reduce {
                    input: index(&t, 1)?,
                    output: index(&t, 2)?,
                    axes,
                    input_zero_point: zero_point(t.i32(4, 0)?)?,
                    output_zero_point: zero_point(t.i32(5, 0)?)?,
                    requant: Requant::read(&t, 6)?,
                    clamp: clamp(&t, 7)?,
                })
            }
            8 | 9 => return Err(FP8),
            10 => {
                if t.table(5)?.is_some() {
                    return Err(FP8);
                }
                Command::Pad(Pad {
                    input: index(&t, 1)?,
                    output: index(&t, 2)?,
                    pads: t.vector(3, 4)?,
                    fill: t.i32(6, 0)?,
                })
            }
            11 => Command::Lookup(Lookup {
                input: index(&t, 1)?,
                output: index(&t, 2)?,
                table: t.vector(3, 1)?.bytes(),
            }),
            12 => Command::PRelu(PRelu {
                input: index(&t, 1)?,
                output: index(&t, 2)?,
                alpha: t.vector(3, 2)?,
                alpha_shape: Shape::read(t.vector(4, 4)?)?,
                input_zero_point: zero_point(t.i32(5, 0)?)?,
                output_zero_point: zero_point(t.i32(6, 0)?)?,
                identity: Requant::read(&t, 7)?,
                negative: Requant::read(&t, 8)?,
                clamp: clamp(&t, 9)?,
            }),
            13 => Command::Resize(Resize {
                input: index(&t, 1)?,
                output: index(&t, 2)?,
                bilinear: t.bool(3)?,
                align_corners: t.bool(4)?,
                half_pixel_centers: t.bool(5)?,
            }),
            14 => Command::Softmax(Softmax {
                input: index(&t, 1)?,
                output: index(&t, 2)?,
                axis: index(&t, 3)?,
                multiplier: t.i32(4, 0)?,
                left_shift: t.i32(5, 0)?,
            }),
            15 => Command::Requantize(Requantize {
                input: index(&t, 1)?,
                output: index(&t, 2)?,
                input_zero_point: zero_point(t.i32(3, 0)?)?,
                output_zero_point: zero_point(t.i32(4, 0)?)?,
                requant: Requant::read(&t, 5)?,
            }),
            16 => Command::Svdf(Svdf {
                input: index(&t, 1)?,
                output: index(&t, 2)?,
                rank: index(&t, 3)?,
                memory: index(&t, 4)?,
                state_type: DType::from_u8(t.u8(5, DType::I8 as u8)?)?,
                weights_feature: t.vector(6, 1)?.bytes(),
                weights_time: t.vector(7, 1)?.bytes(),
                state: t.vector(8, 1)?.bytes(),
                bias: t.vector(9, 4)?.bytes(),
                input_zero_point: zero_point(t.i32(10, 0)?)?,
                state_zero_point: zero_point(t.i32(11, 0)?)?,
                output_zero_point: zero_point(t.i32(12, 0)?)?,
                feature: Requant::read(&t, 13)?,
                time: Requant::read(&t, 14)?,
            }),
            17 => Command::TableSoftmax(TableSoftmax {
                input: index(&t, 1)?,
                output: index(&t, 2)?,
                axis: index(&t, 3)?,
                table: t.vector(4, 4)?.bytes(),
                output_scale: t.f32(5, 0.0)?,
                output_zero_point: zero_point(t.i32(6, 0)?)?,
            }),
            _ => return Err(Error::malformed("unknown command kind")),
        })
    }
}
