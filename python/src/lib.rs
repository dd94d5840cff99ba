//! `import nnopt`: nnopt's training runtime and federated learning for Python, built to
//! sit inside Flower apps (`examples/flower/`). Training programs (`.ntp`) train on numpy
//! data with the GIL released; federated clients and the server side of a federation
//! are the same Rust types `nnopt fl simulate` runs, so a Flower deployment computes the
//! same rounds; messages are nnopt's FL messages (FP8 or f32 payloads) as bytes.

mod convert;
mod federation;
mod messages;
mod training;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    nnopt,
    NnoptError,
    PyException,
    "An error from nnopt: a file that does not load, a mismatched layout, a damaged message or state."
);

#[pymodule]
fn nnopt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("Error", m.py().get_type::<NnoptError>())?;
    training::register(m)?;
    messages::register(m)?;
    federation::register(m)?;
    Ok(())
}
