//! Binary networks under neuron noise (`nnopt analyze-noise`): the bounds of the
//! `noise-analysis` pass for each flip probability, and Monte-Carlo measurements of
//! accuracy and information on a dataset's test split, checked against the bounds.
//!
//! A measurement runs every test sample `repeats` times, flipping each binary neuron's
//! output with probability ε ([`BinaryNoise`], keyed by the sample's index over all
//! repeats, so any thread count gives the same counts), and tabulates (label, predicted
//! class). The label marginal is the test split's, exactly, so H(label) is exact; the
//! bound on I(label; prediction) is H(label) times the smaller of the percolation bound
//! and the Evans–Schulman sum (and 1). The check "under its bound" compares the plug-in
//! estimate, which is biased upwards, so it is the stricter of the two estimates; where
//! the bound is (near) 0 the bias alone can put it above, and the Miller–Madow
//! estimate's check says whether the excess is within that bias.

pub mod information;

use information::mutual_information;
use nnopt_compiler::interp::{BinaryNoise, Session};
use nnopt_compiler::ir::{DType, Graph};
use nnopt_passes::noise_bounds::min_width;
use nnopt_passes::{analyze_noise, with_batch, NoiseOptions, NoiseReport};
use nnopt_train::runtime::Samples;
use rayon::prelude::*;
use serde::Serialize;

use crate::{Error, Result};

/// Rows per interpreter run.
const BATCH: usize = 128;

/// Depths of the depth–width table.
pub const TRADEOFF_DEPTHS: std::ops::RangeInclusive<u32> = 1..=8;

/// The most repeats of the test split a measurement takes.
pub const MAX_REPEATS: usize = 100_000;

/// What to measure.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub flip_probs: Vec<f64>,
    /// Classes M (default: the output width) and the target error δ of the minimum
    /// width.
    pub classes: Option<u64>,
    pub target_error: f64,
    /// Runs of the whole test split per flip probability.
    pub repeats: usize,
    pub seed: u64,
}

/// A Monte-Carlo measurement at one flip probability.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measured {
    /// Predictions counted: test samples times repeats.
    pub samples: u64,
    pub accuracy: f64,
    /// Plug-in I(label; predicted class), bits.
    pub mi_plug_in_bits: f64,
    /// Miller–Madow (bias-corrected) estimate, bits.
    pub mi_miller_madow_bits: f64,
    /// H(label) of the test split, bits.
    pub label_entropy_bits: f64,
    /// H(label) · min(1, percolation bound).
    pub percolation_bound_bits: f64,
    /// H(label) · min(1, Evans–Schulman sum).
    pub evans_schulman_bound_bits: f64,
    /// Whether the plug-in estimate is at most both bounds (the check).
    pub under_bound: bool,
    /// Whether the Miller–Madow estimate is: where only this holds, the plug-in
    /// estimate's excess is within its bias (e.g. at ε = 0.5, where the bound is 0).
    pub under_bound_bias_corrected: bool,
}

/// The bounds and (with data) the measurement at one flip probability.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NoisePoint {
    pub bounds: NoiseReport,
    pub measured: Option<Measured>,
}

/// The smallest widths for one flip probability at depths 1, 2, ... (`None`: no width).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tradeoff {
    pub flip_prob: f64,
    pub depths: Vec<u32>,
    pub min_width: Vec<Option<u64>>,
}

/// A whole analysis.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NoiseSweep {
    pub widths: Vec<u64>,
    pub classes: u64,
    pub target_error: f64,
    pub repeats: usize,
    pub seed: u64,
    pub points: Vec<NoisePoint>,
    pub tradeoff: Vec<Tradeoff>,
}

/// The bounds of `g` at every flip probability and, with `data` (samples and the rows
/// to run), the measurements.
pub fn sweep(
    g: &Graph,
    data: Option<(&Samples, &[usize])>,
    opts: &SweepOptions,
) -> Result<NoiseSweep> {
    if opts.flip_probs.is_empty() {
        return Err(Error::new("no flip probability given"));
    }
    if opts.repeats == 0 || opts.repeats > MAX_REPEATS {
        return Err(Error::new(format!(
            "repeats must be in 1..={MAX_REPEATS}, got {}",
            opts.repeats
        )));
    }
    let mut points = Vec::new();
    for &flip_prob in &opts.flip_probs {
        let bounds = analyze_noise(
            g,
            &NoiseOptions {
                flip_prob,
                classes: opts.classes,
                target_error: opts.target_error,
            },
        )?;
        let measured = match data {
            Some((samples, rows)) => Some(measure(g, samples, rows, &bounds, opts)?),
            None => None,
        };
        points.push(NoisePoint { bounds, measured });
    }
    let first = &points[0].bounds;
    let tradeoff = points
        .iter()
        .map(|p| Tradeoff {
            flip_prob: p.bounds.flip_prob,
            depths: TRADEOFF_DEPTHS.collect(),
            min_width: TRADEOFF_DEPTHS
                .map(|l| min_width(p.bounds.eta, l, first.classes, first.target_error))
                .collect(),
        })
        .collect();
    Ok(NoiseSweep {
        widths: first.layers.iter().map(|l| l.width).collect(),
        classes: first.classes,
        target_error: first.target_error,
        repeats: opts.repeats,
        seed: opts.seed,
        points,
        tradeoff,
    })
}

