//! Test data location and .npy loading (also the base of `formats/tests/common`).

use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::ir::Tensor;
use std::path::PathBuf;

/// `$NNOPT_TESTDATA`, else `<repo>/testdata`, joined with `sub`. Returns `None` (after a
/// notice) when missing locally; panics when missing under CI.
pub fn testdata(sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("NNOPT_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata"));
    let dir = root.join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "test data {} is missing (run tools/make_testdata.py)",
            dir.display()
        );
    }
    eprintln!(
        "notice: {} is missing; skipping (run tools/make_testdata.py)",
        dir.display()
    );
    None
}

/// Reads a little-endian, C-order .npy file (f32, f64 as f32, i64, i32, i16, u8, i8, bool).
pub fn read_npy(path: &std::path::Path) -> Tensor {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &bytes[..6],
        b"\x93NUMPY",
        "{}: not a .npy file",
        path.display()
    );
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).unwrap();
    let data = &bytes[start + hlen..];
    let field = |key: &str| {
        let i = header
            .find(key)
            .unwrap_or_else(|| panic!("{header}: no {key}"))
            + key.len();
        header[i..].trim_start_matches([':', ' ']).to_string()
    };
    assert!(
        field("'fortran_order'").starts_with("False"),
        "{}: Fortran order",
        path.display()
    );
    let descr = field("'descr'");
    let descr = descr
        .trim_start_matches('\'')
        .split('\'')
        .next()
        .unwrap()
        .to_string();
    let shape_s = field("'shape'");
    let shape: Vec<usize> = shape_s[1..shape_s.find(')').unwrap()]
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let s = IxDyn(&shape);
    macro_rules! le {
        ($t:ty, $n:literal) => {
            data.chunks_exact($n)
                .map(|c| <$t>::from_le_bytes(c.try_into().unwrap()))
                .collect::<Vec<$t>>()
        };
    }
    match descr.as_str() {
        "<f4" => Tensor::F32(ArrayD::from_shape_vec(s, le!(f32, 4)).unwrap()),
        "<f8" => Tensor::F32(
            ArrayD::from_shape_vec(s, le!(f64, 8).into_iter().map(|x| x as f32).collect()).unwrap(),
        ),
        "<i8" => Tensor::I64(ArrayD::from_shape_vec(s, le!(i64, 8)).unwrap()),
        "<i4" => Tensor::I32(ArrayD::from_shape_vec(s, le!(i32, 4)).unwrap()),
        "<i2" => Tensor::I16(ArrayD::from_shape_vec(s, le!(i16, 2)).unwrap()),
        "|u1" => Tensor::U8(ArrayD::from_shape_vec(s, data.to_vec()).unwrap()),
        "|i1" => {
            Tensor::I8(ArrayD::from_shape_vec(s, data.iter().map(|&b| b as i8).collect()).unwrap())
        }
        "|b1" => {
            Tensor::Bool(ArrayD::from_shape_vec(s, data.iter().map(|&b| b != 0).collect()).unwrap())
        }
        d => panic!("{}: unsupported dtype {d}", path.display()),
    }
}
