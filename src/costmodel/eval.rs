//! `nnopt costmodel eval`: how well predictors match Vela's cycle estimates on the test
//! split of a dataset (a fixed fifth of the networks), per search space: mean absolute
//! percentage error (MAPE), the share of networks within ±10 % (nn-Meter's headline
//! metric), and the median ratio.

use super::baseline::{vela_cycles_by_node, LinearBaseline, PerOpBaseline};
use super::dataset::{Manifest, Record};
use super::learned::{label, parse_target, split_of, vela_cycles_config, Split};
use super::vela;
use nnopt_backends::npu::perf::price;
use nnopt_backends::npu::target::Target;
use nnopt_compiler::{Error, Result};
use nnopt_costmodel::predictor::Predictor;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The analytic NPU presets and the Vela configurations they are sized like (`npu-128`,
/// `npu-256`) or fitted to (`npu-u55-128`, ... by `nnopt costmodel calibrate`).
pub const ANALYTIC_PAIRS: &[(&str, &str)] = &[
    ("npu-128", "ethos-u55-128"),
    ("npu-256", "ethos-u55-256"),
    ("npu-u55-128", "ethos-u55-128"),
    ("npu-u55-256", "ethos-u55-256"),
    ("npu-u65-256", "ethos-u65-256"),
];

/// The analytic model's NPU cycles for `r` on `target`: its recorded NPU work priced on
/// the target, or, in records without it, the recorded estimate for the preset.
fn analytic_cycles(r: &Record, target: &Target) -> Option<f64> {
    match &r.npu_work {
        Some(w) => Some(price(&w.commands, target, w.arena_bytes).npu_cycles as f64),
        None => r.npu.get(&target.name).map(|n| n.cycles as f64),
    }
}

/// The analytic model's cycles and Vela's for each NPU command of `r` that Vela gives
/// nonzero cycles.
fn analytic_operator_cycles(r: &Record, config: &str, target: &Target) -> Option<Vec<Pair>> {
    let w = r.npu_work.as_ref()?;
    let vela = r.vela.get(config)?;
    let names: Vec<&str> = w.commands.iter().map(|c| c.name.as_str()).collect();
    let e = price(&w.commands, target, w.arena_bytes);
    Some(
        e.commands
            .iter()
            .zip(vela.cycles_by_name(&names))
            .filter(|&(_, v)| v > 0.0)
            .map(|(c, v)| (c.cycles as f64, v))
            .collect(),
    )
}

/// A predicted figure and its reference.
type Pair = (f64, f64);

/// Rows of per-operator accuracy (figure `operator_cycles`; `networks` counts operators)
/// per space of `test`, from each record's (predicted, Vela) operator cycles.
fn operator_rows(
    predictor: &str,
    config: &str,
    split: &str,
    test: &[(&Record, f64)],
    per_operator: &dyn Fn(&Record) -> Option<Vec<Pair>>,
) -> Vec<EvalRow> {
    let mut by_space: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for &(r, _) in test {
        if let Some(pairs) = per_operator(r) {
            by_space.entry(r.space.clone()).or_default().extend(&pairs);
            by_space.entry("all".into()).or_default().extend(pairs);
        }
    }
    by_space
        .into_iter()
        .filter(|(_, pairs)| !pairs.is_empty())
        .map(|(space, pairs)| EvalRow {
            predictor: predictor.to_string(),
            vela_config: config.to_string(),
            figure: "operator_cycles".to_string(),
            split: split.to_string(),
            space,
            accuracy: accuracy(&pairs),
        })
        .collect()
}

/// Errors of one predictor against one Vela configuration over some networks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Accuracy {
    pub networks: usize,
    /// Mean of `|predicted - vela| / vela`, in percent.
    pub mape_percent: f64,
    /// Share of networks with `|predicted - vela| <= 10 % of vela`, in percent.
    pub within_10_percent: f64,
    /// Median of `predicted / vela`.
    pub median_ratio: f64,
}

