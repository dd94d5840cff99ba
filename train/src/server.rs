//! The federated-learning server: an f32 global model, updated by a server optimizer
//! from the sample-weighted mean of the clients' deltas.

use crate::message::{layout_id, Encoding, Message, MessageKind};
use crate::TrainingProgram;
use nnopt_compiler::ir::Tensor;
use nnopt_compiler::{Error, Result};
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// How the server applies the mean client delta `Δ` (weighted by sample counts) to the
/// global model `w`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ServerOptimizer {
    /// FedAvg (McMahan et al. 2017): `w += Δ`.
    FedAvg,
    /// FedAvgM (Hsu et al. 2019): `v = β·v + Δ; w += η·v`.
    FedAvgM { learning_rate: f32, momentum: f32 },
    /// FedAdam (Reddi et al. 2021): `m = β1·m + (1-β1)·Δ; v = β2·v + (1-β2)·Δ²;
    /// w += η·m / (√v + τ)`.
    FedAdam {
        learning_rate: f32,
        beta1: f32,
        beta2: f32,
        tau: f32,
    },
}

impl Default for ServerOptimizer {
    /// FedAvgM with its default hyper-parameters (chosen by `benches/train_defaults.py`;
    /// see the README).
    fn default() -> Self {
        ServerOptimizer::FEDAVGM
    }
}

impl ServerOptimizer {
    /// FedAvgM's default hyper-parameters.
    pub const FEDAVGM: ServerOptimizer = ServerOptimizer::FedAvgM {
        learning_rate: 1.0,
        momentum: 0.9,
    };
    /// FedAdam's default hyper-parameters.
    pub const FEDADAM: ServerOptimizer = ServerOptimizer::FedAdam {
        learning_rate: 0.01,
        beta1: 0.9,
        beta2: 0.99,
        tau: 1e-3,
    };

    /// This optimizer with the server learning rate and momentum (FedAdam's β1) set where
    /// given; FedAvg has neither.
    pub fn with(self, learning_rate: Option<f32>, momentum: Option<f32>) -> Result<Self> {
        Ok(match self {
            ServerOptimizer::FedAvg if learning_rate.is_some() || momentum.is_some() => {
                return Err(Error::new(
                    "FedAvg has no server learning rate or momentum (use fedavgm or fedadam)",
                ))
            }
            ServerOptimizer::FedAvg => self,
            ServerOptimizer::FedAvgM {
                learning_rate: lr,
                momentum: mu,
            } => ServerOptimizer::FedAvgM {
                learning_rate: learning_rate.unwrap_or(lr),
                momentum: momentum.unwrap_or(mu),
            },
            ServerOptimizer::FedAdam {
                learning_rate: lr,
                beta1,
                beta2,
                tau,
            } => ServerOptimizer::FedAdam {
                learning_rate: learning_rate.unwrap_or(lr),
                beta1: momentum.unwrap_or(beta1),
                beta2,
                tau,
            },
        })
    }

    /// The optimizer called `name` (`fedavg`, `fedavgm` or `fedadam`) with its default
    /// settings.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "fedavg" => Some(ServerOptimizer::FedAvg),
            "fedavgm" => Some(ServerOptimizer::FEDAVGM),
            "fedadam" => Some(ServerOptimizer::FEDADAM),
            _ => None,
        }
    }

    /// `fedavg`, `fedavgm` or `fedadam`.
    pub fn name(&self) -> &'static str {
        match self {
            ServerOptimizer::FedAvg => "fedavg",
            ServerOptimizer::FedAvgM { .. } => "fedavgm",
            ServerOptimizer::FedAdam { .. } => "fedadam",
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match *self {
            ServerOptimizer::FedAvg => "FedAvg".into(),
            ServerOptimizer::FedAvgM {
                learning_rate,
                momentum,
            } => format!("FedAvgM, learning rate {learning_rate}, momentum {momentum}"),
            ServerOptimizer::FedAdam {
                learning_rate,
                beta1,
                beta2,
                tau,
            } => format!(
                "FedAdam, learning rate {learning_rate}, betas {beta1}/{beta2}, tau {tau:e}"
            ),
        }
    }
}

/// Keeps the global model in f32; broadcasts it, averages client deltas weighted by
/// their sample counts, and applies the mean with its [`ServerOptimizer`].
pub struct Server<'p> {
    program: &'p TrainingProgram,
    global: Vec<Tensor>,
    optimizer: ServerOptimizer,
    /// The server optimizer's moments (empty for FedAvg).
    first: Vec<Vec<f32>>,
    second: Vec<Vec<f32>>,
    encoding: Encoding,
    layout: u32,
    rng: Xoshiro256PlusPlus,
    /// The model the clients hold: what the broadcasts so far decode to.
    clients_view: Option<Vec<Tensor>>,
}

