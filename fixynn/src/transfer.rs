//! Training a task's classifier on nnopt's runtime: the whole network (full fine-tuning,
//! the reference), or a back-end alone on the features the frozen int8 front-end
//! computes (FixyNN's transfer learning). Both train the same way, in two stages of the
//! same length: the fresh classifier alone, then every trainable layer (linear probing,
//! then fine-tuning, so a random head does not wreck pretrained layers), with their
//! weights on the int8 grid in the forward pass (quantization-aware). The result is
//! quantized to int8 with activation ranges calibrated on the task's training rows, and
//! scored on its test rows.

use crate::head::with_fresh_head;
use crate::tasks::Task;
use nnopt_compiler::interp;
use nnopt_compiler::ir::{Graph, Tensor};
use nnopt_compiler::{Error, Result};
use nnopt_passes::with_batch;
use nnopt_train::data::Dataset;
use nnopt_train::runtime::Samples;
use nnopt_train::{CompileOptions, Optimizer, TrainingProgram};
use nnopt_udc::trainer::{accuracy, Trainer};
use nnopt_udc::{layers, Plan, Progress, Quantizer};

/// How classifiers are trained.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainOptions {
    pub epochs: usize,
    pub learning_rate: f32,
    pub batch: usize,
    pub seed: u64,
    /// Most training rows used per task (evenly spaced), 0 for all.
    pub max_train_rows: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 3,
            learning_rate: 0.01,
            batch: 16,
            seed: 0,
            max_train_rows: 0,
        }
    }
}

/// A trained int8 classifier and its test accuracy.
#[derive(Clone, Debug)]
pub struct Trained {
    pub int8: Graph,
    pub accuracy: f64,
}

/// The training rows used: all, or `max` evenly spaced.
pub fn train_rows(data: &Dataset, max: usize) -> Vec<usize> {
    let rows = &data.train_rows;
    if max == 0 || rows.len() <= max {
        return rows.clone();
    }
    let step = rows.len() as f64 / max as f64;
    (0..max).map(|i| rows[(i as f64 * step) as usize]).collect()
}

/// Trains `g` (a float classifier whose head, the constants named `head`, is fresh and
/// sized for the data): the head alone for `opts.epochs`, then every parameter for as
/// many, with int8 weight quantization in the forward pass; returns the int8 model.
pub fn train_int8(
    g: &Graph,
    head: &[String],
    data: &Dataset,
    opts: &TrainOptions,
    progress: &Progress,
) -> Result<Trained> {
    let program = TrainingProgram::compile(
        g,
        &CompileOptions {
            batch: opts.batch,
            optimizer: Optimizer {
                learning_rate: opts.learning_rate,
                ..Optimizer::default()
            },
            ..CompileOptions::default()
        },
    )?;
    let layers = layers(&program)?;
    let plan = Plan::dense(&layers, 8);
    let rows = train_rows(data, opts.max_train_rows);
    if rows.len() < opts.batch {
        return Err(Error::new(format!(
            "{} training rows are too few for batches of {}",
            rows.len(),
            opts.batch
        )));
    }
    let is_head: Vec<bool> = program
        .params
        .iter()
        .map(|p| head.contains(&p.name))
        .collect();
    if !is_head.contains(&true) {
        return Err(Error::new("the classifier's parameters are not trainable"));
    }
    let mut params = program.initial_params()?;
    let mut trainer = Trainer::new(&program, data, opts.seed)?;
    let forward = |p: &[Tensor]| plan.effective(&layers, p);
    let head_only = |grads: &mut [Tensor]| {
        for (g, &h) in grads.iter_mut().zip(&is_head) {
            if !h {
                *g = Tensor::zeros(g.dtype(), g.shape());
            }
        }
    };
    let every = |_: &mut [Tensor]| {};
    let steps = (opts.epochs * trainer.steps_per_epoch(&rows)) as u64;
    for (stage, backward) in [
        ("train the classifier", &head_only as &dyn Fn(&mut [Tensor])),
        ("fine-tune", &every),
    ] {
        progress.stage(stage, steps);
        trainer.train(
            &mut params,
            &program.optimizer,
            opts.epochs,
            &rows,
            &forward,
            backward,
            progress,
        )?;
    }
    let int8 = Quantizer::new(&program, data)?.quantize(&program, &layers, &params, &plan)?;
    let accuracy = accuracy(&int8, data, &data.test_rows)?;
    Ok(Trained { int8, accuracy })
}

/// Full fine-tuning: the whole source model with a fresh head for the task.
pub fn fine_tune(
    source: &Graph,
    task: &Task,
    opts: &TrainOptions,
    progress: &Progress,
) -> Result<Trained> {
    let (g, head) = with_fresh_head(source, task.data.classes, opts.seed)?;
    train_int8(&g, &head, &task.data, opts, progress)
}

/// The task's samples as the int8 front-end `front` outputs them, dequantized: the
/// back-end's training data (same rows, same labels).
pub fn features(front: &Graph, data: &Dataset) -> Result<Dataset> {
    let input = graph_input_shape(front)?;
    let out = front
        .outputs()
        .first()
        .ok_or_else(|| Error::new("the front-end has no output"))?;
    let (scale, zp) = match &front.ty(*out).quant {
        Some(q) if q.scale.len() == 1 => (q.scale[0], q.zero_point[0] as f32),
        _ => {
            return Err(Error::new(
                "the front-end's output must be quantized per tensor",
            ))
        }
    };
    let n = data.samples.len();
    let all: Vec<usize> = (0..n).collect();
    let mut values = Vec::new();
    let mut row_len = 0;
    let mut graphs: Vec<(usize, Graph)> = Vec::new();
    for chunk in all.chunks(256) {
        let b = chunk.len();
        if !graphs.iter().any(|(k, _)| *k == b) {
            graphs.push((b, with_batch(front, b)?));
        }
        let g = &graphs.iter().find(|(k, _)| *k == b).expect("built").1;
        let (x, _) = data.samples.batch(chunk, &input)?;
        let y = interp::run(g, &[x])?;
        let codes = y
            .first()
            .map(Tensor::to_f64_vec)
            .ok_or_else(|| Error::new("the front-end returned nothing"))?;
        row_len = codes.len() / b;
        values.extend(codes.iter().map(|&c| (c as f32 - zp) * scale));
    }
    Ok(Dataset {
        samples: Samples {
            values,
            labels: data.samples.labels.clone(),
            row_len,
        },
        feature_scale: 1.0,
        test_rows: data.test_rows.clone(),
        train_rows: data.train_rows.clone(),
        classes: data.classes,
    })
}

/// The input shape of a graph's first input.
pub fn graph_input_shape(g: &Graph) -> Result<Vec<usize>> {
    g.inputs()
        .first()
        .map(|&n| g.node(n).outputs[0].ty.shape.clone())
        .ok_or_else(|| Error::new("the model has no input"))
}
