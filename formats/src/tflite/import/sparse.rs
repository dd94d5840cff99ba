//! TFLite's sparse tensors (`SparsityParameters`) to dense bytes: the general conversion of
//! TFLite's `sparsity_format_converter.cc` (any traversal order, any mix of DENSE and
//! SPARSE_CSR levels, block maps), with every array read from the file checked first.

use super::fb;
use nnopt_compiler::{bail, Result};

/// The most elements a sparse tensor may expand to. Its dense form is allocated from its
/// shape alone, so this bounds what a small file can make the importer allocate.
const MAX_DENSE_ELEMENTS: usize = 1 << 26;

/// The most traversal levels (dimensions plus block dimensions) accepted.
const MAX_LEVELS: usize = 16;

/// One level of the traversal: a dimension of the blocked shape.
struct Level {
    /// Dense elements between consecutive coordinates of this level.
    stride: usize,
    kind: LevelKind,
}

enum LevelKind {
    /// Every coordinate `0..size` is stored.
    Dense(usize),
    /// CSR: coordinates `indices[segments[p]..segments[p + 1]]` under parent position `p`.
    Csr {
        segments: Vec<usize>,
        indices: Vec<usize>,
    },
}

/// The dense little-endian bytes of sparse tensor `name` of dense `shape`, whose stored
/// values are `values` (`elem` bytes each, in traversal order). Positions not stored are
/// all-zero bytes, as TFLite's converter writes them.
pub fn densify(
    name: &str,
    sp: &fb::SparsityParameters<'_>,
    shape: &[usize],
    elem: usize,
    values: &[u8],
) -> Result<Vec<u8>> {
    let err = |msg: String| nnopt_compiler::Error::new(format!("sparse tensor '{name}': {msg}"));
    // Zero dimensions count as ones here, so that the bound also covers every stride.
    if shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d.max(1)))
        .is_none_or(|n| n > MAX_DENSE_ELEMENTS)
    {
        return Err(err(format!(
            "shape {shape:?} expands to more than {MAX_DENSE_ELEMENTS} elements"
        )));
    }
    let dense: usize = shape.iter().product();
    let levels = levels(sp, shape).map_err(|e| err(e.message))?;
    let stored = stored_count(&levels).map_err(|e| err(e.message))?;
    if values.len() != stored * elem {
        return Err(err(format!(
            "its buffer has {} bytes, the sparsity parameters store {stored} values of {elem} \
             bytes",
            values.len()
        )));
    }
    let mut out = vec![0u8; dense * elem];
    Expand {
        levels: &levels,
        values,
        elem,
        out: &mut out,
        next: 0,
    }
    .fill(0, 0, 0);
    Ok(out)
}

/// The traversal levels of `sp` over `shape`, checked: the traversal order, the block map
/// and block sizes, the dense sizes and the CSR arrays.
fn levels(sp: &fb::SparsityParameters<'_>, shape: &[usize]) -> Result<Vec<Level>> {
    let rank = shape.len();
    let order: Vec<i32> = sp
        .traversal_order()
        .map_or_else(Vec::new, |v| v.iter().collect());
    let block_map: Vec<i32> = sp.block_map().map_or_else(Vec::new, |v| v.iter().collect());
    let meta: Vec<fb::DimensionMetadata<'_>> = sp
        .dim_metadata()
        .map_or_else(Vec::new, |v| v.iter().collect());
    if rank == 0 {
        bail!("a scalar cannot be sparse");
    }
    let n = rank + block_map.len();
    if n > MAX_LEVELS {
        bail!("{n} traversal levels, more than the {MAX_LEVELS} supported");
    }
    if order.len() != n || meta.len() != n {
        bail!(
            "{} dimensions and {} block dimensions need {n} traversal levels, got a traversal \
             order of {} and {} dimension metadata",
            rank,
            block_map.len(),
            order.len(),
            meta.len()
        );
    }
    // The dimensions come first, then the block dimensions, as TFLite's converter reads them.
    let mut level_of = vec![None; n];
    for (l, &e) in order.iter().enumerate() {
        let range = if l < rank { 0..rank } else { rank..n };
        if e < 0 || !range.contains(&(e as usize)) || level_of[e as usize].is_some() {
            bail!(
                "traversal order {order:?} is not a permutation of the {rank} dimensions \
                 followed by one of the block dimensions"
            );
        }
        level_of[e as usize] = Some(l);
    }
    if block_map.iter().any(|&d| d < 0 || d as usize >= rank)
        || block_map.windows(2).any(|w| w[0] >= w[1])
    {
        bail!("block map {block_map:?} does not name increasing dimensions of rank {rank}");
    }
    // Block k's size is the dense size of the level that traverses block dimension rank + k.
    let mut block = vec![1usize; rank];
    for (k, &d) in block_map.iter().enumerate() {
        let Some(l) = level_of[rank + k] else {
            bail!("block dimension {k} is not in the traversal order {order:?}");
        };
        let m = &meta[l];
        let size = m.dense_size();
        let d = d as usize;
        if m.format() != fb::DimensionType::DENSE
            || size <= 0
            || !shape[d].is_multiple_of(size as usize)
        {
            bail!(
                "block dimension {k} (level {l}) must be DENSE with a size dividing dimension \
                 {d} ({}), got {} of size {size}",
                shape[d],
                format_name(m.format())
            );
        }
        block[d] = size as usize;
    }
    let mut stride = vec![1usize; rank];
    for d in (0..rank.saturating_sub(1)).rev() {
        stride[d] = stride[d + 1] * shape[d + 1];
    }
    let mut levels = Vec::with_capacity(n);
    for (l, (&e, m)) in order.iter().zip(&meta).enumerate() {
        let e = e as usize;
        let (size, stride) = if e < rank {
            (shape[e] / block[e], stride[e] * block[e])
        } else {
            let d = block_map[e - rank] as usize;
            (block[d], stride[d])
        };
        let kind = match m.format() {
            fb::DimensionType::DENSE => {
                if m.dense_size() < 0 || m.dense_size() as usize != size {
                    bail!(
                        "level {l} is DENSE of size {}, but the shape gives it {size}",
                        m.dense_size()
                    );
                }
                LevelKind::Dense(size)
            }
            fb::DimensionType::SPARSE_CSR => {
                let segments = index_vector(l, m, true)?;
                let indices = index_vector(l, m, false)?;
                if let Some(&i) = indices.iter().find(|&&i| i >= size) {
                    bail!("level {l}: index {i} out of range for its size {size}");
                }
                LevelKind::Csr { segments, indices }
            }
            other => bail!("level {l} has unknown format {}", other.0),
        };
        levels.push(Level { stride, kind });
    }
    Ok(levels)
}

