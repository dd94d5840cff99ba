//! Padding: constant, reflect (mirror without repeating the edge), edge and wrap
//! (circular), on any dtype.

use super::util::{any_variant, arity, input, standard};
use crate::interp::Operand;
use crate::ir::{PadMode, Tensor, TensorType};
use crate::{bail, Result};
use ndarray::{ArrayD, Axis, IxDyn, Slice};

/// Pads axis `i` with `pads[i] = (before, after)` elements; `value` fills constant padding
/// (converted to the data type).
pub(super) fn pad(
    pads: &[(usize, usize)],
    mode: PadMode,
    value: f32,
    inputs: &[Operand<'_>],
) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    if pads.len() != x.shape().len() {
        bail!("pad needs one (before, after) per axis of {:?}", x.shape());
    }
    match mode {
        PadMode::Constant => constant(x, pads, stored_value(value, inputs[0].ty)?),
        PadMode::Reflect | PadMode::Edge | PadMode::Wrap => {
            let mut maps = Vec::with_capacity(pads.len());
            for (&d, &(b, a)) in x.shape().iter().zip(pads) {
                if d == 0 && b + a > 0 {
                    bail!("cannot {mode:?}-pad an empty axis");
                }
                maps.push(
                    (0..d + b + a)
                        .map(|i| source_index(i as i64 - b as i64, d, mode))
                        .collect::<Vec<_>>(),
                );
            }
            Ok(any_variant!(x, V(a) => {
                let mut out = a.clone();
                for (axis, map) in maps.iter().enumerate() {
                    out = out.select(Axis(axis), map);
                }
                V(standard(out))
            }))
        }
    }
}

/// The padding constant as stored: quantized data stores `round(value / scale) + zero
/// point`, saturated.
fn stored_value(value: f32, ty: &TensorType) -> Result<f32> {
    let Some(q) = ty.quant.as_ref().filter(|_| ty.is_quantized()) else {
        return Ok(value);
    };
    let (lo, hi) = ty.dtype.int_range().unwrap_or((i64::MIN, i64::MAX));
    match q.axis {
        None => {
            let (s, zp) = q.at(0);
            Ok(((value / s).round_ties_even() as i64)
                .saturating_add(zp)
                .clamp(lo, hi) as f32)
        }
        Some(_) if value == 0.0 && q.zero_point.iter().all(|&z| z == 0) => Ok(0.0),
        Some(_) => bail!("constant padding of per-axis quantized data {ty} is not supported"),
    }
}

/// The input index that output position `i` (relative to the input start) copies.
fn source_index(i: i64, d: usize, mode: PadMode) -> usize {
    let last = d as i64 - 1;
    if mode == PadMode::Wrap {
        return i.rem_euclid(d as i64) as usize;
    }
    if mode == PadMode::Edge || last == 0 {
        return i.clamp(0, last) as usize;
    }
    let period = 2 * last;
    let m = i.rem_euclid(period);
    (if m > last { period - m } else { m }) as usize
}

fn constant(x: &Tensor, pads: &[(usize, usize)], value: f32) -> Result<Tensor> {
    let shape: Vec<usize> = x
        .shape()
        .iter()
        .zip(pads)
        .map(|(d, (b, a))| d + b + a)
        .collect();
    let fill = match Tensor::from_f64s(x.dtype(), &[], &[value as f64]) {
        Some(t) => t,
        None if value == 0.0 => Tensor::zeros(x.dtype(), &[]),
        None => bail!(
            "constant padding with {value} is not supported for {} data",
            x.dtype()
        ),
    };
    Ok(any_variant!(x, V(a) => {
        let V(f) = &fill else { unreachable!("fill has the data's dtype") };
        let mut out = ArrayD::from_elem(IxDyn(&shape), f.iter().next().cloned().unwrap_or_default());
        let mut inner = out.view_mut();
        for (axis, (&(b, _), &d)) in pads.iter().zip(a.shape()).enumerate() {
            inner.slice_axis_inplace(Axis(axis), Slice::from(b..b + d));
        }
        inner.assign(a);
        V(out)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    #[test]
    fn modes_on_one_axis() {
        let x = f32t(&[3], &[1.0, 2.0, 3.0]);
        let run = |mode, b, a| pad(&[(b, a)], mode, 9.0, &[op(&x)]).unwrap().to_f64_vec();
        assert_eq!(
            run(PadMode::Constant, 1, 2),
            vec![9.0, 1.0, 2.0, 3.0, 9.0, 9.0]
        );
        assert_eq!(run(PadMode::Edge, 2, 1), vec![1.0, 1.0, 1.0, 2.0, 3.0, 3.0]);
        assert_eq!(
            run(PadMode::Reflect, 2, 2),
            vec![3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]
        );
        // Pads wider than the axis keep mirroring, like numpy.
        assert_eq!(
            run(PadMode::Reflect, 4, 0),
            vec![1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0]
        );
        assert_eq!(
            run(PadMode::Wrap, 4, 2),
            vec![3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0]
        );
    }

    #[test]
    fn two_axes_and_integer_data() {
        let x = Tensor::I32(array![[1, 2], [3, 4]].into_dyn());
        let out = pad(&[(1, 0), (0, 1)], PadMode::Constant, -1.0, &[op(&x)]).unwrap();
        assert_eq!(
            out,
            Tensor::I32(array![[-1, -1, -1], [1, 2, -1], [3, 4, -1]].into_dyn())
        );
        let out = pad(&[(0, 1), (1, 0)], PadMode::Edge, 0.0, &[op(&x)]).unwrap();
        assert_eq!(
            out,
            Tensor::I32(array![[1, 1, 2], [3, 3, 4], [3, 3, 4]].into_dyn())
        );
        assert!(pad(&[(1, 1)], PadMode::Edge, 0.0, &[op(&x)]).is_err());
        let empty = f32t(&[0], &[]);
        assert!(pad(&[(1, 0)], PadMode::Reflect, 0.0, &[op(&empty)]).is_err());
        assert_eq!(
            pad(&[(1, 0)], PadMode::Constant, 2.0, &[op(&empty)]).unwrap(),
            f32t(&[1], &[2.0])
        );
    }

    #[test]
    fn quantized_constant_is_stored_quantized() {
        let x = Tensor::I8(array![5i8].into_dyn());
        let q = crate::ir::QuantParams::per_tensor(0.5, -128);
        let ty = TensorType::new(crate::ir::DType::I8, vec![1]).with_quant(Some(q));
        let args = [Operand { data: &x, ty: &ty }];
        let out = pad(&[(1, 1)], PadMode::Constant, 0.0, &args).unwrap();
        assert_eq!(out, Tensor::I8(array![-128i8, 5, -128].into_dyn()));
        let out = pad(&[(1, 0)], PadMode::Constant, 1000.0, &args).unwrap();
        assert_eq!(out, Tensor::I8(array![127i8, 5].into_dyn()));
    }
}
