//! The virtual NPU: executes a [`Program`] on a byte arena with its own integer, FP8 and
//! f32 kernels, host-CPU commands with the interpreter's kernels, CPU segments through the
//! reference interpreter, and quantization / dequantization at the IO boundary. Results
//! are bit-exact with `nnopt_compiler::interp::run` on the lowered graph.

mod arena;
mod checks;
mod concat;
mod conv;
mod cpu;
mod elementwise;
mod fp8;
mod host;
mod io;
mod pool;
mod resize;

pub use arena::Arena;

use crate::npu::program::{
    Command, ElementwiseKind, Fp8Encoding, Fp8Stage, Program, TensorDesc, TensorId,
};
use nnopt_compiler::ir::{DType, Tensor};
use nnopt_compiler::kernels::PreparedWeights;
use nnopt_compiler::{Error, Result};

/// Runs `p` on `inputs` (one per program input, in order) and returns the outputs.
pub fn run(p: &Program, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    check_inputs(p, inputs)?;
    Session::new(p)?.run(inputs)
}

fn check_inputs(p: &Program, inputs: &[Tensor]) -> Result<()> {
    if inputs.len() != p.inputs.len() {
        return Err(Error::new(format!(
            "the program has {} inputs, {} were given",
            p.inputs.len(),
            inputs.len()
        )));
    }
    Ok(())
}

/// A checked program ready to run many times (from several threads at once): each
/// command keeps its prepared integer weights across runs.
pub struct Session<'p> {
    p: &'p Program,
    segments: Vec<nnopt_compiler::ir::Graph>,
    /// One slot per command.
    prepared: Vec<PreparedWeights>,
}

impl<'p> Session<'p> {
    /// Checks `p` and parses its CPU segments.
    pub fn new(p: &'p Program) -> Result<Self> {
        checks::check(p)?;
        Ok(Session {
            p,
            segments: cpu::parse_segments(p)?,
            prepared: p.commands.iter().map(|_| PreparedWeights::new()).collect(),
        })
    }

