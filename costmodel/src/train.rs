//! Training the predictor: Adam on the mean absolute error of log figures (close to the
//! mean relative error for small errors, and robust to the wide spread of network sizes),
//! per network and, where they are known, per operator,
//! gradients clipped element-wise as PerfSAGE does, a cosine-decaying learning rate, and
//! the weights of the epoch with the best validation error kept.

use crate::batch::Batch;
use crate::encode::EncodedGraph;
use crate::sage::{Architecture, Sage, SageShape};
use candle_core::{Device, Result, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

/// One network with the natural logs of its known figures, in the order of the targets
/// (`None` where the network has no such label).
#[derive(Clone, Debug)]
pub struct Sample {
    pub graph: EncodedGraph,
    pub labels: Vec<Option<f32>>,
    /// Known per-operator figures: (node, target, natural log of the figure).
    pub node_labels: Vec<(usize, usize, f32)>,
}

/// The weight of the per-operator error beside the per-network one.
const NODE_WEIGHT: f64 = 0.5;

/// Training settings.
#[derive(Clone, Debug, Serialize)]
pub struct TrainOptions {
    pub layers: usize,
    pub hidden: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Gradients are clamped to ±clip element-wise.
    pub clip: f64,
    pub seed: u64,
    pub architecture: Architecture,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            layers: 2,
            hidden: 128,
            epochs: 200,
            batch_size: 64,
            learning_rate: 0.003,
            clip: 5.0,
            seed: 0,
            architecture: Architecture::Sage,
        }
    }
}

/// What one epoch did.
#[derive(Clone, Debug, Serialize)]
pub struct EpochStats {
    pub epoch: usize,
    /// Mean absolute log error over the training labels.
    pub train_loss: f64,
    /// The same over the validation labels (the training loss when there are none).
    pub validation_loss: f64,
}

/// A predictor for `targets` trained on `train`; the weights of the epoch with the lowest
/// validation loss on `validation` are returned. `on_epoch` sees each epoch's figures.
/// Runs on the calling thread (see [`crate::single_threaded_products`]).
pub fn train(
    targets: &[String],
    train: &[Sample],
    validation: &[Sample],
    opts: &TrainOptions,
    on_epoch: &mut dyn FnMut(&EpochStats),
) -> Result<(Sage, Vec<EpochStats>)> {
    crate::single_threaded_products();
    if train.is_empty() {
        return Err(candle_core::Error::Msg("no training networks".into()));
    }
    let shape = SageShape {
        layers: opts.layers,
        hidden: opts.hidden,
        targets: targets.to_vec(),
        architecture: opts.architecture,
    };
    let model = Sage::new(shape, &initial_bias(targets.len(), train), opts.seed)?;
    let mut adam = AdamW::new(
        model.vars(),
        ParamsAdamW {
            lr: opts.learning_rate,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        },
    )?;
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(opts.seed ^ 0x5eed);
    let mut history = Vec::new();
    let mut best: Option<(f64, Vec<Tensor>)> = None;
    for epoch in 0..opts.epochs {
        let progress = epoch as f64 / opts.epochs.max(1) as f64;
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        adam.set_learning_rate(opts.learning_rate * (0.01 + 0.99 * cosine));
        order.shuffle(&mut rng);
        let (mut sum, mut count) = (0.0, 0.0);
        for chunk in order.chunks(opts.batch_size.max(1)) {
            let samples: Vec<&Sample> = chunk.iter().map(|&k| &train[k]).collect();
            let (objective, loss, labels) = batch_loss(&model, &samples)?;
            let mut grads = objective.backward()?;
            for var in model.params.values() {
                if let Some(g) = grads.remove(var.as_tensor()) {
                    grads.insert(var.as_tensor(), g.clamp(-opts.clip, opts.clip)?);
                }
            }
            adam.step(&grads)?;
            sum += f64::from(loss.to_scalar::<f32>()?) * labels;
            count += labels;
        }
        let train_loss = sum / count.max(1.0);
        let validation_loss = if validation.is_empty() {
            train_loss
        } else {
            mean_loss(&model, validation, opts.batch_size)?
        };
        let stats = EpochStats {
            epoch: epoch + 1,
            train_loss,
            validation_loss,
        };
        on_epoch(&stats);
        history.push(stats);
        if best.as_ref().is_none_or(|(b, _)| validation_loss < *b) {
            let weights = model
                .params
                .values()
                .map(|v| v.as_tensor().copy())
                .collect::<Result<_>>()?;
            best = Some((validation_loss, weights));
        }
    }
    if let Some((_, weights)) = best {
        for (var, w) in model.params.values().zip(weights) {
            var.set(&w)?;
        }
    }
    Ok((model, history))
}

/// The node head's starting biases: the mean log label minus the mean log node count, so
/// that a fresh model's sums of per-node shares are of the labels' size.
fn initial_bias(targets: usize, samples: &[Sample]) -> Vec<f32> {
    (0..targets)
        .map(|t| {
            let (sum, count) = samples
                .iter()
                .filter_map(|s| s.labels[t].map(|y| y - (s.graph.nodes.max(1) as f32).ln()))
                .fold((0.0f64, 0.0f64), |(s, c), v| (s + f64::from(v), c + 1.0));
            if count > 0.0 {
                (sum / count) as f32
            } else {
                0.0
            }
        })
        .collect()
}

