//! Shape and data-movement operators: MEAN / SUM / REDUCE_MAX / REDUCE_MIN, RESHAPE,
//! TRANSPOSE, CONCATENATION, SPLIT_V, STRIDED_SLICE, PAD / PADV2, GATHER, the resizes and
//! DEPTH_TO_SPACE.

use crate::tflite::export::layout::{permute, storage_axis, TO_NHWC};
use crate::tflite::export::lower::Lowerer;
use crate::tflite::export::model::{EmptyOptions, Options};
use crate::tflite::schema as fb;
use nnopt_compiler::ir::{
    slice_range, CoordTransform, DepthToSpaceMode, Layout, NearestRounding, NodeIndex, Op,
    ReduceKind, ResizeMode, Tensor, TensorType, ValueRef,
};
use nnopt_compiler::Result;

fn i32s(v: &[usize]) -> Vec<i32> {
    v.iter().map(|&d| d as i32).collect()
}

pub fn reduce(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    let Op::Reduce {
        kind,
        axes,
        keep_dims,
    } = l.g.node(n).op.clone()
    else {
        unreachable!("dispatched on Reduce")
    };
    let x = l.g.node_inputs(n)[0];
    // On NHWC storage when the result keeps a layout we can name: all axes kept (NHWC
    // result) or the surviving axes in NCHW order (a logical result).
    let stored_axes: Vec<usize> = axes.iter().map(|&a| storage_axis(a)).collect();
    let surviving: Vec<usize> = TO_NHWC
        .iter()
        .copied()
        .filter(|a| !axes.contains(a))
        .collect();
    let on_storage = l.is_nhwc(x) && (keep_dims || surviving.windows(2).all(|w| w[0] < w[1]));
    let (t, ax, out_nhwc) = if on_storage {
        let mut ax = stored_axes;
        ax.sort_unstable();
        (l.nhwc(x)?, ax, keep_dims)
    } else {
        (l.logical(x)?, axes.clone(), false)
    };
    let at = l.const_i32("axes", &i32s(&ax), &[ax.len()]);
    let code = match kind {
        ReduceKind::Mean => fb::BuiltinOperator::MEAN,
        ReduceKind::Sum => fb::BuiltinOperator::SUM,
        ReduceKind::Max => fb::BuiltinOperator::REDUCE_MAX,
        ReduceKind::Min => fb::BuiltinOperator::REDUCE_MIN,
        ReduceKind::Prod => fb::BuiltinOperator::REDUCE_PROD,
    };
    let out = l.define(n, 0, out_nhwc);
    l.op(code, vec![t, at], vec![out], Options::Reducer { keep_dims });
    Ok(())
}

pub fn reshape(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    let x = l.logical(l.g.node_inputs(n)[0])?;
    let shape = i32s(&l.ty(ValueRef::first(n)).shape);
    let st = l.const_i32("shape", &shape, &[shape.len()]);
    let out = l.define(n, 0, false);
    l.op(
        fb::BuiltinOperator::RESHAPE,
        vec![x, st],
        vec![out],
        Options::Reshape { new_shape: shape },
    );
    Ok(())
}

/// TRANSPOSE; on an NHWC-stored input the permutation is composed with the storage
/// order, so the NCHW-to-NHWC transposes of ONNX-exported graphs cancel out.
pub fn transpose(l: &mut Lowerer<'_>, n: NodeIndex, perm: &[usize]) -> Result<()> {
    let x = l.g.node_inputs(n)[0];
    let (t, p): (i32, Vec<usize>) = if l.is_nhwc(x) {
        (l.nhwc(x)?, perm.iter().map(|&a| storage_axis(a)).collect())
    } else {
        (l.logical(x)?, perm.to_vec())
    };
    let out = l.define(n, 0, false);
    if p.iter().enumerate().all(|(i, &a)| i == a) {
        let shape = i32s(&l.m.ty(out).shape);
        let st = l.const_i32("shape", &shape, &[shape.len()]);
        l.op(
            fb::BuiltinOperator::RESHAPE,
            vec![t, st],
            vec![out],
            Options::Reshape { new_shape: shape },
        );
        return Ok(());
    }
    let pt = l.const_i32("perm", &i32s(&p), &[p.len()]);
    l.op(
        fb::BuiltinOperator::TRANSPOSE,
        vec![t, pt],
        vec![out],
        Options::Empty(EmptyOptions::Transpose),
    );
    Ok(())
}

