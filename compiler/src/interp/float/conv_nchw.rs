//! NCHW convolution without layout changes (ONNX models): per image, `out (O x HoWo) =
//! W (O x K) · cols (K x HoWo)` with a row-per-tap im2col packed for the matrix kernel
//! (the input itself for pointwise convolutions), and depthwise convolutions plane by
//! plane. Moving every activation to NHWC and back would cost more than the
//! convolutions' arithmetic.

use super::conv::Geometry;
use crate::kernels::{mat_mul_packed, PackedB};
use ndarray::{Array4, ArrayView2, ArrayView4};
use rayon::prelude::*;

/// Ungrouped convolution of NCHW `x` with OIHW `w`, into NCHW: the weights as they are
/// (reduction order input channel, kernel row, kernel column) times the packed im2col
/// matrix of each image.
pub(super) fn conv(x: ArrayView4<'_, f32>, w: ArrayView4<'_, f32>, g: &Geometry) -> Array4<f32> {
    let (n, cin, h, wd) = x.dim();
    let (o, _, kh, kw) = w.dim();
    let [ho, wo] = g.out;
    let k = cin * kh * kw;
    let w = w.as_standard_layout();
    let wm = w
        .view()
        .into_shape_with_order((o, k))
        .expect("standard layout");
    let pointwise = kh == 1 && kw == 1 && g.is_identity_window() && (ho, wo) == (h, wd);
    let mut out = Array4::<f32>::zeros((n, o, ho, wo));
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let os = out.as_slice_mut().expect("fresh array is contiguous");
    for b in 0..n {
        let xb = &xs[b * cin * h * wd..][..cin * h * wd];
        let cols = if pointwise {
            let xm = ArrayView2::from_shape((cin, h * wd), xb).expect("cin planes");
            PackedB::new(xm)
        } else {
            PackedB::from_rows(k, ho * wo, |r, row| {
                im2col_row(xb, g, [h, wd, kh, kw], r, row);
            })
        };
        mat_mul_packed(wm, &cols, &mut os[b * o * ho * wo..][..o * ho * wo]);
    }
    out
}

/// Row `r` = (input channel, kernel row, kernel column) of the im2col matrix of one CHW
/// image: the tap's input value for every output pixel (untouched where it falls in the
/// padding).
fn im2col_row(xb: &[f32], g: &Geometry, [h, wd, kh, kw]: [usize; 4], r: usize, row: &mut [f32]) {
    let (ci, ky, kx) = (r / (kh * kw), r / kw % kh, r % kw);
    let plane = &xb[ci * h * wd..][..h * wd];
    let [ho, wo] = g.out;
    // Output columns whose tap falls inside the input.
    let lo = (0..wo).find(|&ox| g.source(1, ox, kx, wd).is_some());
    let Some(lo) = lo else { return };
    let hi = (lo..wo)
        .rev()
        .find(|&ox| g.source(1, ox, kx, wd).is_some())
        .expect("lo is inside")
        + 1;
    let ix0 = g.source(1, lo, kx, wd).expect("inside");
    let stride = g.strides()[1];
    for oy in 0..ho {
        let Some(iy) = g.source(0, oy, ky, h) else {
            continue;
        };
        let src = &plane[iy * wd + ix0..(iy + 1) * wd];
        let dst = &mut row[oy * wo + lo..oy * wo + hi];
        if stride == 1 {
            dst.copy_from_slice(&src[..hi - lo]);
        } else {
            for (d, &v) in dst.iter_mut().zip(src.iter().step_by(stride)) {
                *d = v;
            }
        }
    }
}

