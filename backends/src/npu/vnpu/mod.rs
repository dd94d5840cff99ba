//! The virtual NPU: executes a [`Program`] on a byte arena with its own integer kernels,
//! CPU segments through the reference interpreter, and quantization / dequantization at
//! the IO boundary. Results are bit-exact with `nnopt_compiler::interp::run` on the
//! lowered graph.

mod arena;
mod checks;
mod concat;
mod conv;
mod cpu;
mod elementwise;
mod io;
mod pool;

pub use arena::Arena;

use crate::npu::program::{Command, Program, TensorDesc};
use nnopt_compiler::ir::Tensor;
use nnopt_compiler::{Error, Result};

/// Runs `p` on `inputs` (one per program input, in order) and returns the outputs.
pub fn run(p: &Program, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    if inputs.len() != p.inputs.len() {
        return Err(Error::new(format!(
            "the program has {} inputs, {} were given",
            p.inputs.len(),
            inputs.len()
        )));
    }
    checks::check(p)?;
    let segments = cpu::parse_segments(p)?;
    let mut arena = Arena::new(p.arena_size);
    for (b, x) in p.inputs.iter().zip(inputs) {
        let t = tensor(p, b.tensor)?;
        let v = io::convert_input(b, t, x)?;
        arena.write(t, &v).map_err(|e| e.in_node(&b.name))?;
    }
    for c in &p.commands {
        step(p, c, &segments, &mut arena)?;
    }
    p.outputs
        .iter()
        .map(|b| {
            let t = tensor(p, b.tensor)?;
            io::convert_output(b, t, arena.read(t)?)
        })
        .collect()
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
    arena: &mut Arena,
) -> Result<()> {
    let weights = |i: usize, name: &str| {
        p.weights
            .get(i)
            .ok_or_else(|| Error::at_node(name, format!("the program has no weight block {i}")))
    };
    match c {
        Command::Conv2d(cv) => {
            let (x, o) = (tensor(p, cv.input)?, tensor(p, cv.output)?);
            let r = conv::conv2d(
                cv,
                weights(cv.weights, &cv.name)?,
                &arena.ints(x)?,
                &x.shape,
                &o.shape,
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
