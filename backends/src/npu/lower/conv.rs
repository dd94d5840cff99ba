//! Lowering of weighted layers: convolutions, transposed convolutions and fully connected
//! layers (gemms, and matrix products by a constant 2-D matrix), with their int8 weight
//! blocks.

use super::quant::{act_range, layer_quant};
use super::{Lowering, Reason};
use crate::npu::program::*;
use crate::npu::supported;
use nnopt_compiler::fp8::Fp8Format;
use nnopt_compiler::interp::fixedpoint::quantize_multiplier;
use nnopt_compiler::ir::{
    Activation, ConvAttrs, DType, Graph, Layout, Op, Tensor, TensorType, ValueRef,
};

impl Lowering<'_> {
    /// A fully connected command for a gemm with alpha = beta = 1 and A not transposed.
    pub(super) fn gemm(
        &mut self,
        name: &str,
        op: &Op,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> std::result::Result<Command, Reason> {
        let Op::Gemm(gemm) = op else {
            return Err(format!("{} is not a gemm", op.name()));
        };
        supported::gemm_form(gemm)?;
        Ok(Command::FullyConnected(self.fully_connected(
            name,
            gemm.trans_b,
            gemm.activation,
            ins,
            out,
        )?))
    }

    pub(super) fn conv(
        &mut self,
        name: &str,
        c: &ConvAttrs,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> std::result::Result<Conv2d, Reason> {
        let g = self.g;
        let [x, w] = [ins.first(), ins.get(1)].map(|v| v.copied());
        let (Some(x), Some(w)) = (x, w) else {
            return Err("conv needs input and weights".into());
        };
        let (xt, ot) = (g.ty(x), g.ty(out));
        if xt.shape.len() != 4 || ot.shape.len() != 4 {
            return Err("conv on non-4-D tensors".into());
        }
        let fp8 = Fp8Format::of(xt.dtype).is_some();
        let [(in_scale, in_zp), (out_scale, out_zp)] = layer_quant(xt, ot, fp8)?;
        let (wv, wt) = layer_weights(g, w, 4)?;
        let ws = wv.shape();
        // Canonical OHWI.
        let (o, kh, kw, i) = match c.layout {
            Layout::Nhwc => (ws[0], ws[1], ws[2], ws[3]),
            Layout::Nchw => (ws[0], ws[2], ws[3], ws[1]),
        };
        let ca = c.layout.channel_axis();
        let (cin, cout) = (xt.shape[ca], ot.shape[ca]);
        let groups = c.group.max(1);
        if o != cout || cin != i * groups || !cout.is_multiple_of(groups) {
            return Err(format!(
                "weights {ws:?} do not match {cin} -> {cout} channels in {groups} groups"
            ));
        }
        let raw = weight_values(wv, wt)?;
        let weights = match c.layout {
            Layout::Nhwc => raw.values,
            Layout::Nchw => {
                let mut t = vec![0i8; raw.values.len()];
                for oo in 0..o {
                    for ii in 0..i {
                        for y in 0..kh {
                            for xx in 0..kw {
                                t[((oo * kh + y) * kw + xx) * i + ii] =
                                    raw.values[((oo * i + ii) * kh + y) * kw + xx];
                            }
                        }
                    }
                }
                t
            }
        };
        let (block, stage, fp8, out) = if fp8 {
            let (b, st, v) =
                self.fp8_layer(xt, wt, weights, ins.get(2), cout, c.activation, out)?;
            (b, OutputStage::default(), Some(st), v)
        } else {
            let block = self.weight_block(
                wt,
                weights,
                raw.shift,
                ins.get(2),
                cout,
                in_scale,
                out_scale,
            )?;
            (
                block,
                int8_stage(c.activation, ot, in_zp, out_zp)?,
                None,
                out,
            )
        };
        Ok(Conv2d {
            name: name.to_string(),
            input: self.tensor(x),
            output: self.tensor(out),
            weights: block,
            layout: c.layout,
            kernel: [kh, kw],
            strides: c.strides,
            dilations: c.dilations,
            pads: c.pads,
            groups,
            stage,
            fp8,
            transposed: false,
        })
    }

    pub(super) fn fully_connected(
        &mut self,
        name: &str,
        trans_b: bool,
        act: Option<Activation>,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> std::result::Result<FullyConnected, Reason> {
        let x = *ins.first().ok_or("gemm needs two inputs")?;
        if self.g.ty(x).shape.len() != 2 {
            return Err("fully connected input is not 2-D".into());
        }
        self.fully_connected_rows(name, trans_b, act, ins, out)
    }

    /// A fully connected command for `mat_mul(x, w)` with a constant 2-D `w` (`[K, N]`):
    /// the rows of `x` (every axis but the last) times `w`, on 2-D views of the input and
    /// output memory.
    pub(super) fn matmul(
        &mut self,
        name: &str,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> std::result::Result<Command, Reason> {
        supported::matmul_as_fully_connected(self.g, ins)?;
        Ok(Command::FullyConnected(
            self.fully_connected_rows(name, false, None, ins, out)?,
        ))
    }

    /// A fully connected layer over the rows of `x`: its last axis is the reduction, and
    /// the command reads and writes 2-D views.
    fn fully_connected_rows(
        &mut self,
        name: &str,
        trans_b: bool,
        act: Option<Activation>,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> std::result::Result<FullyConnected, Reason> {
        let g = self.g;
        let (Some(&x), Some(&w)) = (ins.first(), ins.get(1)) else {
            return Err("fully connected needs two inputs".into());
        };
        let (xt, ot) = (g.ty(x), g.ty(out));
        let (&k_in, lead) = xt
            .shape
            .split_last()
            .ok_or("fully connected input is a scalar")?;
        let rows: usize = lead.iter().product();
        let fp8 = Fp8Format::of(xt.dtype).is_some();
        let [(in_scale, in_zp), (out_scale, out_zp)] = layer_quant(xt, ot, fp8)?;
        let (wv, wt) = layer_weights(g, w, 2)?;
        let ws = wv.shape();
        let (nout, k) = if trans_b {
            (ws[0], ws[1])
        } else {
            (ws[1], ws[0])
        };
        let out_rows = ot.shape[..ot.shape.len().saturating_sub(1)]
            .iter()
            .product::<usize>();
        if k != k_in || ot.shape.last() != Some(&nout) || out_rows != rows {
            return Err(format!("weights {ws:?} do not match input {:?}", xt.shape));
        }
        let raw = weight_values(wv, wt)?;
        let weights = if trans_b {
            raw.values
        } else {
            let mut t = vec![0i8; raw.values.len()];
            for kk in 0..k {
                for j in 0..nout {
                    t[j * k + kk] = raw.values[kk * nout + j];
                }
            }
            t
        };
        let (block, stage, fp8, out) = if fp8 {
            let (b, st, v) = self.fp8_layer(xt, wt, weights, ins.get(2), nout, act, out)?;
            (b, OutputStage::default(), Some(st), v)
        } else {
            let block = self.weight_block(
                wt,
                weights,
                raw.shift,
                ins.get(2),
                nout,
                in_scale,
                out_scale,
            )?;
            (block, int8_stage(act, ot, in_zp, out_zp)?, None, out)
        };
        Ok(FullyConnected {
            name: name.to_string(),
            input: self.view(x, vec![rows, k]),
            output: self.view(out, vec![rows, nout]),
            weights: block,
            stage,
            fp8,
        })
    }

    /// Builds the weight block of a conv or fully connected layer: per-channel weight
    /// zero points, bias and requantization (`PopulateConvolutionQuantizationParams`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn weight_block(
        &mut self,
        wt: &TensorType,
        weights: Vec<i8>,
        zp_shift: i32,
        bias: Option<&ValueRef>,
        n: usize,
        in_scale: f32,
        out_scale: f32,
    ) -> std::result::Result<usize, Reason> {
        if Fp8Format::of(wt.dtype).is_some() {
            return Err("FP8 weights with integer data".into());
        }
        let wq = wt.quant.as_ref().ok_or("weights are not quantized")?;
        if wq.scale.len() != 1 && wq.scale.len() != n {
            return Err(format!(
                "weights have {} scales for {n} channels",
                wq.scale.len()
            ));
        }
        let params: Vec<(f32, i64)> = (0..n).map(|i| wq.at(i)).collect();
        let bias = match bias {
            None => vec![0; n],
            Some(&b) => {
                let bv = self.g.const_value(b).ok_or("bias is not constant")?;
                if !matches!(bv.dtype(), DType::I8 | DType::U8 | DType::I16 | DType::I32) {
                    return Err(format!("{} bias", bv.dtype()));
                }
                let v: Vec<i32> = bv
                    .to_i64_vec()
                    .ok_or("bias is not integer")?
                    .into_iter()
                    .map(|x| x as i32)
                    .collect();
                if v.len() != n {
                    return Err(format!("bias has {} values, expected {n}", v.len()));
                }
                v
            }
        };
        let requant = params
            .iter()
            .map(|&(ws, _)| {
                let (multiplier, shift) =
                    quantize_multiplier(in_scale as f64 * ws as f64 / out_scale as f64);
                Requant { multiplier, shift }
            })
            .collect();
        self.weights.push(WeightBlock {
            weights,
            weight_zero_points: params.iter().map(|p| p.1 as i32 - zp_shift).collect(),
            bias,
            requant,
            fp8: None,
        });
        Ok(self.weights.len() - 1)
    }
}

/// Weight values as int8, with the shift applied to uint8 data (and its zero points).
struct RawWeights {
    values: Vec<i8>,
    shift: i32,
}

fn weight_values(w: &Tensor, wt: &TensorType) -> std::result::Result<RawWeights, Reason> {
    match w {
        Tensor::I8(a) => Ok(RawWeights {
            values: a.iter().copied().collect(),
            shift: 0,
        }),
        Tensor::U8(a) => Ok(RawWeights {
            values: a.iter().map(|&v| (v as i32 - 128) as i8).collect(),
            shift: 128,
        }),
        // FP8 codes, kept bit for bit.
        Tensor::F8E4M3(a) | Tensor::F8E5M2(a) => Ok(RawWeights {
            values: a.iter().map(|&v| v as i8).collect(),
            shift: 0,
        }),
        _ => Err(format!("{} weights ({wt})", w.dtype())),
    }
}

/// A layer's constant weights of the given rank and their type.
fn layer_weights(
    g: &Graph,
    w: ValueRef,
    rank: usize,
) -> std::result::Result<(&Tensor, &TensorType), Reason> {
    let wv = g.const_value(w).ok_or("weights are not constant")?;
    if wv.shape().len() != rank {
        return Err(format!("weights are not {rank}-D"));
    }
    Ok((wv, g.ty(w)))
}

/// The output stage of an int8 layer: its zero points and the clamp of its fused
/// activation.
fn int8_stage(
    act: Option<Activation>,
    ot: &TensorType,
    input_zero_point: i32,
    output_zero_point: i32,
) -> std::result::Result<OutputStage, Reason> {
    let (act_min, act_max) = act_range(act, ot)?;
    Ok(OutputStage {
        input_zero_point,
        output_zero_point,
        act_min,
        act_max,
    })
}