    /// Runs the program on `inputs` (one per program input, in order).
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        Ok(self.run_tapped(inputs, &[])?.0)
    }

    /// Like [`Session::run`], and also returns the arena tensors `taps` as the commands
    /// that write them leave them (in `taps` order; a program input as given).
    pub fn run_tapped(
        &self,
        inputs: &[Tensor],
        taps: &[TensorId],
    ) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
        let p = self.p;
        check_inputs(p, inputs)?;
        let mut tapped: Vec<Option<Tensor>> = vec![None; taps.len()];
        let mut capture = |arena: &Arena, written: &[TensorId]| -> Result<()> {
            for (slot, id) in tapped.iter_mut().zip(taps) {
                if written.contains(id) {
                    *slot = Some(arena.read(tensor(p, *id)?)?);
                }
            }
            Ok(())
        };
        let mut arena = Arena::new(p.arena_size);
        for (b, x) in p.inputs.iter().zip(inputs) {
            let t = tensor(p, b.tensor)?;
            let v = io::convert_input(b, t, x)?;
            arena.write(t, &v).map_err(|e| e.in_node(&b.name))?;
            capture(&arena, &[b.tensor])?;
        }
        for (c, slot) in p.commands.iter().zip(&self.prepared) {
            step(p, c, &self.segments, slot, &mut arena)?;
            capture(&arena, &c.outputs(p))?;
        }
        let outputs = p
            .outputs
            .iter()
            .map(|b| {
                let t = tensor(p, b.tensor)?;
                io::convert_output(b, t, arena.read(t)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let tapped = tapped
            .into_iter()
            .zip(taps)
            .map(|(t, &id)| {
                t.ok_or_else(|| {
                    Error::new(format!(
                        "tensor '{}' is never written by the program",
                        p.tensors.get(id).map_or("?", |t| t.name.as_str())
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((outputs, tapped))
    }
}

/// The descriptor of tensor `id`.
fn tensor(p: &Program, id: usize) -> Result<&TensorDesc> {
    p.tensors
        .get(id)
        .ok_or_else(|| Error::new(format!("the program has no tensor {id}")))
}

/// Executes one command.
fn step(
    p: &Program,
    c: &Command,
    segments: &[nnopt_compiler::ir::Graph],
    prepared: &PreparedWeights,
    arena: &mut Arena,
) -> Result<()> {
    let weights = |i: usize, name: &str| {
        p.weights
            .get(i)
            .ok_or_else(|| Error::at_node(name, format!("the program has no weight block {i}")))
    };
    match c {
        Command::Conv2d(cv) if cv.fp8.is_some() => {
            let st = cv.fp8.as_ref().expect("matched");
            let (x, o) = (tensor(p, cv.input)?, tensor(p, cv.output)?);
            let r = fp8::conv2d(
                cv,
                st,
                weights(cv.weights, &cv.name)?,
                fp8_codes(arena, x, st)?,
                &x.shape,
                &o.shape,
            )?;
            store(arena, o, st.output, &r).map_err(|e| e.in_node(&cv.name))
        }
        Command::FullyConnected(fc) if fc.fp8.is_some() => {
            let st = fc.fp8.as_ref().expect("matched");
            let (x, o) = (tensor(p, fc.input)?, tensor(p, fc.output)?);
            let r = fp8::fully_connected(
                fc,
                st,
                weights(fc.weights, &fc.name)?,
                fp8_codes(arena, x, st)?,
                o.num_elements(),
            )?;
            store(arena, o, st.output, &r).map_err(|e| e.in_node(&fc.name))
        }
        Command::Activate(a) => {
            let (x, o) = (tensor(p, a.input)?, tensor(p, a.output)?);
            let r: Vec<f32> = arena
                .f32s(x)?
                .into_iter()
                .map(|v| a.activation.apply(v))
                .collect();
            if r.len() != o.num_elements() {
                return Err(Error::at_node(
                    &a.name,
                    "output size differs from the input",
                ));
            }
            store(arena, o, a.encode, &r).map_err(|e| e.in_node(&a.name))
        }
        Command::Pad(pd) if tensor(p, pd.input)?.dtype == DType::F32 => {
            let (x, o) = (tensor(p, pd.input)?, tensor(p, pd.output)?);
            let r = concat::pad(pd, pd.value, &arena.f32s(x)?, &x.shape, &o.shape)?;
            store(arena, o, pd.encode, &r).map_err(|e| e.in_node(&pd.name))
        }
        Command::Pad(pd) => {
            let (x, o) = (tensor(p, pd.input)?, tensor(p, pd.output)?);
            let r = concat::pad(pd, pd.fill, &arena.ints(x)?, &x.shape, &o.shape)?;
            arena.set_ints(o, &r).map_err(|e| e.in_node(&pd.name))
        }
        Command::Lookup(l) => {
            let (x, o) = (tensor(p, l.input)?, tensor(p, l.output)?);
            concat::lookup(l, x, o, arena)
        }
        Command::Resize(r) => {
            let (x, o) = (tensor(p, r.input)?, tensor(p, r.output)?);
            let y = resize::resize(r, &arena.ints(x)?, &x.shape, &o.shape)?;
            arena.set_ints(o, &y).map_err(|e| e.in_node(&r.name))
        }
        Command::Softmax(sm) => {
            let (x, o) = (tensor(p, sm.input)?, tensor(p, sm.output)?);
            let y = elementwise::softmax(sm, &arena.ints(x)?, &x.shape, o)?;
            arena.set_ints(o, &y).map_err(|e| e.in_node(&sm.name))
        }
        Command::Requantize(r) => {
            let (x, o) = (tensor(p, r.input)?, tensor(p, r.output)?);
            let y = elementwise::requantize(r, &arena.ints(x)?, o)?;
            arena.set_ints(o, &y).map_err(|e| e.in_node(&r.name))
        }
        Command::Svdf(sv) => {
            let (x, o) = (tensor(p, sv.input)?, tensor(p, sv.output)?);
            host::svdf(sv, x, o, arena)
        }
        Command::TableSoftmax(sm) => {
            let (x, o) = (tensor(p, sm.input)?, tensor(p, sm.output)?);
            host::table_softmax(sm, x, o, arena)
        }
        Command::PRelu(pr) => {
            let (x, o) = (tensor(p, pr.input)?, tensor(p, pr.output)?);
            if x.shape != o.shape {
                return Err(Error::at_node(
                    &pr.name,
                    "output shape differs from the input",
                ));
            }
            let r = elementwise::prelu(pr, &arena.ints(x)?, &x.shape)?;
            arena.set_ints(o, &r).map_err(|e| e.in_node(&pr.name))
        }
        Command::Quantize(q) => {
            let (x, o) = (tensor(p, q.input)?, tensor(p, q.output)?);
            if o.dtype != q.encoding.format.dtype() || o.num_elements() != x.num_elements() {
                return Err(Error::at_node(
                    &q.name,
                    format!(
                        "output tensor '{}' is not {}",
                        o.name,
                        q.encoding.format.name()
                    ),
                ));
            }
            let codes = fp8::encode(&arena.f32s(x)?, q.encoding);
            arena.set_bytes(o, &codes).map_err(|e| e.in_node(&q.name))
        }
        Command::Elementwise(e) if matches!(e.kind, ElementwiseKind::F32 { .. }) => {
            let (a, b, o) = (tensor(p, e.a)?, tensor(p, e.b)?, tensor(p, e.output)?);
            let r = elementwise::elementwise_f32(
                e,
                &arena.f32s(a)?,
                &a.shape,
                &arena.f32s(b)?,
                &b.shape,
                &o.shape,
            )?;
            store(arena, o, e.encode, &r).map_err(|err| err.in_node(&e.name))
        }
        Command::Pool(pl) if tensor(p, pl.input)?.dtype == DType::F32 => {
            let (x, o) = (tensor(p, pl.input)?, tensor(p, pl.output)?);
            let r = pool::pool_f32(pl, &arena.f32s(x)?, &x.shape, &o.shape)?;
            store(arena, o, pl.encode, &r).map_err(|e| e.in_node(&pl.name))
        }
        Command::Reduce(rd) if rd.float.is_some() => {
            let kind = rd.float.expect("matched");
            let (x, o) = (tensor(p, rd.input)?, tensor(p, rd.output)?);
            let r = pool::reduce_f32(rd, kind, &arena.f32s(x)?, &x.shape, o.num_elements())?;
            store(arena, o, rd.encode, &r).map_err(|e| e.in_node(&rd.name))
        }
        Command::Conv2d(cv) => {
            let (x, o) = (tensor(p, cv.input)?, tensor(p, cv.output)?);
            let r = conv::conv2d(
                cv,
                weights(cv.weights, &cv.name)?,
                &arena.ints(x)?,
                &x.shape,
                &o.shape,
                prepared,
            )?;
            arena.set_ints(o, &r).map_err(|e| e.in_node(&cv.name))
        }
        Command::FullyConnected(fc) => {
            let (x, o) = (tensor(p, fc.input)?, tensor(p, fc.output)?);
            let r = conv::fully_connected(
                fc,
                weights(fc.weights, &fc.name)?,
                &arena.ints(x)?,
                o.num_elements(),
                prepared,
            )?;
            arena.set_ints(o, &r).map_err(|e| e.in_node(&fc.name))
        }
        Command::Elementwise(e) => {
            let (a, b, o) = (tensor(p, e.a)?, tensor(p, e.b)?, tensor(p, e.output)?);
            let r = elementwise::elementwise(
                e,
                &arena.ints(a)?,
                &a.shape,
                &arena.ints(b)?,
                &b.shape,
                &o.shape,
            )?;
            arena.set_ints(o, &r).map_err(|err| err.in_node(&e.name))
        }
        Command::Pool(pl) => {
            let (x, o) = (tensor(p, pl.input)?, tensor(p, pl.output)?);
            let r = pool::pool(pl, &arena.ints(x)?, &x.shape, &o.shape)?;
            arena.set_ints(o, &r).map_err(|e| e.in_node(&pl.name))
        }
        Command::Reduce(rd) => {
            let (x, o) = (tensor(p, rd.input)?, tensor(p, rd.output)?);
            let r = pool::reduce(rd, &arena.ints(x)?, &x.shape, o.num_elements())?;
            arena.set_ints(o, &r).map_err(|e| e.in_node(&rd.name))
        }
        Command::Concat(cc) => {
            let ins = cc
                .inputs
                .iter()
                .map(|&t| tensor(p, t))
                .collect::<Result<Vec<_>>>()?;
            concat::concat(cc, &ins, tensor(p, cc.output)?, arena)
        }
        Command::Cpu { segment } => {
            let s = p
                .cpu_segments
                .get(*segment)
                .ok_or_else(|| Error::new(format!("the program has no CPU segment {segment}")))?;
            cpu::run_segment(p, s, &segments[*segment], arena)
        }
    }
}

/// The FP8 input codes of an FP8 layer, checked against its stage's input format.
fn fp8_codes<'a>(arena: &'a Arena, x: &TensorDesc, st: &Fp8Stage) -> Result<&'a [u8]> {
    if x.dtype != st.input_format.dtype() {
        return Err(Error::new(format!(
            "tensor '{}' is {}, the FP8 layer reads {}",
            x.name,
            x.dtype,
            st.input_format.name()
        )));
    }
    arena.bytes(x)
}

/// Stores a command's f32 results: as f32, or as the FP8 codes of a fused quantize.
fn store(arena: &mut Arena, o: &TensorDesc, encode: Option<Fp8Encoding>, y: &[f32]) -> Result<()> {
    match encode {
        None => arena.set_f32s(o, y),
        Some(e) if o.dtype == e.format.dtype() => arena.set_bytes(o, &fp8::encode(y, e)),
        Some(e) => Err(Error::new(format!(
            "tensor '{}' is {}, the command writes {}",
            o.name,
            o.dtype,
            e.format.name()
        ))),
    }
}
