//! A federated client: the training runtime plus what federated learning adds, the model
//! the client holds (the sum of the broadcasts it received), its uplink rounding residual
//! (error feedback, added to its next update) and the generator of its stochastic uplink
//! rounding. `nnopt fl simulate` and the Flower app run clients through this type, so
//! both compute the same rounds; [`FlClient::save`] carries the whole state between
//! rounds where the client does not stay in memory (a Flower `ClientApp`).

use super::state::{StateReader, StateWriter};
use crate::message::{layout_id, Encoding, Message, MessageKind};
use crate::runtime::{restore_tensors, save_tensors, Client, Samples};
use crate::server::{difference, sum};
use crate::TrainingProgram;
use nnopt_compiler::ir::Tensor;
use nnopt_compiler::{Error, Result};
use nnopt_passes::TrainPrecision;
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;

/// What a client's local training did in one round.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LocalTraining {
    /// Samples trained on (the update's FedAvg weight).
    pub samples: usize,
    /// Optimizer steps, and the sum of their losses.
    pub steps: usize,
    pub loss_sum: f64,
}

/// One client of a federation.
pub struct FlClient<'p> {
    program: &'p TrainingProgram,
    index: u32,
    encoding: Encoding,
    client: Client<'p>,
    /// The model the client holds; empty before the first broadcast.
    held: Vec<Tensor>,
    /// The part of the last update that its rounding lost; empty before the first.
    residual: Vec<Tensor>,
    uplink: Xoshiro256PlusPlus,
}

impl<'p> FlClient<'p> {
    /// Client `index` of a federation seeded with `seed`, training with `program`'s
    /// `precision` step and sending updates in `encoding`.
    pub fn new(
        program: &'p TrainingProgram,
        precision: TrainPrecision,
        encoding: Encoding,
        seed: u64,
        index: usize,
    ) -> Result<Self> {
        let tag = index as u64 + 1;
        Ok(FlClient {
            program,
            index: u32::try_from(index).map_err(|_| Error::new("client index too large"))?,
            encoding,
            client: Client::new(program, precision, seed ^ (tag << 32))?,
            held: Vec::new(),
            residual: Vec::new(),
            uplink: Xoshiro256PlusPlus::seed_from_u64(seed ^ (tag << 40)),
        })
    }

    /// Takes `broadcast`, trains `epochs` epochs on `rows` of `data` from the model it
    /// gives, and returns the update (the trained weights minus that model, plus the last
    /// round's residual) with what the training did.
    pub fn round(
        &mut self,
        broadcast: &Message,
        data: &Samples,
        rows: &[usize],
        epochs: usize,
    ) -> Result<(Message, LocalTraining)> {
        let params = &self.program.params;
        if broadcast.layout != layout_id(params) {
            return Err(Error::new(
                "the broadcast is for another parameter layout than the client's program",
            ));
        }
        let received = broadcast.values(params)?;
        self.held = match broadcast.kind {
            MessageKind::Broadcast => received,
            MessageKind::BroadcastDelta if self.held.is_empty() => {
                return Err(Error::new(
                    "a broadcast delta reached a client that holds no model yet",
                ))
            }
            MessageKind::BroadcastDelta => self
                .held
                .iter()
                .zip(&received)
                .map(|(h, d)| sum(h, d))
                .collect(),
            MessageKind::Update => {
                return Err(Error::new("a client received an update, not a broadcast"))
            }
        };
        self.client.load_params(self.held.clone())?;
        let mut done = LocalTraining::default();
        for _ in 0..epochs {
            let s = self.client.train_epoch(data, rows)?;
            done.samples += s.samples;
            done.loss_sum += s.loss * s.steps as f64;
            done.steps += s.steps;
        }
        let mut deltas: Vec<Tensor> = self
            .client
            .params()
            .iter()
            .zip(&self.held)
            .map(|(p, h)| difference(p, h))
            .collect();
        if !self.residual.is_empty() {
            deltas = deltas
                .iter()
                .zip(&self.residual)
                .map(|(d, e)| sum(d, e))
                .collect();
        }
        let update = Message::encode(
            MessageKind::Update,
            broadcast.round,
            self.index,
            done.samples as u64,
            layout_id(params),
            &deltas,
            self.encoding,
            &mut self.uplink,
        )?;
        self.residual = deltas
            .iter()
            .zip(update.values(params)?)
            .map(|(d, q)| difference(d, &q))
            .collect();
        Ok((update, done))
    }

    /// The client's whole state as bytes (see [`super::state`]).
    pub fn save(&self) -> Result<Vec<u8>> {
        let mut w = StateWriter::new();
        w.u64(self.index.into());
        w.u64(layout_id(&self.program.params).into());
        for part in [&self.held, &self.residual] {
            w.u64(u64::from(!part.is_empty()));
            save_tensors(&mut w, part)?;
        }
        let rng = serde_json::to_vec(&self.uplink).map_err(|e| Error::new(e.to_string()))?;
        w.bytes(&rng);
        self.client.save(&mut w)?;
        Ok(w.finish())
    }

    /// A client restored from [`FlClient::save`]'s bytes, for the same program, precision
    /// and encoding.
    pub fn restore(
        program: &'p TrainingProgram,
        precision: TrainPrecision,
        encoding: Encoding,
        bytes: &[u8],
    ) -> Result<Self> {
        let mut r = StateReader::new(bytes)?;
        let index = usize::try_from(r.u64()?).map_err(|_| Error::new("client index too large"))?;
        let mut c = FlClient::new(program, precision, encoding, 0, index)?;
        if r.u64()? != u64::from(layout_id(&program.params)) {
            return Err(Error::new(
                "the client state is for another parameter layout than the program",
            ));
        }
        for part in [&mut c.held, &mut c.residual] {
            if r.u64()? != 0 {
                *part = program.initial_params()?;
                restore_tensors(&mut r, part)?;
            }
        }
        c.uplink = serde_json::from_slice(r.bytes()?)
            .map_err(|e| Error::new(format!("federated client state: random generator: {e}")))?;
        c.client.restore(&mut r)?;
        r.finish()?;
        Ok(c)
    }
}
