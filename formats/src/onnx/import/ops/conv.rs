//! Conv, ConvTranspose (2-D, and 1-D lifted to 2-D with H = 1; 3-D Conv is `conv3d.rs`),
//! DeformConv (2-D), MaxPool, AveragePool and LpPool (an average pool between elementwise
//! steps).

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::steps::Steps;
use nnopt_compiler::ir::{
    BinaryKind, ConvAttrs, DType, Layout, Op, PoolAttrs, PoolKind, QuantParams, UnaryFunc, ValueRef,
};
use nnopt_compiler::Result;

/// Per-axis window parameters of a 1-D or 2-D spatial op.
pub(super) struct Spatial {
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub begin: Vec<usize>,
    pub end: Vec<usize>,
}

impl Spatial {
    /// IR `(strides, dilations, pads)` with a leading unit axis for 1-D ops.
    fn to_2d(&self) -> ([usize; 2], [usize; 2], [usize; 4]) {
        let two = |v: &[usize], fill: usize| {
            if v.len() == 1 {
                [fill, v[0]]
            } else {
                [v[0], v[1]]
            }
        };
        let (b, e) = (two(&self.begin, 0), two(&self.end, 0));
        (
            two(&self.strides, 1),
            two(&self.dilations, 1),
            [b[0], b[1], e[0], e[1]],
        )
    }
}

/// Number of spatial dims of `shape` (rank - 2), which must be 1 or 2.
pub(super) fn spatial_rank(cx: &NodeCtx, shape: &[usize]) -> Result<usize> {
    match shape.len() {
        3 => Ok(1),
        4 => Ok(2),
        r => Err(cx.err(format!(
            "{}-D {} is not supported (only 1-D and 2-D), input shape is {shape:?}",
            r.saturating_sub(2),
            cx.op_type()
        ))),
    }
}

fn per_axis(cx: &NodeCtx, name: &str, nd: usize, default: usize) -> Result<Vec<usize>> {
    match cx.ints(name)? {
        None => Ok(vec![default; nd]),
        Some(v) if v.len() == nd && v.iter().all(|&x| x >= 1) => cx.usizes(name, &v),
        Some(v) => Err(cx.err(format!(
            "'{name}' must have {nd} positive values, got {v:?}"
        ))),
    }
}

/// Explicit `pads` attribute (`[begins..., ends...]`), default zeros.
fn explicit_pads(cx: &NodeCtx, nd: usize) -> Result<(Vec<usize>, Vec<usize>)> {
    match cx.ints("pads")? {
        None => Ok((vec![0; nd], vec![0; nd])),
        Some(p) if p.len() == 2 * nd => {
            let p = cx.usizes("pads", &p)?;
            Ok((p[..nd].to_vec(), p[nd..].to_vec()))
        }
        Some(p) => Err(cx.err(format!("'pads' must have {} values, got {p:?}", 2 * nd))),
    }
}

/// Parses strides, dilations and padding (explicit or `auto_pad`) of a forward window op.
pub(super) fn parse_spatial(cx: &NodeCtx, input: &[usize], kernel: &[usize]) -> Result<Spatial> {
    let nd = kernel.len();
    let strides = per_axis(cx, "strides", nd, 1)?;
    let dilations = per_axis(cx, "dilations", nd, 1)?;
    let auto_pad = cx.string("auto_pad", "NOTSET")?;
    let (begin, end) = match auto_pad.as_str() {
        "NOTSET" => explicit_pads(cx, nd)?,
        "VALID" => (vec![0; nd], vec![0; nd]),
        "SAME_UPPER" | "SAME_LOWER" => {
            let (mut b, mut e) = (vec![0; nd], vec![0; nd]);
            for i in 0..nd {
                let out = input[i].div_ceil(strides[i]);
                let eff = dilations[i] * (kernel[i].max(1) - 1) + 1;
                let total = ((out.max(1) - 1) * strides[i] + eff).saturating_sub(input[i]);
                let small = total / 2;
                (b[i], e[i]) = if auto_pad == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
            }
            (b, e)
        }
        other => return Err(cx.err(format!("unknown auto_pad '{other}'"))),
    };
    Ok(Spatial {
        strides,
        dilations,
        begin,
        end,
    })
}

