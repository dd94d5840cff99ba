//! The client runtime: executes a training program's step graph on local data.

use crate::fl::state::{StateReader, StateWriter};
use crate::message::{Encoding, Payload};
use crate::optimizer::OptimizerState;
use crate::{MasterWeights, TrainingProgram, TrainingStep};
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::fp8::{AmaxHistory, Fp8Format};
use nnopt_compiler::interp;
use nnopt_compiler::ir::{DType, Graph, Op, Tensor};
use nnopt_compiler::{Error, Result};
use nnopt_passes::{with_batch, TrainPrecision};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::collections::HashMap;

/// Labelled samples, each a flat row of f32 values that reshapes to the model input.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// Row-major `[len, row_len]`.
    pub values: Vec<f32>,
    pub labels: Vec<i64>,
    pub row_len: usize,
}

impl Samples {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The batch of `rows` as a tensor of `shape` (its leading dimension = `rows.len()`).
    pub fn batch(&self, rows: &[usize], shape: &[usize]) -> Result<(Tensor, Tensor)> {
        let per: usize = shape[1..].iter().product();
        if per != self.row_len {
            return Err(Error::new(format!(
                "samples have {} values, the model input {shape:?} takes {per} a sample",
                self.row_len
            )));
        }
        let mut v = Vec::with_capacity(rows.len() * per);
        for &r in rows {
            v.extend_from_slice(&self.values[r * per..(r + 1) * per]);
        }
        let mut s = shape.to_vec();
        s[0] = rows.len();
        let x = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&s), v).expect("sized"));
        let labels: Vec<f64> = rows.iter().map(|&r| self.labels[r] as f64).collect();
        let y = Tensor::from_f64s(DType::I64, &[rows.len()], &labels).expect("sized");
        Ok((x, y))
    }
}

/// What one pass over local data did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochStats {
    /// Mean loss over the steps.
    pub loss: f64,
    pub steps: usize,
    pub samples: usize,
}

/// A client's training state: parameters, the optimizer's state, and the amax history
/// of each FP8 quantizer (delayed scaling).
pub struct Client<'p> {
    program: &'p TrainingProgram,
    step: &'p TrainingStep,
    params: Vec<Tensor>,
    optimizer: OptimizerState,
    histories: Vec<AmaxHistory>,
    rng: Xoshiro256PlusPlus,
}

impl<'p> Client<'p> {
    /// A client running `program`'s `precision` step from the program's starting
    /// weights; `seed` drives shuffling and stochastic rounding.
    pub fn new(program: &'p TrainingProgram, precision: TrainPrecision, seed: u64) -> Result<Self> {
        let step = program.step(precision)?;
        let params = program.initial_params()?;
        let optimizer = OptimizerState::new(program.optimizer.kind, &program.param_sizes());
        let histories = step
            .quant_points
            .iter()
            .map(|_| AmaxHistory::new(program.scaling.history))
            .collect();
        Ok(Client {
            program,
            step,
            params,
            optimizer,
            histories,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        })
    }

    /// The current parameters (program order).
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// Replaces the parameters (e.g. with a broadcast global model) and clears the
    /// optimizer's moments; the FP8 scaling history and the warm-up count are kept.
    pub fn load_params(&mut self, params: Vec<Tensor>) -> Result<()> {
        if params.len() != self.program.params.len()
            || params
                .iter()
                .zip(&self.program.params)
                .any(|(t, p)| t.shape() != p.shape.as_slice() || t.dtype() != DType::F32)
        {
            return Err(Error::new(
                "the parameters do not match the program's parameter layout",
            ));
        }
        self.params = params;
        self.optimizer.clear_moments();
        Ok(())
    }

    /// Writes the parameters, the optimizer's state, the amax histories and the random
    /// generator.
    pub(crate) fn save(&self, w: &mut StateWriter) -> Result<()> {
        save_tensors(w, &self.params)?;
        self.optimizer.save(w);
        for h in &self.histories {
            w.f32s(&h.window().collect::<Vec<_>>());
        }
        let rng = serde_json::to_vec(&self.rng).map_err(|e| Error::new(e.to_string()))?;
        w.bytes(&rng);
        Ok(())
    }

    /// Reads what [`Client::save`] wrote for the same program and precision.
    pub(crate) fn restore(&mut self, r: &mut StateReader<'_>) -> Result<()> {
        restore_tensors(r, &mut self.params)?;
        self.optimizer.restore(r)?;
        for h in &mut self.histories {
            *h = AmaxHistory::new(self.program.scaling.history);
            for v in r.f32s()? {
                h.push(v);
            }
        }
        self.rng = serde_json::from_slice(r.bytes()?)
            .map_err(|e| Error::new(format!("federated client state: random generator: {e}")))?;
        Ok(())
    }

    /// Each quantizer's scale for the next step: from its amax history, or 0 (no
    /// quantization) before its first amax is known.
    fn scales(&self) -> Vec<Tensor> {
        self.step
            .quant_points
            .iter()
            .zip(&self.histories)
            .map(|(q, h)| {
                let s = if h.amax() > 0.0 {
                    h.scale(q.format, self.program.scaling.margin)
                } else {
                    0.0
                };
                Tensor::from_f64s(DType::F32, &[], &[s as f64]).expect("a scalar")
            })
            .collect()
    }

