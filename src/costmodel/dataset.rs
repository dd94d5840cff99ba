//! `nnopt costmodel dataset`: random networks from the search spaces, exported as int8
//! TFLite by nnopt's exporter and labelled.
//!
//! A dataset directory holds, per network `SPACE_SEED`, the model `SPACE_SEED.tflite`
//! (unless made with `--drop-models`) and its record `SPACE_SEED.json` ([`Record`]: the
//! graph features and the labels), and `manifest.json` ([`Manifest`]). Networks
//! whose record already holds the requested labels are skipped, and only the missing
//! labels of the others are computed, so an interrupted run resumes where it stopped and
//! new labels (another Vela configuration, LiteRT latency) can be added later; every network depends only on its space and seed, so runs
//! on any number of threads give the same files.

use super::litert::{self, LitertLabel};
use super::vela::{self, VelaLabel};
use crate::calibration::CalibrationArgs;
use crate::compile::{NpuOptions, Precision};
use crate::output::write_atomically;
use nnopt_backends::npu::perf::{price, CommandWork};
use nnopt_backends::npu::target::{Target, DEFAULT_PRESET, PRESETS};
use nnopt_compiler::pass::RunOptions;
use nnopt_compiler::{Error, Result};
use nnopt_costmodel::features::{features, GraphFeatures};
use nnopt_costmodel::space::{sample, Space};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The version of the record and manifest format.
pub const FORMAT: u32 = 3;

/// What to generate.
#[derive(Clone, Debug)]
pub struct DatasetOptions {
    pub spaces: Vec<Space>,
    /// Networks per space.
    pub count: usize,
    /// Seed of the first network of each space; the others follow.
    pub first_seed: u64,
    /// Label with nnopt's NPU estimate for every preset.
    pub npu: bool,
    /// Label with Vela (this executable) for these accelerator configurations.
    pub vela: Option<(PathBuf, Vec<String>)>,
    /// Measure LiteRT's latency with this Python interpreter, this many timed runs.
    pub litert: Option<(PathBuf, usize)>,
    /// Keep the `.tflite` files (records hold the graph features either way).
    pub keep_models: bool,
}

/// nnopt's estimate for one preset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NpuLabel {
    pub cycles: u64,
    pub cpu_cycles: u64,
    pub time_ms: f64,
    pub energy_uj: f64,
    pub arena_bytes: usize,
    pub dma_bytes: u64,
    pub encoded_weight_bytes: usize,
    /// Per command of the schedule: name, kind and cycles.
    pub layers: Vec<LayerLabel>,
}

/// What nnopt's NPU compile of a network does, independent of the target: every
/// preset's estimate is [`price`] of it, and `nnopt costmodel calibrate` fits targets to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NpuWork {
    pub arena_bytes: u64,
    pub encoded_weight_bytes: usize,
    pub commands: Vec<CommandWork>,
}

/// One command's estimate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerLabel {
    pub name: String,
    pub kind: String,
    pub cycles: u64,
}

/// Everything known about one network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub format: u32,
    pub name: String,
    pub space: String,
    pub seed: u64,
    /// The model file, relative to the dataset directory (deleted after labelling when
    /// the dataset was made with `--drop-models`).
    pub file: String,
    pub file_bytes: usize,
    /// Of the int8 graph as read back from the file.
    pub nodes: usize,
    pub parameters: usize,
    pub macs: u64,
    pub ops: BTreeMap<String, usize>,
    /// The operators and tensors, as the cost model reads them.
    pub graph: GraphFeatures,
    /// By preset (`npu-128`, `npu-256`, `npu-512`).
    #[serde(default)]
    pub npu: BTreeMap<String, NpuLabel>,
    /// The NPU work that the `npu` labels price (absent in records made before it was
    /// recorded, or in a form an older version wrote: `--labels npu` makes it again).
    #[serde(
        default,
        deserialize_with = "lenient_work",
        skip_serializing_if = "Option::is_none"
    )]
    pub npu_work: Option<NpuWork>,
    /// By accelerator configuration (`ethos-u55-256`, ...).
    #[serde(default)]
    pub vela: BTreeMap<String, VelaLabel>,
    /// LiteRT's measured latency on the machine that made the dataset.
    #[serde(default)]
    pub litert: Option<LitertLabel>,
}

/// `manifest.json`: what the directory holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// Network names (each has NAME.json, and NAME.tflite unless dropped), sorted.
    pub networks: Vec<String>,
    /// Networks per space.
    pub spaces: BTreeMap<String, usize>,
    /// Labelled networks per label kind (`npu:npu-256`, `vela:ethos-u55-256`, ...).
    pub labels: BTreeMap<String, usize>,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    pub generated: usize,
    pub skipped: usize,
    /// Networks that failed, with the reason.
    pub failures: Vec<(String, String)>,
    pub manifest: Option<Manifest>,
}

