//! The relaxed search. Each layer `l` has logits `α_l` over [`BITS`] and a magnitude
//! threshold `t_l` (in units of the layer's RMS weight). A step computes with the hard
//! choices and differentiates through their relaxations (straight-through):
//!
//! ```text
//! m_i = 1[|w_i| / rms_l > t_l]      backward: σ((|w_i| / rms_l − t_l) / τ_m)
//! b   = argmax(α_l)                 backward: π = softmax((α_l + Gumbel noise) / τ_g)
//! w̃   = Q_b(w ⊙ m)                  Q_b: the per-channel b-bit grid
//! ```
//!
//! so every step trains the network the current plan deploys, while the Gumbel noise
//! explores the other bit-widths in the gradient. The loss gets `λ · (S / T − 1)²`, where the
//! size proxy `S = Σ_l κ_l · E[non-zeros_l] · E[bits_l] / 8 + overhead_l`
//! (E[non-zeros] = Σ σ_i, E[bits] = Σ π_b · b) is tied to the real codec: after each
//! epoch the plan without noise (`argmax α`, `|w| / rms > t`) is compiled, `κ_l` becomes
//! its layer's coded weight bytes over `non-zeros · bits / 8` and `overhead_l` the rest
//! of its block; `λ` doubles after each epoch whose exact size is over the target `T`
//! (97 % of the budget). The penalty is two-sided: bytes under the budget are accuracy
//! left unused. Gradients reach `w`
//! straight through the grid and the mask (`∂w̃/∂w = m`); `α` and `t` follow the chain
//! rule with Adam, whose step is sized so that over the whole search each can move
//! about [`ARCH_TRAVEL`]; `w` follows the program's optimizer; `τ_g` anneals from 1 to
//! 0.2.

use crate::grid::{fake_quantize, BITS};
use crate::plan::{weights, Plan};
use crate::search::{Context, Explored, SearchOptions};
use crate::size::weight_bytes;
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::ir::Tensor;
use nnopt_compiler::{Error, Result};
use nnopt_train::optimizer::OptimizerState;
use nnopt_train::{Optimizer, OptimizerKind};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// Temperature of the soft mask, in RMS units.
const MASK_TEMPERATURE: f32 = 0.1;
/// The Gumbel-softmax temperature at the start and the end of the search.
const GUMBEL_TEMPERATURE: (f32, f32) = (1.0, 0.2);
/// The share of the budget the search aims at (room for fine-tuning's drift).
const TARGET: f64 = 0.97;
/// Starting logits: a ramp that gives 8 bits 60 % and 2 bits 8 % of the mixture at
/// temperature 1, so the search starts near the float model.
const INITIAL_LOGITS: [f32; BITS.len()] = [0.0, 0.4, 0.8, 1.2, 1.6, 2.0];
/// How far (in logits, or RMS units of threshold) Adam can move an architecture
/// parameter over the whole search: its step is this over the search's steps.
const ARCH_TRAVEL: f32 = 4.0;
/// Searched plans use power-of-two channel scales (one requantization multiplier a
/// layer). On the digits CNN at 3.5x they tied plain per-channel scales in accuracy
/// (97.69 % on three seeds each) and leave the codec fewer bytes to spend on overhead.
const POWER_OF_TWO: bool = true;
/// Largest threshold, in RMS units.
const MAX_THRESHOLD: f32 = 6.0;

/// One layer's architecture parameters and its size model.
#[derive(Clone, Debug)]
struct LayerArch {
    logits: [f32; BITS.len()],
    threshold: f32,
    /// Coded bytes per `non-zeros · bits / 8` (from the last exact size).
    kappa: f64,
    /// The rest of its weight block (biases, requantization records).
    overhead: f64,
}

/// What a layer's relaxed forward computed (kept for its backward).
struct LayerState {
    /// The soft mask σ((|w| / rms − t) / τ_m), and the hard one.
    mask: Vec<f32>,
    kept: Vec<bool>,
    /// The bit-width mixture and the chosen bit-width.
    pi: [f32; BITS.len()],
    choice: usize,
    /// `Q_b(w ⊙ kept)` for every b.
    grids: Vec<Vec<f32>>,
    /// The layer's weights this step.
    weights: Vec<f32>,
}

