//! The budget guarantee: while the exact encoded size is over the budget, take the
//! step that loses the least held-out loss per byte saved (one layer a bit-width lower,
//! or a tenth more of its kept weights pruned by magnitude; [`Moves`] says which), then
//! fine-tune and check the real size again. Fine-tuning that ends over the budget is undone on the last
//! round, so the result always fits.

use crate::grid::BITS;
use crate::plan::{weights, Plan};
use crate::search::{Context, Explored, Outcome};
use crate::size::weight_bytes;
use nnopt_compiler::ir::Tensor;
use nnopt_compiler::{Error, Result};

/// What the error of a budget no plan can meet says (callers tell it apart by it).
pub const UNREACHABLE: &str = "is below the smallest encoding of this model";

/// Rounds of fine-tuning after budget steps.
const ROUNDS: usize = 2;
/// Share of a layer's kept weights one pruning step removes.
const PRUNE_STEP: f64 = 0.1;

/// The steps a fit may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moves {
    /// Lower a layer's bits, or prune more of it (UDC's guarantee).
    BitsAndPruning,
    /// Lower a layer's bits only (the sensitivity-ordered greedy baseline).
    Bits,
}

/// `plan` on `params` brought within `budget` bytes by `moves`.
pub fn fit(
    ctx: &Context,
    mut params: Vec<Tensor>,
    mut plan: Plan,
    budget: usize,
    finetune_epochs: usize,
    moves: Moves,
    mut explored: Vec<Explored>,
) -> Result<Outcome> {
    let mut round = 0;
    loop {
        let (mut g, mut e) = ctx.int8(&params, &plan)?;
        if e.total > budget {
            while e.total > budget {
                plan = cheapest_step(ctx, &params, &plan, moves)?.ok_or_else(|| {
                    Error::new(format!(
                        "the budget of {budget} bytes {UNREACHABLE} the search can reach: {} \
                         bytes ({})",
                        e.total,
                        match moves {
                            Moves::BitsAndPruning =>
                                "every layer at 2 bits and fully pruned: \
                                                      biases and requantization records",
                            Moves::Bits => "every layer at 2 bits",
                        }
                    ))
                })?;
                (g, e) = ctx.int8(&params, &plan)?;
            }
            explored.push(Explored {
                stage: "budget",
                bytes: e.total,
                accuracy: ctx.val_accuracy(&g)?,
            });
            if round < ROUNDS && finetune_epochs > 0 {
                round += 1;
                let within = params.clone();
                ctx.fine_tune(&mut params, &plan, finetune_epochs)?;
                if round == ROUNDS && ctx.int8(&params, &plan)?.1.total > budget {
                    params = within;
                }
                continue;
            }
        }
        explored.push(Explored {
            stage: "result",
            bytes: e.total,
            accuracy: ctx.val_accuracy(&g)?,
        });
        return Ok(Outcome {
            params,
            plan,
            graph: g,
            encoded: e,
            explored,
        });
    }
}

/// The plan one step smaller that loses the least held-out loss per weight byte saved,
/// or `None` if no step saves a byte.
fn cheapest_step(
    ctx: &Context,
    params: &[Tensor],
    plan: &Plan,
    moves: Moves,
) -> Result<Option<Plan>> {
    let base = ctx.val_loss(params, plan)?.loss;
    let mut best: Option<(f64, Plan)> = None;
    for l in 0..ctx.layers.len() {
        let before = weight_bytes(plan, &ctx.layers, params, l)?;
        let pruned = match moves {
            Moves::BitsAndPruning => prune_more(ctx, params, plan, l)?,
            Moves::Bits => None,
        };
        for candidate in [lower_bits(plan, l), pruned].into_iter().flatten() {
            let after = weight_bytes(&candidate, &ctx.layers, params, l)?;
            if after >= before {
                continue;
            }
            let lost = (ctx.val_loss(params, &candidate)?.loss - base).max(1e-9);
            let score = lost / (before - after) as f64;
            if best.as_ref().is_none_or(|(s, _)| score < *s) {
                best = Some((score, candidate));
            }
        }
    }
    Ok(best.map(|(_, p)| p))
}

/// `plan` with layer `l` one bit-width lower, if it has one.
fn lower_bits(plan: &Plan, l: usize) -> Option<Plan> {
    let i = BITS.iter().position(|&b| b == plan.bits[l])?;
    let mut p = plan.clone();
    p.bits[l] = *BITS.get(i.checked_sub(1)?)?;
    Some(p)
}

/// `plan` with a tenth more of layer `l`'s kept weights (at least one) pruned, the
/// smallest in magnitude first.
fn prune_more(ctx: &Context, params: &[Tensor], plan: &Plan, l: usize) -> Result<Option<Plan>> {
    let w = weights(params, &ctx.layers[l])?;
    let mut kept: Vec<usize> = (0..w.len()).filter(|&i| plan.keep[l][i]).collect();
    if kept.is_empty() {
        return Ok(None);
    }
    kept.sort_by(|&a, &b| w[a].abs().total_cmp(&w[b].abs()).then(a.cmp(&b)));
    let n = ((kept.len() as f64 * PRUNE_STEP).ceil() as usize).max(1);
    let mut p = plan.clone();
    for &i in &kept[..n] {
        p.keep[l][i] = false;
    }
    Ok(Some(p))
}
