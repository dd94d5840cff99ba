//! Resize (opset 10+) and Upsample (opset 7-9) to the IR's static-size Resize; GridSample
//! and RoiAlign.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::{opt_const_floats, opt_const_ints};
use nnopt_compiler::ir::{
    CoordTransform, GridPadding, NearestRounding, Op, PoolKind, ResizeFilter, ResizeMode,
    RoiAlignAttrs, ValueRef,
};
use nnopt_compiler::Result;

/// Resize / Upsample; `scales` inputs (and aspect-ratio policies) are kept on the op.
pub(super) fn resize(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let shape = imp.shape(x);
    let r = shape.len();
    let legacy = cx.op_type() == "Upsample" || imp.opset < 11;
    let axes = match cx.ints("axes")? {
        Some(a) => a
            .iter()
            .map(|&a| cx.axis(a, r))
            .collect::<Result<Vec<_>>>()?,
        None => (0..r).collect(),
    };
    let nonempty = |v: Option<Vec<f64>>| v.filter(|v| !v.is_empty());
    let (scales, sizes) = if cx.op_type() == "Upsample" && imp.opset < 9 {
        (
            cx.floats("scales")?
                .map(|v| v.iter().map(|&s| s as f64).collect()),
            None,
        )
    } else if legacy {
        (nonempty(opt_const_floats(imp, cx, 1, "scales")?), None)
    } else {
        let sizes = opt_const_ints(imp, cx, 3, "sizes")?.filter(|v| !v.is_empty());
        (nonempty(opt_const_floats(imp, cx, 2, "scales")?), sizes)
    };
    let mut out = shape.clone();
    let mut eff = vec![1.0f64; r];
    let mut explicit_scale = true;
    match (scales, sizes) {
        (_, Some(sz)) => {
            if sz.len() != axes.len() {
                return Err(cx.err(format!("{} sizes for {} axes", sz.len(), axes.len())));
            }
            let sz = cx.usizes("sizes", &sz)?;
            let ratio = |i: usize| sz[i] as f64 / shape[axes[i]].max(1) as f64;
            let policy = cx.string("keep_aspect_ratio_policy", "stretch")?;
            let fixed = match policy.as_str() {
                "stretch" => None,
                "not_larger" => Some((0..axes.len()).map(ratio).fold(f64::INFINITY, f64::min)),
                "not_smaller" => Some((0..axes.len()).map(ratio).fold(0.0, f64::max)),
                p => return Err(cx.err(format!("unknown keep_aspect_ratio_policy '{p}'"))),
            };
            for (i, &a) in axes.iter().enumerate() {
                match fixed {
                    None => out[a] = sz[i],
                    Some(s) => {
                        out[a] = (s * shape[a] as f64).round() as usize;
                        eff[a] = s;
                    }
                }
            }
            explicit_scale = fixed.is_some();
        }
        (Some(sc), None) => {
            if sc.len() != axes.len() {
                return Err(cx.err(format!("{} scales for {} axes", sc.len(), axes.len())));
            }
            for (i, &a) in axes.iter().enumerate() {
                if sc[i].is_nan() || sc[i] <= 0.0 {
                    return Err(cx.err(format!("scale {} must be positive", sc[i])));
                }
                out[a] = (shape[a] as f64 * sc[i] as f32 as f64).floor() as usize;
                eff[a] = sc[i];
            }
        }
        (None, None) => return Err(cx.err("neither scales nor sizes are given")),
    }
    let mode = match cx.string("mode", "nearest")?.as_str() {
        "nearest" => ResizeMode::Nearest,
        "linear" | "bilinear" => ResizeMode::Linear,
        "cubic" => ResizeMode::Cubic,
        m => return Err(cx.err(format!("resize mode '{m}' is not supported"))),
    };
    let mut filter = ResizeFilter {
        cubic_coeff_a: cx.float("cubic_coeff_a", -0.75)?,
        exclude_outside: cx.int("exclude_outside", 0)? != 0,
        antialias: cx.int("antialias", 0)? != 0 && mode != ResizeMode::Nearest,
        roi: None,
        extrapolation_value: cx.float("extrapolation_value", 0.0)?,
    };
    let (coord, nearest) = if legacy {
        let up = (0..r).all(|a| out[a] >= shape[a]);
        let down = (0..r).all(|a| out[a] <= shape[a]);
        let nearest = match (up, down) {
            (true, _) => NearestRounding::Floor,
            (false, true) => NearestRounding::Ceil,
            _ => {
                return Err(
                    cx.err("legacy nearest resize that both up- and downsamples is not supported")
                )
            }
        };
        (CoordTransform::Asymmetric, nearest)
    } else {
        let coord = match cx
            .string("coordinate_transformation_mode", "half_pixel")?
            .as_str()
        {
            "half_pixel" => CoordTransform::HalfPixel,
            "pytorch_half_pixel" => CoordTransform::PytorchHalfPixel,
            "align_corners" => CoordTransform::AlignCorners,
            "asymmetric" => CoordTransform::Asymmetric,
            "tf_half_pixel_for_nn" => CoordTransform::TfHalfPixelForNn,
            "half_pixel_symmetric" => CoordTransform::HalfPixelSymmetric,
            "tf_crop_and_resize" => {
                filter.roi = Some(crop_box(imp, cx, &axes, r)?);
                CoordTransform::TfCropAndResize
            }
            m => {
                return Err(cx.err(format!(
                    "coordinate_transformation_mode '{m}' is not supported"
                )))
            }
        };
        let nearest = match cx.string("nearest_mode", "round_prefer_floor")?.as_str() {
            "round_prefer_floor" => NearestRounding::RoundPreferFloor,
            "round_prefer_ceil" => NearestRounding::RoundPreferCeil,
            "floor" => NearestRounding::Floor,
            "ceil" => NearestRounding::Ceil,
            m => return Err(cx.err(format!("nearest_mode '{m}' is not supported"))),
        };
        (coord, nearest)
    };
    // The coordinate transform uses ONNX's scales, which differ from out/in when the
    // scaled size is not integral; plain `sizes` leave them implied.
    let scales = explicit_scale.then(|| eff.iter().map(|&s| s as f32).collect());
    imp.emit(
        Op::Resize {
            mode,
            coord,
            nearest,
            sizes: out,
            scales,
            filter,
        },
        &[x],
        cx.out(0),
    )
}

