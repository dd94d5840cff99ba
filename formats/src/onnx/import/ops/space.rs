//! DepthToSpace, SpaceToDepth (as reshape, transpose, reshape), CenterCropPad (as a
//! slice and a pad) and Col2Im (as a scatter-add).

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::opt_const_ints;
use super::steps::Steps;
use nnopt_compiler::ir::{
    DType, DepthToSpaceMode, Layout, Op, PadMode, ScatterReduction, ValueRef,
};
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

/// Col2Im: the columns `[N, C * prod(block), L]` of `L` sliding blocks summed back into
/// an image `[N, C, image...]`, as a scatter-add with constant positions (taps in the
/// padding go to one extra slot that is cut off).
pub(super) fn col2im(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let xs = imp.shape(x);
    let positive = |i: usize, what: &str| -> Result<Vec<usize>> {
        let v = opt_const_ints(imp, cx, i, what)?.unwrap_or_default();
        match cx.usizes(what, &v)? {
            v if v.is_empty() || v.contains(&0) => {
                Err(cx.err(format!("{what} must hold positive sizes")))
            }
            v => Ok(v),
        }
    };
    let image = positive(1, "image_shape")?;
    let block = positive(2, "block_shape")?;
    crate::onnx::import::element_count(&image)?;
    crate::onnx::import::element_count(&block)?;
    let nd = image.len();
    let attr = |name: &str, len: usize, default: i64| -> Result<Vec<usize>> {
        let v = cx.ints(name)?.unwrap_or_else(|| vec![default; len]);
        if v.len() != len {
            return Err(cx.err(format!("'{name}' must have {len} values, got {v:?}")));
        }
        cx.usizes(name, &v)
    };
    let dilations = attr("dilations", nd, 1)?;
    let strides = attr("strides", nd, 1)?;
    let pads = attr("pads", 2 * nd, 0)?;
    if block.len() != nd || dilations.contains(&0) || strides.contains(&0) {
        return Err(cx.err("block_shape, dilations and strides need one positive value per axis"));
    }
    // Sliding blocks per axis.
    let mut blocks = Vec::with_capacity(nd);
    for i in 0..nd {
        let span = dilations[i] * (block[i] - 1) + 1;
        match (image[i] + pads[i] + pads[nd + i]).checked_sub(span) {
            Some(room) => blocks.push(room / strides[i] + 1),
            None => return Err(cx.err("a block is larger than the padded image")),
        }
    }
    let k: usize = block.iter().product();
    let l: usize = blocks.iter().product();
    let [n, ck, len] = xs[..] else {
        return Err(cx.err(format!("input must be [N, C * block, L], got {xs:?}")));
    };
    if ck % k != 0 || len != l {
        return Err(cx.err(format!(
            "input {xs:?} does not hold blocks of {block:?} at {l} positions"
        )));
    }
    let c = ck / k;
    let rows = n * c;
    crate::onnx::import::element_count(&[rows, k * l])?;
    let pixels: usize = image.iter().product();
    crate::onnx::import::element_count(&[rows, pixels + 1])?;
    // The image offset of each (block tap, position), or the extra slot.
    let mut at = Vec::with_capacity(k * l);
    for tap in 0..k {
        for pos in 0..l {
            let (mut t, mut p, mut offset) = (tap, pos, Some(0));
            for i in (0..nd).rev() {
                let (ti, pi) = (t % block[i], p % blocks[i]);
                (t, p) = (t / block[i], p / blocks[i]);
                let coord = (pi * strides[i] + ti * dilations[i]).checked_sub(pads[i]);
                offset = match coord.filter(|&v| v < image[i]) {
                    Some(v) => offset.map(|o| o + v * image[i + 1..].iter().product::<usize>()),
                    None => None,
                };
            }
            at.push(offset.unwrap_or(pixels) as f64);
        }
    }
    let at: Vec<f64> = (0..rows).flat_map(|_| at.iter().copied()).collect();
    let dtype = imp.ty(x).dtype;
    let mut s = Steps::new(imp, format!("{}_col2im", cx.out(0)));
    let zeros = s.constant(dtype, &[rows, pixels + 1], &vec![0.0; rows * (pixels + 1)])?;
    let idx = s.constant(DType::I64, &[rows, k * l], &at)?;
    let cols = s.reshape(x, vec![rows, k * l])?;
    let op = Op::ScatterElements {
        axis: 1,
        reduction: ScatterReduction::Add,
    };
    let sums = s.emit(op, &[zeros, idx, cols])?;
    let op = Op::Slice {
        starts: vec![0, 0],
        ends: vec![rows as i64, pixels as i64],
        steps: vec![1, 1],
    };
    let img = s.emit(op, &[sums])?;
    let mut shape = vec![n, c];
    shape.extend(image);
    s.reshape(img, shape)
}
