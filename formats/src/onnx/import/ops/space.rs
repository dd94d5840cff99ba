//! DepthToSpace, SpaceToDepth (as reshape, transpose, reshape) and CenterCropPad (as a
//! slice and a pad).

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::opt_const_ints;
use nnopt_compiler::ir::{DepthToSpaceMode, Layout, Op, PadMode, ValueRef};
use nnopt_compiler::Result;

/// The block size attribute and the NCHW input dimensions.
fn block_and_dims(imp: &Importer, cx: &NodeCtx) -> Result<(usize, [usize; 4])> {
    let shape = imp.shape(cx.input(0)?);
    let dims: [usize; 4] = shape
        .as_slice()
        .try_into()
        .map_err(|_| cx.err(format!("input must be 4-D NCHW, got {shape:?}")))?;
    let block = usize::try_from(cx.int("blocksize", 0)?).unwrap_or(0);
    if block == 0 {
        return Err(cx.err("blocksize must be positive"));
    }
    Ok((block, dims))
}

/// The `mode` attribute (DCR by default).
fn mode(cx: &NodeCtx) -> Result<DepthToSpaceMode> {
    match cx.string("mode", "DCR")?.as_str() {
        "DCR" => Ok(DepthToSpaceMode::Dcr),
        "CRD" => Ok(DepthToSpaceMode::Crd),
        other => Err(cx.err(format!("mode '{other}' is not supported"))),
    }
}

/// DepthToSpace.
pub(super) fn depth_to_space(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (block, _) = block_and_dims(imp, cx)?;
    let op = Op::DepthToSpace {
        block,
        layout: Layout::Nchw,
        mode: mode(cx)?,
    };
    imp.emit(op, &[cx.input(0)?], cx.out(0))
}

/// SpaceToDepth: `[N, C, H, W]` to `[N, C * b * b, H / b, W / b]`, blocks before
/// channels (DCR) or after (CRD).
pub(super) fn space_to_depth(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (b, [n, c, h, w]) = block_and_dims(imp, cx)?;
    if h % b != 0 || w % b != 0 {
        return Err(cx.err(format!("blocksize {b} does not divide {h}x{w}")));
    }
    let out = cx.out(0);
    let x = imp.reshape(
        cx.input(0)?,
        vec![n, c, h / b, b, w / b, b],
        &format!("{out}_blocks"),
    )?;
    let perm = match mode(cx)? {
        DepthToSpaceMode::Dcr => vec![0, 3, 5, 1, 2, 4],
        DepthToSpaceMode::Crd => vec![0, 1, 3, 5, 2, 4],
    };
    let x = imp.emit(Op::Transpose { perm }, &[x], &format!("{out}_moved"))?;
    imp.reshape(x, vec![n, c * b * b, h / b, w / b], out)
}

/// CenterCropPad: each listed axis cropped or zero-padded to its target length, centred
/// (the extra element of an odd difference goes to the end).
pub(super) fn center_crop_pad(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let dims = imp.shape(x);
    let target = opt_const_ints(imp, cx, 1, "shape")?
        .ok_or_else(|| cx.err("input 1 (shape) is required"))?;
    let target = cx.usizes("shape", &target)?;
    let axes = match cx.ints("axes")? {
        Some(a) => a
            .iter()
            .map(|&a| cx.axis(a, dims.len()))
            .collect::<Result<Vec<_>>>()?,
        None => (0..dims.len()).collect(),
    };
    if axes.len() != target.len() {
        return Err(cx.err(format!("{} axes for {} lengths", axes.len(), target.len())));
    }
    let r = dims.len();
    let (mut starts, mut ends, steps) = (vec![0i64; r], vec![i64::MAX; r], vec![1i64; r]);
    let mut pads = vec![(0usize, 0usize); r];
    for (&a, &t) in axes.iter().zip(&target) {
        let d = dims[a];
        if d > t {
            starts[a] = ((d - t) / 2) as i64;
            ends[a] = starts[a] + t as i64;
        } else {
            pads[a] = ((t - d) / 2, t - d - (t - d) / 2);
        }
    }
    let out = cx.out(0);
    let cropped = imp.emit(
        Op::Slice {
            starts,
            ends,
            steps,
        },
        &[x],
        &format!("{out}_crop"),
    )?;
    imp.emit(
        Op::Pad {
            pads,
            mode: PadMode::Constant,
            value: 0.0,
        },
        &[cropped],
        out,
    )
}
