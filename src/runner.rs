//! A model file ready to run, whatever its kind: a graph (`.onnx`, `.tflite`, `.nnir`)
//! in the reference interpreter, or an NPU binary (`.npub`) on the virtual NPU. What
//! `nnopt run` and `nnopt compare` execute.

use crate::batch::run_batched_with;
use nnopt_backends::npu::program::Program;
use nnopt_backends::npu::vnpu;
use nnopt_compiler::interp;
use nnopt_compiler::ir::{DType, Graph, Op, QuantParams, Tensor, ValueRef};
use nnopt_compiler::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One input or output of a model as a caller sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Port {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Per-tensor scale and zero point of a quantized (integer) port.
    pub quant: Option<(f32, i64)>,
}

impl Port {
    fn new(name: &str, dtype: DType, shape: &[usize], quant: Option<&QuantParams>) -> Self {
        let quant = quant
            .filter(|q| q.scale.len() == 1 && q.zero_point.len() == 1 && dtype != DType::F32)
            .map(|q| (q.scale[0], q.zero_point[0]));
        Port {
            name: name.to_string(),
            dtype,
            shape: shape.to_vec(),
            quant,
        }
    }
}

/// The real values of `t`: codes dequantized (`scale * (code - zero_point)`) when
/// `quant` gives a scale and zero point, else its values as they are.
pub fn real_values(t: &Tensor, quant: Option<(f32, i64)>) -> Vec<f64> {
    let raw = t.to_f64_vec();
    match quant {
        Some((s, z)) => raw.iter().map(|&c| s as f64 * (c - z as f64)).collect(),
        None => raw,
    }
}

/// A captured intermediate tensor and its port.
pub type Tapped = (Port, Tensor);

/// What runs.
enum Engine {
    Graph(Graph),
    Npub(Program),
}

/// A loaded model file.
pub struct Runner {
    path: PathBuf,
    engine: Engine,
}

