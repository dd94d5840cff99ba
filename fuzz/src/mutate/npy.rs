//! `.npy` edits: the header dict's shape (huge, negative or many entries, or nested
//! thousands deep), its dtype and memory order, the format version, the header length
//! field, and the data after the header.

use super::bytes::interesting_u32;
use super::Rng;
use rand::RngExt;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Shape entries that overflow element counts and sizes.
const DIMS: [&str; 11] = [
    "2147483648",
    "4294967296",
    "4294967297",
    "1099511627776",
    "4611686018427387904",
    "9223372036854775808",
    "18446744073709551616",
    "1000000000000000000000000000000",
    "-1",
    "0",
    "3",
];

/// Element types, numpy's spellings: other widths and byte orders, complex, objects,
/// strings, datetimes, and nonsense.
const DESCRS: [&str; 20] = [
    "<f4", "<f8", "<f2", ">f4", "|i1", "|u1", "<i2", "<i4", "<i8", "<u2", "<u4", "<u8", "|b1",
    "<c8", "|O", "<U8", "|V8", "<M8[s]", "<f16", "x",
];

/// A parsed file: version, header dict text, data.
struct Npy {
    major: u8,
    minor: u8,
    header: String,
    data: Vec<u8>,
}

/// One edit of the `.npy` file `file`; `None` if it does not parse.
pub fn edit(file: &[u8], rng: &mut Rng) -> Option<Vec<u8>> {
    let mut npy = parse(file)?;
    match rng.random_range(0..9) {
        0..=2 => {
            let shape = shape(rng);
            replace_value(&mut npy.header, "'shape':", '(', ')', &shape);
        }
        3 => {
            let descr = format!("'{}'", DESCRS[rng.random_range(0..DESCRS.len())]);
            replace_value(&mut npy.header, "'descr':", '\'', '\'', &descr);
        }
        4 => {
            let order = ["True", "False", "1", "None"][rng.random_range(0..4)];
            let header = npy.header.replace("False", order).replace("True", order);
            npy.header = header;
        }
        5 => npy.major = [1, 2, 3][rng.random_range(0..3)],
        6 => {
            let mut out = encode(&npy);
            out[6] = [0, 4, 9, 255][rng.random_range(0..4)];
            return Some(out);
        }
        7 => {
            let mut out = encode(&npy);
            let v = interesting_u32(rng).to_le_bytes();
            let width = if npy.major >= 2 { 4 } else { 2 };
            out[8..8 + width].copy_from_slice(&v[..width]);
            return Some(out);
        }
        _ => match rng.random_bool(0.5) {
            true => npy.data.truncate(rng.random_range(0..=npy.data.len())),
            false => {
                let more = rng.random_range(1..=4096);
                npy.data.extend((0..more).map(|_| rng.random::<u8>()));
            }
        },
    }
    Some(encode(&npy))
}

/// A shape tuple: one huge entry, many entries, none, or nested thousands deep.
fn shape(rng: &mut Rng) -> String {
    match rng.random_range(0..6) {
        0..=2 => format!("({}, 2)", DIMS[rng.random_range(0..DIMS.len())]),
        3 => format!("({})", "2, ".repeat(rng.random_range(33..=200))),
        4 => "()".into(),
        _ => {
            let depth = [100, 1000, 10_000][rng.random_range(0..3)];
            format!("{}1,{}", "(".repeat(depth), ")".repeat(depth))
        }
    }
}

/// Replaces the value after `key` in the dict text, from its `open` to its `close`
/// character, with `value`.
fn replace_value(header: &mut String, key: &str, open: char, close: char, value: &str) {
    let Some(k) = header.find(key) else { return };
    let Some(start) = header[k + key.len()..]
        .find(open)
        .map(|i| k + key.len() + i)
    else {
        return;
    };
    let Some(end) = header[start + 1..].find(close).map(|i| start + 1 + i) else {
        return;
    };
    header.replace_range(start..=end, value);
}

fn parse(file: &[u8]) -> Option<Npy> {
    if !file.starts_with(MAGIC) || file.len() < 10 {
        return None;
    }
    let (major, minor) = (file[6], file[7]);
    let (len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([file[8], file[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes(file.get(8..12)?.try_into().ok()?) as usize,
            12,
        ),
    };
    let header = file.get(start..start.checked_add(len)?)?;
    Some(Npy {
        major,
        minor,
        header: String::from_utf8_lossy(header).trim_end().to_string(),
        data: file[start + len..].to_vec(),
    })
}

/// The file with the header padded to a multiple of 64 bytes, as numpy writes it.
fn encode(npy: &Npy) -> Vec<u8> {
    let prefix = if npy.major >= 2 { 12 } else { 10 };
    let mut header = npy.header.clone().into_bytes();
    let padded = (prefix + header.len() + 1).div_ceil(64) * 64;
    header.resize(padded - prefix - 1, b' ');
    header.push(b'\n');
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[npy.major, npy.minor]);
    match prefix {
        10 => out.extend_from_slice(&(header.len() as u16).to_le_bytes()),
        _ => out.extend_from_slice(&(header.len() as u32).to_le_bytes()),
    }
    out.extend_from_slice(&header);
    out.extend_from_slice(&npy.data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnopt::compiler::ir::Tensor;

    #[test]
    fn parse_and_encode_round_trip() {
        let t = Tensor::zeros(nnopt::compiler::ir::DType::F32, &[2, 3]);
        let file = nnopt::npy::npy_bytes(&t).unwrap();
        assert_eq!(encode(&parse(&file).unwrap()), file);
    }
}
