//! Batched matrix product with numpy broadcasting (ONNX MatMul), f32 and integers.

use super::num::Num;
use super::util::{arity, input, with_variant};
use crate::interp::Operand;
use crate::ir::infer::broadcast_shapes;
use crate::ir::Tensor;
use crate::{bail, Result};
use ndarray::{ArrayD, Axis, Ix3, IxDyn};

/// MatMul: 1-D operands are promoted (a to a row, b to a column) and the added axis is
/// removed from the result; leading axes broadcast.
pub(super) fn matmul(inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 2, 2)?;
    let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
    with_variant!(
        a,
        V(x),
        [F32, I8, U8, I16, I32, I64, U16, U32, U64],
        {
            let V(y) = b else {
                bail!(
                    "mat_mul operands have different types {} and {}",
                    a.dtype(),
                    b.dtype()
                );
            };
            Ok(V(batched(x, y)?))
        },
        bail!("mat_mul does not support {} data", a.dtype())
    )
}

/// `a @ b` on i32 with MatMul's promotion and broadcasting rules (wrapping arithmetic).
pub(in crate::interp) fn batched_i32(a: &ArrayD<i32>, b: &ArrayD<i32>) -> Result<ArrayD<i32>> {
    batched(a, b)
}

fn batched<T: Num>(a: &ArrayD<T>, b: &ArrayD<T>) -> Result<ArrayD<T>> {
    if a.ndim() == 0 || b.ndim() == 0 {
        bail!("mat_mul operands must not be scalars");
    }
    let a2 = if a.ndim() == 1 {
        a.view().insert_axis(Axis(0))
    } else {
        a.view()
    };
    let b2 = if b.ndim() == 1 {
        b.view().insert_axis(Axis(1))
    } else {
        b.view()
    };
    let (ra, rb) = (a2.ndim(), b2.ndim());
    let (m, k) = (a2.shape()[ra - 2], a2.shape()[ra - 1]);
    let (k2, n) = (b2.shape()[rb - 2], b2.shape()[rb - 1]);
    if k != k2 {
        bail!(
            "mat_mul inner dimensions differ: {:?} x {:?}",
            a.shape(),
            b.shape()
        );
    }
    let batch = broadcast_shapes(&a2.shape()[..ra - 2], &b2.shape()[..rb - 2])?;
    let count: usize = batch.iter().product();
    let stack = |v: ndarray::ArrayViewD<'_, T>, r: usize, c: usize| -> Result<ndarray::Array3<T>> {
        let full: Vec<usize> = batch.iter().copied().chain([r, c]).collect();
        let Some(bv) = v.broadcast(IxDyn(&full)) else {
            bail!(
                "mat_mul batch shapes of {:?} and {:?} do not broadcast",
                a.shape(),
                b.shape()
            );
        };
        let owned = bv.as_standard_layout().into_owned();
        Ok(owned
            .into_shape_with_order((count, r, c))
            .expect("standard layout reshape")
            .into_dimensionality::<Ix3>()
            .expect("rank 3"))
    };
    let (sa, sb) = (stack(a2, m, k)?, stack(b2, k, n)?);
    let mut data = Vec::with_capacity(count * m * n);
    for (x, y) in sa.outer_iter().zip(sb.outer_iter()) {
        data.extend(T::matmul(x, y).iter().copied());
    }
    let mut shape = batch;
    if a.ndim() > 1 {
        shape.push(m);
    }
    if b.ndim() > 1 {
        shape.push(n);
    }
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), data).expect("element count matches shape"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{assert_close, f32t, op, rand};
    use ndarray::{array, Array2};

    #[test]
    fn two_d_and_vectors() {
        let a = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = f32t(&[3, 1], &[1.0, 0.0, -1.0]);
        assert_eq!(
            matmul(&[op(&a), op(&b)]).unwrap(),
            f32t(&[2, 1], &[-2.0, -2.0])
        );
        let v = f32t(&[3], &[1.0, 0.0, -1.0]);
        assert_eq!(
            matmul(&[op(&a), op(&v)]).unwrap(),
            f32t(&[2], &[-2.0, -2.0])
        );
        let u = f32t(&[2], &[1.0, 1.0]);
        assert_eq!(
            matmul(&[op(&u), op(&a)]).unwrap(),
            f32t(&[3], &[5.0, 7.0, 9.0])
        );
        assert_eq!(matmul(&[op(&v), op(&v)]).unwrap(), f32t(&[], &[2.0]));
    }

    #[test]
    fn batched_broadcasting() {
        let a = rand(&[2, 1, 3, 4], 1);
        let b = rand(&[3, 4, 5], 2);
        let Tensor::F32(out) =
            matmul(&[op(&Tensor::F32(a.clone())), op(&Tensor::F32(b.clone()))]).unwrap()
        else {
            panic!()
        };
        assert_eq!(out.shape(), &[2, 3, 3, 5]);
        for i in 0..2 {
            for j in 0..3 {
                let x: Array2<f32> = a.slice(ndarray::s![i, 0, .., ..]).to_owned();
                let y: Array2<f32> = b.slice(ndarray::s![j, .., ..]).to_owned();
                let want = x.dot(&y).into_dyn();
                assert_close(
                    &out.slice(ndarray::s![i, j, .., ..]).to_owned().into_dyn(),
                    &want,
                    1e-6,
                );
            }
        }
    }

    #[test]
    fn integers_and_errors() {
        let a = Tensor::I64(array![[1i64, 2], [3, 4]].into_dyn());
        let b = Tensor::I64(array![[5i64], [6]].into_dyn());
        assert_eq!(
            matmul(&[op(&a), op(&b)]).unwrap(),
            Tensor::I64(array![[17i64], [39]].into_dyn())
        );
        let f = f32t(&[2, 1], &[0.0, 0.0]);
        assert!(matmul(&[op(&a), op(&f)]).is_err());
        let c = Tensor::I64(array![[1i64, 2, 3]].into_dyn());
        assert!(matmul(&[op(&a), op(&c)]).is_err());
        let s = f32t(&[], &[1.0]);
        assert!(matmul(&[op(&s), op(&s)]).is_err());
        let x = f32t(&[2, 2, 2], &[0.0; 8]);
        let y = f32t(&[3, 2, 2], &[0.0; 12]);
        assert!(matmul(&[op(&x), op(&y)]).is_err());
    }
}