/// Runs `rows` of `samples` through `g` `opts.repeats` times under the noise of `bounds`
/// and compares the information with the bounds.
fn measure(
    g: &Graph,
    samples: &Samples,
    rows: &[usize],
    bounds: &NoiseReport,
    opts: &SweepOptions,
) -> Result<Measured> {
    if rows.is_empty() {
        return Err(Error::new("the dataset has no test samples"));
    }
    let input = match g.inputs() {
        [one] => g.node(*one).outputs[0].ty.clone(),
        ins => {
            return Err(Error::new(format!(
                "noise measurements take models with one input, this one has {}",
                ins.len()
            )))
        }
    };
    if input.dtype != DType::F32 || input.shape.is_empty() {
        return Err(Error::new(format!(
            "noise measurements take one f32 input [N, ...], the model's is {input}"
        )));
    }
    let labels = bounds.classes as usize;
    if let Some(&r) = rows
        .iter()
        .find(|&&r| !usize::try_from(samples.labels[r]).is_ok_and(|l| l < labels))
    {
        return Err(Error::new(format!(
            "sample {r} has label {}, outside the {labels} classes",
            samples.labels[r]
        )));
    }
    // One graph and session per batch size.
    let sizes: Vec<usize> = rows.chunks(BATCH).map(<[usize]>::len).collect();
    let mut graphs: Vec<(usize, Graph)> = Vec::new();
    for &n in &sizes {
        if !graphs.iter().any(|(m, _)| *m == n) {
            graphs.push((n, with_batch(g, n)?));
        }
    }
    let sessions: Vec<(usize, Session<'_>)> =
        graphs.iter().map(|(n, g)| (*n, Session::new(g))).collect();
    let chunks: Vec<(usize, &[usize])> = rows
        .chunks(BATCH)
        .enumerate()
        .map(|(k, c)| (k * BATCH, c))
        .collect();
    let tasks: Vec<(usize, usize, &[usize])> = (0..opts.repeats)
        .flat_map(|rep| chunks.iter().map(move |&(offset, c)| (rep, offset, c)))
        .collect();
    let results: Vec<Vec<(usize, usize)>> = tasks
        .par_iter()
        .map(|&(rep, offset, chunk)| {
            let session = &sessions
                .iter()
                .find(|(n, _)| *n == chunk.len())
                .expect("a session per size")
                .1;
            let (x, _) = samples.batch(chunk, &input.shape)?;
            let noise = BinaryNoise {
                flip_prob: bounds.flip_prob,
                seed: opts.seed,
                first_sample: (rep * rows.len() + offset) as u64,
            };
            let out = session.run_noisy(&[x], &noise)?;
            let scores = out
                .first()
                .and_then(|t| t.as_f32())
                .ok_or_else(|| Error::new("the model's first output is not f32"))?;
            Ok(scores
                .outer_iter()
                .zip(chunk)
                .map(|(row, &r)| (samples.labels[r] as usize, argmax(row.iter().copied())))
                .collect())
        })
        .collect::<Result<_>>()?;
    let width = g
        .outputs()
        .first()
        .map_or(0, |v| g.ty(*v).shape.iter().skip(1).product::<usize>());
    let mut joint = vec![vec![0u64; width.max(1)]; labels];
    let mut hits = 0u64;
    for &(label, pred) in results.iter().flatten() {
        joint[label][pred] += 1;
        hits += u64::from(label == pred);
    }
    let n = (rows.len() * opts.repeats) as u64;
    let info = mutual_information(&joint);
    let h = info.row_entropy;
    let percolation = h * bounds.percolation_bound.min(1.0);
    let evans_schulman = h * bounds.evans_schulman.min(1.0);
    // A rounding margin only: estimates are sums of a few hundred terms.
    let margin = 1e-9;
    Ok(Measured {
        samples: n,
        accuracy: hits as f64 / n as f64,
        mi_plug_in_bits: info.plug_in,
        mi_miller_madow_bits: info.miller_madow,
        label_entropy_bits: h,
        percolation_bound_bits: percolation,
        evans_schulman_bound_bits: evans_schulman,
        under_bound: info.plug_in <= percolation.min(evans_schulman) + margin,
        under_bound_bias_corrected: info.miller_madow <= percolation.min(evans_schulman) + margin,
    })
}

/// The index of the largest value (the first of ties).
fn argmax(values: impl Iterator<Item = f32>) -> usize {
    values
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |b, (i, v)| if v > b.1 { (i, v) } else { b },
        )
        .0
}
