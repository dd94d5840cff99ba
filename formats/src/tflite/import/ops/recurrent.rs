//! UNIDIRECTIONAL_SEQUENCE_LSTM as one forward [`Op::Recurrent`] LSTM, in what TFLite
//! Micro's kernel supports: all four gates (no CIFG), no peepholes, projection or layer
//! normalization, tanh as the cell function; f32, or int8 data with int8 per-tensor
//! weights, int32 biases and an int16 cell state. The per-gate tensors are packed in
//! ONNX's gate order (`i, o, f, c`); int8 weights keep their per-gate scales as
//! per-row parameters. The variable states become constant initial states.

use super::super::builder::Builder;
use super::super::fb;
use super::svdf::variable_initial_value;
use super::Io;
use nnopt_compiler::ir::infer::infer_types;
use nnopt_compiler::ir::{
    DType, Op, QuantParams, RecurrentAttrs, RecurrentCell, RecurrentDirection, Tensor, TensorType,
    Value, ValueRef,
};
use nnopt_compiler::Result;

/// Input slots of the gates' tensors in ONNX's order `i, o, f, c`.
const INPUT_WEIGHTS: [usize; 4] = [1, 4, 2, 3];
const RECURRENT_WEIGHTS: [usize; 4] = [5, 8, 6, 7];
const BIASES: [usize; 4] = [12, 15, 13, 14];
const OUTPUT_STATE: usize = 18;
const CELL_STATE: usize = 19;

/// The optional inputs TFLite Micro's kernel does not take, with what they are.
const UNSUPPORTED: [(&[usize], &str); 3] = [
    (&[9, 10, 11], "peephole weights"),
    (&[16, 17], "a projection"),
    (&[20, 21, 22, 23], "layer normalization"),
];

/// UNIDIRECTIONAL_SEQUENCE_LSTM.
pub fn lstm(b: &mut Builder<'_, '_>, op: &fb::Operator<'_>, io: &Io) -> Result<()> {
    let o = op
        .builtin_options_as_unidirectional_sequence_lstmoptions()
        .ok_or_else(|| b.err("missing UnidirectionalSequenceLSTMOptions"))?;
    if io.ins.len() != 24 {
        return Err(b.err(format!(
            "UNIDIRECTIONAL_SEQUENCE_LSTM takes 24 inputs, got {}",
            io.ins.len()
        )));
    }
    for (slots, what) in UNSUPPORTED {
        if slots.iter().any(|&k| io.opt(k).is_some()) {
            return refuse(b, what);
        }
    }
    if [1, 5, 12].iter().any(|&k| io.opt(k).is_none()) {
        return refuse(b, "coupled input and forget gates (CIFG: no input gate)");
    }
    if o.fused_activation_function() != fb::ActivationFunctionType::TANH {
        return refuse(
            b,
            &format!(
                "cell activation {:?} (tanh only)",
                o.fused_activation_function()
            ),
        );
    }
    if o.diagonal_recurrent_tensors() {
        return refuse(b, "diagonal recurrent weights");
    }
    let x = b.value(io.input(b, 0)?)?;
    let x_ty = b.g.ty(x).clone();
    let int8 = match x_ty.dtype {
        DType::F32 => false,
        DType::I8 => true,
        _ => return refuse(b, &format!("{} input (f32 or int8 only)", x_ty.dtype)),
    };
    if x_ty.shape.len() != 3 {
        return Err(b.err(format!("input must have rank 3, got {:?}", x_ty.shape)));
    }
    let time_major = o.time_major();
    let batch = x_ty.shape[if time_major { 1 } else { 0 }];
    let w = pack(b, io, &INPUT_WEIGHTS, int8, "input weights")?;
    let hidden = w.1.shape[1] / 4;
    let r = pack(b, io, &RECURRENT_WEIGHTS, int8, "recurrent weights")?;
    let bias = pack(b, io, &BIASES, int8, "biases")?;
    let state = if time_major {
        [1, batch, hidden]
    } else {
        [batch, 1, hidden]
    };
    let h0 = state_value(b, io, OUTPUT_STATE, &state, "output state")?;
    let c0 = state_value(b, io, CELL_STATE, &state, "cell state")?;
    let node = b.node.clone();
    let name = b.g.fresh_name(&format!("{node}_w"));
    let wt = b.g.add_const(name, w.0, w.1.quant);
    let name = b.g.fresh_name(&format!("{node}_r"));
    let rt = b.g.add_const(name, r.0, r.1.quant);
    let zeros = Tensor::zeros(bias.1.dtype, &[4 * hidden]);
    let bias = concat(&[bias.0, zeros], &[1, 8 * hidden], bias.1.dtype)
        .ok_or_else(|| b.err("cannot pack the biases"))?;
    let name = b.g.fresh_name(&format!("{node}_b"));
    let bt = b.g.add_const(name, bias, None);
    let cell_clip = o.cell_clip();
    let attrs = RecurrentAttrs {
        cell: RecurrentCell::Lstm {
            input_forget: false,
            peepholes: false,
        },
        direction: RecurrentDirection::Forward,
        hidden_size: hidden,
        activations: RecurrentCell::Lstm {
            input_forget: false,
            peepholes: false,
        }
        .default_activations(),
        clip: None,
        cell_clip: (cell_clip > 0.0).then_some(cell_clip),
        batch_major: !time_major,
        sequence_lens: false,
    };
    let op = Op::Recurrent(attrs);
    let ins = [x, wt, rt, bt, h0, c0];
    let in_tys: Vec<&TensorType> = ins.iter().map(|&v| b.g.ty(v)).collect();
    let mut types = infer_types(&op, &in_tys).map_err(|e| e.in_node(&b.node))?;
    let out = io.output(b, 0)?;
    let out_ty = b.ty(out)?;
    let expect: Vec<usize> = if time_major {
        vec![x_ty.shape[0], batch, hidden]
    } else {
        vec![batch, x_ty.shape[1], hidden]
    };
    if out_ty.shape != expect || out_ty.dtype != x_ty.dtype {
        return Err(b.err(format!(
            "the output must be {:?} of {}, the model declares {out_ty}",
            expect, x_ty.dtype
        )));
    }
    types[0].quant = out_ty.quant.clone();
    let names = ["", "_h", "_c"].map(|s| b.g.fresh_name(&format!("{node}{s}")));
    let outputs = types
        .into_iter()
        .zip(&names)
        .map(|(ty, name)| Value {
            name: name.clone(),
            ty,
        })
        .collect();
    let n = b.g.add_node(names[0].clone(), op, &ins, outputs);
    let y = b.add(Op::Reshape { shape: expect }, &[ValueRef::first(n)], out_ty)?;
    b.bind(out, y)
}

