//! A training program: what `nnopt compile --target train` writes and a client runs.

use nnopt_compiler::ir::{Graph, Op, Tensor};
use nnopt_compiler::pass::Pass;
use nnopt_compiler::{Error, Result};
use nnopt_passes::{
    training_graph, with_batch, BatchNormFolding, QuantPoint, TrainOptions, TrainPrecision,
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

/// One precision's training step (forward, backward and update in one graph).
#[derive(Clone, Debug)]
pub struct TrainingStep {
    pub precision: TrainPrecision,
    /// Inputs: the batch, `labels`, the parameters, their momenta, one scale per
    /// quantizer. Outputs: `loss`, the parameters, the momenta, one amax per quantizer.
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
    /// Optimizer hyper-parameters; `precision` is the program's own precision.
    pub options: TrainOptions,
    /// Samples per step.
    pub batch: usize,
    pub scaling: DelayedScaling,
    pub master_weights: MasterWeights,
    /// The program's precision, then (for FP8 programs) the FP32 baseline.
    pub steps: Vec<TrainingStep>,
}

/// What `nnopt compile --target train` asks for.
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    pub train: TrainOptions,
    pub batch: usize,
    pub scaling: DelayedScaling,
    pub master_weights: MasterWeights,
    /// Fresh Glorot-uniform weights and zero biases from this seed instead of the
    /// model's values.
    pub reinit: Option<u64>,
}

impl TrainingProgram {
    /// Compiles `forward` (one output: logits, or their softmax) into a training program.
    pub fn compile(forward: &Graph, opts: &CompileOptions) -> Result<Self> {
        if opts.batch == 0 {
            return Err(Error::new("the batch size must be at least 1"));
        }
        // Inference-mode batch normalization becomes part of the conv before it, whose
        // folded weights and bias are then trained.
        let mut forward = forward.clone();
        BatchNormFolding.run(&mut forward)?;
        let batched = with_batch(&forward, opts.batch)?;
        let mut precisions = vec![opts.train.precision];
        if opts.train.precision != TrainPrecision::Fp32 {
            precisions.push(TrainPrecision::Fp32);
        }
        let mut steps = Vec::new();
        let mut params = None;
        for precision in precisions {
            let t = training_graph(
                &batched,
                &TrainOptions {
                    precision,
                    ..opts.train.clone()
                },
            )?;
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
        if let Some(seed) = opts.reinit {
            let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
            for p in &params {
                let n = forward.find_node(&p.name).expect("parameter constant");
                forward.node_mut(n).op = Op::Const {
                    value: p.glorot(&mut rng),
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
            options: opts.train.clone(),
            batch: opts.batch,
            scaling: opts.scaling,
            master_weights: opts.master_weights,
            steps,
        })
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
                    self.options.precision.name()
                ))
            })
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
