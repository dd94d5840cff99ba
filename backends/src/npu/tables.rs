//! 256-entry code tables for pointwise ops on 8-bit quantized data (standalone
//! activations, requantizations, the requantizing inputs of a concatenation): the
//! reference interpreter's integer kernel evaluated on every input code at compile time,
//! so a [`Lookup`](super::program::Lookup) reproduces it exactly, whatever its
//! arithmetic.

use nnopt_compiler::interp::{eval_op, Operand};
use nnopt_compiler::ir::{Op, Tensor, TensorType};

/// The table of `op` from codes of type `x` to codes of type `out`, indexed by the input
/// code's byte (`code as u8`); an error names why `op` has none.
pub fn code_table(op: &Op, x: &TensorType, out: &TensorType) -> Result<Vec<u8>, String> {
    if x.dtype.size_bytes() != 1 || out.dtype.size_bytes() != 1 {
        return Err(format!(
            "{} to {}: NPU tables map 8-bit codes only",
            x.dtype, out.dtype
        ));
    }
    if [x, out]
        .iter()
        .any(|t| t.quant.as_ref().is_none_or(|q| q.scale.len() != 1))
    {
        return Err("per-tensor quantization needed for a table".into());
    }
    let (lo, _) = x.dtype.int_range().ok_or("integer input needed")?;
    // Index b holds the code whose byte is b: 0..=255 for uint8, 0..=127 then -128..=-1
    // for int8.
    let codes: Vec<f64> = (0..256i64)
        .map(|b| if lo < 0 && b >= 128 { b - 256 } else { b } as f64)
        .collect();
    let data = Tensor::from_f64s(x.dtype, &[256], &codes).ok_or("codes out of range")?;
    let row = |t: &TensorType| TensorType {
        shape: vec![256],
        ..t.clone()
    };
    let (xt, ot) = (row(x), row(out));
    let y = eval_op(
        op,
        &[Operand {
            data: &data,
            ty: &xt,
        }],
        &[ot],
    )
    .map_err(|e| e.message)?;
    let values = y
        .first()
        .and_then(Tensor::to_i64_vec)
        .ok_or("the kernel returned no integer codes")?;
    Ok(values.into_iter().map(|v| v as u8).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnopt_compiler::ir::{Activation, DType, QuantParams};

    fn q(dtype: DType, scale: f32, zp: i64) -> TensorType {
        TensorType::new(dtype, vec![1]).with_quant(Some(QuantParams::per_tensor(scale, zp)))
    }

    #[test]
    fn a_relu_table_clamps_below_the_zero_point() {
        let t = q(DType::I8, 0.1, -5);
        let table = code_table(
            &Op::Activation {
                act: Activation::Relu,
            },
            &t,
            &t,
        )
        .unwrap();
        assert_eq!(table[0], 0); // code 0 (above the zero point) stays
        assert_eq!(table[200], (-5i8) as u8); // code -56 clamps to the zero point
        assert_eq!(table[127], 127);
    }

    #[test]
    fn wide_or_per_axis_types_have_no_table() {
        let op = Op::Activation {
            act: Activation::Sigmoid,
        };
        let wide = q(DType::I16, 0.1, 0);
        assert!(code_table(&op, &wide, &wide).is_err());
        let per_axis = TensorType::new(DType::I8, vec![2]).with_quant(Some(QuantParams {
            scale: vec![0.1, 0.2],
            zero_point: vec![0, 0],
            axis: Some(0),
        }));
        assert!(code_table(&op, &per_axis, &per_axis).is_err());
    }
}