/// Kernel shape from the weight, checked against `kernel_shape` when given.
fn kernel_from_weight(cx: &NodeCtx, w: &[usize], nd: usize) -> Result<Vec<usize>> {
    if w.len() != nd + 2 {
        return Err(cx.err(format!("weight shape {w:?} does not have rank {}", nd + 2)));
    }
    let k = w[2..].to_vec();
    if let Some(ks) = cx.ints("kernel_shape")? {
        if cx.usizes("kernel_shape", &ks)? != k {
            return Err(cx.err(format!(
                "kernel_shape {ks:?} does not match weight shape {w:?}"
            )));
        }
    }
    Ok(k)
}

/// Reshapes a rank-3 value `[a, b, l]` to `[a, b, 1, l]`.
fn lift(imp: &mut Importer, v: ValueRef, base: &str) -> Result<ValueRef> {
    let s = imp.shape(v);
    let name = format!("{base}_2d");
    imp.reshape(v, vec![s[0], s[1], 1, s[2]], &name)
}

/// Inverse of [`lift`] on the op's output, giving the ONNX output name.
fn lower(imp: &mut Importer, v: ValueRef, name: &str) -> Result<ValueRef> {
    let s = imp.shape(v);
    imp.reshape(v, vec![s[0], s[1], s[3]], name)
}

/// Quantization parameters of a QLinearConv: input, weight, bias and output.
pub(super) struct ConvQuant {
    pub x: QuantParams,
    pub w: QuantParams,
    pub bias: QuantParams,
    pub y: QuantParams,
}

/// Imports a (possibly quantized) convolution on inputs `x`, `w`, `b`.
pub(super) fn conv_core(
    imp: &mut Importer,
    cx: &NodeCtx,
    (x, w, b): (ValueRef, ValueRef, Option<ValueRef>),
    quant: Option<ConvQuant>,
) -> Result<ValueRef> {
    let (xs, ws) = (imp.shape(x), imp.shape(w));
    let nd = spatial_rank(cx, &xs)?;
    let kernel = kernel_from_weight(cx, &ws, nd)?;
    let sp = parse_spatial(cx, &xs[2..], &kernel)?;
    let group = cx.int("group", 1)?;
    if group < 1 {
        return Err(cx.err(format!("group must be positive, got {group}")));
    }
    let (strides, dilations, pads) = sp.to_2d();
    let attrs = ConvAttrs {
        layout: Layout::Nchw,
        strides,
        dilations,
        pads,
        group: group as usize,
        activation: None,
    };
    let out = cx.out(0).to_string();
    let (mut x2, mut w2) = if nd == 1 {
        (lift(imp, x, &out)?, lift(imp, w, &format!("{out}_w"))?)
    } else {
        (x, w)
    };
    let mut b2 = b;
    let mut yq = None;
    if let Some(q) = quant {
        x2 = imp.with_quant(x2, q.x).map_err(|e| cx.err(e.message))?;
        w2 = imp.with_quant(w2, q.w).map_err(|e| cx.err(e.message))?;
        if let Some(b) = b {
            b2 = Some(imp.with_quant(b, q.bias).map_err(|e| cx.err(e.message))?);
        }
        yq = Some(q.y);
    }
    let mut ins = vec![x2, w2];
    ins.extend(b2);
    let name = if nd == 1 {
        format!("{out}_conv2d")
    } else {
        out.clone()
    };
    let y = imp.emit_q(Op::Conv(attrs), &ins, &[&name], yq)?[0];
    if nd == 1 {
        lower(imp, y, &out)
    } else {
        Ok(y)
    }
}

/// Conv (3-D: as 2-D convolutions over depth slices).
pub(super) fn conv(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    if imp.shape(cx.input(0)?).len() == 5 {
        return super::conv3d::conv3d(imp, cx);
    }
    conv_core(imp, cx, (cx.input(0)?, cx.input(1)?, cx.opt_input(2)), None)
}

