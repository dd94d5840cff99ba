//! Output type inference for every op (shape and dtype; quantization is carried through
//! ops that only move data).

use super::dtype::DType;
use super::op::{slice_range, Op};
use super::tensor::TensorType;
use crate::{bail, Result};

/// Numpy broadcasting of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => bail!("shapes {a:?} and {b:?} do not broadcast"),
        };
    }
    Ok(out)
}

fn overflow(what: &str) -> crate::Error {
    crate::Error::new(format!("{what} sizes overflow"))
}

/// `a + b`, an error on overflow.
fn add(a: usize, b: usize) -> Result<usize> {
    a.checked_add(b).ok_or_else(|| overflow("padding"))
}

/// `a * b`, an error on overflow.
fn mul(a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b).ok_or_else(|| overflow("channel"))
}

/// Output size of a strided window along one axis.
pub fn conv_out_size(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_total: usize,
) -> Result<usize> {
    let eff = dilation
        .checked_mul(kernel.max(1) - 1)
        .and_then(|e| e.checked_add(1))
        .ok_or_else(|| overflow("window"))?;
    let padded = input
        .checked_add(pad_total)
        .ok_or_else(|| overflow("padding"))?;
    if padded < eff || stride == 0 {
        bail!("window {kernel} (dilation {dilation}, stride {stride}) does not fit input {input} padded by {pad_total}");
    }
    Ok((padded - eff) / stride + 1)
}

/// A sliding window along one axis.
#[derive(Clone, Copy, Debug)]
pub struct Window1d {
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    pub pad_begin: usize,
    pub pad_end: usize,
}

impl Window1d {
    /// Number of window positions over an axis of `input` elements; with `ceil_mode` a
    /// last partial window counts when it starts inside the input or the begin padding
    /// (ONNX / PyTorch rule).
    pub fn out_size(&self, input: usize, ceil_mode: bool) -> Result<usize> {
        let pads = add(self.pad_begin, self.pad_end)?;
        let floor = conv_out_size(input, self.kernel, self.stride, self.dilation, pads)?;
        // Both sums were checked by `conv_out_size`, and the span is not negative.
        let eff = self.dilation * (self.kernel.max(1) - 1) + 1;
        let span = input + pads - eff;
        if !ceil_mode
            || span.is_multiple_of(self.stride)
            || floor.saturating_mul(self.stride) >= input + self.pad_begin
        {
            return Ok(floor);
        }
        Ok(floor + 1)
    }
}

/// The output dtype of a convolution or Gemm on `dtype` data: FP8 products accumulate
/// into f32.
fn products_dtype(dtype: DType) -> DType {
    match dtype {
        DType::F8E4M3 | DType::F8E5M2 => DType::F32,
        d => d,
    }
}

fn need(inputs: &[&TensorType], min: usize, max: usize) -> Result<()> {
    if inputs.len() < min || inputs.len() > max {
        bail!("expected {min}..={max} inputs, got {}", inputs.len());
    }
    Ok(())
}

fn rank(t: &TensorType, r: usize, what: &str) -> Result<()> {
    if t.shape.len() != r {
        bail!("{what} must have rank {r}, got shape {:?}", t.shape);
    }
    Ok(())
}

