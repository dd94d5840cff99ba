//! Deterministic IR printer.

use crate::ir::{Graph, Op, Tensor, TensorType, ValueRef};
use std::fmt::Write;

/// Printer options.
#[derive(Clone, Debug, Default)]
pub struct PrintOptions {
    /// Constants with more elements than this print as a hash instead of their values
    /// (the result then cannot be parsed back). `None` prints everything.
    pub elide_constants_over: Option<usize>,
}

impl PrintOptions {
    /// Options for snapshots and dumps: constants over 16 elements are elided.
    pub fn summary() -> Self {
        PrintOptions {
            elide_constants_over: Some(16),
        }
    }
}

/// Whether a name can be printed without quotes.
fn is_plain(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !name.starts_with('.')
}

/// Prints a name, quoted when needed.
pub(super) fn name_token(name: &str) -> String {
    if is_plain(name) {
        name.to_string()
    } else {
        serde_json::to_string(name).expect("string serializes")
    }
}

fn print_type(out: &mut String, ty: &TensorType) {
    write!(out, "{ty}").expect("write to string");
}

fn print_values(out: &mut String, t: &Tensor) {
    out.push('[');
    macro_rules! list {
        ($a:expr, $fmt:literal) => {
            for (i, v) in $a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write!(out, $fmt, v).expect("write to string");
            }
        };
    }
    match t {
        Tensor::F32(a) => list!(a, "{:?}"),
        Tensor::I8(a) => list!(a, "{}"),
        Tensor::U8(a) | Tensor::F8E4M3(a) | Tensor::F8E5M2(a) => list!(a, "{}"),
        Tensor::I16(a) => list!(a, "{}"),
        Tensor::I32(a) => list!(a, "{}"),
        Tensor::I64(a) => list!(a, "{}"),
        Tensor::Bool(a) => list!(a, "{}"),
        Tensor::F16(a) => list!(a, "{:?}"),
        Tensor::Bf16(a) => list!(a, "{:?}"),
        Tensor::F64(a) => list!(a, "{:?}"),
        Tensor::U16(a) => list!(a, "{}"),
        Tensor::U32(a) => list!(a, "{}"),
        Tensor::U64(a) => list!(a, "{}"),
        Tensor::I4(a) | Tensor::I2(a) => list!(a, "{}"),
        Tensor::U4(a)
        | Tensor::U2(a)
        | Tensor::F4E2M1(a)
        | Tensor::F8E4M3Fnuz(a)
        | Tensor::F8E5M2Fnuz(a)
        | Tensor::F8E8M0(a) => list!(a, "{}"),
    }
    out.push(']');
}

fn value_token(g: &Graph, v: ValueRef) -> String {
    format!("%{}", name_token(&g.value(v).name))
}

/// Prints the graph in topological order. Graphs with cycles print in index order.
pub fn print_graph(g: &Graph, opts: &PrintOptions) -> String {
    let mut out = String::new();
    let ins: Vec<String> = g
        .inputs()
        .iter()
        .map(|&n| value_token(g, ValueRef::first(n)))
        .collect();
    writeln!(
        out,
        "graph {}({}) {{",
        serde_json::to_string(&g.name).expect("string serializes"),
        ins.join(", ")
    )
    .expect("write to string");
    let order = g.topo_order().unwrap_or_else(|_| g.node_indices());
    for n in order {
        let node = g.node(n);
        out.push_str("  ");
        for (i, v) in node.outputs.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write!(out, "%{}: ", name_token(&v.name)).expect("write to string");
            print_type(&mut out, &v.ty);
        }
        out.push_str(" = ");
        out.push_str(node.op.name());
        match &node.op {
            Op::Input => {}
            Op::Const { value } => {
                out.push(' ');
                match opts.elide_constants_over {
                    Some(limit) if value.len() > limit => {
                        write!(out, "<elided {:016x}>", value.content_hash())
                            .expect("write to string");
                    }
                    _ => print_values(&mut out, value),
                }
            }
            op => {
                let json = serde_json::to_string(op).expect("op serializes");
                let tag = format!("{{\"op\":\"{}\"", op.name());
                let rest = json.strip_prefix(&tag).expect("op tag comes first");
                if rest != "}" {
                    out.push_str(" {");
                    out.push_str(rest.strip_prefix(',').unwrap_or(rest));
                }
                out.push('(');
                let ins: Vec<String> = g
                    .node_inputs(n)
                    .into_iter()
                    .map(|v| value_token(g, v))
                    .collect();
                out.push_str(&ins.join(", "));
                out.push(')');
            }
        }
        if node.outputs.first().map(|v| v.name.as_str()) != Some(node.name.as_str()) {
            write!(
                out,
                " @{}",
                serde_json::to_string(&node.name).expect("string serializes")
            )
            .expect("write to string");
        }
        out.push('\n');
    }
    let outs: Vec<String> = g.outputs().iter().map(|&v| value_token(g, v)).collect();
    writeln!(out, "  return {}", outs.join(", ")).expect("write to string");
    out.push_str("}\n");
    out
}
