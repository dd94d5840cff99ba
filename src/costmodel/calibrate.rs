//! `nnopt costmodel calibrate`: fits an analytic NPU target (its off-chip and SRAM
//! bandwidths, the sustained utilization of each kind of work, the MAC array's channel
//! blocks and a fixed per-command overhead) to Vela's per-operator cycle estimates for one
//! accelerator configuration.
//!
//! Each dataset record holds the work of nnopt's NPU commands ([`NpuWork`]), so pricing it
//! on a candidate target needs no compile. The fit is a deterministic search over the
//! logarithms of these figures on the training networks: first it minimizes the mean
//! absolute log error per command, then that plus the mean absolute log error per network
//! (see [`calibrate`]). The test split (the fixed fifth `nnopt costmodel eval` scores on)
//! measures the result.

use super::dataset::{NpuWork, Record};
use super::eval::in_test_split;
use nnopt_backends::npu::perf::{command_cycles, Bound};
use nnopt_backends::npu::target::{MacBlock, Target, Utilization};
use nnopt_compiler::{Error, Result};
use serde::Serialize;

/// The fitted figures: the utilization of each kind of work, then these.
pub const FITTED_RATES: [&str; 5] = [
    "offchip_bytes_per_cycle",
    "sram_bytes_per_cycle",
    "command_overhead_cycles",
    "mac_block.out_channels",
    "mac_block.in_channels",
];

/// The largest MAC-array channel block searched (a power of two).
const MAX_BLOCK_LOG2: f64 = 6.0;

/// Search coordinates of the convolution, depthwise and fully connected utilizations (the
/// first three of [`Utilization::NAMES`]).
const MAC_UTILIZATIONS: [usize; 3] = [0, 1, 2];

/// Whether search coordinate `i` is a channel block.
fn is_block(i: usize) -> bool {
    i >= DIMENSIONS - 2
}

/// Length of the search vector.
const DIMENSIONS: usize = Utilization::NAMES.len() + FITTED_RATES.len();

/// The fitted figures of `t` in the order of the search vector, with their names.
pub fn fitted_figures(t: &Target) -> Vec<(String, f64)> {
    let shares = Utilization::NAMES
        .iter()
        .zip(t.utilization.values())
        .map(|(n, v)| (format!("utilization.{n}"), v));
    let rates = FITTED_RATES.iter().zip([
        t.offchip_bytes_per_cycle,
        t.sram_bytes_per_cycle,
        t.command_overhead_cycles as f64,
        t.mac_block.out_channels as f64,
        t.mac_block.in_channels as f64,
    ]);
    shares
        .chain(rates.map(|(n, v)| (n.to_string(), v)))
        .collect()
}

/// Rounds of the scan over each figure's range, and its step in log space.
const SCAN_ROUNDS: usize = 3;
const SCAN_STEP: f64 = 0.25;

/// Refining coordinate steps in log space: from a factor of 1.28 down to about 0.4 %.
const STEPS: [f64; 7] = [
    0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625,
];

/// The range scanned for search coordinate `i` and its step, in log space: utilizations
/// from 1e-4 to 1, bandwidths from 1/128 to 512 bytes a cycle, overheads up to about 8,000
/// cycles, and (in base 2) channel blocks from 1 to 64.
fn range(i: usize) -> (f64, f64, f64) {
    let shares = Utilization::NAMES.len();
    if i < shares {
        return (-9.25, 0.0, SCAN_STEP);
    }
    match i - shares {
        0 | 1 => (-4.75, 6.25, SCAN_STEP),
        2 => (0.0, 9.0, SCAN_STEP),
        _ => (0.0, MAX_BLOCK_LOG2, 1.0),
    }
}

/// How far a target's estimates are from Vela's on some networks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Errors {
    pub networks: usize,
    /// Commands with a Vela row of nonzero cycles.
    pub layers: usize,
    /// Mean `|estimate - vela| / vela` over those commands, in percent.
    pub layer_mape_percent: f64,
    /// Mean `|estimate - vela| / vela` of the networks' total cycles, in percent.
    pub network_mape_percent: f64,
    /// Share of networks within ±10 % of Vela's total, in percent.
    pub within_10_percent: f64,
    /// Median of `estimate / vela` over the networks.
    pub median_ratio: f64,
}

