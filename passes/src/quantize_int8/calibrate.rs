//! Calibration: runs the float graph over sample inputs and records the range of every
//! f32 value it computes.

use super::observer::{CalibrationMethod, FiniteRange, Observer};
use nnopt_compiler::interp;
use nnopt_compiler::ir::{DType, Graph, Tensor, ValueRef};
use nnopt_compiler::{Error, Result};
use rayon::prelude::*;
use std::collections::HashMap;

/// Calibration inputs: each sample holds one tensor per graph input, in order.
#[derive(Clone, Debug, Default)]
pub struct Calibration {
    pub samples: Vec<Vec<Tensor>>,
    /// Whether the samples are random stand-ins rather than real data.
    pub synthetic: bool,
}

impl Calibration {
    /// Calibration from real samples.
    pub fn new(samples: Vec<Vec<Tensor>>) -> Self {
        Calibration {
            samples,
            synthetic: false,
        }
    }

    /// `count` random samples: f32 inputs uniform in `[lo, hi]`, other inputs zero.
    /// Deterministic for a given `seed`.
    pub fn synthetic(g: &Graph, count: usize, seed: u64, (lo, hi): (f32, f32)) -> Self {
        let mut rng = SplitMix64(seed);
        let samples = (0..count)
            .map(|_| {
                g.inputs()
                    .iter()
                    .map(|&n| {
                        let ty = &g.node(n).outputs[0].ty;
                        if ty.dtype != DType::F32 {
                            return Tensor::zeros(ty.dtype, &ty.shape);
                        }
                        let v: Vec<f64> = (0..ty.num_elements())
                            .map(|_| lo as f64 + (hi - lo) as f64 * rng.next_f64())
                            .collect();
                        Tensor::from_f64s(DType::F32, &ty.shape, &v).expect("element count")
                    })
                    .collect()
            })
            .collect();
        Calibration {
            samples,
            synthetic: true,
        }
    }

    /// Checks that every sample matches the graph inputs' dtypes and shapes.
    pub fn check(&self, g: &Graph) -> Result<()> {
        if self.samples.is_empty() {
            return Err(Error::new("calibration needs at least one sample"));
        }
        for (k, sample) in self.samples.iter().enumerate() {
            if sample.len() != g.inputs().len() {
                return Err(Error::new(format!(
                    "calibration sample {k} has {} tensors, the model has {} inputs",
                    sample.len(),
                    g.inputs().len()
                )));
            }
            for (t, &n) in sample.iter().zip(g.inputs()) {
                let node = g.node(n);
                let ty = &node.outputs[0].ty;
                if t.dtype() != ty.dtype || t.shape() != ty.shape.as_slice() {
                    return Err(Error::at_node(
                        &node.name,
                        format!(
                            "calibration sample {k} is {}{:?}, the input is {ty}",
                            t.dtype(),
                            t.shape()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A small deterministic generator (SplitMix64) for synthetic samples.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a sample computed for one f32 value: its range when the observers keep only
/// ranges (summarized in parallel), else the values.
enum Seen {
    Range(Option<FiniteRange>),
    Values(Vec<f32>),
}

/// Runs the (float) graph on every sample and observes every f32 value it computes.
///
/// Samples run in parallel, a chunk at a time; their values reach the observers in
/// sample order, so the ranges are the same for any thread count.
pub fn observe(
    g: &Graph,
    calib: &Calibration,
    method: CalibrationMethod,
) -> Result<HashMap<ValueRef, Observer>> {
    calib.check(g)?;
    let session = interp::Session::new(g);
    let range_only = Observer::new(method).range_only();
    let mut observers: HashMap<ValueRef, Observer> = HashMap::new();
    let chunk = rayon::current_num_threads().max(1);
    for (c, samples) in calib.samples.chunks(chunk).enumerate() {
        let seen: Vec<Result<Vec<(ValueRef, Seen)>>> = samples
            .par_iter()
            .enumerate()
            .map(|(i, sample)| {
                let mut values = vec![];
                session
                    .run_observed(sample, &mut |v, t| {
                        if let Some(a) = t.as_f32() {
                            let s = a.as_standard_layout();
                            let s = s.as_slice().expect("standard layout");
                            values.push((
                                v,
                                if range_only {
                                    Seen::Range(FiniteRange::of(s))
                                } else {
                                    Seen::Values(s.to_vec())
                                },
                            ));
                        }
                    })
                    .map_err(|e| Error {
                        message: format!("calibration sample {}: {}", c * chunk + i, e.message),
                        ..e
                    })?;
                Ok(values)
            })
            .collect();
        for values in seen {
            for (v, seen) in values? {
                let o = observers.entry(v).or_insert_with(|| Observer::new(method));
                match seen {
                    Seen::Range(Some(r)) => o.add_range(r),
                    Seen::Range(None) => {}
                    Seen::Values(x) => o.observe(&x),
                }
            }
        }
    }
    Ok(observers)
}