pub fn concat(l: &mut Lowerer<'_>, n: NodeIndex, axis: usize) -> Result<()> {
    let ins = l.g.node_inputs(n);
    let nhwc = l.ty(ValueRef::first(n)).shape.len() == 4 && ins.iter().any(|&v| l.is_nhwc(v));
    let ts = ins
        .iter()
        .map(|&v| if nhwc { l.nhwc(v) } else { l.logical(v) })
        .collect::<Result<Vec<_>>>()?;
    let axis = if nhwc { storage_axis(axis) } else { axis } as i32;
    // TFLite's int8 CONCATENATION needs its inputs quantized like its output: other inputs
    // are requantized first (nnopt's concat rescales them itself; TFLite's QUANTIZE rounds
    // in fixed point, so an exact tie may land one code apart).
    let out_quant = l.ty(ValueRef::first(n)).quant.clone();
    let ts = ts
        .into_iter()
        .map(|t| {
            let ty = l.m.ty(t).clone();
            if !ty.is_quantized() || ty.quant == out_quant {
                return t;
            }
            let name = format!("{}_requantized", l.node);
            let q = l.new_tensor(
                &name,
                TensorType {
                    quant: out_quant.clone(),
                    ..ty
                },
                None,
            );
            l.op(
                fb::BuiltinOperator::QUANTIZE,
                vec![t],
                vec![q],
                Options::Empty(EmptyOptions::Quantize),
            );
            q
        })
        .collect();
    let out = l.define(n, 0, nhwc);
    l.op(
        fb::BuiltinOperator::CONCATENATION,
        ts,
        vec![out],
        Options::Concatenation {
            axis,
            activation: fb::ActivationFunctionType::NONE,
        },
    );
    Ok(())
}

pub fn split(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    let Op::Split { axis, sizes } = l.g.node(n).op.clone() else {
        unreachable!("dispatched on Split")
    };
    let x = l.logical(l.g.node_inputs(n)[0])?;
    let st = l.const_i32("sizes", &i32s(&sizes), &[sizes.len()]);
    let at = l.const_i32("axis", &[axis as i32], &[]);
    let outs = (0..sizes.len()).map(|k| l.define(n, k, false)).collect();
    l.op(
        fb::BuiltinOperator::SPLIT_V,
        vec![x, st, at],
        outs,
        Options::SplitV {
            num_splits: sizes.len() as i32,
        },
    );
    Ok(())
}

/// Slice as STRIDED_SLICE with resolved (in-range) bounds.
pub fn slice(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    let Op::Slice {
        starts,
        ends,
        steps,
    } = l.g.node(n).op.clone()
    else {
        unreachable!("dispatched on Slice")
    };
    let xv = l.g.node_inputs(n)[0];
    let dims = l.ty(xv).shape.clone();
    let (mut begin, mut end, mut stride) = (vec![], vec![], vec![]);
    let mut end_mask = 0;
    for i in 0..dims.len() {
        let (s, count) = slice_range(dims[i], starts[i], ends[i], steps[i]);
        let e = s + count as i64 * steps[i];
        if e < 0 {
            end_mask |= 1 << i;
        }
        let fits = |v: i64| i32::try_from(v).map_err(|_| l.err("slice bound exceeds int32"));
        begin.push(fits(s.max(0))?);
        end.push(fits(e.max(0))?);
        stride.push(fits(steps[i])?);
    }
    let x = l.logical(xv)?;
    let r = dims.len();
    let bt = l.const_i32("begin", &begin, &[r]);
    let et = l.const_i32("end", &end, &[r]);
    let stt = l.const_i32("strides", &stride, &[r]);
    let out = l.define(n, 0, false);
    l.op(
        fb::BuiltinOperator::STRIDED_SLICE,
        vec![x, bt, et, stt],
        vec![out],
        Options::StridedSlice {
            begin_mask: 0,
            end_mask,
        },
    );
    Ok(())
}