impl LayerState {
    /// E[non-zeros]: the soft mask's sum.
    fn expected_nonzeros(&self) -> f64 {
        self.mask.iter().map(|&m| f64::from(m)).sum()
    }

    /// E[bits] under the mixture.
    fn expected_bits(&self) -> f64 {
        self.pi
            .iter()
            .zip(BITS)
            .map(|(p, b)| f64::from(*p) * f64::from(b))
            .sum()
    }
}

/// Runs the search on `params` (updated in place) and returns the hard plan.
pub fn search(
    ctx: &Context,
    params: &mut [Tensor],
    opts: &SearchOptions,
    explored: &mut Vec<Explored>,
) -> Result<Plan> {
    let target = opts.budget as f64 * TARGET;
    let mut arch: Vec<LayerArch> = ctx
        .layers
        .iter()
        .map(|_| LayerArch {
            logits: INITIAL_LOGITS,
            threshold: 0.0,
            kappa: 1.0,
            overhead: 0.0,
        })
        .collect();
    let mut lambda = 1.0f64;
    let mut plan = hard_plan(ctx, params, &arch)?;
    calibrate(ctx, params, &plan, &mut arch, explored)?;
    if opts.search_epochs == 0 {
        return Ok(plan);
    }
    let total_steps = ctx.steps(opts.search_epochs).max(1);
    let arch_opt = Optimizer {
        kind: OptimizerKind::AdamW,
        learning_rate: ARCH_TRAVEL / total_steps as f32,
        weight_decay: 0.0,
        warmup_steps: 0,
        ..Optimizer::defaults(OptimizerKind::AdamW)
    };
    let mut arch_state = OptimizerState::new(
        OptimizerKind::AdamW,
        &[BITS.len() + 1; 1].repeat(arch.len()),
    );
    let mut weight_state = OptimizerState::new(
        ctx.program.optimizer.kind,
        &params.iter().map(Tensor::len).collect::<Vec<_>>(),
    );
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x0dc5_ea4c);
    ctx.progress.stage("search", total_steps);
    let mut step = 0u64;
    for _ in 0..opts.search_epochs {
        let batches = ctx.with_trainer(|t| t.batches(&ctx.train_rows));
        for batch in batches {
            let progress = step as f32 / total_steps as f32;
            let (t0, t1) = GUMBEL_TEMPERATURE;
            let tau = t0 * (t1 / t0).powf(progress);
            let states: Vec<LayerState> = ctx
                .layers
                .iter()
                .zip(&arch)
                .map(|(layer, a)| {
                    Ok(relaxed_forward(
                        weights(params, layer)?,
                        layer.layout,
                        a,
                        tau,
                        POWER_OF_TWO,
                        &mut rng,
                    ))
                })
                .collect::<Result<_>>()?;
            let mut effective = params.to_vec();
            for (layer, s) in ctx.layers.iter().zip(&states) {
                let shape = IxDyn(params[layer.param].shape());
                let hard = s.grids[s.choice].clone();
                effective[layer.param] =
                    Tensor::F32(ArrayD::from_shape_vec(shape, hard).expect("sized"));
            }
            let (loss, mut grads) = ctx.with_trainer(|t| t.gradients(&effective, &batch))?;
            // The size penalty λ (S / T − 1)²'s slope per byte: it pulls the proxy to the
            // target from both sides (bytes under the budget are accuracy left unused).
            let proxy: f64 = arch
                .iter()
                .zip(&states)
                .map(|(a, s)| layer_proxy(a, s))
                .sum();
            let slope = 2.0 * lambda * (proxy - target) / (target * target);
            let mut arch_params = Vec::with_capacity(arch.len());
            let mut arch_grads = Vec::with_capacity(arch.len());
            for ((layer, a), s) in ctx.layers.iter().zip(&arch).zip(&states) {
                let Some(Tensor::F32(g)) = grads.get_mut(layer.param) else {
                    return Err(Error::at_node(
                        &layer.node,
                        "the step gave no f32 weight gradient",
                    ));
                };
                let (da, dt) = arch_gradients(a, s, g.as_slice().unwrap_or(&[]), tau, slope);
                // Straight through the grid and the mask: ∂w̃/∂w = m.
                for (gv, &kept) in g.iter_mut().zip(&s.kept) {
                    if !kept {
                        *gv = 0.0;
                    }
                }
                let mut values = a.logits.to_vec();
                values.push(a.threshold);
                let mut dv = da.to_vec();
                dv.push(dt);
                arch_params.push(Tensor::F32(
                    ArrayD::from_shape_vec(IxDyn(&[BITS.len() + 1]), values).expect("sized"),
                ));
                arch_grads.push(Tensor::F32(
                    ArrayD::from_shape_vec(IxDyn(&[BITS.len() + 1]), dv).expect("sized"),
                ));
            }
            weight_state.apply(&ctx.program.optimizer, params, &grads)?;
            arch_state.apply(&arch_opt, &mut arch_params, &arch_grads)?;
            for (a, p) in arch.iter_mut().zip(&arch_params) {
                let v: Vec<f32> = p
                    .as_f32()
                    .map(|x| x.iter().copied().collect())
                    .unwrap_or_default();
                a.logits.copy_from_slice(&v[..BITS.len()]);
                a.threshold = v[BITS.len()].clamp(0.0, MAX_THRESHOLD);
            }
            ctx.progress.step(loss);
            step += 1;
        }
        plan = hard_plan(ctx, params, &arch)?;
        let exact = calibrate(ctx, params, &plan, &mut arch, explored)?;
        if exact as f64 > target {
            lambda *= 2.0;
        }
    }
    Ok(plan)
}

