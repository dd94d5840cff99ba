//! Federated learning: clients whose whole state goes through bytes between rounds (a
//! Flower `ClientApp` runs once per message and keeps the bytes in its context), and the
//! server side of a federation, which records the same figures as `nnopt fl simulate`.

use crate::convert::{encoding, err, precision, to_numpy};
use crate::training::{Dataset, TrainingProgram};
use nnopt_train::data::Dataset as Data;
use nnopt_train::fl::client::{FlClient as Client, LocalTraining};
use nnopt_train::fl::partition::Partition;
use nnopt_train::fl::simulate::{self, Federation as Fed, SimulateOptions, Traffic};
use nnopt_train::message::Message;
use nnopt_train::server::ServerOptimizer;
use nnopt_train::TrainingProgram as Program;
use numpy::PyArrayDyn;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use self_cell::self_cell;
use std::sync::Arc;

/// A federation's settings, named as `nnopt fl simulate`'s flags; `None` precisions are
/// the program's.
#[allow(clippy::too_many_arguments)]
fn options(
    program: &Program,
    clients: usize,
    rounds: usize,
    local_epochs: usize,
    non_iid: Option<&str>,
    server_optimizer: &str,
    server_lr: Option<f32>,
    server_momentum: Option<f32>,
    precision_name: Option<&str>,
    messages: Option<&str>,
    seed: u64,
    target_accuracy: f64,
) -> PyResult<SimulateOptions> {
    if clients == 0 || rounds == 0 || local_epochs == 0 {
        return Err(PyValueError::new_err(
            "clients, rounds and local epochs must be at least 1",
        ));
    }
    let partition = match non_iid {
        None => Partition::Iid,
        Some(s) => s
            .parse::<Partition>()
            .map_err(|e| PyValueError::new_err(e.to_string()))?,
    };
    let optimizer = ServerOptimizer::from_name(server_optimizer)
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "server optimizer '{server_optimizer}' is not fedavg, fedavgm or fedadam"
            ))
        })?
        .with(server_lr, server_momentum)
        .map_err(err)?;
    let primary = precision(precision_name, program.precision)?;
    Ok(SimulateOptions {
        clients,
        rounds,
        local_epochs,
        partition,
        server_optimizer: optimizer,
        precision: primary,
        messages: precision(messages, primary)?,
        seed,
        target_accuracy,
    })
}

/// Each client's training rows in a federation of `clients` seeded with `seed` (the
/// same split `nnopt fl simulate` and [`Federation`] make).
#[pyfunction]
#[pyo3(signature = (program, dataset, clients, seed = 0, non_iid = None))]
fn client_rows(
    program: &TrainingProgram,
    dataset: &Dataset,
    clients: usize,
    seed: u64,
    non_iid: Option<&str>,
) -> PyResult<Vec<Vec<usize>>> {
    let p = &program.inner;
    let opts = options(
        p, clients, 1, 1, non_iid, "fedavg", None, None, None, None, seed, 0.9,
    )?;
    simulate::client_rows(p, &dataset.inner, &opts).map_err(err)
}

self_cell!(
    struct ClientCell {
        owner: Arc<Program>,
        #[covariant]
        dependent: Client,
    }
);

/// One client of a federation: takes a broadcast, trains its rows, returns its update.
#[pyclass(module = "nnopt", name = "FlClient")]
pub struct FlClient {
    cell: ClientCell,
}

#[pymethods]
impl FlClient {
    /// Client `index` of a federation seeded with `seed`, training in `precision` and
    /// sending `messages` ("fp8" or "fp32"; default: the program's precision).
    #[new]
    #[pyo3(signature = (program, index, seed = 0, precision = None, messages = None))]
    fn new(
        program: &TrainingProgram,
        index: usize,
        seed: u64,
        precision: Option<&str>,
        messages: Option<&str>,
    ) -> PyResult<Self> {
        let (p, e) = precisions(program, precision, messages)?;
        let cell = ClientCell::try_new(program.inner.clone(), |prog| {
            Client::new(prog, p, e, seed, index)
        })
        .map_err(err)?;
        Ok(FlClient { cell })
    }

