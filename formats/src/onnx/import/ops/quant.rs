//! QuantizeLinear, DequantizeLinear, QLinearConv and QLinearMatMul. Quantization
//! parameters must be constants; they go onto the IR tensor types.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::conv::{conv_core, ConvQuant};
use super::steps::Steps;
use super::{const_input, dtype_attr};
use ndarray::Axis;
use nnopt_compiler::ir::{
    BinaryKind, CompareKind, DType, Op, QuantParams, QuantizeRounding, ReduceKind, UnaryFunc,
    ValueRef,
};
use nnopt_compiler::Result;

/// Reads constant scale (input `si`) and zero point (input `zi`, optional) for a tensor of
/// `shape`; a scale with more than one element is per-axis along `axis`. Returns the
/// parameters and the zero point's dtype.
fn params(
    imp: &Importer,
    cx: &NodeCtx,
    (si, zi): (usize, usize),
    axis: i64,
    shape: &[usize],
) -> Result<(QuantParams, Option<DType>)> {
    let scale: Vec<f32> = const_input(imp, cx, si, "scale")?
        .to_f64_vec()
        .iter()
        .map(|&s| s as f32)
        .collect();
    let (zp, zdt) = match cx.opt_input(zi) {
        None => (vec![0; scale.len()], None),
        Some(_) => {
            let t = const_input(imp, cx, zi, "zero point")?;
            let v = if t.dtype().is_qdq_float() {
                // FP8 and FP4 zero points are codes; only +0 (code 0) is supported.
                if t.to_f64_vec().iter().any(|&c| c != 0.0) {
                    return Err(cx.err("non-zero float zero points are not supported"));
                }
                vec![0; t.len()]
            } else {
                t.to_i64_vec().ok_or_else(|| {
                    cx.err(format!("zero point of type {} is not supported", t.dtype()))
                })?
            };
            (v, Some(t.dtype()))
        }
    };
    if scale.is_empty() || zp.len() != scale.len() {
        return Err(cx.err(format!(
            "{} scales and {} zero points",
            scale.len(),
            zp.len()
        )));
    }
    let q = if scale.len() == 1 {
        QuantParams {
            scale,
            zero_point: zp,
            axis: None,
        }
    } else {
        let a = cx.axis(axis, shape.len())?;
        if shape[a] != scale.len() {
            return Err(cx.err(format!(
                "{} scales for axis {a} of shape {shape:?}",
                scale.len()
            )));
        }
        QuantParams {
            scale,
            zero_point: zp,
            axis: Some(a),
        }
    };
    if q.scale.iter().any(|s| !s.is_finite() || *s <= 0.0) {
        return Err(cx.err(format!(
            "scales must be positive and finite, got {:?}",
            q.scale
        )));
    }
    Ok((q, zdt))
}

/// The constant scale and zero point of blocked quantization (`block_size` consecutive
/// elements along `axis` share one), repeated to the shape of `x`.
fn blocked_params(
    imp: &mut Importer,
    cx: &NodeCtx,
    x: ValueRef,
    block: i64,
) -> Result<(ValueRef, Option<ValueRef>)> {
    let shape = imp.shape(x);
    let axis = cx.axis(cx.int("axis", 1)?, shape.len())?;
    let block = usize::try_from(block)
        .ok()
        .filter(|&b| b > 0)
        .ok_or_else(|| cx.err(format!("block_size must be positive, got {block}")))?;
    let n = shape[axis];
    let index: Vec<usize> = (0..n).map(|i| i / block).collect();
    let mut expand = |i: usize, what: &str| -> Result<Option<ValueRef>> {
        if cx.opt_input(i).is_none() {
            return Ok(None);
        }
        let t = const_input(imp, cx, i, what)?;
        let mut want = shape.clone();
        want[axis] = n.div_ceil(block);
        if t.shape() != want.as_slice() {
            return Err(cx.err(format!(
                "{what} of shape {:?} for blocks of {block} along axis {axis} of {shape:?} \
                 (expected {want:?})",
                t.shape()
            )));
        }
        let full = nnopt_compiler::map_tensor_same!(t, a => a.select(Axis(axis), &index));
        Ok(Some(imp.add_const(
            &format!("{}_{what}", cx.out(0)),
            full,
            None,
        )))
    };
    let scale = expand(1, "scale")?.expect("input 1 is present");
    Ok((scale, expand(2, "zero_point")?))
}

