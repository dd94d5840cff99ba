//! `nnopt inspect`: a summary of a model.

use nnopt_compiler::analysis::{parameter_totals, peak_activation_bytes, total_macs};
use nnopt_compiler::ir::{Graph, QuantParams, TensorType};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// One model input or output.
#[derive(Clone, Debug, Serialize)]
pub struct IoInfo {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantization: Option<QuantParams>,
}

impl IoInfo {
    fn new(name: &str, ty: &TensorType) -> Self {
        IoInfo {
            name: name.to_string(),
            dtype: ty.dtype.to_string(),
            shape: ty.shape.clone(),
            quantization: ty.quant.clone(),
        }
    }
}

/// What `nnopt inspect` reports about an IR graph.
#[derive(Clone, Debug, Serialize)]
pub struct ModelSummary {
    pub name: String,
    pub inputs: Vec<IoInfo>,
    pub outputs: Vec<IoInfo>,
    pub nodes: usize,
    /// Op histogram by detailed op name (constants and inputs excluded).
    pub ops: BTreeMap<String, usize>,
    pub parameters: usize,
    pub parameter_bytes: usize,
    pub macs: u64,
    /// Sum of all activation tensors' sizes.
    pub activation_bytes: usize,
    /// Peak of simultaneously live activations in topological order.
    pub peak_activation_bytes: usize,
}

/// Summarizes a graph.
pub fn summarize(g: &Graph) -> ModelSummary {
    let mut ops = BTreeMap::new();
    let mut activation_bytes = 0;
    for n in g.node_indices() {
        let node = g.node(n);
        if matches!(node.op, nnopt_compiler::ir::Op::Const { .. }) {
            continue;
        }
        activation_bytes += node
            .outputs
            .iter()
            .map(|v| v.ty.size_bytes())
            .sum::<usize>();
        if !node.op.is_source() {
            *ops.entry(node.op.detailed_name()).or_insert(0) += 1;
        }
    }
    let (parameters, parameter_bytes) = parameter_totals(g);
    ModelSummary {
        name: g.name.clone(),
        inputs: g
            .inputs()
            .iter()
            .map(|&n| IoInfo::new(&g.node(n).outputs[0].name, &g.node(n).outputs[0].ty))
            .collect(),
        outputs: g
            .outputs()
            .iter()
            .map(|&v| IoInfo::new(&g.value(v).name, g.ty(v)))
            .collect(),
        nodes: g.node_count(),
        ops,
        parameters,
        parameter_bytes,
        macs: total_macs(g),
        activation_bytes,
        peak_activation_bytes: peak_activation_bytes(g),
    }
}

fn io_line(out: &mut String, io: &IoInfo) {
    let q = io
        .quantization
        .as_ref()
        .map(|q| match q.axis {
            None => format!("  scale {} zero point {}", q.scale[0], q.zero_point[0]),
            Some(a) => format!("  per-axis({a}) quantization, {} scales", q.scale.len()),
        })
        .unwrap_or_default();
    writeln!(out, "    {:<28} {:>5} {:?}{q}", io.name, io.dtype, io.shape)
        .expect("write to string");
}

/// Human-readable rendering of a summary.
pub fn render(s: &ModelSummary) -> String {
    let mut out = String::new();
    let w = &mut out;
    writeln!(w, "model: {}", s.name).expect("write");
    writeln!(w, "  inputs:").expect("write");
    s.inputs.iter().for_each(|io| io_line(w, io));
    writeln!(w, "  outputs:").expect("write");
    s.outputs.iter().for_each(|io| io_line(w, io));
    writeln!(
        w,
        "  parameters:        {:>14} ({} bytes)",
        s.parameters, s.parameter_bytes
    )
    .expect("write");
    writeln!(w, "  MACs:              {:>14}", s.macs).expect("write");
    writeln!(
        w,
        "  activation memory: {:>14} bytes (peak live {} bytes)",
        s.activation_bytes, s.peak_activation_bytes
    )
    .expect("write");
    writeln!(w, "  nodes:             {:>14}", s.nodes).expect("write");
    writeln!(w, "  ops:").expect("write");
    let mut ops: Vec<_> = s.ops.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (op, count) in ops {
        writeln!(w, "    {op:<28} {count:>5}").expect("write");
    }
    out
}
