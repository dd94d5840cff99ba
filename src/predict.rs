//! `nnopt predict`: the learned cost model's figures for a model on a device, in total and
//! per operator.
//!
//! The predictor learned int8 TFLite graphs as nnopt reads them back, so a model is
//! brought to that form first: an int8 TFLite file is read as it is; any other model is
//! optimized, quantized to int8 (on random calibration inputs, as the dataset's networks
//! were), exported as TFLite and read back.

use crate::calibration::{quantize, CalibrationArgs};
use crate::ModelFormat;
use nnopt_compiler::ir::Graph;
use nnopt_compiler::pass::RunOptions;
use nnopt_compiler::{Error, Result};
use nnopt_costmodel::device::{Device, Figure};
use nnopt_costmodel::features::{features, GraphFeatures};
use nnopt_costmodel::predictor::Predictor;
use nnopt_passes::quantize_int8::is_quantized;
use serde::Serialize;
use std::path::Path;

/// The model file shipped with nnopt (`costmodel/models/perfsage.safetensors`; see the
/// README for the command that trains it).
pub const SHIPPED_MODEL: &[u8] = include_bytes!("../costmodel/models/perfsage.safetensors");

/// The shipped predictor.
pub fn shipped_predictor() -> Result<Predictor> {
    Predictor::from_bytes(SHIPPED_MODEL)
}

/// The predictor in the model file `path` (from `nnopt costmodel train`), or the shipped
/// one.
pub fn load_predictor(path: Option<&Path>) -> Result<Predictor> {
    let Some(path) = path else {
        return shipped_predictor();
    };
    let bytes =
        std::fs::read(path).map_err(|e| Error::new(format!("cannot read: {e}")).in_file(path))?;
    Predictor::from_bytes(&bytes).map_err(|e| e.in_file(path))
}

/// The predicted figures of one network on one device (absent where the predictor has no
/// such figure for the device).
#[derive(Clone, Debug, Serialize)]
pub struct Prediction {
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycles: Option<f64>,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sram_bytes: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub off_chip_bytes: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_uj: Option<f64>,
    pub layers: Vec<LayerPrediction>,
}

/// One operator's share.
#[derive(Clone, Debug, Serialize)]
pub struct LayerPrediction {
    pub name: String,
    pub op: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycles: Option<f64>,
    pub latency_ms: f64,
    /// Of the network's latency.
    pub percent: f64,
}

/// A model in the form the predictor learned: int8 TFLite (when the exporter can write
/// the graph) and the features of the graph read back from it.
pub struct Int8Form {
    pub tflite: Option<Vec<u8>>,
    pub features: GraphFeatures,
}

/// The int8 form of the model `g` read from `path` (see the module comment).
pub fn int8_form(path: &Path, g: &Graph) -> Result<Int8Form> {
    let quantized = is_quantized(g);
    if quantized && ModelFormat::from_path(path) == Some(ModelFormat::Tflite) {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::new(format!("cannot read: {e}")).in_file(path))?;
        return Ok(Int8Form {
            tflite: Some(bytes),
            features: features(g)?,
        });
    }
    let mut g = g.clone();
    if !quantized {
        crate::optimize(&mut g, None, &RunOptions::default())?;
    }
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    quantized_form(&g, &name)
}

/// The int8 form of the optimized graph `g` as it is (a float graph is quantized, not
/// optimized again).
pub fn quantized_form(g: &Graph, name: &str) -> Result<Int8Form> {
    let mut g = g.clone();
    if !is_quantized(&g) {
        quantize(&mut g, &CalibrationArgs::default())?;
    }
    let exported = crate::export(&g, ModelFormat::Tflite).and_then(|bytes| {
        let back = nnopt_formats::tflite::import_tflite_bytes(&bytes, name)?;
        Ok((bytes, back))
    });
    Ok(match exported {
        Ok((bytes, back)) => Int8Form {
            tflite: Some(bytes),
            features: features(&back)?,
        },
        // Graphs the TFLite exporter cannot write are priced as quantized in memory.
        Err(_) => Int8Form {
            tflite: None,
            features: features(&g)?,
        },
    })
}

/// What `predictor` predicts for the network `graph` on `device`.
pub fn predict(
    predictor: &Predictor,
    graph: &GraphFeatures,
    device: &Device,
) -> Result<Prediction> {
    let estimate = predictor.predict(&[graph])?.remove(0);
    let output = |figure: Figure| {
        device
            .target(figure)
            .and_then(|t| predictor.target_index(&t))
    };
    let cost = output(Figure::Cycles)
        .or_else(|| output(Figure::LatencyMs))
        .ok_or_else(|| {
            Error::new(format!(
                "the cost model has not learned '{}' (it has {}); train one on a dataset \
                 with those labels (`nnopt costmodel train`) and pass it with --model",
                device.cost_target(),
                predictor.targets().join(", ")
            ))
        })?;
    let cycles = output(Figure::Cycles).is_some();
    let to_ms = |v: f64| match (cycles, device.clock_hz) {
        (true, Some(hz)) => v / hz * 1e3,
        _ => v,
    };
    let total = estimate.totals[cost];
    let figure = |f: Figure| output(f).map(|k| estimate.totals[k]);
    let layers = graph
        .nodes
        .iter()
        .zip(&estimate.layers)
        .map(|(n, l)| LayerPrediction {
            name: n.name.clone(),
            op: n.op.clone(),
            cycles: cycles.then_some(l[cost]),
            latency_ms: to_ms(l[cost]),
            percent: 100.0 * l[cost] / total,
        })
        .collect();
    Ok(Prediction {
        target: device.name.to_string(),
        cycles: cycles.then_some(total),
        latency_ms: to_ms(total),
        sram_bytes: figure(Figure::SramBytes),
        off_chip_bytes: figure(Figure::OffChipBytes),
        energy_uj: figure(Figure::EnergyMicrojoules),
        layers,
    })
}