/// Generates (or completes) the dataset in `dir`; `progress` is called after each
/// network. Failures of single networks are collected, not fatal.
pub fn generate(
    dir: &Path,
    opts: &DatasetOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RunSummary> {
    if let Some((exe, _)) = &opts.vela {
        vela::version(exe)?;
    }
    if let Some((python, _)) = &opts.litert {
        litert::check(python)?;
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::new(format!("cannot create the dataset directory: {e}")).in_file(dir)
    })?;
    // Seed-major, so that an interrupted run has as many networks of every space.
    let jobs: Vec<(Space, u64)> = (0..opts.count as u64)
        .flat_map(|k| opts.spaces.iter().map(move |&s| (s, opts.first_seed + k)))
        .collect();
    // A few networks per thread at a time, in seed order: an interrupted run leaves the
    // first seeds of every space done, not ranges scattered by rayon's splits.
    let wave = 4 * rayon::current_num_threads();
    let mut outcomes: Vec<(String, Result<bool>)> = Vec::with_capacity(jobs.len());
    for chunk in jobs.chunks(wave) {
        outcomes.par_extend(chunk.par_iter().map(|&(space, seed)| {
            let name = format!("{space}_{seed}");
            let outcome = network(dir, space, seed, opts);
            progress(&name);
            (name, outcome)
        }));
    }
    let mut summary = RunSummary::default();
    for (name, outcome) in outcomes {
        match outcome {
            Ok(true) => summary.generated += 1,
            Ok(false) => summary.skipped += 1,
            Err(e) => summary.failures.push((name, e.to_string())),
        }
    }
    let manifest = manifest(dir)?;
    write_atomically(
        &dir.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)
            .expect("the manifest serializes")
            .as_bytes(),
    )?;
    summary.manifest = Some(manifest);
    Ok(summary)
}

/// Makes and labels one network unless its record has the requested labels; whether it
/// did work.
fn network(dir: &Path, space: Space, seed: u64, opts: &DatasetOptions) -> Result<bool> {
    let name = format!("{space}_{seed}");
    let record_path = dir.join(format!("{name}.json"));
    let model_path = dir.join(format!("{name}.tflite"));
    let mut previous = read_record(&record_path)?.filter(|r| r.format == FORMAT);
    if let Some(r) = &mut previous {
        // Presets added since the record was made are priced from its recorded work,
        // without rebuilding the network.
        let priced = opts.npu && price_presets(r)?;
        if (model_path.exists() || !opts.keep_models) && has_labels(r, opts) {
            if priced {
                let json = serde_json::to_string(r).expect("records serialize");
                write_atomically(&record_path, json.as_bytes())?;
            }
            return Ok(priced);
        }
    }
    let bytes = int8_tflite(space, seed).map_err(|e| e.in_node(&name))?;
    write_atomically(&model_path, &bytes)?;
    let g = nnopt_formats::tflite::import_tflite_bytes(&bytes, &name)
        .map_err(|e| e.in_file(&model_path))?;
    let summary = crate::summary::summarize(&g);
    let graph = features(&g).map_err(|e| e.in_file(&model_path))?;
    // Labels already recorded are kept, and only the missing ones computed, unless the
    // network is no longer the one they describe (a newer exporter writes it otherwise).
    let (npu, recorded_work, vela, litert) = previous
        .filter(|r| r.graph == graph && r.file_bytes == bytes.len())
        .map(|r| (r.npu, r.npu_work, r.vela, r.litert))
        .unwrap_or_default();
    let mut record = Record {
        format: FORMAT,
        name: name.clone(),
        space: space.name().to_string(),
        seed,
        file: format!("{name}.tflite"),
        file_bytes: bytes.len(),
        nodes: summary.nodes,
        parameters: summary.parameters,
        macs: summary.macs,
        ops: summary.ops,
        graph,
        npu,
        npu_work: recorded_work,
        vela,
        litert,
    };
    if opts.npu {
        if record.npu_work.is_none() {
            record.npu_work = Some(npu_work(&g).map_err(|e| e.in_node(&name))?);
        }
        price_presets(&mut record)?;
    }
    if let Some((exe, configs)) = &opts.vela {
        let scratch = dir.join(".scratch");
        std::fs::create_dir_all(&scratch)
            .map_err(|e| Error::new(format!("cannot create {}: {e}", scratch.display())))?;
        for config in configs {
            if !record.vela.contains_key(config) {
                let label = vela::label(exe, &model_path, config, &scratch)?;
                record.vela.insert(config.clone(), label);
            }
        }
    }
    if let Some((python, runs)) = &opts.litert {
        if record.litert.is_none() {
            record.litert = Some(litert::label(python, &model_path, *runs)?);
        }
    }
    let json = serde_json::to_string(&record).expect("records serialize");
    write_atomically(&record_path, json.as_bytes())?;
    if !opts.keep_models {
        std::fs::remove_file(&model_path)
            .map_err(|e| Error::new(format!("cannot remove: {e}")).in_file(&model_path))?;
    }
    Ok(true)
}

