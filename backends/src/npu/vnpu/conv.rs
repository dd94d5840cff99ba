//! Convolution (grouped, depthwise and transposed) and fully connected kernels: int32 accumulation
//! of `(w - w_zp) * (x - x_zp)`, bias, per-channel fixed-point requantization, clamp.
//! Forward convolutions and fully connected layers run on the interpreter's kernels
//! (`nnopt_compiler::kernels`), so both agree by construction.

use crate::npu::program::{Conv2d, FullyConnected, OutputStage, WeightBlock};
use nnopt_compiler::interp::conv_geometry::dims;
use nnopt_compiler::interp::fixedpoint::multiply_by_quantized_multiplier;
use nnopt_compiler::ir::Layout;
use nnopt_compiler::kernels::{self, PreparedWeights};
use nnopt_compiler::{Error, Result};

/// Requantizes an accumulator of output channel `oc`.
fn requantize(acc: i32, oc: usize, wb: &WeightBlock, st: &OutputStage) -> i32 {
    let acc = acc.wrapping_add(wb.bias[oc]);
    let r = wb.requant[oc];
    multiply_by_quantized_multiplier(acc, r.multiplier, r.shift)
        .wrapping_add(st.output_zero_point)
        .clamp(st.act_min, st.act_max)
}

/// A weight block's requantization as the shared kernels take it.
struct StageParams {
    multiplier: Vec<i32>,
    shift: Vec<i32>,
}

impl StageParams {
    fn new(wb: &WeightBlock) -> Self {
        let (multiplier, shift) = wb.requant.iter().map(|r| (r.multiplier, r.shift)).unzip();
        StageParams { multiplier, shift }
    }

    fn stage<'a>(&'a self, wb: &'a WeightBlock, st: &OutputStage) -> kernels::Requantize<'a> {
        kernels::Requantize {
            bias: &wb.bias,
            multiplier: &self.multiplier,
            shift: &self.shift,
            zero_point: st.output_zero_point,
            range: (st.act_min, st.act_max),
        }
    }
}

/// Checks that a weight block has `n` channels of `per_channel` weights.
fn check_block(name: &str, wb: &WeightBlock, n: usize, per_channel: usize) -> Result<()> {
    if wb.weights.len() != n * per_channel
        || wb.bias.len() != n
        || wb.requant.len() != n
        || wb.weight_zero_points.len() != n
    {
        return Err(Error::at_node(
            name,
            format!("weight block does not match {n} channels of {per_channel} weights"),
        ));
    }
    Ok(())
}

/// The shapes of one convolution command: input and output (batch, height, width,
/// channels), kernel, channels per group and element strides (batch, y, x, channel).
pub(super) struct ConvShape {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub cin_g: usize,
    pub cout_g: usize,
    pub xst: [usize; 4],
    pub ost: [usize; 4],
}

impl ConvShape {
    /// The shapes of `c` on input shape `xs` and output shape `os`.
    pub(super) fn new(c: &Conv2d, xs: &[usize], os: &[usize]) -> Result<Self> {
        let (n, h, w, cin) = dims(c.layout, xs)?;
        let (_, oh, ow, cout) = dims(c.layout, os)?;
        let [kh, kw] = c.kernel;
        let groups = c.groups.max(1);
        if !cin.is_multiple_of(groups) || !cout.is_multiple_of(groups) {
            return Err(Error::at_node(
                &c.name,
                "channels do not divide into groups",
            ));
        }
        Ok(ConvShape {
            n,
            h,
            w,
            oh,
            ow,
            cout,
            kh,
            kw,
            cin_g: cin / groups,
            cout_g: cout / groups,
            xst: strides(c.layout, [n, h, w, cin]),
            ost: strides(c.layout, [n, oh, ow, cout]),
        })
    }

