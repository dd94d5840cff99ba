//! Control flow on static shapes: Scan unrolled over its (fixed) sequence length, and If
//! as both branches and a select (or the taken branch, for a constant condition).

use super::super::attrs::NodeCtx;
use super::super::Importer;
use nnopt_compiler::ir::{DType, Op, ValueRef};
use nnopt_compiler::Result;
use tract_onnx::pb;

/// The most body nodes one Scan may unroll to.
const MAX_UNROLLED_NODES: usize = 100_000;

/// Scan (opset 9 on: states, then scan inputs; opset 8: a leading batch axis and an
/// optional `sequence_lens` input, which must be absent).
pub(super) fn scan(imp: &mut Importer, cx: &NodeCtx) -> Result<Vec<ValueRef>> {
    let body = cx
        .graph("body")?
        .ok_or_else(|| cx.err("attribute 'body' is required"))?;
    let m = usize::try_from(cx.int("num_scan_inputs", 0)?)
        .ok()
        .filter(|&m| m >= 1)
        .ok_or_else(|| cx.err("num_scan_inputs must be positive"))?;
    if imp.opset >= 9 {
        let ins = present_inputs(cx, 0)?;
        let outs = unroll(imp, cx, body, &ins, m)?;
        return name_outputs(imp, cx, outs);
    }
    if cx.opt_input(0).is_some() {
        return Err(cx.err("sequence_lens is not supported (all sequences run in full)"));
    }
    // Opset 8: every input has a batch axis; run the body per batch element.
    let ins = present_inputs(cx, 1)?;
    let batch = ins.first().map(|&v| imp.shape(v)[0]).unwrap_or(0);
    if batch == 0 || ins.iter().any(|&v| imp.shape(v).first() != Some(&batch)) {
        return Err(cx.err("every input needs the same non-empty batch axis"));
    }
    let mut per_batch: Vec<Vec<ValueRef>> = vec![];
    for b in 0..batch {
        let sliced = ins
            .iter()
            .map(|&v| take(imp, cx, v, 0, b))
            .collect::<Result<Vec<_>>>()?;
        per_batch.push(unroll(imp, cx, body, &sliced, m)?);
    }
    let outs = (0..per_batch[0].len())
        .map(|k| {
            let parts: Vec<ValueRef> = per_batch.iter().map(|o| o[k]).collect();
            stack(imp, cx, &parts, 0, &format!("{}_batch", cx.out(k)))
        })
        .collect::<Result<Vec<_>>>()?;
    name_outputs(imp, cx, outs)
}

/// The node's inputs from `first` on, all present.
fn present_inputs(cx: &NodeCtx, first: usize) -> Result<Vec<ValueRef>> {
    (first..cx.inputs.len()).map(|i| cx.input(i)).collect()
}

/// Values under the node's output names.
fn name_outputs(imp: &mut Importer, cx: &NodeCtx, outs: Vec<ValueRef>) -> Result<Vec<ValueRef>> {
    outs.into_iter()
        .enumerate()
        .map(|(k, v)| match cx.out(k) {
            "" => Ok(v),
            name => imp.emit(Op::Identity, &[v], name),
        })
        .collect()
}

/// Per-input attribute list `name` (default `0` each), each entry an axis of a tensor
/// of rank `ranks[i]` (directions: 0 or 1).
fn per_input(cx: &NodeCtx, name: &str, ranks: &[usize], axes: bool) -> Result<Vec<usize>> {
    let Some(v) = cx.ints(name)? else {
        return Ok(vec![0; ranks.len()]);
    };
    if v.len() != ranks.len() {
        return Err(cx.err(format!(
            "'{name}' has {} values for {} tensors",
            v.len(),
            ranks.len()
        )));
    }
    v.iter()
        .zip(ranks)
        .map(|(&a, &r)| match axes {
            true => cx.axis(a, r),
            false if a == 0 || a == 1 => Ok(a as usize),
            false => Err(cx.err(format!("'{name}' values must be 0 or 1, got {a}"))),
        })
        .collect()
}