/// QuantizeLinear / DequantizeLinear types: 2- to 32-bit integers, FP8 and FP4.
fn check_qtype(cx: &NodeCtx, dt: DType) -> Result<()> {
    if !(dt.is_qdq_int() || dt.is_qdq_float()) {
        return Err(cx.err(format!("quantized type {dt} is not supported")));
    }
    Ok(())
}

fn check_int(cx: &NodeCtx, dt: DType) -> Result<()> {
    if !matches!(dt, DType::I8 | DType::U8 | DType::I16 | DType::I32) {
        return Err(cx.err(format!("quantized type {dt} is not supported")));
    }
    Ok(())
}

/// QuantizeLinear.
pub(super) fn quantize(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let block = cx.int("block_size", 0)?;
    if block != 0 {
        let (scale, zp) = blocked_params(imp, cx, x, block)?;
        return quantize_composed(imp, cx, scale, zp);
    }
    let computed = |i| {
        cx.opt_input(i)
            .is_some_and(|v| imp.const_value(v).is_none())
    };
    if computed(1) || computed(2) {
        let (scale, zp) = (cx.input(1)?, cx.opt_input(2));
        let per_tensor = |v: ValueRef| imp.shape(v).iter().product::<usize>() == 1;
        if !per_tensor(scale) || zp.is_some_and(|z| !per_tensor(z)) {
            return Err(cx.err(
                "per-axis parameters computed at run time are not supported (make them \
                 constants)",
            ));
        }
        return quantize_composed(imp, cx, scale, zp);
    }
    let (q, zdt) = params(imp, cx, (1, 2), cx.int("axis", 1)?, &imp.shape(x))?;
    let to = match (zdt, cx.int("output_dtype", 0)?) {
        (Some(dt), _) => dt,
        (None, 0) => DType::U8,
        (None, code) => dtype_attr(cx, code)?,
    };
    check_qtype(cx, to)?;
    Ok(imp.emit_q(
        Op::Quantize {
            to,
            rounding: QuantizeRounding::HalfEven,
            saturate: !to.is_qdq_float() || cx.int("saturate", 1)? != 0,
        },
        &[x],
        &[cx.out(0)],
        Some(q),
    )?[0])
}

/// QuantizeLinear to an integer type with a scale and zero point that broadcast against
/// `x` but are not quantization parameters (computed at run time, as DynamicQuantizeLinear's
/// expansion has them, or one per block): `clamp(round(x / scale) + zero_point, lo, hi)`
/// with rounding half to even.
fn quantize_composed(
    imp: &mut Importer,
    cx: &NodeCtx,
    scale: ValueRef,
    zp: Option<ValueRef>,
) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let to = match (zp, cx.int("output_dtype", 0)?) {
        (Some(z), _) => imp.ty(z).dtype,
        (None, 0) => DType::U8,
        (None, code) => dtype_attr(cx, code)?,
    };
    let Some((lo, hi)) = to
        .int_range()
        .filter(|_| to != DType::Bool && to.size_bytes() <= 4)
    else {
        return Err(cx.err(format!(
            "blocked or run-time quantization needs an integer output, not {to}"
        )));
    };
    if imp.ty(x).dtype != DType::F32 || imp.ty(scale).dtype != DType::F32 {
        return Err(cx.err("blocked or run-time quantization needs a float32 input and scale"));
    }
    let mut s = Steps::new(imp, format!("{}_step", cx.out(0)));
    let y = s.binary(BinaryKind::Div, x, scale)?;
    let mut y = s.unary(UnaryFunc::Round, y)?;
    if let Some(z) = zp {
        let z = s.cast(z, DType::F32)?;
        y = s.binary(BinaryKind::Add, y, z)?;
    }
    let (lo, hi) = (
        s.constant(DType::F32, &[], &[lo as f64])?,
        s.constant(DType::F32, &[], &[hi as f64])?,
    );
    let y = s.binary(BinaryKind::Max, y, lo)?;
    let y = s.binary(BinaryKind::Min, y, hi)?;
    s.imp.emit(Op::cast(to), &[y], cx.out(0))
}

