//! Helpers shared by the ONNX test harnesses: test data location, .npy and TensorProto
//! loading, and error metrics.
#![allow(dead_code, unused_imports)] // each test binary uses a subset

pub mod litert;

#[path = "../../../compiler/tests/common/mod.rs"]
mod data;

pub use data::{read_npy, testdata};

use nnopt_compiler::ir::Tensor;

/// Reads a serialized ONNX TensorProto (.pb) with tract's protobuf types: (name, data).
pub fn read_pb(path: &std::path::Path) -> Result<(String, Tensor), String> {
    use prost::Message;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let proto = tract_onnx::pb::TensorProto::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
    let t = nnopt_formats::onnx::tensor_from_proto(&proto).map_err(|e| e.to_string())?;
    Ok((proto.name, t))
}

/// Max |a - b| over all elements, or `None` when the shapes differ.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> Option<f64> {
    if a.shape() != b.shape() {
        return None;
    }
    let (x, y) = (a.to_f64_vec(), b.to_f64_vec());
    Some(x.iter().zip(&y).fold(0.0f64, |m, (p, q)| {
        if p == q || (p.is_nan() && q.is_nan()) {
            m
        } else {
            m.max((p - q).abs())
        }
    }))
}

/// Relative error `max|a - b| / max(max|b|, 1e-6)`, or `None` on a shape mismatch.
pub fn rel_err(a: &Tensor, reference: &Tensor) -> Option<f64> {
    let d = max_abs_diff(a, reference)?;
    let scale = reference
        .to_f64_vec()
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    Some(d / scale.max(1e-6))
}

/// numpy's `allclose`: `|a - b| <= atol + rtol * |b|` elementwise (NaN equals NaN).
/// Returns the worst offending element as an error.
pub fn allclose(a: &Tensor, b: &Tensor, rtol: f64, atol: f64) -> Result<(), String> {
    if a.shape() != b.shape() {
        return Err(format!("shape {:?} != expected {:?}", a.shape(), b.shape()));
    }
    if a.dtype() != b.dtype() {
        return Err(format!("dtype {} != expected {}", a.dtype(), b.dtype()));
    }
    let (x, y) = (a.to_f64_vec(), b.to_f64_vec());
    let mut worst: Option<(usize, f64)> = None;
    for (i, (p, q)) in x.iter().zip(&y).enumerate() {
        let ok = p == q || (p.is_nan() && q.is_nan()) || (p - q).abs() <= atol + rtol * q.abs();
        if !ok {
            let d = (p - q).abs();
            if worst.is_none_or(|(_, w)| d > w || d.is_nan()) {
                worst = Some((i, d));
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((i, d)) => Err(format!(
            "element {i}: got {} expected {} (|diff| {d:.3e})",
            x[i], y[i]
        )),
    }
}