impl<'p> Server<'p> {
    /// A server starting from the program's weights, sending in `encoding`; `seed`
    /// drives stochastic rounding.
    pub fn new(
        program: &'p TrainingProgram,
        optimizer: ServerOptimizer,
        encoding: Encoding,
        seed: u64,
    ) -> Result<Self> {
        let zeros = || -> Vec<Vec<f32>> {
            program
                .param_sizes()
                .iter()
                .map(|&n| vec![0.0; n])
                .collect()
        };
        Ok(Server {
            program,
            global: program.initial_params()?,
            optimizer,
            first: match optimizer {
                ServerOptimizer::FedAvg => Vec::new(),
                _ => zeros(),
            },
            second: match optimizer {
                ServerOptimizer::FedAdam { .. } => zeros(),
                _ => Vec::new(),
            },
            encoding,
            layout: layout_id(&program.params),
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            clients_view: None,
        })
    }

    /// The f32 global model.
    pub fn global(&self) -> &[Tensor] {
        &self.global
    }

    /// The broadcast of `round`: the global model the first time, then the global model
    /// minus the clients' view ([`MessageKind::BroadcastDelta`]). Every client takes
    /// part in every round, so all hold the same view.
    pub fn broadcast(&mut self, round: u32) -> Result<Message> {
        let (kind, values) = match &self.clients_view {
            None => (MessageKind::Broadcast, self.global.clone()),
            Some(view) => (
                MessageKind::BroadcastDelta,
                self.global
                    .iter()
                    .zip(view)
                    .map(|(g, v)| difference(g, v))
                    .collect(),
            ),
        };
        let m = Message::encode(
            kind,
            round,
            0,
            0,
            self.layout,
            &values,
            self.encoding,
            &mut self.rng,
        )?;
        let sent = m.values(&self.program.params)?;
        self.clients_view = Some(match self.clients_view.take() {
            None => sent,
            Some(view) => view.iter().zip(&sent).map(|(v, d)| sum(v, d)).collect(),
        });
        Ok(m)
    }

    /// Applies the sample-weighted mean of the updates' deltas to the global model with
    /// the server optimizer.
    pub fn aggregate(&mut self, round: u32, updates: &[Message]) -> Result<()> {
        let total: u64 = updates.iter().map(|u| u.samples).sum();
        if total == 0 {
            return Err(Error::new(format!(
                "round {round}: no update carries samples"
            )));
        }
        let mut sums: Vec<Vec<f64>> = self
            .global
            .iter()
            .map(|t| vec![0.0; t.shape().iter().product()])
            .collect();
        for u in updates {
            let from = format!("round {round}, update from client {}", u.client);
            if u.kind != MessageKind::Update || u.round != round || u.layout != self.layout {
                return Err(Error::new(format!(
                    "{from}: not an update of this round for this program"
                )));
            }
            let deltas = u
                .values(&self.program.params)
                .map_err(|e| Error::new(format!("{from}: {}", e.message)))?;
            let w = u.samples as f64 / total as f64;
            for (s, d) in sums.iter_mut().zip(&deltas) {
                for (a, b) in s.iter_mut().zip(d.to_f64_vec()) {
                    *a += w * b;
                }
            }
        }
        for (k, (g, s)) in self.global.iter_mut().zip(sums).enumerate() {
            let Tensor::F32(g) = g else {
                return Err(Error::new("the global parameters are not f32"));
            };
            let g = g.as_slice_mut().expect("standard layout");
            match self.optimizer {
                ServerOptimizer::FedAvg => {
                    for (w, d) in g.iter_mut().zip(s) {
                        *w += d as f32;
                    }
                }
                ServerOptimizer::FedAvgM {
                    learning_rate,
                    momentum,
                } => {
                    for ((w, d), v) in g.iter_mut().zip(s).zip(&mut self.first[k]) {
                        *v = momentum * *v + d as f32;
                        *w += learning_rate * *v;
                    }
                }
                ServerOptimizer::FedAdam {
                    learning_rate,
                    beta1,
                    beta2,
                    tau,
                } => {
                    let moments = self.first[k].iter_mut().zip(&mut self.second[k]);
                    for ((w, d), (m, v)) in g.iter_mut().zip(s).zip(moments) {
                        let d = d as f32;
                        *m = beta1 * *m + (1.0 - beta1) * d;
                        *v = beta2 * *v + (1.0 - beta2) * d * d;
                        *w += learning_rate * *m / (v.sqrt() + tau);
                    }
                }
            }
        }
        Ok(())
    }
}

/// `a - b`, elementwise in f32.
///
/// # Panics
/// If either is not f32 or their shapes differ (parameters of one layout never do).
pub fn difference(a: &Tensor, b: &Tensor) -> Tensor {
    Tensor::F32(f32s(a) - f32s(b))
}

/// `a + b`, elementwise in f32.
///
/// # Panics
/// As [`difference`].
pub fn sum(a: &Tensor, b: &Tensor) -> Tensor {
    Tensor::F32(f32s(a) + f32s(b))
}

/// The values of a parameter tensor (always f32: programs and messages check it).
fn f32s(t: &Tensor) -> &ndarray::ArrayD<f32> {
    t.as_f32().expect("parameters are f32")
}
