//! Det: determinants by LU decomposition with partial pivoting, in f64.

use super::util::{arity, f32_input};
use crate::interp::Operand;
use crate::ir::Tensor;
use crate::{bail, Result};
use ndarray::{ArrayD, IxDyn};

/// The determinant of each square matrix in the last two axes of `x`.
pub(super) fn det(inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = f32_input(inputs, 0, "det input")?;
    let s = x.shape();
    let [batch @ .., m, n] = s else {
        bail!("det needs matrices, got shape {s:?}");
    };
    if m != n {
        bail!("det needs square matrices, got shape {s:?}");
    }
    let values: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let size = m * m;
    let dets: Vec<f32> = if size == 0 {
        vec![1.0; batch.iter().product()]
    } else {
        values
            .chunks(size)
            .map(|a| lu_det(a.to_vec(), *m) as f32)
            .collect()
    };
    Ok(Tensor::F32(
        ArrayD::from_shape_vec(IxDyn(batch), dets).expect("one determinant per matrix"),
    ))
}

/// The determinant of the row-major `m x m` matrix `a`.
fn lu_det(mut a: Vec<f64>, m: usize) -> f64 {
    let mut det = 1.0;
    for col in 0..m {
        let pivot = (col..m)
            .max_by(|&i, &j| a[i * m + col].abs().total_cmp(&a[j * m + col].abs()))
            .unwrap_or(col);
        if a[pivot * m + col] == 0.0 {
            return 0.0;
        }
        if pivot != col {
            for k in 0..m {
                a.swap(pivot * m + k, col * m + k);
            }
            det = -det;
        }
        let p = a[col * m + col];
        det *= p;
        for row in col + 1..m {
            let f = a[row * m + col] / p;
            for k in col..m {
                a[row * m + k] -= f * a[col * m + k];
            }
        }
    }
    det
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};

    #[test]
    fn determinants_of_a_batch() {
        let x = f32t(
            &[3, 2, 2],
            &[1., 2., 3., 4., 0., 1., 1., 0., 2., 0., 0., 3.],
        );
        let d = det(&[op(&x)]).unwrap();
        assert_eq!(d.as_f32().unwrap().as_slice().unwrap(), [-2.0, -1.0, 6.0]);
        let x = f32t(&[3, 3], &[2., 0., 1., 1., 3., 2., 1., 1., 2.]);
        let d = det(&[op(&x)]).unwrap();
        assert!((d.as_f32().unwrap().iter().next().unwrap() - 6.0).abs() < 1e-5);
    }
}
