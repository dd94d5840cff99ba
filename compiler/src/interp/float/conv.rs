//! 2-D convolution (grouped, depthwise, dilated) in NCHW/OIHW or NHWC/OHWI.
//!
//! Both layouts run in NHWC: general convolutions as im2col blocks times the weight
//! matrix (ndarray's `dot`), depthwise ones as a direct loop over contiguous channels.

use super::conv_nchw;
use super::util::{arity, bias_activate, conv_bias, f32_input, finish_conv, to_nhwc};
use crate::interp::Operand;
use crate::ir::infer::conv_out_size;
use crate::ir::{ConvAttrs, Layout, Tensor};
use crate::kernels::{mat_mul_packed, PackedB};
use crate::{bail, Result};
use ndarray::{s, Array2, Array4, ArrayD, ArrayView2, ArrayView4, Ix4};
use rayon::prelude::*;

/// Upper bound on the elements of one im2col block.
const BLOCK_ELEMS: usize = 1 << 22;

/// Window geometry of a convolution, in NHWC terms.
pub(super) struct Geometry {
    strides: [usize; 2],
    dilations: [usize; 2],
    pads: [usize; 4],
    pub out: [usize; 2],
    pub group: usize,
}

impl Geometry {
    /// The geometry of `c` on an `h` x `wd` input with a `kh` x `kw` kernel.
    pub fn new(c: &ConvAttrs, h: usize, wd: usize, kh: usize, kw: usize) -> Result<Self> {
        Ok(Geometry {
            strides: c.strides,
            dilations: c.dilations,
            pads: c.pads,
            out: [
                conv_out_size(h, kh, c.strides[0], c.dilations[0], c.pads[0] + c.pads[2])?,
                conv_out_size(wd, kw, c.strides[1], c.dilations[1], c.pads[1] + c.pads[3])?,
            ],
            group: c.group,
        })
    }

    /// Output rows per im2col block for `k` columns.
    pub fn rows_per_block(&self, k: usize) -> usize {
        (BLOCK_ELEMS / (self.out[1] * k).max(1)).clamp(1, self.out[0].max(1))
    }

    /// Walks the im2col matrix of output rows `oy0..oy0 + rows` of one NHWC image
    /// (`dims` = h, w, channels, kh, kw, channels per group) for group `gi`: `f(src,
    /// dst)` for each kernel tap inside the input, where `src` indexes the image at the
    /// group's first channel and `dst` the matrix (row-major, `kh * kw * cg` columns);
    /// each names a run of `cg` values.
    pub fn for_each_tap(
        &self,
        dims: [usize; 6],
        gi: usize,
        oy0: usize,
        rows: usize,
        mut f: impl FnMut(usize, usize),
    ) {
        let [h, wd, ch, kh, kw, cg] = dims;
        let wo = self.out[1];
        let k = kh * kw * cg;
        for r in 0..rows * wo {
            let (oy, ox) = (oy0 + r / wo, r % wo);
            for ky in 0..kh {
                let Some(iy) = self.source(0, oy, ky, h) else {
                    continue;
                };
                for kx in 0..kw {
                    let Some(ix) = self.source(1, ox, kx, wd) else {
                        continue;
                    };
                    f((iy * wd + ix) * ch + gi * cg, r * k + (ky * kw + kx) * cg);
                }
            }
        }
    }

    /// Whether the window moves one pixel at a time without padding.
    pub fn is_identity_window(&self) -> bool {
        self.strides == [1, 1] && self.pads == [0; 4]
    }

    /// Strides (H, W).
    pub fn strides(&self) -> [usize; 2] {
        self.strides
    }

    /// Dilations (H, W).
    pub fn dilations(&self) -> [usize; 2] {
        self.dilations
    }

    /// Pads (top, left, bottom, right).
    pub fn pads(&self) -> [usize; 4] {
        self.pads
    }

    /// Input coordinate for output `o`, kernel tap `k` on axis `ax` (0 = H, 1 = W), if it
    /// falls inside an input of size `size`.
    pub fn source(&self, ax: usize, o: usize, k: usize, size: usize) -> Option<usize> {
        let p = o * self.strides[ax] + k * self.dilations[ax];
        p.checked_sub(self.pads[ax]).filter(|&i| i < size)
    }
}

