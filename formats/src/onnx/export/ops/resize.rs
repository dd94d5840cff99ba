//! Resize, GridSample and DepthToSpace.

use super::NodeArgs;
use crate::onnx::export::builder::Builder;
use crate::onnx::export::proto::{attr, Attr};
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::ir::{
    CoordTransform, DepthToSpaceMode, GridPadding, Layout, NearestRounding, ResizeMode, Tensor,
};
use nnopt_compiler::{Error, Result};

/// Resize, with constant scales or sizes and an optional region of interest.
pub(crate) fn resize(b: &mut Builder, cx: NodeArgs) -> Result<String> {
    let NodeArgs { node, name, x, .. } = cx;
    let Some(spec) = node.op.resize_spec() else {
        unreachable!("dispatched on Resize")
    };
    if spec.filter.antialias {
        return Err(Error::new(format!(
            "node '{name}': the exporter does not write antialiased Resize (an ONNX opset 18 attribute)"
        )));
    }
    // ONNX takes either scales or sizes; scales keep the exact coordinate
    // transform when they are not output / input.
    let (sc, sz) = match spec.scales {
        Some(s) => {
            let t =
                Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[s.len()]), s.to_vec()).expect("1-D"));
            (b.init("scales", t), String::new())
        }
        None => {
            let sz: Vec<i64> = spec.sizes.iter().map(|&d| d as i64).collect();
            (String::new(), b.i64s("sizes", &sz))
        }
    };
    let coord = match spec.coord {
        CoordTransform::HalfPixel => "half_pixel",
        CoordTransform::PytorchHalfPixel => "pytorch_half_pixel",
        CoordTransform::AlignCorners => "align_corners",
        CoordTransform::Asymmetric => "asymmetric",
        CoordTransform::TfHalfPixelForNn => "tf_half_pixel_for_nn",
        CoordTransform::HalfPixelSymmetric => "half_pixel_symmetric",
        CoordTransform::TfCropAndResize => "tf_crop_and_resize",
    };
    let nearest = match spec.nearest {
        NearestRounding::RoundPreferFloor => "round_prefer_floor",
        NearestRounding::RoundPreferCeil => "round_prefer_ceil",
        NearestRounding::Floor => "floor",
        NearestRounding::Ceil => "ceil",
    };
    let mode = match spec.mode {
        ResizeMode::Nearest => "nearest",
        ResizeMode::Linear => "linear",
        ResizeMode::Cubic => "cubic",
    };
    let attrs = vec![
        attr("mode", Attr::Str(mode.into())),
        attr("coordinate_transformation_mode", Attr::Str(coord.into())),
        attr("nearest_mode", Attr::Str(nearest.into())),
        attr("cubic_coeff_a", Attr::Float(spec.filter.cubic_coeff_a)),
        attr(
            "exclude_outside",
            Attr::Int(i64::from(spec.filter.exclude_outside)),
        ),
        attr(
            "extrapolation_value",
            Attr::Float(spec.filter.extrapolation_value),
        ),
    ];
    let roi = match &spec.filter.roi {
        Some(boxes) => {
            let (starts, ends): (Vec<f32>, Vec<f32>) = boxes.iter().copied().unzip();
            let roi = [starts, ends].concat();
            let t = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[roi.len()]), roi).expect("1-D"));
            b.init("roi", t)
        }
        None => String::new(),
    };
    let mut ins = vec![x[0].clone(), roi, sc, sz];
    while ins.last().is_some_and(|s| s.is_empty()) {
        ins.pop();
    }
    Ok(b.simple("Resize", name, ins, attrs, None))
}

/// DepthToSpace (channels-last IR ops are wrapped in transposes).
pub(crate) fn depth_to_space(
    b: &mut Builder,
    cx: NodeArgs,
    block: usize,
    layout: Layout,
    mode: DepthToSpaceMode,
) -> String {
    let NodeArgs { name, x, .. } = cx;
    let input = match layout {
        Layout::Nchw => x[0].clone(),
        Layout::Nhwc => b.transpose(x[0].clone(), [0, 3, 1, 2]),
    };
    let mode = match mode {
        DepthToSpaceMode::Dcr => "DCR",
        DepthToSpaceMode::Crd => "CRD",
    };
    let attrs = vec![
        attr("blocksize", Attr::Int(block as i64)),
        attr("mode", Attr::Str(mode.into())),
    ];
    let y = b.simple("DepthToSpace", name, vec![input], attrs, None);
    match layout {
        Layout::Nchw => y,
        Layout::Nhwc => b.transpose(y, [0, 2, 3, 1]),
    }
}

/// GridSample: opsets 16 to 19 name the interpolations bilinear and bicubic and take 4-D
/// inputs only.
pub(crate) fn grid_sample(
    b: &mut Builder,
    cx: NodeArgs,
    mode: ResizeMode,
    padding: GridPadding,
    align_corners: bool,
) -> Result<String> {
    let NodeArgs { node, name, x, .. } = cx;
    let rank = node.outputs[0].ty.shape.len();
    if b.opset < 16 || (b.opset < 20 && rank != 4) {
        return Err(Error::new(format!(
            "node '{name}': {rank}-D GridSample needs ONNX opset {}; the exporter writes opset {}",
            if rank == 4 { 16 } else { 20 },
            b.opset
        )));
    }
    let mode = match (mode, b.opset >= 20) {
        (ResizeMode::Nearest, _) => "nearest",
        (ResizeMode::Linear, true) => "linear",
        (ResizeMode::Linear, false) => "bilinear",
        (ResizeMode::Cubic, true) => "cubic",
        (ResizeMode::Cubic, false) => "bicubic",
    };
    let padding = match padding {
        GridPadding::Zeros => "zeros",
        GridPadding::Border => "border",
        GridPadding::Reflection => "reflection",
    };
    let attrs = vec![
        attr("mode", Attr::Str(mode.into())),
        attr("padding_mode", Attr::Str(padding.into())),
        attr("align_corners", Attr::Int(align_corners as i64)),
    ];
    Ok(b.simple("GridSample", name, x, attrs, None))
}