/// One row of the evaluation: a predictor, a Vela configuration, a space (or `all`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalRow {
    pub predictor: String,
    /// The reference: a Vela configuration, or `litert-builtin` / `litert-xnnpack`.
    pub vela_config: String,
    /// Vela's figure: `cycles`, `sram_bytes`, or `operator_cycles` (per operator: the
    /// accuracy then counts operators, not networks).
    pub figure: String,
    /// `random 80/20` (the fixed test split) or `without SPACE` (trained on the other
    /// spaces).
    pub split: String,
    pub space: String,
    #[serde(flatten)]
    pub accuracy: Accuracy,
}

/// The records listed in `dir/manifest.json`, or, while a dataset is still being made
/// (no manifest yet), every record in `dir`.
pub fn load_records(dir: &Path) -> Result<Vec<Record>> {
    let path = dir.join("manifest.json");
    let manifest: Manifest = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| Error::new(format!("not a dataset manifest: {e}")).in_file(&path))?,
        Err(_) if dir.is_dir() => super::dataset::manifest(dir)?,
        Err(e) => {
            return Err(Error::new(format!(
                "cannot read the manifest ({e}): is this a dataset from `nnopt costmodel \
                 dataset`?"
            ))
            .in_file(&path))
        }
    };
    manifest
        .networks
        .iter()
        .map(|name| {
            let p = dir.join(format!("{name}.json"));
            let text = std::fs::read_to_string(&p)
                .map_err(|e| Error::new(format!("cannot read: {e}")).in_file(&p))?;
            serde_json::from_str(&text)
                .map_err(|e| Error::new(format!("not a dataset record: {e}")).in_file(&p))
        })
        .collect()
}

/// Whether a network is in the test split: a fixed fifth of the names (by an FNV-1a hash),
/// the same in every run and for every dataset holding the network.
pub fn in_test_split(name: &str) -> bool {
    fnv1a(name).is_multiple_of(5)
}

