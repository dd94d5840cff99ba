//! Cumulative sums as CumSum (CumProd needs opset 26, beyond the opset written).

use super::NodeArgs;
use crate::onnx::export::builder::Builder;
use crate::onnx::export::proto::{attr, Attr};
use nnopt_compiler::ir::{CumulativeKind, Tensor};
use nnopt_compiler::{Error, Result};

pub(crate) fn cumulative(
    b: &mut Builder,
    cx: NodeArgs,
    kind: CumulativeKind,
    axis: usize,
    exclusive: bool,
    reverse: bool,
) -> Result<String> {
    if kind == CumulativeKind::Prod {
        return Err(Error::new(format!(
            "node '{}': CumProd needs ONNX opset 26; the exporter writes opset {}",
            cx.name, b.opset
        )));
    }
    let a = b.init("axis", Tensor::I64(ndarray::arr0(axis as i64).into_dyn()));
    let attrs = vec![
        attr("exclusive", Attr::Int(exclusive as i64)),
        attr("reverse", Attr::Int(reverse as i64)),
    ];
    Ok(b.simple("CumSum", cx.name, vec![cx.x[0].clone(), a], attrs, None))
}
