//! Reading and writing tensors as `.npy` files. Reading parses and checks the format
//! itself (versions 1.0–3.0): the header, the element type and the data length against
//! the shape, before anything is allocated, so each kind of damage gets its own message.
//! Writing goes through `ndarray-npy`.

use crate::output::write_atomically;
use half::f16;
use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use ndarray_npy::WriteNpyExt;
use nnopt_compiler::ir::Tensor;
use nnopt_compiler::limits::shape_elements;
use nnopt_compiler::{Error, Result};
use std::path::Path;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Element types read, as numpy's little-endian `descr` codes.
const SUPPORTED: &str = "f2, f4, f8, i1, u1, i2, i4, i8, b1 (little-endian)";

/// Reads a `.npy` file of f16, f32, f64, i8, u8, i16, i32, i64 or bool values (f16 and
/// f64 values become f32).
pub fn read_npy(path: &Path) -> Result<Tensor> {
    Ok(read_npy_stored(path)?.0)
}

/// Like [`read_npy`], and names the element type the file stores (numpy's name:
/// `float64` for a file whose values became f32).
pub fn read_npy_stored(path: &Path) -> Result<(Tensor, &'static str)> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::new(format!("cannot read: {e}")).in_file(path))?;
    parse_npy(&bytes).map_err(|e| e.in_file(path))
}

/// Parses `.npy` bytes: the tensor and numpy's name of the stored element type.
pub fn parse_npy(bytes: &[u8]) -> Result<(Tensor, &'static str)> {
    let header = Header::parse(bytes)?;
    let element = Element::from_descr(&header.descr)?;
    let what = format!("an array of shape {:?}", header.shape);
    let n = shape_elements(&header.shape, element.size(), &what)?;
    let data = &bytes[header.data_offset..];
    let need = n * element.size();
    if data.len() < need {
        return Err(Error::new(format!(
            "truncated .npy file: shape {:?} of '{}' needs {need} data bytes, the file has {}",
            header.shape,
            header.descr,
            data.len()
        )));
    }
    if data.len() > need {
        return Err(Error::new(format!(
            ".npy file has {} bytes of trailing data after its {need}-byte array",
            data.len() - need
        )));
    }
    let shape = IxDyn(&header.shape).set_f(header.fortran_order);
    let tensor = element.tensor(shape, data);
    Ok((tensor, element.numpy_name()))
}

/// The parsed header of a `.npy` file.
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
    /// Where the array data starts.
    data_offset: usize,
}

impl Header {
    fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < 10 {
            return Err(Error::new(format!(
                "truncated .npy file: {} bytes, shorter than the 10-byte preamble",
                bytes.len()
            )));
        }
        if &bytes[..6] != MAGIC {
            return Err(Error::new(
                "not a .npy file: it does not start with \"\\x93NUMPY\"",
            ));
        }
        let (major, minor) = (bytes[6], bytes[7]);
        let (len, start): (usize, usize) = match major {
            1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
            2 | 3 if bytes.len() >= 12 => {
                let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
                (len as usize, 12)
            }
            2 | 3 => return Err(Error::new("truncated .npy file: the preamble is cut off")),
            _ => {
                return Err(Error::new(format!(
                    "unsupported .npy format version {major}.{minor} (nnopt reads 1.0, 2.0 and 3.0)"
                )))
            }
        };
        let end = start
            .checked_add(len)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                Error::new(format!(
                    "truncated .npy file: the header claims {len} bytes, {} follow the preamble",
                    bytes.len() - start
                ))
            })?;
        let text = std::str::from_utf8(&bytes[start..end])
            .map_err(|_| bad_header("it is not text".into()))?;
        let mut header = parse_dict(text)?;
        header.data_offset = end;
        Ok(header)
    }
}

fn bad_header(why: String) -> Error {
    Error::new(format!("bad .npy header: {why}"))
}

