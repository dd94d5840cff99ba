//! Inputs for `nnopt run` and `nnopt compare`: `.npy` files checked against the model's
//! inputs (float values for a quantized input are quantized with its parameters), or
//! random inputs of the model's shapes and types.

use crate::npy::read_npy_stored;
use crate::runner::{real_values, Port};
use nnopt_compiler::ir::{DType, Tensor};
use nnopt_compiler::{Error, Result};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::path::Path;

/// Inputs and what was done to them (for stderr).
pub struct Inputs {
    pub tensors: Vec<Tensor>,
    pub notes: Vec<String>,
}

/// Reads one `.npy` file per port. A float file for a quantized port is quantized with
/// the port's scale and zero point as TFLite does (`round(x / scale) + zero_point`,
/// halves away from zero, clamped); a float64 file for a float port becomes float32.
pub fn read_inputs(paths: &[impl AsRef<Path>], ports: &[Port]) -> Result<Inputs> {
    if paths.len() != ports.len() {
        return Err(Error::new(format!(
            "the model has {} inputs ({}), {} --input files were given",
            ports.len(),
            ports
                .iter()
                .map(|p| format!("'{}' {}{:?}", p.name, p.dtype, p.shape))
                .collect::<Vec<_>>()
                .join(", "),
            paths.len()
        )));
    }
    let mut out = Inputs {
        tensors: Vec::new(),
        notes: Vec::new(),
    };
    for (k, (path, port)) in paths.iter().zip(ports).enumerate() {
        let path = path.as_ref();
        if !path.exists() {
            return Err(Error::new(format!(
                "cannot read: the file does not exist; write input {k} ('{}', {}{:?}) with \
                 numpy (np.save(\"{}\", x)) or run with --random instead of --input",
                port.name,
                port.dtype,
                port.shape,
                path.display()
            ))
            .in_file(path));
        }
        let (t, stored) = read_npy_stored(path)?;
        let bad = t.count_non_finite();
        if bad > 0 && port.quant.is_some() && port.dtype != t.dtype() {
            return Err(Error::new(format!(
                "{bad} of {} values are NaN or infinite: they have no quantized code for \
                 input '{}'",
                t.len(),
                port.name
            ))
            .in_file(path));
        }
        if bad > 0 {
            crate::diagnostics::warn(&format!(
                "{}: {bad} of {} values are NaN or infinite; outputs computed from them are not meaningful",
                path.display(),
                t.len()
            ));
        }
        let (t, note) = conform(t, stored, port, k).map_err(|e| e.in_file(path))?;
        if let Some(note) = note {
            out.notes.push(format!("{}: {note}", path.display()));
        }
        out.tensors.push(t);
    }
    Ok(out)
}

/// `t` (stored as numpy's `stored`) as port `k` takes it.
fn conform(t: Tensor, stored: &str, port: &Port, k: usize) -> Result<(Tensor, Option<String>)> {
    let float = t.dtype() == DType::F32;
    match (port.dtype, port.quant) {
        (want, _) if want == t.dtype() => {
            let note = (stored == "float64").then(|| "float64 values rounded to float32".into());
            Ok((t, note))
        }
        (DType::I8 | DType::U8 | DType::I16, Some((scale, zero_point))) if float => {
            let q = quantize(&t, port.dtype, scale, zero_point)?;
            let note = format!(
                "{stored} values quantized to {} for input '{}' (scale {scale}, zero point \
                 {zero_point})",
                port.dtype, port.name
            );
            Ok((q, Some(note)))
        }
        _ => Err(Error::new(format!(
            "holds {stored} values; input {k} ('{}') takes {}{:?}{}",
            port.name,
            port.dtype,
            port.shape,
            match port.quant {
                Some((s, z)) => format!(
                    " (quantized with scale {s} and zero point {z}: give {} codes, or float \
                     values to quantize)",
                    port.dtype
                ),
                None => String::new(),
            }
        ))),
    }
}

/// Float values quantized to `dtype` codes.
fn quantize(t: &Tensor, dtype: DType, scale: f32, zero_point: i64) -> Result<Tensor> {
    let x = t.as_f32().expect("a float tensor");
    if !(scale.is_finite() && scale > 0.0) {
        return Err(Error::new(format!(
            "the input's scale {scale} is not positive"
        )));
    }
    let (lo, hi) = code_range(dtype);
    let code = |v: f32| ((v / scale).round() as i64 + zero_point).clamp(lo, hi);
    Ok(match dtype {
        DType::I8 => Tensor::I8(x.mapv(|v| code(v) as i8)),
        DType::U8 => Tensor::U8(x.mapv(|v| code(v) as u8)),
        _ => Tensor::I16(x.mapv(|v| code(v) as i16)),
    })
}

/// The codes of an integer type of a quantized input.
fn code_range(dtype: DType) -> (i64, i64) {
    match dtype {
        DType::I8 => (-128, 127),
        DType::U8 => (0, 255),
        _ => (-32768, 32767),
    }
}

