//! The optimizers a client applies to a step's gradients: SGD with momentum, and AdamW.
//!
//! Both follow PyTorch's `torch.optim.SGD` and `torch.optim.AdamW` (single-tensor code
//! path) operation for operation in f32, so that their updates can be checked against
//! it. A linear warm-up scales the learning rate over the first steps a client takes.

use crate::fl::state::{StateReader, StateWriter};
use nnopt_compiler::ir::Tensor;
use nnopt_compiler::{Error, Result};
use serde::{Deserialize, Serialize};

/// The update rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with momentum and L2 weight decay: `g' = g + wd·p; v = μ·v + g'; p -= lr·v`.
    #[default]
    Sgd,
    /// Adam with decoupled weight decay (Loshchilov and Hutter 2019): `p -= lr·wd·p`,
    /// then the bias-corrected Adam step.
    AdamW,
}

impl OptimizerKind {
    /// `sgd` or `adamw`.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::AdamW => "adamw",
        }
    }
}

/// Optimizer hyper-parameters, stored in the training program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    pub learning_rate: f32,
    /// SGD's momentum, or AdamW's β1.
    pub momentum: f32,
    /// AdamW's β2 (unused by SGD).
    pub beta2: f32,
    /// AdamW's ε (unused by SGD).
    pub epsilon: f32,
    /// SGD: an L2 term added to the gradient; AdamW: decoupled decay.
    pub weight_decay: f32,
    /// Steps over which the learning rate ramps up linearly from `lr / warmup_steps`
    /// (0: none). Counted over all the steps a client takes, across rounds.
    pub warmup_steps: u32,
}

impl Default for Optimizer {
    fn default() -> Self {
        Optimizer::defaults(OptimizerKind::default())
    }
}

impl Optimizer {
    /// The default hyper-parameters of `kind` (chosen by `benches/train_defaults.py`;
    /// see the README).
    pub fn defaults(kind: OptimizerKind) -> Self {
        match kind {
            OptimizerKind::Sgd => Optimizer {
                kind,
                learning_rate: 0.05,
                momentum: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
                weight_decay: 1e-4,
                warmup_steps: 0,
            },
            OptimizerKind::AdamW => Optimizer {
                kind,
                learning_rate: 3e-3,
                momentum: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
                weight_decay: 1e-2,
                warmup_steps: 0,
            },
        }
    }

    /// Checks that the hyper-parameters are finite and in range.
    pub fn validate(&self) -> Result<()> {
        let o = self;
        for (what, v) in [
            ("learning rate", o.learning_rate),
            ("momentum", o.momentum),
            ("beta2", o.beta2),
            ("epsilon", o.epsilon),
            ("weight decay", o.weight_decay),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(Error::new(format!(
                    "the {what} is {v}: it must be finite and not negative"
                )));
            }
        }
        if o.momentum >= 1.0 || o.beta2 >= 1.0 {
            return Err(Error::new(format!(
                "momentum {} and beta2 {} must be below 1",
                o.momentum, o.beta2
            )));
        }
        if o.kind == OptimizerKind::AdamW && o.epsilon == 0.0 {
            return Err(Error::new("AdamW needs an epsilon above 0"));
        }
        Ok(())
    }

    /// One line for people: `AdamW, learning rate 0.003, betas 0.9/0.999, ...`.
    pub fn describe(&self) -> String {
        let warmup = match self.warmup_steps {
            0 => String::new(),
            n => format!(", warm-up {n} steps"),
        };
        match self.kind {
            OptimizerKind::Sgd => format!(
                "SGD, learning rate {}, momentum {}, weight decay {}{warmup}",
                self.learning_rate, self.momentum, self.weight_decay
            ),
            OptimizerKind::AdamW => format!(
                "AdamW, learning rate {}, betas {}/{}, epsilon {:e}, weight decay {}{warmup}",
                self.learning_rate, self.momentum, self.beta2, self.epsilon, self.weight_decay
            ),
        }
    }

    /// The learning rate of a client's `step`-th step (1-based) under the warm-up.
    fn learning_rate_at(&self, step: u64) -> f32 {
        match self.warmup_steps {
            0 => self.learning_rate,
            w if step >= w as u64 => self.learning_rate,
            w => self.learning_rate * step as f32 / w as f32,
        }
    }
}

/// A client's optimizer state: one or two moment buffers per parameter and step counts.
#[derive(Clone, Debug)]
pub struct OptimizerState {
    first: Vec<Vec<f32>>,
    second: Vec<Vec<f32>>,
    /// Steps since the moments were last cleared (Adam's bias correction).
    steps: u64,
    /// Steps in all (the warm-up).
    total_steps: u64,
}

impl OptimizerState {
    /// Zero moments for parameters of `sizes` values each.
    pub fn new(kind: OptimizerKind, sizes: &[usize]) -> Self {
        let zeros = || sizes.iter().map(|&n| vec![0.0; n]).collect();
        OptimizerState {
            first: zeros(),
            second: match kind {
                OptimizerKind::Sgd => Vec::new(),
                OptimizerKind::AdamW => zeros(),
            },
            steps: 0,
            total_steps: 0,
        }
    }