/// What a calibration found.
#[derive(Clone, Debug, Serialize)]
pub struct Calibration {
    /// The Vela configuration fitted to.
    pub config: String,
    pub train_networks: usize,
    /// The starting target and the fitted one.
    pub base: Target,
    pub fitted: Target,
    /// On the test split, before and after.
    pub before: Errors,
    pub after: Errors,
}

/// One network: its commands' work and what Vela says of it.
struct Sample {
    name: String,
    work: NpuWork,
    /// Vela's cycles per command (0 where it has no row).
    layers: Vec<f64>,
    total: f64,
}

/// Fits `base` to Vela's estimates for `config` in `records`; the fitted target is named
/// `name` and runs at `clock_hz`.
pub fn calibrate(
    records: &[Record],
    config: &str,
    base: &Target,
    name: &str,
    clock_hz: u64,
) -> Result<Calibration> {
    let samples: Vec<Sample> = records.iter().filter_map(|r| sample(r, config)).collect();
    let (test, train): (Vec<&Sample>, Vec<&Sample>) =
        samples.iter().partition(|s| in_test_split(&s.name));
    if train.is_empty() || test.is_empty() {
        return Err(Error::new(format!(
            "calibrating needs records with NPU work and Vela's per-operator cycles for \
             {config} in both the training and the test split; found {} and {} (label the \
             dataset with `nnopt costmodel dataset --labels npu,vela`)",
            train.len(),
            test.len()
        )));
    }
    let mut start = base.clone();
    start.name = name.to_string();
    start.clock_hz = clock_hz;
    let mut theta = vector(&start);
    // Each utilization moves the cycles of its own kind of command only, so on the
    // per-command loss the figures hardly interact; the per-network loss couples them
    // (one kind too slow, another too fast, and the totals still match), so it joins
    // only once the per-command fit has placed every figure.
    for with_networks in [false, true] {
        let loss =
            |theta: &[f64; DIMENSIONS]| objective(&train, &apply(&start, theta), with_networks);
        theta = search(theta, &loss, !with_networks);
    }
    let fitted = apply(&start, &theta);
    Ok(Calibration {
        config: config.to_string(),
        train_networks: train.len(),
        before: errors(&test, &start),
        after: errors(&test, &fitted),
        base: base.clone(),
        fitted,
    })
}

/// Minimizes `loss` from `theta`: with `scan`, first each figure over its whole range (a
/// few rounds, as the figures interact; the loss is flat where a figure bounds no
/// command), then all of them by ever smaller coordinate steps.
fn search(
    mut theta: [f64; DIMENSIONS],
    loss: &dyn Fn(&[f64; DIMENSIONS]) -> f64,
    scan: bool,
) -> [f64; DIMENSIONS] {
    let mut best = loss(&theta);
    // The best point along coordinate `i` from `from`, and its loss.
    let scan_one = |from: [f64; DIMENSIONS], i: usize, mut best: f64| {
        let (lo, hi, step) = range(i);
        let mut theta = from;
        for k in 0..=((hi - lo) / step).round() as usize {
            let mut candidate = from;
            candidate[i] = lo + k as f64 * step;
            let l = loss(&candidate);
            if l < best - 1e-12 {
                (theta, best) = (candidate, l);
            }
        }
        (theta, best)
    };
    for _ in 0..if scan { SCAN_ROUNDS } else { 0 } {
        for i in 0..DIMENSIONS {
            if !is_block(i) {
                (theta, best) = scan_one(theta, i, best);
                continue;
            }
            // A larger channel block means more products per layer, which a higher
            // utilization offsets: each block is tried with the MAC utilizations rescanned.
            let (lo, hi, step) = range(i);
            for k in 0..=((hi - lo) / step).round() as usize {
                let mut candidate = theta;
                candidate[i] = lo + k as f64 * step;
                let mut l = loss(&candidate);
                for j in MAC_UTILIZATIONS {
                    (candidate, l) = scan_one(candidate, j, l);
                }
                if l < best - 1e-12 {
                    (theta, best) = (candidate, l);
                }
            }
        }
    }
    for step in STEPS {
        // Each pass improves the loss, so the passes end; the cap bounds the time.
        for _ in 0..100 {
            let mut improved = false;
            for i in 0..DIMENSIONS {
                for sign in [1.0, -1.0] {
                    let mut candidate = theta;
                    candidate[i] += sign * step;
                    let l = loss(&candidate);
                    if l < best - 1e-12 {
                        (theta, best, improved) = (candidate, l, true);
                    }
                }
            }
            if !improved {
                break;
            }
        }
    }
    theta
}

