//! Strided slice with python semantics (any dtype).

use super::util::{any_variant, arity, input, standard};
use crate::interp::Operand;
use crate::ir::{slice_range, Tensor};
use crate::{bail, Result};
use ndarray::{Axis, Slice};

/// One `(start, end, step)` per axis; negative bounds count from the end, out-of-range
/// bounds are clamped, negative steps walk backwards.
pub(super) fn slice(
    starts: &[i64],
    ends: &[i64],
    steps: &[i64],
    inputs: &[Operand<'_>],
) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    let r = x.shape().len();
    if starts.len() != r || ends.len() != r || steps.len() != r {
        bail!("slice needs one start/end/step per axis of {:?}", x.shape());
    }
    if steps.contains(&0) {
        bail!("slice step must not be 0");
    }
    let slices: Vec<Slice> = (0..r)
        .map(|i| {
            let (first, count) = slice_range(x.shape()[i], starts[i], ends[i], steps[i]);
            let step = steps[i] as isize;
            let first = first as isize;
            match count as isize {
                0 => Slice::new(0, Some(0), 1),
                n if step > 0 => Slice::new(first, Some(first + (n - 1) * step + 1), step),
                // ndarray walks a negative step from the end of [start, end).
                n => Slice::new(first + (n - 1) * step, Some(first + 1), step),
            }
        })
        .collect();
    Ok(any_variant!(x, V(a) => {
        let mut v = a.view();
        for (i, s) in slices.iter().enumerate() {
            v.slice_axis_inplace(Axis(i), *s);
        }
        V(standard(v.to_owned()))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};

    fn range(n: usize) -> Tensor {
        f32t(&[n], &(0..n).map(|v| v as f32).collect::<Vec<_>>())
    }

    fn run(x: &Tensor, s: i64, e: i64, step: i64) -> Vec<f64> {
        slice(&[s], &[e], &[step], &[op(x)]).unwrap().to_f64_vec()
    }

    #[test]
    fn python_slices() {
        let x = range(10);
        assert_eq!(run(&x, 1, 8, 3), vec![1.0, 4.0, 7.0]);
        assert_eq!(run(&x, -3, i64::MAX, 1), vec![7.0, 8.0, 9.0]);
        assert_eq!(run(&x, 8, 1, -3), vec![8.0, 5.0, 2.0]);
        assert_eq!(run(&x, -1, i64::MIN, -4), vec![9.0, 5.0, 1.0]);
        assert_eq!(run(&x, 100, -100, -1).len(), 10);
        assert!(run(&x, 5, 5, 1).is_empty());
        assert!(run(&x, 2, 5, -1).is_empty());
    }

    #[test]
    fn multi_axis_and_errors() {
        let x = f32t(&[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let out = slice(&[1, 0], &[2, 3], &[1, 2], &[op(&x)]).unwrap();
        assert_eq!(out, f32t(&[1, 2], &[3.0, 5.0]));
        let Tensor::F32(rev) = slice(&[1, -1], &[-3, -4], &[-1, -1], &[op(&x)]).unwrap() else {
            panic!()
        };
        assert!(rev.is_standard_layout());
        assert_eq!(
            rev.iter().copied().collect::<Vec<_>>(),
            [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
        );
        assert!(slice(&[0, 0], &[1, 1], &[1, 0], &[op(&x)]).is_err());
        assert!(slice(&[0], &[1], &[1], &[op(&x)]).is_err());
    }
}