/// Infers the output types of `op` applied to inputs of the given types.
pub fn infer_types(op: &Op, inputs: &[&TensorType]) -> Result<Vec<TensorType>> {
    let same = |t: &TensorType| TensorType::new(t.dtype, t.shape.clone());
    let keep_q = |t: &TensorType, shape: Vec<usize>| TensorType {
        dtype: t.dtype,
        shape,
        quant: t.quant.clone().filter(|q| q.axis.is_none()),
    };
    Ok(match op {
        Op::Input | Op::Const { .. } => bail!("sources have no inferred type"),
        Op::Conv(c) => {
            need(inputs, 2, 3)?;
            let (x, w) = (inputs[0], inputs[1]);
            rank(x, 4, "conv input")?;
            rank(w, 4, "conv weight")?;
            let [ha, wa] = c.layout.spatial_axes();
            let ca = c.layout.channel_axis();
            let (o, kh, kw, ci) = match c.layout {
                super::op::Layout::Nchw => (w.shape[0], w.shape[2], w.shape[3], w.shape[1]),
                super::op::Layout::Nhwc => (w.shape[0], w.shape[1], w.shape[2], w.shape[3]),
            };
            if c.group == 0 || x.shape[ca] != mul(ci, c.group)? || o % c.group != 0 {
                bail!(
                    "conv input has {} channels but weight {:?} with group {} expects {}",
                    x.shape[ca],
                    w.shape,
                    c.group,
                    ci * c.group
                );
            }
            let ho = conv_out_size(
                x.shape[ha],
                kh,
                c.strides[0],
                c.dilations[0],
                add(c.pads[0], c.pads[2])?,
            )?;
            let wo = conv_out_size(
                x.shape[wa],
                kw,
                c.strides[1],
                c.dilations[1],
                add(c.pads[1], c.pads[3])?,
            )?;
            let mut shape = x.shape.clone();
            shape[ca] = o;
            shape[ha] = ho;
            shape[wa] = wo;
            vec![TensorType::new(products_dtype(x.dtype), shape)]
        }
        Op::ConvTranspose {
            conv: c,
            output_padding,
        } => {
            need(inputs, 2, 3)?;
            let (x, w) = (inputs[0], inputs[1]);
            rank(x, 4, "conv_transpose input")?;
            rank(w, 4, "conv_transpose weight")?;
            let [ha, wa] = c.layout.spatial_axes();
            let ca = c.layout.channel_axis();
            let (o, kh, kw) = match c.layout {
                super::op::Layout::Nchw => (mul(w.shape[1], c.group)?, w.shape[2], w.shape[3]),
                super::op::Layout::Nhwc => (w.shape[0], w.shape[1], w.shape[2]),
            };
            let size = |i: usize, k: usize, ax: usize| -> Result<usize> {
                let full = mul(c.strides[ax], i.saturating_sub(1))?;
                let full = add(full, output_padding[ax])?;
                let full = add(full, mul(c.dilations[ax], k.saturating_sub(1))?)?;
                let full = add(full, 1)?;
                let p = add(c.pads[ax], c.pads[ax + 2])?;
                if full <= p {
                    bail!("conv_transpose output would be empty");
                }
                Ok(full - p)
            };
            let mut shape = x.shape.clone();
            shape[ca] = o;
            shape[ha] = size(x.shape[ha], kh, 0)?;
            shape[wa] = size(x.shape[wa], kw, 1)?;
            vec![TensorType::new(x.dtype, shape)]
        }
        Op::Gemm(gemm) => {
            need(inputs, 2, 3)?;
            let (a, b) = (inputs[0], inputs[1]);
            rank(a, 2, "gemm A")?;
            rank(b, 2, "gemm B")?;
            let (m, k) = if gemm.trans_a {
                (a.shape[1], a.shape[0])
            } else {
                (a.shape[0], a.shape[1])
            };
            let (k2, n) = if gemm.trans_b {
                (b.shape[1], b.shape[0])
            } else {
                (b.shape[0], b.shape[1])
            };
            if k != k2 {
                bail!(
                    "gemm inner dimensions differ: {:?} x {:?}",
                    a.shape,
                    b.shape
                );
            }
            if let Some(c) = inputs.get(2) {
                broadcast_shapes(&c.shape, &[m, n])?;
            }
            vec![TensorType::new(products_dtype(a.dtype), vec![m, n])]
        }
        Op::MatMul => {
            need(inputs, 2, 2)?;
            let (a, b) = (&inputs[0].shape, &inputs[1].shape);
            if a.is_empty() || b.is_empty() {
                bail!("mat_mul operands must not be scalars");
            }
            let a2: Vec<usize> = if a.len() == 1 {
                vec![1, a[0]]
            } else {
                a.clone()
            };
            let b2: Vec<usize> = if b.len() == 1 {
                vec![b[0], 1]
            } else {
                b.clone()
            };
            let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
            let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
            if k != k2 {
                bail!("mat_mul inner dimensions differ: {a:?} x {b:?}");
            }
            let mut shape = broadcast_shapes(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
            if a.len() > 1 {
                shape.push(m);
            }
            if b.len() > 1 {
                shape.push(n);
            }
            vec![TensorType::new(inputs[0].dtype, shape)]
        }
        Op::Binary { .. } | Op::PRelu => {
            need(inputs, 2, 2)?;
            vec![TensorType::new(
                inputs[0].dtype,
                broadcast_shapes(&inputs[0].shape, &inputs[1].shape)?,
            )]
        }
        Op::Unary { func } => {
            need(inputs, 1, 1)?;
            let dtype = if func.tests_values() {
                DType::Bool
            } else {
                inputs[0].dtype
            };
            vec![TensorType::new(dtype, inputs[0].shape.clone())]
        }
        Op::Compare { .. } => {
            need(inputs, 2, 2)?;
            if inputs[0].dtype != inputs[1].dtype {
                bail!(
                    "compared operands have different types {} and {}",
                    inputs[0].dtype,
                    inputs[1].dtype
                );
            }
            vec![TensorType::new(
                DType::Bool,
                broadcast_shapes(&inputs[0].shape, &inputs[1].shape)?,
            )]
        }
        Op::Where => {
            need(inputs, 3, 3)?;
            if inputs[0].dtype != DType::Bool || inputs[1].dtype != inputs[2].dtype {
                bail!(
                    "where takes a bool condition and two values of one type, got {}, {} and {}",
                    inputs[0].dtype,
                    inputs[1].dtype,
                    inputs[2].dtype
                );
            }
            let xy = broadcast_shapes(&inputs[1].shape, &inputs[2].shape)?;
            vec![keep_q(inputs[1], broadcast_shapes(&inputs[0].shape, &xy)?)]
        }
        Op::GatherElements { .. } => {
            need(inputs, 2, 2)?;
            vec![keep_q(inputs[0], inputs[1].shape.clone())]
        }
        Op::Einsum { equation } => {
            let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape.as_slice()).collect();
            let e = super::einsum::Einsum::parse(equation, &shapes)?;
            let dtype = inputs.first().map_or(DType::F32, |t| t.dtype);
            vec![TensorType::new(dtype, e.output_shape())]
        }
        Op::TopK { axis, k, .. } => {
            need(inputs, 1, 1)?;
            let mut shape = inputs[0].shape.clone();
            match shape.get_mut(*axis) {
                Some(d) if *k <= *d => *d = *k,
                _ => bail!("top_k of {k} along axis {axis} of {:?}", inputs[0].shape),
            }
            vec![
                keep_q(inputs[0], shape.clone()),
                TensorType::new(DType::I64, shape),
            ]
        }
        Op::ScatterNd { .. } => {
            need(inputs, 3, 3)?;
            vec![keep_q(inputs[0], inputs[0].shape.clone())]
        }
        Op::ScatterElements { .. } => {
            need(inputs, 3, 3)?;
            vec![keep_q(inputs[0], inputs[0].shape.clone())]
        }
        Op::Expand { shape } => {
            need(inputs, 1, 1)?;
            vec![keep_q(
                inputs[0],
                broadcast_shapes(&inputs[0].shape, shape)?,
            )]
        }
        Op::Softmax { axis, .. } | Op::LogSoftmax { axis }
            if *axis >= inputs.first().map_or(0, |x| x.shape.len()) =>
        {
            bail!("softmax axis {axis} out of range")
        }
        Op::Activation { .. } | Op::Softmax { .. } | Op::LogSoftmax { .. } => {
            need(inputs, 1, 1)?;
            vec![same(inputs[0])]
        }
        Op::BatchNorm { axis, .. } => {
            need(inputs, 5, 5)?;
            let c = *inputs[0]
                .shape
                .get(*axis)
                .ok_or_else(|| crate::Error::new("batch_norm axis out of range"))?;
            for p in &inputs[1..] {
                if p.num_elements() != c {
                    bail!(
                        "batch_norm parameter has shape {:?}, expected {c} elements",
                        p.shape
                    );
                }
            }
            vec![same(inputs[0])]
        }
        Op::Pool { pool, .. } => {
            need(inputs, 1, 1)?;
            let x = inputs[0];
            let shape = pool.output_shape(&x.shape)?;
            match pool.kind {
                super::op::PoolKind::Max => vec![keep_q(x, shape)],
                super::op::PoolKind::Avg => vec![TensorType::new(x.dtype, shape)],
            }
        }
        Op::Reduce {
            axes, keep_dims, ..
        } => {
            need(inputs, 1, 1)?;
            let x = inputs[0];
            if let Some(a) = axes.iter().find(|&&a| a >= x.shape.len()) {
                bail!("reduce axis {a} out of range for shape {:?}", x.shape);
            }
            let mut shape = vec![];
            for (i, &d) in x.shape.iter().enumerate() {
                if axes.contains(&i) {
                    if *keep_dims {
                        shape.push(1);
                    }
                } else {
                    shape.push(d);
                }
            }
            if let Some(a) = axes.iter().find(|&&a| a >= x.shape.len()) {
                bail!("reduce axis {a} out of range for shape {:?}", x.shape);
            }
            vec![TensorType::new(x.dtype, shape)]
        }
        Op::Reshape { shape } => {
            need(inputs, 1, 1)?;
            let x = inputs[0];
            if shape.iter().product::<usize>() != x.num_elements() {
                bail!("cannot reshape {:?} to {shape:?}", x.shape);
            }
            vec![keep_q(x, shape.clone())]
        }
        Op::Transpose { perm } => {
            need(inputs, 1, 1)?;
            let x = inputs[0];
            let mut sorted = perm.clone();
            sorted.sort_unstable();
            if sorted != (0..x.shape.len()).collect::<Vec<_>>() {
                bail!(
                    "transpose perm {perm:?} does not fit rank {}",
                    x.shape.len()
                );
            }
            vec![keep_q(x, perm.iter().map(|&p| x.shape[p]).collect())]
        }
        Op::Concat { axis } => {
            if inputs.is_empty() {
                bail!("concat needs inputs");
            }
            let first = inputs[0];
            if *axis >= first.shape.len() {
                bail!(
                    "concat axis {axis} out of range for shape {:?}",
                    first.shape
                );
            }
            let mut shape = first.shape.clone();
            shape[*axis] = 0;
            for t in inputs {
                if t.shape.len() != first.shape.len()
                    || t.shape
                        .iter()
                        .enumerate()
                        .any(|(i, &d)| i != *axis && d != first.shape[i])
                {
                    bail!(
                        "concat inputs {:?} and {:?} differ off axis {axis}",
                        first.shape,
                        t.shape
                    );
                }
                shape[*axis] += t.shape[*axis];
            }
            vec![TensorType::new(first.dtype, shape)]
        }
        Op::Split { axis, sizes } => {
            need(inputs, 1, 1)?;
            let x = inputs[0];
            if *axis >= x.shape.len() || sizes.iter().sum::<usize>() != x.shape[*axis] {
                bail!(
                    "split sizes {sizes:?} on axis {axis} do not fit shape {:?}",
                    x.shape
                );
            }
            sizes
                .iter()
                .map(|&s| {
                    let mut shape = x.shape.clone();
                    shape[*axis] = s;
                    keep_q(x, shape)
                })
                .collect()
        }
        Op::Slice {
            starts,
            ends,
            steps,
        } => {
            need(inputs, 1, 1)?;
            let x = inputs[0];
            let r = x.shape.len();
            if starts.len() != r || ends.len() != r || steps.len() != r {
                bail!("slice needs one start/end/step per axis of {:?}", x.shape);
            }
            if steps.contains(&0) {
                bail!("slice step must not be 0");
            }
            let shape = (0..r)
                .map(|i| slice_range(x.shape[i], starts[i], ends[i], steps[i]).1)
                .collect();
            vec![keep_q(x, shape)]
        }
        Op::Pad { pads, .. } => {
            need(inputs, 1, 1)?;
            let x = inputs[0];
            if pads.len() != x.shape.len() {
                bail!("pad needs one (before, after) per axis of {:?}", x.shape);
            }
            vec![keep_q(
                x,
                x.shape
                    .iter()
                    .zip(pads)
                    .map(|(&d, &(b, a))| add(d, b).and_then(|s| add(s, a)))
                    .collect::<Result<_>>()?,
            )]
        }
        Op::Gather { axis } => {
            need(inputs, 2, 2)?;
            let (d, i) = (inputs[0], inputs[1]);
            if *axis >= d.shape.len() {
                bail!("gather axis {axis} out of range for shape {:?}", d.shape);
            }
            let mut shape = d.shape[..*axis].to_vec();
            shape.extend_from_slice(&i.shape);
            shape.extend_from_slice(&d.shape[axis + 1..]);
            vec![keep_q(d, shape)]
        }
        Op::GatherNd { batch_dims } => {
            need(inputs, 2, 2)?;
            vec![keep_q(
                inputs[0],
                gather_nd_shape(&inputs[0].shape, &inputs[1].shape, *batch_dims)?,
            )]
        }
        Op::ArgReduce {
            axis,
            keep_dims,
            index_dtype,
            ..
        } => {
            need(inputs, 1, 1)?;
            let x = &inputs[0].shape;
            if *axis >= x.len() || x[*axis] == 0 {
                bail!("arg_reduce axis {axis} is out of range or empty in shape {x:?}");
            }
            if !matches!(index_dtype, DType::I32 | DType::I64) {
                bail!("arg_reduce writes i32 or i64 indices, not {index_dtype}");
            }
            let mut shape = x.clone();
            if *keep_dims {
                shape[*axis] = 1;
            } else {
                shape.remove(*axis);
            }
            vec![TensorType::new(*index_dtype, shape)]
        }
        Op::DeformConv {
            conv,
            offset_groups,
        } => {
            need(inputs, 4, 5)?;
            let (x, w) = (&inputs[0].shape, &inputs[1].shape);
            let [oh, ow] = conv.deform_output(*offset_groups, x, w)?;
            vec![TensorType::new(inputs[0].dtype, vec![x[0], w[0], oh, ow])]
        }
        Op::RoiAlign(a) => {
            need(inputs, 3, 3)?;
            let (x, rois) = (&inputs[0].shape, &inputs[1].shape);
            if x.len() != 4 || rois.len() != 2 || rois[1] != 4 {
                bail!("roi_align needs data [N, C, H, W] and rois [R, 4], got {x:?} and {rois:?}");
            }
            let [oh, ow] = a.output_size;
            vec![TensorType::new(
                inputs[0].dtype,
                vec![rois[0], x[1], oh, ow],
            )]
        }
        Op::Det => {
            need(inputs, 1, 1)?;
            let s = &inputs[0].shape;
            match s[..] {
                [ref batch @ .., m, n] if m == n => {
                    vec![TensorType::new(inputs[0].dtype, batch.to_vec())]
                }
                _ => bail!("det needs square matrices in the last two axes, got {s:?}"),
            }
        }
        Op::GridSample { .. } => {
            need(inputs, 2, 2)?;
            let (x, grid) = (&inputs[0].shape, &inputs[1].shape);
            let r = x.len().saturating_sub(2);
            if r == 0 || grid.len() != x.len() || grid[0] != x[0] || grid[r + 1] != r {
                bail!("grid_sample of {x:?} needs a grid [N, O1..O{r}, {r}], got {grid:?}");
            }
            let mut shape = x[..2].to_vec();
            shape.extend_from_slice(&grid[1..=r]);
            vec![TensorType::new(inputs[0].dtype, shape)]
        }
        Op::Cumulative { axis, .. } => {
            need(inputs, 1, 1)?;
            if *axis >= inputs[0].shape.len() {
                bail!(
                    "cumulative axis {axis} out of range for shape {:?}",
                    inputs[0].shape
                );
            }
            vec![same(inputs[0])]
        }
        Op::Resize {
            sizes,
            mode,
            scales,
            filter,
            coord,
            ..
        } => {
            need(inputs, 1, 1)?;
            let x = inputs[0];
            if sizes.len() != x.shape.len() {
                bail!("resize sizes {sizes:?} do not match rank of {:?}", x.shape);
            }
            match &filter.roi {
                Some(roi) if roi.len() != sizes.len() => {
                    bail!("resize roi {roi:?} needs one box per axis of {:?}", x.shape)
                }
                None if *coord == super::op::CoordTransform::TfCropAndResize => {
                    bail!("tf_crop_and_resize needs a roi")
                }
                _ => {}
            }
            if let Some(s) = scales
                .as_ref()
                .filter(|s| s.len() != sizes.len() || s.iter().any(|&v| v <= 0.0))
            {
                bail!(
                    "resize scales {s:?} must be positive, one per axis of {:?}",
                    x.shape
                );
            }
            match mode {
                super::op::ResizeMode::Nearest => vec![keep_q(x, sizes.clone())],
                super::op::ResizeMode::Linear | super::op::ResizeMode::Cubic => {
                    vec![TensorType::new(x.dtype, sizes.clone())]
                }
            }
        }
        Op::DepthToSpace { block, layout, .. } => {
            need(inputs, 1, 1)?;
            let x = inputs[0];
            rank(x, 4, "depth_to_space input")?;
            let ca = layout.channel_axis();
            let [ha, wa] = layout.spatial_axes();
            let b2 = block * block;
            if *block == 0 || !x.shape[ca].is_multiple_of(b2) {
                bail!(
                    "depth_to_space: {} channels not divisible by {b2}",
                    x.shape[ca]
                );
            }
            let mut shape = x.shape.clone();
            shape[ca] /= b2;
            shape[ha] *= block;
            shape[wa] *= block;
            vec![keep_q(x, shape)]
        }
        Op::Quantize { to, .. } => {
            need(inputs, 1, 1)?;
            vec![TensorType::new(*to, inputs[0].shape.clone())]
        }
        Op::Dequantize => {
            need(inputs, 1, 1)?;
            vec![TensorType::new(DType::F32, inputs[0].shape.clone())]
        }
        Op::Cast { to, .. } => {
            need(inputs, 1, 1)?;
            vec![TensorType::new(*to, inputs[0].shape.clone())]
        }
        Op::BitCast { to } => {
            need(inputs, 1, 1)?;
            let from = inputs[0].dtype;
            if from.size_bytes() != to.size_bytes()
                || from.is_sub_byte_int()
                || to.is_sub_byte_int()
            {
                bail!("cannot reinterpret {from} as {to}: the element sizes differ");
            }
            vec![TensorType::new(*to, inputs[0].shape.clone())]
        }
        Op::Identity => {
            need(inputs, 1, 1)?;
            vec![inputs[0].clone()]
        }
        Op::ActivationGrad { .. } => {
            need(inputs, 2, 2)?;
            f32_like(inputs[0], inputs[1], "activation gradient")?
        }
        Op::ConvGradInput(c) | Op::ConvGradWeights(c) => {
            need(inputs, 3, 3)?;
            if c.activation.is_some() {
                bail!("convolution gradients need the activation split off");
            }
            let forward = infer_types(&Op::Conv(c.clone()), &inputs[..2])?;
            if forward[0].shape != inputs[2].shape {
                bail!(
                    "output gradient {:?} does not match the convolution output {:?}",
                    inputs[2].shape,
                    forward[0].shape
                );
            }
            let of = if matches!(op, Op::ConvGradInput(_)) {
                inputs[0]
            } else {
                inputs[1]
            };
            vec![TensorType::new(DType::F32, of.shape.clone())]
        }
        Op::PoolGrad(pool) => {
            need(inputs, 2, 2)?;
            let pooled = pool.output_shape(&inputs[0].shape)?;
            if pooled != inputs[1].shape {
                bail!(
                    "output gradient {:?} does not match the pooled shape {:?}",
                    inputs[1].shape,
                    pooled
                );
            }
            vec![TensorType::new(DType::F32, inputs[0].shape.clone())]
        }
        Op::SoftmaxCrossEntropy | Op::SoftmaxCrossEntropyGrad => {
            need(inputs, 2, 2)?;
            let (logits, labels) = (inputs[0], inputs[1]);
            rank(logits, 2, "logits")?;
            if labels.shape != logits.shape[..1] || labels.dtype.int_range().is_none() {
                bail!(
                    "labels must be integers of shape [{}], got {labels}",
                    logits.shape[0]
                );
            }
            let shape = match op {
                Op::SoftmaxCrossEntropy => vec![],
                _ => logits.shape.clone(),
            };
            vec![TensorType::new(DType::F32, shape)]
        }
        Op::Recurrent(a) => a.infer(inputs)?,
        Op::Svdf { rank: r, .. } => {
            need(inputs, 4, 5)?;
            let (x, wf, wt, state) = (inputs[0], inputs[1], inputs[2], inputs[3]);
            for (t, what) in [
                (x, "svdf input"),
                (wf, "svdf feature weights"),
                (wt, "svdf time weights"),
                (state, "svdf state"),
            ] {
                rank(t, 2, what)?;
            }
            let (batch, filters, memory) = (x.shape[0], wf.shape[0], wt.shape[1]);
            if *r == 0 || filters % r != 0 {
                bail!("svdf rank {r} does not divide {filters} filters");
            }
            if wf.shape[1] != x.shape[1]
                || wt.shape[0] != filters
                || state.shape != [batch, filters * memory]
                || memory == 0
            {
                bail!(
                    "svdf shapes do not agree: input {:?}, feature weights {:?}, time weights {:?}, state {:?}",
                    x.shape,
                    wf.shape,
                    wt.shape,
                    state.shape
                );
            }
            if let Some(b) = inputs.get(4) {
                if b.shape != [filters / r] {
                    bail!("svdf bias must be [{}], got {:?}", filters / r, b.shape);
                }
            }
            vec![
                TensorType::new(x.dtype, vec![batch, filters / r]),
                same(state),
            ]
        }
        Op::Fp8FakeQuant { .. } => {
            need(inputs, 2, 2)?;
            if inputs[0].dtype != DType::F32 || inputs[1].dtype != DType::F32 {
                bail!("FP8 fake quantization takes f32 values and an f32 scale");
            }
            if inputs[1].shape.iter().product::<usize>() != 1 {
                bail!("the scale must be one value, got {:?}", inputs[1].shape);
            }
            vec![
                TensorType::new(DType::F32, inputs[0].shape.clone()),
                TensorType::new(DType::F32, vec![]),
            ]
        }
    })
}

