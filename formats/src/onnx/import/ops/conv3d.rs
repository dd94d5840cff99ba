//! 3-D Conv as a composition of 2-D convolutions: output depth `od` is the sum over the
//! kernel depth `kd` of a 2-D convolution of input depth slice `od * stride + kd *
//! dilation` (after depth padding) with weight slice `kd`.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::conv::parse_spatial;
use super::steps::Steps;
use nnopt_compiler::ir::{BinaryKind, ConvAttrs, DType, Layout, Op, PadMode, ValueRef};
use nnopt_compiler::Result;
use std::collections::HashMap;

/// The most 2-D convolutions one 3-D Conv may expand to.
const MAX_SLICE_CONVS: usize = 4096;

/// Conv on a 5-D float input `[N, C, D, H, W]` with weights `[M, C / group, KD, KH, KW]`.
pub(super) fn conv3d(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (x, w, b) = (cx.input(0)?, cx.input(1)?, cx.opt_input(2));
    let (xs, ws) = (imp.shape(x), imp.shape(w));
    if ws.len() != 5 {
        return Err(cx.err(format!("weight shape {ws:?} does not have rank 5")));
    }
    if imp.ty(x).dtype != DType::F32 || imp.ty(w).dtype != DType::F32 {
        return Err(cx.err("3-D Conv is supported on float32 data"));
    }
    let sp = parse_spatial(cx, &xs[2..], &ws[2..])?;
    let group = usize::try_from(cx.int("group", 1)?)
        .ok()
        .filter(|&g| g >= 1)
        .ok_or_else(|| cx.err("group must be positive"))?;
    let (kd, stride, dilation) = (ws[2], sp.strides[0], sp.dilations[0]);
    let depth = xs[2] + sp.begin[0] + sp.end[0];
    let reach = dilation * (kd.max(1) - 1) + 1;
    if kd == 0 || depth < reach {
        return Err(cx.err(format!(
            "a kernel depth of {kd} does not fit the padded input depth {depth}"
        )));
    }
    let out_depth = (depth - reach) / stride + 1;
    if out_depth * kd > MAX_SLICE_CONVS {
        return Err(cx.err(format!(
            "3-D Conv with {out_depth} output planes and kernel depth {kd} would take more \
             than {MAX_SLICE_CONVS} 2-D convolutions"
        )));
    }
    let attrs = ConvAttrs {
        layout: Layout::Nchw,
        strides: [sp.strides[1], sp.strides[2]],
        dilations: [sp.dilations[1], sp.dilations[2]],
        pads: [sp.begin[1], sp.begin[2], sp.end[1], sp.end[2]],
        group,
        activation: None,
    };
    let out = cx.out(0);
    let mut s = Steps::new(imp, format!("{out}_step"));
    let x = if sp.begin[0] + sp.end[0] > 0 {
        let mut pads = vec![(0, 0); 5];
        pads[2] = (sp.begin[0], sp.end[0]);
        let op = Op::Pad {
            pads,
            mode: PadMode::Constant,
            value: 0.0,
        };
        s.emit(op, &[x])?
    } else {
        x
    };
    let plane = |s: &mut Steps, v: ValueRef, i: usize| -> Result<ValueRef> {
        let sh = s.imp.shape(v);
        let p = s.slice(v, 2, i, i + 1, 1)?;
        s.reshape(p, vec![sh[0], sh[1], sh[3], sh[4]])
    };
    let kernels = (0..kd)
        .map(|k| plane(&mut s, w, k))
        .collect::<Result<Vec<_>>>()?;
    let mut inputs: HashMap<usize, ValueRef> = HashMap::new();
    let mut planes = Vec::with_capacity(out_depth);
    for od in 0..out_depth {
        let mut acc: Option<ValueRef> = None;
        for (k, &wk) in kernels.iter().enumerate() {
            let d = od * stride + k * dilation;
            let xd = match inputs.get(&d) {
                Some(&v) => v,
                None => {
                    let v = plane(&mut s, x, d)?;
                    inputs.insert(d, v);
                    v
                }
            };
            let mut ins = vec![xd, wk];
            ins.extend(b.filter(|_| k == 0));
            let y = s.emit(Op::Conv(attrs.clone()), &ins)?;
            acc = Some(match acc {
                Some(a) => s.binary(BinaryKind::Add, a, y)?,
                None => y,
            });
        }
        let y = acc.expect("the kernel has depth");
        let sh = s.imp.shape(y);
        planes.push(s.reshape(y, vec![sh[0], sh[1], 1, sh[2], sh[3]])?);
    }
    s.imp.emit(Op::Concat { axis: 2 }, &planes, out)
}