impl Runner {
    /// Loads `path`: an NPU binary by its `.npub` extension, else a model.
    pub fn load(path: &Path) -> Result<Self> {
        let engine = if crate::npub::is_npub(path) {
            Engine::Npub(crate::npub::load(path)?.0)
        } else {
            Engine::Graph(crate::load_model(path)?)
        };
        Ok(Runner {
            path: path.to_path_buf(),
            engine,
        })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The inputs, in order.
    pub fn inputs(&self) -> Vec<Port> {
        match &self.engine {
            Engine::Graph(g) => g
                .inputs()
                .iter()
                .map(|&n| {
                    let v = &g.node(n).outputs[0];
                    Port::new(&v.name, v.ty.dtype, &v.ty.shape, v.ty.quant.as_ref())
                })
                .collect(),
            Engine::Npub(p) => p.inputs.iter().map(|b| npub_port(p, b)).collect(),
        }
    }

    /// The outputs, in order.
    pub fn outputs(&self) -> Vec<Port> {
        match &self.engine {
            Engine::Graph(g) => g
                .outputs()
                .iter()
                .map(|&v| {
                    let v = g.value(v);
                    Port::new(&v.name, v.ty.dtype, &v.ty.shape, v.ty.quant.as_ref())
                })
                .collect(),
            Engine::Npub(p) => p.outputs.iter().map(|b| npub_port(p, b)).collect(),
        }
    }

    /// Runs on `inputs` (stacked batches run one by one, see [`crate::batch`]) and also
    /// returns the intermediate tensors named `taps` (IR value names, as `nnopt opt
    /// --emit ir` prints them; for `.npub` files, the names of arena tensors).
    /// Each tap comes with its port (name, type and quantization of the tapped value).
    pub fn run(&self, inputs: &[Tensor], taps: &[String]) -> Result<(Vec<Tensor>, Vec<Tapped>)> {
        let shapes: Vec<Vec<usize>> = self.inputs().into_iter().map(|p| p.shape).collect();
        let outputs = self.outputs().len();
        let mut tap_ports = Vec::new();
        let results = match &self.engine {
            Engine::Graph(g) => {
                let taps = graph_taps(g, taps)?;
                for &v in &taps {
                    let v = g.value(v);
                    tap_ports.push(Port::new(
                        &v.name,
                        v.ty.dtype,
                        &v.ty.shape,
                        v.ty.quant.as_ref(),
                    ));
                }
                let session = interp::Session::new(g);
                run_batched_with(&shapes, inputs, |x| {
                    let mut tapped: Vec<Option<Tensor>> = vec![None; taps.len()];
                    let mut out = session.run_observed(x, &mut |v, t| {
                        for (slot, &tap) in tapped.iter_mut().zip(&taps) {
                            if tap == v {
                                *slot = Some(t.clone());
                            }
                        }
                    })?;
                    for (t, &v) in tapped.into_iter().zip(&taps) {
                        out.push(t.ok_or_else(|| {
                            Error::new(format!("'{}' was not computed", g.value(v).name))
                        })?);
                    }
                    Ok(out)
                })
            }
            Engine::Npub(p) => {
                let taps = npub_taps(p, taps)?;
                for &t in &taps {
                    let t = &p.tensors[t];
                    tap_ports.push(Port::new(&t.name, t.dtype, &t.shape, t.quant.as_ref()));
                }
                let session = vnpu::Session::new(p)?;
                run_batched_with(&shapes, inputs, |x| {
                    let (mut out, tapped) = session.run_tapped(x, &taps)?;
                    out.extend(tapped);
                    Ok(out)
                })
            }
        }
        .map_err(|e| e.in_file(&self.path))?;
        let mut results = results;
        let tapped = results.split_off(outputs.min(results.len()));
        Ok((results, tap_ports.into_iter().zip(tapped).collect()))
    }
}

/// The caller's view of an `.npub` input or output binding.
fn npub_port(p: &Program, b: &nnopt_backends::npu::program::IoBinding) -> Port {
    let quant = p
        .tensors
        .get(b.tensor)
        .filter(|t| t.dtype == b.dtype)
        .and_then(|t| t.quant.as_ref());
    Port::new(&b.name, b.dtype, &b.shape, quant)
}

/// The graph values named `taps` (computed values, not constants).
fn graph_taps(g: &Graph, taps: &[String]) -> Result<Vec<ValueRef>> {
    let mut by_name: HashMap<&str, ValueRef> = HashMap::new();
    for n in g.node_indices() {
        for (k, v) in g.node(n).outputs.iter().enumerate() {
            by_name.insert(&v.name, ValueRef { node: n, output: k });
        }
    }
    taps.iter()
        .map(|name| match by_name.get(name.as_str()) {
            Some(&v) if matches!(g.node(v.node).op, Op::Const { .. }) => Err(Error::new(format!(
                "--tap {name}: it is a constant, not a computed value"
            ))),
            Some(&v) => Ok(v),
            None => Err(Error::new(format!(
                "--tap {name}: the model has no value of that name (`nnopt opt MODEL --emit ir` \
                 lists them; values that optimization created are not in the model as run){}",
                suggestion(name, by_name.keys().copied())
            ))),
        })
        .collect()
}

/// The arena tensors of `p` named `taps` (IR value names, or `tN` as the schedule that
/// `nnopt inspect` prints numbers them).
fn npub_taps(p: &Program, taps: &[String]) -> Result<Vec<usize>> {
    let numbered = |name: &str| {
        name.strip_prefix('t')
            .and_then(|k| k.parse::<usize>().ok())
            .filter(|&k| k < p.tensors.len())
    };
    taps.iter()
        .map(|name| {
            p.tensors
                .iter()
                .position(|t| &t.name == name)
                .or_else(|| numbered(name))
                .ok_or_else(|| {
                    Error::new(format!(
                        "--tap {name}: the NPU binary has no tensor of that name (`nnopt inspect \
                         FILE.npub` lists them){}",
                        suggestion(name, p.tensors.iter().map(|t| t.name.as_str()))
                    ))
                })
        })
        .collect()
}

/// `; did you mean 'x'?` for the known name closest to `name`, when one is close.
fn suggestion<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> String {
    known
        .map(|k| (strsim::levenshtein(name, k), k))
        .filter(|&(d, k)| d <= name.len().max(k.len()) / 3)
        .min()
        .map(|(_, k)| format!("; did you mean '{k}'?"))
        .unwrap_or_default()
}
