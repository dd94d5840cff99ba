//! Sparse weights: the weight constants (operand 1) of CONV_2D, DEPTHWISE_CONV_2D and
//! FULLY_CONNECTED are stored in TFLite's sparse format ([`Csr`]) where that takes fewer
//! bytes than dense, each expanded by a DENSIFY before its first consumer.
//!
//! LiteRT's builtin and reference kernels run such files (int8 and float32); its XNNPACK
//! delegate (ai-edge-litert 2.3) fails to prepare an int8 FULLY_CONNECTED fed by DENSIFY.

use super::model::{Csr, EmptyOptions, ModelDef, Options};
use crate::tflite::schema as fb;
use nnopt_compiler::ir::DType;
use std::collections::{HashMap, HashSet};

/// Bytes a sparse weight adds besides its arrays, its name and its levels: the sparsity
/// table, the CSR level's table, the DENSIFY operator and its output tensor (which shares
/// the weight's shape and quantization). Measured on the shared models' weights (265-306
/// bytes with the levels of 2-D and 4-D weights), rounded up.
const FIXED_BYTES: usize = 224;
/// Bytes each dimension adds: its level's table and its traversal-order entry.
const LEVEL_BYTES: usize = 24;
/// Bytes the first DENSIFY adds: its operator code.
const OPCODE_BYTES: usize = 96;

/// Rewrites the weights of `m` that are smaller sparse, and inserts their DENSIFY operators.
pub fn sparsify(m: &mut ModelDef) {
    use fb::BuiltinOperator as B;
    let outputs: HashSet<i32> = m.outputs.iter().copied().collect();
    let mut weights: Vec<i32> = m
        .operators
        .iter()
        .filter(|op| {
            matches!(
                op.code,
                B::CONV_2D | B::DEPTHWISE_CONV_2D | B::FULLY_CONNECTED
            )
        })
        .filter_map(|op| op.inputs.get(1).copied())
        .filter(|&t| t >= 0 && !outputs.contains(&t))
        .collect();
    weights.sort_unstable();
    weights.dedup();
    let mut names: HashSet<String> = m.tensors.iter().map(|t| t.name.clone()).collect();
    let mut densified = HashMap::new();
    for t in weights {
        let def = &m.tensors[t as usize];
        let Some((csr, values)) = def.data.as_deref().and_then(|d| compress(d, &def.ty)) else {
            continue;
        };
        let dense = def.data.as_ref().map_or(0, Vec::len);
        let first = densified.is_empty();
        if sparse_bytes(&csr, values.len(), &def.name, def.ty.shape.len(), first) >= dense {
            continue;
        }
        let ty = def.ty.clone();
        let name = unique(&mut names, &format!("{}_densified", def.name));
        let def = &mut m.tensors[t as usize];
        def.data = Some(values);
        def.sparsity = Some(csr);
        densified.insert(t, m.add_tensor(name, ty, None));
    }
    if densified.is_empty() {
        return;
    }
    let mut done = HashSet::new();
    for mut op in std::mem::take(&mut m.operators) {
        for input in &mut op.inputs {
            let Some(&out) = densified.get(input) else {
                continue;
            };
            if done.insert(*input) {
                let densify = Options::Empty(EmptyOptions::Densify);
                m.add_op(B::DENSIFY, vec![*input], vec![out], densify);
            }
            *input = out;
        }
        m.operators.push(op);
    }
}

/// The CSR form of an int8 or float32 constant of type `ty` and its stored values (the
/// elements whose bytes are not all zero, so that expanding gives the same bits back), or
/// `None` for other types and shapes.
fn compress(data: &[u8], ty: &nnopt_compiler::ir::TensorType) -> Option<(Csr, Vec<u8>)> {
    let elem = match ty.dtype {
        DType::I8 | DType::F32 => ty.dtype.size_bytes(),
        _ => return None,
    };
    let cols = *ty.shape.last()?;
    if cols == 0 || data.len() != ty.num_elements() * elem || data.len() / elem > i32::MAX as usize
    {
        return None;
    }
    let mut csr = Csr {
        segments: vec![0],
        indices: Vec::new(),
    };
    let mut values = Vec::new();
    for row in data.chunks_exact(cols * elem) {
        for (j, v) in row.chunks_exact(elem).enumerate() {
            if v.iter().any(|&b| b != 0) {
                csr.indices.push(j as u32);
                values.extend_from_slice(v);
            }
        }
        csr.segments.push(csr.indices.len() as u32);
    }
    Some((csr, values))
}

/// The bytes a weight named `name` of rank `rank` would take sparse: its values and index
/// arrays in the narrowest vector types, its level tables, its DENSIFY and that operator's
/// output tensor (and the DENSIFY operator code if it is the `first`).
fn sparse_bytes(csr: &Csr, values: usize, name: &str, rank: usize, first: bool) -> usize {
    let width = |v: &[u32]| match v.iter().copied().max().unwrap_or(0) {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        _ => 4,
    };
    values
        + csr.segments.len() * width(&csr.segments)
        + csr.indices.len() * width(&csr.indices)
        + name.len()
        + rank * LEVEL_BYTES
        + FIXED_BYTES
        + if first { OPCODE_BYTES } else { 0 }
}

/// `base`, or `base_1`, `base_2`, ... whichever is not in `names` yet (then added).
fn unique(names: &mut HashSet<String>, base: &str) -> String {
    let mut name = base.to_string();
    let mut k = 1;
    while !names.insert(name.clone()) {
        name = format!("{base}_{k}");
        k += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnopt_compiler::ir::TensorType;

    #[test]
    fn compress_keeps_every_nonzero_bit_pattern() {
        // -0.0 is not all-zero bytes, so it is stored and comes back as -0.0.
        let v = [0.0f32, -0.0, 1.5, 0.0, 0.0, 0.0];
        let data: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let (csr, values) = compress(&data, &TensorType::new(DType::F32, [2, 3])).expect("f32");
        assert_eq!(csr.segments, [0, 2, 2]);
        assert_eq!(csr.indices, [1, 2]);
        assert_eq!(
            values,
            [(-0.0f32).to_le_bytes(), 1.5f32.to_le_bytes()].concat()
        );
        assert!(compress(&[0; 4], &TensorType::new(DType::I32, [1])).is_none());
    }
}