/// Parses numpy's header dict, e.g.
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 8), }`.
fn parse_dict(text: &str) -> Result<Header> {
    let body = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| bad_header(format!("expected a {{...}} dict, found {:?}", text.trim())))?;
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let (key, after) =
            quoted(rest).ok_or_else(|| bad_header(format!("bad key in {text:?}")))?;
        let after = after
            .trim_start()
            .strip_prefix(':')
            .ok_or_else(|| bad_header(format!("no ':' after '{key}'")))?
            .trim_start();
        rest = match key {
            "descr" => {
                let (v, after) =
                    quoted(after).ok_or_else(|| bad_header("descr is not a string".into()))?;
                descr = Some(v.to_string());
                after
            }
            "fortran_order" => {
                let (v, after) = if let Some(a) = after.strip_prefix("True") {
                    (true, a)
                } else if let Some(a) = after.strip_prefix("False") {
                    (false, a)
                } else {
                    return Err(bad_header("fortran_order is not True or False".into()));
                };
                fortran_order = Some(v);
                after
            }
            "shape" => {
                let (v, after) = tuple(after)?;
                shape = Some(v);
                after
            }
            other => return Err(bad_header(format!("unknown key '{other}'"))),
        };
        rest = rest.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    let missing = |k: &str| bad_header(format!("no '{k}'"));
    Ok(Header {
        descr: descr.ok_or_else(|| missing("descr"))?,
        fortran_order: fortran_order.ok_or_else(|| missing("fortran_order"))?,
        shape: shape.ok_or_else(|| missing("shape"))?,
        data_offset: 0,
    })
}

/// A `'...'` or `"..."` string at the start of `s`, and what follows it.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let q = s.chars().next().filter(|&c| c == '\'' || c == '"')?;
    let end = s[1..].find(q)? + 1;
    Some((&s[1..end], &s[end + 1..]))
}

/// A tuple of dimensions `(a, b, )` at the start of `s`, and what follows it.
fn tuple(s: &str) -> Result<(Vec<usize>, &str)> {
    let inner = s
        .strip_prefix('(')
        .ok_or_else(|| bad_header("shape is not a tuple".into()))?;
    let end = inner
        .find(')')
        .ok_or_else(|| bad_header("shape tuple is not closed".into()))?;
    let dims = inner[..end]
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| bad_header(format!("shape entry '{d}' is not a dimension")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((dims, &inner[end + 1..]))
}

/// An element type nnopt reads.
#[derive(Clone, Copy)]
enum Element {
    F16,
    F32,
    F64,
    I8,
    U8,
    I16,
    I32,
    I64,
    Bool,
}

impl Element {
    fn from_descr(descr: &str) -> Result<Self> {
        // `|` (not applicable) or `<` (little-endian); `=` is native, little-endian here.
        let code = descr
            .strip_prefix(['<', '|', '='])
            .filter(|_| cfg!(target_endian = "little") || !descr.starts_with('='));
        Ok(match code {
            Some("f2") => Element::F16,
            Some("f4") => Element::F32,
            Some("f8") => Element::F64,
            Some("i1") => Element::I8,
            Some("u1") => Element::U8,
            Some("i2") => Element::I16,
            Some("i4") => Element::I32,
            Some("i8") => Element::I64,
            Some("b1") => Element::Bool,
            _ => {
                return Err(Error::new(format!(
                    "unsupported .npy element type '{descr}' (nnopt reads {SUPPORTED})"
                )))
            }
        })
    }

    fn size(self) -> usize {
        match self {
            Element::I8 | Element::U8 | Element::Bool => 1,
            Element::F16 | Element::I16 => 2,
            Element::F32 | Element::I32 => 4,
            Element::F64 | Element::I64 => 8,
        }
    }

    fn numpy_name(self) -> &'static str {
        match self {
            Element::F16 => "float16",
            Element::F32 => "float32",
            Element::F64 => "float64",
            Element::I8 => "int8",
            Element::U8 => "uint8",
            Element::I16 => "int16",
            Element::I32 => "int32",
            Element::I64 => "int64",
            Element::Bool => "bool",
        }
    }

    /// The tensor of `data` (exactly the shape's bytes) in `shape`'s memory order.
    fn tensor(self, shape: ndarray::Shape<IxDyn>, data: &[u8]) -> Tensor {
        fn values<T, const N: usize>(data: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
            data.chunks_exact(N)
                .map(|c| f(c.try_into().expect("chunks of N bytes")))
                .collect()
        }
        fn array<T>(shape: ndarray::Shape<IxDyn>, v: Vec<T>) -> ArrayD<T> {
            ArrayD::from_shape_vec(shape, v).expect("the data length was checked")
        }
        match self {
            Element::F16 => Tensor::F32(array(
                shape,
                values(data, |b| f16::from_le_bytes(b).to_f32()),
            )),
            Element::F32 => Tensor::F32(array(shape, values(data, f32::from_le_bytes))),
            Element::F64 => {
                Tensor::F32(array(shape, values(data, |b| f64::from_le_bytes(b) as f32)))
            }
            Element::I8 => Tensor::I8(array(shape, values(data, i8::from_le_bytes))),
            Element::U8 => Tensor::U8(array(shape, data.to_vec())),
            Element::I16 => Tensor::I16(array(shape, values(data, i16::from_le_bytes))),
            Element::I32 => Tensor::I32(array(shape, values(data, i32::from_le_bytes))),
            Element::I64 => Tensor::I64(array(shape, values(data, i64::from_le_bytes))),
            Element::Bool => Tensor::Bool(array(shape, data.iter().map(|&b| b != 0).collect())),
        }
    }
}

/// Serializes a tensor in `.npy` format. FP8 and FP4 tensors are written as their raw
/// bits (u8), 4- and 2-bit integers as i8 or u8, half and bfloat16 tensors as f32.
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
        Tensor::F16(a) => a.mapv(f32::from).write_npy(&mut out),
        Tensor::Bf16(a) => a.mapv(f32::from).write_npy(&mut out),
        Tensor::F64(a) => a.write_npy(&mut out),
        Tensor::U16(a) => a.write_npy(&mut out),
        Tensor::U32(a) => a.write_npy(&mut out),
        Tensor::U64(a) => a.write_npy(&mut out),
        Tensor::I4(a) | Tensor::I2(a) => a.write_npy(&mut out),
        Tensor::U4(a)
        | Tensor::U2(a)
        | Tensor::F4E2M1(a)
        | Tensor::F8E4M3Fnuz(a)
        | Tensor::F8E5M2Fnuz(a)
        | Tensor::F8E8M0(a) => a.write_npy(&mut out),
    };
    r.map_err(|e| Error::new(format!("cannot encode .npy: {e}")))?;
    Ok(out)
}

/// Writes a tensor to a `.npy` file atomically.
pub fn write_npy(path: &Path, t: &Tensor) -> Result<()> {
    write_atomically(path, &npy_bytes(t)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.npy` file of version `major` with header `dict` and `data`.
    fn file(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend([major, 0]);
        match major {
            1 => out.extend((dict.len() as u16).to_le_bytes()),
            _ => out.extend((dict.len() as u32).to_le_bytes()),
        }
        out.extend(dict.as_bytes());
        out.extend(data);
        out
    }

    fn err(bytes: &[u8]) -> String {
        parse_npy(bytes).unwrap_err().to_string()
    }

    #[test]
    fn reads_what_it_writes_in_every_type() {
        let f = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.5; 6]).unwrap());
        let i = Tensor::I8(ArrayD::from_shape_vec(IxDyn(&[3]), vec![-1, 0, 7]).unwrap());
        let b = Tensor::Bool(ArrayD::from_shape_vec(IxDyn(&[]), vec![true]).unwrap());
        for t in [f, i, b] {
            assert_eq!(parse_npy(&npy_bytes(&t).unwrap()).unwrap().0, t);
        }
    }

    #[test]
    fn converts_f16_and_f64_and_fortran_order() {
        let half: Vec<u8> = [1.0f32, -2.5]
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect();
        let dict = "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }";
        let (t, name) = parse_npy(&file(1, dict, &half)).unwrap();
        assert_eq!((t.to_f64_vec(), name), (vec![1.0, -2.5], "float16"));
        // Fortran order: the column-major bytes of [[0, 1, 2], [3, 4, 5]].
        let dict = "{'descr': '|i1', 'fortran_order': True, 'shape': (2, 3), }";
        let (t, _) = parse_npy(&file(3, dict, &[0, 3, 1, 4, 2, 5])).unwrap();
        assert_eq!(t.to_f64_vec(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn each_kind_of_damage_has_its_message() {
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
        let good = file(1, dict, &[0; 8]);
        assert!(err(&[]).contains("shorter than the 10-byte preamble"));
        assert!(err(&good[..20]).contains("the header claims"));
        assert!(err(&good[..good.len() - 1]).contains("needs 8 data bytes, the file has 7"));
        assert!(err(&[&good[..], &[0, 0]].concat()).contains("2 bytes of trailing data"));
        assert!(err(b"GIF89a....").contains("not a .npy file"));
        let mut v9 = good.clone();
        v9[6] = 9;
        assert!(err(&v9).contains("unsupported .npy format version 9.0"));
        assert!(err(&file(
            1,
            "{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}",
            &[0; 8]
        ))
        .contains("unsupported .npy element type '<c8'"));
        assert!(err(&file(
            1,
            "{'descr': '>f4', 'fortran_order': False, 'shape': (1,)}",
            &[0; 4]
        ))
        .contains("unsupported .npy element type '>f4'"));
        assert!(err(&file(1, "garbage", &[])).contains("bad .npy header"));
        assert!(err(&file(1, "{'descr': '<f4', 'shape': (1,)}", &[0; 4]))
            .contains("no 'fortran_order'"));
        assert!(err(&file(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (x,)}",
            &[]
        ))
        .contains("'x' is not a dimension"));
    }

    #[test]
    fn huge_shapes_and_header_lengths_are_errors_without_allocating() {
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648, 8, 8, 1), }";
        assert!(err(&file(1, dict, &[0; 256])).contains("too large"));
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 100), }";
        assert!(err(&file(1, dict, &[0; 256])).contains("truncated"));
        let dict =
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }";
        assert!(err(&file(1, dict, &[])).contains("not a dimension"));
        let mut v2 = MAGIC.to_vec();
        v2.extend([2, 0]);
        v2.extend(0xFFFF_FFF0u32.to_le_bytes());
        v2.extend(b"{}");
        assert!(err(&v2).contains("the header claims 4294967280 bytes"));
    }
}
