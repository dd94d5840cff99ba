//! Reshape, Transpose, Concat, Split, Slice, Pad, Expand, Gather, GatherElements,
//! ScatterElements, ScatterND and TopK.

use super::NodeArgs;
use crate::onnx::export::builder::{ints, Builder};
use crate::onnx::export::proto::{attr, Attr};
use nnopt_compiler::ir::{PadMode, ScatterReduction};
use nnopt_compiler::{Error, Result};

/// Reshape to a constant shape.
pub(crate) fn reshape(b: &mut Builder, cx: NodeArgs, shape: &[usize]) -> String {
    let s: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    let s = b.i64s("shape", &s);
    b.simple("Reshape", cx.name, vec![cx.x[0].clone(), s], vec![], None)
}

/// Transpose.
pub(crate) fn transpose(b: &mut Builder, cx: NodeArgs, perm: &[usize]) -> String {
    b.simple(
        "Transpose",
        cx.name,
        cx.x,
        vec![attr("perm", ints(perm.iter().copied()))],
        None,
    )
}

/// Concat and Gather: an op whose only attribute is its axis.
pub(crate) fn along_axis(b: &mut Builder, cx: NodeArgs, op: &str, axis: usize) -> String {
    b.simple(
        op,
        cx.name,
        cx.x,
        vec![attr("axis", Attr::Int(axis as i64))],
        None,
    )
}

/// Split into `sizes`; writes every output itself.
pub(crate) fn split(b: &mut Builder, cx: NodeArgs, axis: usize, sizes: &[usize]) -> Result<()> {
    let NodeArgs { node, name, x, .. } = cx;
    let s: Vec<i64> = sizes.iter().map(|&d| d as i64).collect();
    let s = b.i64s("split", &s);
    let outs: Vec<String> = node.outputs.iter().map(|v| b.fresh(&v.name)).collect();
    b.push(
        "Split",
        name,
        vec![x[0].clone(), s],
        outs.clone(),
        vec![attr("axis", Attr::Int(axis as i64))],
    );
    for (o, v) in outs.into_iter().zip(&node.outputs) {
        b.finish_output(o, v)?;
    }
    Ok(())
}

/// Slice over the leading axes.
pub(crate) fn slice(
    b: &mut Builder,
    cx: NodeArgs,
    starts: &[i64],
    ends: &[i64],
    steps: &[i64],
) -> String {
    let axes: Vec<i64> = (0..starts.len() as i64).collect();
    let s = b.i64s("starts", starts);
    let e = b.i64s("ends", ends);
    let a = b.i64s("axes", &axes);
    let st = b.i64s("steps", steps);
    b.simple(
        "Slice",
        cx.name,
        vec![cx.x[0].clone(), s, e, a, st],
        vec![],
        None,
    )
}

/// ONNX's name of a scatter reduction; max and min need opset 18 and are refused.
fn reduction_name(cx: &NodeArgs, reduction: ScatterReduction) -> Result<&'static str> {
    match reduction {
        ScatterReduction::None => Ok("none"),
        ScatterReduction::Add => Ok("add"),
        ScatterReduction::Mul => Ok("mul"),
        r => Err(Error::new(format!(
            "node '{}': scatter reduction {r:?} needs ONNX opset 18",
            cx.name
        ))),
    }
}

/// ScatterElements.
pub(crate) fn scatter_elements(
    b: &mut Builder,
    cx: NodeArgs,
    axis: usize,
    reduction: ScatterReduction,
) -> Result<String> {
    let reduction = reduction_name(&cx, reduction)?;
    let attrs = vec![
        attr("axis", Attr::Int(axis as i64)),
        attr("reduction", Attr::Str(reduction.into())),
    ];
    Ok(b.simple("ScatterElements", cx.name, cx.x, attrs, None))
}

/// ScatterND.
pub(crate) fn scatter_nd(
    b: &mut Builder,
    cx: NodeArgs,
    reduction: ScatterReduction,
) -> Result<String> {
    let reduction = reduction_name(&cx, reduction)?;
    let attrs = vec![attr("reduction", Attr::Str(reduction.into()))];
    Ok(b.simple("ScatterND", cx.name, cx.x, attrs, None))
}

/// TopK (sorted), with `k` as an int64 input.
pub(crate) fn top_k(
    b: &mut Builder,
    cx: NodeArgs,
    axis: usize,
    k: usize,
    largest: bool,
) -> Result<()> {
    let NodeArgs { node, name, x, .. } = cx;
    let k = b.i64s("k", &[k as i64]);
    let outs: Vec<String> = node.outputs.iter().map(|v| b.fresh(&v.name)).collect();
    let attrs = vec![
        attr("axis", Attr::Int(axis as i64)),
        attr("largest", Attr::Int(i64::from(largest))),
        attr("sorted", Attr::Int(1)),
    ];
    b.push("TopK", name, vec![x[0].clone(), k], outs.clone(), attrs);
    for (o, v) in outs.into_iter().zip(&node.outputs) {
        b.finish_output(o, v)?;
    }
    Ok(())
}

/// Expand to a static shape.
pub(crate) fn expand(b: &mut Builder, cx: NodeArgs, shape: &[usize]) -> String {
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    let s = b.i64s("shape", &dims);
    b.simple("Expand", cx.name, vec![cx.x[0].clone(), s], vec![], None)
}

/// Pad with constant, reflected, edge or (opset 19) wrapped values.
pub(crate) fn pad(
    b: &mut Builder,
    cx: NodeArgs,
    pads: &[(usize, usize)],
    mode: PadMode,
    value: f32,
) -> Result<String> {
    if mode == PadMode::Wrap && b.opset < 19 {
        return Err(Error::new(format!(
            "node '{}': wrap padding needs ONNX opset 19; the exporter writes opset {}",
            cx.name, b.opset
        )));
    }
    let mut p: Vec<i64> = pads.iter().map(|&(before, _)| before as i64).collect();
    p.extend(pads.iter().map(|&(_, after)| after as i64));
    let p = b.i64s("pads", &p);
    let v = b.f32_scalar("pad_value", value);
    let mode = match mode {
        PadMode::Constant => "constant",
        PadMode::Reflect => "reflect",
        PadMode::Edge => "edge",
        PadMode::Wrap => "wrap",
    };
    Ok(b.simple(
        "Pad",
        cx.name,
        vec![cx.x[0].clone(), p, v],
        vec![attr("mode", Attr::Str(mode.into()))],
        None,
    ))
}
