//! Elementwise operators: binary arithmetic (with SQUARED_DIFFERENCE), activations,
//! functions of one operand (GELU, RSQRT, EXP), PRELU, SOFTMAX, QUANTIZE, DEQUANTIZE (folding
//! float16 constants), CAST and DENSIFY (of constants).

use super::super::builder::{fused, Builder};
use super::super::fb;
use super::Io;
use nnopt_compiler::ir::{Activation, BinaryKind, Op, QuantizeRounding, UnaryFunc};
use nnopt_compiler::Result;

pub fn binary(
    b: &mut Builder<'_, '_>,
    code: fb::BuiltinOperator,
    op: &fb::Operator<'_>,
    io: &Io,
) -> Result<()> {
    use fb::BuiltinOperator as B;
    let (kind, act) = match code {
        B::ADD => (
            BinaryKind::Add,
            op.builtin_options_as_add_options()
                .map(|o| o.fused_activation_function()),
        ),
        B::SUB => (
            BinaryKind::Sub,
            op.builtin_options_as_sub_options()
                .map(|o| o.fused_activation_function()),
        ),
        B::MUL => (
            BinaryKind::Mul,
            op.builtin_options_as_mul_options()
                .map(|o| o.fused_activation_function()),
        ),
        B::DIV => (
            BinaryKind::Div,
            op.builtin_options_as_div_options()
                .map(|o| o.fused_activation_function()),
        ),
        B::MAXIMUM => (BinaryKind::Max, None),
        B::SQUARED_DIFFERENCE => (BinaryKind::SquaredDifference, None),
        _ => (BinaryKind::Min, None),
    };
    let activation = match act {
        Some(a) => fused(a)?,
        None => None,
    };
    let ins = [b.value(io.input(b, 0)?)?, b.value(io.input(b, 1)?)?];
    b.emit(Op::Binary { kind, activation }, &ins, io.output(b, 0)?)?;
    Ok(())
}

/// GELU (exact or, with `approximate`, the tanh form), RSQRT and EXP.
pub fn unary(
    b: &mut Builder<'_, '_>,
    code: fb::BuiltinOperator,
    op: &fb::Operator<'_>,
    io: &Io,
) -> Result<()> {
    let func = match code {
        fb::BuiltinOperator::GELU => {
            let tanh = op
                .builtin_options_as_gelu_options()
                .is_some_and(|o| o.approximate());
            UnaryFunc::Gelu { tanh }
        }
        fb::BuiltinOperator::EXP => UnaryFunc::Exp,
        _ => UnaryFunc::Rsqrt,
    };
    let x = b.value(io.input(b, 0)?)?;
    b.emit(Op::Unary { func }, &[x], io.output(b, 0)?)?;
    Ok(())
}

pub fn prelu(b: &mut Builder<'_, '_>, io: &Io) -> Result<()> {
    let ins = [b.value(io.input(b, 0)?)?, b.value(io.input(b, 1)?)?];
    b.emit(Op::PRelu, &ins, io.output(b, 0)?)?;
    Ok(())
}

pub fn activation(
    b: &mut Builder<'_, '_>,
    code: fb::BuiltinOperator,
    op: &fb::Operator<'_>,
    io: &Io,
) -> Result<()> {
    use fb::BuiltinOperator as B;
    let act = match code {
        B::LOGISTIC => Activation::Sigmoid,
        B::TANH => Activation::Tanh,
        B::RELU => Activation::Relu,
        B::RELU6 => Activation::Relu6,
        B::RELU_N1_TO_1 => Activation::ReluN1To1,
        B::HARD_SWISH => Activation::HardSwish,
        _ => {
            let alpha = op
                .builtin_options_as_leaky_relu_options()
                .map_or(0.2, |o| o.alpha());
            Activation::LeakyRelu { alpha }
        }
    };
    let x = b.value(io.input(b, 0)?)?;
    b.emit(Op::Activation { act }, &[x], io.output(b, 0)?)?;
    Ok(())
}

pub fn softmax(b: &mut Builder<'_, '_>, op: &fb::Operator<'_>, io: &Io) -> Result<()> {
    let beta = op
        .builtin_options_as_softmax_options()
        .map_or(1.0, |o| o.beta());
    let xi = io.input(b, 0)?;
    let rank = b.ty(xi)?.shape.len();
    if rank == 0 {
        return Err(b.err("softmax needs at least one dimension"));
    }
    let x = b.value(xi)?;
    b.emit(
        Op::Softmax {
            axis: rank - 1,
            beta,
        },
        &[x],
        io.output(b, 0)?,
    )?;
    Ok(())
}

pub fn quantize(b: &mut Builder<'_, '_>, io: &Io) -> Result<()> {
    let out = io.output(b, 0)?;
    let to = b.ty(out)?;
    if !to.is_quantized() {
        return Err(b.err(format!(
            "QUANTIZE output must be a quantized integer type, got {to}"
        )));
    }
    let x = b.value(io.input(b, 0)?)?;
    let q = Op::Quantize {
        to: to.dtype,
        rounding: QuantizeRounding::Tflite,
        saturate: true,
    };
    b.emit(q, &[x], out)?;
    Ok(())
}

/// DEQUANTIZE; a float16 constant input (MediaPipe's weight storage) folds into an f32
/// constant right away.
pub fn dequantize(b: &mut Builder<'_, '_>, io: &Io) -> Result<()> {
    let (xi, out) = (io.input(b, 0)?, io.output(b, 0)?);
    if b.is_f16(xi)? {
        let data = b
            .const_data(xi)?
            .ok_or_else(|| b.err("float16 DEQUANTIZE input must be a constant"))?;
        if data.shape() != b.ty(out)?.shape.as_slice() {
            return Err(b.err("DEQUANTIZE output shape differs from its input"));
        }
        let name = b.g.fresh_name(&b.node);
        let v = b.g.add_const(name, data, None);
        return b.bind(out, v);
    }
    let x = b.value(xi)?;
    b.emit(Op::Dequantize, &[x], out)?;
    Ok(())
}

/// DENSIFY: its input is a sparse constant, which the import has already expanded, so the
/// output becomes that constant, typed as the output (float16 ones as their f32 values, for
/// the DEQUANTIZE that follows).
pub fn densify(b: &mut Builder<'_, '_>, io: &Io) -> Result<()> {
    let (xi, out) = (io.input(b, 0)?, io.output(b, 0)?);
    let data = b
        .const_data(xi)?
        .ok_or_else(|| b.err("DENSIFY input must be a constant"))?;
    let ty = b.ty(out)?;
    if b.is_f16(xi)? != b.is_f16(out)? || data.dtype() != ty.dtype || data.shape() != ty.shape {
        return Err(b.err(format!(
            "DENSIFY of '{}' ({}) cannot produce {ty}",
            b.tensor_name(xi)?,
            b.ty(xi)?
        )));
    }
    let name = b.g.fresh_name(&b.node);
    let v = b.g.add_const(name, data, ty.quant);
    b.bind(out, v)
}

pub fn cast(b: &mut Builder<'_, '_>, io: &Io) -> Result<()> {
    let out = io.output(b, 0)?;
    let to = b.ty(out)?.dtype;
    let x = b.value(io.input(b, 0)?)?;
    b.emit(Op::cast(to), &[x], out)?;
    Ok(())
}
