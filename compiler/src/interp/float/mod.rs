//! Float (and plain integer) kernels with ONNX semantics.

use super::Operand;
use crate::ir::{Op, Tensor, TensorType};
use crate::{bail, Result};

/// Evaluates `op` on unquantized operands.
pub fn eval(op: &Op, _inputs: &[Operand<'_>], _outputs: &[TensorType]) -> Result<Vec<Tensor>> {
    bail!(
        "the interpreter has no float kernel for '{}' yet",
        op.name()
    )
}
