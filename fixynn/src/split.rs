//! Split points of a float model: the outputs of the convolutions on the chain from its
//! input, where the front-end (everything before) can be hard-wired; the front-end as a
//! graph of its own, and the back-end as a graph taking the split tensor as its input.

use nnopt_compiler::ir::{Graph, Op, ValueRef};
use nnopt_compiler::pass::Pass;
use nnopt_compiler::{bail, Result};
use nnopt_passes::DeadNodeElimination;

/// The split tensors, nearest the input first: each convolution output on the chain of
/// single-consumer convolutions from the model's one input, but not the model output.
pub fn candidates(g: &Graph) -> Result<Vec<String>> {
    let [input] = g.inputs() else {
        bail!(
            "a model to split has one input, this one has {}",
            g.inputs().len()
        );
    };
    let mut current = ValueRef::first(*input);
    let mut out = Vec::new();
    loop {
        let consumers = g.consumers(current);
        let [(n, 0)] = consumers[..] else { break };
        if !matches!(g.node(n).op, Op::Conv(_)) || g.node(n).outputs.len() != 1 {
            break;
        }
        current = ValueRef::first(n);
        if g.outputs().contains(&current) {
            break;
        }
        out.push(g.node(n).outputs[0].name.clone());
    }
    Ok(out)
}

/// The value named `name`.
pub fn find_value(g: &Graph, name: &str) -> Result<ValueRef> {
    for n in g.node_indices() {
        if let Some(i) = g.node(n).outputs.iter().position(|v| v.name == name) {
            return Ok(ValueRef { node: n, output: i });
        }
    }
    bail!("the model has no tensor named '{name}'")
}

/// Everything `split` depends on, with `split` as the only output.
pub fn front(g: &Graph, split: &str) -> Result<Graph> {
    let mut f = g.clone();
    let v = find_value(&f, split)?;
    f.set_outputs(vec![v]);
    DeadNodeElimination.run(&mut f)?;
    Ok(f.compacted())
}

/// The rest of the model, reading `split` as its input (of the same name and type).
pub fn back(g: &Graph, split: &str) -> Result<Graph> {
    let mut b = g.clone();
    let v = find_value(&b, split)?;
    let ty = b.ty(v).clone();
    let old_inputs = b.inputs().to_vec();
    if b.outputs().contains(&v) {
        bail!("'{split}' is the model output: nothing is left for the back-end");
    }
    let input = b.add_input(format!("{split}__split"), ty);
    b.replace_all_uses(v, input);
    DeadNodeElimination.run(&mut b)?;
    for n in old_inputs {
        if !b.consumers(ValueRef::first(n)).is_empty() {
            bail!(
                "the back-end after '{split}' still reads the model input: '{split}' is not a cut"
            );
        }
        b.remove_node(n);
    }
    DeadNodeElimination.run(&mut b)?;
    let n = input.node;
    b.node_mut(n).name = split.to_string();
    b.node_mut(n).outputs[0].name = split.to_string();
    Ok(b.compacted())
}

/// The front-end followed by a back-end (the whole deployed model of one task): the
/// back-end's input becomes a dequantization of the front-end's output.
pub fn join(front: &Graph, back: &Graph) -> Result<Graph> {
    let [fe_out] = front.outputs() else {
        bail!("the front-end must have one output");
    };
    let [back_in] = back.inputs() else {
        bail!("the back-end must have one input");
    };
    let mut g = front.clone();
    let in_ty = back.node(*back_in).outputs[0].ty.clone();
    if g.ty(*fe_out).shape != in_ty.shape {
        bail!(
            "the front-end's output {:?} does not fit the back-end's input {:?}",
            g.ty(*fe_out).shape,
            in_ty.shape
        );
    }
    let order = back.topo_order().map_err(|n| {
        nnopt_compiler::Error::at_node(&back.node(n).name, "the back-end has a cycle")
    })?;
    let mut map = std::collections::HashMap::new();
    for n in order {
        let node = back.node(n);
        let name = g.fresh_name(&node.name);
        let new = if n == *back_in {
            let ty = nnopt_compiler::ir::TensorType::new(in_ty.dtype, in_ty.shape.clone());
            g.add_op(name, Op::Dequantize, &[*fe_out], ty).node
        } else {
            let inputs: Vec<ValueRef> = back
                .node_inputs(n)
                .iter()
                .map(|v| ValueRef {
                    node: map[&v.node],
                    output: v.output,
                })
                .collect();
            let mut outputs = node.outputs.clone();
            for v in &mut outputs {
                v.name = g.fresh_name(&v.name);
            }
            g.add_node(name, node.op.clone(), &inputs, outputs)
        };
        map.insert(n, new);
    }
    g.set_outputs(
        back.outputs()
            .iter()
            .map(|v| ValueRef {
                node: map[&v.node],
                output: v.output,
            })
            .collect(),
    );
    Ok(g.compacted())
}
