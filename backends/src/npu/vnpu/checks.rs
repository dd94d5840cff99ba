//! Parameter checks run before execution, so that a corrupt program is an error and never
//! a panic in the integer kernels (inverted clamps, shifts past the word size).

use crate::npu::program::{Command, ElementwiseKind, Program, Requant};
use nnopt_compiler::{Error, Result};

fn requant_ok(r: &Requant) -> bool {
    (-31..=31).contains(&r.shift)
}

fn clamp_ok(name: &str, lo: i32, hi: i32) -> Result<()> {
    if lo > hi {
        return Err(Error::at_node(
            name,
            format!("activation clamp [{lo}, {hi}] is empty"),
        ));
    }
    Ok(())
}

/// Checks every command's fixed-point parameters and clamps.
pub fn check(p: &Program) -> Result<()> {
    for (i, w) in p.weights.iter().enumerate() {
        if !w.requant.iter().all(requant_ok) {
            return Err(Error::new(format!(
                "weight block {i}: requantization shift out of range"
            )));
        }
    }
    for c in &p.commands {
        match c {
            Command::Conv2d(cv) => {
                clamp_ok(&cv.name, cv.stage.act_min, cv.stage.act_max)?;
                if cv.transposed && (cv.fp8.is_some() || cv.groups != 1) {
                    return Err(Error::at_node(
                        &cv.name,
                        "a transposed convolution is int8 with one group",
                    ));
                }
            }
            Command::FullyConnected(fc) => clamp_ok(&fc.name, fc.stage.act_min, fc.stage.act_max)?,
            Command::Pool(pl) => clamp_ok(&pl.name, pl.act_min, pl.act_max)?,
            Command::Reduce(r) => {
                clamp_ok(&r.name, r.act_min, r.act_max)?;
                if !requant_ok(&r.requant) {
                    return Err(Error::at_node(&r.name, "requantization shift out of range"));
                }
            }
            Command::Elementwise(e) => {
                if !matches!(e.kind, ElementwiseKind::F32 { .. }) {
                    clamp_ok(&e.name, e.act_min, e.act_max)?;
                }
                let ok = match e.kind {
                    ElementwiseKind::AddSub {
                        left_shift,
                        input_a,
                        input_b,
                        output,
                        ..
                    } => {
                        (0..=31).contains(&left_shift)
                            && [input_a, input_b, output].iter().all(requant_ok)
                    }
                    ElementwiseKind::Mul { output } => requant_ok(&output),
                    ElementwiseKind::F32 { .. } => true,
                };
                if !ok {
                    return Err(Error::at_node(&e.name, "shift out of range"));
                }
            }
            Command::PRelu(pr) => {
                clamp_ok(&pr.name, pr.act_min, pr.act_max)?;
                if !requant_ok(&pr.identity) || !requant_ok(&pr.negative) {
                    return Err(Error::at_node(
                        &pr.name,
                        "requantization shift out of range",
                    ));
                }
            }
            Command::Softmax(sm) => {
                if sm.multiplier < 0 || !(0..=31).contains(&sm.left_shift) {
                    return Err(Error::at_node(
                        &sm.name,
                        "softmax multiplier or shift out of range",
                    ));
                }
            }
            Command::Requantize(r) if !requant_ok(&r.requant) => {
                return Err(Error::at_node(&r.name, "requantization shift out of range"));
            }
            Command::Svdf(sv) if !requant_ok(&sv.feature) || !requant_ok(&sv.time) => {
                return Err(Error::at_node(
                    &sv.name,
                    "requantization shift out of range",
                ));
            }
            Command::Requantize(_)
            | Command::Svdf(_)
            | Command::TableSoftmax(_)
            | Command::Concat(_)
            | Command::Lookup(_)
            | Command::Resize(_)
            | Command::Quantize(_)
            | Command::Activate(_)
            | Command::Pad(_)
            | Command::Cpu { .. } => {}
        }
    }
    Ok(())
}