    /// A client restored from [`FlClient.save`]'s bytes, for the same program and
    /// precisions.
    #[staticmethod]
    #[pyo3(signature = (program, state, precision = None, messages = None))]
    fn restore(
        program: &TrainingProgram,
        state: &[u8],
        precision: Option<&str>,
        messages: Option<&str>,
    ) -> PyResult<Self> {
        let (p, e) = precisions(program, precision, messages)?;
        let cell = ClientCell::try_new(program.inner.clone(), |prog| {
            Client::restore(prog, p, e, state)
        })
        .map_err(err)?;
        Ok(FlClient { cell })
    }

    /// Takes `broadcast` (message bytes), trains `epochs` epochs on `rows` of `dataset`
    /// (the GIL released), and returns the update's bytes with `{"samples", "steps",
    /// "loss_sum"}`.
    #[pyo3(signature = (broadcast, dataset, rows, epochs = 1))]
    fn round<'py>(
        &mut self,
        py: Python<'py>,
        broadcast: &[u8],
        dataset: &Dataset,
        rows: Vec<usize>,
        epochs: usize,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyDict>)> {
        let data: &Data = &dataset.inner;
        if let Some(&r) = rows.iter().find(|&&r| r >= data.samples.len()) {
            return Err(PyValueError::new_err(format!(
                "row {r} is past the dataset's {} rows",
                data.samples.len()
            )));
        }
        let m = Message::from_bytes(broadcast).map_err(err)?;
        let cell = &mut self.cell;
        let (update, done) = py
            .detach(|| cell.with_dependent_mut(|_, c| c.round(&m, &data.samples, &rows, epochs)))
            .map_err(err)?;
        Ok((
            PyBytes::new(py, &update.to_bytes()),
            training_dict(py, &done)?,
        ))
    }

    /// The client's whole state as bytes.
    fn save<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = self.cell.borrow_dependent().save().map_err(err)?;
        Ok(PyBytes::new(py, &bytes))
    }
}

fn precisions(
    program: &TrainingProgram,
    precision_name: Option<&str>,
    messages: Option<&str>,
) -> PyResult<(nnopt_passes::TrainPrecision, nnopt_train::message::Encoding)> {
    let p = precision(precision_name, program.inner.precision)?;
    let e = encoding(messages.unwrap_or(p.name()))?;
    Ok((p, e))
}

fn training_dict<'py>(py: Python<'py>, t: &LocalTraining) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("samples", t.samples)?;
    d.set_item("steps", t.steps)?;
    d.set_item("loss_sum", t.loss_sum)?;
    Ok(d)
}

/// What a federation borrows.
struct Owned {
    program: Arc<Program>,
    data: Arc<Data>,
}

self_cell!(
    struct FederationCell {
        owner: Owned,
        #[covariant]
        dependent: Fed,
    }
);

/// The server side of a federation: the FP32 global model, broadcasts, aggregation of
/// the clients' updates, test accuracy after each round, and the run's figures as
/// `nnopt fl simulate --json` prints them.
#[pyclass(module = "nnopt", name = "Federation")]
pub struct Federation {
    cell: FederationCell,
}

