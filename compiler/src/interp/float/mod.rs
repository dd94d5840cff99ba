//! Float (and plain integer) kernels with ONNX semantics.
//!
//! One module per op family. Ops that only move data work for every dtype (and so also
//! serve quantized tensors, whose parameters they keep); ops that compute on values
//! accept f32 and, where ONNX allows, plain (unquantized) integers.

mod arg_reduce;
mod batch_norm;
mod broadcast;
mod compare;
mod concat;
mod conv;
mod conv_grad;
mod conv_nchw;
mod conv_transpose;
mod convert;
mod cumulative;
mod deform_conv;
mod depth_to_space;
mod depthwise_grad;
mod det;
mod einsum;
mod elementwise;
mod gather;
mod gather_elements;
mod gather_nd;
mod gemm;
mod grad;
mod grid_sample;
mod matmul;
mod num;
mod pad;
mod pool;
mod recurrent;
mod reduce;
mod resize;
mod roi_align;
mod scatter_nd;
mod shape;
mod slice;
mod softmax;
mod svdf;
mod top_k;
mod unary;
pub(super) use unary::float as unary_value;
mod util;
mod widen;

pub(super) use matmul::batched_i32 as batched_matmul_i32;

use super::Operand;
use crate::ir::{ConvAttrs, Op, PoolAttrs, PoolKind, ReduceKind, ResizeMode, Tensor, TensorType};
use crate::{bail, Result};