fn sample(r: &Record, config: &str) -> Option<Sample> {
    let work = r.npu_work.clone()?;
    let vela = r.vela.get(config)?;
    if vela.layers.is_empty() || vela.cycles <= 0.0 {
        return None;
    }
    let names: Vec<&str> = work.commands.iter().map(|c| c.name.as_str()).collect();
    Some(Sample {
        name: r.name.clone(),
        layers: vela.cycles_by_name(&names),
        total: vela.cycles,
        work,
    })
}

/// The search vector of `t`: logarithms of its utilizations, bandwidths and one plus its
/// overhead.
fn vector(t: &Target) -> [f64; DIMENSIONS] {
    let mut v = [0.0; DIMENSIONS];
    let shares = t.utilization.values();
    let k = shares.len();
    for (x, share) in v.iter_mut().zip(shares) {
        *x = share.ln();
    }
    v[k] = t.offchip_bytes_per_cycle.ln();
    v[k + 1] = t.sram_bytes_per_cycle.ln();
    v[k + 2] = (1.0 + t.command_overhead_cycles as f64).ln();
    v[k + 3] = (t.mac_block.out_channels as f64).log2();
    v[k + 4] = (t.mac_block.in_channels as f64).log2();
    v
}

/// `t` with the figures of `theta` (utilizations capped at 1, the overhead at least 0),
/// rounded to four significant digits as the YAML keeps them.
fn apply(t: &Target, theta: &[f64; DIMENSIONS]) -> Target {
    let mut shares = [0.0; Utilization::NAMES.len()];
    let k = shares.len();
    for (share, x) in shares.iter_mut().zip(theta) {
        *share = round4(x.min(0.0).exp());
    }
    let mut out = t.clone();
    out.utilization = Utilization::from_values(shares);
    out.offchip_bytes_per_cycle = round4(theta[k].exp());
    out.sram_bytes_per_cycle = round4(theta[k + 1].exp());
    out.command_overhead_cycles = (theta[k + 2].max(0.0).exp() - 1.0).round() as u64;
    let block = |x: f64| 2f64.powf(x.round().clamp(0.0, MAX_BLOCK_LOG2)) as u64;
    out.mac_block = MacBlock {
        out_channels: block(theta[k + 3]),
        in_channels: block(theta[k + 4]),
    };
    out
}

fn round4(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// Cycles per command of `s` on `t` (0 for CPU segments) and the NPU total.
fn cycles(s: &Sample, t: &Target) -> (Vec<f64>, f64) {
    let fits = s.work.arena_bytes <= t.sram_bytes;
    let per: Vec<f64> = s
        .work
        .commands
        .iter()
        .map(|c| match command_cycles(c, t, fits) {
            (_, Bound::Cpu) => 0.0,
            (cycles, _) => cycles as f64,
        })
        .collect();
    let total = per.iter().sum();
    (per, total)
}

/// The fit's loss: the mean absolute log error per command with a Vela row, plus (with
/// `with_networks`) the mean absolute log error of the network totals.
fn objective(samples: &[&Sample], t: &Target, with_networks: bool) -> f64 {
    let (mut layer_sum, mut layers, mut network_sum) = (0.0, 0usize, 0.0);
    for s in samples {
        let (per, total) = cycles(s, t);
        for (p, &v) in per.iter().zip(&s.layers) {
            if v > 0.0 {
                layer_sum += (p.max(1.0) / v).ln().abs();
                layers += 1;
            }
        }
        network_sum += (total.max(1.0) / s.total).ln().abs();
    }
    let networks = if with_networks {
        network_sum / samples.len().max(1) as f64
    } else {
        0.0
    };
    layer_sum / layers.max(1) as f64 + networks
}

fn errors(samples: &[&Sample], t: &Target) -> Errors {
    let (mut layer_sum, mut layers) = (0.0, 0usize);
    let mut ratios = Vec::with_capacity(samples.len());
    for s in samples {
        let (per, total) = cycles(s, t);
        for (p, &v) in per.iter().zip(&s.layers) {
            if v > 0.0 {
                layer_sum += (p - v).abs() / v;
                layers += 1;
            }
        }
        ratios.push(total / s.total);
    }
    let n = ratios.len().max(1) as f64;
    let network_mape = ratios.iter().map(|r| (r - 1.0).abs()).sum::<f64>() / n;
    let within = ratios.iter().filter(|r| (*r - 1.0).abs() <= 0.1).count() as f64 / n;
    ratios.sort_by(f64::total_cmp);
    Errors {
        networks: samples.len(),
        layers,
        layer_mape_percent: 100.0 * layer_sum / layers.max(1) as f64,
        network_mape_percent: 100.0 * network_mape,
        within_10_percent: 100.0 * within,
        median_ratio: ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN),
    }
}

