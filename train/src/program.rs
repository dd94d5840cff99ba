//! A training program: what `nnopt compile --target train` writes and a client runs.

use crate::Optimizer;
use nnopt_compiler::ir::{Graph, Op, Tensor};
use nnopt_compiler::pass::Pass;
use nnopt_compiler::{Error, Result};
use nnopt_passes::{
    autodiff::Param, training_graph, with_batch, BatchNormFolding, InitScheme, QuantPoint,
    TrainPrecision,
};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// Delayed scaling of FP8 quantizers: each step's scale maps the largest amax of the
/// last `history` steps to the format's largest value, times `2^margin` (headroom).
/// Default: 16 steps, margin 1 (on the digits CNN's federated training, margin 1 lost
/// less accuracy to saturation than 0; see the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelayedScaling {
    pub history: usize,
    pub margin: i32,
}

impl Default for DelayedScaling {
    fn default() -> Self {
        DelayedScaling {
            history: 16,
            margin: 1,
        }
    }
}

/// How the client keeps its weights between steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MasterWeights {
    /// f32 master weights (updates smaller than an FP8 step accumulate).
    #[default]
    F32,
    /// Weights are stored as E4M3 (per-tensor scale, stochastic rounding) after each step.
    Fp8,
}

/// A trainable parameter: a constant of the forward graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamInfo {
    pub name: String,
    pub shape: Vec<usize>,
}

/// One precision's training step: forward and backward in one graph, whose gradients
/// the client's optimizer applies.
#[derive(Clone, Debug)]
pub struct TrainingStep {
    pub precision: TrainPrecision,
    /// Inputs: the batch, `labels`, the parameters, one scale per quantizer. Outputs:
    /// `loss`, the parameters' gradients, one amax per quantizer.
    pub graph: Graph,
    pub quant_points: Vec<QuantPoint>,
}

/// A compiled training program.
#[derive(Clone, Debug)]
pub struct TrainingProgram {
    /// The inference graph; the parameters' starting values are its constants.
    pub forward: Graph,
    /// The parameters, in step-graph order.
    pub params: Vec<ParamInfo>,
    /// The program's own precision (its first step).
    pub precision: TrainPrecision,
    pub optimizer: Optimizer,
    /// Samples per step.
    pub batch: usize,
    pub scaling: DelayedScaling,
    pub master_weights: MasterWeights,
    /// The program's precision, then (for FP8 programs) the FP32 baseline.
    pub steps: Vec<TrainingStep>,
}

/// What `nnopt compile --target train` asks for.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    pub precision: TrainPrecision,
    pub optimizer: Optimizer,
    pub batch: usize,
    pub scaling: DelayedScaling,
    pub master_weights: MasterWeights,
    /// Fresh weights (drawn by `init`) and zero biases from this seed instead of the
    /// model's values.
    pub reinit: Option<u64>,
    pub init: InitScheme,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            precision: TrainPrecision::default(),
            optimizer: Optimizer::default(),
            batch: DEFAULT_BATCH,
            scaling: DelayedScaling::default(),
            master_weights: MasterWeights::default(),
            reinit: None,
            init: InitScheme::default(),
        }
    }
}

/// Samples per step unless asked otherwise.
pub const DEFAULT_BATCH: usize = 16;

