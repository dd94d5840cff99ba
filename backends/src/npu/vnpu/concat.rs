//! Concatenation as a byte copy of each input's rows into the output.

use super::arena::Arena;
use crate::npu::program::{Concat, TensorDesc};
use nnopt_compiler::{Error, Result};

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
    let mut parts = Vec::with_capacity(inputs.len());
    for t in inputs {
        if t.dtype != out.dtype || t.shape.len() != out.shape.len() {
            return Err(Error::at_node(
                &c.name,
                "concat inputs differ from the output",
            ));
        }
        let row = t.shape[c.axis..].iter().product::<usize>() * esize;
        let bytes = arena.bytes(t)?.to_vec();
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
