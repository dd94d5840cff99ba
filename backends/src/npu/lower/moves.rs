//! Lowering of int8 data moves: concatenation (requantizing through tables), constant
//! padding and resize.

use super::quant::act_quant;
use super::{Lowering, Reason};
use crate::npu::program::{Concat, Pad, Resize};
use crate::npu::supported;
use crate::npu::tables::code_table;
use nnopt_compiler::interp::fixedpoint::round_f32;
use nnopt_compiler::interp::tflite_resize_flags;
use nnopt_compiler::ir::{Op, ResizeMode, TensorType, ValueRef};

type Lowered<T> = std::result::Result<T, Reason>;

impl Lowering<'_> {
    /// A concatenation; inputs whose parameters differ from the output's are requantized
    /// through tables, each the interpreter's concatenation of that input alone.
    pub(super) fn concat(
        &mut self,
        name: &str,
        axis: usize,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> Lowered<Concat> {
        let g = self.g;
        let out_ty = g.ty(out);
        let q = act_quant(out_ty)?;
        let mut same = true;
        for &x in ins {
            same &= act_quant(g.ty(x))? == q && g.ty(x).dtype == out_ty.dtype;
        }
        let mut tables = Vec::new();
        if !same {
            for &x in ins {
                let one = TensorType {
                    shape: g.ty(x).shape.clone(),
                    ..out_ty.clone()
                };
                // The table is the input's requantization alone: its values as a row.
                tables.extend(code_table(&Op::Concat { axis: 0 }, g.ty(x), &one)?);
            }
        }
        Ok(Concat {
            name: name.to_string(),
            inputs: ins.iter().map(|&x| self.tensor(x)).collect(),
            output: self.tensor(out),
            axis,
            tables,
        })
    }

    /// Constant padding, as the interpreter's quantized pad: equal quantization, the pad
    /// value quantized with the output's parameters.
    pub(super) fn pad(
        &mut self,
        name: &str,
        pads: &[(usize, usize)],
        value: f32,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> Lowered<Pad> {
        let x = *ins.first().ok_or("missing input")?;
        let (xt, out_ty) = (self.g.ty(x), self.g.ty(out));
        supported::pads_match_rank(pads, xt)?;
        let (so, zo) = act_quant(out_ty)?;
        if act_quant(xt)? != (so, zo) || xt.dtype != out_ty.dtype {
            return Err("padding with requantization".into());
        }
        let (lo, hi) = out_ty.dtype.int_range().ok_or("integer output needed")?;
        let fill = (zo as i64 + round_f32(value / so) as i64).clamp(lo, hi) as i32;
        Ok(Pad {
            name: name.to_string(),
            input: self.tensor(x),
            output: self.tensor(out),
            pads: pads.to_vec(),
            value: 0.0,
            fill,
            encode: None,
        })
    }

    /// A resize of NHWC data with TFLite's integer kernels.
    pub(super) fn resize(
        &mut self,
        name: &str,
        op: &Op,
        ins: &[ValueRef],
        out: ValueRef,
    ) -> Lowered<Resize> {
        let Op::Resize {
            mode,
            coord,
            nearest,
            filter,
            ..
        } = op
        else {
            return Err(format!("{} is not a resize", op.name()));
        };
        supported::resize_default_filter(filter)?;
        let x = *ins.first().ok_or("missing input")?;
        let (xt, out_ty) = (self.g.ty(x), self.g.ty(out));
        supported::resize_nhwc(xt, out_ty)?;
        if act_quant(xt)? != act_quant(out_ty)? || xt.dtype != out_ty.dtype {
            return Err("resize with requantization".into());
        }
        let (align_corners, half_pixel_centers) =
            tflite_resize_flags(*mode, *coord, *nearest).map_err(|e| e.message)?;
        Ok(Resize {
            name: name.to_string(),
            input: self.tensor(x),
            output: self.tensor(out),
            bilinear: *mode == ResizeMode::Linear,
            align_corners,
            half_pixel_centers,
        })
    }
}
