//! Shape and data-movement operators: RESHAPE/SQUEEZE/EXPAND_DIMS, CONCATENATION,
//! PAD/PADV2, STRIDED_SLICE, SLICE, SHAPE, PACK, TRANSPOSE, DEPTH_TO_SPACE and the resizes.

use super::super::builder::{fused, Builder};
use super::super::fb;
use super::Io;
use nnopt_compiler::ir::{
    CoordTransform, DType, DepthToSpaceMode, Layout, NearestRounding, Op, PadMode, ResizeMode,
    Tensor, TensorType,
};
use nnopt_compiler::Result;

/// Normalizes a possibly negative axis against `rank`.
fn axis(b: &Builder<'_, '_>, a: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let n = if a < 0 { a + r } else { a };
    if !(0..r).contains(&n) {
        return Err(b.err(format!("axis {a} out of range for rank {rank}")));
    }
    Ok(n as usize)
}

/// RESHAPE, SQUEEZE, EXPAND_DIMS: the static output shape comes from the output tensor.
pub fn reshape(b: &mut Builder<'_, '_>, io: &Io) -> Result<()> {
    let out = io.output(b, 0)?;
    let shape = b.ty(out)?.shape;
    let x = b.value(io.input(b, 0)?)?;
    b.emit(Op::Reshape { shape }, &[x], out)?;
    Ok(())
}

pub fn concat(b: &mut Builder<'_, '_>, op: &fb::Operator<'_>, io: &Io) -> Result<()> {
    let o = op
        .builtin_options_as_concatenation_options()
        .ok_or_else(|| b.err("missing ConcatenationOptions"))?;
    let out = io.output(b, 0)?;
    let out_ty = b.ty(out)?;
    let ax = axis(b, o.axis() as i64, out_ty.shape.len())?;
    let ins = io
        .ins
        .iter()
        .map(|&i| b.value(i))
        .collect::<Result<Vec<_>>>()?;
    match fused(o.fused_activation_function())? {
        None => {
            b.emit(Op::Concat { axis: ax }, &ins, out)?;
        }
        act => {
            let v = b.add(Op::Concat { axis: ax }, &ins, out_ty)?;
            let v = b.activation_after(v, act)?;
            b.bind(out, v)?;
        }
    }
    Ok(())
}

pub fn pad(b: &mut Builder<'_, '_>, io: &Io) -> Result<()> {
    let (xi, out) = (io.input(b, 0)?, io.output(b, 0)?);
    let xt = b.ty(xi)?;
    let p = b.const_ints(io.input(b, 1)?, "paddings")?;
    if p.len() != 2 * xt.shape.len() || p.iter().any(|&v| v < 0) {
        return Err(b.err(format!("paddings {p:?} do not fit rank {}", xt.shape.len())));
    }
    let pads = p
        .chunks(2)
        .map(|c| (c[0] as usize, c[1] as usize))
        .collect();
    // PADV2's constant value, as a real number (quantized types are dequantized here and
    // re-quantized by the kernel).
    let value = match io.opt(2) {
        None => 0.0,
        Some(vi) => {
            let v = b
                .const_data(vi)?
                .ok_or_else(|| b.err("the pad value must be a constant"))?;
            let raw = *v
                .to_f64_vec()
                .first()
                .ok_or_else(|| b.err("the pad value is empty"))?;
            match &b.ty(vi)?.quant {
                Some(q) if xt.is_quantized() => {
                    ((raw - q.zero_point[0] as f64) * q.scale[0] as f64) as f32
                }
                _ => raw as f32,
            }
        }
    };
    let x = b.value(xi)?;
    b.emit(
        Op::Pad {
            pads,
            mode: PadMode::Constant,
            value,
        },
        &[x],
        out,
    )?;
    Ok(())
}

/// Adds a slice of `x` into TFLite tensor `out`, reshaping if axes were shrunk.
fn emit_slice(
    b: &mut Builder<'_, '_>,
    x: i32,
    out: i32,
    starts: Vec<i64>,
    ends: Vec<i64>,
    steps: Vec<i64>,
) -> Result<()> {
    let xt = b.ty(x)?;
    let out_ty = b.ty(out)?;
    let shape: Vec<usize> = (0..xt.shape.len())
        .map(|i| nnopt_compiler::ir::slice_range(xt.shape[i], starts[i], ends[i], steps[i]).1)
        .collect();
    let xv = b.value(x)?;
    let op = Op::Slice {
        starts,
        ends,
        steps,
    };
    if shape == out_ty.shape {
        b.emit(op, &[xv], out)?;
    } else {
        let ty = TensorType {
            shape,
            ..out_ty.clone()
        };
        let v = b.add(op, &[xv], ty)?;
        b.emit(
            Op::Reshape {
                shape: out_ty.shape,
            },
            &[v],
            out,
        )?;
    }
    Ok(())
}

