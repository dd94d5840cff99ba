//! Quantization parameters as the NPU commands take them: activations' scale and zero
//! point, layers' input and output parameters and fused activation clamps.

use super::Reason;
use nnopt_compiler::interp::activation_range;
use nnopt_compiler::ir::{Activation, DType, TensorType};

/// The per-tensor scale and zero point of an integer activation.
pub(super) type ActQuant = (f32, i32);

/// The (scale, zero point) of a conv or fully connected layer's input and output; unit
/// for FP8 layers, whose scales live in their FP8 stage.
pub(super) fn layer_quant(
    xt: &TensorType,
    ot: &TensorType,
    fp8: bool,
) -> std::result::Result<[ActQuant; 2], Reason> {
    if fp8 {
        return Ok([(1.0, 0); 2]);
    }
    Ok([act_quant(xt)?, act_quant(ot)?])
}

/// Per-tensor scale and zero point of an integer activation.
pub(super) fn act_quant(ty: &TensorType) -> std::result::Result<(f32, i32), Reason> {
    if !matches!(ty.dtype, DType::I8 | DType::U8 | DType::I16) {
        return Err(format!("{} activations", ty.dtype));
    }
    per_tensor(ty)
}

/// Per-tensor scale and zero point of a quantized type.
pub(super) fn per_tensor(ty: &TensorType) -> std::result::Result<(f32, i32), Reason> {
    match &ty.quant {
        Some(q) if q.scale.len() == 1 => Ok((q.scale[0], q.zero_point[0] as i32)),
        Some(_) => Err("per-axis quantized activations".into()),
        None => Err("unquantized activations".into()),
    }
}

/// The output clamp of a fused activation (TFLite's `CalculateActivationRangeQuantized`).
pub(super) fn act_range(
    act: Option<Activation>,
    out: &TensorType,
) -> std::result::Result<(i32, i32), Reason> {
    activation_range(act, out).map_err(|e| e.message)
}
