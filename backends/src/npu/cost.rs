//! The NPU performance model as an op cost for graph optimizers: the cycles an IR op
//! would take once lowered to the target (see [`super::perf`]), so that the e-graph
//! optimizer extracts what is fastest on the NPU.
//!
//! Ops are priced as the int8 commands they lower to: tensors count one byte per element
//! (float graphs are quantized before lowering), weights stream from off-chip memory,
//! activations move through SRAM, and ops without an NPU kernel cost their CPU-fallback
//! cycles (one MAC or one output element per cycle, as in the estimate), as do ops other
//! than convolutions, gemms and parametric ReLUs with a constant operand. Reshapes and
//! identities are aliases in the tensor arena and cost nothing.

use super::perf::{roofline, MacShape, Work};
use super::target::Target;
use nnopt_compiler::analysis::op_macs;
use nnopt_compiler::cost::{OpCost, OpSite};
use nnopt_compiler::interp::softmax_fixed_point;
use nnopt_compiler::ir::{Layout, Op, PadMode, TensorType};

/// Extraction cost from a target's performance model.
#[derive(Clone, Debug)]
pub struct NpuCost {
    target: Target,
}

impl NpuCost {
    /// The cost model of `target`.
    pub fn new(target: Target) -> Self {
        NpuCost { target }
    }
}

fn elements(ts: &[&TensorType]) -> u64 {
    ts.iter().map(|t| t.num_elements() as u64).sum()
}

impl OpCost for NpuCost {
    fn name(&self) -> &str {
        &self.target.name
    }

    fn op_cost(&self, site: &OpSite<'_>) -> f64 {
        let OpSite {
            op,
            inputs,
            constant,
            outputs,
        } = *site;
        let outs: Vec<&TensorType> = outputs.iter().collect();
        let out_elems = elements(&outs);
        let macs = op_macs(op, inputs, outputs);
        // The MACs by shape, from weights whose first dimension is the output channels.
        let mac_shape = |w: &TensorType, taps: usize| {
            let out = w.shape.first().copied().unwrap_or(1) as u64;
            MacShape::new(macs, out, w.num_elements() as u64 / out.max(1), taps as u64)
        };
        let weighted = |work: Work, w: &[&TensorType]| {
            // Weights are int8; a bias is int32 per output channel.
            let weight_bytes = w.first().map_or(0, |t| t.num_elements() as u64)
                + 4 * w.get(1).map_or(0, |t| t.num_elements() as u64);
            let act_bytes = inputs[0].num_elements() as u64 + out_elems;
            roofline(&self.target, work, weight_bytes, act_bytes).0
        };
        let streaming =
            |work: Work| roofline(&self.target, work, 0, elements(inputs) + out_elems).0;
        let weighted_op = matches!(op, Op::Conv(_) | Op::ConvTranspose { .. } | Op::Gemm(_));
        // A parametric ReLU carries its constant slopes (input 1) in its command.
        let slope = matches!(op, Op::PRelu);
        let cycles = match op {
            Op::Input | Op::Const { .. } | Op::Reshape { .. } | Op::Identity => 0,
            // NPU commands other than weighted ones take activations only.
            _ if !weighted_op
                && constant
                    .iter()
                    .enumerate()
                    .any(|(i, &c)| c && !(slope && i == 1)) =>
            {
                macs.max(out_elems)
            }
            Op::Conv(conv) => {
                // Weights are OIHW (NCHW) or OHWI (NHWC): O outputs, I·H·W products each.
                let w = &inputs[1].shape;
                let taps = match conv.layout {
                    Layout::Nchw => w.get(2..4),
                    Layout::Nhwc => w.get(1..3),
                }
                .map_or(1, |k| k.iter().product::<usize>());
                let shape = mac_shape(inputs[1], taps);
                let work = if conv.group > 1 {
                    Work::Depthwise(shape)
                } else {
                    Work::Conv(shape)
                };
                weighted(work, &inputs[1..])
            }
            Op::ConvTranspose { conv, .. } if conv.layout == Layout::Nhwc && conv.group <= 1 => {
                let taps = inputs[1].shape.get(1..3).map_or(1, |k| k.iter().product());
                weighted(Work::Conv(mac_shape(inputs[1], taps)), &inputs[1..])
            }
            Op::Gemm(gemm) if gemm.is_fully_connected() => {
                // B is [N, K] when transposed, else [K, N].
                let b = &inputs[1].shape;
                let (n, k) = match (gemm.trans_b, b.as_slice()) {
                    (true, &[n, k]) => (n, k),
                    (false, &[k, n]) => (n, k),
                    _ => (1, inputs[1].num_elements()),
                };
                let shape = MacShape::new(macs, n as u64, k as u64, 1);
                weighted(Work::FullyConnected(shape), &inputs[1..])
            }
            Op::Binary { .. } => streaming(Work::Elementwise(out_elems)),
            // The command carries its slopes (16 bits each).
            Op::PRelu => {
                roofline(
                    &self.target,
                    Work::PRelu(out_elems),
                    2 * inputs[1].num_elements() as u64,
                    inputs[0].num_elements() as u64 + out_elems,
                )
                .0
            }
            // Table lookups: standalone activations and requantizations.
            Op::Activation { .. } | Op::Quantize { .. } => streaming(Work::Unary(out_elems)),
            Op::Resize { .. } => streaming(Work::Resize(out_elems)),
            Op::Pad {
                mode: PadMode::Constant,
                ..
            } => streaming(Work::Copy(out_elems)),
            // The fixed-point softmax runs on the NPU; a tiny input scale needs LiteRT's
            // float-table kernel, a CPU fallback.
            Op::Softmax { beta, .. }
                if inputs[0]
                    .quant
                    .as_ref()
                    .is_none_or(|q| softmax_fixed_point(*beta, q.scale[0]).is_some()) =>
            {
                streaming(Work::Softmax(out_elems))
            }
            Op::Pool { pool, .. } => {
                let taps = out_elems * pool.kernel.iter().product::<usize>() as u64;
                streaming(Work::Pool(taps))
            }
            Op::Reduce { .. } => streaming(Work::Reduce(elements(inputs))),
            Op::Concat { .. } => streaming(Work::Copy(out_elems)),
            // No NPU kernel: the CPU fallback's cycles.
            _ => macs.max(out_elems),
        };
        cycles as f64
    }
}
