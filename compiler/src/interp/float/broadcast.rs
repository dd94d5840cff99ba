//! Ops that broadcast values without computing on them: Where and Expand.

use super::util::{any_variant, arity, input};
use crate::interp::Operand;
use crate::ir::infer::broadcast_shapes;
use crate::ir::Tensor;
use crate::{bail, Result};
use ndarray::{ArrayD, IxDyn, Zip};

/// `x` where `condition`, else `y`, over the broadcast of all three.
pub(super) fn select(inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 3, 3)?;
    let (c, x, y) = (input(inputs, 0)?, input(inputs, 1)?, input(inputs, 2)?);
    let Tensor::Bool(c) = c else {
        bail!("the condition must be bool, got {}", c.dtype());
    };
    let shape = broadcast_shapes(c.shape(), &broadcast_shapes(x.shape(), y.shape())?)?;
    let cond = c.broadcast(IxDyn(&shape)).expect("the shapes broadcast");
    Ok(any_variant!(x, V(a) => {
        let V(b) = y else {
            bail!("where's values have different types {} and {}", x.dtype(), y.dtype());
        };
        let (a, b) = (
            a.broadcast(IxDyn(&shape)).expect("the shapes broadcast"),
            b.broadcast(IxDyn(&shape)).expect("the shapes broadcast"),
        );
        V(Zip::from(&cond).and(&a).and(&b).map_collect(|&c, x, y| if c { *x } else { *y }))
    }))
}

/// `x` broadcast to the numpy broadcast of its shape and `shape`.
pub(super) fn expand(shape: &[usize], inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    let out = broadcast_shapes(x.shape(), shape)?;
    Ok(any_variant!(x, V(a) => {
        let b = a.broadcast(IxDyn(&out)).expect("the shapes broadcast");
        V(ArrayD::from_shape_vec(IxDyn(&out), b.iter().copied().collect()).expect("same count"))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    #[test]
    fn where_and_expand_broadcast() {
        let c = Tensor::Bool(array![[true], [false]].into_dyn());
        let x = f32t(&[2], &[1.0, 2.0]);
        let y = f32t(&[], &[9.0]);
        let out = select(&[op(&c), op(&x), op(&y)]).unwrap();
        assert_eq!(out, f32t(&[2, 2], &[1.0, 2.0, 9.0, 9.0]));
        assert!(select(&[op(&x), op(&x), op(&y)]).is_err());
        let e = expand(&[2, 1, 2], &[op(&x)]).unwrap();
        assert_eq!(e, f32t(&[2, 1, 2], &[1.0, 2.0, 1.0, 2.0]));
        assert!(expand(&[3], &[op(&x)]).is_err());
    }
}
