//! Gradients of a general (grouped, not depthwise) convolution by im2col and matrix
//! products, the adjoint of [`super::conv`]'s forward kernel: per output block,
//! `dW += cols^T dY` and `dcols = dY W^T`, scattered back onto the input (col2im).

use super::conv::{check_groups, group_matrices, hwio_weights, im2col, Geometry};
use super::util::{f32_input, from_nhwc, to_nhwc};
use crate::interp::Operand;
use crate::ir::{ConvAttrs, Layout, Tensor};
use crate::kernels::{mat_mul, mat_mul_into};
use crate::{bail, Result};
use ndarray::{s, Array2, Array4, ArrayView2, ArrayView4, Axis, Ix4};

/// The input (`wrt_input`) or weight gradient of `c` on (x, w, dy), or `None` for a
/// depthwise convolution (left to the direct loop).
pub(super) fn conv_grad(
    c: &ConvAttrs,
    wrt_input: bool,
    inputs: &[Operand<'_>],
) -> Result<Option<Tensor>> {
    if let Some(grad) = pointwise_nchw(c, wrt_input, inputs)? {
        return Ok(Some(grad));
    }
    let x = to_nhwc(f32_input(inputs, 0, "conv input")?, c.layout, "conv input")?;
    let w = f32_input(inputs, 1, "conv weight")?;
    let dy = to_nhwc(
        f32_input(inputs, 2, "output gradient")?,
        c.layout,
        "output gradient",
    )?;
    let w_hwio = hwio_weights(c, w)?;
    let (n, h, wd, ch) = x.dim();
    let (kh, kw, cg, o) = w_hwio.dim();
    if c.group > 1 && cg == 1 {
        return Ok(None);
    }
    check_groups(c, ch, w.shape(), w_hwio.dim())?;
    let g = Geometry::new(c, h, wd, kh, kw)?;
    let [ho, wo] = g.out;
    if dy.dim() != (n, ho, wo, o) {
        bail!(
            "output gradient {:?} does not match the convolution",
            dy.shape()
        );
    }
    let og = o / c.group;
    let k = kh * kw * cg;
    let dims = [h, wd, ch, kh, kw, cg];
    let rows_per_block = g.rows_per_block(k);
    let x_data = x.as_slice().expect("standard layout");
    // The output gradient of image b, rows oy0.., group gi as a (rows * wo, og) matrix.
    let dy_block = |b: usize, gi: usize, oy0: usize, rows: usize| {
        dy.slice(s![b, oy0..oy0 + rows, .., gi * og..(gi + 1) * og])
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((rows * wo, og))
            .expect("standard layout reshape")
    };
    let blocks = (0..ho)
        .step_by(rows_per_block)
        .map(|oy0| (oy0, rows_per_block.min(ho - oy0)));
    if wrt_input {
        let weights = group_matrices(w_hwio, c.group);
        let mut dx = vec![0f32; x.len()];
        let image = h * wd * ch;
        for b in 0..n {
            let dxb = &mut dx[b * image..(b + 1) * image];
            for (gi, wmat) in weights.iter().enumerate() {
                for (oy0, rows) in blocks.clone() {
                    let dcols = dy_block(b, gi, oy0, rows).dot(&wmat.t());
                    let d = dcols.as_slice().expect("fresh product is contiguous");
                    g.for_each_tap(dims, gi, oy0, rows, |src, dst| {
                        for (t, v) in dxb[src..src + cg].iter_mut().zip(&d[dst..dst + cg]) {
                            *t += v;
                        }
                    });
                }
            }
        }
        let dx = Array4::from_shape_vec((n, h, wd, ch), dx).expect("sized like x");
        return Ok(Some(Tensor::F32(from_nhwc(dx, c.layout))));
    }
    let mut dw: Vec<Array2<f32>> = (0..c.group).map(|_| Array2::zeros((k, og))).collect();
    for b in 0..n {
        let xb = &x_data[b * h * wd * ch..(b + 1) * h * wd * ch];
        for (gi, acc) in dw.iter_mut().enumerate() {
            for (oy0, rows) in blocks.clone() {
                let cols = im2col(xb, &g, dims, gi, oy0, rows);
                *acc += &cols.t().dot(&dy_block(b, gi, oy0, rows));
            }
        }
    }
    let mut hwio = Array4::<f32>::zeros((kh, kw, cg, o));
    for (gi, m) in dw.into_iter().enumerate() {
        hwio.slice_mut(s![.., .., .., gi * og..(gi + 1) * og])
            .assign(&m.into_shape_with_order((kh, kw, cg, og)).expect("sizes"));
    }
    let back = match c.layout {
        Layout::Nchw => hwio.permuted_axes([3, 2, 0, 1]),
        Layout::Nhwc => hwio.permuted_axes([3, 0, 1, 2]),
    };
    Ok(Some(Tensor::F32(
        back.as_standard_layout().into_owned().into_dyn(),
    )))
}

/// The gradients of an NCHW pointwise convolution (1x1, stride 1, no padding, one
/// group) as matrix products per image, without layout changes: `dX_b = Wᵀ dY_b` and
/// `dW = Σ_b dY_b X_bᵀ` (images in order). `None` for other convolutions.
fn pointwise_nchw(
    c: &ConvAttrs,
    wrt_input: bool,
    inputs: &[Operand<'_>],
) -> Result<Option<Tensor>> {
    let pointwise = c.layout == Layout::Nchw
        && c.group == 1
        && c.strides == [1, 1]
        && c.pads == [0; 4]
        && inputs.len() == 3;
    let four = |i: usize, what: &str| -> Result<Option<ArrayView4<'_, f32>>> {
        Ok(f32_input(inputs, i, what)?
            .view()
            .into_dimensionality::<Ix4>()
            .ok())
    };
    if !pointwise {
        return Ok(None);
    }
    let (Some(x), Some(w), Some(dy)) = (
        four(0, "conv input")?,
        four(1, "conv weight")?,
        four(2, "output gradient")?,
    ) else {
        return Ok(None);
    };
    let ((n, cin, h, wd), (o, wc, kh, kw)) = (x.dim(), w.dim());
    if (wc, kh, kw) != (cin, 1, 1) || dy.dim() != (n, o, h, wd) {
        return Ok(None);
    }
    let (x, dy) = (x.as_standard_layout(), dy.as_standard_layout());
    let w = w.as_standard_layout();
    let wm = w
        .view()
        .into_shape_with_order((o, cin))
        .expect("standard layout");
    if wrt_input {
        let mut dx = Array4::<f32>::zeros((n, cin, h, wd));
        for b in 0..n {
            let mut dxb = dx.index_axis_mut(Axis(0), b);
            let dxb = dxb
                .view_mut()
                .into_shape_with_order((cin, h * wd))
                .expect("fresh array");
            mat_mul_into(wm.t(), image(dy.view(), b, o), dxb);
        }
        return Ok(Some(Tensor::F32(dx.into_dyn())));
    }
    let mut dw = Array2::<f32>::zeros((o, cin));
    for b in 0..n {
        dw += &mat_mul(image(dy.view(), b, o), image(x.view(), b, cin).t());
    }
    let dw = dw
        .into_shape_with_order((o, cin, 1, 1))
        .expect("o x cin weights");
    Ok(Some(Tensor::F32(dw.into_dyn())))
}

/// Image `b` of the NCHW `a` (`rows` channels) as a `(rows, h * w)` matrix.
fn image(a: ArrayView4<'_, f32>, b: usize, rows: usize) -> ArrayView2<'_, f32> {
    let hw = a.shape()[2] * a.shape()[3];
    a.index_axis_move(Axis(0), b)
        .into_shape_with_order((rows, hw))
        .expect("standard layout")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{assert_close, op, rand};

    /// The im2col and pointwise gradients equal the direct loops of `grad::conv_grad` (up
    /// to f32 summation order) on strided, dilated, padded, grouped and 1x1 convolutions.
    #[test]
    fn matches_the_direct_loop() {
        let cases = [
            // (layout, x shape, w shape, strides, dilations, pads, group)
            (
                Layout::Nchw,
                [2, 3, 7, 6],
                [4, 3, 3, 3],
                [1, 1],
                [1, 1],
                [1, 1, 1, 1],
                1,
            ),
            (
                Layout::Nchw,
                [1, 4, 9, 8],
                [6, 2, 3, 2],
                [2, 1],
                [1, 2],
                [0, 1, 2, 0],
                2,
            ),
            (
                Layout::Nhwc,
                [2, 6, 5, 3],
                [5, 2, 2, 3],
                [1, 2],
                [2, 1],
                [1, 0, 0, 1],
                1,
            ),
            (
                Layout::Nhwc,
                [1, 5, 5, 4],
                [4, 1, 1, 4],
                [1, 1],
                [1, 1],
                [0, 0, 0, 0],
                1,
            ),
            // NCHW pointwise: the per-image matrix products.
            (
                Layout::Nchw,
                [2, 5, 4, 3],
                [7, 5, 1, 1],
                [1, 1],
                [1, 1],
                [0, 0, 0, 0],
                1,
            ),
        ];
        for (layout, xs, ws, strides, dilations, pads, group) in cases {
            let c = ConvAttrs {
                layout,
                strides,
                dilations,
                pads,
                group,
                activation: None,
            };
            let x = Tensor::F32(rand(&xs, 1));
            let w = Tensor::F32(rand(&ws, 2));
            let y = super::super::conv::conv(&c, &[op(&x), op(&w)]).unwrap();
            let dy = Tensor::F32(rand(y.shape(), 3));
            let ops = [op(&x), op(&w), op(&dy)];
            for wrt_input in [true, false] {
                let fast = conv_grad(&c, wrt_input, &ops).unwrap().unwrap();
                let direct = super::super::grad::conv_grad(&c, wrt_input, &ops).unwrap();
                assert_close(fast.as_f32().unwrap(), direct.as_f32().unwrap(), 1e-5);
            }
        }
    }
}
