//! Reading and writing tensors as `.npy` files (via `ndarray-npy`).

use crate::output::write_atomically;
use ndarray::ArrayD;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use nnopt_compiler::ir::Tensor;
use nnopt_compiler::{Error, Result};
use std::path::Path;

/// Reads a `.npy` file of f32, i8, u8, i16, i32, i64 or bool values (f64 values become
/// f32).
pub fn read_npy(path: &Path) -> Result<Tensor> {
    Ok(read_npy_stored(path)?.0)
}

/// Like [`read_npy`], and names the element type the file stores (numpy's name:
/// `float64` for a file whose values became f32).
pub fn read_npy_stored(path: &Path) -> Result<(Tensor, &'static str)> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::new(format!("cannot read: {e}")).in_file(path))?;
    let fail = |e: String| Error::new(format!("not a supported .npy file: {e}")).in_file(path);
    macro_rules! attempt {
        ($t:ty, $variant:ident, $name:literal) => {
            if let Ok(a) = ArrayD::<$t>::read_npy(&bytes[..]) {
                return Ok((Tensor::$variant(a), $name));
            }
        };
    }
    attempt!(f32, F32, "float32");
    attempt!(i8, I8, "int8");
    attempt!(u8, U8, "uint8");
    attempt!(i16, I16, "int16");
    attempt!(i32, I32, "int32");
    attempt!(i64, I64, "int64");
    attempt!(bool, Bool, "bool");
    if let Ok(a) = ArrayD::<f64>::read_npy(&bytes[..]) {
        return Ok((Tensor::F32(a.mapv(|v| v as f32)), "float64"));
    }
    Err(fail(
        "expected a little-endian array of f32, f64, i8, u8, i16, i32, i64 or bool".into(),
    ))
}

/// Serializes a tensor in `.npy` format. FP8 tensors are written as their raw bits (u8).
pub fn npy_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let mut out = vec![];
    let r = match t {
        Tensor::F32(a) => a.write_npy(&mut out),
        Tensor::I8(a) => a.write_npy(&mut out),
        Tensor::U8(a) | Tensor::F8E4M3(a) | Tensor::F8E5M2(a) => a.write_npy(&mut out),
        Tensor::I16(a) => a.write_npy(&mut out),
        Tensor::I32(a) => a.write_npy(&mut out),
        Tensor::I64(a) => a.write_npy(&mut out),
        Tensor::Bool(a) => a.write_npy(&mut out),
    };
    r.map_err(|e| Error::new(format!("cannot encode .npy: {e}")))?;
    Ok(out)
}

/// Writes a tensor to a `.npy` file atomically.
pub fn write_npy(path: &Path, t: &Tensor) -> Result<()> {
    write_atomically(path, &npy_bytes(t)?)
}
