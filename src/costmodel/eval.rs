//! `nnopt costmodel eval`: how well predictors match Vela's cycle estimates on the test
//! split of a dataset (a fixed fifth of the networks), per search space: mean absolute
//! percentage error (MAPE), the share of networks within ±10 % (nn-Meter's headline
//! metric), and the median ratio.

use super::baseline::{LinearBaseline, PerOpBaseline};
use super::dataset::{Manifest, Record};
use super::learned::{split_of, Split};
use nnopt_compiler::{Error, Result};
use nnopt_costmodel::predictor::Predictor;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The analytic NPU presets and the Vela configurations they are sized like.
pub const ANALYTIC_PAIRS: &[(&str, &str)] =
    &[("npu-128", "ethos-u55-128"), ("npu-256", "ethos-u55-256")];

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
    pub vela_config: String,
    /// `random 80/20` (the fixed test split) or `without SPACE` (trained on the other
    /// spaces).
    pub split: String,
    pub space: String,
    #[serde(flatten)]
    pub accuracy: Accuracy,
}

/// The records listed in `dir/manifest.json`.
pub fn load_records(dir: &Path) -> Result<Vec<Record>> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::new(format!(
            "cannot read the manifest ({e}): is this a dataset from `nnopt costmodel dataset`?"
        ))
        .in_file(&path)
    })?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| Error::new(format!("not a dataset manifest: {e}")).in_file(&path))?;
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
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % 5 == 0
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
        if let Some(&(preset, _)) = ANALYTIC_PAIRS.iter().find(|(_, c)| c == config) {
            let predict = |r: &Record| r.npu.get(preset).map(|n| n.cycles as f64);
            let name = format!("analytic {preset}");
            rows.extend(rows_for(&name, config, RANDOM_SPLIT, &test, &predict));
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
        let Some(config) = target
            .strip_prefix("vela:")
            .and_then(|rest| rest.strip_suffix(":cycles"))
        else {
            continue;
        };
        let labelled: Vec<(&Record, f64)> = held_out
            .iter()
            .filter_map(|&r| r.vela.get(config).map(|v| (r, v.cycles)))
            .filter(|&(_, c)| c > 0.0)
            .collect();
        let by_name: BTreeMap<&str, f64> = held_out
            .iter()
            .zip(&estimates)
            .map(|(r, e)| (r.name.as_str(), e.totals[t]))
            .collect();
        let predict = |r: &Record| by_name.get(r.name.as_str()).copied();
        let split_name = split.label();
        let rows_here = rows_for("GraphSAGE", config, &split_name, &labelled, &predict);
        rows.extend(
            rows_here
                .into_iter()
                .filter(|r| matches!(split, Split::Random) || r.space != "all"),
        );
    }
    Ok(rows)
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
            split,
            test,
            &predict,
        ));
    }
    let train_records: Vec<&Record> = train.iter().map(|&(r, _)| r).collect();
    if let Some(model) = PerOpBaseline::fit(&train_records, config) {
        let predict = |r: &Record| Some(model.predict(r));
        rows.extend(rows_for("per-op sum", config, split, test, &predict));
    }
    rows
}

/// Rows per space (and `all`) of one predictor on `test`.
fn rows_for(
    predictor: &str,
    config: &str,
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

/// The rows as a table.
pub fn render(rows: &[EvalRow]) -> String {
    let mut out = format!(
        "{:<22} {:<15} {:<17} {:<10} {:>8} {:>9} {:>10} {:>12}\n",
        "predictor",
        "vs Vela",
        "trained on",
        "space",
        "networks",
        "MAPE %",
        "±10 % (%)",
        "median ratio"
    );
    for r in rows {
        let a = &r.accuracy;
        let trained = if r.predictor.starts_with("analytic") {
            "-"
        } else {
            r.split.as_str()
        };
        out += &format!(
            "{:<22} {:<15} {:<17} {:<10} {:>8} {:>9.1} {:>10.1} {:>12.3}\n",
            r.predictor,
            r.vela_config,
            trained,
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
