//! The search's context and its three stages: warm-up of the float model, the relaxed
//! search ([`crate::relax`]), and quantization-aware fine-tuning of the chosen plan,
//! closed by the budget guarantee ([`crate::budget`]).

use crate::budget;
use crate::layers::{layers, Layer};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::relax;
use crate::size::{encoded, Encoded, Quantizer, SizeOracle};
use crate::trainer::{accuracy, Trainer};
use nnopt_compiler::ir::{Graph, Tensor};
use nnopt_compiler::{Error, Result};
use nnopt_train::data::Dataset;
use nnopt_train::runtime::{evaluate, Evaluation};
use nnopt_train::{Optimizer, TrainingProgram};
use std::cell::RefCell;

/// Most held-out rows the search's decisions are measured on.
const MAX_VALIDATION_ROWS: usize = 1000;

/// What the search is asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchOptions {
    /// Encoded weight bytes the result must not exceed.
    pub budget: usize,
    /// Epochs of the relaxed search.
    pub search_epochs: usize,
    /// Epochs of fine-tuning the chosen plan (and again after budget steps).
    pub finetune_epochs: usize,
}

impl SearchOptions {
    /// The defaults for a budget.
    pub fn new(budget: usize) -> Self {
        SearchOptions {
            budget,
            search_epochs: 4,
            finetune_epochs: 3,
        }
    }
}

/// A plan measured on the way: its exact encoded bytes and its int8 accuracy on the
/// held-out rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Explored {
    pub stage: &'static str,
    pub bytes: usize,
    pub accuracy: f64,
}

/// A compressed model.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The trained float parameters (pruned weights zero).
    pub params: Vec<Tensor>,
    pub plan: Plan,
    /// The int8 model.
    pub graph: Graph,
    pub encoded: Encoded,
    /// Every plan measured on the way (the search's trajectory).
    pub explored: Vec<Explored>,
}

/// What every stage works with: the program, its compressible layers, the data, the
/// quantizer and the size oracle.
pub struct Context<'a> {
    pub program: &'a TrainingProgram,
    pub layers: Vec<Layer>,
    pub data: &'a Dataset,
    /// Rows trained on: the dataset's training rows but every tenth.
    pub train_rows: Vec<usize>,
    /// Every tenth training row (at most 1,000), held out for the search's decisions.
    pub val_rows: Vec<usize>,
    pub quantizer: Quantizer,
    pub oracle: &'a SizeOracle<'a>,
    pub progress: &'a Progress<'a>,
    trainer: RefCell<Trainer<'a>>,
}