    /// Clears the moments (a client that receives a new global model starts afresh); the
    /// warm-up count goes on.
    pub fn clear_moments(&mut self) {
        for m in self.first.iter_mut().chain(&mut self.second) {
            m.fill(0.0);
        }
        self.steps = 0;
    }

    /// Writes the moments and step counts.
    pub(crate) fn save(&self, w: &mut StateWriter) {
        w.u64(self.steps);
        w.u64(self.total_steps);
        for m in self.first.iter().chain(&self.second) {
            w.f32s(m);
        }
    }

    /// Reads what [`OptimizerState::save`] wrote into a state of the same layout.
    pub(crate) fn restore(&mut self, r: &mut StateReader<'_>) -> Result<()> {
        self.steps = r.u64()?;
        self.total_steps = r.u64()?;
        for m in self.first.iter_mut().chain(&mut self.second) {
            r.f32s_into(m)?;
        }
        Ok(())
    }

    /// Updates `params` in place with `grads` (same shapes, f32).
    pub fn apply(
        &mut self,
        opt: &Optimizer,
        params: &mut [Tensor],
        grads: &[Tensor],
    ) -> Result<()> {
        if params.len() != self.first.len() || grads.len() != params.len() {
            return Err(Error::new(format!(
                "the optimizer holds {} parameters, the step gave {} parameters and {} \
                 gradients",
                self.first.len(),
                params.len(),
                grads.len()
            )));
        }
        self.steps += 1;
        self.total_steps += 1;
        let lr = opt.learning_rate_at(self.total_steps);
        for (k, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let (Tensor::F32(p), Some(g)) = (p, g.as_f32()) else {
                return Err(Error::new(format!(
                    "parameter #{k} or its gradient is not f32"
                )));
            };
            if p.shape() != g.shape() || p.len() != self.first[k].len() {
                return Err(Error::new(format!(
                    "parameter #{k} is {:?}, its gradient {:?}",
                    p.shape(),
                    g.shape()
                )));
            }
            let (p, g) = (
                p.as_slice_mut().expect("standard layout"),
                g.as_slice().expect("standard layout"),
            );
            match opt.kind {
                OptimizerKind::Sgd => sgd(opt, lr, p, g, &mut self.first[k]),
                OptimizerKind::AdamW => {
                    let bias = AdamBias::at(opt, self.steps);
                    adamw(opt, lr, bias, p, g, &mut self.first[k], &mut self.second[k])
                }
            }
        }
        Ok(())
    }
}

/// `torch.optim.SGD` (dampening 0, not Nesterov).
fn sgd(o: &Optimizer, lr: f32, p: &mut [f32], g: &[f32], v: &mut [f32]) {
    for ((p, &g), v) in p.iter_mut().zip(g).zip(v) {
        let g = g + o.weight_decay * *p;
        *v = o.momentum * *v + g;
        *p -= lr * *v;
    }
}

/// Adam's bias corrections at a step, as PyTorch computes them (in f64, then used as
/// f32 scalars).
#[derive(Clone, Copy)]
struct AdamBias {
    /// `1 / (1 - β1^t)`.
    first: f64,
    /// `√(1 - β2^t)`.
    second_sqrt: f32,
}

impl AdamBias {
    fn at(o: &Optimizer, step: u64) -> Self {
        let t = step.min(i32::MAX as u64) as i32;
        AdamBias {
            first: 1.0 / (1.0 - (o.momentum as f64).powi(t)),
            second_sqrt: (1.0 - (o.beta2 as f64).powi(t)).sqrt() as f32,
        }
    }
}

