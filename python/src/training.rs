//! Training programs, datasets and the training runtime on numpy data.

use crate::convert::{err, params_from_numpy, to_numpy, values};
use nnopt_train::data::{load_dataset, Dataset as Data};
use nnopt_train::runtime::{evaluate as evaluate_params, Client, Samples};
use nnopt_train::TrainingProgram as Program;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use self_cell::self_cell;
use std::path::PathBuf;
use std::sync::Arc;

/// A training program (`.ntp`, from `nnopt compile --target train`).
#[pyclass(module = "nnopt", name = "TrainingProgram", frozen)]
pub struct TrainingProgram {
    pub inner: Arc<Program>,
}

#[pymethods]
impl TrainingProgram {
    #[new]
    fn new(path: PathBuf) -> PyResult<Self> {
        let (program, _) = nnopt_train::ntp::load(&path).map_err(err)?;
        Ok(TrainingProgram {
            inner: Arc::new(program),
        })
    }

    /// Samples per optimizer step.
    #[getter]
    fn batch(&self) -> usize {
        self.inner.batch
    }

    /// The precision the program was compiled for: "fp8" or "fp32".
    #[getter]
    fn precision(&self) -> &'static str {
        self.inner.precision.name()
    }

    /// Each parameter's name and shape, in program order.
    #[getter]
    fn params(&self) -> Vec<(String, Vec<usize>)> {
        self.inner
            .params
            .iter()
            .map(|p| (p.name.clone(), p.shape.clone()))
            .collect()
    }

    /// The program's starting weights.
    fn initial_params<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyArrayDyn<f32>>>> {
        to_numpy(py, &self.inner.initial_params().map_err(err)?)
    }
}

/// A labelled dataset with its fixed train/test split: a CSV file (`.csv` or `.csv.gz`:
/// features, then an integer label per row; every fifth row is the test split) or a
/// directory of IDX files — what `nnopt fl simulate --data` reads.
#[pyclass(module = "nnopt", name = "Dataset", frozen)]
pub struct Dataset {
    pub inner: Arc<Data>,
}

#[pymethods]
impl Dataset {
    #[new]
    fn new(path: PathBuf) -> PyResult<Self> {
        Ok(Dataset {
            inner: Arc::new(load_dataset(&path).map_err(err)?),
        })
    }

    #[getter]
    fn classes(&self) -> usize {
        self.inner.classes
    }

    #[getter]
    fn train_rows(&self) -> Vec<usize> {
        self.inner.train_rows.clone()
    }

    #[getter]
    fn test_rows(&self) -> Vec<usize> {
        self.inner.test_rows.clone()
    }

    /// The features, scaled as the runtime sees them: `[rows, features]` f32.
    fn features<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let s = &self.inner.samples;
        let a = ndarray::Array2::from_shape_vec((s.len(), s.row_len), s.values.clone())
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(a.into_pyarray(py))
    }

    /// The labels, `[rows]` int64.
    fn labels<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        self.inner.samples.labels.clone().into_pyarray(py)
    }
}

/// Samples from numpy features `x` (`[rows, ...]` f32) and labels `y` (`[rows]` int64).
fn samples(x: &PyReadonlyArrayDyn<'_, f32>, y: &PyReadonlyArrayDyn<'_, i64>) -> PyResult<Samples> {
    let Some(&rows) = x.shape().first() else {
        return Err(PyValueError::new_err(
            "features need a leading axis of rows",
        ));
    };
    if y.shape() != [rows] {
        return Err(PyValueError::new_err(format!(
            "{rows} rows of features but labels of shape {:?}",
            y.shape()
        )));
    }
    Ok(Samples {
        values: values(x),
        labels: values(y),
        row_len: x.shape()[1..].iter().product(),
    })
}

self_cell!(
    struct TrainerCell {
        owner: Arc<Program>,
        #[covariant]
        dependent: Client,
    }
);

/// The training runtime on one program: parameters in and out as numpy arrays, local
/// epochs on numpy data (shuffled, in the program's batches; the GIL is released while
/// it trains).
#[pyclass(module = "nnopt", name = "Trainer")]
pub struct Trainer {
    cell: TrainerCell,
}

#[pymethods]
impl Trainer {
    /// `precision`: "fp8" or "fp32" (default: the program's); `seed` drives shuffling and
    /// stochastic rounding.
    #[new]
    #[pyo3(signature = (program, precision = None, seed = 0))]
    fn new(program: &TrainingProgram, precision: Option<&str>, seed: u64) -> PyResult<Self> {
        let p = crate::convert::precision(precision, program.inner.precision)?;
        let cell = TrainerCell::try_new(program.inner.clone(), |prog| Client::new(prog, p, seed))
            .map_err(err)?;
        Ok(Trainer { cell })
    }

    fn get_params<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyArrayDyn<f32>>>> {
        to_numpy(py, self.cell.borrow_dependent().params())
    }

    /// Replaces the parameters (the optimizer's moments start afresh).
    fn set_params(&mut self, params: Vec<PyReadonlyArrayDyn<'_, f32>>) -> PyResult<()> {
        let ts = params_from_numpy(self.cell.borrow_owner(), params)?;
        self.cell
            .with_dependent_mut(|_, c| c.load_params(ts))
            .map_err(err)
    }

    /// Trains `epochs` passes over `x` (`[rows, ...]` f32) and `y` (`[rows]` int64);
    /// returns `{"loss": mean step loss, "steps": n, "samples": n}`.
    #[pyo3(signature = (x, y, epochs = 1))]
    fn train<'py>(
        &mut self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
        y: PyReadonlyArrayDyn<'py, i64>,
        epochs: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let data = samples(&x, &y)?;
        let rows: Vec<usize> = (0..data.len()).collect();
        let cell = &mut self.cell;
        let (loss, steps, count) = py
            .detach(|| {
                cell.with_dependent_mut(|_, c| {
                    let (mut loss, mut steps, mut count) = (0.0, 0, 0);
                    for _ in 0..epochs {
                        let s = c.train_epoch(&data, &rows)?;
                        loss += s.loss * s.steps as f64;
                        steps += s.steps;
                        count += s.samples;
                    }
                    Ok::<_, nnopt_compiler::Error>((loss, steps, count))
                })
            })
            .map_err(err)?;
        let d = PyDict::new(py);
        d.set_item("loss", if steps > 0 { loss / steps as f64 } else { 0.0 })?;
        d.set_item("steps", steps)?;
        d.set_item("samples", count)?;
        Ok(d)
    }
}

/// Top-1 accuracy and mean cross-entropy of `program` with `params` on `x`, `y`.
#[pyfunction]
fn evaluate(
    py: Python<'_>,
    program: &TrainingProgram,
    params: Vec<PyReadonlyArrayDyn<'_, f32>>,
    x: PyReadonlyArrayDyn<'_, f32>,
    y: PyReadonlyArrayDyn<'_, i64>,
) -> PyResult<(f64, f64)> {
    let p = &program.inner;
    let ts = params_from_numpy(p, params)?;
    let data = samples(&x, &y)?;
    let rows: Vec<usize> = (0..data.len()).collect();
    let e = py
        .detach(|| evaluate_params(p, &ts, &data, &rows))
        .map_err(err)?;
    Ok((e.accuracy, e.loss))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TrainingProgram>()?;
    m.add_class::<Dataset>()?;
    m.add_class::<Trainer>()?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    Ok(())
}
