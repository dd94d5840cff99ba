//! A trained predictor and its file: a safetensors file whose weights are the GraphSAGE
//! model's and whose metadata (key `nnopt`) is a JSON [`ModelInfo`]: the targets, the
//! shape, the feature standardization and how the model was trained.

use crate::batch::Batch;
use crate::encode::{Standardizer, NODE_FEATURES};
use crate::features::GraphFeatures;
use crate::sage::{Sage, SageShape};
use candle_core::{Device, Tensor};
use nnopt_compiler::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The version of the model file format.
pub const MODEL_FORMAT: u32 = 1;

/// The metadata key holding [`ModelInfo`].
const INFO_KEY: &str = "nnopt";

/// What a model file says about itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub format: u32,
    pub shape: SageShape,
    /// The length of the node feature vectors the model reads.
    pub node_features: usize,
    pub standardizer: Standardizer,
    /// How it was trained (dataset, options, losses): free-form, for people.
    pub training: serde_json::Value,
}

/// A trained predictor.
pub struct Predictor {
    pub info: ModelInfo,
    sage: Sage,
}

/// One network's predicted figures: per target, the total and each operator's share (in
/// the order of [`GraphFeatures::nodes`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub totals: Vec<f64>,
    /// `layers[node][target]`.
    pub layers: Vec<Vec<f64>>,
}

/// A candle error as an nnopt error.
pub fn candle_error(e: candle_core::Error) -> Error {
    Error::new(format!("cost model: {e}"))
}

impl Predictor {
    pub fn new(info: ModelInfo, sage: Sage) -> Predictor {
        Predictor { info, sage }
    }

    /// What the outputs predict, in order.
    pub fn targets(&self) -> &[String] {
        &self.info.shape.targets
    }

    /// The position of `target` among the outputs.
    pub fn target_index(&self, target: &str) -> Option<usize> {
        self.targets().iter().position(|t| t == target)
    }