/// The training objective over `samples` (the per-network error plus [`NODE_WEIGHT`]
/// times the per-operator one), the mean absolute log error over the per-network labels,
/// and how many labels that averages.
fn batch_loss(model: &Sage, samples: &[&Sample]) -> Result<(Tensor, Tensor, f64)> {
    let graphs: Vec<&EncodedGraph> = samples.iter().map(|s| &s.graph).collect();
    let batch = Batch::new(&graphs, &Device::Cpu)?;
    let targets = model.shape.targets.len();
    let mut labels = Vec::with_capacity(samples.len() * targets);
    let mut known = Vec::with_capacity(samples.len() * targets);
    for s in samples {
        for l in &s.labels {
            labels.push(l.unwrap_or(0.0));
            known.push(f32::from(u8::from(l.is_some())));
        }
    }
    let count: f64 = known.iter().map(|&k| f64::from(k)).sum();
    let labels = Tensor::from_vec(labels, (samples.len(), targets), &Device::Cpu)?;
    let known = Tensor::from_vec(known, (samples.len(), targets), &Device::Cpu)?;
    let predicted = model.forward(&batch)?;
    let loss = (((predicted.graphs - labels)?.abs()? * known)?.sum_all()? / count.max(1.0))?;
    let mut at = Vec::new();
    let mut node_labels = Vec::new();
    for (s, &(start, _)) in samples.iter().zip(&batch.offsets) {
        for &(node, target, value) in &s.node_labels {
            at.push(((start + node) * targets + target) as u32);
            node_labels.push(value);
        }
    }
    if at.is_empty() || model.shape.architecture == Architecture::Gcn {
        return Ok((loss.clone(), loss, count));
    }
    let n = at.len();
    let at = Tensor::from_vec(at, n, &Device::Cpu)?;
    let node_labels = Tensor::from_vec(node_labels, n, &Device::Cpu)?;
    let node_loss = (predicted.nodes.flatten_all()?.index_select(&at, 0)? - node_labels)?
        .abs()?
        .mean_all()?;
    let objective = (&loss + (node_loss * NODE_WEIGHT)?)?;
    Ok((objective, loss, count))
}

/// The mean absolute log error of `model` over every label of `samples`.
pub fn mean_loss(model: &Sage, samples: &[Sample], batch_size: usize) -> Result<f64> {
    let (mut sum, mut count) = (0.0, 0.0);
    for chunk in samples.chunks(batch_size.max(1)) {
        let refs: Vec<&Sample> = chunk.iter().collect();
        let (_, loss, labels) = batch_loss(model, &refs)?;
        sum += f64::from(loss.to_scalar::<f32>()?) * labels;
        count += labels;
    }
    Ok(sum / count.max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::Standardizer;
    use crate::features::{features, GraphFeatures};
    use crate::space::{sample, Space};

    /// A made-up figure with the structure of real ones: a sum over operators of a cost
    /// that depends on MACs and bytes, plus a fixed overhead per operator.
    fn figure(g: &GraphFeatures) -> f32 {
        let sum: f64 = g
            .nodes
            .iter()
            .map(|n| 500.0 + n.macs as f64 / 64.0 + (n.input_bytes + n.output_bytes) as f64 / 4.0)
            .sum();
        sum.ln() as f32
    }

    #[test]
    fn training_learns_a_sum_of_operator_costs_deterministically() {
        let graphs: Vec<GraphFeatures> = Space::ALL
            .iter()
            .flat_map(|&s| (0..12).map(move |k| features(&sample(s, k).unwrap()).unwrap()))
            .collect();
        let standardizer = Standardizer::fit(&graphs);
        let samples: Vec<Sample> = graphs
            .iter()
            .map(|g| Sample {
                graph: standardizer.encode(g),
                labels: vec![Some(figure(g))],
                node_labels: Vec::new(),
            })
            .collect();
        let (train_set, validation) = samples.split_at(40);
        let opts = TrainOptions {
            hidden: 32,
            epochs: 40,
            batch_size: 16,
            learning_rate: 0.01,
            ..TrainOptions::default()
        };
        let targets = vec!["figure".to_string()];
        let run = || train(&targets, train_set, validation, &opts, &mut |_| {}).unwrap();
        let (model, history) = run();
        // Against predicting every network as the training mean.
        let mean = train_set.iter().map(|s| s.labels[0].unwrap()).sum::<f32>() / 40.0;
        let constant = validation
            .iter()
            .map(|s| f64::from((s.labels[0].unwrap() - mean).abs()))
            .sum::<f64>()
            / validation.len() as f64;
        let best = history
            .iter()
            .map(|e| e.validation_loss)
            .fold(f64::MAX, f64::min);
        assert!(
            best < 0.2 * constant,
            "validation |log error| {best}, constant {constant}"
        );
        let (again, _) = run();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for ((name, a), (_, b)) in model.tensors().iter().zip(again.tensors()) {
            assert_eq!(flat(a), flat(&b), "{name} differs between runs");
        }
    }
}
