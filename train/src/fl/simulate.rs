//! The FedAvg simulation loop.

use super::client::{FlClient, LocalTraining};
use super::participation::{
    ChangeWatch, Participation, ParticipationOptions, ParticipationSummary,
};
use super::partition::Partition;
use crate::data::Dataset;
use crate::message::{Encoding, Message};
use crate::runtime::evaluate;
use crate::server::{Server, ServerOptimizer};
use crate::{Optimizer, TrainingProgram};
use nnopt_compiler::fp8::Fp8Format;
use nnopt_compiler::ir::Tensor;
use nnopt_compiler::{Error, Result};
use nnopt_passes::TrainPrecision;
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimulateOptions {
    pub clients: usize,
    pub rounds: usize,
    pub local_epochs: usize,
    pub partition: Partition,
    pub server_optimizer: ServerOptimizer,
    /// The clients' training step: the program's FP8 or FP32 step.
    pub precision: TrainPrecision,
    /// Message values: FP8 (E4M3, per-tensor scales) or f32.
    pub messages: TrainPrecision,
    pub seed: u64,
    /// The accuracy whose first crossing [`Simulation::bytes_to_target`] reports.
    pub target_accuracy: f64,
}

/// One round's figures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoundRecord {
    pub round: usize,
    /// Test accuracy of the global model after the round.
    pub accuracy: f64,
    /// Bytes of this round's client updates (serialized messages, headers included).
    pub bytes_up: u64,
    /// Bytes of this round's broadcasts (one per client).
    pub bytes_down: u64,
    /// Mean training loss over the clients' local steps.
    pub train_loss: f64,
    /// Mean cross-entropy of the global model on the test split after the round.
    pub test_loss: f64,
}

/// A finished simulation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Simulation {
    pub precision: String,
    pub messages: String,
    pub partition: String,
    pub server_optimizer: ServerOptimizer,
    /// The program's client optimizer and batch.
    pub client_optimizer: Optimizer,
    pub batch: usize,
    pub clients: usize,
    pub local_epochs: usize,
    pub seed: u64,
    pub initial_accuracy: f64,
    pub initial_test_loss: f64,
    pub final_accuracy: f64,
    /// Mean test accuracy over the last 5 rounds (fewer if there are fewer): less
    /// sensitive than the last round to round-to-round swings.
    pub last_5_rounds_accuracy: f64,
    pub rounds: Vec<RoundRecord>,
    pub total_bytes_up: u64,
    pub total_bytes_down: u64,
    pub target_accuracy: f64,
    /// Up plus down bytes until the global model first reached the target accuracy.
    pub bytes_to_target: Option<u64>,
    /// The round in which it did.
    pub rounds_to_target: Option<usize>,
    /// Size of one broadcast and one update message.
    pub broadcast_bytes: u64,
    pub update_bytes: u64,
    /// Training rows per client.
    pub client_rows: Vec<usize>,
    /// Problems noticed on the way (see [`stuck_at_chance`]).
    pub warnings: Vec<String>,
    /// Participation and drift, when either is set ([`simulate_with`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participation: Option<ParticipationSummary>,
    /// The global model's parameters at the end, in program order (not in the JSON; see
    /// [`TrainingProgram::forward_with`] for the trained model).
    #[serde(skip)]
    pub final_params: Vec<Tensor>,
}

/// The round after which [`stuck_at_chance`] looks: 10 % of the rounds, but not before
/// round 20 (or the last round, when there are fewer). The digits CNN from fresh weights
/// stays at chance level for its first 10-15 rounds with the default optimizers (server
/// momentum builds up over about 10 rounds) and then learns: earlier checks warned about
/// healthy runs.
pub fn chance_check_round(rounds: usize) -> usize {
    rounds.div_ceil(10).max(rounds.min(20)).max(1)
}

/// A warning when no round so far beat chance level by half of it: the accuracy of always
/// answering the test split's most common class, times 1.5.
pub fn stuck_at_chance(rounds: &[RoundRecord], data: &Dataset, total: usize) -> Option<String> {
    let mut counts = vec![0usize; data.classes.max(1)];
    for &r in &data.test_rows {
        if let Some(c) = usize::try_from(data.samples.labels[r])
            .ok()
            .and_then(|l| counts.get_mut(l))
        {
            *c += 1;
        }
    }
    let chance = *counts.iter().max()? as f64 / data.test_rows.len().max(1) as f64;
    let best = rounds.iter().map(|r| r.accuracy).fold(0.0, f64::max);
    (best <= 1.5 * chance).then(|| {
        format!(
            "test accuracy is still at chance level after {} of {total} rounds (best {:.2} %, \
             chance {:.2} %): the model is not learning; check the learning rate \
             (nnopt compile --target train --learning-rate), the initialization (--reinit \
             --init he) and the data",
            rounds.len(),
            100.0 * best,
            100.0 * chance
        )
    })
}