/// Evaluates `op` on unquantized operands (or quantized operands of data-movement ops).
pub fn eval(op: &Op, inputs: &[Operand<'_>], outputs: &[TensorType]) -> Result<Vec<Tensor>> {
    if !is_dtype_generic(op) && widen::needed(has_f64_kernel(op), inputs, outputs) {
        return widen::eval(inputs, outputs, |ins, outs| eval_kernel(op, ins, outs));
    }
    eval_kernel(op, inputs, outputs)
}

/// Whether the op's kernel computes on f64 values as they are.
fn has_f64_kernel(op: &Op) -> bool {
    match op {
        Op::Binary { activation, .. } => activation.is_none(),
        Op::Compare { .. } | Op::MatMul | Op::Reduce { .. } => true,
        _ => false,
    }
}

/// Whether the op's kernel works on every dtype: it only moves values (or converts them).
fn is_dtype_generic(op: &Op) -> bool {
    match op {
        Op::Reshape { .. }
        | Op::Transpose { .. }
        | Op::Concat { .. }
        | Op::Split { .. }
        | Op::Slice { .. }
        | Op::Pad { .. }
        | Op::Gather { .. }
        | Op::Identity
        | Op::Cast { .. }
        | Op::BitCast { .. }
        | Op::Where
        | Op::Expand { .. }
        | Op::GatherElements { .. }
        | Op::DepthToSpace { .. } => true,
        Op::Resize { mode, .. } => *mode == ResizeMode::Nearest,
        _ => false,
    }
}

/// [`eval`] on the dtypes the kernels take.
fn eval_kernel(op: &Op, inputs: &[Operand<'_>], outputs: &[TensorType]) -> Result<Vec<Tensor>> {
    if moves_values(op) {
        check_same_quant(op, inputs, outputs)?;
    } else if computes_values(op) {
        if let Some(t) = inputs
            .iter()
            .map(|o| o.ty)
            .chain(outputs)
            .find(|t| t.is_quantized())
        {
            bail!(
                "'{}' on quantized tensor {t} needs a quantized kernel",
                op.detailed_name()
            );
        }
    }
    let one = |t: Tensor| Ok(vec![t]);
    match op {
        Op::Input | Op::Const { .. } => bail!("'{}' is a source, not a kernel", op.name()),
        Op::Conv(c) => one(conv::conv(c, inputs)?),
        Op::ConvTranspose { conv, .. } => one(conv_transpose::conv_transpose(
            conv,
            inputs,
            util::single_output(outputs)?,
        )?),
        Op::Gemm(g) => one(gemm::gemm(
            g.alpha,
            g.beta,
            g.trans_a,
            g.trans_b,
            g.activation,
            inputs,
        )?),
        Op::MatMul => one(matmul::matmul(inputs)?),
        Op::Binary { kind, activation } => one(elementwise::binary(*kind, *activation, inputs)?),
        Op::PRelu => one(elementwise::prelu(inputs)?),
        Op::Svdf { rank, activation } => svdf::svdf(*rank, *activation, inputs),
        Op::Recurrent(a) => recurrent::recurrent(a, inputs),
        Op::Activation { act } => one(elementwise::activation(*act, inputs)?),
        Op::Unary { func } => one(unary::unary(*func, inputs)?),
        Op::Compare { kind } => one(compare::compare(*kind, inputs)?),
        Op::Where => one(broadcast::select(inputs)?),
        Op::Expand { shape } => one(broadcast::expand(shape, inputs)?),
        Op::Einsum { equation } => one(einsum::einsum(equation, inputs)?),
        Op::Det => one(det::det(inputs)?),
        Op::DeformConv {
            conv,
            offset_groups,
        } => one(deform_conv::deform_conv(conv, *offset_groups, inputs)?),
        Op::RoiAlign(a) => one(roi_align::roi_align(a, inputs)?),
        Op::ScatterNd { reduction } => one(scatter_nd::scatter_nd(*reduction, inputs)?),
        Op::TopK { axis, k, largest } => top_k::top_k(*axis, *k, *largest, inputs),
        Op::GatherElements { axis } => one(gather_elements::gather_elements(*axis, inputs)?),
        Op::ScatterElements { axis, reduction } => one(gather_elements::scatter_elements(
            *axis, *reduction, inputs,
        )?),
        Op::Softmax { axis, beta } => one(softmax::softmax(*axis, *beta, inputs)?),
        Op::LogSoftmax { axis } => one(softmax::log_softmax(*axis, inputs)?),
        Op::BatchNorm { epsilon, axis } => one(batch_norm::batch_norm(*epsilon, *axis, inputs)?),
        Op::Pool { pool, activation } => one(pool::pool(
            pool.kind,
            &pool_window(pool)?,
            pool.count_include_pad,
            *activation,
            inputs,
        )?),
        Op::Reduce {
            kind,
            axes,
            keep_dims,
        } => one(reduce::reduce(*kind, axes, *keep_dims, inputs)?),
        Op::Reshape { shape } => one(shape::reshape(shape, inputs)?),
        Op::Transpose { perm } => one(shape::transpose(perm, inputs)?),
        Op::Identity => one(util::input(inputs, 0)?.clone()),
        Op::Concat { axis } => one(concat::concat(*axis, inputs)?),
        Op::Split { axis, sizes } => concat::split(*axis, sizes, inputs),
        Op::Slice {
            starts,
            ends,
            steps,
        } => one(slice::slice(starts, ends, steps, inputs)?),
        Op::Pad { pads, mode, value } => one(pad::pad(pads, *mode, *value, inputs)?),
        Op::Gather { axis } => one(gather::gather(*axis, inputs)?),
        Op::GatherNd { batch_dims } => one(gather_nd::gather_nd(*batch_dims, inputs)?),
        Op::ArgReduce {
            kind,
            axis,
            keep_dims,
            select_last_index,
            index_dtype,
        } => one(arg_reduce::arg_reduce(
            *kind,
            *axis,
            *keep_dims,
            *select_last_index,
            *index_dtype,
            inputs,
        )?),
        Op::Cumulative {
            kind,
            axis,
            exclusive,
            reverse,
        } => one(cumulative::cumulative(
            *kind, *axis, *exclusive, *reverse, inputs,
        )?),
        Op::Resize { .. } => one(resize::resize(
            &op.resize_spec().expect("matched a Resize"),
            inputs,
        )?),
        Op::GridSample {
            mode,
            padding,
            align_corners,
        } => one(grid_sample::grid_sample(
            *mode,
            *padding,
            *align_corners,
            inputs,
        )?),
        Op::DepthToSpace {
            block,
            layout,
            mode,
        } => one(depth_to_space::depth_to_space(
            *block, *layout, *mode, inputs,
        )?),
        Op::Quantize { to, saturate, .. } => one(convert::quantize(
            *to,
            saturation(*saturate),
            inputs,
            util::single_output(outputs)?,
        )?),
        Op::Dequantize => one(convert::dequantize(inputs)?),
        Op::BitCast { to } => one(convert::bit_cast(*to, inputs)?),
        Op::Cast {
            to,
            saturate,
            rounding,
        } => one(convert::cast(
            *to,
            saturation(*saturate),
            *rounding,
            inputs,
        )?),
        Op::ActivationGrad { act } => one(grad::activation_grad(*act, inputs)?),
        Op::ConvGradInput(c) => one(conv_gradient(c, true, inputs)?),
        Op::ConvGradWeights(c) => one(conv_gradient(c, false, inputs)?),
        Op::PoolGrad(pool) => {
            util::arity(inputs, 2, 2)?;
            let x = util::f32_input(inputs, 0, "pool input")?;
            let dy = util::f32_input(inputs, 1, "output gradient")?;
            one(Tensor::F32(pool::pool_grad(
                pool.kind,
                &pool_window(pool)?,
                pool.count_include_pad,
                x,
                dy,
            )?))
        }
        Op::SoftmaxCrossEntropy => one(grad::softmax_cross_entropy(inputs)?),
        Op::SoftmaxCrossEntropyGrad => one(grad::softmax_cross_entropy_grad(inputs)?),
        Op::Fp8FakeQuant { format } => convert::fp8_fake_quant(*format, inputs),
    }
}

/// The window of a pooling op.
fn pool_window(pool: &PoolAttrs) -> Result<pool::Window> {
    Ok(pool::Window {
        layout: pool.layout,
        axes: pool.windows()?,
        ceil_mode: pool.ceil_mode,
    })
}

/// The FP8 overflow rule of a `saturate` attribute.
fn saturation(saturate: bool) -> crate::fp8::Saturation {
    if saturate {
        crate::fp8::Saturation::Saturate
    } else {
        crate::fp8::Saturation::NonSaturating
    }
}

/// Whether the op only moves or selects values (so quantized integers pass through as
/// they are; an arg_reduce compares them and writes plain indices).
fn moves_values(op: &Op) -> bool {
    !computes_values(op)
        && !matches!(
            op,
            Op::Quantize { .. } | Op::Dequantize | Op::Cast { .. } | Op::BitCast { .. }
        )
}

/// Data-movement ops keep stored integers, so the per-tensor quantization parameters of
/// their data operands and results must agree (a difference needs a requantization).
fn check_same_quant(op: &Op, inputs: &[Operand<'_>], outputs: &[TensorType]) -> Result<()> {
    let data = match op {
        Op::Concat { .. } => inputs,
        Op::Where => &inputs[1..],
        _ => &inputs[..inputs.len().min(1)],
    };
    let params: Vec<(f32, i64)> = data
        .iter()
        .map(|o| o.ty)
        .chain(outputs)
        .filter(|t| t.is_quantized())
        .filter_map(|t| t.quant.as_ref())
        .filter(|q| q.axis.is_none())
        .map(|q| q.at(0))
        .collect();
    if params.windows(2).any(|w| w[0] != w[1]) {
        bail!(
            "'{}' moves quantized data between different parameters {params:?}; it needs a quantized kernel",
            op.detailed_name()
        );
    }
    Ok(())
}

/// Whether the op computes on values (so integer data must not be quantized), as opposed
/// to moving them.
fn computes_values(op: &Op) -> bool {
    match op {
        Op::Conv(_)
        | Op::ConvTranspose { .. }
        | Op::Gemm(_)
        | Op::MatMul
        | Op::Binary { .. }
        | Op::PRelu
        | Op::Svdf { .. }
        | Op::Recurrent(_)
        | Op::Activation { .. }
        | Op::Unary { .. }
        | Op::Compare { .. }
        | Op::ScatterElements { .. }
        | Op::ScatterNd { .. }
        | Op::Einsum { .. }
        | Op::GridSample { .. }
        | Op::Det
        | Op::DeformConv { .. }
        | Op::RoiAlign(_)
        | Op::Softmax { .. }
        | Op::LogSoftmax { .. }
        | Op::BatchNorm { .. }
        | Op::Cumulative { .. } => true,
        Op::Pool { pool, activation } => pool.kind == PoolKind::Avg || activation.is_some(),
        Op::Reduce { kind, .. } => {
            matches!(kind, ReduceKind::Mean | ReduceKind::Sum | ReduceKind::Prod)
        }
        Op::Resize { mode, .. } => *mode != ResizeMode::Nearest,
        _ => false,
    }
}

/// A convolution's input (`wrt_input`) or weight gradient: depthwise convolutions on
/// stride phases, the others by im2col and matrix products.
fn conv_gradient(c: &ConvAttrs, wrt_input: bool, inputs: &[Operand<'_>]) -> Result<Tensor> {
    if let Some(g) = depthwise_grad::depthwise_grad(c, wrt_input, inputs)? {
        return Ok(g);
    }
    conv_grad::conv_grad(c, wrt_input, inputs)?
        .ok_or_else(|| crate::Error::new("no gradient kernel for this convolution"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{BinaryKind, DType, QuantParams};
    use ndarray::array;

    fn q_ty(scale: f32, zp: i64) -> TensorType {
        TensorType::new(DType::I8, vec![2]).with_quant(Some(QuantParams::per_tensor(scale, zp)))
    }

    #[test]
    fn quantized_operands_need_matching_parameters_or_a_quantized_kernel() {
        let x = Tensor::I8(array![1i8, 2].into_dyn());
        let (a, b) = (q_ty(0.5, 0), q_ty(0.25, 0));
        let same = [Operand { data: &x, ty: &a }, Operand { data: &x, ty: &a }];
        let mixed = [Operand { data: &x, ty: &a }, Operand { data: &x, ty: &b }];
        let out_ty = TensorType::new(DType::I8, vec![4]).with_quant(a.quant.clone());
        let concat = Op::Concat { axis: 0 };
        let out = eval(&concat, &same, std::slice::from_ref(&out_ty)).unwrap();
        assert_eq!(out, vec![Tensor::I8(array![1i8, 2, 1, 2].into_dyn())]);
        assert!(eval(&concat, &mixed, std::slice::from_ref(&out_ty)).is_err());
        let add = Op::Binary {
            kind: BinaryKind::Add,
            activation: None,
        };
        assert!(eval(&add, &same, std::slice::from_ref(&a)).is_err());
        let plain = TensorType::new(DType::I8, vec![2]);
        let ints = [
            Operand {
                data: &x,
                ty: &plain,
            },
            Operand {
                data: &x,
                ty: &plain,
            },
        ];
        let sum = eval(&add, &ints, std::slice::from_ref(&plain)).unwrap();
        assert_eq!(sum, vec![Tensor::I8(array![2i8, 4].into_dyn())]);
        assert!(eval(&Op::Input, &ints, &[]).is_err());
    }
}
