//! Loading and verifying `.ntp` bytes.

use super::{
    fb, format_from_fb, master_from_fb, optimizer_from_fb, precision_from_fb, role_from_fb,
    validate, CONTAINER, OLDEST_MAJOR,
};
use crate::{DelayedScaling, Optimizer, ParamInfo, TrainingProgram, TrainingStep};
use nnopt_compiler::ir::{text::parse_graph, verify, Graph, NodeIndex, Op, Tensor, ValueRef};
use nnopt_compiler::{Error, Result};
use nnopt_passes::QuantPoint;
use std::collections::HashMap;

/// Parses and verifies a training program: header, CRC, FlatBuffer structure, every
/// graph, and the consistency of the steps with the parameters, the quantizers and the
/// batch ([`validate`]). The steps of a format 1.x program are built again from its
/// forward graph. Errors say what is wrong; the caller adds the file name.
pub fn read(file: &[u8]) -> Result<TrainingProgram> {
    let (body, major) = CONTAINER.open_since(file, OLDEST_MAJOR)?;
    let p = fb::root_as_program(body)
        .map_err(|e| Error::new(format!("training program payload is malformed: {e}")))?;
    let mut params = Vec::new();
    let mut values = Vec::new();
    for (k, fp) in p.params().iter().enumerate() {
        let (info, value) = param(&fp).map_err(|e| context(e, &format!("parameter #{k}")))?;
        params.push(info);
        values.push(value);
    }
    let forward =
        forward_graph(p.forward(), &params, values).map_err(|e| context(e, "the forward graph"))?;
    let steps = p
        .steps()
        .iter()
        .enumerate()
        .map(|(k, s)| step(&s).map_err(|e| context(e, &format!("step #{k}"))))
        .collect::<Result<Vec<_>>>()?;
    let enum_err = |what: &str, v: u8| Error::new(format!("unknown {what} {v}"));
    let mut program = TrainingProgram {
        forward,
        params,
        precision: precision_from_fb(p.precision())
            .ok_or_else(|| enum_err("precision", p.precision().0))?,
        optimizer: Optimizer {
            kind: optimizer_from_fb(p.optimizer())
                .ok_or_else(|| enum_err("optimizer", p.optimizer().0))?,
            learning_rate: p.learning_rate(),
            momentum: p.momentum(),
            beta2: p.beta2(),
            epsilon: p.epsilon(),
            weight_decay: p.weight_decay(),
            warmup_steps: p.warmup_steps(),
        },
        batch: usize::try_from(p.batch()).map_err(|_| Error::new("the batch is too large"))?,
        scaling: DelayedScaling {
            history: usize::try_from(p.amax_history())
                .map_err(|_| Error::new("the amax history is too long"))?,
            margin: p.amax_margin(),
        },
        master_weights: master_from_fb(p.master_weights())
            .ok_or_else(|| enum_err("master-weight kind", p.master_weights().0))?,
        steps,
    };
    if major < super::FORMAT_MAJOR {
        program = program
            .rebuild_steps()
            .map_err(|e| context(e, "building the steps of a format 1 program"))?;
    }
    validate(&program)?;
    Ok(program)
}

/// `what: error`.
fn context(e: Error, what: &str) -> Error {
    Error::new(format!("{what}: {e}"))
}

/// A parameter's layout and value.
fn param(p: &fb::Param<'_>) -> Result<(ParamInfo, Tensor)> {
    let shape = p
        .shape()
        .iter()
        .map(|d| usize::try_from(d).map_err(|_| Error::new(format!("dimension {d} is too large"))))
        .collect::<Result<Vec<usize>>>()?;
    let n = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| Error::new(format!("shape {shape:?} is too large")))?;
    let data = p.data().bytes();
    if Some(data.len()) != n.checked_mul(4) {
        return Err(Error::new(format!(
            "'{}' of shape {shape:?} needs {} bytes of f32 values, the file has {}",
            p.name(),
            n.saturating_mul(4),
            data.len()
        )));
    }
    let v: Vec<f32> = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let value = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), v)
        .map_err(|e| Error::new(format!("'{}': {e}", p.name())))?;
    Ok((
        ParamInfo {
            name: p.name().to_string(),
            shape,
        },
        Tensor::F32(value),
    ))
}

