//! Tensors to and from the front-end's pixel stream: int8 NHWC, one image after another.

use super::layers::FixedFrontend;
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::interp::{eval_op, Operand};
use nnopt_compiler::ir::{DType, Layout, Tensor, TensorType};
use nnopt_compiler::kernels::{nchw_to_nhwc, nhwc_to_nchw};
use nnopt_compiler::{bail, Result};

/// The int8 NHWC pixels of a front-end input (quantized first if the model takes real
/// values, exactly as the front-end model's quantize node does), and the image count.
pub fn to_pixels(fe: &FixedFrontend, x: &Tensor) -> Result<(Vec<i8>, usize)> {
    let declared = &fe.input.ty;
    let shape = x.shape();
    if shape.len() != 4 || shape[1..] != declared.shape[1..] {
        bail!(
            "input shape {shape:?} does not match the front-end's {:?} (any batch)",
            declared.shape
        );
    }
    if x.dtype() != declared.dtype {
        bail!(
            "input type {} does not match the front-end's {}",
            x.dtype(),
            declared.dtype
        );
    }
    let frames = shape[0];
    let ints = match &fe.input.quantize {
        Some((op, out)) => {
            let ty =
                TensorType::new(declared.dtype, shape.to_vec()).with_quant(declared.quant.clone());
            let out = TensorType::new(out.dtype, shape.to_vec()).with_quant(out.quant.clone());
            let q = eval_op(op, &[Operand { data: x, ty: &ty }], &[out])?;
            q.into_iter().next().expect("one output")
        }
        None => x.clone(),
    };
    Ok((nhwc_codes(&ints, fe.input.layout, "input")?, frames))
}

/// The int8 NHWC pixels of a front-end model's output (the inverse of [`from_pixels`]).
pub fn output_pixels(fe: &FixedFrontend, y: &Tensor) -> Result<Vec<i8>> {
    nhwc_codes(y, fe.input.layout, "output")
}

/// An int8 activation's codes in NHWC order.
fn nhwc_codes(t: &Tensor, layout: Layout, what: &str) -> Result<Vec<i8>> {
    let Tensor::I8(a) = t else {
        bail!("the front-end's {what} stream must be int8");
    };
    let v: Vec<i8> = a.iter().copied().collect();
    Ok(match layout {
        Layout::Nhwc => v,
        Layout::Nchw => nchw_to_nhwc(&v, t.shape()),
    })
}

/// The front-end model's output tensor from `frames` images of output pixels.
pub fn from_pixels(fe: &FixedFrontend, pixels: &[i8], frames: usize) -> Result<Tensor> {
    let [h, w, c] = fe.output_shape();
    if pixels.len() != frames * h * w * c {
        bail!(
            "{} output values for {frames} images of {h}x{w}x{c}",
            pixels.len()
        );
    }
    let (shape, v) = match fe.input.layout {
        Layout::Nhwc => (vec![frames, h, w, c], pixels.to_vec()),
        Layout::Nchw => {
            let shape = vec![frames, c, h, w];
            (shape.clone(), nhwc_to_nchw(pixels, &shape))
        }
    };
    debug_assert_eq!(fe.output.dtype, DType::I8);
    Ok(Tensor::I8(
        ArrayD::from_shape_vec(IxDyn(&shape), v).expect("element count checked"),
    ))
}