fn format_name(f: fb::DimensionType) -> &'static str {
    f.variant_name().unwrap_or("an unknown format")
}

/// The CSR segments (or, with `segments` false, indices) of level `l`, from any of the
/// three vector types.
fn index_vector(l: usize, m: &fb::DimensionMetadata<'_>, segments: bool) -> Result<Vec<usize>> {
    use fb::SparseIndexVector as V;
    macro_rules! ints {
        ($v:expr) => {
            $v.map(|v| {
                v.values()
                    .map_or_else(Vec::new, |v| v.iter().map(i64::from).collect::<Vec<_>>())
            })
        };
    }
    let (what, v) = if segments {
        let v = match m.array_segments_type() {
            V::Int32Vector => ints!(m.array_segments_as_int_32_vector()),
            V::Uint16Vector => ints!(m.array_segments_as_uint_16_vector()),
            V::Uint8Vector => ints!(m.array_segments_as_uint_8_vector()),
            _ => None,
        };
        ("segments", v)
    } else {
        let v = match m.array_indices_type() {
            V::Int32Vector => ints!(m.array_indices_as_int_32_vector()),
            V::Uint16Vector => ints!(m.array_indices_as_uint_16_vector()),
            V::Uint8Vector => ints!(m.array_indices_as_uint_8_vector()),
            _ => None,
        };
        ("indices", v)
    };
    let Some(v) = v else {
        bail!("level {l} is SPARSE_CSR but has no {what} array");
    };
    v.into_iter()
        .map(|x| {
            usize::try_from(x).map_err(|_| {
                nnopt_compiler::Error::new(format!("level {l}: negative {what} entry {x}"))
            })
        })
        .collect()
}

/// The number of values the levels store, checking each CSR level's segments against the
/// positions of the level above (one segment per position, from 0, non-decreasing, ending
/// at the number of indices) and its indices (increasing within a segment).
fn stored_count(levels: &[Level]) -> Result<usize> {
    let mut positions = 1usize;
    for (l, level) in levels.iter().enumerate() {
        positions = match &level.kind {
            LevelKind::Dense(size) => positions * size,
            LevelKind::Csr { segments, indices } => {
                if segments.len() != positions + 1 {
                    bail!(
                        "level {l} has {} segment entries, the level above has {positions} \
                         positions (needs {})",
                        segments.len(),
                        positions + 1
                    );
                }
                if segments[0] != 0 || segments[positions] != indices.len() {
                    bail!(
                        "level {l}: segments run from {} to {}, they must run from 0 to the {} \
                         indices",
                        segments[0],
                        segments[positions],
                        indices.len()
                    );
                }
                if let Some(w) = segments.windows(2).find(|w| w[0] > w[1]) {
                    bail!("level {l}: segments decrease ({} then {})", w[0], w[1]);
                }
                for w in segments.windows(2) {
                    if indices[w[0]..w[1]].windows(2).any(|p| p[0] >= p[1]) {
                        bail!(
                            "level {l}: indices {:?} of one segment are not increasing",
                            &indices[w[0]..w[1]]
                        );
                    }
                }
                indices.len()
            }
        };
    }
    Ok(positions)
}

/// Copies stored values to their dense positions, walking the levels depth first.
struct Expand<'a> {
    levels: &'a [Level],
    values: &'a [u8],
    elem: usize,
    out: &'a mut [u8],
    /// The next stored value.
    next: usize,
}

impl Expand<'_> {
    /// Writes the values under position `parent` of level `l`, whose dense offset so far is
    /// `offset`.
    fn fill(&mut self, l: usize, parent: usize, offset: usize) {
        let levels = self.levels;
        let Some(level) = levels.get(l) else {
            let (e, v) = (self.elem, self.next * self.elem);
            self.out[offset * e..(offset + 1) * e].copy_from_slice(&self.values[v..v + e]);
            self.next += 1;
            return;
        };
        match &level.kind {
            LevelKind::Dense(size) => {
                for i in 0..*size {
                    self.fill(l + 1, parent * size + i, offset + i * level.stride);
                }
            }
            LevelKind::Csr { segments, indices } => {
                let (start, end) = (segments[parent], segments[parent + 1]);
                for (p, &i) in indices.iter().enumerate().take(end).skip(start) {
                    self.fill(l + 1, p, offset + i * level.stride);
                }
            }
        }
    }
}
