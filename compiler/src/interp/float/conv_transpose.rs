//! 2-D transposed convolution: NCHW with IOHW weights (ONNX, grouped) or NHWC with OHWI
//! weights (TFLite TRANSPOSE_CONV).
//!
//! Runs in NHWC: each group's input pixels times its weight matrix give every pixel's
//! contribution to a `kh x kw` output window, which is then scattered (col2im).

use super::util::{arity, f32_input, finish_conv, to_nhwc};
use crate::interp::Operand;
use crate::ir::{ConvAttrs, Layout, Tensor, TensorType};
use crate::{bail, Result};
use ndarray::{s, Array2, Array4, Ix4};

/// Transposed convolution: (x, w, [bias]); the output size comes from the declared type
/// (which accounts for output padding).
pub(super) fn conv_transpose(
    c: &ConvAttrs,
    inputs: &[Operand<'_>],
    out_ty: &TensorType,
) -> Result<Tensor> {
    arity(inputs, 2, 3)?;
    let x = to_nhwc(
        f32_input(inputs, 0, "conv_transpose input")?,
        c.layout,
        "conv_transpose input",
    )?;
    let w = f32_input(inputs, 1, "conv_transpose weight")?;
    let Ok(w4) = w.view().into_dimensionality::<Ix4>() else {
        bail!(
            "conv_transpose weight must have rank 4, got shape {:?}",
            w.shape()
        );
    };
    let (n, h, wd, cin) = x.dim();
    if c.group == 0 || !cin.is_multiple_of(c.group) {
        bail!(
            "conv_transpose input has {cin} channels, not divisible by group {}",
            c.group
        );
    }
    let cg = cin / c.group;
    // Weights as (I, kh, kw, O): all input channels for IOHW, one group's for OHWI.
    let (w_ihwo, fits) = match c.layout {
        Layout::Nchw => (w4.permuted_axes([0, 2, 3, 1]), w4.shape()[0] == cin),
        Layout::Nhwc => (
            w4.permuted_axes([3, 1, 2, 0]),
            w4.shape()[3] == cg && w4.shape()[0].is_multiple_of(c.group),
        ),
    };
    let (_, kh, kw, w_out) = w_ihwo.dim();
    let og = match c.layout {
        Layout::Nchw => w_out,
        Layout::Nhwc => w_out / c.group,
    };
    if !fits || og == 0 {
        bail!(
            "conv_transpose weight {:?} does not fit {cin} input channels and group {}",
            w.shape(),
            c.group
        );
    }
    let o = og * c.group;
    let out_shape = &out_ty.shape;
    let [ha, wa] = c.layout.spatial_axes();
    if out_shape.len() != 4 || out_shape[c.layout.channel_axis()] != o || out_shape[0] != n {
        bail!("conv_transpose declared output {out_ty} does not fit {o} output channels");
    }
    let (ho, wo) = (out_shape[ha], out_shape[wa]);
    let weights: Vec<Array2<f32>> = (0..c.group)
        .map(|g| {
            let wg = match c.layout {
                Layout::Nchw => w_ihwo.slice(s![g * cg..(g + 1) * cg, .., .., ..]),
                Layout::Nhwc => w_ihwo.slice(s![.., .., .., g * og..(g + 1) * og]),
            };
            let wg = wg.as_standard_layout().into_owned();
            wg.into_shape_with_order((cg, kh * kw * og))
                .expect("standard layout reshape")
        })
        .collect();
    let place = |ax: usize, i: usize, k: usize, size: usize| {
        let p = i * c.strides[ax] + k * c.dilations[ax];
        p.checked_sub(c.pads[ax]).filter(|&v| v < size)
    };
    let mut out = Array4::<f32>::zeros((n, ho, wo, o));
    for b in 0..n {
        for (g, wmat) in weights.iter().enumerate() {
            let xg = x
                .slice(s![b, .., .., g * cg..(g + 1) * cg])
                .as_standard_layout()
                .into_owned();
            let xg = xg
                .into_shape_with_order((h * wd, cg))
                .expect("standard layout reshape");
            let contrib = xg.dot(wmat);
            let mut ob = out.slice_mut(s![b, .., .., g * og..(g + 1) * og]);
            for (pix, row) in contrib.outer_iter().enumerate() {
                let (iy, ix) = (pix / wd, pix % wd);
                for ky in 0..kh {
                    let Some(oy) = place(0, iy, ky, ho) else {
                        continue;
                    };
                    for kx in 0..kw {
                        let Some(ox) = place(1, ix, kx, wo) else {
                            continue;
                        };
                        let t = (ky * kw + kx) * og;
                        let mut dst = ob.slice_mut(s![oy, ox, ..]);
                        dst += &row.slice(s![t..t + og]);
                    }
                }
            }
        }
    }
    finish_conv(out, c, inputs, "conv_transpose bias")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{assert_close, op, rand};
    use ndarray::ArrayD;

    /// Direct definition: every input pixel scatters `x * w` into the output.
    fn naive(
        x: &ArrayD<f32>,
        w: &ArrayD<f32>,
        b: &[f32],
        c: &ConvAttrs,
        out_hw: [usize; 2],
    ) -> ArrayD<f32> {
        let (n, ci, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        let (og, kh, kw) = (w.shape()[1], w.shape()[2], w.shape()[3]);
        let cg = ci / c.group;
        let mut out = ndarray::Array4::<f32>::zeros((n, og * c.group, out_hw[0], out_hw[1]));
        for ((_, oc, _, _), v) in out.indexed_iter_mut() {
            *v = b.get(oc).copied().unwrap_or(0.0);
        }
        for bi in 0..n {
            for ic in 0..ci {
                let g = ic / cg;
                for iy in 0..h {
                    for ix in 0..wd {
                        for oc in 0..og {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let oy = (iy * c.strides[0] + ky * c.dilations[0]) as i64
                                        - c.pads[0] as i64;
                                    let ox = (ix * c.strides[1] + kx * c.dilations[1]) as i64
                                        - c.pads[1] as i64;
                                    if oy >= 0
                                        && ox >= 0
                                        && (oy as usize) < out_hw[0]
                                        && (ox as usize) < out_hw[1]
                                    {
                                        out[[bi, g * og + oc, oy as usize, ox as usize]] +=
                                            x[[bi, ic, iy, ix]] * w[[ic, oc, ky, kx]];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        out.into_dyn()
    }

    fn check(
        xs: [usize; 4],
        og: usize,
        k: [usize; 2],
        mut c: ConvAttrs,
        output_padding: [usize; 2],
    ) {
        let x = rand(&xs, 4);
        let w = rand(&[xs[1], og, k[0], k[1]], 5);
        let b = rand(&[og * c.group], 6);
        let size = |ax: usize, i: usize| {
            c.strides[ax] * (i - 1) + output_padding[ax] + c.dilations[ax] * (k[ax] - 1) + 1
                - c.pads[ax]
                - c.pads[ax + 2]
        };
        let hw = [size(0, xs[2]), size(1, xs[3])];
        let want = naive(&x, &w, b.as_slice().unwrap(), &c, hw);
        let (xt, wt, bt) = (
            Tensor::F32(x.clone()),
            Tensor::F32(w.clone()),
            Tensor::F32(b),
        );
        let ty = TensorType::new(crate::ir::DType::F32, want.shape().to_vec());
        let Tensor::F32(got) = conv_transpose(&c, &[op(&xt), op(&wt), op(&bt)], &ty).unwrap()
        else {
            panic!()
        };
        assert_close(&got, &want, 1e-5);
        // NHWC with OHWI weights: w_ohwi[g * og + o, ky, kx, i] = w_iohw[g * cg + i, o, ky, kx].
        let cg = xs[1] / c.group;
        let w_ohwi =
            ndarray::Array4::from_shape_fn((og * c.group, k[0], k[1], cg), |(o, ky, kx, i)| {
                w[[(o / og) * cg + i, o % og, ky, kx]]
            });
        let to_nhwc = |a: &ArrayD<f32>| {
            a.view()
                .permuted_axes(vec![0, 2, 3, 1])
                .as_standard_layout()
                .into_owned()
        };
        c.layout = Layout::Nhwc;
        let (xn, wn) = (Tensor::F32(to_nhwc(&x)), Tensor::F32(w_ohwi.into_dyn()));
        let want_nhwc = to_nhwc(&want);
        let ty = TensorType::new(crate::ir::DType::F32, want_nhwc.shape().to_vec());
        let Tensor::F32(got) = conv_transpose(&c, &[op(&xn), op(&wn), op(&bt)], &ty).unwrap()
        else {
            panic!()
        };
        assert_close(&got, &want_nhwc, 1e-5);
    }

    fn attrs(
        strides: [usize; 2],
        dilations: [usize; 2],
        pads: [usize; 4],
        group: usize,
    ) -> ConvAttrs {
        ConvAttrs {
            layout: Layout::Nchw,
            strides,
            dilations,
            pads,
            group,
            activation: None,
        }
    }

    #[test]
    fn matches_definition() {
        check(
            [1, 2, 3, 3],
            3,
            [3, 3],
            attrs([1, 1], [1, 1], [0; 4], 1),
            [0, 0],
        );
        check(
            [2, 3, 4, 3],
            2,
            [3, 2],
            attrs([2, 3], [1, 2], [1, 0, 1, 1], 1),
            [1, 0],
        );
        check(
            [1, 4, 3, 4],
            2,
            [2, 3],
            attrs([2, 1], [2, 1], [0, 1, 1, 0], 2),
            [0, 0],
        );
    }

    #[test]
    fn hand_value_and_errors() {
        // 1x1x2x2 input, 2x2 ones kernel, stride 2: each input pixel becomes a 2x2 block.
        let x = Tensor::F32(
            ArrayD::from_shape_vec(vec![1, 1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
        );
        let w = Tensor::F32(ArrayD::from_elem(vec![1, 1, 2, 2], 1.0));
        let c = attrs([2, 2], [1, 1], [0; 4], 1);
        let ty = TensorType::new(crate::ir::DType::F32, vec![1, 1, 4, 4]);
        let out = conv_transpose(&c, &[op(&x), op(&w)], &ty).unwrap();
        let want = [
            1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.,
        ];
        assert_eq!(out.to_f64_vec(), want);
        let bad_ty = TensorType::new(crate::ir::DType::F32, vec![1, 2, 4, 4]);
        assert!(conv_transpose(&c, &[op(&x), op(&w)], &bad_ty).is_err());
        let w3 = Tensor::F32(ArrayD::from_elem(vec![2, 1, 2, 2], 1.0));
        assert!(conv_transpose(&c, &[op(&x), op(&w3)], &ty).is_err());
    }
}
