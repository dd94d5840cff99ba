//! The node being imported, with typed attribute accessors.

use nnopt_compiler::ir::ValueRef;
use nnopt_compiler::{Error, Result};
use tract_onnx::pb;
use tract_onnx::pb::attribute_proto::AttributeType;

/// One ONNX node during import: the proto, a label for errors and its bound inputs
/// (`None` for omitted optional inputs).
pub(crate) struct NodeCtx<'a> {
    pub node: &'a pb::NodeProto,
    pub label: String,
    pub inputs: Vec<Option<ValueRef>>,
}

impl NodeCtx<'_> {
    /// An error about this node.
    pub fn err(&self, msg: impl Into<String>) -> Error {
        Error::at_node(&self.label, msg)
    }

    /// The op type.
    pub fn op_type(&self) -> &str {
        &self.node.op_type
    }

    /// Input `i`, which must be present.
    pub fn input(&self, i: usize) -> Result<ValueRef> {
        self.opt_input(i)
            .ok_or_else(|| self.err(format!("input {i} is required")))
    }

    /// Input `i`, if present.
    pub fn opt_input(&self, i: usize) -> Option<ValueRef> {
        self.inputs.get(i).copied().flatten()
    }

    /// Name of output `k` (empty when not requested).
    pub fn out(&self, k: usize) -> &str {
        self.node.output.get(k).map(String::as_str).unwrap_or("")
    }

    /// Whether output `k` is requested.
    pub fn wants_output(&self, k: usize) -> bool {
        !self.out(k).is_empty()
    }

    fn attr(&self, name: &str, ty: AttributeType) -> Result<Option<&pb::AttributeProto>> {
        match self.node.attribute.iter().find(|a| a.name == name) {
            None => Ok(None),
            Some(a) if a.r#type == ty as i32 || a.r#type == AttributeType::Undefined as i32 => {
                Ok(Some(a))
            }
            Some(a) => Err(self.err(format!(
                "attribute '{name}' must be {}, found type {}",
                ty.as_str_name(),
                AttributeType::try_from(a.r#type)
                    .map(|t| t.as_str_name())
                    .unwrap_or("unknown")
            ))),
        }
    }

    /// Whether the attribute is present.
    pub fn has(&self, name: &str) -> bool {
        self.node.attribute.iter().any(|a| a.name == name)
    }

    /// An INT attribute, or `default`.
    pub fn int(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self
            .attr(name, AttributeType::Int)?
            .map_or(default, |a| a.i))
    }

    /// A FLOAT attribute, or `default`.
    pub fn float(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self
            .attr(name, AttributeType::Float)?
            .map_or(default, |a| a.f))
    }

    /// An INTS attribute, if present.
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        Ok(self
            .attr(name, AttributeType::Ints)?
            .map(|a| a.ints.clone()))
    }

    /// A FLOATS attribute, if present.
    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>> {
        Ok(self
            .attr(name, AttributeType::Floats)?
            .map(|a| a.floats.clone()))
    }

    /// A STRING attribute, or `default`.
    pub fn string(&self, name: &str, default: &str) -> Result<String> {
        match self.attr(name, AttributeType::String)? {
            None => Ok(default.to_string()),
            Some(a) => String::from_utf8(a.s.clone())
                .map_err(|_| self.err(format!("attribute '{name}' is not UTF-8"))),
        }
    }

    /// A STRINGS attribute, if present.
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>> {
        let Some(a) = self.attr(name, AttributeType::Strings)? else {
            return Ok(None);
        };
        a.strings
            .iter()
            .map(|s| {
                String::from_utf8(s.clone())
                    .map_err(|_| self.err(format!("attribute '{name}' is not UTF-8")))
            })
            .collect::<Result<_>>()
            .map(Some)
    }

    /// A TENSOR attribute, if present.
    pub fn tensor(&self, name: &str) -> Result<Option<&pb::TensorProto>> {
        match self.attr(name, AttributeType::Tensor)? {
            None => Ok(None),
            Some(a) => {
                a.t.as_ref()
                    .map(Some)
                    .ok_or_else(|| self.err(format!("attribute '{name}' has no tensor")))
            }
        }
    }

    /// A GRAPH attribute, if present.
    pub fn graph(&self, name: &str) -> Result<Option<&pb::GraphProto>> {
        match self.attr(name, AttributeType::Graph)? {
            None => Ok(None),
            Some(a) => {
                a.g.as_ref()
                    .map(Some)
                    .ok_or_else(|| self.err(format!("attribute '{name}' has no graph")))
            }
        }
    }

    /// Normalizes a possibly negative axis against `rank`.
    pub fn axis(&self, axis: i64, rank: usize) -> Result<usize> {
        let r = rank as i64;
        let a = if axis < 0 { axis + r } else { axis };
        if a < 0 || a >= r {
            return Err(self.err(format!("axis {axis} is out of range for rank {rank}")));
        }
        Ok(a as usize)
    }

    /// Converts non-negative integers (sizes, pads, strides) to usize, rejecting values
    /// of 2^32 or more.
    pub fn usizes(&self, what: &str, v: &[i64]) -> Result<Vec<usize>> {
        v.iter()
            .map(|&x| match usize::try_from(x) {
                Ok(u) if u < 1 << 32 => Ok(u),
                Ok(_) => Err(self.err(format!("{what} value {x} is too large"))),
                Err(_) => Err(self.err(format!("{what} must be non-negative, got {v:?}"))),
            })
            .collect()
    }
}
