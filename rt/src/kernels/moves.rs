//! Data moves: concatenation (a copy of each input's rows, through a requantization
//! table per input when the command has them), table lookups and constant padding.

use crate::command::{Concat, Lookup, Pad};
use crate::error::{Error, Result};
use crate::schema::{TensorDesc, MAX_RANK};
use crate::tensor::{Elems, ElemsMut, Odometer};

/// Checks a lookup: 8-bit codes to as many 8-bit codes through 256 entries.
pub fn lookup_plan(c: &Lookup<'_>, x: &TensorDesc, o: &TensorDesc) -> Result<()> {
    if x.dtype.size() != 1 || o.dtype.size() != 1 || x.size != o.size || c.table.len() != 256 {
        return Err(Error::malformed("table lookup does not map 8-bit codes"));
    }
    Ok(())
}

/// Maps each byte of `x` through `table` into `o`.
pub fn lookup(table: &[u8], x: &[u8], o: &mut [u8]) {
    for (y, &v) in o.iter_mut().zip(x) {
        *y = table[v as usize];
    }
}

/// Checks a concatenation; returns the number of outer rows.
pub fn concat_plan(
    c: &Concat<'_>,
    inputs: impl Iterator<Item = TensorDesc>,
    o: &TensorDesc,
) -> Result<usize> {
    let bad = Error::malformed("concatenation inputs do not match the output");
    let od = o.shape.dims();
    let esize = o.dtype.size();
    if c.axis >= od.len() {
        return Err(bad);
    }
    let outer: usize = od[..c.axis].iter().product();
    let tables = !c.tables.is_empty();
    if tables && (esize != 1 || c.tables.len() != 256 * c.inputs.len()) {
        return Err(bad);
    }
    let mut total = 0usize;
    for t in inputs {
        let rows = t.shape.dims()[..]
            .get(c.axis..)
            .map(|d| d.iter().product::<usize>());
        let ok = (t.dtype == o.dtype || tables)
            && t.dtype.size() == esize
            && t.shape.rank() == od.len()
            && rows.and_then(|r| r.checked_mul(esize * outer)) == Some(t.size);
        if !ok {
            return Err(bad);
        }
        total += t.size;
    }
    if total != o.size {
        return Err(bad);
    }
    Ok(outer)
}

/// Copies input `k` (bytes `x`, `outer` rows) into its columns of the output `o`, which
/// starts at byte `column` of each output row of `out_row` bytes.
pub fn concat_part(
    table: Option<&[u8]>,
    x: &[u8],
    outer: usize,
    o: &mut [u8],
    column: usize,
    out_row: usize,
) {
    let row = x.len() / outer.max(1);
    for r in 0..outer {
        let src = &x[r * row..(r + 1) * row];
        let dst = &mut o[r * out_row + column..r * out_row + column + row];
        match table {
            Some(t) => lookup(t, src, dst),
            None => dst.copy_from_slice(src),
        }
    }
}

/// Checks a padding: `before + input + after = output` along every axis.
pub fn pad_plan(c: &Pad<'_>, x: &TensorDesc, o: &TensorDesc) -> Result<()> {
    let (xd, od) = (x.shape.dims(), o.shape.dims());
    let mut ok = c.pads.len() == 2 * xd.len()
        && od.len() == xd.len()
        && x.dtype == o.dtype
        && x.dtype.int_range().is_some();
    for i in 0..xd.len().min(od.len()) {
        let (b, a) = (c.pads.u32(2 * i), c.pads.u32(2 * i + 1));
        ok &= match (b, a) {
            (Ok(b), Ok(a)) => {
                xd[i]
                    .checked_add(b as usize)
                    .and_then(|v| v.checked_add(a as usize))
                    == Some(od[i])
            }
            _ => false,
        };
    }
    if !ok {
        return Err(Error::malformed(
            "padding does not take the input to the output",
        ));
    }
    Ok(())
}

/// Pads `x` (dims `xd`) into `o` (dims `od`) with the code `c.fill`.
pub fn pad(
    c: &Pad<'_>,
    xd: &[usize],
    od: &[usize],
    x: Elems<'_>,
    mut o: ElemsMut<'_>,
) -> Result<()> {
    let r = xd.len();
    let mut before = [0usize; MAX_RANK];
    for (i, b) in before.iter_mut().enumerate().take(r) {
        *b = c.pads.u32(2 * i)? as usize;
    }
    let mut xst = [0usize; MAX_RANK];
    let mut acc = 1;
    for i in (0..r).rev() {
        xst[i] = acc;
        acc *= xd[i];
    }
    let n: usize = od.iter().product();
    let mut it = Odometer::new(od, [[0; MAX_RANK]; 2]);
    for j in 0..n {
        let mut src = 0usize;
        let mut inside = true;
        for (d, &i) in it.index().iter().enumerate() {
            match i.checked_sub(before[d]) {
                Some(k) if k < xd[d] => src += k * xst[d],
                _ => {
                    inside = false;
                    break;
                }
            }
        }
        o.set(j, if inside { x.get(src) } else { c.fill });
        it.step();
    }
    Ok(())
}
