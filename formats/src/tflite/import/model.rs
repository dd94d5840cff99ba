//! Checked access to a verified TFLite flatbuffer: every index read from the file (tensor,
//! buffer, opcode, subgraph) is bounds-checked before use.

use super::fb;
use nnopt_compiler::{bail, Error, Result};

/// A verified TFLite model and its first subgraph.
pub struct ModelFile<'a> {
    bytes: &'a [u8],
    model: fb::Model<'a>,
    pub graph: fb::SubGraph<'a>,
}

/// What an operator runs.
#[derive(Clone, Debug, PartialEq)]
pub enum OpKind {
    Builtin(fb::BuiltinOperator),
    Custom(String),
}

impl OpKind {
    /// Printable name (`CONV_2D`, `custom 'X'`).
    pub fn name(&self) -> String {
        match self {
            OpKind::Builtin(b) => b
                .variant_name()
                .map_or_else(|| format!("builtin op {}", b.0), str::to_string),
            OpKind::Custom(c) => format!("custom op '{c}'"),
        }
    }
}

impl<'a> ModelFile<'a> {
    /// Verifies the flatbuffer (structure and every offset) and selects subgraph 0.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        if bytes.len() < 8 {
            bail!("not a TFLite model: {} bytes is too short", bytes.len());
        }
        let model = fb::root_as_model(bytes)
            .map_err(|e| Error::new(format!("invalid TFLite flatbuffer: {e}")))?;
        let subgraphs = model
            .subgraphs()
            .ok_or_else(|| Error::new("the model has no subgraphs"))?;
        if subgraphs.is_empty() {
            bail!("the model has no subgraphs");
        }
        if subgraphs.len() > 1 {
            bail!(
                "models with {} subgraphs (control flow) are not supported",
                subgraphs.len()
            );
        }
        Ok(ModelFile {
            bytes,
            model,
            graph: subgraphs.get(0),
        })
    }

    /// Tensor `i` of the subgraph.
    pub fn tensor(&self, i: i32) -> Result<fb::Tensor<'a>> {
        let tensors = self
            .graph
            .tensors()
            .ok_or_else(|| Error::new("the subgraph has no tensors"))?;
        if i < 0 || i as usize >= tensors.len() {
            bail!(
                "tensor index {i} out of range (the subgraph has {} tensors)",
                tensors.len()
            );
        }
        Ok(tensors.get(i as usize))
    }

    /// The operators of the subgraph.
    pub fn operators(&self) -> Vec<fb::Operator<'a>> {
        self.graph
            .operators()
            .map_or_else(Vec::new, |ops| ops.iter().collect())
    }

    /// What operator `op` runs.
    pub fn op_kind(&self, op: &fb::Operator<'a>) -> Result<OpKind> {
        let codes = self
            .model
            .operator_codes()
            .ok_or_else(|| Error::new("the model has no operator codes"))?;
        let i = op.opcode_index() as usize;
        if i >= codes.len() {
            bail!(
                "opcode index {i} out of range (the model has {} operator codes)",
                codes.len()
            );
        }
        let code = codes.get(i);
        // Schema 3a: the real code is the larger of the deprecated i8 field and the new one.
        let b = fb::BuiltinOperator(
            code.builtin_code()
                .0
                .max(code.deprecated_builtin_code() as i32),
        );
        if b == fb::BuiltinOperator::CUSTOM {
            return Ok(OpKind::Custom(code.custom_code().unwrap_or("").to_string()));
        }
        Ok(OpKind::Builtin(b))
    }

    /// The constant data of a tensor, or `None` if it has no data (an activation).
    pub fn tensor_data(&self, t: &fb::Tensor<'a>) -> Result<Option<&'a [u8]>> {
        let buffers = self
            .model
            .buffers()
            .ok_or_else(|| Error::new("the model has no buffers"))?;
        let b = t.buffer() as usize;
        if b >= buffers.len() {
            bail!(
                "buffer index {b} of tensor '{}' out of range ({} buffers)",
                t.name().unwrap_or(""),
                buffers.len()
            );
        }
        let buf = buffers.get(b);
        if let Some(d) = buf.data() {
            if !d.is_empty() {
                return Ok(Some(d.bytes()));
            }
        }
        // Schema 3c: large buffers live after the flatbuffer, at (offset, size).
        let (offset, size) = (buf.offset(), buf.size());
        if offset > 1 && size > 0 {
            let end = offset
                .checked_add(size)
                .filter(|&e| e <= self.bytes.len() as u64);
            let Some(end) = end else {
                bail!(
                    "buffer {b} ({size} bytes at offset {offset}) lies outside the {}-byte file",
                    self.bytes.len()
                );
            };
            return Ok(Some(&self.bytes[offset as usize..end as usize]));
        }
        Ok(None)
    }
}
