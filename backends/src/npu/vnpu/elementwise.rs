//! Elementwise kernels with numpy broadcasting: TFLite int8 add/sub and mul, f32
//! arithmetic as the interpreter's, and int8 parametric ReLU; TFLite's requantization of
//! integers and int8 softmax (the interpreter's fixed-point kernels).

use crate::npu::program::{Elementwise, ElementwiseKind, PRelu, Requantize, Softmax, TensorDesc};
use nnopt_compiler::interp::fixedpoint::multiply_by_quantized_multiplier as mbqm;
use nnopt_compiler::interp::{requantize as requantize_code, softmax_reference};
use nnopt_compiler::ir::{BinaryKind, DType};
use nnopt_compiler::kernels::multiply_by_quantized_multiplier_row;
use nnopt_compiler::{Error, Result};

/// For each output element, the flat indices into the two broadcast operands.
fn broadcast_pairs(a: &[usize], b: &[usize], out: &[usize]) -> Result<Vec<(usize, usize)>> {
    let r = out.len();
    if a.len() > r || b.len() > r {
        return Err(Error::new("operand rank exceeds the output rank"));
    }
    let strides = |s: &[usize]| -> Result<Vec<usize>> {
        let mut padded = vec![1; r - s.len()];
        padded.extend_from_slice(s);
        let mut st = vec![0; r];
        let mut acc = 1;
        for i in (0..r).rev() {
            if padded[i] != 1 && padded[i] != out[i] {
                return Err(Error::new(format!("{s:?} does not broadcast to {out:?}")));
            }
            st[i] = if padded[i] == 1 { 0 } else { acc };
            acc *= padded[i];
        }
        Ok(st)
    };
    let (sa, sb) = (strides(a)?, strides(b)?);
    let n: usize = out.iter().product();
    let mut res = Vec::with_capacity(n);
    let mut idx = vec![0usize; r];
    let (mut ia, mut ib) = (0usize, 0usize);
    for _ in 0..n {
        res.push((ia, ib));
        for d in (0..r).rev() {
            idx[d] += 1;
            ia += sa[d];
            ib += sb[d];
            if idx[d] < out[d] {
                break;
            }
            ia -= sa[d] * idx[d];
            ib -= sb[d] * idx[d];
            idx[d] = 0;
        }
    }
    Ok(res)
}

/// Runs an elementwise command on `a` (shape `as_`) and `b` (shape `bs`).
pub fn elementwise(
    c: &Elementwise,
    a: &[i32],
    a_shape: &[usize],
    b: &[i32],
    b_shape: &[usize],
    out_shape: &[usize],
) -> Result<Vec<i32>> {
    if let ElementwiseKind::F32 { .. } = c.kind {
        return Err(Error::at_node(&c.name, "f32 command on integer data"));
    }
    let (za, zb, zo) = (c.a_zero_point, c.b_zero_point, c.output_zero_point);
    if let ElementwiseKind::AddSub {
        subtract,
        left_shift,
        input_a,
        input_b,
        output,
    } = c.kind
    {
        let n: usize = out_shape.iter().product();
        if a_shape == out_shape && b_shape == out_shape && a.len() == n && b.len() == n {
            // Same shapes: whole rows through the vectorized fixed-point steps.
            let scaled = |v: &[i32], z: i32, m: i32, sh: i32| {
                let mut x: Vec<i32> = v
                    .iter()
                    .map(|&q| q.wrapping_sub(z).wrapping_mul(1 << left_shift))
                    .collect();
                multiply_by_quantized_multiplier_row(&mut x, m, sh);
                x
            };
            let y1 = scaled(a, za, input_a.multiplier, input_a.shift);
            let y2 = scaled(b, zb, input_b.multiplier, input_b.shift);
            let mut raw: Vec<i32> = y1
                .iter()
                .zip(&y2)
                .map(|(&p, &q)| {
                    if subtract {
                        p.wrapping_sub(q)
                    } else {
                        p.wrapping_add(q)
                    }
                })
                .collect();
            multiply_by_quantized_multiplier_row(&mut raw, output.multiplier, output.shift);
            raw.iter_mut()
                .for_each(|v| *v = v.wrapping_add(zo).clamp(c.act_min, c.act_max));
            return Ok(raw);
        }
    }
    let pairs = broadcast_pairs(a_shape, b_shape, out_shape).map_err(|e| e.in_node(&c.name))?;
    let f = |(i, j): (usize, usize)| -> i32 {
        let v = match c.kind {
            ElementwiseKind::AddSub {
                subtract,
                left_shift,
                input_a,
                input_b,
                output,
            } => {
                let x1 = a[i].wrapping_sub(za).wrapping_mul(1 << left_shift);
                let x2 = b[j].wrapping_sub(zb).wrapping_mul(1 << left_shift);
                let y1 = mbqm(x1, input_a.multiplier, input_a.shift);
                let y2 = mbqm(x2, input_b.multiplier, input_b.shift);
                let raw = if subtract {
                    y1.wrapping_sub(y2)
                } else {
                    y1.wrapping_add(y2)
                };
                mbqm(raw, output.multiplier, output.shift)
            }
            ElementwiseKind::Mul { output } => {
                let p = a[i].wrapping_sub(za).wrapping_mul(b[j].wrapping_sub(zb));
                mbqm(p, output.multiplier, output.shift)
            }
            // Rejected by the caller.
            ElementwiseKind::F32 { .. } => 0,
        };
        v.wrapping_add(zo).clamp(c.act_min, c.act_max)
    };
    Ok(pairs.into_iter().map(f).collect())
}