    /// The shared kernels' view of forward convolution `c`.
    fn kernel_shape(&self, c: &Conv2d) -> kernels::ConvShape {
        kernels::ConvShape {
            batch: self.n,
            input: [self.h, self.w, self.cin_g * c.groups.max(1)],
            output: [self.oh, self.ow, self.cout],
            kernel: [self.kh, self.kw],
            groups: c.groups.max(1),
            strides: c.strides,
            dilations: c.dilations,
            pads: [c.pads[0], c.pads[1]],
        }
    }

    /// Number of output elements.
    pub(super) fn output_len(&self) -> usize {
        self.n * self.oh * self.ow * self.cout
    }

    /// Number of weights of one output channel.
    pub(super) fn weights_per_channel(&self) -> usize {
        self.kh * self.kw * self.cin_g
    }

    /// Calls `f(output index, output channel, taps)` for every output element of `c`, in
    /// batch, y, x, channel order.
    pub(super) fn for_each_output<'a>(
        &'a self,
        c: &'a Conv2d,
        mut f: impl FnMut(usize, usize, Taps<'a>),
    ) {
        let ost = self.ost;
        for b in 0..self.n {
            for oy in 0..self.oh {
                for ox in 0..self.ow {
                    for oc in 0..self.cout {
                        let oi = b * ost[0] + oy * ost[1] + ox * ost[2] + oc * ost[3];
                        let taps = Taps {
                            s: self,
                            c,
                            b,
                            oy,
                            ox,
                            oc,
                        };
                        f(oi, oc, taps);
                    }
                }
            }
        }
    }
}

/// Element strides (batch, y, x, channel) of a 4-D activation in `layout`.
fn strides(layout: Layout, [_, h, w, c]: [usize; 4]) -> [usize; 4] {
    match layout {
        Layout::Nhwc => [h * w * c, w * c, c, 1],
        Layout::Nchw => [c * h * w, w, 1, h * w],
    }
}

/// The input coordinate along spatial `axis` (0: y, 1: x) that output coordinate `o`
/// reads through kernel tap `k`, if it lies inside the input's `size`. A transposed
/// convolution reads input `i` where `i * stride + k * dilation - pad = o`.
fn source(c: &Conv2d, axis: usize, o: usize, k: usize, size: usize) -> Option<usize> {
    let (stride, tap, pad) = (c.strides[axis], k * c.dilations[axis], c.pads[axis]);
    let i = if c.transposed {
        let v = (o + pad).checked_sub(tap)?;
        if !v.is_multiple_of(stride) {
            return None;
        }
        v / stride
    } else {
        (o * stride + tap).checked_sub(pad)?
    };
    (i < size).then_some(i)
}

/// The (input index, weight index) pairs that contribute to one output element.
pub(super) struct Taps<'a> {
    s: &'a ConvShape,
    c: &'a Conv2d,
    b: usize,
    oy: usize,
    ox: usize,
    oc: usize,
}

impl Taps<'_> {
    /// Folds `f(acc, input index, weight index)` over the taps inside the input (padding
    /// contributes nothing), in kernel-row, kernel-column, input-channel order.
    #[inline]
    pub(super) fn fold<A>(self, init: A, mut f: impl FnMut(A, usize, usize) -> A) -> A {
        let (s, c) = (self.s, self.c);
        let base_c = (self.oc / s.cout_g) * s.cin_g;
        let mut acc = init;
        for ky in 0..s.kh {
            let Some(iy) = source(c, 0, self.oy, ky, s.h) else {
                continue;
            };
            for kx in 0..s.kw {
                let Some(ix) = source(c, 1, self.ox, kx, s.w) else {
                    continue;
                };
                let xb = self.b * s.xst[0] + iy * s.xst[1] + ix * s.xst[2];
                let wbase = ((self.oc * s.kh + ky) * s.kw + kx) * s.cin_g;
                for ic in 0..s.cin_g {
                    acc = f(acc, xb + (base_c + ic) * s.xst[3], wbase + ic);
                }
            }
        }
        acc
    }
}

