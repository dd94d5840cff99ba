//! Host-CPU commands: fallback ops whose kernel the runtime has (SVDF, LiteRT's
//! float-table softmax) become commands of their own instead of joining a CPU segment.

use super::quant::{act_quant, per_tensor};
use super::{Lowering, Reason};
use crate::npu::program::{Command, Requant, Svdf, TableSoftmax};
use crate::npu::supported;
use nnopt_compiler::interp::{softmax_fixed_point, softmax_table, svdf_params};
use nnopt_compiler::ir::{DType, NodeIndex, Op, Tensor, TensorType, ValueRef};

type Lowered<T> = std::result::Result<T, Reason>;

impl Lowering<'_> {
    /// The host command of fallback node `n`, if its op has a host kernel that takes it.
    pub(super) fn host_command(&mut self, n: NodeIndex) -> Option<Command> {
        let g = self.g;
        let ins = g.node_inputs(n);
        if ins.first().is_none_or(|&x| g.const_value(x).is_some()) {
            return None;
        }
        match &g.node(n).op {
            Op::Svdf { rank, .. } => self.svdf(n, *rank, &ins).ok().map(Command::Svdf),
            Op::Softmax { axis, beta } => self
                .table_softmax(n, *axis, *beta, ins[0])
                .ok()
                .map(Command::TableSoftmax),
            _ => None,
        }
    }

    /// TFLite Micro's integer SVDF step with constant weights and initial state.
    fn svdf(&mut self, n: NodeIndex, rank: usize, ins: &[ValueRef]) -> Lowered<Svdf> {
        let g = self.g;
        supported::svdf_state_unused(g, n)?;
        let types: Vec<&TensorType> = ins.iter().map(|&v| g.ty(v)).collect();
        let outputs: Vec<TensorType> = g.node(n).outputs.iter().map(|o| o.ty.clone()).collect();
        let p = svdf_params(rank, &types, &outputs).map_err(|e| e.message)?;
        supported::shift_in_range(p.feature.1)?;
        supported::shift_in_range(p.time.1)?;
        let constant = |i: usize| -> Lowered<Vec<i64>> {
            ins.get(i)
                .and_then(|&v| g.const_value(v))
                .and_then(Tensor::to_i64_vec)
                .ok_or_else(|| "svdf weights or state not constant".to_string())
        };
        let narrow = |v: Vec<i64>| -> Lowered<Vec<i16>> {
            v.into_iter()
                .map(|x| i16::try_from(x).map_err(|_| "svdf constant out of range".into()))
                .collect()
        };
        let weights_feature = constant(1)?.into_iter().map(|v| v as i8).collect();
        let (weights_time, state) = (narrow(constant(2)?)?, narrow(constant(3)?)?);
        let bias = match ins.len() {
            5 => constant(4)?
                .into_iter()
                .map(|v| i32::try_from(v).map_err(|_| "svdf bias out of range".to_string()))
                .collect::<Lowered<_>>()?,
            _ => vec![0; p.units()],
        };
        Ok(Svdf {
            name: g.node(n).name.clone(),
            input: self.tensor(ins[0]),
            output: self.tensor(ValueRef::first(n)),
            rank,
            memory: p.memory,
            state_type: if p.state_i16 { DType::I16 } else { DType::I8 },
            weights_feature,
            weights_time,
            state,
            bias,
            input_zero_point: p.input_zero_point,
            state_zero_point: p.state_zero_point,
            output_zero_point: p.output_zero_point,
            feature: requant(p.feature),
            time: requant(p.time),
        })
    }

    /// LiteRT's float-table softmax, where the fixed-point kernel's scaling is undefined.
    fn table_softmax(
        &mut self,
        n: NodeIndex,
        axis: usize,
        beta: f32,
        x: ValueRef,
    ) -> Lowered<TableSoftmax> {
        let out = ValueRef::first(n);
        let (xt, ot) = (self.g.ty(x), self.g.ty(out));
        supported::table_softmax_types(axis, xt, ot)?;
        let ((si, _), (so, zo)) = (act_quant(xt)?, per_tensor(ot)?);
        if softmax_fixed_point(beta, si).is_some() {
            return Err("the fixed-point softmax applies".into());
        }
        Ok(TableSoftmax {
            name: self.g.node(n).name.clone(),
            input: self.tensor(x),
            output: self.tensor(out),
            axis,
            table: softmax_table(si, beta).to_vec(),
            output_scale: so,
            output_zero_point: zo,
        })
    }
}

fn requant((multiplier, shift): (i32, i32)) -> Requant {
    Requant { multiplier, shift }
}
