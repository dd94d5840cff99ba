//! Integer kernels on quantized tensors, following TFLite's reference kernels.

use super::Operand;
use crate::ir::{Op, Tensor, TensorType};
use crate::{bail, Result};

/// Whether a quantized kernel exists for `op` (otherwise the float path handles it, e.g.
/// for pure data movement).
pub fn handles(_op: &Op) -> bool {
    false
}

/// Evaluates `op` on quantized operands.
pub fn eval(op: &Op, _inputs: &[Operand<'_>], _outputs: &[TensorType]) -> Result<Vec<Tensor>> {
    bail!(
        "the interpreter has no quantized kernel for '{}' yet",
        op.name()
    )
}