/// The importer's refusal of what TFLite Micro's kernel does not take.
fn refuse(b: &Builder<'_, '_>, why: &str) -> Result<()> {
    Err(b.err(format!(
        "UNIDIRECTIONAL_SEQUENCE_LSTM with {why} is not supported (TFLite Micro's kernel \
         does not support it)"
    )))
}

/// The four gates' constant tensors of `slots` stacked on the first axis, with their
/// type: f32, or (int8) the per-gate scales as per-row parameters on axis 1 of a
/// `[1, rows, cols]` weight (biases stay `[4 * hidden]`).
fn pack(
    b: &Builder<'_, '_>,
    io: &Io,
    slots: &[usize; 4],
    int8: bool,
    what: &str,
) -> Result<(Tensor, TensorType)> {
    let mut parts = Vec::with_capacity(4);
    let mut quant = QuantParams {
        scale: vec![],
        zero_point: vec![],
        axis: Some(1),
    };
    let mut first: Option<TensorType> = None;
    for &k in slots {
        let i = io.input(b, k)?;
        let ty = b.ty(i)?;
        let tname = b.tensor_name(i)?;
        let data = b
            .const_data(i)?
            .ok_or_else(|| b.err(format!("{what} ('{tname}') must be constant")))?;
        let want = match (int8, what) {
            (false, _) => DType::F32,
            (true, "biases") => DType::I32,
            (true, _) => DType::I8,
        };
        if ty.dtype != want {
            return Err(b.err(format!(
                "{what} must be {want} with {} data, got {ty} (hybrid and other types are \
                 not supported)",
                if int8 { "int8" } else { "f32" }
            )));
        }
        if let Some(f) = &first {
            if f.shape != ty.shape {
                return Err(b.err(format!(
                    "the gates' {what} differ in shape: {:?} and {:?}",
                    f.shape, ty.shape
                )));
            }
        }
        if int8 && what != "biases" {
            match &ty.quant {
                Some(q) if q.scale.len() == 1 && q.zero_point[0] == 0 => {
                    let rows = ty.shape.first().copied().unwrap_or(0);
                    quant.scale.extend(std::iter::repeat_n(q.scale[0], rows));
                    quant.zero_point.extend(std::iter::repeat_n(0, rows));
                }
                _ => {
                    return Err(b.err(format!(
                        "int8 {what} must be quantized per tensor and symmetric, got {ty}"
                    )))
                }
            }
        }
        first.get_or_insert(ty);
        parts.push(data);
    }
    let ty = first.expect("four gates");
    let (rows, shape) = match ty.shape.as_slice() {
        [n] if what == "biases" => (*n, vec![4 * n]),
        [n, m] if what != "biases" => (*n, vec![1, 4 * n, *m]),
        s => return Err(b.err(format!("{what} have an unexpected shape {s:?}"))),
    };
    if rows == 0 {
        return Err(b.err(format!("{what} are empty")));
    }
    let t = concat(&parts, &shape, ty.dtype).ok_or_else(|| b.err(format!("cannot pack {what}")))?;
    let quant = (int8 && what != "biases").then_some(quant);
    Ok((t, TensorType::new(ty.dtype, shape).with_quant(quant)))
}

/// Tensors of one dtype laid end to end, as `shape`.
fn concat(parts: &[Tensor], shape: &[usize], dtype: DType) -> Option<Tensor> {
    let values: Vec<f64> = parts.iter().flat_map(Tensor::to_f64_vec).collect();
    Tensor::from_f64s(dtype, shape, &values)
}

/// The initial value of variable state `slot` as a constant of the layer's state shape.
fn state_value(
    b: &mut Builder<'_, '_>,
    io: &Io,
    slot: usize,
    shape: &[usize],
    what: &str,
) -> Result<ValueRef> {
    let i = io.input(b, slot)?;
    let (data, ty) = variable_initial_value(b, i, &format!("LSTM {what}"))?;
    let data = data.reshaped(shape).ok_or_else(|| {
        b.err(format!(
            "LSTM {what} has shape {:?}, {shape:?} expected",
            ty.shape
        ))
    })?;
    let name = b.g.fresh_name(&b.tensor_name(i)?);
    Ok(b.g.add_const(name, data, ty.quant))
}