/// Runs an f32 elementwise command on `a` (shape `a_shape`) and `b` (shape `b_shape`):
/// the interpreter's f32 operation, then the fused activation.
pub fn elementwise_f32(
    c: &Elementwise,
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    out_shape: &[usize],
) -> Result<Vec<f32>> {
    let ElementwiseKind::F32 { op, activation } = c.kind else {
        return Err(Error::at_node(&c.name, "integer command on f32 data"));
    };
    if !op.is_arithmetic() {
        return Err(Error::at_node(&c.name, format!("no f32 {op:?} command")));
    }
    let pairs = broadcast_pairs(a_shape, b_shape, out_shape).map_err(|e| e.in_node(&c.name))?;
    let nan_or = |x: f32, y: f32, v: f32| {
        if x.is_nan() || y.is_nan() {
            f32::NAN
        } else {
            v
        }
    };
    let f = |x: f32, y: f32| -> f32 {
        match op {
            BinaryKind::Add => x + y,
            BinaryKind::Sub => x - y,
            BinaryKind::Mul => x * y,
            BinaryKind::Div => x / y,
            BinaryKind::Max => nan_or(x, y, x.max(y)),
            BinaryKind::Min => nan_or(x, y, x.min(y)),
            _ => unreachable!("checked above"),
        }
    };
    Ok(pairs
        .into_iter()
        .map(|(i, j)| {
            let v = f(a[i], b[j]);
            activation.map_or(v, |act| act.apply(v))
        })
        .collect())
}

/// Runs TFLite's reference softmax on `x` (shape `xs`) into `out`'s type.
pub fn softmax(c: &Softmax, x: &[i32], xs: &[usize], out: &TensorDesc) -> Result<Vec<i32>> {
    let range = out
        .dtype
        .int_range()
        .filter(|_| out.shape == xs && c.axis < xs.len())
        .ok_or_else(|| Error::at_node(&c.name, "softmax output does not match its input"))?;
    let dims = [
        xs[..c.axis].iter().product(),
        xs[c.axis],
        xs[c.axis + 1..].iter().product(),
    ];
    let range = (range.0 as i32, range.1 as i32);
    Ok(softmax_reference(
        (c.multiplier, c.left_shift),
        x,
        dims,
        range,
    ))
}

/// Runs a parametric ReLU on `x` (shape `x_shape`), the slopes broadcast against it.
pub fn prelu(c: &PRelu, x: &[i32], x_shape: &[usize]) -> Result<Vec<i32>> {
    let pairs =
        broadcast_pairs(x_shape, &c.alpha_shape, x_shape).map_err(|e| e.in_node(&c.name))?;
    if c.alpha.len() != c.alpha_shape.iter().product::<usize>() || x.len() != pairs.len() {
        return Err(Error::at_node(&c.name, "slopes do not match their shape"));
    }
    Ok(pairs
        .into_iter()
        .map(|(i, j)| {
            let d = x[i].wrapping_sub(c.input_zero_point);
            let y = if d >= 0 {
                mbqm(d, c.identity.multiplier, c.identity.shift)
            } else {
                mbqm(
                    d.wrapping_mul(c.alpha[j] as i32),
                    c.negative.multiplier,
                    c.negative.shift,
                )
            };
            y.wrapping_add(c.output_zero_point)
                .clamp(c.act_min, c.act_max)
        })
        .collect())
}

/// Requantizes the integers `x` into `out`'s type.
pub fn requantize(c: &Requantize, x: &[i32], out: &TensorDesc) -> Result<Vec<i32>> {
    let (lo, hi) = out
        .dtype
        .int_range()
        .filter(|_| {
            matches!(out.dtype, DType::I8 | DType::U8 | DType::I16 | DType::I32)
                && out.num_elements() == x.len()
        })
        .ok_or_else(|| Error::at_node(&c.name, "requantize output does not match its input"))?;
    let zero_points = (c.input_zero_point, c.output_zero_point);
    let multiplier = (c.requant.multiplier, c.requant.shift);
    let range = (lo as i32, hi as i32);
    Ok(x.iter()
        .map(|&v| requantize_code(v, zero_points, multiplier, range))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_indices() {
        let p = broadcast_pairs(&[2, 3], &[3], &[2, 3]).unwrap();
        assert_eq!(p, vec![(0, 0), (1, 1), (2, 2), (3, 0), (4, 1), (5, 2)]);
        let p = broadcast_pairs(&[2, 1], &[1, 2], &[2, 2]).unwrap();
        assert_eq!(p, vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
        assert!(broadcast_pairs(&[3], &[2], &[3]).is_err());
    }
}