/// The `roi` input of tf_crop_and_resize as one `(start, end)` box per axis of a rank-`r`
/// input (axes not in `axes` keep the whole range).
fn crop_box(imp: &Importer, cx: &NodeCtx, axes: &[usize], r: usize) -> Result<Vec<(f32, f32)>> {
    let roi = opt_const_floats(imp, cx, 1, "roi")?
        .filter(|v| !v.is_empty())
        .ok_or_else(|| cx.err("tf_crop_and_resize needs a constant roi input"))?;
    if roi.len() != 2 * axes.len() {
        return Err(cx.err(format!(
            "roi has {} values, expected {} (start and end per axis)",
            roi.len(),
            2 * axes.len()
        )));
    }
    let mut boxes = vec![(0.0, 1.0); r];
    for (i, &a) in axes.iter().enumerate() {
        boxes[a] = (roi[i] as f32, roi[i + axes.len()] as f32);
    }
    Ok(boxes)
}

/// GridSample (opset 16: 4-D, bilinear/bicubic; opset 20: N-D, linear/cubic).
pub(super) fn grid_sample(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (x, grid) = (cx.input(0)?, cx.input(1)?);
    let default_mode = if imp.opset >= 20 {
        "linear"
    } else {
        "bilinear"
    };
    let mode = match cx.string("mode", default_mode)?.as_str() {
        "nearest" => ResizeMode::Nearest,
        "linear" | "bilinear" => ResizeMode::Linear,
        "cubic" | "bicubic" => ResizeMode::Cubic,
        m => return Err(cx.err(format!("unknown mode '{m}'"))),
    };
    let padding = match cx.string("padding_mode", "zeros")?.as_str() {
        "zeros" => GridPadding::Zeros,
        "border" => GridPadding::Border,
        "reflection" => GridPadding::Reflection,
        p => return Err(cx.err(format!("unknown padding_mode '{p}'"))),
    };
    let op = Op::GridSample {
        mode,
        padding,
        align_corners: cx.int("align_corners", 0)? != 0,
    };
    imp.emit(op, &[x, grid], cx.out(0))
}

/// RoiAlign (opset 10: output_half_pixel coordinates; opset 16 adds the attribute, default
/// half_pixel).
pub(super) fn roi_align(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let ins = [cx.input(0)?, cx.input(1)?, cx.input(2)?];
    let default_coord = if imp.opset >= 16 {
        "half_pixel"
    } else {
        "output_half_pixel"
    };
    let half_pixel = match cx
        .string("coordinate_transformation_mode", default_coord)?
        .as_str()
    {
        "half_pixel" => true,
        "output_half_pixel" => false,
        m => return Err(cx.err(format!("unknown coordinate_transformation_mode '{m}'"))),
    };
    let kind = match cx.string("mode", "avg")?.as_str() {
        "avg" => PoolKind::Avg,
        "max" => PoolKind::Max,
        m => return Err(cx.err(format!("unknown mode '{m}'"))),
    };
    let sizes = [
        cx.int("output_height", 1)?,
        cx.int("output_width", 1)?,
        cx.int("sampling_ratio", 0)?,
    ];
    let v = cx.usizes("output sizes and sampling_ratio", &sizes)?;
    let (oh, ow, ratio) = (v[0], v[1], v[2]);
    if oh == 0 || ow == 0 {
        return Err(cx.err("output_height and output_width must be positive"));
    }
    let op = Op::RoiAlign(RoiAlignAttrs {
        kind,
        output_size: [oh, ow],
        sampling_ratio: ratio,
        spatial_scale: cx.float("spatial_scale", 1.0)?,
        half_pixel,
    });
    imp.emit(op, &ins, cx.out(0))
}
