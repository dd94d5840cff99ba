//! ONNX export: writes an IR graph as an ONNX model (opset 17) that onnxruntime runs.
//!
//! NHWC ops (from TFLite) are wrapped in transposes; ops on quantized tensors are written
//! in QDQ form (DequantizeLinear -> float op -> QuantizeLinear). The driver walks the graph
//! and dispatches each node to its op family's writer in `ops/`.

mod builder;
mod ops;
mod proto;

use builder::Builder;
use nnopt_compiler::ir::{Graph, NodeIndex, Op};
use nnopt_compiler::{Error, Result};
use ops::{
    arg_reduce, conv, cumulative, math, quant, recurrent, reduce, resize, shape, unary, NodeArgs,
};
use prost::Message;
use proto::{attr, tensor_proto, value_info, Attr};
use tract_onnx::pb::{GraphProto, ModelProto, OperatorSetIdProto};

/// The ONNX opset written for graphs without FP8 values.
pub const OPSET: i64 = 17;

/// The ONNX opset written for graphs with FP8 values (FP8 QuantizeLinear and
/// DequantizeLinear appeared in opset 19).
pub const FP8_OPSET: i64 = 19;

/// The opset `g` needs: [`OPSET`], or the first opset with an element type it uses (FP8:
/// [`FP8_OPSET`]; 4-bit integers 21, FP4 23, E8M0 24, 2-bit integers 25).
pub fn opset_for(g: &Graph) -> i64 {
    g.node_indices()
        .into_iter()
        .flat_map(|n| {
            g.node(n)
                .outputs
                .iter()
                .map(|v| proto::first_opset(v.ty.dtype))
        })
        .fold(OPSET, i64::max)
}

/// Serializes the graph as an ONNX model.
pub fn export_onnx(g: &Graph) -> Result<Vec<u8>> {
    Ok(export_onnx_model(g)?.encode_to_vec())
}

/// Builds the ONNX model proto of the graph.
pub fn export_onnx_model(g: &Graph) -> Result<ModelProto> {
    crate::dims::dims_fit(g, i64::MAX as u64, "ONNX's int64 shapes")?;
    let mut b = Builder::new(g, opset_for(g));
    let order = g
        .topo_order()
        .map_err(|n| Error::at_node(&g.node(n).name, "graph has a cycle"))?;
    let mut inputs = vec![];
    for n in order {
        let node = g.node(n);
        match &node.op {
            Op::Input => {
                let v = &node.outputs[0];
                b.check_dtype(&v.ty).map_err(|e| e.in_node(&node.name))?;
                inputs.push(value_info(&v.name, &v.ty));
            }
            Op::Const { value } => {
                b.check_dtype(&node.outputs[0].ty)
                    .map_err(|e| e.in_node(&node.name))?;
                b.inits.push(tensor_proto(&node.outputs[0].name, value));
            }
            _ => lower_node(&mut b, n).map_err(|e| e.in_node(&node.name))?,
        }
    }
    let outputs = g
        .outputs()
        .iter()
        .map(|&v| value_info(&g.value(v).name, g.ty(v)))
        .collect();
    let b_opset = b.opset;
    let graph = GraphProto {
        name: g.name.clone(),
        node: b.nodes,
        initializer: b.inits,
        input: inputs,
        output: outputs,
        ..Default::default()
    };
    Ok(ModelProto {
        ir_version: 8,
        producer_name: "nnopt".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: b_opset,
        }],
        graph: Some(graph),
        ..Default::default()
    })
}

