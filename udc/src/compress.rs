//! A whole compression, as `nnopt compress` and the `udc-search` pass run it: the
//! training program, the warm-up, the dense int8 model, the search, the baselines at
//! the same budget, and the report of them. Sizes come from the caller's size oracle.

use crate::budget::UNREACHABLE;
use crate::search::{udc, Explored, Outcome};
use crate::size::SizeOracle;
use crate::trainer::accuracy;
use crate::{baselines, Context, Progress, SearchOptions};
use nnopt_compiler::ir::Graph;
use nnopt_compiler::{Error, Result};
use nnopt_passes::quantize_int8::is_quantized;
use nnopt_train::data::Dataset;
use nnopt_train::{CompileOptions, Optimizer, TrainingProgram};
use serde::Serialize;
use std::time::Instant;

/// What `nnopt compress` is asked for.
#[derive(Clone, Debug)]
pub struct CompressRequest {
    pub search: SearchOptions,
    /// Float training epochs before the search.
    pub warmup_epochs: usize,
    /// Samples per training step.
    pub batch: usize,
    /// The float model's learning rate (SGD with momentum 0.9; fine-tuning uses half).
    pub learning_rate: f32,
    /// Also run the baselines at the same budget.
    pub baselines: bool,
    /// Seed of shuffling and the search's noise.
    pub seed: u64,
}

/// A model's size and test accuracy.
#[derive(Clone, Debug, Serialize)]
pub struct Measured {
    pub name: String,
    /// Encoded weight bytes (`weight_encoded_bytes`).
    pub bytes: usize,
    /// Top-1 accuracy of the int8 model on the test rows.
    pub accuracy: f64,
}

/// One layer of the result.
#[derive(Clone, Debug, Serialize)]
pub struct LayerChoice {
    pub layer: String,
    pub bits: u32,
    /// Share of its weights pruned.
    pub sparsity: f64,
    pub weights: usize,
    /// Its weight block's encoded bytes (weights, biases, requantization records).
    pub bytes: usize,
}

/// What a compression produced.
#[derive(Clone, Debug, Serialize)]
pub struct CompressReport {
    pub budget: usize,
    /// Float accuracy on the test rows after the warm-up.
    pub float_accuracy: f64,
    /// Dense int8 (before).
    pub before: Measured,
    /// The searched model (after).
    pub after: Measured,
    /// `before.bytes / after.bytes`.
    pub ratio: f64,
    pub layers: Vec<LayerChoice>,
    /// The baselines at the same budget (when asked for).
    pub baselines: Vec<Measured>,
    /// Baselines that cannot meet the budget, with the reason.
    pub unreachable_baselines: Vec<Unreachable>,
    /// Plans measured during the search: bytes and held-out accuracy.
    pub explored: Vec<ExploredPoint>,
    pub test_rows: usize,
    /// Wall time of the search (search, fine-tuning and the budget steps), and of
    /// everything.
    pub search_seconds: f64,
    pub total_seconds: f64,
}

/// A baseline that cannot meet the budget.
#[derive(Clone, Debug, Serialize)]
pub struct Unreachable {
    pub name: String,
    pub reason: String,
}

/// A plan measured on the way.
#[derive(Clone, Debug, Serialize)]
pub struct ExploredPoint {
    pub stage: &'static str,
    pub bytes: usize,
    pub accuracy: f64,
}

/// The compressed model and its report.
pub struct Compressed {
    /// The int8 model (weights on their grids, pruned weights zero).
    pub graph: Graph,
    /// The float model after the warm-up (batch normalization folded).
    pub float: Graph,
    pub report: CompressReport,
}

/// Compresses float model `g` trained on `data` to `req.search.budget` bytes as `oracle`
/// counts them.
pub fn compress(
    g: &Graph,
    data: &Dataset,
    req: &CompressRequest,
    oracle: &SizeOracle,
    progress: &Progress,
) -> Result<Compressed> {
    let start = Instant::now();
    if is_quantized(g) {
        return Err(Error::new(
            "compress needs a float model (it trains and quantizes it itself); this one is \
             already quantized",
        ));
    }
    let program = TrainingProgram::compile(
        g,
        &CompileOptions {
            batch: req.batch,
            optimizer: Optimizer {
                learning_rate: req.learning_rate,
                ..Optimizer::default()
            },
            ..CompileOptions::default()
        },
    )?;
    let ctx = Context::new(&program, data, oracle, progress, req.seed)?;
    let mut params = program.initial_params()?;
    ctx.warm_up(&mut params, req.warmup_epochs)?;
    let float = program.forward_with(&params)?;
    let float_accuracy = accuracy(&float, data, &data.test_rows)?;
    let test = |name: &str, o: &Outcome| -> Result<Measured> {
        Ok(Measured {
            name: name.to_string(),
            bytes: o.encoded.total,
            accuracy: accuracy(&o.graph, data, &data.test_rows)?,
        })
    };
    let dense = baselines::dense_int8(&ctx, &params)?;
    let before = test("dense int8", &dense)?;
    let search_start = Instant::now();
    let found = udc(&ctx, &params, &req.search)?;
    let search_seconds = search_start.elapsed().as_secs_f64();
    let after = test("UDC", &found)?;
    let mut measured_baselines = Vec::new();
    let mut unreachable = Vec::new();
    if req.baselines {
        let (budget, epochs) = (req.search.budget, req.search.finetune_epochs);
        for (name, o) in [
            (
                "magnitude pruning + int8",
                baselines::magnitude(&ctx, &params, 8, budget, epochs),
            ),
            (
                "magnitude pruning + int4",
                baselines::magnitude(&ctx, &params, 4, budget, epochs),
            ),
            (
                "greedy bits",
                baselines::greedy_bits(&ctx, &params, budget, epochs),
            ),
        ] {
            match o {
                Ok(o) => measured_baselines.push(test(name, &o)?),
                // A baseline that cannot reach the budget is a finding, not a failure.
                Err(e) if e.message.contains(UNREACHABLE) => unreachable.push(Unreachable {
                    name: name.to_string(),
                    reason: e.message,
                }),
                Err(e) => return Err(e),
            }
        }
    }
    let layers = ctx
        .layers
        .iter()
        .enumerate()
        .map(|(l, layer)| LayerChoice {
            layer: layer.node.clone(),
            bits: found.plan.bits[l],
            sparsity: found.plan.sparsity(l),
            weights: layer.len,
            bytes: found.encoded.per_layer[l],
        })
        .collect();
    let explored = found
        .explored
        .iter()
        .map(
            |&Explored {
                 stage,
                 bytes,
                 accuracy,
             }| ExploredPoint {
                stage,
                bytes,
                accuracy,
            },
        )
        .collect();
    let report = CompressReport {
        budget: req.search.budget,
        float_accuracy,
        ratio: before.bytes as f64 / after.bytes.max(1) as f64,
        before,
        after,
        layers,
        baselines: measured_baselines,
        unreachable_baselines: unreachable,
        explored,
        test_rows: data.test_rows.len(),
        search_seconds,
        total_seconds: start.elapsed().as_secs_f64(),
    };
    Ok(Compressed {
        graph: found.graph,
        float,
        report,
    })
}