pub fn strided_slice(b: &mut Builder<'_, '_>, op: &fb::Operator<'_>, io: &Io) -> Result<()> {
    let o = op
        .builtin_options_as_strided_slice_options()
        .ok_or_else(|| b.err("missing StridedSliceOptions"))?;
    if o.ellipsis_mask() != 0 || o.new_axis_mask() != 0 {
        return Err(b.err("STRIDED_SLICE with ellipsis or new-axis masks is not supported"));
    }
    let (xi, out) = (io.input(b, 0)?, io.output(b, 0)?);
    let dims = b.ty(xi)?.shape;
    let r = dims.len();
    let begin = b.const_ints(io.input(b, 1)?, "begin")?;
    let end = b.const_ints(io.input(b, 2)?, "end")?;
    let strides = match io.opt(3) {
        Some(s) => b.const_ints(s, "strides")?,
        None => vec![1; begin.len()],
    };
    if begin.len() > r
        || end.len() != begin.len()
        || strides.len() != begin.len()
        || strides.contains(&0)
    {
        return Err(b.err("STRIDED_SLICE begin/end/strides do not fit the input"));
    }
    let (mut starts, mut ends, mut steps) = (vec![0i64; r], vec![i64::MAX; r], vec![1i64; r]);
    for i in 0..begin.len() {
        let bit = |m: i32| m & (1 << i) != 0;
        let s = strides[i];
        steps[i] = s;
        starts[i] = if bit(o.begin_mask()) {
            if s > 0 {
                0
            } else {
                i64::MAX
            }
        } else {
            begin[i]
        };
        ends[i] = if bit(o.end_mask()) {
            if s > 0 {
                i64::MAX
            } else {
                i64::MIN
            }
        } else if o.offset() {
            begin[i] + end[i]
        } else {
            end[i]
        };
        if bit(o.shrink_axis_mask()) {
            let d = dims[i] as i64;
            let st = if begin[i] < 0 { begin[i] + d } else { begin[i] };
            if !(0..d).contains(&st) {
                return Err(b.err(format!(
                    "STRIDED_SLICE index {} out of range for dimension {d}",
                    begin[i]
                )));
            }
            (starts[i], ends[i], steps[i]) = (st, st + 1, 1);
        }
    }
    emit_slice(b, xi, out, starts, ends, steps)
}

pub fn slice(b: &mut Builder<'_, '_>, io: &Io) -> Result<()> {
    let (xi, out) = (io.input(b, 0)?, io.output(b, 0)?);
    let dims = b.ty(xi)?.shape;
    let begin = b.const_ints(io.input(b, 1)?, "begin")?;
    let size = b.const_ints(io.input(b, 2)?, "size")?;
    if begin.len() != dims.len() || size.len() != dims.len() {
        return Err(b.err("SLICE begin/size do not fit the input"));
    }
    let ends = begin
        .iter()
        .zip(&size)
        .map(|(&s, &n)| if n < 0 { i64::MAX } else { s + n })
        .collect();
    emit_slice(b, xi, out, begin, ends, vec![1; dims.len()])
}

/// SHAPE: the static input shape as a constant.
pub fn shape(b: &mut Builder<'_, '_>, io: &Io) -> Result<()> {
    let (xi, out) = (io.input(b, 0)?, io.output(b, 0)?);
    let dims: Vec<f64> = b.ty(xi)?.shape.iter().map(|&d| d as f64).collect();
    let out_ty = b.ty(out)?;
    if !matches!(out_ty.dtype, DType::I32 | DType::I64) || out_ty.shape != [dims.len()] {
        return Err(b.err(format!(
            "SHAPE output must be int32/int64 [{}], got {out_ty}",
            dims.len()
        )));
    }
    let t = Tensor::from_f64s(out_ty.dtype, &[dims.len()], &dims)
        .ok_or_else(|| b.err("bad SHAPE output"))?;
    let name = b.g.fresh_name(&b.node);
    let v = b.g.add_const(name, t, None);
    b.bind(out, v)
}