/// The fitted target as YAML, headed by where it came from and how well it fits.
pub fn target_yaml(c: &Calibration, dataset: &std::path::Path) -> String {
    let dir = dataset.file_name().map_or_else(
        || dataset.display().to_string(),
        |n| n.to_string_lossy().to_string(),
    );
    let body = serde_yaml_ng::to_string(&c.fitted).expect("targets serialize");
    format!(
        "# {name}: nnopt's analytic NPU model fitted to Vela's per-operator cycle estimates\n\
         # for {config}, by `nnopt costmodel calibrate {dir} --config {config}` on {train}\n\
         # training networks. On the {test} test networks: per-operator MAPE {layer:.1} %,\n\
         # per-network MAPE {net:.1} %, {within:.1} % within ±10 % (from {before_layer:.1} %,\n\
         # {before_net:.1} % and {before_within:.1} % for {base}).\n{body}",
        name = c.fitted.name,
        config = c.config,
        train = c.train_networks,
        test = c.after.networks,
        layer = c.after.layer_mape_percent,
        net = c.after.network_mape_percent,
        within = c.after.within_10_percent,
        before_layer = c.before.layer_mape_percent,
        before_net = c.before.network_mape_percent,
        before_within = c.before.within_10_percent,
        base = c.base.name,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::costmodel::eval::in_test_split;
    use nnopt_backends::npu::perf::{price, CommandWork, MacShape, Work};

    /// A 3×3 convolution on 10·k pixels from `inputs` channels to 12 + k % 7 channels.
    fn conv(k: u64, inputs: u64) -> MacShape {
        let out = 12 + k % 7;
        MacShape::new(10_000 * k * out * inputs * 9, out, inputs * 9, 9)
    }

    /// A network of `k + 4` commands of several kinds, sized by `k`.
    fn work(k: u64) -> NpuWork {
        let command =
            |name: String, kind: &str, work: Work, weights: u64, activations: u64| CommandWork {
                name,
                kind: kind.to_string(),
                work,
                macs: 0,
                weight_bytes: weights,
                activation_bytes: activations,
            };
        let mut commands = vec![
            command(
                "stem".into(),
                "conv2d",
                Work::Conv(conv(k, 1 + k % 6)),
                900,
                4_000 * k,
            ),
            command(
                "dw".into(),
                "conv2d",
                Work::Depthwise(conv(k, 1)),
                90,
                2_000 * k,
            ),
            command(
                "add".into(),
                "elementwise",
                Work::Elementwise(500 * k),
                0,
                1_500 * k,
            ),
            command(
                "concat".into(),
                "concat",
                Work::Copy(1_000 * k),
                0,
                2_000 * k,
            ),
        ];
        for i in 0..k {
            let macs = 20_000 * (i + 1) * (k % 5 + 1);
            let weights = 50_000 * ((i * 7 + k) % 4);
            commands.push(command(
                format!("fc_{i}"),
                "fully_connected",
                Work::FullyConnected(MacShape::new(macs, 20, macs / 20, 1)),
                weights,
                300 * (i + 1),
            ));
        }
        NpuWork {
            arena_bytes: 10_000,
            encoded_weight_bytes: 0,
            commands,
        }
    }

    /// A record whose Vela labels are `truth`'s estimate of its work.
    fn record(k: u64, config: &str, truth: &Target) -> Record {
        let w = work(k);
        let e = price(&w.commands, truth, w.arena_bytes);
        let layers: Vec<serde_json::Value> = e
            .commands
            .iter()
            .map(|c| {
                serde_json::json!({"name": c.name, "operator": c.kind, "lowered": c.kind,
                                   "npu": true, "cycles": c.cycles as f64, "macs": 0.0})
            })
            .collect();
        let vela = serde_json::json!({
            "cycles": e.npu_cycles as f64, "cycles_npu": e.npu_cycles as f64,
            "inference_time_s": 0.0, "sram_bytes": 0.0, "off_chip_bytes": 0.0, "macs": 0.0,
            "encoded_weight_bytes": 0.0, "layers": layers,
        });
        serde_json::from_value(serde_json::json!({
            "format": 3, "name": format!("synthetic_{k}"), "space": "synthetic", "seed": k,
            "file": "", "file_bytes": 0, "nodes": 0, "parameters": 0, "macs": 0, "ops": {},
            "graph": {"nodes": [], "edges": []}, "npu_work": w, "vela": {config: vela},
        }))
        .expect("a record")
    }

    #[test]
    fn recovers_a_target_that_made_the_labels() {
        let mut truth = Target::preset("npu-256").unwrap();
        truth.utilization.conv = 0.5;
        truth.utilization.depthwise = 0.1;
        truth.utilization.elementwise = 0.05;
        truth.offchip_bytes_per_cycle = 1.5;
        truth.sram_bytes_per_cycle = 6.0;
        truth.command_overhead_cycles = 40;
        truth.mac_block = MacBlock {
            out_channels: 8,
            in_channels: 4,
        };
        let records: Vec<Record> = (1..60).map(|k| record(k, "cfg", &truth)).collect();
        assert!(records.iter().any(|r| in_test_split(&r.name)));
        let base = Target::preset("npu-256").unwrap();
        let c = calibrate(&records, "cfg", &base, "fitted", 500_000_000).unwrap();
        assert!(c.before.network_mape_percent > 50.0, "{:?}", c.before);
        assert!(
            c.after.network_mape_percent < 2.0,
            "{:?} {:?}",
            c.after,
            c.fitted
        );
        assert!(c.after.layer_mape_percent < 2.0, "{:?}", c.after);
        // The figures that bound some command are found again (the SRAM bandwidth and the
        // copy rate trade off on the one SRAM-bound command).
        let u = &c.fitted.utilization;
        for (got, want) in [
            (u.conv, 0.5),
            (u.depthwise, 0.1),
            (u.elementwise, 0.05),
            (c.fitted.offchip_bytes_per_cycle, 1.5),
        ] {
            assert!(
                (got / want - 1.0).abs() < 0.05,
                "{got} vs {want}: {:?}",
                c.fitted
            );
        }
        assert_eq!(c.fitted.mac_block, truth.mac_block);
        assert_eq!(c.fitted.name, "fitted");
        // Deterministic: the same records give the same target.
        let again = calibrate(&records, "cfg", &base, "fitted", 500_000_000).unwrap();
        assert_eq!(again.fitted, c.fitted);
        // The YAML parses back to the fitted target.
        let yaml = target_yaml(&c, std::path::Path::new("data/cost"));
        assert_eq!(Target::from_yaml(&yaml).unwrap(), c.fitted);
    }

    #[test]
    fn the_search_vector_starts_with_the_mac_utilizations() {
        let names = MAC_UTILIZATIONS.map(|i| Utilization::NAMES[i]);
        assert_eq!(names, ["conv", "depthwise", "fully_connected"]);
        let t = Target::preset("npu-u55-256").unwrap();
        assert_eq!(apply(&t, &vector(&t)), t);
    }

    #[test]
    fn records_without_work_or_vela_are_an_error() {
        let truth = Target::preset("npu-256").unwrap();
        let mut records: Vec<Record> = (1..20).map(|k| record(k, "cfg", &truth)).collect();
        for r in &mut records {
            r.npu_work = None;
        }
        let err = calibrate(&records, "cfg", &truth, "x", 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--labels npu,vela"), "{err}");
    }
}
