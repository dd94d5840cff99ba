//! Conversions between Python values and nnopt's: errors, precisions, encodings and f32
//! tensors as numpy arrays.

use crate::NnoptError;
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::fp8::Fp8Format;
use nnopt_compiler::ir::Tensor;
use nnopt_passes::TrainPrecision;
use nnopt_train::message::Encoding;
use nnopt_train::TrainingProgram;
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// An nnopt error as a Python `nnopt.Error`.
pub fn err(e: nnopt_compiler::Error) -> PyErr {
    NnoptError::new_err(e.to_string())
}

/// `"fp8"` or `"fp32"`; `None` is `default`.
pub fn precision(name: Option<&str>, default: TrainPrecision) -> PyResult<TrainPrecision> {
    match name {
        None => Ok(default),
        Some("fp8") => Ok(TrainPrecision::Fp8),
        Some("fp32") => Ok(TrainPrecision::Fp32),
        Some(other) => Err(PyValueError::new_err(format!(
            "precision '{other}' is not fp8 or fp32"
        ))),
    }
}

/// The message encoding of a precision name (`fp8`: E4M3 with per-tensor scales).
pub fn encoding(name: &str) -> PyResult<Encoding> {
    match name {
        "fp8" => Ok(Encoding::Fp8(Fp8Format::E4M3)),
        "fp32" => Ok(Encoding::F32),
        other => Err(PyValueError::new_err(format!(
            "encoding '{other}' is not fp8 or fp32"
        ))),
    }
}

/// f32 tensors as numpy arrays (copies).
pub fn to_numpy<'py>(py: Python<'py>, ts: &[Tensor]) -> PyResult<Vec<Bound<'py, PyArrayDyn<f32>>>> {
    ts.iter()
        .map(|t| match t {
            Tensor::F32(a) => Ok(a.clone().into_pyarray(py)),
            _ => Err(NnoptError::new_err("a parameter is not f32")),
        })
        .collect()
}

/// numpy arrays as f32 tensors of `program`'s parameter shapes.
pub fn params_from_numpy(
    program: &TrainingProgram,
    arrays: Vec<PyReadonlyArrayDyn<'_, f32>>,
) -> PyResult<Vec<Tensor>> {
    if arrays.len() != program.params.len() {
        return Err(PyValueError::new_err(format!(
            "{} arrays for a program of {} parameters",
            arrays.len(),
            program.params.len()
        )));
    }
    arrays
        .iter()
        .zip(&program.params)
        .map(|(a, p)| {
            if a.shape() != p.shape.as_slice() {
                return Err(PyValueError::new_err(format!(
                    "parameter '{}' is {:?}, the array {:?}",
                    p.name,
                    p.shape,
                    a.shape()
                )));
            }
            let v: ArrayD<f32> = a.as_array().to_owned();
            Ok(Tensor::F32(
                v.into_shape_with_order(IxDyn(&p.shape))
                    .expect("same shape"),
            ))
        })
        .collect()
}

/// A readonly numpy array's elements in row-major order.
pub fn values<T: numpy::Element + Copy>(a: &PyReadonlyArrayDyn<'_, T>) -> Vec<T> {
    a.as_array().iter().copied().collect()
}