/// The conv weight `w` (OIHW or OHWI by `c`'s layout) as (kh, kw, I/group, O).
pub(super) fn hwio_weights<'a>(c: &ConvAttrs, w: &'a ArrayD<f32>) -> Result<ArrayView4<'a, f32>> {
    let Ok(w4) = w.view().into_dimensionality::<Ix4>() else {
        bail!("conv weight must have rank 4, got shape {:?}", w.shape());
    };
    Ok(match c.layout {
        Layout::Nchw => w4.permuted_axes([2, 3, 1, 0]),
        Layout::Nhwc => w4.permuted_axes([1, 2, 3, 0]),
    })
}

/// Checks that `ch` input channels and weights of shape `w_shape`, (kh, kw, I/group, O)
/// `hwio` once permuted, fit `c`'s group.
pub(super) fn check_groups(
    c: &ConvAttrs,
    ch: usize,
    w_shape: &[usize],
    (_, _, cg, o): (usize, usize, usize, usize),
) -> Result<()> {
    if c.group == 0 || ch != cg * c.group || !o.is_multiple_of(c.group) {
        bail!(
            "conv input has {ch} channels; weight {w_shape:?} with group {} does not fit",
            c.group
        );
    }
    Ok(())
}

/// Convolution: (x, w, [bias]) with the fused activation applied last.
pub(super) fn conv(c: &ConvAttrs, inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 2, 3)?;
    if c.layout == Layout::Nchw {
        if let Some(t) = nchw_conv(c, inputs)? {
            return Ok(t);
        }
    }
    let x = to_nhwc(f32_input(inputs, 0, "conv input")?, c.layout, "conv input")?;
    let w = f32_input(inputs, 1, "conv weight")?;
    let w_hwio = hwio_weights(c, w)?;
    let (h, wd, ch) = (x.shape()[1], x.shape()[2], x.shape()[3]);
    let (kh, kw, cg, _) = w_hwio.dim();
    check_groups(c, ch, w.shape(), w_hwio.dim())?;
    let g = Geometry::new(c, h, wd, kh, kw)?;
    let out = if cg == 1 && c.group > 1 {
        depthwise(x.view(), w_hwio, &g)
    } else {
        im2col_conv(x.view(), w_hwio, &g)?
    };
    finish_conv(out, c, inputs, "conv bias")
}