/// PACK: each input gains a unit axis, then all are concatenated along it.
pub fn pack(b: &mut Builder<'_, '_>, op: &fb::Operator<'_>, io: &Io) -> Result<()> {
    let o = op
        .builtin_options_as_pack_options()
        .ok_or_else(|| b.err("missing PackOptions"))?;
    let out = io.output(b, 0)?;
    let out_ty = b.ty(out)?;
    let ax = axis(b, o.axis() as i64, out_ty.shape.len())?;
    let mut parts = Vec::with_capacity(io.ins.len());
    for &i in &io.ins {
        let t = b.ty(i)?;
        let mut shape = t.shape.clone();
        if ax > shape.len() {
            return Err(b.err(format!("PACK axis {ax} out of range for {:?}", t.shape)));
        }
        shape.insert(ax, 1);
        let v = b.value(i)?;
        let ty = TensorType {
            shape: shape.clone(),
            ..t
        };
        parts.push(b.add(Op::Reshape { shape }, &[v], ty)?);
    }
    b.emit(Op::Concat { axis: ax }, &parts, out)?;
    Ok(())
}

pub fn transpose(b: &mut Builder<'_, '_>, io: &Io) -> Result<()> {
    let (xi, out) = (io.input(b, 0)?, io.output(b, 0)?);
    let rank = b.ty(xi)?.shape.len();
    let perm = b
        .const_ints(io.input(b, 1)?, "permutation")?
        .into_iter()
        .map(|p| axis(b, p, rank))
        .collect::<Result<Vec<_>>>()?;
    let x = b.value(xi)?;
    b.emit(Op::Transpose { perm }, &[x], out)?;
    Ok(())
}

pub fn depth_to_space(b: &mut Builder<'_, '_>, op: &fb::Operator<'_>, io: &Io) -> Result<()> {
    let o = op
        .builtin_options_as_depth_to_space_options()
        .ok_or_else(|| b.err("missing DepthToSpaceOptions"))?;
    if o.block_size() <= 0 {
        return Err(b.err("block size must be positive"));
    }
    let x = b.value(io.input(b, 0)?)?;
    let d2s = Op::DepthToSpace {
        block: o.block_size() as usize,
        layout: Layout::Nhwc,
        mode: DepthToSpaceMode::Dcr,
    };
    b.emit(d2s, &[x], io.output(b, 0)?)?;
    Ok(())
}

/// RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR with TFLite's coordinate flags mapped to
/// the IR's coordinate transforms; the size comes from the output tensor.
pub fn resize(
    b: &mut Builder<'_, '_>,
    code: fb::BuiltinOperator,
    op: &fb::Operator<'_>,
    io: &Io,
) -> Result<()> {
    let (mode, align, half) = if code == fb::BuiltinOperator::RESIZE_BILINEAR {
        let o = op.builtin_options_as_resize_bilinear_options();
        (
            ResizeMode::Linear,
            o.is_some_and(|o| o.align_corners()),
            o.is_some_and(|o| o.half_pixel_centers()),
        )
    } else {
        let o = op.builtin_options_as_resize_nearest_neighbor_options();
        (
            ResizeMode::Nearest,
            o.is_some_and(|o| o.align_corners()),
            o.is_some_and(|o| o.half_pixel_centers()),
        )
    };
    let (coord, nearest) = match (mode == ResizeMode::Linear, align, half) {
        (true, true, true) => {
            return Err(b.err("align_corners with half_pixel_centers is not supported"))
        }
        (true, true, false) => (CoordTransform::AlignCorners, NearestRounding::Floor),
        (true, false, true) => (CoordTransform::HalfPixel, NearestRounding::Floor),
        (true, false, false) => (CoordTransform::Asymmetric, NearestRounding::Floor),
        (false, true, true) => (
            CoordTransform::TfHalfPixelForNn,
            NearestRounding::RoundPreferCeil,
        ),
        (false, true, false) => (
            CoordTransform::AlignCorners,
            NearestRounding::RoundPreferCeil,
        ),
        (false, false, true) => (CoordTransform::TfHalfPixelForNn, NearestRounding::Floor),
        (false, false, false) => (CoordTransform::Asymmetric, NearestRounding::Floor),
    };
    let out = io.output(b, 0)?;
    let sizes = b.ty(out)?.shape;
    let x = b.value(io.input(b, 0)?)?;
    b.emit(
        Op::Resize {
            mode,
            coord,
            nearest,
            sizes,
            scales: None,
            filter: Default::default(),
        },
        &[x],
        out,
    )?;
    Ok(())
}
