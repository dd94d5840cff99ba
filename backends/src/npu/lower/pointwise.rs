//! Lowering of int8 ops computed value by value: table lookups (standalone activations,
//! functions of one operand such as exp, erf, gelu and rsqrt, and requantizations of 8-bit
//! codes), requantization of wider integers, parametric ReLU
//! and softmax.

use super::quant::{act_quant, act_range, per_tensor};
use super::{Lowering, Reason};
use crate::npu::program::{Command, Lookup, PRelu, Requant, Requantize, Softmax};
use crate::npu::supported;
use crate::npu::tables::code_table;
use nnopt_compiler::interp::fixedpoint::quantize_multiplier;
use nnopt_compiler::interp::{requantize_multiplier, softmax_fixed_point};
use nnopt_compiler::ir::{Op, ValueRef};

type Lowered<T> = std::result::Result<T, Reason>;

impl Lowering<'_> {
    /// A standalone activation, function of one operand or requantization of 8-bit codes
    /// as a 256-entry table.
    pub(super) fn lookup(
        &mut self,
        name: &str,
        op: &Op,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> Lowered<Lookup> {
        let x = *ins.first().ok_or("missing input")?;
        supported::unary_table(op, self.g.ty(x))?;
        Ok(Lookup {
            name: name.to_string(),
            table: code_table(op, self.g.ty(x), self.g.ty(out))?,
            input: self.tensor(x),
            output: self.tensor(out),
        })
    }

    /// A requantization: a table between 8-bit types, else a [`Requantize`] command.
    pub(super) fn quantize(
        &mut self,
        name: &str,
        op: &Op,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> Lowered<Command> {
        let x = *ins.first().ok_or("missing input")?;
        let (xt, ot) = (self.g.ty(x), self.g.ty(out));
        if xt.dtype.size_bytes() == 1 && ot.dtype.size_bytes() == 1 {
            return Ok(Command::Lookup(self.lookup(name, op, ins, out)?));
        }
        supported::requantize_form(op, xt, ot)?;
        let ((si, zi), (so, zo)) = (per_tensor(xt)?, per_tensor(ot)?);
        let (multiplier, shift) = requantize_multiplier(si, so);
        supported::shift_in_range(shift)?;
        Ok(Command::Requantize(Requantize {
            name: name.to_string(),
            input: self.tensor(x),
            output: self.tensor(out),
            input_zero_point: zi,
            output_zero_point: zo,
            requant: Requant { multiplier, shift },
        }))
    }

    /// TFLite's fixed-point softmax; a beta and input scale it does not cover stay on the
    /// CPU (LiteRT's float-table kernel).
    pub(super) fn softmax(
        &mut self,
        name: &str,
        axis: usize,
        beta: f32,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> Lowered<Softmax> {
        let x = *ins.first().ok_or("missing input")?;
        let (xt, ot) = (self.g.ty(x), self.g.ty(out));
        supported::softmax_types(axis, xt, ot)?;
        let (si, _) = act_quant(xt)?;
        let (multiplier, left_shift) = softmax_fixed_point(beta, si)
            .ok_or("softmax whose input scale is too small for the fixed-point kernel")?;
        Ok(Softmax {
            name: name.to_string(),
            input: self.tensor(x),
            output: self.tensor(out),
            axis,
            multiplier,
            left_shift,
        })
    }

    /// TFLite's int8 parametric ReLU with constant per-tensor-quantized slopes.
    pub(super) fn prelu(&mut self, name: &str, ins: &[ValueRef], out: ValueRef) -> Lowered<PRelu> {
        let g = self.g;
        let [x, a] = match ins {
            [x, a] => [*x, *a],
            _ => return Err("prelu needs input and slope".into()),
        };
        let alpha = g.const_value(a).ok_or("the slope is not constant")?;
        let (xt, at, ot) = (g.ty(x), g.ty(a), g.ty(out));
        if xt.shape != ot.shape || at.shape.len() > xt.shape.len() {
            return Err("slope does not broadcast to the input".into());
        }
        let (si, zi) = act_quant(xt)?;
        let (sa, za) = act_quant(at)?;
        let (so, zo) = act_quant(ot)?;
        let alpha = alpha
            .to_i64_vec()
            .ok_or("the slope is not integer")?
            .into_iter()
            .map(|v| i16::try_from(v - za as i64).map_err(|_| "slope out of range"))
            .collect::<std::result::Result<Vec<i16>, _>>()?;
        let rq = |m: f32| {
            let (multiplier, shift) = quantize_multiplier(m as f64);
            Requant { multiplier, shift }
        };
        let (act_min, act_max) = act_range(None, ot)?;
        Ok(PRelu {
            name: name.to_string(),
            input: self.tensor(x),
            output: self.tensor(out),
            alpha,
            alpha_shape: at.shape.clone(),
            input_zero_point: zi,
            output_zero_point: zo,
            // As the interpreter: the ratios in f32, then f64.
            identity: rq(si / so),
            negative: rq(si * sa / so),
            act_min,
            act_max,
        })
    }
}