/// The output shape of a GatherND: the shared batch axes, the index tuples' axes, then the
/// data axes the tuples do not index.
pub fn gather_nd_shape(data: &[usize], indices: &[usize], batch_dims: usize) -> Result<Vec<usize>> {
    let Some((&depth, outer)) = indices.split_last() else {
        bail!("gather_nd indices must have rank 1 or more");
    };
    if batch_dims >= indices.len() || batch_dims > data.len() {
        bail!("gather_nd batch_dims {batch_dims} must be below the indices' rank {} and at most the data's rank {}", indices.len(), data.len());
    }
    if data[..batch_dims] != indices[..batch_dims] {
        bail!(
            "gather_nd batch axes differ: data {data:?}, indices {indices:?} (batch_dims {batch_dims})"
        );
    }
    if depth == 0 || batch_dims + depth > data.len() {
        bail!("gather_nd index tuples of length {depth} do not fit data {data:?} after {batch_dims} batch axes");
    }
    let mut shape = outer.to_vec();
    shape.extend_from_slice(&data[batch_dims + depth..]);
    Ok(shape)
}

/// The f32 type of `x` after checking that `dy` has the same shape.
fn f32_like(x: &TensorType, dy: &TensorType, what: &str) -> Result<Vec<TensorType>> {
    if x.shape != dy.shape {
        bail!("{what}: {:?} and {:?} differ", x.shape, dy.shape);
    }
    Ok(vec![TensorType::new(DType::F32, x.shape.clone())])
}