/// DequantizeLinear: the parameters are attached to the input's type, or blocked ones
/// applied elementwise.
pub(super) fn dequantize(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    check_qtype(cx, imp.ty(x).dtype)?;
    let block = cx.int("block_size", 0)?;
    if block != 0 {
        return dequantize_blocked(imp, cx, block);
    }
    let (q, _) = params(imp, cx, (1, 2), cx.int("axis", 1)?, &imp.shape(x))?;
    let xq = imp.with_quant(x, q).map_err(|e| cx.err(e.message))?;
    // The result has the scale's type (or `output_dtype`, opset 25); half, bfloat16 and
    // double results are the f32 dequantization rounded once.
    let to = match cx.int("output_dtype", 0)? {
        0 => imp.ty(cx.input(1)?).dtype,
        code => super::dtype_attr(cx, code)?,
    };
    if to == nnopt_compiler::ir::DType::F32 {
        return imp.emit(Op::Dequantize, &[xq], cx.out(0));
    }
    let y = imp.emit(Op::Dequantize, &[xq], &format!("{}_f32", cx.out(0)))?;
    imp.emit(Op::cast(to), &[y], cx.out(0))
}

/// Blocked DequantizeLinear: `(x - zero_point) * scale` with the parameters repeated to
/// the shape of `x`, in f32, then rounded once to the scale's type.
fn dequantize_blocked(imp: &mut Importer, cx: &NodeCtx, block: i64) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let (scale, zp) = blocked_params(imp, cx, x, block)?;
    let to = match cx.int("output_dtype", 0)? {
        0 => imp.ty(cx.input(1)?).dtype,
        code => dtype_attr(cx, code)?,
    };
    let float_codes = imp.ty(x).dtype.is_qdq_float();
    let mut s = Steps::new(imp, format!("{}_step", cx.out(0)));
    let mut y = s.cast(x, DType::F32)?;
    if let Some(z) = zp.filter(|_| !float_codes) {
        let z = s.cast(z, DType::F32)?;
        y = s.binary(BinaryKind::Sub, y, z)?;
    }
    let scale = s.cast(scale, DType::F32)?;
    if to == DType::F32 {
        let op = Op::Binary {
            kind: BinaryKind::Mul,
            activation: None,
        };
        return s.imp.emit(op, &[y, scale], cx.out(0));
    }
    let y = s.binary(BinaryKind::Mul, y, scale)?;
    s.imp.emit(Op::cast(to), &[y], cx.out(0))
}