/// DeformConv (2-D); a missing bias becomes zeros.
pub(super) fn deform_conv(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (x, w, offset) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let (xs, ws) = (imp.shape(x), imp.shape(w));
    if xs.len() != 4 || ws.len() != 4 {
        return Err(cx.err(format!(
            "only 2-D DeformConv is supported, got input {xs:?} and weights {ws:?}"
        )));
    }
    let kernel = kernel_from_weight(cx, &ws, 2)?;
    let (strides, dilations, pads) = parse_spatial(cx, &xs[2..], &kernel)?.to_2d();
    let positive = |name: &str| match cx.int(name, 1)? {
        v if v >= 1 => Ok(v as usize),
        v => Err(cx.err(format!("{name} must be positive, got {v}"))),
    };
    let op = Op::DeformConv {
        conv: ConvAttrs {
            layout: Layout::Nchw,
            strides,
            dilations,
            pads,
            group: positive("group")?,
            activation: None,
        },
        offset_groups: positive("offset_group")?,
    };
    let dtype = imp.ty(x).dtype;
    let bias = match cx.opt_input(3) {
        Some(b) => b,
        None => {
            let mut s = Steps::new(imp, format!("{}_bias", cx.out(0)));
            s.constant(dtype, &[ws[0]], &vec![0.0; ws[0]])?
        }
    };
    let mut ins = vec![x, w, offset, bias];
    ins.extend(cx.opt_input(4));
    imp.emit(op, &ins, cx.out(0))
}

/// ConvTranspose, with `output_shape` / `auto_pad` resolved to pads and output padding.
pub(super) fn conv_transpose(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (x, w, b) = (cx.input(0)?, cx.input(1)?, cx.opt_input(2));
    let (xs, ws) = (imp.shape(x), imp.shape(w));
    let nd = spatial_rank(cx, &xs)?;
    let kernel = kernel_from_weight(cx, &ws, nd)?;
    let strides = per_axis(cx, "strides", nd, 1)?;
    let dilations = per_axis(cx, "dilations", nd, 1)?;
    let mut out_pad = match cx.ints("output_padding")? {
        None => vec![0; nd],
        Some(p) if p.len() == nd => cx.usizes("output_padding", &p)?,
        Some(p) => return Err(cx.err(format!("'output_padding' must have {nd} values, got {p:?}"))),
    };
    let auto_pad = cx.string("auto_pad", "NOTSET")?;
    let target: Option<Vec<usize>> = match cx.ints("output_shape")? {
        Some(s) if s.len() == nd || s.len() == nd + 2 => {
            Some(cx.usizes("output_shape", &s[s.len() - nd..])?)
        }
        Some(s) => return Err(cx.err(format!("'output_shape' must have {nd} values, got {s:?}"))),
        None if auto_pad.starts_with("SAME") => {
            Some((0..nd).map(|i| xs[2 + i] * strides[i]).collect())
        }
        None => None,
    };
    let (begin, end) = match target {
        Some(t) => {
            let (mut b, mut e) = (vec![0; nd], vec![0; nd]);
            for i in 0..nd {
                let full = strides[i] * (xs[2 + i].max(1) - 1)
                    + out_pad[i]
                    + dilations[i] * (kernel[i].max(1) - 1)
                    + 1;
                if t[i] > full {
                    out_pad[i] += t[i] - full;
                    continue;
                }
                let total = full - t[i];
                (b[i], e[i]) = if auto_pad == "SAME_UPPER" {
                    (total / 2, total - total / 2)
                } else {
                    (total - total / 2, total / 2)
                };
            }
            (b, e)
        }
        None if auto_pad == "VALID" => (vec![0; nd], vec![0; nd]),
        None if auto_pad == "NOTSET" => explicit_pads(cx, nd)?,
        None => return Err(cx.err(format!("unknown auto_pad '{auto_pad}'"))),
    };
    let group = cx.int("group", 1)?;
    if group < 1 {
        return Err(cx.err(format!("group must be positive, got {group}")));
    }
    let sp = Spatial {
        strides,
        dilations,
        begin,
        end,
    };
    let (strides, dilations, pads) = sp.to_2d();
    let output_padding = if nd == 1 {
        [0, out_pad[0]]
    } else {
        [out_pad[0], out_pad[1]]
    };
    let conv = ConvAttrs {
        layout: Layout::Nchw,
        strides,
        dilations,
        pads,
        group: group as usize,
        activation: None,
    };
    let out = cx.out(0).to_string();
    let (x2, w2) = if nd == 1 {
        (lift(imp, x, &out)?, lift(imp, w, &format!("{out}_w"))?)
    } else {
        (x, w)
    };
    let mut ins = vec![x2, w2];
    ins.extend(b);
    let name = if nd == 1 {
        format!("{out}_conv2d")
    } else {
        out.clone()
    };
    let y = imp.emit(
        Op::ConvTranspose {
            conv,
            output_padding,
        },
        &ins,
        &name,
    )?;
    if nd == 1 {
        lower(imp, y, &out)
    } else {
        Ok(y)
    }
}

