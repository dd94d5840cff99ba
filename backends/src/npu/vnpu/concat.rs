//! Data moves: concatenation as a byte copy of each input's rows into the output, and
//! constant padding of f32 data.

use super::arena::Arena;
use crate::npu::program::{Concat, Pad, TensorDesc};
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

/// Pads f32 data `x` (shape `xs`) into an output of shape `os`: the input where it lies,
/// `value` elsewhere.
pub fn pad_f32(c: &Pad, x: &[f32], xs: &[usize], os: &[usize]) -> Result<Vec<f32>> {
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
    let mut out = vec![c.value; n];
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