#[pymethods]
impl Federation {
    #[new]
    #[pyo3(signature = (
        program, dataset, clients, rounds, local_epochs = 1, non_iid = None,
        server_optimizer = "fedavgm", server_lr = None, server_momentum = None,
        precision = None, messages = None, seed = 0, target_accuracy = 0.9,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        program: &TrainingProgram,
        dataset: &Dataset,
        clients: usize,
        rounds: usize,
        local_epochs: usize,
        non_iid: Option<&str>,
        server_optimizer: &str,
        server_lr: Option<f32>,
        server_momentum: Option<f32>,
        precision: Option<&str>,
        messages: Option<&str>,
        seed: u64,
        target_accuracy: f64,
    ) -> PyResult<Self> {
        let opts = options(
            &program.inner,
            clients,
            rounds,
            local_epochs,
            non_iid,
            server_optimizer,
            server_lr,
            server_momentum,
            precision,
            messages,
            seed,
            target_accuracy,
        )?;
        let owned = Owned {
            program: program.inner.clone(),
            data: dataset.inner.clone(),
        };
        let cell = FederationCell::try_new(owned, |o| Fed::new(&o.program, &o.data, &opts))
            .map_err(err)?;
        Ok(Federation { cell })
    }

    /// The broadcast that starts `round` (1-based), as bytes.
    fn broadcast<'py>(&mut self, py: Python<'py>, round: u32) -> PyResult<Bound<'py, PyBytes>> {
        let m = self
            .cell
            .with_dependent_mut(|_, f| f.broadcast(round))
            .map_err(err)?;
        Ok(PyBytes::new(py, &m.to_bytes()))
    }

    /// Ends `round` with the clients' `updates` (message bytes, in client order) and
    /// their `training` dicts (as `FlClient.round` returns them), and the round's
    /// traffic: all update bytes, all broadcast bytes, one broadcast, one update. Returns
    /// the round's figures (`accuracy`, `test_loss`, `train_loss`, bytes) and a warning or
    /// None.
    #[allow(clippy::too_many_arguments)]
    fn end_round<'py>(
        &mut self,
        py: Python<'py>,
        round: u32,
        updates: Vec<Vec<u8>>,
        training: Vec<Bound<'py, PyDict>>,
        bytes_up: u64,
        bytes_down: u64,
        broadcast_bytes: u64,
        update_bytes: u64,
    ) -> PyResult<(Bound<'py, PyDict>, Option<String>)> {
        let updates = updates
            .iter()
            .map(|b| Message::from_bytes(b))
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        let training = training
            .iter()
            .map(|d| {
                let get = |k: &str| -> PyResult<Bound<'py, PyAny>> {
                    d.get_item(k)?.ok_or_else(|| {
                        PyValueError::new_err(format!("training dict without '{k}'"))
                    })
                };
                Ok(LocalTraining {
                    samples: get("samples")?.extract()?,
                    steps: get("steps")?.extract()?,
                    loss_sum: get("loss_sum")?.extract()?,
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let traffic = Traffic {
            up: bytes_up,
            down: bytes_down,
            broadcast: broadcast_bytes,
            update: update_bytes,
        };
        let (record, warning) = py
            .detach(|| {
                self.cell.with_dependent_mut(|_, f| {
                    f.end_round(round, &updates, &training, traffic)
                        .map(|(r, w)| (r.clone(), w.map(str::to_owned)))
                })
            })
            .map_err(err)?;
        let d = PyDict::new(py);
        d.set_item("round", record.round)?;
        d.set_item("accuracy", record.accuracy)?;
        d.set_item("test_loss", record.test_loss)?;
        d.set_item("train_loss", record.train_loss)?;
        d.set_item("bytes_up", record.bytes_up)?;
        d.set_item("bytes_down", record.bytes_down)?;
        Ok((d, warning))
    }

    /// The f32 global model.
    fn global_params<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyArrayDyn<f32>>>> {
        to_numpy(py, self.cell.borrow_dependent().global())
    }

    /// The run's figures so far as `nnopt fl simulate --json` prints them.
    fn summary_json(&self) -> String {
        // Through a JSON value, as the CLI prints it (f32 settings widened to f64).
        let v = serde_json::to_value(self.cell.borrow_dependent().summary())
            .expect("summaries serialize");
        serde_json::to_string_pretty(&v).expect("values serialize")
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FlClient>()?;
    m.add_class::<Federation>()?;
    m.add_function(wrap_pyfunction!(client_rows, m)?)?;
    Ok(())
}