/// Adds the estimate of every preset `r` lacks, priced from its recorded NPU work; whether
/// it added any.
fn price_presets(r: &mut Record) -> Result<bool> {
    let Some(work) = &r.npu_work else {
        return Ok(false);
    };
    let mut added = false;
    for (preset, _) in PRESETS {
        if !r.npu.contains_key(*preset) {
            let label = npu_label(work, &Target::preset(preset)?);
            r.npu.insert(preset.to_string(), label);
            added = true;
        }
    }
    Ok(added)
}

/// Whether `r` holds every label `opts` asks for.
fn has_labels(r: &Record, opts: &DatasetOptions) -> bool {
    let npu =
        !opts.npu || (r.npu_work.is_some() && PRESETS.iter().all(|(p, _)| r.npu.contains_key(*p)));
    let vela = opts
        .vela
        .as_ref()
        .is_none_or(|(_, configs)| configs.iter().all(|c| r.vela.contains_key(c)));
    let litert = opts.litert.is_none() || r.litert.is_some();
    r.format == FORMAT && npu && vela && litert
}

/// The record at `path`: `None` when there is none, an error when it cannot be read (a
/// damaged record is not overwritten, so its labels are never lost silently).
fn read_record(path: &Path) -> Result<Option<Record>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::new(format!("cannot read: {e}")).in_file(path)),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Error::new(format!(
            "not a dataset record ({e}); move it away to make the network again"
        ))
        .in_file(path)
    })
}

/// Recorded NPU work in a form this version reads, else none (it is made again).
fn lenient_work<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<NpuWork>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

/// Network `seed` of `space`, optimized, quantized to int8 (random calibration inputs)
/// and exported as TFLite.
pub fn int8_tflite(space: Space, seed: u64) -> Result<Vec<u8>> {
    let mut g = sample(space, seed)?;
    crate::optimize(&mut g, None, &RunOptions::default())?;
    let report = crate::calibration::quantize(&mut g, &CalibrationArgs::default())?;
    if let Some(f) = report.float_nodes.first() {
        return Err(Error::new(format!(
            "{} of {} ops stay float after int8 quantization, e.g. {} ({}): {}",
            report.float_nodes.len(),
            report.float_nodes.len() + report.int8_nodes,
            f.node,
            f.op,
            f.reason
        )));
    }
    crate::export(&g, crate::ModelFormat::Tflite)
}

/// What nnopt's NPU compile of the int8 graph `g` does.
pub fn npu_work(g: &nnopt_compiler::ir::Graph) -> Result<NpuWork> {
    let opts = NpuOptions {
        target: Target::preset(DEFAULT_PRESET)?,
        precision: Precision::Int8,
        cpu_fallback: true,
        calibration: CalibrationArgs::default(),
        pipeline: None,
    };
    let c = crate::compile(g.clone(), &opts)?;
    Ok(NpuWork {
        arena_bytes: c.lowering.arena_bytes as u64,
        encoded_weight_bytes: c.weight_totals().1,
        commands: c.work,
    })
}

/// nnopt's NPU estimate on `target` of a network doing `work`.
pub fn npu_label(work: &NpuWork, target: &Target) -> NpuLabel {
    let e = price(&work.commands, target, work.arena_bytes);
    NpuLabel {
        cycles: e.npu_cycles,
        cpu_cycles: e.cpu_cycles,
        time_ms: e.npu_time_ms,
        energy_uj: e.energy_uj,
        arena_bytes: work.arena_bytes as usize,
        dma_bytes: e.dma_bytes,
        encoded_weight_bytes: work.encoded_weight_bytes,
        layers: e
            .commands
            .into_iter()
            .map(|l| LayerLabel {
                name: l.name,
                kind: l.kind,
                cycles: l.cycles,
            })
            .collect(),
    }
}

/// The manifest of what `dir` holds now.
pub fn manifest(dir: &Path) -> Result<Manifest> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::new(format!("cannot list the dataset: {e}")).in_file(dir))?;
    let mut records: Vec<Record> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_name().is_some_and(|n| n != "manifest.json")
        })
        .filter_map(|p| read_record(&p).transpose())
        .collect::<Result<Vec<Record>>>()?
        .into_iter()
        .collect();
    records.sort_by(|a, b| (&a.space, a.seed).cmp(&(&b.space, b.seed)));
    let mut spaces = BTreeMap::new();
    let mut labels = BTreeMap::new();
    for r in &records {
        *spaces.entry(r.space.clone()).or_insert(0) += 1;
        for k in r.npu.keys() {
            *labels.entry(format!("npu:{k}")).or_insert(0) += 1;
        }
        for k in r.vela.keys() {
            *labels.entry(format!("vela:{k}")).or_insert(0) += 1;
        }
        if r.litert.is_some() {
            *labels.entry("litert".to_string()).or_insert(0) += 1;
        }
    }
    Ok(Manifest {
        format: FORMAT,
        networks: records.into_iter().map(|r| r.name).collect(),
        spaces,
        labels,
    })
}

/// The default Vela configurations, as owned strings.
pub fn default_vela_configs() -> Vec<String> {
    vela::CONFIGS.iter().map(|c| c.to_string()).collect()
}
