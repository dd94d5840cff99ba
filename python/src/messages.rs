//! nnopt's FL messages as bytes: what Flower carries between the server and the clients.

use crate::convert::{err, params_from_numpy, to_numpy};
use crate::training::TrainingProgram;
use nnopt_train::message::{layout_id, Message, MessageKind};
use numpy::PyReadonlyArrayDyn;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;

fn kind(name: &str) -> PyResult<MessageKind> {
    match name {
        "broadcast" => Ok(MessageKind::Broadcast),
        "broadcast_delta" => Ok(MessageKind::BroadcastDelta),
        "update" => Ok(MessageKind::Update),
        other => Err(PyValueError::new_err(format!(
            "message kind '{other}' is not broadcast, broadcast_delta or update"
        ))),
    }
}

fn kind_name(k: MessageKind) -> &'static str {
    match k {
        MessageKind::Broadcast => "broadcast",
        MessageKind::BroadcastDelta => "broadcast_delta",
        MessageKind::Update => "update",
    }
}

/// Encodes one value per parameter of `program` as a message of `kind` ("broadcast",
/// "broadcast_delta" or "update") in `encoding` ("fp8": E4M3 with per-tensor scales,
/// updates rounded stochastically from `seed`, broadcasts to nearest; or "fp32").
#[pyfunction]
#[pyo3(signature = (program, kind, values, encoding = "fp8", round = 0, client = 0, samples = 0, seed = 0))]
#[allow(clippy::too_many_arguments)]
fn encode_message<'py>(
    py: Python<'py>,
    program: &TrainingProgram,
    kind: &str,
    values: Vec<PyReadonlyArrayDyn<'py, f32>>,
    encoding: &str,
    round: u32,
    client: u32,
    samples: u64,
    seed: u64,
) -> PyResult<Bound<'py, PyBytes>> {
    let p = &program.inner;
    let ts = params_from_numpy(p, values)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let m = Message::encode(
        self::kind(kind)?,
        round,
        client,
        samples,
        layout_id(&p.params),
        &ts,
        crate::convert::encoding(encoding)?,
        &mut rng,
    )
    .map_err(err)?;
    Ok(PyBytes::new(py, &m.to_bytes()))
}

/// Decodes a message for `program`: `{"kind", "round", "client", "samples",
/// "encoding", "values"}` with the values as f32 numpy arrays.
#[pyfunction]
fn decode_message<'py>(
    py: Python<'py>,
    program: &TrainingProgram,
    data: &[u8],
) -> PyResult<Bound<'py, PyDict>> {
    let p = &program.inner;
    let m = Message::from_bytes(data).map_err(err)?;
    if m.layout != layout_id(&p.params) {
        return Err(crate::NnoptError::new_err(
            "the message is for another parameter layout than the program",
        ));
    }
    let d = PyDict::new(py);
    d.set_item("kind", kind_name(m.kind))?;
    d.set_item("round", m.round)?;
    d.set_item("client", m.client)?;
    d.set_item("samples", m.samples)?;
    let fp8 = m
        .payloads
        .first()
        .is_some_and(|p| p.encoding != nnopt_train::message::Encoding::F32);
    d.set_item("encoding", if fp8 { "fp8" } else { "fp32" })?;
    d.set_item("values", to_numpy(py, &m.values(&p.params).map_err(err)?)?)?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(encode_message, m)?)?;
    m.add_function(wrap_pyfunction!(decode_message, m)?)?;
    Ok(())
}
