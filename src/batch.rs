//! Running a model on inputs whose leading dimension is a multiple of the model's batch.

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Axis, Slice};
use nnopt_compiler::interp;
use nnopt_compiler::ir::{Graph, Tensor};
use nnopt_compiler::{map_tensor_same, Error, Result};
use rayon::prelude::*;

/// How many model-sized batches an input holds (`k` when its leading dimension is `k` times
/// the model's), or an error naming the mismatch.
fn repeat_count(model_shape: &[usize], t: &Tensor, index: usize) -> Result<usize> {
    let s = t.shape();
    let mismatch = || {
        let stacked = match model_shape {
            [1, rest @ ..] => {
                let dims: Vec<String> = rest.iter().map(usize::to_string).collect();
                let dims = std::iter::once("N".to_string()).chain(dims);
                format!(
                    "or [{}] for N stacked samples",
                    dims.collect::<Vec<_>>().join(", ")
                )
            }
            [b, ..] => format!("or a first dimension that is a multiple of {b}"),
            [] => "a scalar".to_string(),
        };
        Error::new(format!(
            "input {index} has shape {s:?}; the model takes {model_shape:?} ({stacked})"
        ))
    };
    if s == model_shape {
        return Ok(1);
    }
    if s.len() != model_shape.len()
        || s.is_empty()
        || s[1..] != model_shape[1..]
        || model_shape[0] == 0
    {
        return Err(mismatch());
    }
    if s[0] == 0 {
        return Err(Error::new(format!(
            "input {index} holds no samples (shape {s:?})"
        )));
    }
    if !s[0].is_multiple_of(model_shape[0]) {
        return Err(mismatch());
    }
    Ok(s[0] / model_shape[0])
}

fn slice_batch(t: &Tensor, start: usize, len: usize) -> Tensor {
    map_tensor_same!(t, a => a.slice_axis(Axis(0), Slice::from(start..start + len)).to_owned())
}

pub fn concat(parts: &[Tensor]) -> Result<Tensor> {
    let mixed = || Error::new("batches produced outputs of different dtypes");
    macro_rules! cat {
        ($v:ident) => {{
            let views = parts
                .iter()
                .map(|p| match p {
                    Tensor::$v(a) => Ok(a.view()),
                    _ => Err(mixed()),
                })
                .collect::<Result<Vec<_>>>()?;
            Tensor::$v(
                ndarray::concatenate(Axis(0), &views)
                    .map_err(|e| Error::new(format!("cannot stack outputs: {e}")))?,
            )
        }};
    }
    Ok(match &parts[0] {
        Tensor::F32(_) => cat!(F32),
        Tensor::I8(_) => cat!(I8),
        Tensor::U8(_) => cat!(U8),
        Tensor::I16(_) => cat!(I16),
        Tensor::I32(_) => cat!(I32),
        Tensor::I64(_) => cat!(I64),
        Tensor::Bool(_) => cat!(Bool),
        Tensor::F8E4M3(_) => cat!(F8E4M3),
        Tensor::F8E5M2(_) => cat!(F8E5M2),
        Tensor::F16(_) => cat!(F16),
        Tensor::Bf16(_) => cat!(Bf16),
        Tensor::F64(_) => cat!(F64),
        Tensor::U16(_) => cat!(U16),
        Tensor::U32(_) => cat!(U32),
        Tensor::U64(_) => cat!(U64),
        Tensor::I4(_) => cat!(I4),
        Tensor::U4(_) => cat!(U4),
        Tensor::I2(_) => cat!(I2),
        Tensor::U2(_) => cat!(U2),
        Tensor::F4E2M1(_) => cat!(F4E2M1),
        Tensor::F8E4M3Fnuz(_) => cat!(F8E4M3Fnuz),
        Tensor::F8E5M2Fnuz(_) => cat!(F8E5M2Fnuz),
        Tensor::F8E8M0(_) => cat!(F8E8M0),
    })
}

/// Runs `g` on `inputs`; inputs holding `k` batches run `k` times and outputs are stacked.
pub fn run_batched(g: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let shapes: Vec<Vec<usize>> = g
        .inputs()
        .iter()
        .map(|&n| g.node(n).outputs[0].ty.shape.clone())
        .collect();
    let session = interp::Session::new(g);
    run_batched_with(&shapes, inputs, |x| session.run(x))
}

/// Runs `run` (a model taking inputs of `shapes`) on `inputs`; inputs holding `k`
/// batches run `k` times in parallel, with a progress bar, and the outputs are stacked.
pub fn run_batched_with(
    shapes: &[Vec<usize>],
    inputs: &[Tensor],
    run: impl Fn(&[Tensor]) -> Result<Vec<Tensor>> + Sync,
) -> Result<Vec<Tensor>> {
    if inputs.len() != shapes.len() {
        return Err(Error::new(format!(
            "the model has {} inputs, {} were given",
            shapes.len(),
            inputs.len()
        )));
    }
    let counts = inputs
        .iter()
        .zip(shapes)
        .enumerate()
        .map(|(i, (t, s))| repeat_count(s, t, i))
        .collect::<Result<Vec<_>>>()?;
    let k = counts.first().copied().unwrap_or(1);
    if counts.iter().any(|&c| c != k) {
        return Err(Error::new(format!(
            "inputs hold different numbers of batches: {counts:?}"
        )));
    }
    if k == 1 {
        return run(inputs);
    }
    let bar = ProgressBar::new(k as u64).with_style(
        ProgressStyle::with_template(
            "{spinner} running {pos}/{len} batches [{elapsed_precise}] {wide_bar}",
        )
        .expect("valid template"),
    );
    // Batches run in parallel; results are collected in batch order, and the first
    // failing batch (by index) is the error, whatever the thread count.
    let results: Vec<Result<Vec<Tensor>>> = (0..k)
        .into_par_iter()
        .map(|i| {
            let slice: Vec<Tensor> = inputs
                .iter()
                .zip(shapes)
                .map(|(t, s)| slice_batch(t, i * s[0], s[0]))
                .collect();
            let outs = run(&slice).map_err(|e| Error::new(format!("batch {i}: {e}")));
            bar.inc(1);
            outs
        })
        .collect();
    let mut per_output: Vec<Vec<Tensor>> = vec![];
    for outs in results {
        let outs = outs?;
        if per_output.is_empty() {
            per_output = vec![vec![]; outs.len()];
        }
        for (acc, o) in per_output.iter_mut().zip(outs) {
            acc.push(o);
        }
    }
    bar.finish_and_clear();
    per_output.iter().map(|parts| concat(parts)).collect()
}
