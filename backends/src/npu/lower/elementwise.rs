//! Lowering of int8 binary arithmetic (add, subtract, multiply) with TFLite's
//! requantization.

use super::quant::{act_quant, act_range};
use super::{Lowering, Reason};
use crate::npu::program::{Elementwise, ElementwiseKind, Requant};
use nnopt_compiler::interp::fixedpoint::quantize_multiplier;
use nnopt_compiler::ir::{Activation, BinaryKind, DType, ValueRef};

impl Lowering<'_> {
    pub(super) fn elementwise(
        &mut self,
        name: &str,
        kind: BinaryKind,
        act: Option<Activation>,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> std::result::Result<Elementwise, Reason> {
        let g = self.g;
        let [a, b] = match ins {
            [a, b] => [*a, *b],
            _ => return Err("binary op needs two inputs".into()),
        };
        let ot = g.ty(out);
        if !matches!(ot.dtype, DType::I8 | DType::U8) {
            return Err(format!("{} output", ot.dtype));
        }
        let (s1, z1) = act_quant(g.ty(a))?;
        let (s2, z2) = act_quant(g.ty(b))?;
        let (so, zo) = act_quant(ot)?;
        let rq = |m: f64| {
            let (multiplier, shift) = quantize_multiplier(m);
            Requant { multiplier, shift }
        };
        let kind = match kind {
            BinaryKind::Add | BinaryKind::Sub => {
                // TFLite's PrepareGeneralSubOp / add: computed in f32, then f64.
                let left_shift = 20;
                let twice_max = (2.0f32 * s1.max(s2)) as f64;
                ElementwiseKind::AddSub {
                    subtract: kind == BinaryKind::Sub,
                    left_shift,
                    input_a: rq(s1 as f64 / twice_max),
                    input_b: rq(s2 as f64 / twice_max),
                    output: rq(twice_max / ((1i32 << left_shift) as f32 * so) as f64),
                }
            }
            BinaryKind::Mul => ElementwiseKind::Mul {
                output: rq((s1 * s2 / so) as f64),
            },
            other => return Err(format!("the NPU has no binary {other:?} kernel")),
        };
        let (act_min, act_max) = act_range(act, ot)?;
        Ok(Elementwise {
            name: name.to_string(),
            a: self.tensor(a),
            b: self.tensor(b),
            output: self.tensor(out),
            kind,
            a_zero_point: z1,
            b_zero_point: z2,
            output_zero_point: zo,
            act_min,
            act_max,
            encode: None,
        })
    }
}
