//! Consistency of a training program: what [`read`](super::read) checks before it
//! returns one.

use crate::{ParamInfo, TrainingProgram, TrainingStep};
use nnopt_compiler::ir::{verify, DType, Op, Tensor, TensorType, Value, ValueRef};
use nnopt_compiler::{Error, Result};
use nnopt_passes::TrainPrecision;
use std::collections::HashSet;

/// Checks that `p` is a program a client can run: sane hyper-parameters; parameters
/// with unique names that are f32 constants of their shape in the forward graph; the
/// steps (the program's precision, then the FP32 baseline for FP8 programs) verify, and
/// their inputs and outputs match the forward graph, the batch, the parameters and
/// their quantizers.
pub fn validate(p: &TrainingProgram) -> Result<()> {
    if p.batch == 0 {
        return Err(Error::new("the batch size is 0"));
    }
    if p.scaling.history == 0 {
        return Err(Error::new("the amax history is empty"));
    }
    p.optimizer.validate()?;
    if p.params.is_empty() {
        return Err(Error::new("the program has no parameters"));
    }
    let mut names = HashSet::new();
    for q in &p.params {
        if !names.insert(q.name.as_str()) {
            return Err(Error::new(format!(
                "parameter '{}' is listed twice",
                q.name
            )));
        }
    }
    verify(&p.forward).map_err(|e| Error::new(format!("the forward graph: {e}")))?;
    for (q, v) in p.params.iter().zip(p.initial_params()?) {
        if !matches!(v, Tensor::F32(_)) {
            return Err(Error::new(format!(
                "parameter '{}' is {}, not f32",
                q.name,
                v.dtype()
            )));
        }
    }
    let mut want = vec![p.precision];
    if p.precision != TrainPrecision::Fp32 {
        want.push(TrainPrecision::Fp32);
    }
    let have: Vec<TrainPrecision> = p.steps.iter().map(|s| s.precision).collect();
    if have != want {
        let names = |v: &[TrainPrecision]| v.iter().map(|p| p.name()).collect::<Vec<_>>();
        return Err(Error::new(format!(
            "the {} program has steps {:?}, it should have {:?}",
            p.precision.name(),
            names(&have),
            names(&want)
        )));
    }
    for s in &p.steps {
        check_step(p, s)
            .map_err(|e| Error::new(format!("the {} step: {e}", s.precision.name())))?;
    }
    Ok(())
}

/// The step's graph inputs and outputs against the program.
fn check_step(p: &TrainingProgram, s: &TrainingStep) -> Result<()> {
    let g = &s.graph;
    verify(g)?;
    if s.precision == TrainPrecision::Fp32 && !s.quant_points.is_empty() {
        return Err(Error::new("an fp32 step has FP8 quant points"));
    }
    let data = p.forward.inputs();
    let (np, nq) = (p.params.len(), s.quant_points.len());
    let inputs = g.inputs();
    let outputs = g.outputs();
    let want_in = data.len() + 1 + np + nq;
    if inputs.len() != want_in {
        return Err(Error::new(format!(
            "it has {} inputs, expected {want_in} ({} data, labels, {np} parameters, \
             {nq} scales)",
            inputs.len(),
            data.len()
        )));
    }
    let want_out = 1 + np + nq;
    if outputs.len() != want_out {
        return Err(Error::new(format!(
            "it has {} outputs, expected {want_out} (loss, {np} gradients, {nq} amaxes)",
            outputs.len()
        )));
    }
    let input = |k: usize| &g.node(inputs[k]).outputs[0];
    for (k, &n) in data.iter().enumerate() {
        let (f, v) = (&p.forward.node(n).outputs[0], input(k));
        let mut batched = f.ty.clone();
        if let Some(d) = batched.shape.first_mut() {
            *d = p.batch;
        }
        if v.name != f.name || v.ty != batched {
            return Err(Error::new(format!(
                "input #{k} is %{}: {}, the forward graph with batch {} has %{}: {batched}",
                v.name, v.ty, p.batch, f.name
            )));
        }
    }
    let mut k = data.len();
    let scalar = TensorType::new(DType::F32, vec![]);
    expect_type(
        "input",
        k,
        input(k),
        "labels",
        &TensorType::new(DType::I64, vec![p.batch]),
    )?;
    k += 1;
    for (i, q) in p.params.iter().enumerate() {
        let v = input(k + i);
        if v.name != q.name {
            return Err(Error::new(format!(
                "input #{} is %{}, expected parameter %{}",
                k + i,
                v.name,
                q.name
            )));
        }
        expect_type("input", k + i, v, "parameter", &param_type(q))?;
    }
    k += np;
    let output = |j: usize| g.value(outputs[j]);
    expect_type("output", 0, output(0), "loss", &scalar)?;
    for (i, q) in p.params.iter().enumerate() {
        expect_type("output", 1 + i, output(1 + i), "gradient", &param_type(q))?;
    }
    for (i, q) in s.quant_points.iter().enumerate() {
        let scale = ValueRef::first(inputs[k + i]);
        let amax = outputs[1 + np + i];
        expect_type("input", k + i, g.value(scale), "scale", &scalar)?;
        expect_type("output", 1 + np + i, g.value(amax), "amax", &scalar)?;
        let quantizer = matches!(
            g.node(amax.node).op,
            Op::Fp8FakeQuant { format } if format == q.format
        ) && amax.output == 1
            && g.node_inputs(amax.node).get(1) == Some(&scale)
            && g.node_inputs(amax.node)
                .first()
                .is_some_and(|&x| g.value(x).name == q.name);
        if !quantizer {
            return Err(Error::new(format!(
                "quant point #{i} ({} {:?} of %{}) does not match the fp8_fake_quant of \
                 scale input #{} and amax output #{}",
                q.format.name(),
                q.role,
                q.name,
                k + i,
                1 + np + i
            )));
        }
    }
    Ok(())
}

fn param_type(q: &ParamInfo) -> TensorType {
    TensorType::new(DType::F32, q.shape.clone())
}

/// Checks the type of a step's input or output.
fn expect_type(side: &str, k: usize, v: &Value, what: &str, ty: &TensorType) -> Result<()> {
    if &v.ty != ty {
        return Err(Error::new(format!(
            "{side} #{k} (%{}, a {what}) is {}, expected {ty}",
            v.name, v.ty
        )));
    }
    Ok(())
}
