//! Operand access and helpers shared by the float kernels.

use crate::interp::Operand;
use crate::ir::{Activation, ConvAttrs, Layout, Tensor, TensorType};
use crate::kernels::{nchw_to_nhwc, nhwc_to_nchw};
use crate::{bail, Result};
use ndarray::{Array4, ArrayD, Ix4, IxDyn};
use rayon::prelude::*;

/// Matches `$t` against the listed [`Tensor`] variants, binding the array to `$a` and the
/// variant's constructor (and pattern) to `$V` inside `$body`; other variants give `$else`.
macro_rules! with_variant {
    ($t:expr, $V:ident($a:ident), [$($Var:ident),*], $body:block, $else:expr) => {
        match $t {
            $(
                $crate::ir::Tensor::$Var($a) => {
                    #[allow(unused_imports)]
                    use $crate::ir::Tensor::$Var as $V;
                    $body
                }
            )*
            #[allow(unreachable_patterns)]
            _ => $else,
        }
    };
}

/// [`with_variant!`] over every variant.
macro_rules! any_variant {
    ($t:expr, $V:ident($a:ident) => $body:block) => {
        $crate::interp::float::util::with_variant!(
            $t,
            $V($a),
            [F32, I8, U8, I16, I32, I64, Bool, F8E4M3, F8E5M2, F16, Bf16, F64, U16, U32, U64],
            $body,
            unreachable!("every variant is listed")
        )
    };
}

/// [`with_variant!`] over the numeric variants (f32 and the integers); others fail with
/// an error naming `$what`.
macro_rules! num_variant {
    ($t:expr, $what:expr, $V:ident($a:ident) => $body:block) => {
        $crate::interp::float::util::with_variant!(
            $t,
            $V($a),
            [F32, I8, U8, I16, I32, I64, U16, U32, U64],
            $body,
            $crate::bail!("{} does not support {} data", $what, $t.dtype())
        )
    };
}

pub(super) use {any_variant, num_variant, with_variant};

/// Checks the number of operands.
pub(super) fn arity(inputs: &[Operand<'_>], min: usize, max: usize) -> Result<()> {
    if inputs.len() < min || inputs.len() > max {
        if min == max {
            bail!("expected {min} inputs, got {}", inputs.len());
        }
        bail!("expected {min} to {max} inputs, got {}", inputs.len());
    }
    Ok(())
}

/// The data of operand `i`.
pub(super) fn input<'a>(inputs: &[Operand<'a>], i: usize) -> Result<&'a Tensor> {
    match inputs.get(i) {
        Some(o) => Ok(o.data),
        None => bail!("missing input {i} (got {})", inputs.len()),
    }
}

/// The f32 data of operand `i`; `what` names it in errors.
pub(super) fn f32_input<'a>(
    inputs: &[Operand<'a>],
    i: usize,
    what: &str,
) -> Result<&'a ArrayD<f32>> {
    let t = input(inputs, i)?;
    match t.as_f32() {
        Some(a) => Ok(a),
        None => bail!("{what} must be f32, got {}", t.dtype()),
    }
}

/// The only declared output type.
pub(super) fn single_output(outputs: &[TensorType]) -> Result<&TensorType> {
    match outputs {
        [t] => Ok(t),
        _ => bail!("expected one output type, got {}", outputs.len()),
    }
}

/// Applies an optional fused activation in place.
pub(super) fn activate(a: &mut ArrayD<f32>, act: Option<Activation>) {
    if let Some(act) = act {
        match a.as_slice_mut() {
            Some(s) => activate_slice(act, s),
            None => a.mapv_inplace(|x| act.apply(x)),
        }
    }
}

/// `act` applied to every value, with the variant chosen once (so that the common
/// piecewise-linear activations vectorize).
pub(super) fn activate_slice(act: Activation, v: &mut [f32]) {
    fn each(v: &mut [f32], f: impl Fn(f32) -> f32) {
        v.iter_mut().for_each(|x| *x = f(*x));
    }
    match act {
        Activation::Relu => each(v, |x| Activation::Relu.apply(x)),
        Activation::Relu6 => each(v, |x| Activation::Relu6.apply(x)),
        Activation::Clip { min, max } => each(v, |x| Activation::Clip { min, max }.apply(x)),
        _ => each(v, |x| act.apply(x)),
    }
}

/// A 4-D activation in NHWC order, standard layout (copied from NCHW when needed).
pub(super) fn to_nhwc<T: Copy + Default>(
    x: &ArrayD<T>,
    layout: Layout,
    what: &str,
) -> Result<Array4<T>> {
    let Ok(x4) = x.view().into_dimensionality::<Ix4>() else {
        bail!("{what} must have rank 4, got shape {:?}", x.shape());
    };
    let (n, c, h, w) = x4.dim();
    Ok(match (layout, x4.as_slice()) {
        (Layout::Nchw, Some(s)) => Array4::from_shape_vec((n, h, w, c), nchw_to_nhwc(s, x.shape()))
            .expect("same element count"),
        (Layout::Nchw, None) => x4
            .permuted_axes([0, 2, 3, 1])
            .as_standard_layout()
            .into_owned(),
        (Layout::Nhwc, _) => x4.as_standard_layout().into_owned(),
    })
}