/// Runs `body` over the scan axis of the last `m` of `ins` (the others are the initial
/// states). Returns the final states, then the stacked scan outputs.
fn unroll(
    imp: &mut Importer,
    cx: &NodeCtx,
    body: &pb::GraphProto,
    ins: &[ValueRef],
    m: usize,
) -> Result<Vec<ValueRef>> {
    if m > ins.len() {
        return Err(cx.err(format!("{m} scan inputs but {} inputs", ins.len())));
    }
    let n = ins.len() - m;
    let (mut states, scans) = (ins[..n].to_vec(), &ins[n..]);
    let ranks: Vec<usize> = scans.iter().map(|&v| imp.shape(v).len()).collect();
    let axes = per_input(cx, "scan_input_axes", &ranks, true)?;
    let dirs = per_input(cx, "scan_input_directions", &ranks, false)?;
    let len = imp.shape(scans[0])[axes[0]];
    if len == 0
        || scans
            .iter()
            .zip(&axes)
            .any(|(&v, &a)| imp.shape(v)[a] != len)
    {
        return Err(cx.err("scan inputs need the same non-zero length along their axes"));
    }
    if len.saturating_mul(body.node.len()) > MAX_UNROLLED_NODES {
        return Err(cx.err(format!(
            "unrolling {len} steps of a {}-node body exceeds {MAX_UNROLLED_NODES} nodes",
            body.node.len()
        )));
    }
    let k = body.output.len().checked_sub(n).ok_or_else(|| {
        cx.err(format!(
            "the body has {} outputs for {n} states",
            body.output.len()
        ))
    })?;
    let mut collected: Vec<Vec<ValueRef>> = vec![Vec::with_capacity(len); k];
    for t in 0..len {
        let mut step = states.clone();
        for ((&v, &a), &d) in scans.iter().zip(&axes).zip(&dirs) {
            let i = if d == 1 { len - 1 - t } else { t };
            step.push(take(imp, cx, v, a, i)?);
        }
        let outs = imp
            .inline_graph(body, &step)
            .map_err(|e| cx.err(format!("body: {}", e.message)))?;
        states = outs[..n].to_vec();
        for (c, &v) in collected.iter_mut().zip(&outs[n..]) {
            c.push(v);
        }
    }
    let out_ranks: Vec<usize> = collected
        .iter()
        .map(|c| imp.shape(c[0]).len() + 1)
        .collect();
    let out_axes = per_input(cx, "scan_output_axes", &out_ranks, true)?;
    let out_dirs = per_input(cx, "scan_output_directions", &out_ranks, false)?;
    for (i, mut parts) in collected.into_iter().enumerate() {
        if out_dirs[i] == 1 {
            parts.reverse();
        }
        let name = format!("{}_scan{i}", cx.out(0));
        states.push(stack(imp, cx, &parts, out_axes[i], &name)?);
    }
    Ok(states)
}

/// Index `i` of axis `axis` of `v`, that axis removed.
fn take(imp: &mut Importer, cx: &NodeCtx, v: ValueRef, axis: usize, i: usize) -> Result<ValueRef> {
    let shape = imp.shape(v);
    let rank = shape.len();
    let (mut starts, mut ends, steps) = (vec![0; rank], vec![i64::MAX; rank], vec![1; rank]);
    (starts[axis], ends[axis]) = (i as i64, i as i64 + 1);
    let base = format!("{}_t{i}", cx.out(0));
    let op = Op::Slice {
        starts,
        ends,
        steps,
    };
    let s = imp.emit(op, &[v], &base)?;
    let mut rest = shape;
    rest.remove(axis);
    imp.reshape(s, rest, &format!("{base}_squeezed"))
}

/// `parts` (of equal shape) stacked along a new axis `axis`.
fn stack(
    imp: &mut Importer,
    cx: &NodeCtx,
    parts: &[ValueRef],
    axis: usize,
    name: &str,
) -> Result<ValueRef> {
    let shape = imp.shape(parts[0]);
    if axis > shape.len() || parts.iter().any(|&p| imp.shape(p) != shape) {
        return Err(cx.err(format!(
            "cannot stack values of shape {shape:?} on axis {axis}"
        )));
    }
    let mut one = shape.clone();
    one.insert(axis, 1);
    let lifted = parts
        .iter()
        .map(|&p| imp.reshape(p, one.clone(), &format!("{name}_part")))
        .collect::<Result<Vec<_>>>()?;
    imp.emit(Op::Concat { axis }, &lifted, name)
}

/// If: the taken branch when the condition is a constant; otherwise both branches run and
/// each output is selected by the condition (their outputs must agree in type and shape).
pub(super) fn if_(imp: &mut Importer, cx: &NodeCtx) -> Result<Vec<ValueRef>> {
    let cond = cx.input(0)?;
    let branch = |name| {
        cx.graph(name)?
            .ok_or_else(|| cx.err(format!("attribute '{name}' is required")))
    };
    let (then, other) = (branch("then_branch")?, branch("else_branch")?);
    if imp.ty(cond).dtype != DType::Bool || imp.ty(cond).num_elements() != 1 {
        return Err(cx.err(format!(
            "the condition must be one bool, got {}",
            imp.ty(cond)
        )));
    }
    let run = |imp: &mut Importer, g: &pb::GraphProto, which: &str| {
        imp.inline_graph(g, &[])
            .map_err(|e| cx.err(format!("{which}: {}", e.message)))
    };
    if let Some(c) = imp.const_value(cond) {
        let taken = c.to_i64_vec().is_some_and(|v| v[0] != 0);
        let outs = if taken {
            run(imp, then, "then_branch")?
        } else {
            run(imp, other, "else_branch")?
        };
        return name_outputs(imp, cx, outs);
    }
    let cond = imp.reshape(cond, vec![], &format!("{}_cond", cx.out(0)))?;
    let (a, b) = (
        run(imp, then, "then_branch")?,
        run(imp, other, "else_branch")?,
    );
    if a.len() != b.len() {
        return Err(cx.err("the branches have different numbers of outputs"));
    }
    let mut outs = vec![];
    for (k, (&x, &y)) in a.iter().zip(&b).enumerate() {
        let (tx, ty) = (imp.ty(x), imp.ty(y));
        if tx.dtype != ty.dtype || tx.shape != ty.shape {
            return Err(cx.err(format!(
                "output {k} is {tx} in one branch and {ty} in the other: a condition \
                 computed at run time needs outputs of one type and shape"
            )));
        }
        let name = match cx.out(k) {
            "" => format!("if_unused{k}"),
            n => n.to_string(),
        };
        outs.push(imp.emit(Op::Where, &[cond, x, y], &name)?);
    }
    Ok(outs)
}