/// Parses the stored forward graph (the parameters are its last inputs) and turns the
/// parameters back into constants of `values`.
fn forward_graph(text: &str, params: &[ParamInfo], values: Vec<Tensor>) -> Result<Graph> {
    let stored = parse_graph(text)?;
    verify(&stored)?;
    let inputs = stored.inputs();
    let Some(data_inputs) = inputs.len().checked_sub(params.len()) else {
        return Err(Error::new(format!(
            "it has {} inputs, fewer than the {} parameters",
            inputs.len(),
            params.len()
        )));
    };
    let mut consts: HashMap<NodeIndex, Tensor> = HashMap::new();
    for ((&n, p), value) in inputs[data_inputs..].iter().zip(params).zip(values) {
        let node = stored.node(n);
        let v = &node.outputs[0];
        if node.name != p.name || v.name != p.name {
            return Err(Error::new(format!(
                "input #{} is '{}', the parameter there is '{}'",
                data_inputs + consts.len(),
                v.name,
                p.name
            )));
        }
        if v.ty != value.tensor_type() {
            return Err(Error::at_node(
                &p.name,
                format!(
                    "the parameter is {}, the graph says {}",
                    value.tensor_type(),
                    v.ty
                ),
            ));
        }
        consts.insert(n, value);
    }
    // Rebuild in the stored (topological) order, so that the graph prints as stored.
    let order = stored
        .topo_order()
        .map_err(|_| Error::new("the graph has a cycle"))?;
    let mut g = Graph::new(stored.name.clone());
    let mut map: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    for n in order {
        let node = stored.node(n);
        let ins: Vec<ValueRef> = stored
            .node_inputs(n)
            .iter()
            .map(|v| ValueRef {
                node: map[&v.node],
                output: v.output,
            })
            .collect();
        let op = match consts.remove(&n) {
            Some(value) => Op::Const { value },
            None => node.op.clone(),
        };
        let new = if matches!(op, Op::Input) {
            let r = g.add_input(node.name.clone(), node.outputs[0].ty.clone());
            g.node_mut(r.node).outputs = node.outputs.clone();
            r.node
        } else {
            g.add_node(node.name.clone(), op, &ins, node.outputs.clone())
        };
        map.insert(n, new);
    }
    let data: Vec<NodeIndex> = inputs[..data_inputs].iter().map(|n| map[n]).collect();
    g.reorder_inputs(&data);
    g.set_outputs(
        stored
            .outputs()
            .iter()
            .map(|v| ValueRef {
                node: map[&v.node],
                output: v.output,
            })
            .collect(),
    );
    verify(&g)?;
    Ok(g)
}

/// One step: its graph (parsed and verified) and its quantizers.
fn step(s: &fb::Step<'_>) -> Result<TrainingStep> {
    let precision = precision_from_fb(s.precision())
        .ok_or_else(|| Error::new(format!("unknown precision {}", s.precision().0)))?;
    let graph = parse_graph(s.graph())?;
    verify(&graph)?;
    let quant_points = s
        .quant_points()
        .iter()
        .enumerate()
        .map(|(k, q)| {
            let bad = |what: &str, v: u8| {
                Error::new(format!(
                    "quant point #{k} '{}': unknown {what} {v}",
                    q.name()
                ))
            };
            Ok(QuantPoint {
                name: q.name().to_string(),
                format: format_from_fb(q.format()).ok_or_else(|| bad("format", q.format().0))?,
                role: role_from_fb(q.role()).ok_or_else(|| bad("role", q.role().0))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TrainingStep {
        precision,
        graph,
        quant_points,
    })
}