/// Converts an NHWC result back to `layout`.
pub(super) fn from_nhwc<T: Copy + Default>(x: Array4<T>, layout: Layout) -> ArrayD<T> {
    let (n, h, w, c) = x.dim();
    match (layout, x.as_slice()) {
        (Layout::Nhwc, _) => x.into_dyn(),
        (Layout::Nchw, Some(s)) => {
            ArrayD::from_shape_vec(IxDyn(&[n, c, h, w]), nhwc_to_nchw(s, &[n, c, h, w]))
                .expect("same element count")
        }
        (Layout::Nchw, None) => x
            .permuted_axes([0, 3, 1, 2])
            .as_standard_layout()
            .into_owned()
            .into_dyn(),
    }
}

/// Finishes a convolution's NHWC result `out`: adds the optional bias input 2 (`what`
/// names it in errors) per channel, returns to `c`'s layout and applies the fused
/// activation.
pub(super) fn finish_conv(
    mut out: Array4<f32>,
    c: &ConvAttrs,
    inputs: &[Operand<'_>],
    what: &str,
) -> Result<Tensor> {
    let channels = out.shape()[3];
    let bias = conv_bias(inputs, channels, what)?;
    let v = out.as_slice_mut().expect("kernels write standard layout");
    bias_activate(v, [channels, 1], bias.as_deref(), c.activation);
    Ok(Tensor::F32(from_nhwc(out, c.layout)))
}

/// The optional bias (input 2) of a convolution with `channels` output channels.
pub(super) fn conv_bias(
    inputs: &[Operand<'_>],
    channels: usize,
    what: &str,
) -> Result<Option<Vec<f32>>> {
    if inputs.get(2).is_none() {
        return Ok(None);
    }
    let bias = f32_input(inputs, 2, what)?;
    if bias.len() != channels {
        bail!("bias has {} elements, expected {channels}", bias.len());
    }
    Ok(Some(bias.iter().copied().collect()))
}

/// Values a task of [`bias_activate`] handles at least.
const BIAS_TASK_VALUES: usize = 1 << 14;

/// Adds `bias[c]` to every value of channel `c`, then applies `act`, in one parallel pass
/// over `v`, which holds whole images of `channels` channels of `plane` values each:
/// channel-last data has `plane == 1`, channel-first data its spatial size.
pub(super) fn bias_activate(
    v: &mut [f32],
    [channels, plane]: [usize; 2],
    bias: Option<&[f32]>,
    act: Option<Activation>,
) {
    if bias.is_none() && act.is_none() {
        return;
    }
    // Tasks start at a pixel (channel-last) or a channel plane (channel-first).
    let unit = if plane == 1 { channels } else { plane }.max(1);
    let chunk = unit * BIAS_TASK_VALUES.div_ceil(unit);
    v.par_chunks_mut(chunk).enumerate().for_each(|(t, part)| {
        match bias {
            Some(b) if plane == 1 => part.chunks_exact_mut(unit).for_each(|px| {
                px.iter_mut().zip(b).for_each(|(x, &bv)| *x += bv);
            }),
            Some(b) => part
                .chunks_exact_mut(unit)
                .enumerate()
                .for_each(|(i, run)| {
                    let bv = b[(t * chunk / unit + i) % channels];
                    run.iter_mut().for_each(|x| *x += bv);
                }),
            None => {}
        }
        if let Some(act) = act {
            activate_slice(act, part);
        }
    });
}

/// `out` with the fused activation `act` applied (which needs f32 data).
pub(super) fn apply_fused_activation(out: Tensor, act: Option<Activation>) -> Result<Tensor> {
    match (out, act) {
        (out, None) => Ok(out),
        (Tensor::F32(mut o), act) => {
            activate(&mut o, act);
            Ok(Tensor::F32(o))
        }
        (out, Some(_)) => bail!("a fused activation needs f32 data, got {}", out.dtype()),
    }
}

/// The array in standard (row-major) layout, copied only when it is not.
pub(super) fn standard<T: Clone>(a: ArrayD<T>) -> ArrayD<T> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}

/// Checks that `axis` is an axis of `shape`.
pub(super) fn check_axis(axis: usize, shape: &[usize], what: &str) -> Result<()> {
    if axis >= shape.len() {
        bail!("{what} axis {axis} is out of range for shape {shape:?}");
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use crate::interp::Operand;
    use crate::ir::Tensor;
    use ndarray::{ArrayD, IxDyn};

    /// An f32 tensor from a shape and row-major values.
    pub fn f32t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).expect("shape fits values"))
    }

    /// An operand whose static type is the tensor's own (leaked: tests only).
    pub fn op(t: &Tensor) -> Operand<'_> {
        Operand {
            data: t,
            ty: Box::leak(Box::new(t.tensor_type())),
        }
    }

    /// A deterministic pseudo-random f32 tensor in [-1, 1).
    pub fn rand(shape: &[usize], seed: u64) -> ArrayD<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ArrayD::from_shape_simple_fn(IxDyn(shape), || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
    }

    /// Asserts two f32 arrays have equal shapes and values within `tol`.
    pub fn assert_close(a: &ArrayD<f32>, b: &ArrayD<f32>, tol: f32) {
        assert_eq!(a.shape(), b.shape());
        for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
            assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()),
                "element {i}: {x} vs {y}"
            );
        }
    }
}