/// Runs a 2-D convolution (or a transposed one) on input `x` (shape `xs`) into an output
/// of shape `os`. Forward convolutions run on the interpreter's integer kernels.
pub fn conv2d(
    c: &Conv2d,
    wb: &WeightBlock,
    x: &[i32],
    xs: &[usize],
    os: &[usize],
    prepared: &PreparedWeights,
) -> Result<Vec<i32>> {
    let shape = ConvShape::new(c, xs, os)?;
    check_block(&c.name, wb, shape.cout, shape.weights_per_channel())?;
    let st = &c.stage;
    if c.transposed {
        let mut out = vec![0i32; shape.output_len()];
        shape.for_each_output(c, |oi, oc, taps| {
            let wzp = wb.weight_zero_points[oc];
            let acc = taps.fold(0i32, |acc, xi, wi| {
                let xv = x[xi].wrapping_sub(st.input_zero_point);
                let wv = (wb.weights[wi] as i32).wrapping_sub(wzp);
                acc.wrapping_add(wv.wrapping_mul(xv))
            });
            out[oi] = requantize(acc, oc, wb, st);
        });
        return Ok(out);
    }
    let nchw = c.layout == Layout::Nchw;
    let nhwc_x;
    let x = if nchw {
        nhwc_x = kernels::nchw_to_nhwc(x, xs);
        &nhwc_x
    } else {
        x
    };
    let mut out = vec![0i32; shape.output_len()];
    let params = StageParams::new(wb);
    let ks = shape.kernel_shape(c);
    let at_node = |e: Error| Error::at_node(&c.name, e.to_string());
    let weights = kernels::ConvWeights::cached(Some(prepared), || {
        kernels::ConvWeights::new(&ks, &wb.weights, &wb.weight_zero_points)
    })
    .map_err(at_node)?;
    kernels::conv2d_prepared(
        &ks,
        x,
        st.input_zero_point,
        &weights,
        &mut out,
        &params.stage(wb, st),
    )
    .map_err(at_node)?;
    Ok(if nchw {
        kernels::nhwc_to_nchw(&out, os)
    } else {
        out
    })
}

/// (batch, inputs per row) of fully connected layer `c` with `nout` outputs per row, an
/// input of `x_len` and an output of `out_len` elements.
pub(super) fn fc_shape(
    c: &FullyConnected,
    nout: usize,
    x_len: usize,
    out_len: usize,
) -> Result<(usize, usize)> {
    if nout == 0 || !out_len.is_multiple_of(nout) {
        return Err(Error::at_node(&c.name, "output does not match the weights"));
    }
    let batch = out_len / nout;
    if !x_len.is_multiple_of(batch.max(1)) {
        return Err(Error::at_node(
            &c.name,
            "input does not split into the batch",
        ));
    }
    Ok((batch, x_len / batch.max(1)))
}

/// Runs a fully connected layer: `x` flattened to `[batch, in]`, weights `[out, in]`.
pub fn fully_connected(
    c: &FullyConnected,
    wb: &WeightBlock,
    x: &[i32],
    out_len: usize,
    prepared: &PreparedWeights,
) -> Result<Vec<i32>> {
    let nout = wb.bias.len();
    let (batch, k) = fc_shape(c, nout, x.len(), out_len)?;
    check_block(&c.name, wb, nout, k)?;
    let st = &c.stage;
    let mut out = vec![0i32; out_len];
    let weights = kernels::ConvWeights::cached(Some(prepared), || {
        kernels::ConvWeights::fully_connected(
            k,
            |j, i| wb.weights[j * k + i] as i32,
            &wb.weight_zero_points,
        )
    })
    .map_err(|e| Error::at_node(&c.name, e.to_string()))?;
    kernels::fully_connected(
        x,
        st.input_zero_point,
        batch,
        &weights,
        &mut out,
        &StageParams::new(wb).stage(wb, st),
    )
    .map_err(|e| Error::at_node(&c.name, e.to_string()))?;
    Ok(out)
}