/// DynamicQuantizeLinear: uint8 quantization with the scale and zero point of the data's
/// range (widened to include 0), composed as ONNX's reference computes it: `scale =
/// (max - min) / 255` (1/255 for a range of 0), `zero_point = round(clamp(-min / scale,
/// 0, 255))`, `y = clamp(round(x / scale) + zero_point, 0, 255)`, rounding half to even.
pub(super) fn dynamic_quantize(imp: &mut Importer, cx: &NodeCtx) -> Result<Vec<ValueRef>> {
    let x = cx.input(0)?;
    if imp.ty(x).dtype != DType::F32 {
        return Err(cx.err(format!(
            "input of type {} (float expected)",
            imp.ty(x).dtype
        )));
    }
    let rank = imp.shape(x).len();
    if cx.out(0).is_empty() {
        return Err(cx.err("output 0 (y) is required"));
    }
    let outs = [0, 1, 2].map(|k| match cx.out(k) {
        "" => format!("{}_unused{k}", cx.out(0)),
        name => name.to_string(),
    });
    let mut s = Steps::new(imp, format!("{}_step", outs[0]));
    let reduce = |s: &mut Steps, kind| {
        let op = Op::Reduce {
            kind,
            axes: (0..rank).collect(),
            keep_dims: false,
        };
        s.emit(op, &[x])
    };
    let (hi, lo) = (
        reduce(&mut s, ReduceKind::Max)?,
        reduce(&mut s, ReduceKind::Min)?,
    );
    let zero = s.constant(DType::F32, &[], &[0.0])?;
    let (one, top) = (
        s.constant(DType::F32, &[], &[1.0])?,
        s.constant(DType::F32, &[], &[255.0])?,
    );
    let hi = s.binary(BinaryKind::Max, hi, zero)?;
    let lo = s.binary(BinaryKind::Min, lo, zero)?;
    let range = s.binary(BinaryKind::Sub, hi, lo)?;
    let empty = s.emit(
        Op::Compare {
            kind: CompareKind::Equal,
        },
        &[hi, lo],
    )?;
    let range = s.emit(Op::Where, &[empty, one, range])?;
    let scale = s.imp.emit(
        Op::Binary {
            kind: BinaryKind::Div,
            activation: None,
        },
        &[range, top],
        &outs[1],
    )?;
    let clamp = |s: &mut Steps, v| -> Result<ValueRef> {
        let v = s.binary(BinaryKind::Max, v, zero)?;
        s.binary(BinaryKind::Min, v, top)
    };
    let zp = s.binary(BinaryKind::Div, lo, scale)?;
    let zp = s.binary(BinaryKind::Sub, zero, zp)?;
    let zp = clamp(&mut s, zp)?;
    let zp = s.unary(UnaryFunc::Round, zp)?;
    let y = s.binary(BinaryKind::Div, x, scale)?;
    let y = s.unary(UnaryFunc::Round, y)?;
    let y = s.binary(BinaryKind::Add, y, zp)?;
    let y = clamp(&mut s, y)?;
    let y = s.imp.emit(Op::cast(DType::U8), &[y], &outs[0])?;
    let zp = s.imp.emit(Op::cast(DType::U8), &[zp], &outs[2])?;
    Ok(vec![y, scale, zp])
}

/// QLinearConv: a Conv on quantized types; the int32 bias gets scale `x_scale * w_scale`.
pub(super) fn qlinear_conv(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (x, w, b) = (cx.input(0)?, cx.input(3)?, cx.opt_input(8));
    let (xq, xdt) = params(imp, cx, (1, 2), 1, &imp.shape(x))?;
    let (wq, _) = params(imp, cx, (4, 5), 0, &imp.shape(w))?;
    let (yq, ydt) = params(imp, cx, (6, 7), 1, &[])?;
    let xdt = xdt.unwrap_or(imp.ty(x).dtype);
    check_int(cx, xdt)?;
    if ydt.is_some_and(|d| d != xdt) {
        return Err(cx.err("input and output of different integer types are not supported"));
    }
    let bias = QuantParams {
        scale: wq.scale.iter().map(|&s| s * xq.scale[0]).collect(),
        zero_point: vec![0; wq.scale.len()],
        axis: wq.axis,
    };
    conv_core(
        imp,
        cx,
        (x, w, b),
        Some(ConvQuant {
            x: xq,
            w: wq,
            bias,
            y: yq,
        }),
    )
}

/// QLinearMatMul: a MatMul on quantized types (per-row `a` and per-column `b` allowed).
pub(super) fn qlinear_matmul(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (a, b) = (cx.input(0)?, cx.input(3)?);
    let (sa, sb) = (imp.shape(a), imp.shape(b));
    if sa.len() < 2 || sb.len() < 2 {
        return Err(cx.err("operands must have rank >= 2"));
    }
    let (aq, adt) = params(imp, cx, (1, 2), sa.len() as i64 - 2, &sa)?;
    let (bq, _) = params(imp, cx, (4, 5), sb.len() as i64 - 1, &sb)?;
    let (yq, ydt) = params(imp, cx, (6, 7), 0, &[])?;
    let adt = adt.unwrap_or(imp.ty(a).dtype);
    check_int(cx, adt)?;
    if ydt.is_some_and(|d| d != adt) {
        return Err(cx.err("input and output of different integer types are not supported"));
    }
    let a2 = imp.with_quant(a, aq).map_err(|e| cx.err(e.message))?;
    let b2 = imp.with_quant(b, bq).map_err(|e| cx.err(e.message))?;
    Ok(imp.emit_q(Op::MatMul, &[a2, b2], &[cx.out(0)], Some(yq))?[0])
}