/// NCHW convolution without layout changes, for ungrouped and depthwise convolutions
/// (`None` for other groupings, which take the NHWC path).
fn nchw_conv(c: &ConvAttrs, inputs: &[Operand<'_>]) -> Result<Option<Tensor>> {
    let x = f32_input(inputs, 0, "conv input")?;
    let w = f32_input(inputs, 1, "conv weight")?;
    let (Ok(x4), Ok(w4)) = (
        x.view().into_dimensionality::<Ix4>(),
        w.view().into_dimensionality::<Ix4>(),
    ) else {
        bail!(
            "conv input and weight must have rank 4, got {:?} and {:?}",
            x.shape(),
            w.shape()
        );
    };
    let (_, ch, h, wd) = x4.dim();
    let (o, cg, kh, kw) = w4.dim();
    check_groups(c, ch, w.shape(), (kh, kw, cg, o))?;
    let g = Geometry::new(c, h, wd, kh, kw)?;
    conv_nchw::Phases::check(&g, [kh, kw])?;
    let mut out = if c.group == 1 {
        conv_nchw::conv(x4, w4, &g)
    } else if cg == 1 {
        conv_nchw::depthwise(x4, w4, &g)
    } else {
        return Ok(None);
    };
    let bias = conv_bias(inputs, o, "conv bias")?;
    let v = out.as_slice_mut().expect("kernels write standard layout");
    bias_activate(v, [o, g.out[0] * g.out[1]], bias.as_deref(), c.activation);
    Ok(Some(Tensor::F32(out.into_dyn())))
}

/// General (grouped) convolution as im2col blocks of output rows times weight matrices.
fn im2col_conv(
    x: ArrayView4<'_, f32>,
    w: ArrayView4<'_, f32>,
    g: &Geometry,
) -> Result<Array4<f32>> {
    let (n, h, wd, ch) = x.dim();
    let (kh, kw, cg, o) = w.dim();
    let og = o / g.group;
    let [ho, wo] = g.out;
    let k = kh * kw * cg;
    let mut out = Array4::<f32>::zeros((n, ho, wo, o));
    let pointwise = kh == 1 && kw == 1 && g.strides == [1, 1] && g.pads == [0; 4] && g.group == 1;
    let weights: Vec<PackedB> = group_matrices(w, g.group)
        .iter()
        .map(|m| PackedB::new(m.view()))
        .collect();
    let x_data = x
        .as_slice()
        .ok_or_else(|| crate::Error::new("conv input is not contiguous"))?;
    let rows_per_block = g.rows_per_block(k);
    let os = out.as_slice_mut().expect("fresh array is contiguous");
    for b in 0..n {
        let xb = &x_data[b * h * wd * ch..(b + 1) * h * wd * ch];
        let ob = &mut os[b * ho * wo * o..][..ho * wo * o];
        if pointwise {
            let cols = ArrayView2::from_shape((h * wd, ch), xb).expect("contiguous image");
            mat_mul_packed(cols, &weights[0], ob);
            continue;
        }
        for (gi, wmat) in weights.iter().enumerate() {
            for oy0 in (0..ho).step_by(rows_per_block) {
                let rows = rows_per_block.min(ho - oy0);
                let cols = im2col(xb, g, [h, wd, ch, kh, kw, cg], gi, oy0, rows);
                let dst = &mut ob[oy0 * wo * o..][..rows * wo * o];
                if g.group == 1 {
                    mat_mul_packed(cols.view(), wmat, dst);
                    continue;
                }
                let mut prod = vec![0f32; rows * wo * og];
                mat_mul_packed(cols.view(), wmat, &mut prod);
                for (px, part) in dst.chunks_exact_mut(o).zip(prod.chunks_exact(og.max(1))) {
                    px[gi * og..(gi + 1) * og].copy_from_slice(part);
                }
            }
        }
    }
    Ok(out)
}

/// The weights `(kh, kw, I/group, O)` as one `(kh * kw * I/group, O/group)` matrix per
/// group.
pub(super) fn group_matrices(w: ArrayView4<'_, f32>, group: usize) -> Vec<Array2<f32>> {
    let (kh, kw, cg, o) = w.dim();
    let og = o / group;
    (0..group)
        .map(|gi| {
            w.slice(s![.., .., .., gi * og..(gi + 1) * og])
                .as_standard_layout()
                .into_owned()
                .into_shape_with_order((kh * kw * cg, og))
                .expect("standard layout reshape")
        })
        .collect()
}

/// The im2col matrix `(rows * wo, kh * kw * cg)` of output rows `oy0..oy0 + rows` of one
/// NHWC image, group `gi` (zeros where taps fall in the padding).
pub(super) fn im2col(
    xb: &[f32],
    g: &Geometry,
    dims: [usize; 6],
    gi: usize,
    oy0: usize,
    rows: usize,
) -> Array2<f32> {
    let [_, _, _, kh, kw, cg] = dims;
    let mut cols = Array2::<f32>::zeros((rows * g.out[1], kh * kw * cg));
    let data = cols.as_slice_mut().expect("fresh array is contiguous");
    g.for_each_tap(dims, gi, oy0, rows, |src, dst| {
        data[dst..dst + cg].copy_from_slice(&xb[src..src + cg]);
    });
    cols
}

/// Depthwise convolution (one input channel per group, `o / group` outputs each): per
/// output pixel, the taps' channel rows are accumulated in kernel-row, kernel-column order.
fn depthwise(x: ArrayView4<'_, f32>, w: ArrayView4<'_, f32>, g: &Geometry) -> Array4<f32> {
    let (n, h, wd, ch) = x.dim();
    let (kh, kw, _, o) = w.dim();
    let mult = o / ch;
    let [ho, wo] = g.out;
    // Taps as (kh * kw, o), and input channel of each output channel.
    let taps = w.as_standard_layout();
    let taps = taps.as_slice().expect("standard layout");
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let src_channel: Vec<usize> = (0..o).map(|oc| oc / mult).collect();
    let mut out = Array4::<f32>::zeros((n, ho, wo, o));
    let os = out.as_slice_mut().expect("fresh array is contiguous");
    os.par_chunks_mut((wo * o).max(1))
        .enumerate()
        .for_each(|(row, dst)| {
            depthwise_row(row, dst, (xs, taps, &src_channel), [h, wd, ch, kh, kw], g);
        });
    out
}

/// Output row `row` (image-major) of [`depthwise`] into `dst` (`wo * o` values).
fn depthwise_row(
    row: usize,
    dst: &mut [f32],
    (xs, taps, src_channel): (&[f32], &[f32], &[usize]),
    [h, wd, ch, kh, kw]: [usize; 5],
    g: &Geometry,
) {
    let o = src_channel.len();
    let mult = o / ch;
    let (b, oy) = (row / g.out[0], row % g.out[0]);
    for (ox, acc) in dst.chunks_exact_mut(o.max(1)).enumerate() {
        for ky in 0..kh {
            let Some(iy) = g.source(0, oy, ky, h) else {
                continue;
            };
            for kx in 0..kw {
                let Some(ix) = g.source(1, ox, kx, wd) else {
                    continue;
                };
                let px = &xs[((b * h + iy) * wd + ix) * ch..][..ch];
                let tap = &taps[(ky * kw + kx) * o..][..o];
                if mult == 1 {
                    for ((a, &v), &t) in acc.iter_mut().zip(px).zip(tap) {
                        *a += v * t;
                    }
                } else {
                    for ((a, &c), &t) in acc.iter_mut().zip(src_channel).zip(tap) {
                        *a += px[c] * t;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{assert_close, op, rand};
    use crate::ir::Activation;
    use ndarray::{Array4, ArrayD};

    /// Direct NCHW/OIHW convolution from the definition.
    fn naive(x: &ArrayD<f32>, w: &ArrayD<f32>, b: &[f32], c: &ConvAttrs) -> ArrayD<f32> {
        let (n, ci, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        let (o, cg, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
        assert_eq!(ci, cg * c.group);
        let og = o / c.group;
        let ho = (h + c.pads[0] + c.pads[2] - c.dilations[0] * (kh - 1) - 1) / c.strides[0] + 1;
        let wo = (wd + c.pads[1] + c.pads[3] - c.dilations[1] * (kw - 1) - 1) / c.strides[1] + 1;
        let mut out = Array4::<f32>::zeros((n, o, ho, wo));
        for ((bi, oc, oy, ox), v) in out.indexed_iter_mut() {
            let g = oc / og;
            let mut acc = b.get(oc).copied().unwrap_or(0.0);
            for ic in 0..cg {
                for ky in 0..kh {
                    for kx in 0..kw {
                        let iy =
                            (oy * c.strides[0] + ky * c.dilations[0]) as i64 - c.pads[0] as i64;
                        let ix =
                            (ox * c.strides[1] + kx * c.dilations[1]) as i64 - c.pads[1] as i64;
                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wd {
                            acc += x[[bi, g * cg + ic, iy as usize, ix as usize]]
                                * w[[oc, ic, ky, kx]];
                        }
                    }
                }
            }
            *v = c.activation.map_or(acc, |a| a.apply(acc));
        }
        out.into_dyn()
    }

    fn attrs(
        layout: Layout,
        strides: [usize; 2],
        dilations: [usize; 2],
        pads: [usize; 4],
        group: usize,
    ) -> ConvAttrs {
        ConvAttrs {
            layout,
            strides,
            dilations,
            pads,
            group,
            activation: None,
        }
    }

    fn nhwc(a: &ArrayD<f32>) -> ArrayD<f32> {
        a.view()
            .permuted_axes(vec![0, 2, 3, 1])
            .as_standard_layout()
            .into_owned()
    }

    fn check(xs: [usize; 4], o: usize, k: [usize; 2], mut c: ConvAttrs, bias: bool) {
        let x = rand(&xs, 1);
        let w = rand(&[o, xs[1] / c.group, k[0], k[1]], 2);
        let b = rand(&[o], 3);
        let b_vals: Vec<f32> = if bias {
            b.iter().copied().collect()
        } else {
            vec![]
        };
        let want = naive(&x, &w, &b_vals, &c);
        let (xt, wt, bt) = (
            Tensor::F32(x.clone()),
            Tensor::F32(w.clone()),
            Tensor::F32(b),
        );
        let mut args = vec![op(&xt), op(&wt)];
        if bias {
            args.push(op(&bt));
        }
        let Tensor::F32(got) = conv(&c, &args).unwrap() else {
            panic!()
        };
        assert_close(&got, &want, 1e-5);
        // The same convolution in NHWC with OHWI weights.
        c.layout = Layout::Nhwc;
        let (xn, wn) = (Tensor::F32(nhwc(&x)), Tensor::F32(nhwc(&w)));
        args[0] = op(&xn);
        args[1] = op(&wn);
        let Tensor::F32(got) = conv(&c, &args).unwrap() else {
            panic!()
        };
        assert_close(&got, &nhwc(&want), 1e-5);
    }

    #[test]
    fn plain_and_pointwise() {
        check(
            [2, 3, 6, 5],
            4,
            [3, 3],
            attrs(Layout::Nchw, [1, 1], [1, 1], [1, 1, 1, 1], 1),
            true,
        );
        check(
            [1, 5, 4, 4],
            7,
            [1, 1],
            attrs(Layout::Nchw, [1, 1], [1, 1], [0; 4], 1),
            true,
        );
        check(
            [1, 2, 1, 1],
            3,
            [1, 1],
            attrs(Layout::Nchw, [1, 1], [1, 1], [0; 4], 1),
            false,
        );
    }

    #[test]
    fn strided_dilated_asymmetric_padding() {
        check(
            [1, 3, 9, 8],
            2,
            [3, 2],
            attrs(Layout::Nchw, [2, 3], [2, 1], [1, 0, 2, 1], 1),
            true,
        );
        check(
            [2, 2, 7, 7],
            3,
            [2, 3],
            attrs(Layout::Nchw, [1, 2], [3, 2], [0, 2, 0, 0], 1),
            false,
        );
    }

    #[test]
    fn grouped_and_depthwise() {
        check(
            [1, 6, 5, 5],
            4,
            [3, 3],
            attrs(Layout::Nchw, [1, 1], [1, 1], [1, 1, 1, 1], 2),
            true,
        );
        check(
            [2, 4, 6, 6],
            4,
            [3, 3],
            attrs(Layout::Nchw, [2, 2], [1, 1], [1, 1, 1, 1], 4),
            true,
        );
        // Depthwise with channel multiplier 3 and dilation.
        check(
            [1, 2, 7, 6],
            6,
            [3, 3],
            attrs(Layout::Nchw, [1, 2], [2, 1], [2, 1, 2, 1], 2),
            true,
        );
    }

    #[test]
    fn fused_activation_and_hand_value() {
        // 1x1x2x2 input, 2x2 kernel of ones, bias -5: sum(1..4) - 5 = 5; Relu6 clamps to 5.
        let x = Tensor::F32(
            ArrayD::from_shape_vec(vec![1, 1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
        );
        let w = Tensor::F32(ArrayD::from_elem(vec![1, 1, 2, 2], 1.0));
        let b = Tensor::F32(ArrayD::from_elem(vec![1], -5.0));
        let mut c = attrs(Layout::Nchw, [1, 1], [1, 1], [0; 4], 1);
        c.activation = Some(Activation::Relu6);
        let out = conv(&c, &[op(&x), op(&w), op(&b)]).unwrap();
        assert_eq!(out.to_f64_vec(), vec![5.0]);
        check(
            [1, 3, 5, 5],
            4,
            [3, 3],
            ConvAttrs {
                activation: Some(Activation::Relu),
                ..attrs(Layout::Nchw, [1, 1], [1, 1], [0; 4], 1)
            },
            true,
        );
    }

    #[test]
    fn rejects_bad_operands() {
        let x = Tensor::F32(rand(&[1, 3, 4, 4], 1));
        let w = Tensor::F32(rand(&[2, 2, 3, 3], 2));
        let c = attrs(Layout::Nchw, [1, 1], [1, 1], [0; 4], 1);
        assert!(conv(&c, &[op(&x), op(&w)]).is_err());
        let w = Tensor::F32(rand(&[2, 3, 5, 5], 2));
        assert!(conv(&c, &[op(&x), op(&w)]).is_err());
        let w = Tensor::F32(rand(&[2, 3, 3, 3], 2));
        let b = Tensor::F32(rand(&[3], 2));
        assert!(conv(&c, &[op(&x), op(&w), op(&b)]).is_err());
        let xi = Tensor::I32(ndarray::ArrayD::zeros(vec![1, 3, 4, 4]));
        assert!(conv(&c, &[op(&xi), op(&w)]).is_err());
        assert!(conv(&c, &[op(&x)]).is_err());
    }
}
