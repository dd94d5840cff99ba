//! TFLite's int8 add/sub and mul, and int8 parametric ReLU, with numpy broadcasting.

use crate::command::{Elementwise, ElementwiseKind, PRelu, Requant};
use crate::error::{Error, Result};
use crate::fixedpoint::multiply_by_quantized_multiplier as mbqm;
use crate::schema::{TensorDesc, MAX_RANK};
use crate::tensor::{broadcast_strides, Elems, ElemsMut, Odometer};

fn mul(x: i32, r: Requant) -> i32 {
    mbqm(x, r.multiplier, r.shift)
}

/// The broadcast strides of `a` and `b` against `out`.
pub fn elementwise_plan(
    c: &Elementwise,
    a: &TensorDesc,
    b: &TensorDesc,
    o: &TensorDesc,
) -> Result<[[usize; MAX_RANK]; 2]> {
    let ints = [a, b, o].iter().all(|t| t.dtype.int_range().is_some());
    let params = match c.kind {
        ElementwiseKind::AddSub {
            left_shift,
            input_a,
            input_b,
            output,
            ..
        } => {
            (0..=31).contains(&left_shift) && [input_a, input_b, output].iter().all(Requant::valid)
        }
        ElementwiseKind::Mul { output } => output.valid(),
    };
    let od = o.shape.dims();
    match (
        broadcast_strides(a.shape.dims(), od),
        broadcast_strides(b.shape.dims(), od),
    ) {
        (Some(sa), Some(sb)) if ints && params && c.clamp.min <= c.clamp.max => Ok([sa, sb]),
        _ => Err(Error::malformed(
            "elementwise operands do not broadcast to the output",
        )),
    }
}

/// Runs an elementwise command.
pub fn elementwise(
    c: &Elementwise,
    strides: [[usize; MAX_RANK]; 2],
    dims: &[usize],
    a: Elems<'_>,
    b: Elems<'_>,
    mut o: ElemsMut<'_>,
) {
    let (za, zb) = (c.a_zero_point, c.b_zero_point);
    let n: usize = dims.iter().product();
    let mut it = Odometer::new(dims, strides);
    for i in 0..n {
        let [ia, ib] = it.offsets;
        let v = match c.kind {
            ElementwiseKind::AddSub {
                subtract,
                left_shift,
                input_a,
                input_b,
                output,
            } => {
                let y1 = mul(
                    a.get(ia).wrapping_sub(za).wrapping_mul(1 << left_shift),
                    input_a,
                );
                let y2 = mul(
                    b.get(ib).wrapping_sub(zb).wrapping_mul(1 << left_shift),
                    input_b,
                );
                let raw = if subtract {
                    y1.wrapping_sub(y2)
                } else {
                    y1.wrapping_add(y2)
                };
                mul(raw, output)
            }
            ElementwiseKind::Mul { output } => mul(
                a.get(ia)
                    .wrapping_sub(za)
                    .wrapping_mul(b.get(ib).wrapping_sub(zb)),
                output,
            ),
        };
        o.set(
            i,
            v.wrapping_add(c.output_zero_point)
                .clamp(c.clamp.min, c.clamp.max),
        );
        it.step();
    }
}

/// The broadcast strides of the slopes against the input.
pub fn prelu_plan(c: &PRelu<'_>, x: &TensorDesc, o: &TensorDesc) -> Result<[usize; MAX_RANK]> {
    let ok = x.shape == o.shape
        && x.dtype.int_range().is_some()
        && o.dtype.int_range().is_some()
        && c.alpha_shape.elements() == Some(c.alpha.len())
        && c.identity.valid()
        && c.negative.valid()
        && c.clamp.min <= c.clamp.max;
    match broadcast_strides(c.alpha_shape.dims(), x.shape.dims()) {
        Some(s) if ok => Ok(s),
        _ => Err(Error::malformed("PReLU slopes do not match the input")),
    }
}

/// Runs a parametric ReLU.
pub fn prelu(
    c: &PRelu<'_>,
    strides: [usize; MAX_RANK],
    dims: &[usize],
    x: Elems<'_>,
    mut o: ElemsMut<'_>,
) -> Result<()> {
    let n: usize = dims.iter().product();
    let mut it = Odometer::new(dims, [[0; MAX_RANK], strides]);
    for i in 0..n {
        let d = x.get(i).wrapping_sub(c.input_zero_point);
        let y = if d >= 0 {
            mul(d, c.identity)
        } else {
            mul(
                d.wrapping_mul(c.alpha.i16(it.offsets[1])? as i32),
                c.negative,
            )
        };
        o.set(
            i,
            y.wrapping_add(c.output_zero_point)
                .clamp(c.clamp.min, c.clamp.max),
        );
        it.step();
    }
    Ok(())
}
