//! Lowering of f32 and FP8 ops in an FP8 program: FP8 layers' weight blocks and output
//! stages, quantization to FP8 (standalone or fused into the producing command), and the
//! f32 vector ops the NPU computes exactly like the interpreter.

use super::{Lowering, Reason};
use crate::npu::program::*;
use crate::npu::supported;
use nnopt_compiler::fp8::Fp8Format;
use nnopt_compiler::ir::{Activation, DType, NodeIndex, Op, PadMode, Tensor, TensorType, ValueRef};

impl Lowering<'_> {
    /// Lowers an op on f32 or FP8 values: FP8 convolutions and fully connected layers,
    /// quantization to FP8, and the f32 ops the NPU computes exactly like the
    /// interpreter.
    pub(super) fn lower_float(&mut self, n: NodeIndex) -> std::result::Result<Command, Reason> {
        let g = self.g;
        let node = g.node(n);
        let ins = g.node_inputs(n);
        let out = ValueRef::first(n);
        let out_ty = g.ty(out);
        let f32_acts = || ins.iter().all(|&v| g.ty(v).dtype == DType::F32);
        Ok(match &node.op {
            Op::Conv(c) => Command::Conv2d(self.conv(&node.name, c, &ins, out)?),
            Op::Gemm { .. } => self.gemm(&node.name, &node.op, &ins, out)?,
            Op::Quantize { to, saturate, .. } => {
                supported::fp8_quantize_saturates(*saturate)?;
                let x = *ins.first().ok_or("missing input")?;
                let format = Fp8Format::of(*to)
                    .filter(|_| out_ty.dtype == *to && g.ty(x).dtype == DType::F32)
                    .ok_or_else(|| format!("quantize from {} to {to}", g.ty(x).dtype))?;
                Command::Quantize(Quantize {
                    name: node.name.clone(),
                    input: self.tensor(x),
                    output: self.tensor(out),
                    encoding: Fp8Encoding {
                        format,
                        scale: tensor_scale(out_ty)?,
                    },
                })
            }
            Op::Pool { .. } if f32_acts() && out_ty.dtype == DType::F32 => {
                Command::Pool(self.pool(&node.name, &node.op, &ins, out)?)
            }
            Op::Binary { kind, activation }
                if f32_acts() && out_ty.dtype == DType::F32 && kind.is_arithmetic() =>
            {
                let [a, b] = match ins.as_slice() {
                    [a, b] => [*a, *b],
                    _ => return Err("binary op needs two inputs".into()),
                };
                let (output, encode) = self.float_output(out);
                Command::Elementwise(Elementwise {
                    name: node.name.clone(),
                    a: self.tensor(a),
                    b: self.tensor(b),
                    output,
                    encode,
                    kind: ElementwiseKind::F32 {
                        op: *kind,
                        activation: *activation,
                    },
                    a_zero_point: 0,
                    b_zero_point: 0,
                    output_zero_point: 0,
                    act_min: 0,
                    act_max: 0,
                })
            }
            Op::Pad {
                pads,
                mode: PadMode::Constant,
                value,
            } if f32_acts() && out_ty.dtype == DType::F32 => {
                let x = *ins.first().ok_or("missing input")?;
                supported::pads_match_rank(pads, g.ty(x))?;
                let (output, encode) = self.float_output(out);
                Command::Pad(Pad {
                    name: node.name.clone(),
                    input: self.tensor(x),
                    output,
                    pads: pads.clone(),
                    value: *value,
                    fill: 0,
                    encode,
                })
            }
            Op::Activation { act } if f32_acts() && out_ty.dtype == DType::F32 => {
                let x = *ins.first().ok_or("missing input")?;
                let (output, encode) = self.float_output(out);
                Command::Activate(Activate {
                    name: node.name.clone(),
                    input: self.tensor(x),
                    output,
                    activation: *act,
                    encode,
                })
            }
            Op::Reduce { kind, axes, .. } if f32_acts() && out_ty.dtype == DType::F32 => {
                let x = *ins.first().ok_or("missing input")?;
                supported::float_reduce_kind(*kind)?;
                supported::reduce_axes_in_range(axes, g.ty(x))?;
                let mut axes = axes.clone();
                axes.sort_unstable();
                axes.dedup();
                let (output, encode) = self.float_output(out);
                Command::Reduce(Reduce {
                    name: node.name.clone(),
                    input: self.tensor(x),
                    output,
                    encode,
                    axes,
                    input_zero_point: 0,
                    output_zero_point: 0,
                    requant: Requant {
                        multiplier: 0,
                        shift: 0,
                    },
                    act_min: 0,
                    act_max: 0,
                    float: Some(*kind),
                })
            }
            Op::Concat { axis } => {
                for &x in &ins {
                    if g.ty(x).dtype != out_ty.dtype || g.ty(x).quant != out_ty.quant {
                        return Err("inputs need conversion".into());
                    }
                }
                Command::Concat(Concat {
                    name: node.name.clone(),
                    inputs: ins.iter().map(|&x| self.tensor(x)).collect(),
                    output: self.tensor(out),
                    axis: *axis,
                    tables: vec![],
                })
            }
            other => {
                return Err(format!(
                    "the NPU has no {} kernel for {} data",
                    other.detailed_name(),
                    out_ty.dtype
                ))
            }
        })
    }

    /// The FP8 output encoding of an FP8 layer's f32 result `out` when its only use is a
    /// per-tensor `quantize` to FP8, which is then absorbed: (its output, the encoding).
    pub(super) fn fused_quantize(&mut self, out: ValueRef) -> Option<(ValueRef, Fp8Encoding)> {
        let g = self.g;
        if g.outputs().contains(&out) {
            return None;
        }
        let consumers = g.consumers(out);
        let &[(q, 0)] = consumers.as_slice() else {
            return None;
        };
        let qt = &g.node(q).outputs[0].ty;
        let Op::Quantize {
            to, saturate: true, ..
        } = g.node(q).op
        else {
            return None;
        };
        let format = Fp8Format::of(to).filter(|_| qt.dtype == to)?;
        let scale = tensor_scale(qt).ok()?;
        self.absorbed.insert(q);
        Some((ValueRef::first(q), Fp8Encoding { format, scale }))
    }

    /// The arena tensor an f32 command writes `out` to, with the FP8 encoding of a fused
    /// `quantize` (see [`Self::fused_quantize`]).
    pub(super) fn float_output(&mut self, out: ValueRef) -> (TensorId, Option<Fp8Encoding>) {
        match self.fused_quantize(out) {
            Some((q, enc)) => (self.tensor(q), Some(enc)),
            None => (self.tensor(out), None),
        }
    }

    /// The weight block and output stage of an FP8 layer (FP8 data `xt`, FP8 weights
    /// `wt` whose codes are `weights`, `n` output channels), and its output value: `out`,
    /// or the FP8 quantization of `out` fused into the stage.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fp8_layer(
        &mut self,
        xt: &TensorType,
        wt: &TensorType,
        weights: Vec<i8>,
        bias: Option<&ValueRef>,
        n: usize,
        activation: Option<Activation>,
        out: ValueRef,
    ) -> std::result::Result<(usize, Fp8Stage, ValueRef), Reason> {
        let g = self.g;
        let input_format = Fp8Format::of(xt.dtype).ok_or("data is not FP8")?;
        let format = Fp8Format::of(wt.dtype).ok_or("FP8 data needs FP8 weights")?;
        let scales = type_scales(wt, n, "weights")?;
        let input_scale = type_scales(xt, 1, "input")?[0];
        let bias = match bias {
            None => vec![0.0; n],
            Some(&b) => match g.const_value(b) {
                Some(Tensor::F32(a)) if a.len() == n => a.iter().copied().collect(),
                _ => {
                    return Err(format!(
                        "FP8 layers need an f32 constant bias of {n} values"
                    ))
                }
            },
        };
        let ot = g.ty(out);
        let (output, value) = match Fp8Format::of(ot.dtype) {
            Some(format) => (
                Some(Fp8Encoding {
                    format,
                    scale: type_scales(ot, 1, "output")?[0],
                }),
                out,
            ),
            None if ot.dtype == DType::F32 => match self.fused_quantize(out) {
                Some((q, enc)) => (Some(enc), q),
                None => (None, out),
            },
            None => return Err(format!("FP8 layer with {} output", ot.dtype)),
        };
        self.weights.push(WeightBlock {
            weights,
            weight_zero_points: vec![],
            bias: vec![],
            requant: vec![],
            fp8: Some(Fp8Weights {
                format,
                scales,
                bias,
            }),
        });
        let stage = Fp8Stage {
            input_format,
            input_scale,
            activation,
            output,
        };
        Ok((self.weights.len() - 1, stage, value))
    }
}

/// The scales of a float-quantized type, as the interpreter's FP8 kernels read them: one
/// per tensor (1 without parameters) repeated `n` times, or `n`.
fn type_scales(ty: &TensorType, n: usize, what: &str) -> std::result::Result<Vec<f32>, Reason> {
    let s = ty.quant.as_ref().map_or(vec![1.0], |q| q.scale.clone());
    match s.len() {
        1 => Ok(vec![s[0]; n]),
        k if k == n => Ok(s),
        k => Err(format!("{what} has {k} scales, expected 1 or {n}")),
    }
}

/// The per-tensor scale of an FP8 `quantize` output.
fn tensor_scale(ty: &TensorType) -> std::result::Result<f32, Reason> {
    match &ty.quant {
        Some(q) if q.scale.len() == 1 => Ok(q.scale[0]),
        _ => Err("FP8 quantization needs one per-tensor scale".into()),
    }
}
