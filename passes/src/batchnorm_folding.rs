//! Folds inference batch normalization into the preceding convolution or gemm.

use ndarray::{ArrayD, Axis, IxDyn};
use nnopt_compiler::ir::{DType, Graph, NodeIndex, Op, Tensor, ValueRef};
use nnopt_compiler::pass::Pass;
use nnopt_compiler::Result;

/// Rewrites `batch_norm(conv(x, w, b))` into `conv(x, w', b')` with
/// `w' = w * s` per output channel and `b' = (b - mean) * s + beta`, where
/// `s = gamma / sqrt(var + eps)`; likewise for `gemm` along its output columns.
/// Applies to f32 graphs whose weights, bias and batch-norm parameters are constants,
/// when the conv/gemm output feeds only the batch norm and carries no fused activation.
pub struct BatchNormFolding;

impl BatchNormFolding {
    pub const NAME: &'static str = "batchnorm-folding";
}

struct Folded {
    producer: NodeIndex,
    weight: Tensor,
    bias: Tensor,
}

fn f32s(g: &Graph, v: ValueRef) -> Option<Vec<f32>> {
    g.const_value(v)?
        .as_f32()
        .map(|a| a.iter().copied().collect())
}

fn try_fold(g: &Graph, bn: NodeIndex) -> Option<Folded> {
    let Op::BatchNorm { epsilon, axis } = g.node(bn).op else {
        return None;
    };
    let ins = g.node_inputs(bn);
    let x = ins[0];
    if g.use_count(x) != 1 || g.ty(x).dtype != DType::F32 {
        return None;
    }
    let (gamma, beta, mean, var) = (
        f32s(g, ins[1])?,
        f32s(g, ins[2])?,
        f32s(g, ins[3])?,
        f32s(g, ins[4])?,
    );
    let scale: Vec<f32> = gamma
        .iter()
        .zip(&var)
        .map(|(g, v)| g / (v + epsilon).sqrt())
        .collect();
    let producer = x.node;
    let p_ins = g.node_inputs(producer);
    let w = g.const_value(*p_ins.get(1)?)?.as_f32()?;
    let (out_axis, channels) = match &g.node(producer).op {
        Op::Conv(c) if c.activation.is_none() && axis == c.layout.channel_axis() => {
            (0, w.shape()[0])
        }
        Op::Gemm(gemm) if gemm.activation.is_none() && gemm.is_fully_connected() && axis == 1 => {
            if gemm.trans_b {
                (0, w.shape()[0])
            } else {
                (1, w.shape()[1])
            }
        }
        _ => return None,
    };
    if channels != scale.len() {
        return None;
    }
    let old_bias: Vec<f32> = match p_ins.get(2) {
        Some(&b) => {
            let b = f32s(g, b)?;
            match b.len() {
                1 => vec![b[0]; channels],
                n if n == channels => b,
                _ => return None,
            }
        }
        None => vec![0.0; channels],
    };
    let mut new_w: ArrayD<f32> = w.clone();
    for (c, mut lane) in new_w.axis_iter_mut(Axis(out_axis)).enumerate() {
        lane.mapv_inplace(|v| v * scale[c]);
    }
    let new_b: Vec<f32> = (0..channels)
        .map(|c| (old_bias[c] - mean[c]) * scale[c] + beta[c])
        .collect();
    Some(Folded {
        producer,
        weight: Tensor::F32(new_w),
        bias: Tensor::F32(
            ArrayD::from_shape_vec(IxDyn(&[channels]), new_b).expect("channel count"),
        ),
    })
}

impl Pass for BatchNormFolding {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut changed = false;
        for bn in g.topo_order().unwrap_or_else(|_| g.node_indices()) {
            if !g.contains(bn) {
                continue;
            }
            let Some(f) = try_fold(g, bn) else { continue };
            let p_name = g.node(f.producer).name.clone();
            let p_ins = g.node_inputs(f.producer);
            let w = g.add_const(g.fresh_name(&format!("{p_name}.weight_bn")), f.weight, None);
            let b = g.add_const(g.fresh_name(&format!("{p_name}.bias_bn")), f.bias, None);
            g.set_inputs(f.producer, &[p_ins[0], w, b]);
            // The producer takes over the batch norm's output name and uses.
            let bn_out = ValueRef::first(bn);
            let bn_name = g.node(bn).outputs[0].name.clone();
            g.replace_all_uses(bn_out, ValueRef::first(f.producer));
            g.remove_node(bn);
            g.node_mut(f.producer).outputs[0].name = bn_name;
            changed = true;
        }
        Ok(changed)
    }
}