/// MaxPool / AveragePool over any number of spatial axes.
pub(super) fn pool(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let kind = if cx.op_type() == "MaxPool" {
        PoolKind::Max
    } else {
        PoolKind::Avg
    };
    let pool = pool_attrs(cx, &imp.shape(x), kind)?;
    let op = Op::Pool {
        pool,
        activation: None,
    };
    imp.emit(op, &[x], cx.out(0))
}

/// LpPool, `(sum |x|^p)^(1/p)` over each window: an average pool that counts the padding
/// (whose zeros add nothing) of `|x|^p`, times the window size. Ceil mode, whose last
/// windows may hold fewer taps, is refused.
pub(super) fn lp_pool(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let dtype = imp.ty(x).dtype;
    if !dtype.is_float() {
        return Err(cx.err(format!("LpPool of {dtype} data")));
    }
    let mut pool = pool_attrs(cx, &imp.shape(x), PoolKind::Avg)?;
    if pool.ceil_mode {
        return Err(cx.err("LpPool with ceil_mode=1 is not supported"));
    }
    pool.count_include_pad = true;
    let p = cx.int("p", 2)?;
    if p < 1 {
        return Err(cx.err(format!("p must be positive, got {p}")));
    }
    let taps = pool.kernel.iter().product::<usize>() as f64;
    let mut s = Steps::new(imp, format!("{}_lp", cx.out(0)));
    let x = s.cast(x, DType::F32)?;
    let power = match p {
        1 => s.unary(UnaryFunc::Abs, x)?,
        2 => s.binary(BinaryKind::Mul, x, x)?,
        _ => {
            let a = s.unary(UnaryFunc::Abs, x)?;
            let e = s.constant(DType::F32, &[], &[p as f64])?;
            s.binary(BinaryKind::Pow, a, e)?
        }
    };
    let mean = s.emit(
        Op::Pool {
            pool,
            activation: None,
        },
        &[power],
    )?;
    let n = s.constant(DType::F32, &[], &[taps])?;
    let sum = s.binary(BinaryKind::Mul, mean, n)?;
    let y = match p {
        1 => sum,
        2 => s.unary(UnaryFunc::Sqrt, sum)?,
        _ => {
            let e = s.constant(DType::F32, &[], &[1.0 / p as f64])?;
            s.binary(BinaryKind::Pow, sum, e)?
        }
    };
    s.cast(y, dtype)
}

/// The window attributes of a pooling node on input shape `xs`.
fn pool_attrs(cx: &NodeCtx, xs: &[usize], kind: PoolKind) -> Result<PoolAttrs> {
    if xs.len() < 3 {
        return Err(cx.err(format!(
            "pool input {xs:?} needs batch, channel and spatial axes"
        )));
    }
    let nd = xs.len() - 2;
    let kernel = match cx.ints("kernel_shape")? {
        Some(k) if k.len() == nd && k.iter().all(|&v| v >= 1) => cx.usizes("kernel_shape", &k)?,
        k => {
            return Err(cx.err(format!(
                "'kernel_shape' must have {nd} positive values, got {k:?}"
            )))
        }
    };
    let sp = parse_spatial(cx, &xs[2..], &kernel)?;
    if cx.int("storage_order", 0)? != 0 {
        return Err(cx.err("storage_order=1 is not supported"));
    }
    let dilations = if sp.dilations.iter().all(|&d| d == 1) {
        vec![]
    } else {
        sp.dilations
    };
    Ok(PoolAttrs {
        kind,
        layout: Layout::Nchw,
        kernel,
        strides: sp.strides,
        dilations,
        pads: [sp.begin, sp.end].concat(),
        ceil_mode: cx.int("ceil_mode", 0)? != 0,
        count_include_pad: cx.int("count_include_pad", 0)? != 0,
    })
}
