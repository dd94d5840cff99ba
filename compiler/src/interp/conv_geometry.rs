//! Index arithmetic of grouped 2-D convolution (NCHW or NHWC activations, OIHW or OHWI
//! weights), shared by the integer and FP8 kernels; the shape helpers are public so the
//! virtual NPU's kernels read activations the same way.

use crate::ir::{ConvAttrs, Layout};
use crate::kernels::ConvShape;
use crate::{bail, Result};

/// Shapes, strides and attributes of one convolution.
pub(crate) struct ConvGeometry<'a> {
    c: &'a ConvAttrs,
    /// Input (batch, height, width, channels).
    n: usize,
    h: usize,
    w: usize,
    /// Output height, width and channels.
    oh: usize,
    ow: usize,
    cout: usize,
    kh: usize,
    kw: usize,
    cin_g: usize,
    cout_g: usize,
    xs: [usize; 4],
    os: [usize; 4],
    ws: [usize; 4],
}

/// Strides of a 4-D row-major shape.
pub fn strides4(s: &[usize]) -> [usize; 4] {
    [s[1] * s[2] * s[3], s[2] * s[3], s[3], 1]
}

/// (batch, height, width, channels) of a 4-D activation.
pub fn dims(layout: Layout, s: &[usize]) -> Result<(usize, usize, usize, usize)> {
    match (layout, s) {
        (Layout::Nhwc, [n, h, w, c]) => Ok((*n, *h, *w, *c)),
        (Layout::Nchw, [n, c, h, w]) => Ok((*n, *h, *w, *c)),
        _ => bail!("expected a 4-D activation, got {s:?}"),
    }
}

/// Index of activation element (n, y, x, c) in a tensor of `layout` with strides `st`.
pub fn act_index(layout: Layout, st: &[usize; 4], n: usize, y: usize, x: usize, c: usize) -> usize {
    match layout {
        Layout::Nhwc => n * st[0] + y * st[1] + x * st[2] + c,
        Layout::Nchw => n * st[0] + c * st[1] + y * st[2] + x,
    }
}

impl<'a> ConvGeometry<'a> {
    /// The geometry of `c` applied to input, weight and output shapes.
    pub fn new(c: &'a ConvAttrs, x: &[usize], w: &[usize], out: &[usize]) -> Result<Self> {
        let (n, h, wd, cin) = dims(c.layout, x)?;
        let (_, oh, ow, cout) = dims(c.layout, out)?;
        if w.len() != 4 {
            bail!("conv weights must be 4-D, got {w:?}");
        }
        let (kh, kw, cin_g) = match c.layout {
            Layout::Nhwc => (w[1], w[2], w[3]),
            Layout::Nchw => (w[2], w[3], w[1]),
        };
        let group = c.group.max(1);
        if cin != cin_g * group || !cout.is_multiple_of(group) || w[0] != cout {
            bail!("conv weights {w:?} do not match {cin} -> {cout} channels in {group} groups");
        }
        Ok(ConvGeometry {
            c,
            n,
            h,
            w: wd,
            oh,
            ow,
            cout,
            kh,
            kw,
            cin_g,
            cout_g: cout / group,
            xs: strides4(x),
            os: strides4(out),
            ws: strides4(w),
        })
    }

    /// Number of output channels.
    pub fn cout(&self) -> usize {
        self.cout
    }

    /// The convolution as the shared kernels see it (in NHWC terms).
    pub fn kernel_shape(&self) -> ConvShape {
        let group = self.c.group.max(1);
        ConvShape {
            batch: self.n,
            input: [self.h, self.w, self.cin_g * group],
            output: [self.oh, self.ow, self.cout],
            kernel: [self.kh, self.kw],
            groups: group,
            strides: self.c.strides,
            dilations: self.c.dilations,
            pads: [self.c.pads[0], self.c.pads[1]],
        }
    }

    /// Number of groups.
    pub fn groups(&self) -> usize {
        self.cout / self.cout_g
    }

    /// Batch size and output height, width.
    pub fn output_grid(&self) -> [usize; 3] {
        [self.n, self.oh, self.ow]
    }

    /// Taps summed into one output element: kernel rows x columns x input channels a group.
    pub fn taps_per_output(&self) -> usize {
        self.kh * self.kw * self.cin_g
    }

    /// Index of output element (image `b`, row `oy`, column `ox`, channel `oc`).
    pub fn output_index(&self, b: usize, oy: usize, ox: usize, oc: usize) -> usize {
        act_index(self.c.layout, &self.os, b, oy, ox, oc)
    }