impl<'a> Context<'a> {
    pub fn new(
        program: &'a TrainingProgram,
        data: &'a Dataset,
        oracle: &'a SizeOracle<'a>,
        progress: &'a Progress<'a>,
        seed: u64,
    ) -> Result<Self> {
        let held_out: Vec<usize> = data.train_rows.iter().copied().step_by(10).collect();
        let step = held_out.len().div_ceil(MAX_VALIDATION_ROWS).max(1);
        let val_rows: Vec<usize> = held_out.iter().copied().step_by(step).collect();
        let train_rows: Vec<usize> = data
            .train_rows
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 10 != 0)
            .map(|(_, &r)| r)
            .collect();
        if train_rows.len() < program.batch || val_rows.is_empty() {
            return Err(Error::new(format!(
                "{} training rows are too few for batches of {}",
                data.train_rows.len(),
                program.batch
            )));
        }
        Ok(Context {
            layers: layers(program)?,
            quantizer: Quantizer::new(program, data)?,
            trainer: RefCell::new(Trainer::new(program, data, seed)?),
            program,
            data,
            train_rows,
            val_rows,
            oracle,
            progress,
        })
    }

    /// Runs `f` with the trainer.
    pub fn with_trainer<T>(&self, f: impl FnOnce(&mut Trainer<'a>) -> T) -> T {
        f(&mut self.trainer.borrow_mut())
    }

    /// Training steps of `epochs` epochs.
    pub fn steps(&self, epochs: usize) -> u64 {
        (epochs * self.train_rows.len() / self.program.batch) as u64
    }

    /// The int8 model of `params` under `plan` and its exact encoded bytes.
    pub fn int8(&self, params: &[Tensor], plan: &Plan) -> Result<(Graph, Encoded)> {
        let g = self
            .quantizer
            .quantize(self.program, &self.layers, params, plan)?;
        let e = encoded(self.oracle, &g, &self.layers)?;
        Ok((g, e))
    }

    /// Int8 accuracy of a quantized model on the held-out rows.
    pub fn val_accuracy(&self, g: &Graph) -> Result<f64> {
        accuracy(g, self.data, &self.val_rows)
    }

    /// Loss and accuracy in f32 of parameters as the int8 layers see them (pruned,
    /// rounded onto their grids) on the held-out rows.
    pub fn val_loss(&self, params: &[Tensor], plan: &Plan) -> Result<Evaluation> {
        let eff = plan.effective(&self.layers, params)?;
        evaluate(self.program, &eff, &self.data.samples, &self.val_rows)
    }

    /// Measures a plan for the trajectory.
    pub fn explore(&self, stage: &'static str, params: &[Tensor], plan: &Plan) -> Result<Explored> {
        let (g, e) = self.int8(params, plan)?;
        Ok(Explored {
            stage,
            bytes: e.total,
            accuracy: self.val_accuracy(&g)?,
        })
    }

    /// `epochs` of float training (the warm-up).
    pub fn warm_up(&self, params: &mut [Tensor], epochs: usize) -> Result<()> {
        if epochs == 0 {
            return Ok(());
        }
        self.progress.stage("warm-up", self.steps(epochs));
        let identity = |p: &[Tensor]| Ok(p.to_vec());
        self.with_trainer(|t| {
            t.train(
                params,
                &self.program.optimizer,
                epochs,
                &self.train_rows,
                &identity,
                &|_| {},
                self.progress,
            )
        })?;
        Ok(())
    }

    /// `epochs` of quantization-aware training with `plan` fixed: the step sees the
    /// pruned, grid-rounded weights; gradients pass the rounding straight through and
    /// pruned weights stay zero. The learning rate is half the program's.
    pub fn fine_tune(&self, params: &mut [Tensor], plan: &Plan, epochs: usize) -> Result<()> {
        if epochs == 0 {
            return Ok(());
        }
        self.progress.stage("fine-tune", self.steps(epochs));
        let optimizer = Optimizer {
            learning_rate: self.program.optimizer.learning_rate * 0.5,
            ..self.program.optimizer.clone()
        };
        let forward = |p: &[Tensor]| plan.effective(&self.layers, p);
        let backward = |g: &mut [Tensor]| plan.mask_gradients(&self.layers, g);
        self.with_trainer(|t| {
            t.train(
                params,
                &optimizer,
                epochs,
                &self.train_rows,
                &forward,
                &backward,
                self.progress,
            )
        })?;
        // Pruned weights are exactly zero in the result.
        let masked = plan.masked(&self.layers, params)?;
        params.clone_from_slice(&masked);
        Ok(())
    }
}

/// UDC on `params` (the warmed-up float model): the relaxed search, fine-tuning of its
/// plan, and the budget guarantee.
pub fn udc(ctx: &Context, params: &[Tensor], opts: &SearchOptions) -> Result<Outcome> {
    let mut params = params.to_vec();
    let mut explored = Vec::new();
    let plan = relax::search(ctx, &mut params, opts, &mut explored)?;
    ctx.fine_tune(&mut params, &plan, opts.finetune_epochs)?;
    budget::fit(
        ctx,
        params,
        plan,
        opts.budget,
        opts.finetune_epochs,
        budget::Moves::BitsAndPruning,
        explored,
    )
}
