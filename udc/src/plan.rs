//! A compression plan: each layer's bits and which of its weights are kept, and what it
//! does to the parameters (zeros for pruned weights; the bit grid in training).

use crate::grid::{fake_quantize, BITS};
use crate::layers::Layer;
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::ir::Tensor;
use nnopt_compiler::{Error, Result};
use nnopt_passes::quantize_int8::WeightGrid;

/// Per-layer choices, in [`crate::layers::layers`] order.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub bits: Vec<u32>,
    /// Per weight: kept (`true`) or pruned.
    pub keep: Vec<Vec<bool>>,
    /// Channel scales that are power-of-two multiples of the largest (see
    /// [`nnopt_passes::quantize_int8::WeightGrid`]).
    pub power_of_two_scales: Vec<bool>,
}

impl Plan {
    /// Every weight kept, every layer at `bits`.
    pub fn dense(layers: &[Layer], bits: u32) -> Self {
        Plan {
            bits: vec![bits; layers.len()],
            keep: layers.iter().map(|l| vec![true; l.len]).collect(),
            power_of_two_scales: vec![false; layers.len()],
        }
    }

    /// The quantizer's grid for layer `l`.
    pub fn grid(&self, l: usize) -> WeightGrid {
        WeightGrid {
            bits: self.bits[l],
            power_of_two_scales: self.power_of_two_scales[l],
        }
    }

    /// The share of layer `l`'s weights that are pruned.
    pub fn sparsity(&self, l: usize) -> f64 {
        let k = &self.keep[l];
        k.iter().filter(|&&x| !x).count() as f64 / k.len().max(1) as f64
    }

    /// Whether every layer's bits are a choice of [`BITS`] and its mask fits it.
    pub fn check(&self, layers: &[Layer]) -> Result<()> {
        let fits = self.bits.len() == layers.len()
            && self.keep.len() == layers.len()
            && self.power_of_two_scales.len() == layers.len()
            && self.bits.iter().all(|b| BITS.contains(b))
            && self.keep.iter().zip(layers).all(|(k, l)| k.len() == l.len);
        match fits {
            true => Ok(()),
            false => Err(Error::new(
                "a compression plan does not fit the model's layers",
            )),
        }
    }

    /// `params` with each layer's pruned weights zero.
    pub fn masked(&self, layers: &[Layer], params: &[Tensor]) -> Result<Vec<Tensor>> {
        self.map_layers(layers, params, |_, l, w| {
            w.iter()
                .zip(&self.keep[l])
                .map(|(&v, &k)| if k { v } else { 0.0 })
                .collect()
        })
    }

    /// `params` as the plan's int8 layers compute with them: pruned weights zero, the
    /// rest rounded onto the layer's grid (what fine-tuning trains through).
    pub fn effective(&self, layers: &[Layer], params: &[Tensor]) -> Result<Vec<Tensor>> {
        let masked = self.masked(layers, params)?;
        self.map_layers(layers, &masked, |layer, l, w| {
            fake_quantize(w, layer.layout, self.bits[l], self.power_of_two_scales[l])
        })
    }

    /// Zeroes the gradients of pruned weights (they stay pruned); the grid's rounding is
    /// passed straight through.
    pub fn mask_gradients(&self, layers: &[Layer], grads: &mut [Tensor]) {
        for (l, layer) in layers.iter().enumerate() {
            if let Some(Tensor::F32(g)) = grads.get_mut(layer.param) {
                for (v, &k) in g.iter_mut().zip(&self.keep[l]) {
                    if !k {
                        *v = 0.0;
                    }
                }
            }
        }
    }

    /// `params` with each layer's weights replaced by `f(layer, index, weights)`.
    fn map_layers(
        &self,
        layers: &[Layer],
        params: &[Tensor],
        f: impl Fn(&Layer, usize, &[f32]) -> Vec<f32>,
    ) -> Result<Vec<Tensor>> {
        self.check(layers)?;
        let mut out = params.to_vec();
        for (l, layer) in layers.iter().enumerate() {
            let w = weights(params, layer)?;
            let shape = IxDyn(params[layer.param].shape());
            let v = f(layer, l, &w);
            out[layer.param] = Tensor::F32(ArrayD::from_shape_vec(shape, v).expect("same size"));
        }
        Ok(out)
    }
}

/// A layer's weights as a flat vector.
pub fn weights(params: &[Tensor], layer: &Layer) -> Result<Vec<f32>> {
    params
        .get(layer.param)
        .and_then(Tensor::as_f32)
        .filter(|a| a.len() == layer.len)
        .map(|a| a.iter().copied().collect())
        .ok_or_else(|| {
            Error::at_node(
                &layer.node,
                "weights are not the f32 parameter the layer expects",
            )
        })
}
