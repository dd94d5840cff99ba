//! Protobuf edits (ONNX): the message is parsed into fields (length-delimited fields
//! that parse as messages become nested messages), a varint is set to a huge, zero or
//! off-by-one value or a field is deleted or duplicated, and the message is written back
//! with every enclosing length recomputed, so the edit reaches the importer.

use super::Rng;
use rand::RngExt;

/// Nesting deeper than this is kept as bytes.
const MAX_DEPTH: usize = 32;

/// One field's value by wire type.
#[derive(Clone)]
enum Value {
    Varint(u64),
    Fixed64([u8; 8]),
    Fixed32([u8; 4]),
    Bytes(Vec<u8>),
    Message(Vec<Field>),
}

#[derive(Clone)]
struct Field {
    number: u64,
    value: Value,
}

/// One structural edit of the protobuf message `data`; `None` if it does not parse.
pub fn edit(data: &[u8], rng: &mut Rng) -> Option<Vec<u8>> {
    let mut root = parse(data, 0)?;
    let mut varints = 0;
    each_message(&mut root, &mut |fields| {
        varints += fields
            .iter()
            .filter(|f| matches!(f.value, Value::Varint(_)))
            .count();
    });
    if varints > 0 && rng.random_bool(0.6) {
        let mut k = rng.random_range(0..varints);
        each_message(&mut root, &mut |fields| {
            for f in fields.iter_mut() {
                if let Value::Varint(v) = &mut f.value {
                    if k == 0 {
                        *v = interesting_varint(*v, rng);
                    }
                    k = k.wrapping_sub(1);
                }
            }
        });
    } else {
        let mut lists = 0;
        each_message(&mut root, &mut |fields| {
            lists += usize::from(!fields.is_empty())
        });
        let mut k = rng.random_range(0..lists.max(1));
        let duplicate = rng.random_bool(0.5);
        each_message(&mut root, &mut |fields| {
            if fields.is_empty() {
                return;
            }
            if k == 0 {
                let at = rng.random_range(0..fields.len());
                match duplicate {
                    true => fields.insert(at, fields[at].clone()),
                    false => drop(fields.remove(at)),
                }
            }
            k = k.wrapping_sub(1);
        });
    }
    let mut out = Vec::with_capacity(data.len());
    encode(&root, &mut out);
    Some(out)
}

/// A varint's replacement: the edges of 32- and 64-bit ranges, negative numbers as
/// int64 writes them, or the value off by one or scaled up.
fn interesting_varint(old: u64, rng: &mut Rng) -> u64 {
    const VALUES: [u64; 12] = [
        0,
        1,
        0x7f,
        0x80,
        0xffff,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        1 << 32,
        1 << 62,
        i64::MAX as u64,
        u64::MAX,
    ];
    match rng.random_range(0..16) {
        12 => old.wrapping_add(1),
        13 => old.wrapping_sub(1),
        14 => old.wrapping_shl(rng.random_range(8..32)),
        15 => (-2i64) as u64,
        k => VALUES[k],
    }
}

/// Calls `f` on the root's fields and on every nested message's, parents first.
fn each_message(fields: &mut Vec<Field>, f: &mut dyn FnMut(&mut Vec<Field>)) {
    f(fields);
    for field in fields.iter_mut() {
        if let Value::Message(m) = &mut field.value {
            each_message(m, f);
        }
    }
}

fn parse(mut data: &[u8], depth: usize) -> Option<Vec<Field>> {
    let mut fields = Vec::new();
    while !data.is_empty() {
        let key = varint(&mut data)?;
        let number = key >> 3;
        if number == 0 {
            return None;
        }
        let value = match key & 7 {
            0 => Value::Varint(varint(&mut data)?),
            1 => Value::Fixed64(take(&mut data, 8)?.try_into().ok()?),
            2 => {
                let len = usize::try_from(varint(&mut data)?).ok()?;
                let body = take(&mut data, len)?;
                let nested = (depth < MAX_DEPTH && !body.is_empty())
                    .then(|| parse(body, depth + 1))
                    .flatten();
                match nested {
                    Some(m) => Value::Message(m),
                    None => Value::Bytes(body.to_vec()),
                }
            }
            5 => Value::Fixed32(take(&mut data, 4)?.try_into().ok()?),
            _ => return None,
        };
        fields.push(Field { number, value });
    }
    Some(fields)
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if data.len() < n {
        return None;
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Some(head)
}

fn varint(data: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = data.split_first()?;
        *data = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn encode(fields: &[Field], out: &mut Vec<u8>) {
    for f in fields {
        let key = |wire: u64, out: &mut Vec<u8>| put_varint(f.number << 3 | wire, out);
        match &f.value {
            Value::Varint(v) => {
                key(0, out);
                put_varint(*v, out);
            }
            Value::Fixed64(b) => {
                key(1, out);
                out.extend_from_slice(b);
            }
            Value::Fixed32(b) => {
                key(5, out);
                out.extend_from_slice(b);
            }
            Value::Bytes(b) => {
                key(2, out);
                put_varint(b.len() as u64, out);
                out.extend_from_slice(b);
            }
            Value::Message(m) => {
                let mut body = Vec::new();
                encode(m, &mut body);
                key(2, out);
                put_varint(body.len() as u64, out);
                out.extend_from_slice(&body);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_encode_round_trip() {
        // Field 1: varint 150; field 2: a message holding field 3 = "hi"; field 4: fixed32.
        let data = [
            0x08, 0x96, 0x01, 0x12, 0x04, 0x1a, 0x02, b'h', b'i', 0x25, 1, 2, 3, 4,
        ];
        let mut out = Vec::new();
        encode(&parse(&data, 0).unwrap(), &mut out);
        assert_eq!(out, data);
    }
}