/// A layer's relaxed weights' ingredients.
fn relaxed_forward(
    w: Vec<f32>,
    layout: crate::grid::Channels,
    a: &LayerArch,
    tau: f32,
    power_of_two: bool,
    rng: &mut Xoshiro256PlusPlus,
) -> LayerState {
    let rms = rms(&w);
    let margin: Vec<f32> = w.iter().map(|v| v.abs() / rms - a.threshold).collect();
    let mask: Vec<f32> = margin
        .iter()
        .map(|&x| sigmoid(x / MASK_TEMPERATURE))
        .collect();
    let kept: Vec<bool> = margin.iter().map(|&x| x > 0.0).collect();
    let masked: Vec<f32> = w
        .iter()
        .zip(&kept)
        .map(|(&v, &k)| if k { v } else { 0.0 })
        .collect();
    let mut noisy = a.logits;
    for x in &mut noisy {
        let u: f32 = rng.random_range(1e-6f32..1.0);
        *x = (*x - (-u.ln()).ln()) / tau;
    }
    // The forward pass takes the most likely bit-width; the noise only explores in the
    // gradient (sampling it in the forward pass too cost 0.85 points on Fashion-MNIST).
    let choice = argmax(&a.logits);
    LayerState {
        pi: softmax(noisy),
        choice,
        grids: BITS
            .iter()
            .map(|&b| fake_quantize(&masked, layout, b, power_of_two))
            .collect(),
        mask,
        kept,
        weights: w,
    }
}

