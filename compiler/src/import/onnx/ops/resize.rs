//! Resize (opset 10+) and Upsample (opset 7-9) to the IR's static-size Resize.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::{opt_const_floats, opt_const_ints};
use crate::ir::{CoordTransform, NearestRounding, Op, ResizeMode, ValueRef};
use crate::Result;

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
        m => return Err(cx.err(format!("resize mode '{m}' is not supported"))),
    };
    if cx.int("antialias", 0)? != 0 && out.iter().zip(&shape).any(|(o, i)| o < i) {
        return Err(cx.err("antialiased downsampling is not supported"));
    }
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
        },
        &[x],
        cx.out(0),
    )
}