/// Random inputs of the ports' shapes and types from `seed`: every code of a quantized
/// input equally likely (uniform over its real range), float inputs uniform in [-1, 1),
/// booleans fair coins, and zeros for other inputs (integers are usually indices, whose
/// valid range the model does not say). Returns the inputs and one note per input.
pub fn random_inputs(ports: &[Port], seed: u64) -> Inputs {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut out = Inputs {
        tensors: Vec::new(),
        notes: Vec::new(),
    };
    for p in ports {
        let (t, note) = random_tensor(p, seed, &mut rng);
        out.tensors.push(t);
        out.notes.push(note);
    }
    out
}

/// Random inputs for two models given the same data (`nnopt compare`): per input, drawn
/// as [`random_inputs`] does for the model whose input is quantized (else for `a`), then
/// converted to the other model's type ([`convert`]), so both see the same real values.
pub fn random_pair(a: &[Port], b: &[Port], seed: u64) -> Result<(Inputs, Inputs)> {
    same_arity(a, b)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (mut ins_a, mut ins_b) = (Vec::new(), Vec::new());
    let mut notes = Vec::new();
    for (pa, pb) in a.iter().zip(b) {
        let b_first = pa.quant.is_none() && pb.quant.is_some();
        let (first, second) = if b_first { (pb, pa) } else { (pa, pb) };
        let (t, note) = random_tensor(first, seed, &mut rng);
        let other = convert(&t, first, second)?;
        notes.push(note);
        let (ta, tb) = if b_first { (other, t) } else { (t, other) };
        ins_a.push(ta);
        ins_b.push(tb);
    }
    let inputs = |tensors| Inputs {
        tensors,
        notes: notes.clone(),
    };
    Ok((inputs(ins_a), inputs(ins_b)))
}

/// Checks that two models take the same number of inputs.
pub fn same_arity(a: &[Port], b: &[Port]) -> Result<()> {
    if a.len() != b.len() {
        return Err(Error::new(format!(
            "the models take different numbers of inputs ({} and {})",
            a.len(),
            b.len()
        )));
    }
    Ok(())
}

/// `t`, an input for port `from`, as port `to` takes it: quantized codes are dequantized
/// with `from`'s parameters and requantized with `to`'s, float values quantized or kept.
/// The two ports must have the same shape.
pub fn convert(t: &Tensor, from: &Port, to: &Port) -> Result<Tensor> {
    if from.shape != to.shape {
        return Err(Error::new(format!(
            "input '{}' is {:?} in one model and '{}' is {:?} in the other",
            from.name, from.shape, to.name, to.shape
        )));
    }
    if from.dtype == to.dtype && from.quant == to.quant {
        return Ok(t.clone());
    }
    let real: Vec<f64> = match from.quant {
        Some(q) => real_values(t, Some(q)),
        None if t.dtype() == DType::F32 => t.to_f64_vec(),
        None => {
            return Err(Error::new(format!(
                "input '{}' is {} in one model and '{}' is {} in the other",
                from.name, from.dtype, to.name, to.dtype
            )))
        }
    };
    let float = Tensor::from_f64s(DType::F32, &to.shape, &real).expect("sizes match");
    match (to.dtype, to.quant) {
        (DType::F32, _) => Ok(float),
        (DType::I8 | DType::U8 | DType::I16, Some((scale, zero_point))) => {
            quantize(&float, to.dtype, scale, zero_point)
        }
        _ => Err(Error::new(format!(
            "input '{}' is {} in one model and '{}' is {} in the other",
            from.name, from.dtype, to.name, to.dtype
        ))),
    }
}

/// A random tensor for port `p` and the note that says how it was drawn.
fn random_tensor(p: &Port, seed: u64, rng: &mut Xoshiro256PlusPlus) -> (Tensor, String) {
    let n: usize = p.shape.iter().product();
    let (values, how): (Vec<f64>, String) = match (p.dtype, p.quant) {
        (DType::I8 | DType::U8 | DType::I16, Some((scale, zero_point))) => {
            let (lo, hi) = code_range(p.dtype);
            let real = |c: i64| scale as f64 * (c - zero_point) as f64;
            let how = format!(
                "every code, real values in [{:.4}, {:.4}]",
                real(lo),
                real(hi)
            );
            let codes = (0..n).map(|_| rng.random_range(lo..=hi) as f64).collect();
            (codes, how)
        }
        (DType::F32, _) => {
            let v = (0..n)
                .map(|_| rng.random_range(-1.0f32..1.0) as f64)
                .collect();
            (v, "uniform in [-1, 1)".into())
        }
        (DType::Bool, _) => {
            let v = (0..n)
                .map(|_| f64::from(u8::from(rng.random_bool(0.5))))
                .collect();
            (v, "fair coins".into())
        }
        _ => (vec![0.0; n], "zeros".into()),
    };
    let t = Tensor::from_f64s(p.dtype, &p.shape, &values)
        .unwrap_or_else(|| Tensor::zeros(p.dtype, &p.shape));
    let note = format!(
        "random input '{}' {}{:?} (seed {seed}): {how}",
        p.name, p.dtype, p.shape
    );
    (t, note)
}
