//! The text form of an NPU program: one line per command (what `nnopt inspect x.npub`
//! prints as the schedule, and what the lowering snapshots record).

use super::program::{Command, ElementwiseKind, Fp8Encoding, Fp8Stage, Program};
use nnopt_compiler::ir::DType;

/// `name dtype[shape]@offset` of a tensor.
fn tensor_text(p: &Program, id: usize) -> String {
    match p.tensors.get(id) {
        Some(t) => format!("t{id} {}{:?}@{}", t.dtype, t.shape, t.offset),
        None => format!("t{id} (missing)"),
    }
}

/// One line per command: kind, inputs -> outputs (type, shape, arena offset), weights.
pub fn schedule(p: &Program) -> Vec<String> {
    p.commands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let list = |ids: Vec<usize>| {
                ids.into_iter()
                    .map(|id| tensor_text(p, id))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let extra = match c {
                Command::Conv2d(x) => format!(
                    "{} k{:?} s{:?} d{:?} p{:?} g{} w#{}{}",
                    if x.transposed { " transposed" } else { "" },
                    x.kernel,
                    x.strides,
                    x.dilations,
                    x.pads,
                    x.groups,
                    x.weights,
                    fp8_text(p, x.weights, x.fp8.as_ref())
                ),
                Command::FullyConnected(x) => {
                    format!(" w#{}{}", x.weights, fp8_text(p, x.weights, x.fp8.as_ref()))
                }
                Command::Quantize(x) => {
                    format!(" {} scale {}", x.encoding.format.name(), x.encoding.scale)
                }
                Command::Pool(x) => format!(
                    " {:?} k{:?} s{:?} p{:?}{}",
                    x.kind,
                    x.kernel,
                    x.strides,
                    x.pads,
                    encode_text(x.encode)
                ),
                Command::Reduce(x) => match x.float {
                    Some(k) => format!(" f32 {k:?} axes{:?}{}", x.axes, encode_text(x.encode)),
                    None => format!(" axes{:?}", x.axes),
                },
                Command::Concat(x) if x.tables.is_empty() => format!(" axis {}", x.axis),
                Command::Concat(x) => format!(" axis {} requantized", x.axis),
                Command::Cpu { segment } => format!(" segment {segment}"),
                Command::Pad(x)
                    if p.tensors
                        .get(x.input)
                        .is_some_and(|t| t.dtype != DType::F32) =>
                {
                    format!(" {:?} fill {}", x.pads, x.fill)
                }
                Command::Pad(x) => {
                    format!(" {:?} value {}{}", x.pads, x.value, encode_text(x.encode))
                }
                Command::Lookup(_) => " table".to_string(),
                Command::Softmax(x) => format!(" axis {}", x.axis),
                Command::Requantize(x) => format!(
                    " zero points {} -> {}",
                    x.input_zero_point, x.output_zero_point
                ),
                Command::Svdf(x) => format!(
                    " rank {} memory {} {} state (host)",
                    x.rank, x.memory, x.state_type
                ),
                Command::TableSoftmax(x) => format!(" axis {} float table (host)", x.axis),
                Command::PRelu(x) => format!(" slopes{:?}", x.alpha_shape),
                Command::Resize(x) => format!(
                    " {}{}{}",
                    if x.bilinear { "bilinear" } else { "nearest" },
                    if x.align_corners {
                        " align_corners"
                    } else {
                        ""
                    },
                    if x.half_pixel_centers {
                        " half_pixel_centers"
                    } else {
                        ""
                    }
                ),
                Command::Activate(x) => format!(
                    " {}{}",
                    serde_json::to_string(&x.activation).unwrap_or_default(),
                    encode_text(x.encode)
                ),
                Command::Elementwise(x) => match x.kind {
                    ElementwiseKind::F32 { op, .. } => {
                        format!(" f32 {op:?}{}", encode_text(x.encode))
                    }
                    _ => String::new(),
                },
            };
            format!(
                "{i:>3} {:<15} {} -> {}{extra}",
                c.kind_name(),
                list(c.inputs(p)),
                list(c.outputs(p))
            )
        })
        .collect()
}

/// ` -> e4m3 scale s` for an f32 command with a fused quantize.
fn encode_text(e: Option<Fp8Encoding>) -> String {
    e.map(|e| format!(" -> {} scale {}", e.format.name(), e.scale))
        .unwrap_or_default()
}

/// ` fp8(weights e4m3, input e4m3 scale s, act, out f32)` for an FP8 layer.
fn fp8_text(p: &Program, block: usize, st: Option<&Fp8Stage>) -> String {
    let Some(st) = st else {
        return String::new();
    };
    let weights = p.weights.get(block).map_or("?", |w| w.weight_type());
    let act = st
        .activation
        .map(|a| format!(", {}", serde_json::to_string(&a).unwrap_or_default()))
        .unwrap_or_default();
    let out = st.output.map_or("f32".to_string(), |e| {
        format!("{} scale {}", e.format.name(), e.scale)
    });
    format!(
        " fp8(weights {weights}, input {} scale {}{act}, out {out})",
        st.input_format.name(),
        st.input_scale
    )
}