    /// One optimizer step on a batch of `program.batch` samples; returns the loss.
    pub fn step(&mut self, x: Tensor, labels: Tensor) -> Result<f32> {
        let k = self.params.len();
        let mut inputs = Vec::with_capacity(2 + k + self.histories.len());
        inputs.push(x);
        inputs.push(labels);
        inputs.extend(self.params.iter().cloned());
        inputs.extend(self.scales());
        let mut out = interp::run(&self.step.graph, &inputs)?.into_iter();
        let loss = out.next().and_then(|l| l.to_f64_vec().first().copied());
        let loss = loss.ok_or_else(|| Error::new("the step returned no loss"))? as f32;
        let grads: Vec<Tensor> = out.by_ref().take(k).collect();
        self.optimizer
            .apply(&self.program.optimizer, &mut self.params, &grads)?;
        for (h, amax) in self.histories.iter_mut().zip(out) {
            h.push(amax.to_f64_vec().first().copied().unwrap_or(0.0) as f32);
        }
        if self.program.master_weights == MasterWeights::Fp8 {
            // Stored as E4M3 with the per-tensor amax scale, rounded stochastically.
            for p in &mut self.params {
                let e4m3 = Encoding::Fp8(Fp8Format::E4M3);
                *p = Payload::encode(p, e4m3, true, &mut self.rng)?.decode(p.shape())?;
            }
        }
        Ok(loss)
    }

    /// One epoch over `rows` of `data`: shuffled, in batches of the program's batch size
    /// (a last partial batch is left out; the shuffle varies which samples that is).
    pub fn train_epoch(&mut self, data: &Samples, rows: &[usize]) -> Result<EpochStats> {
        let mut order = rows.to_vec();
        for i in (1..order.len()).rev() {
            let j = self.rng.random_range(0..=i);
            order.swap(i, j);
        }
        let shape = input_shape(&self.step.graph);
        let b = self.program.batch;
        let mut loss = 0.0;
        let mut steps = 0;
        for chunk in order.chunks_exact(b) {
            let (x, y) = data.batch(chunk, &shape)?;
            loss += self.step(x, y)? as f64;
            steps += 1;
        }
        Ok(EpochStats {
            loss: if steps > 0 { loss / steps as f64 } else { 0.0 },
            steps,
            samples: steps * b,
        })
    }
}

/// Writes f32 tensors' values (their shapes are the program's).
pub(crate) fn save_tensors(w: &mut StateWriter, ts: &[Tensor]) -> Result<()> {
    for t in ts {
        let v = t.as_f32().and_then(|a| a.as_slice());
        w.f32s(v.ok_or_else(|| Error::new("a parameter is not a standard-layout f32 tensor"))?);
    }
    Ok(())
}

/// Reads values of the shapes `ts` has into `ts`.
pub(crate) fn restore_tensors(r: &mut StateReader<'_>, ts: &mut [Tensor]) -> Result<()> {
    for t in ts {
        let Tensor::F32(a) = t else {
            return Err(Error::new("a parameter is not f32"));
        };
        r.f32s_into(a.as_slice_mut().expect("standard layout"))?;
    }
    Ok(())
}

/// The shape of the graph's first input.
fn input_shape(g: &Graph) -> Vec<usize> {
    g.ty(nnopt_compiler::ir::ValueRef::first(g.inputs()[0]))
        .shape
        .clone()
}

/// How a model does on held-out samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Top-1 accuracy.
    pub accuracy: f64,
    /// Mean softmax cross-entropy (the training loss), in f64.
    pub loss: f64,
}

/// Top-1 accuracy and mean cross-entropy of the forward graph with `params` on `rows` of
/// `data`, evaluated in f32, in batches of up to 256. A model whose output is a softmax
/// gives probabilities, whose negative log is the loss; otherwise the output is logits.
pub fn evaluate(
    program: &TrainingProgram,
    params: &[Tensor],
    data: &Samples,
    rows: &[usize],
) -> Result<Evaluation> {
    if rows.is_empty() {
        return Err(Error::new("no samples to evaluate"));
    }
    let g = program.forward_with(params)?;
    let probabilities = g
        .outputs()
        .first()
        .is_some_and(|v| matches!(g.node(v.node).op, Op::Softmax { .. }));
    let shape = input_shape(&g);
    let mut graphs: HashMap<usize, Graph> = HashMap::new();
    let (mut hits, mut loss) = (0, 0.0);
    for chunk in rows.chunks(256) {
        let n = chunk.len();
        let graph = match graphs.entry(n) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(with_batch(&g, n)?),
        };
        let (x, _) = data.batch(chunk, &shape)?;
        let out = interp::run(graph, &[x])?;
        let scores = out
            .first()
            .and_then(|t| t.as_f32())
            .ok_or_else(|| Error::new("the model's first output is not f32"))?;
        for (row, &r) in scores.outer_iter().zip(chunk) {
            let best = row
                .iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                )
                .0;
            let label = usize::try_from(data.labels[r])
                .ok()
                .filter(|&l| l < row.len())
                .ok_or_else(|| {
                    Error::new(format!(
                        "label {} of row {r} is not one of the model's {} classes",
                        data.labels[r],
                        row.len()
                    ))
                })?;
            hits += usize::from(best == label);
            loss += cross_entropy(row.iter().map(|&v| v as f64), label, probabilities);
        }
    }
    Ok(Evaluation {
        accuracy: hits as f64 / rows.len() as f64,
        loss: loss / rows.len() as f64,
    })
}

/// `-ln p[label]`: of probabilities as given, or of the softmax of logits (computed
/// stably, shifted by the largest logit).
fn cross_entropy(
    scores: impl Iterator<Item = f64> + Clone,
    label: usize,
    probabilities: bool,
) -> f64 {
    let at = scores.clone().nth(label).unwrap_or(f64::NAN);
    if probabilities {
        return -at.max(f64::MIN_POSITIVE).ln();
    }
    let max = scores.clone().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = scores.map(|v| (v - max).exp()).sum();
    sum.ln() - (at - max)
}
