//! NCHW convolution without layout changes (ONNX models): per image, `out (O x HoWo) =
//! W (O x K) · cols (K x HoWo)` with a row-per-tap im2col (the input itself for
//! pointwise convolutions), and depthwise convolutions plane by plane. Moving every
//! activation to NHWC and back would cost more than the convolutions' arithmetic.

use super::conv::Geometry;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, Array4, ArrayView2, ArrayView4, ArrayViewMut2};

/// Ungrouped convolution of NCHW `x` with OIHW `w`, into NCHW.
pub(super) fn conv(x: ArrayView4<'_, f32>, w: ArrayView4<'_, f32>, g: &Geometry) -> Array4<f32> {
    let (n, cin, h, wd) = x.dim();
    let (o, _, kh, kw) = w.dim();
    let [ho, wo] = g.out;
    let k = cin * kh * kw;
    // Reduction order (ky, kx, ci), as in the NHWC path, so that both give the same bits.
    let wm = w
        .permuted_axes([0, 2, 3, 1])
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((o, k))
        .expect("standard layout reshape");
    let pointwise = kh == 1 && kw == 1 && g.is_identity_window() && (ho, wo) == (h, wd);
    let mut out = Array4::<f32>::zeros((n, o, ho, wo));
    for b in 0..n {
        let xb = x.index_axis(ndarray::Axis(0), b);
        let xb = xb.as_standard_layout();
        let cols_owned;
        let cols: ArrayView2<'_, f32> = if pointwise {
            xb.view()
                .into_shape_with_order((cin, h * wd))
                .expect("contiguous")
        } else {
            cols_owned = im2col(
                xb.as_slice().expect("standard layout"),
                g,
                [cin, h, wd, kh, kw],
            );
            cols_owned.view()
        };
        let mut ob = out.index_axis_mut(ndarray::Axis(0), b);
        let ob: ArrayViewMut2<'_, f32> = ob
            .view_mut()
            .into_shape_with_order((o, ho * wo))
            .expect("fresh array is contiguous");
        general_mat_mul(1.0, &wm, &cols, 0.0, &mut { ob });
    }
    out
}

/// The im2col matrix `(kh * kw * cin, ho * wo)` of one CHW image, rows in (ky, kx, ci)
/// order (zeros where taps fall in the padding).
fn im2col(xb: &[f32], g: &Geometry, [cin, h, wd, kh, kw]: [usize; 5]) -> Array2<f32> {
    let [ho, wo] = g.out;
    let mut cols = Array2::<f32>::zeros((cin * kh * kw, ho * wo));
    let data = cols.as_slice_mut().expect("fresh array is contiguous");
    for ci in 0..cin {
        let plane = &xb[ci * h * wd..(ci + 1) * h * wd];
        for ky in 0..kh {
            for kx in 0..kw {
                let row = &mut data[((ky * kw + kx) * cin + ci) * ho * wo..][..ho * wo];
                for oy in 0..ho {
                    let Some(iy) = g.source(0, oy, ky, h) else {
                        continue;
                    };
                    let src = &plane[iy * wd..(iy + 1) * wd];
                    let dst = &mut row[oy * wo..(oy + 1) * wo];
                    for (ox, d) in dst.iter_mut().enumerate() {
                        if let Some(ix) = g.source(1, ox, kx, wd) {
                            *d = src[ix];
                        }
                    }
                }
            }
        }
    }
    cols
}

/// Depthwise convolution (one input channel per group, `o / cin` outputs each) of NCHW
/// `x` with OIHW `w` (`[o, 1, kh, kw]`), into NCHW: each output plane accumulates its
/// taps in kernel-row, kernel-column order, as the NHWC kernel does.
pub(super) fn depthwise(
    x: ArrayView4<'_, f32>,
    w: ArrayView4<'_, f32>,
    g: &Geometry,
) -> Array4<f32> {
    let (n, cin, h, wd) = x.dim();
    let (o, _, kh, kw) = w.dim();
    let mult = o / cin;
    let [ho, wo] = g.out;
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mut out = Array4::<f32>::zeros((n, o, ho, wo));
    let os = out.as_slice_mut().expect("fresh array is contiguous");
    // Output columns whose tap `kx` falls inside the input, and that tap's first column.
    let cols: Vec<(usize, usize)> = (0..kw)
        .map(|kx| {
            let lo = (0..wo).find(|&ox| g.source(1, ox, kx, wd).is_some());
            let hi = (0..wo).rev().find(|&ox| g.source(1, ox, kx, wd).is_some());
            match (lo, hi) {
                (Some(lo), Some(hi)) => (lo, hi + 1),
                _ => (0, 0),
            }
        })
        .collect();
    let stride = g.strides()[1];
    for b in 0..n {
        for oc in 0..o {
            let plane = &xs[(b * cin + oc / mult) * h * wd..][..h * wd];
            let dst = &mut os[(b * o + oc) * ho * wo..][..ho * wo];
            for oy in 0..ho {
                let row = &mut dst[oy * wo..(oy + 1) * wo];
                for ky in 0..kh {
                    let Some(iy) = g.source(0, oy, ky, h) else {
                        continue;
                    };
                    let src = &plane[iy * wd..(iy + 1) * wd];
                    for kx in 0..kw {
                        let t = w[[oc, 0, ky, kx]];
                        let (lo, hi) = cols[kx];
                        if lo >= hi {
                            continue;
                        }
                        let ix0 = g.source(1, lo, kx, wd).expect("inside");
                        let taps = src[ix0..].iter().step_by(stride);
                        if stride == 1 {
                            let src = &src[ix0..ix0 + (hi - lo)];
                            for (d, &v) in row[lo..hi].iter_mut().zip(src) {
                                *d += v * t;
                            }
                        } else {
                            for (d, &v) in row[lo..hi].iter_mut().zip(taps) {
                                *d += v * t;
                            }
                        }
                    }
                }
            }
        }
    }
    out
}
