//! Data moves: concatenation as a byte copy of each input's rows into the output (through
//! a requantization table per input when the command has them), table lookups, and
//! constant padding.

use super::arena::Arena;
use crate::npu::program::{Concat, Lookup, Pad, TensorDesc};
use nnopt_compiler::{Error, Result};

/// Maps each byte of `codes` through a 256-entry table.
fn look_up(table: &[u8], codes: &[u8]) -> Vec<u8> {
    codes.iter().map(|&c| table[c as usize]).collect()
}

/// Runs a table lookup from `x` into `out` inside the arena.
pub fn lookup(c: &Lookup, x: &TensorDesc, out: &TensorDesc, arena: &mut Arena) -> Result<()> {
    if x.dtype.size_bytes() != 1 || out.dtype.size_bytes() != 1 || x.size != out.size {
        return Err(Error::at_node(
            &c.name,
            format!(
                "a table lookup maps 8-bit codes to as many 8-bit codes, not {} {:?} to {} {:?}",
                x.dtype, x.shape, out.dtype, out.shape
            ),
        ));
    }
    if c.table.len() != 256 {
        return Err(Error::at_node(
            &c.name,
            "the table does not have 256 entries",
        ));
    }
    let y = look_up(&c.table, arena.bytes(x)?);
    arena.set_bytes(out, &y).map_err(|e| e.in_node(&c.name))
}

/// Runs a concatenation of `inputs` into `out` inside the arena.
pub fn concat(
    c: &Concat,
    inputs: &[&TensorDesc],
    out: &TensorDesc,
    arena: &mut Arena,
) -> Result<()> {
    let esize = out.dtype.size_bytes();
    if c.axis >= out.shape.len() {
        return Err(Error::at_node(&c.name, "concat axis out of range"));
    }
    let outer: usize = out.shape[..c.axis].iter().product();
    if !c.tables.is_empty() && (esize != 1 || c.tables.len() != 256 * inputs.len()) {
        return Err(Error::at_node(
            &c.name,
            "requantization tables need 8-bit data and 256 entries per input",
        ));
    }
    let mut parts = Vec::with_capacity(inputs.len());
    for (k, t) in inputs.iter().enumerate() {
        let same_type = t.dtype == out.dtype || !c.tables.is_empty();
        if !same_type || t.dtype.size_bytes() != esize || t.shape.len() != out.shape.len() {
            return Err(Error::at_node(
                &c.name,
                "concat inputs differ from the output",
            ));
        }
        let row = t.shape[c.axis..].iter().product::<usize>() * esize;
        let bytes = match c.tables.get(256 * k..256 * (k + 1)) {
            Some(table) => look_up(table, arena.bytes(t)?),
            None => arena.bytes(t)?.to_vec(),
        };
        if bytes.len() != row * outer {
            return Err(Error::at_node(
                &c.name,
                format!(
                    "input '{}' does not match the output's outer dimensions",
                    t.name
                ),
            ));
        }
        parts.push((bytes, row));
    }
    if parts.iter().map(|(b, _)| b.len()).sum::<usize>() != out.size {
        return Err(Error::at_node(
            &c.name,
            "input sizes do not add up to the output",
        ));
    }
    let mut res = Vec::with_capacity(out.size);
    for o in 0..outer {
        for (bytes, row) in &parts {
            res.extend_from_slice(&bytes[o * row..(o + 1) * row]);
        }
    }
    arena.set_bytes(out, &res).map_err(|e| e.in_node(&c.name))
}

/// Pads data `x` (shape `xs`) into an output of shape `os`: the input where it lies,
/// `value` elsewhere.
pub fn pad<T: Copy>(c: &Pad, value: T, x: &[T], xs: &[usize], os: &[usize]) -> Result<Vec<T>> {
    let fits =
        c.pads.len() == xs.len()
            && os.len() == xs.len()
            && xs.iter().zip(&c.pads).zip(os).all(|((&d, &(b, a)), &o)| {
                d.checked_add(b).and_then(|v| v.checked_add(a)) == Some(o)
            });
    if !fits {
        return Err(Error::at_node(
            &c.name,
            format!("pads {:?} do not take {xs:?} to {os:?}", c.pads),
        ));
    }
    let n: usize = os.iter().product();
    let mut out = vec![value; n];
    // Row-major strides of the input.
    let mut st = vec![1usize; xs.len()];
    for i in (0..xs.len().saturating_sub(1)).rev() {
        st[i] = st[i + 1] * xs[i + 1];
    }
    let mut idx = vec![0usize; os.len()];
    for o in out.iter_mut() {
        let mut src = 0usize;
        let inside = idx
            .iter()
            .zip(&c.pads)
            .zip(xs)
            .zip(&st)
            .all(|(((&i, &(b, _)), &d), &s)| {
                let ok = i >= b && i - b < d;
                if ok {
                    src += (i - b) * s;
                }
                ok
            });
        if inside {
            *o = x[src];
        }
        for d in (0..os.len()).rev() {
            idx[d] += 1;
            if idx[d] < os[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(out)
}