/// Depthwise convolution (one input channel per group, `o / cin` outputs each) of NCHW
/// `x` with OIHW `w` (`[o, 1, kh, kw]`), into NCHW, plane by plane in parallel. Each
/// input plane is zero-padded and split into stride phases (rows `i, i + stride, ..`
/// times columns `j, j + stride, ..`), so that every tap is one multiply-add over a
/// contiguous run of the whole plane, into rows as wide as a phase; outputs accumulate
/// their taps in kernel-row, kernel-column order, as the NHWC kernel does (the padding's
/// zero products leave the sums' bits unchanged: a sum that starts at +0 never becomes
/// -0).
pub(super) fn depthwise(
    x: ArrayView4<'_, f32>,
    w: ArrayView4<'_, f32>,
    g: &Geometry,
) -> Array4<f32> {
    let (n, cin, h, wd) = x.dim();
    let (o, _, kh, kw) = w.dim();
    let [ho, wo] = g.out;
    let mut out = Array4::<f32>::zeros((n, o, ho, wo));
    if out.is_empty() || kh == 0 || kw == 0 {
        return out;
    }
    let mult = o / cin;
    let phases = Phases::new(g, [kh, kw]);
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let w = w.as_standard_layout();
    let ws = w.as_slice().expect("standard layout");
    let os = out.as_slice_mut().expect("fresh array is contiguous");
    let wide = ho * phases.cols;
    os.par_chunks_mut(ho * wo).enumerate().for_each_init(
        || (vec![0f32; phases.len()], vec![0f32; wide]),
        |(split, acc), (p, dst)| {
            let (b, oc) = (p / o, p % o);
            let plane = &xs[(b * cin + oc / mult) * h * wd..][..h * wd];
            phases.split(plane, [h, wd], g, split);
            acc.fill(0.0);
            let taps = &ws[oc * kh * kw..][..kh * kw];
            for ky in 0..kh {
                for kx in 0..kw {
                    let start = phases.tap_start(g, [ky, kx]);
                    let t = taps[ky * kw + kx];
                    for (a, &v) in acc.iter_mut().zip(&split[start..start + wide]) {
                        *a += v * t;
                    }
                }
            }
            for (row, wide_row) in dst.chunks_exact_mut(wo).zip(acc.chunks_exact(phases.cols)) {
                row.copy_from_slice(&wide_row[..wo]);
            }
        },
    );
    out
}

/// The stride phases of a zero-padded input plane: `strides[0] * strides[1]` matrices of
/// `rows x cols`, phase `(i, j)` holding padded rows `i, i + s0, ..` and columns
/// `j, j + s1, ..` of the region the windows read (and zeros past it).
pub(super) struct Phases {
    strides: [usize; 2],
    /// Rows and columns of the padded region the windows read.
    span: [usize; 2],
    rows: usize,
    /// Columns of a phase: outputs are computed in rows this wide (then cut to width).
    pub cols: usize,
}

impl Phases {
    /// Checks that the phases of `g` with a `kh` x `kw` kernel fit one buffer: a huge
    /// stride or dilation over a small input would make them far larger than the data.
    pub fn check(g: &Geometry, [kh, kw]: [usize; 2]) -> crate::Result<()> {
        let ([ho, wo], s, d) = (g.out, g.strides(), g.dilations());
        let span = |o: usize, s: usize, k: usize, d: usize| {
            (o.max(1) - 1)
                .checked_mul(s)?
                .checked_add((k.max(1) - 1).checked_mul(d)?)?
                .checked_add(s + 1)
        };
        let values = span(ho, s[0], kh, d[0])
            .zip(span(wo, s[1], kw, d[1]))
            .and_then(|(r, c)| r.checked_mul(c))
            .unwrap_or(usize::MAX);
        crate::limits::buffer_bytes(values, 4, "the convolution's strided windows").map(|_| ())
    }

    pub fn new(g: &Geometry, [kh, kw]: [usize; 2]) -> Self {
        let ([ho, wo], s, d) = (g.out, g.strides(), g.dilations());
        let span = [
            (ho - 1) * s[0] + (kh - 1) * d[0] + 1,
            (wo - 1) * s[1] + (kw - 1) * d[1] + 1,
        ];
        // One spare row: the last tap's run over `ho` wide rows may end past the span.
        Phases {
            strides: s,
            span,
            rows: span[0].div_ceil(s[0]) + 1,
            cols: span[1].div_ceil(s[1]),
        }
    }