/// The 64-bit FNV-1a hash of `name`: the fixed, portable split of networks.
pub fn fnv1a(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The predictors against Vela's cycles, per Vela configuration in the records: on the
/// test split per space (the analytic NPU model, its preset sized like the configuration,
/// see [`ANALYTIC_PAIRS`]; the linear and per-operator baselines fitted on the training
/// split), then each baseline fitted on all spaces but one and scored on that one
/// (leave one space out).
pub fn evaluate(records: &[Record]) -> Vec<EvalRow> {
    let configs: std::collections::BTreeSet<&String> =
        records.iter().flat_map(|r| r.vela.keys()).collect();
    let mut rows = Vec::new();
    for config in configs {
        let labelled: Vec<(&Record, f64)> = records
            .iter()
            .filter_map(|r| r.vela.get(config).map(|v| (r, v.cycles)))
            .filter(|&(_, t)| t > 0.0)
            .collect();
        let (test, train): (Vec<_>, Vec<_>) =
            labelled.iter().partition(|(r, _)| in_test_split(&r.name));
        for &(preset, _) in ANALYTIC_PAIRS.iter().filter(|(_, c)| c == config) {
            let target = Target::preset(preset).expect("the analytic pairs name presets");
            let predict = |r: &Record| analytic_cycles(r, &target);
            let name = format!("analytic {preset}");
            rows.extend(rows_for(
                &name,
                config,
                "cycles",
                RANDOM_SPLIT,
                &test,
                &predict,
            ));
            let sram: Vec<(&Record, f64)> = test
                .iter()
                .filter_map(|&(r, _)| r.vela.get(config).map(|v| (r, v.sram_bytes)))
                .filter(|&(_, b)| b > 0.0)
                .collect();
            let arena = |r: &Record| {
                r.npu_work
                    .as_ref()
                    .map(|w| w.arena_bytes as f64)
                    .or_else(|| r.npu.get(preset).map(|n| n.arena_bytes as f64))
            };
            rows.extend(rows_for(
                &name,
                config,
                "sram_bytes",
                RANDOM_SPLIT,
                &sram,
                &arena,
            ));
            let per_operator = |r: &Record| analytic_operator_cycles(r, config, &target);
            rows.extend(operator_rows(
                &name,
                config,
                RANDOM_SPLIT,
                &test,
                &per_operator,
            ));
        }
        rows.extend(baselines(config, RANDOM_SPLIT, &train, &test));
        let spaces: std::collections::BTreeSet<&str> =
            labelled.iter().map(|(r, _)| r.space.as_str()).collect();
        for space in spaces {
            let (test, train): (Vec<_>, Vec<_>) =
                labelled.iter().partition(|(r, _)| r.space == space);
            let split = format!("without {space}");
            let scored = baselines(config, &split, &train, &test);
            rows.extend(scored.into_iter().filter(|r| r.space != "all"));
        }
    }
    rows.extend(latency_spread(records));
    rows
}

/// LiteRT's run-to-run spread on the test split, as a row a predictor can be read
/// against: its "error" is each network's interquartile range over its median latency.
fn latency_spread(records: &[Record]) -> Vec<EvalRow> {
    let mut rows = Vec::new();
    for kernels in ["builtin", "xnnpack"] {
        let latency = |r: &Record| r.litert.as_ref()?.with_kernels(kernels);
        let test: Vec<(&Record, f64)> = records
            .iter()
            .filter(|r| in_test_split(&r.name))
            .filter_map(|r| Some((r, latency(r)?.median_ms)))
            .filter(|&(_, median)| median > 0.0)
            .collect();
        let spread = |r: &Record| latency(r).map(|l| l.median_ms + l.iqr_ms);
        rows.extend(rows_for(
            "LiteRT spread (IQR)",
            &format!("litert-{kernels}"),
            "latency_ms",
            RANDOM_SPLIT,
            &test,
            &spread,
        ));
    }
    rows
}

/// The learned predictor `model` against Vela's cycles, on the networks its training held
/// out (per its metadata), for every Vela configuration it predicts.
pub fn learned_rows(records: &[Record], model: &Predictor) -> Result<Vec<EvalRow>> {
    let split = split_of(model).ok_or_else(|| {
        Error::new("the cost model does not say what it was trained on (no split in its metadata)")
    })?;
    let held_out: Vec<&Record> = records.iter().filter(|r| split.holds_out(r)).collect();
    let graphs: Vec<_> = held_out.iter().map(|r| &r.graph).collect();
    let estimates = model.predict(&graphs)?;
    let mut rows = Vec::new();
    for (t, target) in model.targets().iter().enumerate() {
        let (reference, figure) = match parse_target(target) {
            Some(("vela", config, figure @ ("cycles" | "sram_bytes"))) => {
                (config.to_string(), figure)
            }
            Some(("litert", kernels, figure @ "latency_ms")) => {
                (format!("litert-{kernels}"), figure)
            }
            _ => continue,
        };
        let config = reference.as_str();
        let labelled: Vec<(&Record, f64)> = held_out
            .iter()
            .filter_map(|&r| label(r, target).map(|v| (r, v)))
            .collect();
        let by_name: BTreeMap<&str, f64> = held_out
            .iter()
            .zip(&estimates)
            .map(|(r, e)| (r.name.as_str(), e.totals[t]))
            .collect();
        let predict = |r: &Record| by_name.get(r.name.as_str()).copied();
        let split_name = split.label();
        let rows_here = rows_for(
            model.info.shape.architecture.label(),
            config,
            figure,
            &split_name,
            &labelled,
            &predict,
        );
        rows.extend(
            rows_here
                .into_iter()
                .filter(|r| matches!(split, Split::Random) || r.space != "all"),
        );
        if figure == "cycles" && reference.starts_with("ethos-") && split == Split::Random {
            let by_name: BTreeMap<&str, &[Vec<f64>]> = held_out
                .iter()
                .zip(&estimates)
                .map(|(r, e)| (r.name.as_str(), e.layers.as_slice()))
                .collect();
            let per_operator = |r: &Record| {
                let layers = by_name.get(r.name.as_str())?;
                Some(
                    layers
                        .iter()
                        .zip(vela_cycles_by_node(r, config))
                        .filter(|&(_, v)| v > 0.0)
                        .map(|(p, v)| (p[t], v))
                        .collect(),
                )
            };
            rows.extend(operator_rows(
                model.info.shape.architecture.label(),
                config,
                &split_name,
                &labelled,
                &per_operator,
            ));
        }
    }
    Ok(rows)
}

/// What [`real_rows`] names its split.
pub const REAL_SPLIT: &str = "real networks";

/// Real networks (model files) never seen in training, priced by the learned predictor
/// `model` and by the analytic NPU model, against Vela (the executable `vela`, run in
/// `scratch`) on every configuration the predictor has learned cycles for: one row per
/// network and configuration (its error and ratio), and one over all of them; and the
/// networks that could not be priced, with the reason.
pub fn real_rows(
    files: &[PathBuf],
    model: &Predictor,
    vela_exe: &Path,
    scratch: &Path,
) -> Result<(Vec<EvalRow>, Vec<String>)> {
    let configs: Vec<String> = model
        .targets()
        .iter()
        .filter_map(|t| vela_cycles_config(t))
        .map(str::to_string)
        .collect();
    std::fs::create_dir_all(scratch)
        .map_err(|e| Error::new(format!("cannot create: {e}")).in_file(scratch))?;
    let mut results: BTreeMap<PredictorOn, Vec<Priced>> = BTreeMap::new();
    let mut skipped = Vec::new();
    for file in files {
        match price_real(file, model, &configs, vela_exe, scratch) {
            Ok(priced) => {
                for (key, entry) in priced {
                    results.entry(key).or_default().push(entry);
                }
            }
            Err(e) => skipped.push(e.to_string()),
        }
    }
    let mut rows = Vec::new();
    for ((predictor, config), list) in results {
        let row = |space: &str, pairs: &[(f64, f64)]| EvalRow {
            predictor: predictor.clone(),
            vela_config: config.clone(),
            figure: "cycles".into(),
            split: REAL_SPLIT.into(),
            space: space.to_string(),
            accuracy: accuracy(pairs),
        };
        for (network, p, t) in &list {
            rows.push(row(network, &[(*p, *t)]));
        }
        let all: Vec<(f64, f64)> = list.iter().map(|&(_, p, t)| (p, t)).collect();
        rows.push(row("all", &all));
    }
    Ok((rows, skipped))
}

/// A predictor and the Vela configuration it is scored against.
type PredictorOn = (String, String);

/// A network's name, its predicted cycles and Vela's.
type Priced = (String, f64, f64);

/// One real network's predicted and Vela cycles, by predictor and configuration.
fn price_real(
    file: &Path,
    model: &Predictor,
    configs: &[String],
    vela_exe: &Path,
    scratch: &Path,
) -> Result<Vec<(PredictorOn, Priced)>> {
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    // ONNX test models are all called model.onnx: name them by their directory.
    let name = match (name.as_str(), file.parent().and_then(|p| p.file_name())) {
        ("model", Some(dir)) => dir.to_string_lossy().to_string(),
        _ => name,
    };
    let g = crate::load_model(file)?;
    let form = crate::predict::int8_form(file, &g).map_err(|e| e.in_file(file))?;
    let bytes = form.tflite.ok_or_else(|| {
        Error::new("the TFLite exporter cannot write its int8 form, so Vela cannot read it")
            .in_file(file)
    })?;
    let tflite = scratch.join(format!("{name}.tflite"));
    crate::output::write_atomically(&tflite, &bytes)?;
    let estimate = model.predict(&[&form.features])?.remove(0);
    let int8 = nnopt_formats::tflite::import_tflite_bytes(&bytes, &name)?;
    let work = super::dataset::npu_work(&int8).map_err(|e| e.in_file(file))?;
    let mut out = Vec::new();
    for config in configs {
        let truth = vela::label(vela_exe, &tflite, config, scratch)
            .map_err(|e| e.in_file(file))?
            .cycles;
        let t = model
            .target_index(&format!("vela:{config}:cycles"))
            .expect("configs come from the targets");
        out.push((
            (
                model.info.shape.architecture.label().to_string(),
                config.clone(),
            ),
            (name.clone(), estimate.totals[t], truth),
        ));
        for &(preset, _) in ANALYTIC_PAIRS.iter().filter(|(_, c)| c == config) {
            let analytic = super::dataset::npu_label(&work, &Target::preset(preset)?);
            out.push((
                (format!("analytic {preset}"), config.clone()),
                (name.clone(), analytic.cycles as f64, truth),
            ));
        }
    }
    Ok(out)
}

/// The split that holds out a fixed fifth of the networks.
pub const RANDOM_SPLIT: &str = "random 80/20";

/// The baselines fitted on `train` and scored on `test`.
fn baselines(
    config: &str,
    split: &str,
    train: &[(&Record, f64)],
    test: &[(&Record, f64)],
) -> Vec<EvalRow> {
    let mut rows = Vec::new();
    if let Some(model) = LinearBaseline::fit(train) {
        let predict = |r: &Record| Some(model.predict(r));
        rows.extend(rows_for(
            "linear (MACs, bytes)",
            config,
            "cycles",
            split,
            test,
            &predict,
        ));
    }
    let train_records: Vec<&Record> = train.iter().map(|&(r, _)| r).collect();
    if let Some(model) = PerOpBaseline::fit(&train_records, config) {
        let predict = |r: &Record| Some(model.predict(r));
        rows.extend(rows_for(
            "per-op sum",
            config,
            "cycles",
            split,
            test,
            &predict,
        ));
    }
    rows
}

/// Rows per space (and `all`) of one predictor on `test`.
fn rows_for(
    predictor: &str,
    config: &str,
    figure: &str,
    split: &str,
    test: &[(&Record, f64)],
    predict: &dyn Fn(&Record) -> Option<f64>,
) -> Vec<EvalRow> {
    let mut by_space: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for &(r, truth) in test {
        if let Some(p) = predict(r) {
            by_space
                .entry(r.space.clone())
                .or_default()
                .push((p, truth));
            by_space.entry("all".into()).or_default().push((p, truth));
        }
    }
    by_space
        .into_iter()
        .map(|(space, pairs)| EvalRow {
            predictor: predictor.to_string(),
            vela_config: config.to_string(),
            figure: figure.to_string(),
            split: split.to_string(),
            space,
            accuracy: accuracy(&pairs),
        })
        .collect()
}

/// The accuracy of `(predicted, truth)` pairs (truth > 0).
pub fn accuracy(pairs: &[(f64, f64)]) -> Accuracy {
    let n = pairs.len().max(1) as f64;
    let errors: Vec<f64> = pairs.iter().map(|&(p, t)| (p - t).abs() / t).collect();
    let mut ratios: Vec<f64> = pairs.iter().map(|&(p, t)| p / t).collect();
    ratios.sort_by(f64::total_cmp);
    let median_ratio = match ratios.len() {
        0 => f64::NAN,
        k if k % 2 == 1 => ratios[k / 2],
        k => (ratios[k / 2 - 1] + ratios[k / 2]) / 2.0,
    };
    Accuracy {
        networks: pairs.len(),
        mape_percent: 100.0 * errors.iter().sum::<f64>() / n,
        within_10_percent: 100.0 * errors.iter().filter(|&&e| e <= 0.1).count() as f64 / n,
        median_ratio,
    }
}

/// The rows as a table. The split column says which networks are scored: `random 80/20`
/// the test fifth (the learned and fitted predictors trained on the rest), `without
/// SPACE` that space's networks (trained on the others), `real networks` model files.
pub fn render(rows: &[EvalRow]) -> String {
    let mut out = format!(
        "{:<22} {:<15} {:<10} {:<17} {:<26} {:>8} {:>9} {:>10} {:>12}\n",
        "predictor",
        "reference",
        "figure",
        "split",
        "space",
        "networks",
        "MAPE %",
        "±10 % (%)",
        "median ratio"
    );
    for r in rows {
        let a = &r.accuracy;
        out += &format!(
            "{:<22} {:<15} {:<10} {:<17} {:<26} {:>8} {:>9.1} {:>10.1} {:>12.3}\n",
            r.predictor,
            r.vela_config,
            r.figure,
            r.split,
            r.space,
            a.networks,
            a.mape_percent,
            a.within_10_percent,
            a.median_ratio
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::accuracy;

    #[test]
    fn accuracy_measures_mape_share_and_median() {
        let a = accuracy(&[(110.0, 100.0), (50.0, 100.0), (100.0, 100.0)]);
        assert_eq!(a.networks, 3);
        assert!((a.mape_percent - 20.0).abs() < 1e-9);
        assert!((a.within_10_percent - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(a.median_ratio, 1.0);
    }
}
