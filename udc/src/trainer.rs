//! Training on nnopt's runtime with weights that are a function of the trained ones: the
//! step graph of a training program gives the loss and the gradients at any parameter
//! values, and the caller maps its own parameters to those values and the gradients
//! back (the chain rule outside the graph).

use crate::Progress;
use nnopt_compiler::interp;
use nnopt_compiler::ir::{Graph, Tensor};
use nnopt_compiler::{Error, Result};
use nnopt_passes::{with_batch, TrainPrecision};
use nnopt_train::data::Dataset;
use nnopt_train::optimizer::OptimizerState;
use nnopt_train::{Optimizer, TrainingProgram, TrainingStep};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::collections::hash_map::Entry;
use std::collections::HashMap;

/// A training program's FP32 step on a dataset, with a seeded shuffle.
pub struct Trainer<'a> {
    pub program: &'a TrainingProgram,
    pub data: &'a Dataset,
    step: &'a TrainingStep,
    /// The step graph's input shape (its batch first).
    shape: Vec<usize>,
    rng: Xoshiro256PlusPlus,
}

impl<'a> Trainer<'a> {
    pub fn new(program: &'a TrainingProgram, data: &'a Dataset, seed: u64) -> Result<Self> {
        let step = program.step(TrainPrecision::Fp32)?;
        let g = &step.graph;
        let shape = g
            .inputs()
            .first()
            .map(|&n| g.node(n).outputs[0].ty.shape.clone())
            .ok_or_else(|| Error::new("the training step has no input"))?;
        Ok(Trainer {
            program,
            data,
            step,
            shape,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        })
    }

    /// `rows` shuffled and cut into full batches of the program's batch size.
    pub fn batches(&mut self, rows: &[usize]) -> Vec<Vec<usize>> {
        let mut order = rows.to_vec();
        for i in (1..order.len()).rev() {
            let j = self.rng.random_range(0..=i);
            order.swap(i, j);
        }
        order
            .chunks_exact(self.program.batch)
            .map(<[usize]>::to_vec)
            .collect()
    }

    /// Steps in one epoch over `rows`.
    pub fn steps_per_epoch(&self, rows: &[usize]) -> usize {
        rows.len() / self.program.batch
    }

    /// The loss and every parameter's gradient at `params` on the batch `rows`.
    pub fn gradients(&self, params: &[Tensor], rows: &[usize]) -> Result<(f32, Vec<Tensor>)> {
        let (x, y) = self.data.samples.batch(rows, &self.shape)?;
        let mut inputs = Vec::with_capacity(2 + params.len());
        inputs.push(x);
        inputs.push(y);
        inputs.extend(params.iter().cloned());
        let mut out = interp::run(&self.step.graph, &inputs)?.into_iter();
        let loss = out
            .next()
            .and_then(|l| l.to_f64_vec().first().copied())
            .ok_or_else(|| Error::new("the training step returned no loss"))?;
        let grads: Vec<Tensor> = out.take(params.len()).collect();
        if grads.len() != params.len() {
            return Err(Error::new("the training step returned too few gradients"));
        }
        Ok((loss as f32, grads))
    }

    /// `epochs` over `rows` of an optimizer on `params`, the step computing at
    /// `forward(params)` and its gradients passed through `backward` (in place) before
    /// the update. The learning rate follows a cosine from the optimizer's down to zero
    /// over all the steps. Returns the last epoch's mean loss.
    #[allow(clippy::too_many_arguments)]
    pub fn train(
        &mut self,
        params: &mut [Tensor],
        optimizer: &Optimizer,
        epochs: usize,
        rows: &[usize],
        forward: &dyn Fn(&[Tensor]) -> Result<Vec<Tensor>>,
        backward: &dyn Fn(&mut [Tensor]),
        progress: &Progress,
    ) -> Result<f64> {
        let sizes: Vec<usize> = params.iter().map(Tensor::len).collect();
        let mut state = OptimizerState::new(optimizer.kind, &sizes);
        let total = (epochs * self.steps_per_epoch(rows)).max(1) as f32;
        let mut step = 0;
        let mut mean = 0.0;
        for _ in 0..epochs {
            let (mut sum, mut n) = (0.0, 0);
            for batch in self.batches(rows) {
                let (loss, mut grads) = self.gradients(&forward(params)?, &batch)?;
                backward(&mut grads);
                let cosine = 0.5 * (1.0 + (std::f32::consts::PI * step as f32 / total).cos());
                let at_step = Optimizer {
                    learning_rate: optimizer.learning_rate * cosine,
                    ..optimizer.clone()
                };
                state.apply(&at_step, params, &grads)?;
                step += 1;
                sum += f64::from(loss);
                n += 1;
                progress.step(loss);
            }
            mean = sum / n.max(1) as f64;
        }
        Ok(mean)
    }
}

/// Top-1 accuracy of a model graph (float or int8, one f32 input) on `rows` of `data`,
/// run in batches of up to 256 by the interpreter.
pub fn accuracy(g: &Graph, data: &Dataset, rows: &[usize]) -> Result<f64> {
    if rows.is_empty() {
        return Err(Error::new("no samples to evaluate"));
    }
    let shape = g
        .inputs()
        .first()
        .map(|&n| g.node(n).outputs[0].ty.shape.clone())
        .ok_or_else(|| Error::new("the model has no input"))?;
    let mut graphs: HashMap<usize, Graph> = HashMap::new();
    let mut hits = 0;
    for chunk in rows.chunks(256) {
        let n = chunk.len();
        let graph = match graphs.entry(n) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(with_batch(g, n)?),
        };
        let (x, _) = data.samples.batch(chunk, &shape)?;
        let out = interp::run(graph, &[x])?;
        let scores = out
            .first()
            .map(|t| t.to_f64_vec())
            .ok_or_else(|| Error::new("the model has no output"))?;
        let classes = scores.len() / n;
        for (row, &r) in scores.chunks(classes.max(1)).zip(chunk) {
            let best = row
                .iter()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                )
                .0;
            hits += usize::from(best as i64 == data.samples.labels[r]);
        }
    }
    Ok(hits as f64 / rows.len() as f64)
}