/// Writes one non-source node.
fn lower_node(b: &mut Builder, n: NodeIndex) -> Result<()> {
    let g = b.g;
    let node = g.node(n);
    let ins = g.node_inputs(n);
    let name = node.name.as_str();
    let mut x = vec![];
    if !matches!(node.op, Op::Quantize { .. } | Op::Dequantize) {
        for &v in &ins {
            x.push(b.float_input(v)?);
        }
    }
    let cx = NodeArgs { node, name, ins, x };
    let out = match &node.op {
        Op::Input | Op::Const { .. } => unreachable!("sources are handled by the caller"),
        Op::Conv(c) | Op::ConvTranspose { conv: c, .. } => conv::conv(b, c, cx)?,
        Op::Pool { .. } => conv::pool(b, cx)?,
        Op::Gemm { .. } => math::gemm(b, cx)?,
        Op::MatMul => b.simple("MatMul", name, cx.x, vec![], None),
        Op::Binary { kind, activation } => math::binary(b, cx, *kind, *activation)?,
        Op::PRelu => b.simple("PRelu", name, cx.x, vec![], None),
        Op::Activation { act } => b.activation(cx.x[0].clone(), *act),
        Op::Unary { func } => unary::unary(b, cx, *func)?,
        Op::Compare { kind } => unary::compare(b, cx, *kind),
        Op::Where => b.simple("Where", name, cx.x, vec![], None),
        Op::Det => b.simple("Det", name, cx.x, vec![], None),
        Op::Expand { shape } => shape::expand(b, cx, shape),
        Op::Einsum { equation } => b.simple(
            "Einsum",
            name,
            cx.x,
            vec![proto::attr("equation", proto::Attr::Str(equation.clone()))],
            None,
        ),
        Op::ScatterNd { reduction } => shape::scatter_nd(b, cx, *reduction)?,
        Op::TopK { axis, k, largest } => return shape::top_k(b, cx, *axis, *k, *largest),
        Op::DeformConv { .. } | Op::RoiAlign(_) => {
            return Err(Error::new(format!(
                "node '{name}': {} has no ONNX export yet",
                node.op.name()
            )))
        }
        Op::GatherElements { axis } => shape::along_axis(b, cx, "GatherElements", *axis),
        Op::ScatterElements { axis, reduction } => {
            shape::scatter_elements(b, cx, *axis, *reduction)?
        }
        Op::Softmax { axis, beta } => math::softmax(b, cx, *axis, *beta),
        Op::LogSoftmax { axis } => math::log_softmax(b, cx, *axis),
        Op::BatchNorm { epsilon, axis } => math::batch_norm(b, cx, *epsilon, *axis)?,
        Op::Cast {
            to,
            saturate,
            rounding,
        } => math::cast(b, cx, *to, *saturate, *rounding),
        Op::Reduce {
            kind,
            axes,
            keep_dims,
        } => reduce::reduce(b, cx, *kind, axes, *keep_dims),
        Op::Reshape { shape } => shape::reshape(b, cx, shape),
        Op::Transpose { perm } => shape::transpose(b, cx, perm),
        Op::Concat { axis } => shape::along_axis(b, cx, "Concat", *axis),
        Op::Gather { axis } => shape::along_axis(b, cx, "Gather", *axis),
        Op::GatherNd { batch_dims } => {
            let bd = attr("batch_dims", Attr::Int(*batch_dims as i64));
            b.simple("GatherND", name, cx.x, vec![bd], None)
        }
        Op::ArgReduce {
            kind,
            axis,
            keep_dims,
            select_last_index,
            index_dtype,
        } => arg_reduce::arg_reduce(
            b,
            cx,
            *kind,
            *axis,
            *keep_dims,
            *select_last_index,
            *index_dtype,
        ),
        Op::Cumulative {
            kind,
            axis,
            exclusive,
            reverse,
        } => cumulative::cumulative(b, cx, *kind, *axis, *exclusive, *reverse)?,
        Op::Split { axis, sizes } => return shape::split(b, cx, *axis, sizes),
        Op::Slice {
            starts,
            ends,
            steps,
        } => shape::slice(b, cx, starts, ends, steps),
        Op::Pad { pads, mode, value } => shape::pad(b, cx, pads, *mode, *value)?,
        Op::Resize { .. } => resize::resize(b, cx)?,
        Op::GridSample {
            mode,
            padding,
            align_corners,
        } => resize::grid_sample(b, cx, *mode, *padding, *align_corners)?,
        Op::DepthToSpace {
            block,
            layout,
            mode,
        } => resize::depth_to_space(b, cx, *block, *layout, *mode),
        Op::Quantize { saturate, .. } => return quant::quantize(b, cx, *saturate),
        Op::Dequantize => return quant::dequantize(b, cx),
        Op::Identity => cx.x[0].clone(),
        Op::BitCast { .. } => {
            return Err(Error::new(format!(
                "node '{name}': BitCast needs ONNX opset 26; the exporter writes opset {}",
                b.opset
            )))
        }
        Op::ActivationGrad { .. }
        | Op::ConvGradInput(_)
        | Op::ConvGradWeights(_)
        | Op::PoolGrad { .. }
        | Op::SoftmaxCrossEntropy
        | Op::SoftmaxCrossEntropyGrad
        | Op::Fp8FakeQuant { .. } => {
            return Err(Error::new(format!(
                "node '{name}': training op {} has no ONNX export",
                node.op.name()
            )))
        }
        Op::Recurrent(a) => return recurrent::recurrent(b, cx, a),
        Op::Svdf { .. } => {
            return Err(Error::new(format!(
                "node '{name}': svdf (a stateful TFLite op) has no ONNX operator"
            )))
        }
    };
    b.finish_output(out, &node.outputs[0])
}