/// Serializes a message and parses it back, as a transport would; returns the parsed
/// message and its size.
fn transmit(m: &Message) -> Result<(Message, u64)> {
    let bytes = m.to_bytes();
    Ok((Message::from_bytes(&bytes)?, bytes.len() as u64))
}

/// The message encoding of `messages`.
pub fn encoding(messages: TrainPrecision) -> Encoding {
    match messages {
        TrainPrecision::Fp8 => Encoding::Fp8(Fp8Format::E4M3),
        TrainPrecision::Fp32 => Encoding::F32,
    }
}

/// Each client's training rows: `opts.partition` of the training split, drawn from the
/// federation's seed (the same on the server and on every client).
pub fn client_rows(
    program: &TrainingProgram,
    data: &Dataset,
    opts: &SimulateOptions,
) -> Result<Vec<Vec<usize>>> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(opts.seed);
    opts.partition.split(
        &data.train_rows,
        &data.samples.labels,
        opts.clients,
        program.batch,
        &mut rng,
    )
}

/// The server side of a federation: the FP32 global model, its broadcasts and
/// aggregation, the test accuracy after each round and the figures of the finished run.
/// [`simulate`] drives it with in-process clients; a Flower `ServerApp` drives it with
/// the updates its clients send.
pub struct Federation<'p> {
    program: &'p TrainingProgram,
    data: &'p Dataset,
    opts: SimulateOptions,
    server: Server<'p>,
    client_rows: Vec<usize>,
    initial: crate::runtime::Evaluation,
    rounds: Vec<RoundRecord>,
    warnings: Vec<String>,
    broadcast_bytes: u64,
    update_bytes: u64,
}

impl<'p> Federation<'p> {
    /// A federation of `opts.clients` clients training `program` on `data`.
    pub fn new(
        program: &'p TrainingProgram,
        data: &'p Dataset,
        opts: &SimulateOptions,
    ) -> Result<Self> {
        if opts.rounds == 0 || opts.local_epochs == 0 {
            return Err(Error::new("rounds and local epochs must be at least 1"));
        }
        let parts = client_rows(program, data, opts)?;
        let server = Server::new(
            program,
            opts.server_optimizer,
            encoding(opts.messages),
            opts.seed.wrapping_mul(7919),
        )?;
        let initial = evaluate(program, server.global(), &data.samples, &data.test_rows)?;
        Ok(Federation {
            program,
            data,
            opts: opts.clone(),
            server,
            client_rows: parts.iter().map(Vec::len).collect(),
            initial,
            rounds: Vec::with_capacity(opts.rounds),
            warnings: Vec::new(),
            broadcast_bytes: 0,
            update_bytes: 0,
        })
    }

    /// The f32 global model.
    pub fn global(&self) -> &[Tensor] {
        self.server.global()
    }

    /// The broadcast that starts `round` (1-based).
    pub fn broadcast(&mut self, round: u32) -> Result<Message> {
        self.server.broadcast(round)
    }

    /// Ends `round`: aggregates the clients' `updates` (in client order) and records the
    /// global model's test accuracy with the round's traffic (`bytes_up` in all,
    /// `bytes_down` in all, and the size of one broadcast and one update) and the
    /// clients' `training`; a round without updates leaves the global model as it is.
    /// Returns the round's figures and a warning raised in it.
    pub fn end_round(
        &mut self,
        round: u32,
        updates: &[Message],
        training: &[LocalTraining],
        traffic: Traffic,
    ) -> Result<(&RoundRecord, Option<&str>)> {
        if !updates.is_empty() {
            self.server.aggregate(round, updates)?;
        }
        let d = self.data;
        let test = evaluate(self.program, self.server.global(), &d.samples, &d.test_rows)?;
        let (loss, steps) = training
            .iter()
            .fold((0.0, 0), |(l, s), t| (l + t.loss_sum, s + t.steps));
        self.broadcast_bytes = traffic.broadcast;
        if traffic.update > 0 {
            self.update_bytes = traffic.update;
        }
        self.rounds.push(RoundRecord {
            round: round as usize,
            accuracy: test.accuracy,
            bytes_up: traffic.up,
            bytes_down: traffic.down,
            train_loss: if steps > 0 { loss / steps as f64 } else { 0.0 },
            test_loss: test.loss,
        });
        let mut warning = None;
        if round as usize == chance_check_round(self.opts.rounds) {
            if let Some(w) = stuck_at_chance(&self.rounds, d, self.opts.rounds) {
                self.warnings.push(w);
                warning = self.warnings.last().map(String::as_str);
            }
        }
        Ok((self.rounds.last().expect("just pushed"), warning))
    }

