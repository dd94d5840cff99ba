//! The alternatives UDC is measured against, from the same warmed-up model:
//! - dense int8 (per-channel post-training quantization, what `nnopt compile` does);
//! - global magnitude pruning with uniform int8 or int4 weights: the smallest share of
//!   the smallest weights (one threshold for all layers) pruned that meets the budget,
//!   fine-tuned, and pruned further if fine-tuning pushed it over;
//! - a sensitivity-ordered greedy bit allocation (HAQ without reinforcement learning):
//!   from int8, lower the bits of the layer that loses the least held-out loss per byte
//!   saved until the budget is met, then fine-tune ([`crate::budget`] with bit steps
//!   only).

use crate::budget::{self, Moves, UNREACHABLE};
use crate::plan::{weights, Plan};
use crate::search::{Context, Explored, Outcome};
use nnopt_compiler::ir::Tensor;
use nnopt_compiler::{Error, Result};

/// The dense int8 model of `params`.
pub fn dense_int8(ctx: &Context, params: &[Tensor]) -> Result<Outcome> {
    let plan = Plan::dense(&ctx.layers, 8);
    let (graph, encoded) = ctx.int8(params, &plan)?;
    Ok(Outcome {
        params: params.to_vec(),
        plan,
        graph,
        encoded,
        explored: Vec::new(),
    })
}

/// Global magnitude pruning at uniform `bits`, fine-tuned, within `budget`.
pub fn magnitude(
    ctx: &Context,
    params: &[Tensor],
    bits: u32,
    budget: usize,
    finetune_epochs: usize,
) -> Result<Outcome> {
    let mut params = params.to_vec();
    let mut plan = prune_to_budget(ctx, &params, &Plan::dense(&ctx.layers, bits), budget)?;
    ctx.fine_tune(&mut params, &plan, finetune_epochs)?;
    plan = prune_to_budget(ctx, &params, &plan, budget)?;
    let (graph, encoded) = ctx.int8(&params, &plan)?;
    let explored = vec![Explored {
        stage: "result",
        bytes: encoded.total,
        accuracy: ctx.val_accuracy(&graph)?,
    }];
    Ok(Outcome {
        params,
        plan,
        graph,
        encoded,
        explored,
    })
}

/// The greedy per-layer bit allocation within `budget`, fine-tuned.
pub fn greedy_bits(
    ctx: &Context,
    params: &[Tensor],
    budget: usize,
    finetune_epochs: usize,
) -> Result<Outcome> {
    let plan = Plan::dense(&ctx.layers, 8);
    budget::fit(
        ctx,
        params.to_vec(),
        plan,
        budget,
        finetune_epochs,
        Moves::Bits,
        Vec::new(),
    )
}

/// `plan` with the fewest more weights pruned (smallest magnitude first, over all
/// layers) that brings the exact size within `budget`: a bisection on their count.
fn prune_to_budget(ctx: &Context, params: &[Tensor], plan: &Plan, budget: usize) -> Result<Plan> {
    let mut order = Vec::new();
    for (l, layer) in ctx.layers.iter().enumerate() {
        let w = weights(params, layer)?;
        order.extend(
            (0..layer.len)
                .filter(|&i| plan.keep[l][i])
                .map(|i| (w[i].abs(), l, i)),
        );
    }
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    let pruned = |n: usize| {
        let mut p = plan.clone();
        for &(_, l, i) in &order[..n] {
            p.keep[l][i] = false;
        }
        p
    };
    let fits = |n: usize| -> Result<bool> { Ok(ctx.int8(params, &pruned(n))?.1.total <= budget) };
    if fits(0)? {
        return Ok(plan.clone());
    }
    if !fits(order.len())? {
        return Err(Error::new(format!(
            "the budget of {budget} bytes {UNREACHABLE} with every weight pruned"
        )));
    }
    // The size falls (nearly) monotonically with the count; the bisection keeps the
    // invariant fits(hi) and returns it.
    let (mut lo, mut hi) = (0, order.len());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(pruned(hi))
}
