//! Elementwise comparisons with broadcasting ([`CompareKind`]); boolean results.

use super::elementwise::broadcast_zip;
use super::util::{arity, input, num_variant};
use crate::interp::Operand;
use crate::ir::{CompareKind, Tensor};
use crate::{bail, Result};
use ndarray::ArrayD;

/// Compares `a` with `b` (numbers, or booleans for equality). NaN compares false.
pub(super) fn compare(kind: CompareKind, inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 2, 2)?;
    let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
    if let (Tensor::Bool(x), Tensor::Bool(y)) = (a, b) {
        return Ok(Tensor::Bool(typed(kind, x, y)?));
    }
    Ok(num_variant!(a, "compare", V(x) => {
        let V(y) = b else {
            bail!("compared operands have different types {} and {}", a.dtype(), b.dtype());
        };
        Tensor::Bool(typed(kind, x, y)?)
    }))
}

fn typed<T: Copy + PartialOrd>(
    kind: CompareKind,
    a: &ArrayD<T>,
    b: &ArrayD<T>,
) -> Result<ArrayD<bool>> {
    match kind {
        CompareKind::Equal => broadcast_zip(a, b, |x, y| x == y),
        CompareKind::Less => broadcast_zip(a, b, |x, y| x < y),
        CompareKind::LessOrEqual => broadcast_zip(a, b, |x, y| x <= y),
        CompareKind::Greater => broadcast_zip(a, b, |x, y| x > y),
        CompareKind::GreaterOrEqual => broadcast_zip(a, b, |x, y| x >= y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    #[test]
    fn broadcasts_and_treats_nan_as_unordered() {
        let a = f32t(&[3], &[1.0, f32::NAN, 3.0]);
        let b = f32t(&[], &[1.0]);
        let eq = compare(CompareKind::Equal, &[op(&a), op(&b)]).unwrap();
        assert_eq!(eq, Tensor::Bool(array![true, false, false].into_dyn()));
        let ge = compare(CompareKind::GreaterOrEqual, &[op(&a), op(&b)]).unwrap();
        assert_eq!(ge, Tensor::Bool(array![true, false, true].into_dyn()));
        let i = Tensor::I64(array![1i64].into_dyn());
        assert!(compare(CompareKind::Less, &[op(&a), op(&i)]).is_err());
    }
}
