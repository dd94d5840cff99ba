//! What a plan costs in encoded bytes: the int8 model it quantizes to, that model's
//! exact encoded weight bytes (from a compile, the figure the budget is on), and quick
//! per-layer estimates from the real codec alone.

use crate::grid::codes;
use crate::layers::Layer;
use crate::plan::{weights, Plan};
use nnopt_backends::npu::compress::{compress_kind, Kind};
use nnopt_compiler::ir::{Graph, Tensor};
use nnopt_compiler::{Error, Result};
use nnopt_passes::quantize_int8::WeightGrid;
use nnopt_passes::{quantize_int8, Calibration, QuantizeOptions};
use nnopt_train::data::Dataset;
use nnopt_train::TrainingProgram;
use std::collections::BTreeMap;

/// Compiles an int8 graph for the NPU and gives its weight blocks: the layer each
/// belongs to and its encoded bytes (weights, biases, requantization records), as
/// `nnopt compile --json` lists them.
pub type SizeOracle<'a> = dyn Fn(&Graph) -> Result<Vec<(String, usize)>> + Sync + 'a;

/// A model's encoded weight bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// `weight_encoded_bytes`: every weight block.
    pub total: usize,
    /// The block of each compressible layer (0 for a layer with none, e.g. run on the
    /// CPU).
    pub per_layer: Vec<usize>,
}

/// The encoded bytes of the int8 graph `g` (quantized from the program's forward graph)
/// by `oracle`, split by layer.
pub fn encoded(oracle: &SizeOracle, g: &Graph, layers: &[Layer]) -> Result<Encoded> {
    let blocks = oracle(g)?;
    let per_layer = layers
        .iter()
        .map(|l| {
            // The quantizer renames a node whose output is a graph output.
            let name = &g.node(l.index).name;
            blocks
                .iter()
                .filter(|(block, _)| block == name)
                .map(|(_, b)| b)
                .sum()
        })
        .collect();
    Ok(Encoded {
        total: blocks.iter().map(|(_, b)| b).sum(),
        per_layer,
    })
}

/// Bytes of layer `l`'s weights alone under `plan`, by the codec (its channel
/// overhead, biases and requantization records, left out).
pub fn weight_bytes(plan: &Plan, layers: &[Layer], params: &[Tensor], l: usize) -> Result<usize> {
    let layer = &layers[l];
    let w: Vec<f32> = weights(params, layer)?
        .into_iter()
        .zip(&plan.keep[l])
        .map(|(v, &k)| if k { v } else { 0.0 })
        .collect();
    let bytes: Vec<u8> = codes(&w, layer.layout, plan.bits[l], plan.power_of_two_scales[l])
        .into_iter()
        .map(|c| c as u8)
        .collect();
    Ok(compress_kind(&bytes, Kind::Int8).len())
}

/// Quantizes plans to int8 graphs with activation ranges from real samples.
pub struct Quantizer {
    calibration: Calibration,
}

/// Calibration samples taken from the training rows.
const CALIBRATION_SAMPLES: usize = 64;

impl Quantizer {
    /// Calibration on up to 64 training rows of `data`, evenly spaced.
    pub fn new(program: &TrainingProgram, data: &Dataset) -> Result<Self> {
        let g = &program.forward;
        let input = g
            .inputs()
            .first()
            .map(|&n| g.node(n).outputs[0].ty.shape.clone())
            .ok_or_else(|| Error::new("the model has no input"))?;
        let rows = &data.train_rows;
        let step = rows.len().div_ceil(CALIBRATION_SAMPLES).max(1);
        let samples = rows
            .iter()
            .step_by(step)
            .map(|&r| Ok(vec![data.samples.batch(&[r], &input)?.0]))
            .collect::<Result<Vec<_>>>()?;
        Ok(Quantizer {
            calibration: Calibration::new(samples),
        })
    }

    /// The int8 model of `params` under `plan`: pruned weights zero, each layer's
    /// weights on its grid.
    pub fn quantize(
        &self,
        program: &TrainingProgram,
        layers: &[Layer],
        params: &[Tensor],
        plan: &Plan,
    ) -> Result<Graph> {
        let mut g = program.forward_with(&plan.masked(layers, params)?)?;
        let opts = QuantizeOptions {
            weight_grids: layers
                .iter()
                .enumerate()
                .map(|(l, layer)| (layer.node.clone(), plan.grid(l)))
                .filter(|(_, g)| *g != WeightGrid::default())
                .collect::<BTreeMap<_, _>>(),
            ..QuantizeOptions::default()
        };
        quantize_int8(&mut g, &self.calibration, &opts)?;
        Ok(g)
    }
}
