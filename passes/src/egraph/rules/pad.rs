//! Zero padding folded into a convolution's own padding.

use crate::egraph::rule::{Ctx, Expr, Root, Rule};
use egg::Id;
use nnopt_compiler::ir::{ConvAttrs, Op, PadMode};
use std::sync::Arc;

pub fn rules() -> Vec<Arc<dyn Rule>> {
    vec![Arc::new(PadIntoConv)]
}

/// `conv(pad(x), w, b) -> conv(x, w, b)` with the pad's spatial amounts added to the
/// conv's padding, when the pad is a constant zero (for quantized tensors: the zero
/// point, which is what the conv pads with) on the spatial axes only.
struct PadIntoConv;

impl Rule for PadIntoConv {
    fn name(&self) -> &'static str {
        "pad-into-conv"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(n, Root::Op(Op::Conv(_)))
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        let types = cx.eg[id].data.types.clone();
        let mut out = vec![];
        for (op, ch) in cx.ops(id) {
            let Op::Conv(c) = op else { continue };
            for (inner, pad_ch) in cx.ops(ch[0]) {
                let Op::Pad { pads, mode, value } = inner else {
                    continue;
                };
                let x = pad_ch[0];
                let zero = *mode == PadMode::Constant && *value == 0.0;
                if !zero || cx.ty(x).quant != cx.ty(ch[0]).quant || pads.len() != 4 {
                    continue;
                }
                let Some(new) = merged(c, pads) else { continue };
                let mut args: Vec<Expr> = ch.iter().map(|&c| Expr::Class(c)).collect();
                args[0] = Expr::Class(x);
                out.push(Expr::Typed(Op::Conv(new), args, types.clone()));
            }
        }
        out
    }
}

/// The conv attributes with `pads` (per axis, before and after) added to its padding, when
/// the batch and channel axes are not padded.
fn merged(c: &ConvAttrs, pads: &[(usize, usize)]) -> Option<ConvAttrs> {
    let [h, w] = c.layout.spatial_axes();
    let ch = c.layout.channel_axis();
    if pads[0] != (0, 0) || pads[ch] != (0, 0) {
        return None;
    }
    let mut new = c.clone();
    new.pads[0] += pads[h].0;
    new.pads[1] += pads[w].0;
    new.pads[2] += pads[h].1;
    new.pads[3] += pads[w].1;
    Some(new)
}