/// `torch.optim.AdamW` (not amsgrad, not maximize).
fn adamw(
    o: &Optimizer,
    lr: f32,
    bias: AdamBias,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    let decay = (1.0 - lr as f64 * o.weight_decay as f64) as f32;
    let step_size = (lr as f64 * bias.first) as f32;
    let (b1, b2) = (o.momentum, o.beta2);
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
        *p *= decay;
        *m += (1.0 - b1) * (g - *m);
        *v = b2 * *v + (1.0 - b2) * g * g;
        let denom = v.sqrt() / bias.second_sqrt + o.epsilon;
        *p -= step_size * (*m / denom);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnopt_compiler::ir::DType;

    // `tools/optimizer_reference.py` (torch 2.15.0): the parameter after each of four
    // steps of `torch.optim.AdamW` (lr 0.01, betas 0.9/0.999, eps 1e-8, weight decay
    // 0.1) and `torch.optim.SGD` (lr 0.1, momentum 0.9, weight decay 0.01), with the
    // learning rate ramped over two warm-up steps.
    const P0: [f32; 6] = [0.5, -1.25, 2.0, 0.0, -0.03125, 3.5];
    const GRADS: [[f32; 6]; 4] = [
        [0.1, -0.2, 0.3, -0.4, 0.5, 1e-4],
        [-0.3, 0.25, 0.0, 2.0, -0.5, 1e-4],
        [0.05, -0.05, 0.7, -1.0, 0.2, -3.0],
        [1.5, 0.0, -0.1, 0.1, 0.0, 2e-5],
    ];
    // torch's values as it prints them, some with more digits than an f32 holds.
    #[allow(clippy::excessive_precision)]
    const ADAMW: [[f32; 6]; 4] = [
        [
            0.49474999,
            -1.244375,
            1.994,
            0.0050000004,
            -0.036234375,
            3.4932506,
        ],
        [
            0.49919716,
            -1.244758,
            1.9853053,
            -0.0009885407,
            -0.035671826,
            3.4797583,
        ],
        [
            0.50147295,
            -1.2437696,
            1.9754089,
            -0.0023267292,
            -0.036984533,
            3.4826663,
        ],
        [
            0.49576196,
            -1.242736,
            1.9677655,
            -0.003676126,
            -0.038052056,
            3.484416,
        ],
    ];
    #[allow(clippy::excessive_precision)]
    const SGD: [[f32; 6]; 4] = [
        [
            0.49474999,
            -1.239375,
            1.984,
            0.020000001,
            -0.056234375,
            3.498245,
        ],
        [
            0.51480526,
            -1.2440106,
            1.953216,
            -0.14402001,
            -0.051150013,
            3.4915779,
        ],
        [
            0.52734017,
            -1.2419386,
            1.8535571,
            -0.19149399,
            -0.066522941,
            3.7820859,
        ],
        [
            0.38809428,
            -1.2388319,
            1.7720106,
            -0.24402907,
            -0.080292046,
            4.0397592,
        ],
    ];

    fn tensor(v: &[f32]) -> Tensor {
        let v: Vec<f64> = v.iter().map(|&x| x as f64).collect();
        Tensor::from_f64s(DType::F32, &[v.len()], &v).unwrap()
    }

    fn check(opt: &Optimizer, want: &[[f32; 6]; 4]) {
        opt.validate().unwrap();
        let mut state = OptimizerState::new(opt.kind, &[6]);
        let mut params = vec![tensor(&P0)];
        for (t, (g, want)) in GRADS.iter().zip(want).enumerate() {
            state.apply(opt, &mut params, &[tensor(g)]).unwrap();
            for (i, (&got, &want)) in params[0].as_f32().unwrap().iter().zip(want).enumerate() {
                let tol = 4.0 * f32::EPSILON * want.abs().max(1.0);
                assert!(
                    (got - want).abs() <= tol,
                    "{} step {} [{i}]: {got} vs PyTorch {want}",
                    opt.kind.name(),
                    t + 1
                );
            }
        }
    }

    #[test]
    fn adamw_and_sgd_match_pytorch() {
        let warmup = |kind, learning_rate, weight_decay| Optimizer {
            learning_rate,
            weight_decay,
            warmup_steps: 2,
            ..Optimizer::defaults(kind)
        };
        check(&warmup(OptimizerKind::AdamW, 0.01, 0.1), &ADAMW);
        check(&warmup(OptimizerKind::Sgd, 0.1, 0.01), &SGD);
    }

    /// Clearing the moments restarts Adam's bias correction: the first step after it
    /// is the same as a fresh optimizer's.
    #[test]
    fn cleared_moments_restart_the_bias_correction() {
        let opt = Optimizer::defaults(OptimizerKind::AdamW);
        let mut used = OptimizerState::new(opt.kind, &[6]);
        let mut p = vec![tensor(&P0)];
        for g in &GRADS {
            used.apply(&opt, &mut p, &[tensor(g)]).unwrap();
        }
        used.clear_moments();
        let mut fresh = OptimizerState::new(opt.kind, &[6]);
        let (mut a, mut b) = (vec![tensor(&P0)], vec![tensor(&P0)]);
        used.apply(&opt, &mut a, &[tensor(&GRADS[0])]).unwrap();
        fresh.apply(&opt, &mut b, &[tensor(&GRADS[0])]).unwrap();
        assert_eq!(a[0].to_f64_vec(), b[0].to_f64_vec());
    }

    #[test]
    fn bad_hyper_parameters_and_shapes_are_rejected() {
        let bad = |f: fn(&mut Optimizer)| {
            let mut o = Optimizer::default();
            f(&mut o);
            o.validate().unwrap_err().to_string()
        };
        assert!(bad(|o| o.learning_rate = f32::NAN).contains("learning rate is NaN"));
        assert!(bad(|o| o.weight_decay = -1.0).contains("not negative"));
        assert!(bad(|o| o.momentum = 1.0).contains("below 1"));
        assert!(bad(|o| {
            o.kind = OptimizerKind::AdamW;
            o.epsilon = 0.0
        })
        .contains("epsilon"));
        let opt = Optimizer::default();
        let mut state = OptimizerState::new(opt.kind, &[6]);
        let mut p = vec![tensor(&P0)];
        let err = state.apply(&opt, &mut p, &[tensor(&[1.0; 5])]).unwrap_err();
        assert!(err.to_string().contains("its gradient [5]"), "{err}");
    }
}