    /// The input taps of image `b`, group `group` as a row-major `(oh * ow, taps)` matrix:
    /// rows in output-pixel order, columns in kernel-row, kernel-column, input-channel
    /// order (as [`Taps::fold`] visits them), `zero` where a tap falls in the padding.
    pub fn im2col<T: Copy>(&self, x: &[T], zero: T, b: usize, group: usize) -> Vec<T> {
        let c = self.c;
        let k = self.taps_per_output();
        let mut cols = vec![zero; self.oh * self.ow * k];
        for (p, row) in cols.chunks_exact_mut(k.max(1)).enumerate() {
            let (oy, ox) = (p / self.ow, p % self.ow);
            for ky in 0..self.kh {
                let iy = (oy * c.strides[0] + ky * c.dilations[0]).checked_sub(c.pads[0]);
                let Some(iy) = iy.filter(|&iy| iy < self.h) else {
                    continue;
                };
                for kx in 0..self.kw {
                    let ix = (ox * c.strides[1] + kx * c.dilations[1]).checked_sub(c.pads[1]);
                    let Some(ix) = ix.filter(|&ix| ix < self.w) else {
                        continue;
                    };
                    let taps = &mut row[(ky * self.kw + kx) * self.cin_g..][..self.cin_g];
                    for (ic, t) in taps.iter_mut().enumerate() {
                        let ch = group * self.cin_g + ic;
                        *t = x[act_index(c.layout, &self.xs, b, iy, ix, ch)];
                    }
                }
            }
        }
        cols
    }

    /// The weights of group `group` as a row-major `(taps, cout / groups)` matrix, rows in
    /// the order of [`Self::im2col`]'s columns.
    pub fn weight_matrix<T: Copy>(&self, w: &[T], group: usize) -> Vec<T> {
        let mut m = Vec::with_capacity(self.taps_per_output() * self.cout_g);
        for ky in 0..self.kh {
            for kx in 0..self.kw {
                for ic in 0..self.cin_g {
                    m.extend((0..self.cout_g).map(|j| {
                        let oc = group * self.cout_g + j;
                        w[match self.c.layout {
                            Layout::Nhwc => {
                                oc * self.ws[0] + ky * self.ws[1] + kx * self.ws[2] + ic
                            }
                            Layout::Nchw => {
                                oc * self.ws[0] + ic * self.ws[1] + ky * self.ws[2] + kx
                            }
                        }]
                    }));
                }
            }
        }
        m
    }

    /// Calls `f(output index, output channel, taps)` for every output element.
    #[inline]
    pub fn for_each_output(&self, mut f: impl FnMut(usize, usize, Taps<'_, 'a>)) {
        let layout = self.c.layout;
        for b in 0..self.n {
            for oy in 0..self.oh {
                for ox in 0..self.ow {
                    for oc in 0..self.cout {
                        let oi = act_index(layout, &self.os, b, oy, ox, oc);
                        f(
                            oi,
                            oc,
                            Taps {
                                g: self,
                                b,
                                oy,
                                ox,
                                oc,
                            },
                        );
                    }
                }
            }
        }
    }
}

/// The (input index, weight index) pairs that contribute to one output element.
pub(crate) struct Taps<'g, 'a> {
    g: &'g ConvGeometry<'a>,
    b: usize,
    oy: usize,
    ox: usize,
    oc: usize,
}

impl Taps<'_, '_> {
    /// Folds `f(acc, input index, weight index)` over the taps inside the input (padding
    /// contributes nothing), in kernel-row, kernel-column, input-channel order.
    #[inline]
    pub fn fold<A>(self, init: A, mut f: impl FnMut(A, usize, usize) -> A) -> A {
        let g = self.g;
        let c = g.c;
        let group = self.oc / g.cout_g;
        let mut acc = init;
        for ky in 0..g.kh {
            let iy = (self.oy * c.strides[0] + ky * c.dilations[0]) as isize - c.pads[0] as isize;
            if iy < 0 || iy >= g.h as isize {
                continue;
            }
            for kx in 0..g.kw {
                let ix =
                    (self.ox * c.strides[1] + kx * c.dilations[1]) as isize - c.pads[1] as isize;
                if ix < 0 || ix >= g.w as isize {
                    continue;
                }
                for ic in 0..g.cin_g {
                    let xi = act_index(
                        c.layout,
                        &g.xs,
                        self.b,
                        iy as usize,
                        ix as usize,
                        group * g.cin_g + ic,
                    );
                    let wi = match c.layout {
                        Layout::Nhwc => self.oc * g.ws[0] + ky * g.ws[1] + kx * g.ws[2] + ic,
                        Layout::Nchw => self.oc * g.ws[0] + ic * g.ws[1] + ky * g.ws[2] + kx,
                    };
                    acc = f(acc, xi, wi);
                }
            }
        }
        acc
    }
}