/// PAD (zero, or the zero point of quantized tensors) or PADV2 with a constant value.
pub fn pad(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    let Op::Pad { pads, mode, value } = l.g.node(n).op.clone() else {
        unreachable!("dispatched on Pad")
    };
    if mode != nnopt_compiler::ir::PadMode::Constant {
        return Err(l.err(format!("{mode:?} padding has no TFLite operator")));
    }
    let xv = l.g.node_inputs(n)[0];
    let nhwc = l.is_nhwc(xv);
    let (x, pads) = if nhwc {
        (l.nhwc(xv)?, permute(&pads, &TO_NHWC))
    } else {
        (l.logical(xv)?, pads)
    };
    let flat: Vec<i32> = pads
        .iter()
        .flat_map(|&(a, b)| [a as i32, b as i32])
        .collect();
    let pt = l.const_i32("pads", &flat, &[pads.len(), 2]);
    let mut ins = vec![x, pt];
    let xty = l.ty(xv).clone();
    let code = if value == 0.0 {
        fb::BuiltinOperator::PAD
    } else {
        let raw = match &xty.quant {
            Some(q) if xty.is_quantized() => {
                let (lo, hi) = xty.dtype.int_range().expect("quantized types are integers");
                ((value / q.scale[0]).round() as i64 + q.zero_point[0]).clamp(lo, hi) as f64
            }
            _ => value as f64,
        };
        let t = Tensor::from_f64s(xty.dtype, &[1], &[raw]).ok_or_else(|| l.err("bad pad value"))?;
        let ty = t.tensor_type().with_quant(xty.quant.clone());
        ins.push(l.const_tensor(&format!("{}/value", l.node), &t, ty));
        fb::BuiltinOperator::PADV2
    };
    let out = l.define(n, 0, nhwc);
    let e = if code == fb::BuiltinOperator::PAD {
        EmptyOptions::Pad
    } else {
        EmptyOptions::PadV2
    };
    l.op(code, ins, vec![out], Options::Empty(e));
    Ok(())
}

pub fn gather(l: &mut Lowerer<'_>, n: NodeIndex, axis: usize) -> Result<()> {
    let ins = l.g.node_inputs(n);
    let x = l.logical(ins[0])?;
    let dim = l.ty(ins[0]).shape[axis] as i64;
    // TFLite's GATHER does not wrap negative indices: constant ones are normalized here.
    let idx = match l.g.const_value(ins[1]).and_then(Tensor::to_i64_vec) {
        Some(v) => {
            let wrapped: Vec<i32> = v
                .iter()
                .map(|&i| (if i < 0 { i + dim } else { i }) as i32)
                .collect();
            let shape = l.ty(ins[1]).shape.clone();
            l.const_i32("indices", &wrapped, &shape)
        }
        None => l.logical(ins[1])?,
    };
    let out = l.define(n, 0, false);
    l.op(
        fb::BuiltinOperator::GATHER,
        vec![x, idx],
        vec![out],
        Options::Gather { axis: axis as i32 },
    );
    Ok(())
}

/// RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR over the spatial axes of a 4-D value (NHWC,
/// or NCHW held NHWC), for the coordinate rules TFLite's flags express.
pub fn resize(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    let op = l.g.node(n).op.clone();
    let Some(spec) = op.resize_spec() else {
        unreachable!("dispatched on Resize")
    };
    let (mode, coord, nearest, sizes) = (spec.mode, spec.coord, spec.nearest, spec.sizes);
    let xv = l.g.node_inputs(n)[0];
    let xs = l.ty(xv).shape.clone();
    if xs.len() != 4 || !spec.filter.is_default() {
        return Err(l.err("only plain 4-D resizes have a TFLite operator"));
    }
    let nchw = l.is_nhwc(xv) || (sizes[1] == xs[1] && sizes[3] != xs[3]);
    let (in_s, out_s) = if nchw {
        (permute(&xs, &TO_NHWC), permute(sizes, &TO_NHWC))
    } else {
        (xs.clone(), sizes.to_vec())
    };
    if in_s[0] != out_s[0] || in_s[3] != out_s[3] {
        return Err(l.err("TFLite resizes only the spatial axes"));
    }
    if let Some(sc) = spec.scales {
        let sc = if nchw {
            permute(sc, &TO_NHWC)
        } else {
            sc.to_vec()
        };
        for a in 1..3 {
            if (sc[a] - out_s[a] as f32 / in_s[a] as f32).abs() > 1e-6 {
                return Err(l.err("resize scales that differ from the size ratio"));
            }
        }
    }
    use CoordTransform as C;
    use NearestRounding as R;
    let (code, options) = match mode {
        ResizeMode::Linear => {
            let (align, half) = match coord {
                C::AlignCorners => (true, false),
                C::HalfPixel => (false, true),
                C::PytorchHalfPixel if out_s[1] > 1 && out_s[2] > 1 => (false, true),
                C::Asymmetric => (false, false),
                _ => return Err(l.err(format!("bilinear resize with {coord:?} coordinates"))),
            };
            (
                fb::BuiltinOperator::RESIZE_BILINEAR,
                Options::ResizeBilinear {
                    align_corners: align,
                    half_pixel_centers: half,
                },
            )
        }
        ResizeMode::Nearest => {
            let (align, half) = match (coord, nearest) {
                (C::AlignCorners, R::RoundPreferCeil) => (true, false),
                (C::TfHalfPixelForNn, R::RoundPreferCeil) => (true, true),
                (C::TfHalfPixelForNn, R::Floor) => (false, true),
                (C::Asymmetric, R::Floor) => (false, false),
                _ => {
                    return Err(l.err(format!(
                        "nearest resize with {coord:?} coordinates and {nearest:?} rounding"
                    )))
                }
            };
            (
                fb::BuiltinOperator::RESIZE_NEAREST_NEIGHBOR,
                Options::ResizeNearest {
                    align_corners: align,
                    half_pixel_centers: half,
                },
            )
        }
        ResizeMode::Cubic => return Err(l.err("cubic resize has no TFLite operator")),
    };
    let x = if nchw { l.nhwc(xv)? } else { l.logical(xv)? };
    let st = l.const_i32("size", &i32s(&out_s[1..3]), &[2]);
    let out = l.define(n, 0, nchw);
    l.op(code, vec![x, st], vec![out], options);
    Ok(())
}

pub fn depth_to_space(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    let Op::DepthToSpace {
        block,
        layout,
        mode,
    } = l.g.node(n).op.clone()
    else {
        unreachable!("dispatched on DepthToSpace")
    };
    if mode != DepthToSpaceMode::Dcr {
        return Err(l.err("TFLite's DEPTH_TO_SPACE has only the DCR element order"));
    }
    let xv = l.g.node_inputs(n)[0];
    let nchw = layout == Layout::Nchw;
    let x = if nchw { l.nhwc(xv)? } else { l.logical(xv)? };
    let out = l.define(n, 0, nchw);
    l.op(
        fb::BuiltinOperator::DEPTH_TO_SPACE,
        vec![x],
        vec![out],
        Options::DepthToSpace {
            block_size: block as i32,
        },
    );
    Ok(())
}
