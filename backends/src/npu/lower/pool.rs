//! Lowering of pooling (int8 and f32) and of int8 mean/sum reductions.

use super::quant::{act_quant, act_range};
use super::{Lowering, Reason};
use crate::npu::program::{Pool, PoolKind, Reduce, Requant};
use crate::npu::supported;
use nnopt_compiler::interp::fixedpoint::quantize_multiplier;
use nnopt_compiler::ir::{DType, Op, ReduceKind, ValueRef};

impl Lowering<'_> {
    pub(super) fn pool(
        &mut self,
        name: &str,
        op: &Op,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> std::result::Result<Pool, Reason> {
        let Op::Pool { pool, activation } = op else {
            return Err("not a pool op".into());
        };
        let g = self.g;
        let x = *ins.first().ok_or("missing input")?;
        let (xt, ot) = (g.ty(x), g.ty(out));
        let window = supported::pool_window(pool, xt)?;
        let float = xt.dtype == DType::F32 && ot.dtype == DType::F32;
        let (act_min, act_max, activation) = if float {
            (0, 0, *activation)
        } else {
            if act_quant(xt)? != act_quant(ot)? || xt.dtype != ot.dtype {
                return Err("pooling with requantization".into());
            }
            let (lo, hi) = act_range(*activation, ot)?;
            (lo, hi, None)
        };
        // f32 pooling absorbs a quantize of its result (after every check above).
        let (output, encode) = if float {
            self.float_output(out)
        } else {
            (self.tensor(out), None)
        };
        Ok(Pool {
            name: name.to_string(),
            input: self.tensor(x),
            output,
            kind: match pool.kind {
                nnopt_compiler::ir::PoolKind::Max => PoolKind::Max,
                nnopt_compiler::ir::PoolKind::Avg => PoolKind::Avg,
            },
            layout: pool.layout,
            kernel: window.kernel,
            strides: window.strides,
            pads: window.pads,
            act_min,
            act_max,
            activation,
            encode,
        })
    }

    pub(super) fn reduce(
        &mut self,
        name: &str,
        kind: ReduceKind,
        axes: &[usize],
        ins: &[ValueRef],
        out: ValueRef,
    ) -> std::result::Result<Reduce, Reason> {
        let g = self.g;
        let x = *ins.first().ok_or("missing input")?;
        let (xt, ot) = (g.ty(x), g.ty(out));
        supported::integer_reduce_kind(kind)?;
        supported::reduce_axes_in_range(axes, xt)?;
        let (si, zi) = act_quant(xt)?;
        let (so, zo) = act_quant(ot)?;
        let count: i64 = axes.iter().map(|&a| xt.shape[a] as i64).product();
        // TFLite's QuantizedMeanOrSum: a mean folds 1 / count into the multiplier.
        let (mut m, mut shift) = quantize_multiplier(si as f64 / so as f64);
        if kind == ReduceKind::Mean && count > 0 {
            let sh = (63 - (count as u64).leading_zeros() as i32)
                .min(32)
                .min(31 + shift);
            m = (((m as i64) << sh) / count) as i32;
            shift -= sh;
        }
        let (act_min, act_max) = act_range(None, ot)?;
        Ok(Reduce {
            name: name.to_string(),
            input: self.tensor(x),
            output: self.tensor(out),
            axes: axes.to_vec(),
            input_zero_point: zi,
            output_zero_point: zo,
            requant: Requant {
                multiplier: m,
                shift,
            },
            act_min,
            act_max,
            float: None,
            encode: None,
        })
    }
}
