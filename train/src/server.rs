//! The federated-learning server: an f32 global model, FedAvg over client updates.

use crate::message::{layout_id, Encoding, Message, MessageKind};
use crate::TrainingProgram;
use nnopt_compiler::ir::{DType, Tensor};
use nnopt_compiler::{Error, Result};
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;

/// Keeps the global model in f32; broadcasts it and averages client deltas, weighted by
/// their sample counts (FedAvg, McMahan et al. 2017).
pub struct Server<'p> {
    program: &'p TrainingProgram,
    global: Vec<Tensor>,
    encoding: Encoding,
    layout: u32,
    rng: Xoshiro256PlusPlus,
    /// The model the clients hold: what the broadcasts so far decode to.
    clients_view: Option<Vec<Tensor>>,
}

impl<'p> Server<'p> {
    /// A server starting from the program's weights, sending in `encoding`; `seed`
    /// drives stochastic rounding.
    pub fn new(program: &'p TrainingProgram, encoding: Encoding, seed: u64) -> Result<Self> {
        Ok(Server {
            program,
            global: program.initial_params()?,
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

    /// Adds the sample-weighted mean of the updates' deltas to the global model.
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
        for (g, s) in self.global.iter_mut().zip(sums) {
            let v: Vec<f64> = g
                .to_f64_vec()
                .iter()
                .zip(&s)
                .map(|(&a, &b)| (a as f32 + b as f32) as f64)
                .collect();
            *g = Tensor::from_f64s(DType::F32, g.shape(), &v).expect("same shape");
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
