//! Batch normalization and constant per-channel scales and shifts folded into the
//! weights and bias of a preceding convolution or gemm (f32).
//!
//! `batch_norm(x)` becomes `x * s + t`; then `conv(x, w, b) * s -> conv(x, w·s, b·s)` and
//! `conv(x, w, b) + t -> conv(x, w, b + t)` (likewise for gemm columns), so that a batch
//! norm, and any constant affine map a model applies to a conv's output, disappears.

use super::{f32_tensor, per_channel};
use crate::egraph::language::OpId;
use crate::egraph::rule::{Ctx, Expr, Root, Rule};
use egg::Id;
use ndarray::Axis;
use nnopt_compiler::ir::{BinaryKind, GemmAttrs, Op, Tensor};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

pub fn rules() -> Vec<Arc<dyn Rule>> {
    vec![
        Arc::new(BatchNormToAffine),
        Arc::new(FoldIntoWeights::new(BinaryKind::Mul)),
        Arc::new(FoldIntoWeights::new(BinaryKind::Add)),
    ]
}

/// `batch_norm(x, gamma, beta, mean, var) -> x * s + t` with `s = gamma / sqrt(var + eps)`
/// and `t = beta - mean * s`, shaped to broadcast along the normalized axis.
struct BatchNormToAffine;

impl Rule for BatchNormToAffine {
    fn name(&self) -> &'static str {
        "batchnorm-to-affine"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(n, Root::Op(Op::BatchNorm { .. }))
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        let mut out = vec![];
        for (op, ch) in cx.ops(id) {
            let Op::BatchNorm { epsilon, axis } = op else {
                continue;
            };
            let x = ch[0];
            let params: Option<Vec<Vec<f32>>> =
                ch[1..5].iter().map(|&c| cx.f32_values(c)).collect();
            let Some([gamma, beta, mean, var]) = params.as_deref() else {
                continue;
            };
            let rank = cx.ty(x).shape.len();
            let n = gamma.len();
            if !cx.is_f32(x) || *axis >= rank || [beta, mean, var].iter().any(|p| p.len() != n) {
                continue;
            }
            let s: Vec<f32> = gamma
                .iter()
                .zip(var)
                .map(|(g, v)| g / (v + epsilon).sqrt())
                .collect();
            let t: Vec<f32> = (0..n).map(|c| beta[c] - mean[c] * s[c]).collect();
            let mut shape = vec![n];
            shape.resize(rank - axis, 1);
            let mul = Expr::Op(
                binary(BinaryKind::Mul),
                vec![Expr::Class(x), Expr::Const(f32_tensor(&shape, &s))],
            );
            out.push(Expr::Op(
                binary(BinaryKind::Add),
                vec![mul, Expr::Const(f32_tensor(&shape, &t))],
            ));
        }
        out
    }
}

fn binary(kind: BinaryKind) -> Op {
    Op::Binary {
        kind,
        activation: None,
    }
}

/// `conv(x, w, b) * c -> conv(x, w·c, b·c)` (`kind` mul) or `conv(x, w, b) + c ->
/// conv(x, w, b + c)` (`kind` add) for a per-output-channel constant `c`; likewise for
/// a gemm's output columns. The conv or gemm must have no fused activation.
struct FoldIntoWeights {
    kind: BinaryKind,
    /// The (producer, constant) pairs already folded: the result is in the e-graph, so
    /// later iterations skip recomputing the weights.
    done: Mutex<HashSet<(OpId, Vec<Id>)>>,
}

impl Rule for FoldIntoWeights {
    fn name(&self) -> &'static str {
        match self.kind {
            BinaryKind::Mul => "scale-into-weights",
            _ => "shift-into-bias",
        }
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(n, Root::Op(Op::Binary { kind, activation: None }) if *kind == self.kind)
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        if !cx.is_f32(id) {
            return vec![];
        }
        let mut out = vec![];
        for (op, ch) in cx.ops(id) {
            if *op != binary(self.kind) {
                continue;
            }
            let (y, c) = (ch[0], ch[1]);
            for (p_id, producer, p_ch) in cx.ops_with_ids(y) {
                let mut key: Vec<Id> = p_ch.iter().map(|&i| cx.eg.find(i)).collect();
                key.push(cx.eg.find(c));
                let fresh = self
                    .done
                    .lock()
                    .map(|mut d| d.insert((p_id, key)))
                    .unwrap_or(true);
                if !fresh {
                    continue;
                }
                if let Some(e) = self.fold(cx, id, producer, p_ch, c) {
                    out.push(e);
                }
            }
        }
        out
    }
}

impl FoldIntoWeights {
    fn new(kind: BinaryKind) -> Self {
        FoldIntoWeights {
            kind,
            done: Mutex::new(HashSet::new()),
        }
    }

    fn fold(&self, cx: &Ctx<'_>, id: Id, producer: &Op, p_ch: &[Id], c: Id) -> Option<Expr> {
        let out_ty = cx.ty(id);
        // (channel axis of the output, output-channel axis of the weights, gemm beta)
        let (axis, w_axis, beta) = match producer {
            Op::Conv(a) if a.activation.is_none() => (a.layout.channel_axis(), 0, 1.0),
            Op::Gemm(g) if g.activation.is_none() && out_ty.shape.len() == 2 => {
                (1, if g.trans_b { 0 } else { 1 }, g.beta)
            }
            _ => return None,
        };
        let v = per_channel(cx, c, out_ty, axis)?;
        let channels = v.len();
        let w = cx
            .constant(p_ch[1])
            .filter(|_| cx.is_f32(p_ch[1]))?
            .as_f32()?;
        if w.shape().get(w_axis) != Some(&channels) {
            return None;
        }
        let bias: Vec<f32> = match p_ch.get(2) {
            Some(&b) => {
                let b = cx.f32_values(b)?;
                match b.len() {
                    1 => vec![b[0]; channels],
                    n if n == channels => b,
                    _ => return None,
                }
            }
            None => vec![0.0; channels],
        };
        let (weights, bias, beta) = match self.kind {
            BinaryKind::Mul => {
                let mut w = w.clone();
                for (k, mut lane) in w.axis_iter_mut(Axis(w_axis)).enumerate() {
                    lane.mapv_inplace(|x| x * v[k]);
                }
                let b: Vec<f32> = bias.iter().zip(&v).map(|(b, s)| b * s).collect();
                (Expr::Const(Tensor::F32(w)), b, beta)
            }
            _ => {
                let has_bias = p_ch.len() > 2;
                let beta = if has_bias { beta } else { 1.0 };
                if beta == 0.0 {
                    return None;
                }
                let b: Vec<f32> = bias.iter().zip(&v).map(|(b, t)| b + t / beta).collect();
                (Expr::Class(p_ch[1]), b, beta)
            }
        };
        let op = match producer {
            Op::Gemm(g) => Op::Gemm(GemmAttrs {
                beta,
                activation: None,
                ..g.clone()
            }),
            other => other.clone(),
        };
        let args = vec![
            Expr::Class(p_ch[0]),
            weights,
            Expr::Const(f32_tensor(&[channels], &bias)),
        ];
        Some(Expr::Op(op, args))
    }
}