impl TrainingProgram {
    /// Compiles `forward` (one output: logits, or their softmax) into a training program.
    pub fn compile(forward: &Graph, opts: &CompileOptions) -> Result<Self> {
        if opts.batch == 0 {
            return Err(Error::new("the batch size must be at least 1"));
        }
        opts.optimizer.validate()?;
        // Inference-mode batch normalization becomes part of the conv before it, whose
        // folded weights and bias are then trained.
        let mut forward = forward.clone();
        BatchNormFolding.run(&mut forward)?;
        let (params, steps) = build_steps(&forward, opts.batch, opts.precision)?;
        if let Some(seed) = opts.reinit {
            let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
            for p in &params {
                let n = forward.find_node(&p.name).expect("parameter constant");
                forward.node_mut(n).op = Op::Const {
                    value: p.fresh(opts.init, &mut rng),
                };
            }
        }
        Ok(TrainingProgram {
            forward,
            params: params
                .iter()
                .map(|p| ParamInfo {
                    name: p.name.clone(),
                    shape: p.shape.clone(),
                })
                .collect(),
            precision: opts.precision,
            optimizer: opts.optimizer.clone(),
            batch: opts.batch,
            scaling: opts.scaling,
            master_weights: opts.master_weights,
            steps,
        })
    }

    /// The program with its step graphs built again from the forward graph, as this
    /// nnopt builds them (for programs written by an older nnopt).
    pub fn rebuild_steps(mut self) -> Result<Self> {
        let (params, steps) = build_steps(&self.forward, self.batch, self.precision)?;
        let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        if names
            != self
                .params
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
        {
            return Err(Error::new(
                "the forward graph's parameters differ from the listed ones",
            ));
        }
        self.steps = steps;
        Ok(self)
    }

    /// The step of `precision`.
    pub fn step(&self, precision: TrainPrecision) -> Result<&TrainingStep> {
        self.steps
            .iter()
            .find(|s| s.precision == precision)
            .ok_or_else(|| {
                Error::new(format!(
                    "the program has no {} step (it was compiled for {})",
                    precision.name(),
                    self.precision.name()
                ))
            })
    }

    /// The parameters' sizes in values, in program order.
    pub fn param_sizes(&self) -> Vec<usize> {
        self.params
            .iter()
            .map(|p| p.shape.iter().product())
            .collect()
    }

    /// The parameters' starting values (the forward graph's constants).
    pub fn initial_params(&self) -> Result<Vec<Tensor>> {
        self.params
            .iter()
            .map(|p| {
                let n = self.forward.find_node(&p.name).ok_or_else(|| {
                    Error::new(format!(
                        "parameter '{}' is not in the forward graph",
                        p.name
                    ))
                })?;
                match &self.forward.node(n).op {
                    Op::Const { value } if value.shape() == p.shape.as_slice() => Ok(value.clone()),
                    _ => Err(Error::new(format!(
                        "parameter '{}' is not an f32 constant of shape {:?} in the forward graph",
                        p.name, p.shape
                    ))),
                }
            })
            .collect()
    }

    /// The forward graph with the parameters set to `values`.
    pub fn forward_with(&self, values: &[Tensor]) -> Result<Graph> {
        let mut g = self.forward.clone();
        for (p, v) in self.params.iter().zip(values) {
            let n = g
                .find_node(&p.name)
                .ok_or_else(|| Error::new(format!("parameter '{}' is missing", p.name)))?;
            g.node_mut(n).op = Op::Const { value: v.clone() };
        }
        Ok(g)
    }
}

/// The parameters and the steps of a forward graph (batch normalization folded): the
/// step of `precision`, then for FP8 the FP32 baseline.
fn build_steps(
    forward: &Graph,
    batch: usize,
    precision: TrainPrecision,
) -> Result<(Vec<Param>, Vec<TrainingStep>)> {
    let batched = with_batch(forward, batch)?;
    let mut precisions = vec![precision];
    if precision != TrainPrecision::Fp32 {
        precisions.push(TrainPrecision::Fp32);
    }
    let mut steps = Vec::new();
    let mut params = None;
    for precision in precisions {
        let t = training_graph(&batched, precision)?;
        params.get_or_insert(t.params);
        steps.push(TrainingStep {
            precision,
            graph: t.graph,
            quant_points: t.quant_points,
        });
    }
    let params = params.expect("at least one step");
    if params.is_empty() {
        return Err(Error::new(
            "the model has no trainable parameters (conv or gemm weights)",
        ));
    }
    Ok((params, steps))
}
