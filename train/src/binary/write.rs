//! Serialization of a [`TrainingProgram`] to `.ntp` bytes.

use super::{
    fb, format_to_fb, master_to_fb, optimizer_to_fb, precision_to_fb, role_to_fb, CONTAINER,
};
use crate::{ParamInfo, TrainingProgram};
use flatbuffers::FlatBufferBuilder;
use nnopt_compiler::ir::text::{print_graph, PrintOptions};
use nnopt_compiler::ir::{Graph, NodeIndex, Op, Tensor, ValueRef};
use std::collections::HashMap;

/// Serializes `p`. The bytes depend only on the program (the same program gives the same
/// file). The program is written as it is: [`read`](super::read) rejects an inconsistent
/// one (see [`validate`](super::validate)).
pub fn write(p: &TrainingProgram) -> Vec<u8> {
    let (skeleton, values) = split_params(&p.forward, &p.params);
    let mut b = FlatBufferBuilder::new();
    let forward = b.create_string(&print_graph(&skeleton, &PrintOptions::default()));
    let params: Vec<_> = p
        .params
        .iter()
        .zip(&values)
        .map(|(info, data)| {
            let name = b.create_string(&info.name);
            let shape: Vec<u64> = info.shape.iter().map(|&d| d as u64).collect();
            let shape = b.create_vector(&shape);
            let data = b.create_vector(data);
            fb::Param::create(
                &mut b,
                &fb::ParamArgs {
                    name: Some(name),
                    shape: Some(shape),
                    data: Some(data),
                },
            )
        })
        .collect();
    let params = b.create_vector(&params);
    let steps: Vec<_> = p
        .steps
        .iter()
        .map(|s| {
            let graph = b.create_string(&print_graph(&s.graph, &PrintOptions::default()));
            let points: Vec<_> = s
                .quant_points
                .iter()
                .map(|q| {
                    let name = b.create_string(&q.name);
                    fb::QuantPoint::create(
                        &mut b,
                        &fb::QuantPointArgs {
                            name: Some(name),
                            format: format_to_fb(q.format),
                            role: role_to_fb(q.role),
                        },
                    )
                })
                .collect();
            let quant_points = b.create_vector(&points);
            fb::Step::create(
                &mut b,
                &fb::StepArgs {
                    precision: precision_to_fb(s.precision),
                    graph: Some(graph),
                    quant_points: Some(quant_points),
                },
            )
        })
        .collect();
    let steps = b.create_vector(&steps);
    let root = fb::Program::create(
        &mut b,
        &fb::ProgramArgs {
            forward: Some(forward),
            params: Some(params),
            precision: precision_to_fb(p.precision),
            learning_rate: p.optimizer.learning_rate,
            momentum: p.optimizer.momentum,
            weight_decay: p.optimizer.weight_decay,
            batch: p.batch as u64,
            amax_history: p.scaling.history as u64,
            amax_margin: p.scaling.margin,
            master_weights: master_to_fb(p.master_weights),
            steps: Some(steps),
            optimizer: optimizer_to_fb(p.optimizer.kind),
            beta2: p.optimizer.beta2,
            epsilon: p.optimizer.epsilon,
            warmup_steps: p.optimizer.warmup_steps,
        },
    );
    fb::finish_program_buffer(&mut b, root);
    CONTAINER.wrap(b.finished_data())
}

/// The forward graph with each parameter's constant turned into a graph input (after the
/// data inputs, in parameter order), nodes in topological order; and the parameters'
/// values as little-endian f32 bytes (empty for a parameter that is not an f32 constant
/// of the graph, which the reader rejects).
fn split_params(forward: &Graph, params: &[ParamInfo]) -> (Graph, Vec<Vec<u8>>) {
    let mut param_nodes: HashMap<NodeIndex, usize> = HashMap::new();
    let mut values = vec![Vec::new(); params.len()];
    for (k, p) in params.iter().enumerate() {
        let Some(n) = forward.find_node(&p.name) else {
            continue;
        };
        if let Op::Const {
            value: Tensor::F32(a),
        } = &forward.node(n).op
        {
            values[k] = a.iter().flat_map(|x| x.to_le_bytes()).collect();
            param_nodes.entry(n).or_insert(k);
        }
    }
    let mut g = Graph::new(forward.name.clone());
    let mut map: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut param_inputs = vec![None; params.len()];
    let order = forward
        .topo_order()
        .unwrap_or_else(|_| forward.node_indices());
    // Nodes first, then edges, so that even a malformed (cyclic) graph is copied.
    for &n in &order {
        let node = forward.node(n);
        let param = param_nodes.get(&n).copied();
        let new = if param.is_some() || forward.inputs().contains(&n) {
            let r = g.add_input(node.name.clone(), node.outputs[0].ty.clone());
            g.node_mut(r.node).outputs = node.outputs.clone();
            r.node
        } else {
            g.add_node(
                node.name.clone(),
                node.op.clone(),
                &[],
                node.outputs.clone(),
            )
        };
        if let Some(k) = param {
            param_inputs[k] = Some(new);
        }
        map.insert(n, new);
    }
    let remap = |v: &ValueRef| ValueRef {
        node: map[&v.node],
        output: v.output,
    };
    for &n in &order {
        let ins: Vec<ValueRef> = forward.node_inputs(n).iter().map(remap).collect();
        if !ins.is_empty() {
            g.set_inputs(map[&n], &ins);
        }
    }
    let mut inputs: Vec<NodeIndex> = Vec::new();
    for n in forward.inputs() {
        if !inputs.contains(&map[n]) {
            inputs.push(map[n]);
        }
    }
    inputs.extend(param_inputs.into_iter().flatten());
    g.reorder_inputs(&inputs);
    g.set_outputs(forward.outputs().iter().map(remap).collect());
    (g, values)
}