    /// The run's figures so far (all of them once the last round has ended).
    pub fn summary(&self) -> Simulation {
        let opts = &self.opts;
        let rounds = self.rounds.clone();
        let mut cumulative = 0;
        let mut to_target = None;
        for r in &rounds {
            cumulative += r.bytes_up + r.bytes_down;
            if r.accuracy >= opts.target_accuracy {
                to_target = Some((cumulative, r.round));
                break;
            }
        }
        Simulation {
            precision: opts.precision.name().into(),
            messages: opts.messages.name().into(),
            partition: opts.partition.to_string(),
            server_optimizer: opts.server_optimizer,
            client_optimizer: self.program.optimizer.clone(),
            batch: self.program.batch,
            clients: opts.clients,
            local_epochs: opts.local_epochs,
            seed: opts.seed,
            initial_accuracy: self.initial.accuracy,
            initial_test_loss: self.initial.loss,
            final_accuracy: rounds.last().map_or(self.initial.accuracy, |r| r.accuracy),
            last_5_rounds_accuracy: {
                let tail = &rounds[rounds.len().saturating_sub(5)..];
                tail.iter().map(|r| r.accuracy).sum::<f64>() / tail.len().max(1) as f64
            },
            total_bytes_up: rounds.iter().map(|r| r.bytes_up).sum(),
            total_bytes_down: rounds.iter().map(|r| r.bytes_down).sum(),
            rounds,
            target_accuracy: opts.target_accuracy,
            bytes_to_target: to_target.map(|t| t.0),
            rounds_to_target: to_target.map(|t| t.1),
            broadcast_bytes: self.broadcast_bytes,
            update_bytes: self.update_bytes,
            client_rows: self.client_rows.clone(),
            warnings: self.warnings.clone(),
            participation: None,
            final_params: self.server.global().to_vec(),
        }
    }
}

/// The bytes one round moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// All updates, and all broadcasts (one per client).
    pub up: u64,
    pub down: u64,
    /// One broadcast, and the last update.
    pub broadcast: u64,
    pub update: u64,
}

/// Runs federated training of `program` on `data` with every client in this process;
/// `progress` is called after each round, with a warning when one is raised in that
/// round.
pub fn simulate(
    program: &TrainingProgram,
    data: &Dataset,
    opts: &SimulateOptions,
    progress: impl FnMut(&RoundRecord, Option<&str>),
) -> Result<Simulation> {
    simulate_with(
        program,
        data,
        opts,
        &ParticipationOptions::default(),
        progress,
    )
}

/// [`simulate`] with change-triggered participation and drifting client data
/// ([`super::participation`]): in drift phase p (after p of the drift rounds) the
/// clients hold the partition drawn with seed `opts.seed + p·1000003`; only taking
/// clients receive the broadcast and send an update.
pub fn simulate_with(
    program: &TrainingProgram,
    data: &Dataset,
    opts: &SimulateOptions,
    participation: &ParticipationOptions,
    mut progress: impl FnMut(&RoundRecord, Option<&str>),
) -> Result<Simulation> {
    let mut federation = Federation::new(program, data, opts)?;
    let phases = (0..=participation.drift.len())
        .map(|p| {
            let mut o = opts.clone();
            o.seed = opts.seed.wrapping_add(p as u64 * 1_000_003);
            client_rows(program, data, &o)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut clients = (0..opts.clients)
        .map(|i| {
            FlClient::new(
                program,
                opts.precision,
                encoding(opts.messages),
                opts.seed,
                i,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let mut watches: Vec<ChangeWatch> = (0..opts.clients)
        .map(|i| {
            let active = participation.active_rounds;
            ChangeWatch::new(opts.seed, i, data.classes, opts.rounds, active)
        })
        .collect();
    let mut participants = Vec::with_capacity(opts.rounds);
    for round in 1..=opts.rounds as u32 {
        let parts = &phases[participation.phase(round as usize)];
        let taking: Vec<bool> = match participation.participation {
            Participation::Always => vec![true; opts.clients],
            Participation::OnChange => watches
                .iter_mut()
                .zip(parts)
                .map(|(w, rows)| w.round(round as usize, &data.samples.labels, rows))
                .collect(),
        };
        let count = taking.iter().filter(|&&t| t).count();
        participants.push(count);
        let (broadcast, size) = transmit(&federation.broadcast(round)?)?;
        let mut traffic = Traffic {
            down: size * count as u64,
            broadcast: size,
            ..Traffic::default()
        };
        let mut updates = Vec::with_capacity(count);
        let mut training = Vec::with_capacity(count);
        for ((client, rows), _) in clients
            .iter_mut()
            .zip(parts)
            .zip(&taking)
            .filter(|(_, &t)| t)
        {
            let (update, done) =
                client.round(&broadcast, &data.samples, rows, opts.local_epochs)?;
            let (update, size) = transmit(&update)?;
            traffic.update = size;
            traffic.up += size;
            updates.push(update);
            training.push(done);
        }
        let (record, warning) = federation.end_round(round, &updates, &training, traffic)?;
        progress(record, warning);
    }
    let mut summary = federation.summary();
    if !participation.is_default() {
        summary.participation = Some(ParticipationSummary {
            participation: participation.participation,
            drift: participation.drift.clone(),
            active_rounds: participation.active_rounds,
            participants,
            detections: watches.iter().map(|w| w.detections.clone()).collect(),
            statistic_rows: watches.iter().map(|w| w.rows_read).sum(),
        });
    }
    Ok(summary)
}