    /// The model file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let info = serde_json::to_string(&self.info).expect("model info serializes");
        let metadata = HashMap::from([(INFO_KEY.to_string(), info)]);
        safetensors::serialize(self.sage.tensors(), Some(metadata))
            .map_err(|e| Error::new(format!("cannot write the cost model: {e}")))
    }

    /// A predictor from a model file's bytes, checked for consistency.
    pub fn from_bytes(bytes: &[u8]) -> Result<Predictor> {
        let bad = |why: String| Error::new(format!("not an nnopt cost model: {why}"));
        let (_, metadata) =
            safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let info_text = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get(INFO_KEY))
            .ok_or_else(|| bad(format!("no '{INFO_KEY}' metadata")))?;
        let info: ModelInfo =
            serde_json::from_str(info_text).map_err(|e| bad(format!("metadata: {e}")))?;
        if info.format != MODEL_FORMAT {
            return Err(bad(format!(
                "format {} (this nnopt reads format {MODEL_FORMAT})",
                info.format
            )));
        }
        if info.node_features != NODE_FEATURES
            || info.standardizer.mean.len() != NODE_FEATURES
            || info.standardizer.std.len() != NODE_FEATURES
        {
            return Err(bad(format!(
                "made for {} node features, this nnopt has {NODE_FEATURES}",
                info.node_features
            )));
        }
        if info.shape.layers > 16 || info.shape.hidden > 4096 || info.shape.targets.is_empty() {
            return Err(bad(format!("implausible shape {:?}", info.shape)));
        }
        let tensors: BTreeMap<String, Tensor> =
            candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
                .map_err(|e| bad(e.to_string()))?
                .into_iter()
                .collect();
        let sage =
            Sage::from_tensors(info.shape.clone(), tensors).map_err(|e| bad(e.to_string()))?;
        Ok(Predictor { info, sage })
    }

    /// The estimates for `graphs`, computed in batches on the calling thread.
    pub fn predict(&self, graphs: &[&GraphFeatures]) -> Result<Vec<Estimate>> {
        crate::single_threaded_products();
        // Figures a device's configuration caps (Ethos-U65's SRAM) are capped.
        let caps: Vec<Option<f64>> = self
            .targets()
            .iter()
            .map(|t| crate::device::Device::cap_of(t))
            .collect();
        let mut out = Vec::with_capacity(graphs.len());
        for chunk in graphs.chunks(64) {
            if chunk.iter().any(|g| g.nodes.is_empty()) {
                return Err(Error::new("the cost model needs at least one operator"));
            }
            let encoded: Vec<_> = chunk
                .iter()
                .map(|g| self.info.standardizer.encode(g))
                .collect();
            let refs: Vec<_> = encoded.iter().collect();
            let batch = Batch::new(&refs, &Device::Cpu).map_err(candle_error)?;
            let p = self.sage.forward(&batch).map_err(candle_error)?;
            let totals = p.graphs.to_vec2::<f32>().map_err(candle_error)?;
            let nodes = p.nodes.to_vec2::<f32>().map_err(candle_error)?;
            for (t, &(start, count)) in totals.iter().zip(&batch.offsets) {
                out.push(Estimate {
                    totals: t
                        .iter()
                        .zip(&caps)
                        .map(|(&v, cap)| f64::from(v).exp().min(cap.unwrap_or(f64::INFINITY)))
                        .collect(),
                    layers: nodes[start..start + count]
                        .iter()
                        .map(|row| row.iter().map(|&v| f64::from(v).exp()).collect())
                        .collect(),
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::features;
    use crate::space::{sample, Space};

    fn small_model() -> (Predictor, Vec<GraphFeatures>) {
        let graphs: Vec<GraphFeatures> = (0..3)
            .map(|s| features(&sample(Space::Dscnn, s).unwrap()).unwrap())
            .collect();
        let shape = SageShape {
            layers: 2,
            hidden: 8,
            targets: vec!["a".into(), "b".into()],
            architecture: Default::default(),
        };
        let info = ModelInfo {
            format: MODEL_FORMAT,
            shape: shape.clone(),
            node_features: NODE_FEATURES,
            standardizer: Standardizer::fit(&graphs),
            training: serde_json::json!({}),
        };
        let sage = Sage::new(shape, &[1.0, 2.0], 7).unwrap();
        (Predictor::new(info, sage), graphs)
    }

    #[test]
    fn files_round_trip_and_layers_add_up_to_totals() {
        let (model, graphs) = small_model();
        let bytes = model.to_bytes().unwrap();
        assert_eq!(bytes, model.to_bytes().unwrap(), "deterministic bytes");
        let back = Predictor::from_bytes(&bytes).unwrap();
        assert_eq!(back.info, model.info);
        let refs: Vec<&GraphFeatures> = graphs.iter().collect();
        let (a, b) = (model.predict(&refs).unwrap(), back.predict(&refs).unwrap());
        assert_eq!(a, b);
        for (e, g) in a.iter().zip(&graphs) {
            assert_eq!(e.layers.len(), g.nodes.len());
            for t in 0..2 {
                let sum: f64 = e.layers.iter().map(|l| l[t]).sum();
                assert!(
                    (sum / e.totals[t] - 1.0).abs() < 1e-4,
                    "{sum} vs {}",
                    e.totals[t]
                );
            }
        }
        // Batching does not change a graph's figures.
        let alone = model.predict(&refs[1..2]).unwrap();
        assert!((alone[0].totals[0] / a[1].totals[0] - 1.0).abs() < 1e-5);
    }

    #[test]
    fn damaged_files_are_errors() {
        let (model, _) = small_model();
        let bytes = model.to_bytes().unwrap();
        for cut in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                Predictor::from_bytes(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut other = bytes.clone();
        let text = String::from_utf8_lossy(&other).to_string();
        let at = text.find("format\\\":1").unwrap();
        other[at + 9] = b'9';
        let e = Predictor::from_bytes(&other).err().unwrap().to_string();
        assert!(e.contains("format 9"), "{e}");
        assert!(Predictor::from_bytes(b"not a model at all").is_err());
        let empty = GraphFeatures::default();
        assert!(model.predict(&[&empty]).is_err());
    }
}