    /// Values of all phases.
    pub fn len(&self) -> usize {
        self.strides[0] * self.strides[1] * self.rows * self.cols
    }

    /// Start of phase `(i, j)`.
    fn offset(&self, [i, j]: [usize; 2]) -> usize {
        (i * self.strides[1] + j) * self.rows * self.cols
    }

    /// Where the run of kernel tap `(ky, kx)` starts: output `(oy, ox)` (in rows
    /// [`Self::cols`] wide) reads the phases at this offset plus `oy * cols + ox`.
    pub fn tap_start(&self, g: &Geometry, [ky, kx]: [usize; 2]) -> usize {
        let d = g.dilations();
        self.index(ky * d[0], kx * d[1])
    }

    /// The index in the phases of padded row `r`, column `c`.
    fn index(&self, r: usize, c: usize) -> usize {
        let [s0, s1] = self.strides;
        self.offset([r % s0, c % s1]) + (r / s0) * self.cols + c / s1
    }

    /// The inverse of [`Self::split`]: `plane[iy][ix]` = the phases' value at padded row
    /// `iy + top`, column `ix + left` (0 outside the span, which no window reads).
    pub fn merge(&self, phases: &[f32], [h, wd]: [usize; 2], g: &Geometry, plane: &mut [f32]) {
        let ([s0, s1], [top, left]) = (self.strides, [g.pads()[0], g.pads()[1]]);
        plane.fill(0.0);
        for (iy, dst) in plane.chunks_exact_mut(wd.max(1)).take(h).enumerate() {
            let r = iy + top;
            if r >= self.span[0] {
                break;
            }
            for j in 0..s1 {
                // Columns ix with (ix + left) % s1 == j, as in `split`, inside the span.
                let first = (j + s1 - left % s1) % s1;
                let c0 = (first + left) / s1;
                let in_span = self.span[1].saturating_sub(first + left).div_ceil(s1);
                let count = wd.saturating_sub(first).div_ceil(s1).min(in_span);
                let at = self.offset([r % s0, j]) + (r / s0) * self.cols + c0;
                let src = &phases[at..at + count];
                for (d, &v) in dst[first.min(wd)..].iter_mut().step_by(s1).zip(src) {
                    *d = v;
                }
            }
        }
    }

    /// Writes the phases of `plane` (`h x wd`, padded by `g`'s top and left pads) into
    /// `out`.
    pub fn split(&self, plane: &[f32], [h, wd]: [usize; 2], g: &Geometry, out: &mut [f32]) {
        let ([s0, s1], [top, left]) = (self.strides, [g.pads()[0], g.pads()[1]]);
        out.fill(0.0);
        for iy in 0..h {
            let r = iy + top;
            if r >= self.span[0] {
                break;
            }
            let src = &plane[iy * wd..][..wd];
            for j in 0..s1 {
                // The input columns of phase j: ix with (ix + left) % s1 == j, from `first`;
                // past the span they are never read by a kept output (harmless).
                let first = (j + s1 - left % s1) % s1;
                if first >= wd {
                    continue;
                }
                let c0 = (first + left) / s1;
                let count = (wd - first).div_ceil(s1).min(self.cols.saturating_sub(c0));
                let at = self.offset([r % s0, j]) + (r / s0) * self.cols + c0;
                let dst = &mut out[at..at + count];
                if s1 == 1 {
                    dst.copy_from_slice(&src[first..first + count]);
                } else {
                    for (d, &v) in dst.iter_mut().zip(src[first..].iter().step_by(s1)) {
                        *d = v;
                    }
                }
            }
        }
    }
}