/// The gradients of the loss (its weight gradient `g`) and of the size penalty
/// (`slope` per byte) with respect to a layer's logits and threshold.
fn arch_gradients(
    a: &LayerArch,
    s: &LayerState,
    g: &[f32],
    tau: f32,
    slope: f64,
) -> ([f32; BITS.len()], f32) {
    let (nonzeros, bits) = (s.expected_nonzeros(), s.expected_bits());
    // ∂L/∂π_b: the loss through each grid, plus the penalty through E[bits].
    let dpi: Vec<f64> = s
        .grids
        .iter()
        .zip(BITS)
        .map(|(q, b)| {
            let through_loss: f64 = g.iter().zip(q).map(|(gi, qi)| f64::from(gi * qi)).sum();
            through_loss + slope * a.kappa * nonzeros * f64::from(b) / 8.0
        })
        .collect();
    // Through the softmax: ∂π_b/∂α_j = π_b (δ_bj − π_j) / τ.
    let mut da = [0f32; BITS.len()];
    let mean: f64 = dpi.iter().zip(s.pi).map(|(d, p)| d * f64::from(p)).sum();
    for (j, d) in da.iter_mut().enumerate() {
        *d = (f64::from(s.pi[j]) * (dpi[j] - mean) / f64::from(tau)) as f32;
    }
    // ∂L/∂m_i = g_i w_i (straight through the grid) plus the penalty through E[non-zeros];
    // ∂m_i/∂t = −m_i (1 − m_i) / τ_m.
    let per_nonzero = slope * a.kappa * bits / 8.0;
    let dt: f64 = s
        .weights
        .iter()
        .zip(g)
        .zip(&s.mask)
        .map(|((wi, gi), &m)| {
            let dm = f64::from(gi * wi) + per_nonzero;
            -dm * f64::from(m * (1.0 - m) / MASK_TEMPERATURE)
        })
        .sum();
    (da, dt as f32)
}

/// A layer's size proxy in bytes.
fn layer_proxy(a: &LayerArch, s: &LayerState) -> f64 {
    a.kappa * s.expected_nonzeros() * s.expected_bits() / 8.0 + a.overhead
}

/// The hard plan of the current parameters: each layer's most likely bits, and the
/// weights above its threshold kept.
fn hard_plan(ctx: &Context, params: &[Tensor], arch: &[LayerArch]) -> Result<Plan> {
    let mut plan = Plan::dense(&ctx.layers, 8);
    for (l, (layer, a)) in ctx.layers.iter().zip(arch).enumerate() {
        plan.bits[l] = BITS[argmax(&a.logits)];
        plan.power_of_two_scales[l] = POWER_OF_TWO;
        let w = weights(params, layer)?;
        let rms = rms(&w);
        plan.keep[l] = w.iter().map(|v| v.abs() / rms > a.threshold).collect();
    }
    Ok(plan)
}

/// Compiles `plan`, records it, and ties each layer's proxy to its exact bytes; returns
/// the exact total.
fn calibrate(
    ctx: &Context,
    params: &[Tensor],
    plan: &Plan,
    arch: &mut [LayerArch],
    explored: &mut Vec<Explored>,
) -> Result<usize> {
    let (g, e) = ctx.int8(params, plan)?;
    for (l, a) in arch.iter_mut().enumerate() {
        let coded = weight_bytes(plan, &ctx.layers, params, l)? as f64;
        let nonzeros = plan.keep[l].iter().filter(|&&k| k).count() as f64;
        let ideal = nonzeros * f64::from(plan.bits[l]) / 8.0;
        a.kappa = if ideal > 0.0 {
            (coded / ideal).clamp(0.2, 2.0)
        } else {
            1.0
        };
        a.overhead = (e.per_layer[l] as f64 - coded).max(0.0);
    }
    explored.push(Explored {
        stage: "search",
        bytes: e.total,
        accuracy: ctx.val_accuracy(&g)?,
    });
    Ok(e.total)
}

/// The index of the largest value (the first of equals).
fn argmax(x: &[f32]) -> usize {
    (0..x.len()).fold(0, |b, i| if x[i] > x[b] { i } else { b })
}

fn rms(w: &[f32]) -> f32 {
    let s: f64 = w.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    ((s / w.len().max(1) as f64).sqrt() as f32).max(1e-12)
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn softmax<const N: usize>(x: [f32; N]) -> [f32; N] {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e = x.map(|v| (v - max).exp());
    let sum: f32 = e.iter().sum();
    e.map(|v| v / sum)
}
