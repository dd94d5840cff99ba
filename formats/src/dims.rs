//! Whether a graph's dimensions fit a format's integer type (TFLite's int32, ONNX's
//! int64): an exporter refuses a graph that would be written truncated.

use nnopt_compiler::ir::Graph;
use nnopt_compiler::{Error, Result};

/// Checks every value's dimensions against `max`; the error names the node, the value
/// and the format.
pub fn dims_fit(g: &Graph, max: u64, format: &str) -> Result<()> {
    for n in g.node_indices() {
        let node = g.node(n);
        for v in &node.outputs {
            if let Some(&d) = v.ty.shape.iter().find(|&&d| d as u64 > max) {
                return Err(Error::at_node(
                    &node.name,
                    format!(
                        "value '{}' ({}) has dimension {d}, more than {format} can store ({max})",
                        v.name, v.ty
                    ),
                ));
            }
        }
    }
    Ok(())
}
