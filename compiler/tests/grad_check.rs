//! Gradient ops against central finite differences of independent float64 forward
//! functions written here: for a random upstream gradient `r`, the gradient of
//! `L(p) = sum(r * forward(p))` with respect to each input element.

use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::interp::{eval_op, Operand};
use nnopt_compiler::ir::{Activation, ConvAttrs, DType, Layout, Op, Tensor};

/// Deterministic pseudo-random values in [-1, 1).
fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

fn f32_tensor(shape: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_f64s(DType::F32, shape, v).expect("sized")
}

fn run(op: &Op, inputs: &[Tensor]) -> Vec<f64> {
    let tys: Vec<_> = inputs.iter().map(Tensor::tensor_type).collect();
    let ops: Vec<Operand<'_>> = inputs
        .iter()
        .zip(&tys)
        .map(|(data, ty)| Operand { data, ty })
        .collect();
    let refs: Vec<_> = tys.iter().collect();
    let out = nnopt_compiler::ir::infer::infer_types(op, &refs).expect("types infer");
    eval_op(op, &ops, &out).expect("kernel runs")[0].to_f64_vec()
}

/// Central differences of `l` at `p` (step `h`), checked against `analytic`.
fn check(what: &str, p: &[f64], analytic: &[f64], h: f64, l: &dyn Fn(&[f64]) -> f64) {
    assert_eq!(p.len(), analytic.len(), "{what}");
    let scale = analytic.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
    let mut q = p.to_vec();
    for i in 0..p.len() {
        q[i] = p[i] + h;
        let up = l(&q);
        q[i] = p[i] - h;
        let down = l(&q);
        q[i] = p[i];
        let fd = (up - down) / (2.0 * h);
        assert!(
            (fd - analytic[i]).abs() <= 2e-4 * scale,
            "{what}[{i}]: analytic {} vs finite difference {fd}",
            analytic[i]
        );
    }
}

fn act_f64(a: Activation, x: f64) -> f64 {
    match a {
        Activation::Relu => x.max(0.0),
        Activation::Relu6 => x.clamp(0.0, 6.0),
        Activation::ReluN1To1 => x.clamp(-1.0, 1.0),
        Activation::Clip { min, max } => x.clamp(min as f64, max as f64),
        Activation::LeakyRelu { alpha } => {
            if x >= 0.0 {
                x
            } else {
                alpha as f64 * x
            }
        }
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::Tanh => x.tanh(),
        Activation::HardSigmoid { alpha, beta } => (alpha as f64 * x + beta as f64).clamp(0.0, 1.0),
        Activation::HardSwish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
        // The straight-through estimator differentiates binarize as this clamp.
        Activation::Binarize => x.clamp(-1.0, 1.0),
    }
}

#[test]
fn activation_gradients() {
    let acts = [
        Activation::Relu,
        Activation::Relu6,
        Activation::ReluN1To1,
        Activation::Clip {
            min: -0.5,
            max: 2.0,
        },
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::HardSigmoid {
            alpha: 0.2,
            beta: 0.5,
        },
        Activation::HardSwish,
        Activation::Binarize,
    ];
    // Points in [-8, 8) away from every kink (0, +-1, -0.5, 2, 6, +-3, +-2.5) by > 2h.
    let kinks = [0.0, 1.0, -1.0, -0.5, 2.0, 6.0, 3.0, -3.0, 2.5, -2.5];
    let x: Vec<f64> = random(400, 1)
        .iter()
        .map(|v| v * 8.0)
        .filter(|v| kinks.iter().all(|k| (v - k).abs() > 1e-2))
        .take(64)
        .collect();
    let r = random(x.len(), 2);
    let shape = [x.len()];
    for act in acts {
        let g = run(
            &Op::ActivationGrad { act },
            &[f32_tensor(&shape, &x), f32_tensor(&shape, &r)],
        );
        let l = |p: &[f64]| p.iter().zip(&r).map(|(v, w)| act_f64(act, *v) * w).sum();
        check(&format!("{act:?}"), &x, &g, 1e-4, &l);
    }
}

/// Float64 grouped 2-D convolution.
fn conv_f64(
    c: &ConvAttrs,
    x: &[f64],
    xs: &[usize],
    w: &[f64],
    ws: &[usize],
    os: &[usize],
) -> Vec<f64> {
    let nchw = c.layout == Layout::Nchw;
    let (n, h, wd, cin) = if nchw {
        (xs[0], xs[2], xs[3], xs[1])
    } else {
        (xs[0], xs[1], xs[2], xs[3])
    };
    let (oh, ow, cout) = if nchw {
        (os[2], os[3], os[1])
    } else {
        (os[1], os[2], os[3])
    };
    let (kh, kw, cig) = if nchw {
        (ws[2], ws[3], ws[1])
    } else {
        (ws[1], ws[2], ws[3])
    };
    let cog = cout / c.group;
    let xi = |b: usize, y: usize, xx: usize, ch: usize| {
        if nchw {
            ((b * cin + ch) * h + y) * wd + xx
        } else {
            ((b * h + y) * wd + xx) * cin + ch
        }
    };
    let wi = |o: usize, ky: usize, kx: usize, i: usize| {
        if nchw {
            ((o * cig + i) * kh + ky) * kw + kx
        } else {
            ((o * kh + ky) * kw + kx) * cig + i
        }
    };
    // The input index along spatial axis `axis` (of `size`) that output index `o` reads
    // through kernel tap `k`, or None in the padding.
    let tap = |axis: usize, o: usize, k: usize, size: usize| {
        let i = (o * c.strides[axis] + k * c.dilations[axis]) as i64 - c.pads[axis] as i64;
        (0..size as i64).contains(&i).then_some(i as usize)
    };
    let mut out = vec![0.0; os.iter().product()];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..cout {
                    let mut acc = 0.0;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let (Some(iy), Some(ix)) = (tap(0, oy, ky, h), tap(1, ox, kx, wd))
                            else {
                                continue;
                            };
                            for i in 0..cig {
                                let ch = (o / cog) * cig + i;
                                acc += x[xi(b, iy, ix, ch)] * w[wi(o, ky, kx, i)];
                            }
                        }
                    }
                    let oi = if nchw {
                        ((b * cout + o) * oh + oy) * ow + ox
                    } else {
                        ((b * oh + oy) * ow + ox) * cout + o
                    };
                    out[oi] = acc;
                }
            }
        }
    }
    out
}

#[test]
fn convolution_gradients() {
    let cases = [
        (
            Layout::Nchw,
            1,
            [1, 1],
            [1, 1],
            [0, 0, 0, 0],
            [2, 3, 5, 5],
            [4, 3, 3, 3],
        ),
        (
            Layout::Nchw,
            2,
            [2, 1],
            [1, 2],
            [1, 1, 1, 1],
            [1, 4, 6, 7],
            [6, 2, 3, 2],
        ),
        (
            Layout::Nhwc,
            3,
            [2, 2],
            [1, 1],
            [0, 1, 1, 0],
            [2, 5, 5, 3],
            [3, 3, 3, 1],
        ),
        (
            Layout::Nhwc,
            1,
            [1, 2],
            [2, 1],
            [2, 0, 1, 1],
            [1, 6, 5, 2],
            [3, 2, 2, 2],
        ),
    ];
    for (k, (layout, group, strides, dilations, pads, xs, ws)) in cases.into_iter().enumerate() {
        let c = ConvAttrs {
            layout,
            strides,
            dilations,
            pads,
            group,
            activation: None,
        };
        let x = random(xs.iter().product(), 10 + k as u64);
        let w = random(ws.iter().product(), 20 + k as u64);
        let (xt, wt) = (f32_tensor(&xs, &x), f32_tensor(&ws, &w));
        let out_ty = nnopt_compiler::ir::infer::infer_types(
            &Op::Conv(c.clone()),
            &[&xt.tensor_type(), &wt.tensor_type()],
        )
        .unwrap();
        let os = out_ty[0].shape.clone();
        let r = random(os.iter().product(), 30 + k as u64);
        let rt = f32_tensor(&os, &r);
        let loss = |x: &[f64], w: &[f64]| -> f64 {
            conv_f64(&c, x, &xs, w, &ws, &os)
                .iter()
                .zip(&r)
                .map(|(a, b)| a * b)
                .sum()
        };
        let dx = run(
            &Op::ConvGradInput(c.clone()),
            &[xt.clone(), wt.clone(), rt.clone()],
        );
        check(&format!("case {k} dx"), &x, &dx, 1e-3, &|p| loss(p, &w));
        let dw = run(&Op::ConvGradWeights(c.clone()), &[xt, wt, rt]);
        check(&format!("case {k} dw"), &w, &dw, 1e-3, &|p| loss(&x, p));
    }
}

#[test]
fn softmax_cross_entropy_gradient() {
    let (n, c) = (4, 5);
    let logits: Vec<f64> = random(n * c, 7).iter().map(|v| v * 3.0).collect();
    let labels = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[n]), vec![0, 4, 2, 2]).unwrap());
    let lt = f32_tensor(&[n, c], &logits);
    let g = run(&Op::SoftmaxCrossEntropyGrad, &[lt.clone(), labels.clone()]);
    let ce = |p: &[f64]| -> f64 {
        let ls = [0usize, 4, 2, 2];
        (0..n)
            .map(|i| {
                let row = &p[i * c..(i + 1) * c];
                let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                lse - row[ls[i]]
            })
            .sum::<f64>()
            / n as f64
    };
    check("softmax cross-entropy", &logits, &g, 1e-4, &ce);
    let loss = run(&Op::SoftmaxCrossEntropy, &[lt, labels.clone()]);
    assert!(
        (loss[0] - ce(&logits)).abs() < 1e-5,
        "loss {} vs {}",
        loss[0],
        ce(&logits)
    );
    // A label outside the classes is an error, not a panic.
    let bad = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[n]), vec![0, 5, 2, 2]).unwrap());
    let t = [f32_tensor(&[n, c], &logits), bad];
    let tys: Vec<_> = t.iter().map(Tensor::tensor_type).collect();
    let ops: Vec<Operand<'_>> = t
        .iter()
        .zip(&tys)
        .map(|(data, ty)| Operand { data, ty })
        .collect();
    let out = [nnopt_compiler::ir::TensorType::new(DType::F32, vec![])];
    let err = eval_op(&Op::SoftmaxCrossEntropy, &ops, &out).unwrap_err();
    assert!(err.to_string().contains("label 5"), "{err}");
}

/// Float64 2-D pooling (max or average) in either layout.
#[allow(clippy::too_many_arguments)]
fn pool_f64(
    max: bool,
    nchw: bool,
    k: [usize; 2],
    s: [usize; 2],
    pads: [usize; 4],
    include_pad: bool,
    x: &[f64],
    xs: &[usize],
    os: &[usize],
) -> Vec<f64> {
    let (n, h, w, c) = if nchw {
        (xs[0], xs[2], xs[3], xs[1])
    } else {
        (xs[0], xs[1], xs[2], xs[3])
    };
    let (oh, ow) = if nchw { (os[2], os[3]) } else { (os[1], os[2]) };
    let at = |b: usize, y: usize, xx: usize, ch: usize, hh: usize, ww: usize| {
        if nchw {
            ((b * c + ch) * hh + y) * ww + xx
        } else {
            ((b * hh + y) * ww + xx) * c + ch
        }
    };
    let mut out = vec![0.0; os.iter().product()];
    for b in 0..n {
        for ch in 0..c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let (mut acc, mut count, mut padded) =
                        (if max { f64::NEG_INFINITY } else { 0.0 }, 0, 0);
                    for ky in 0..k[0] {
                        for kx in 0..k[1] {
                            let iy = (oy * s[0] + ky) as i64 - pads[0] as i64;
                            let ix = (ox * s[1] + kx) as i64 - pads[1] as i64;
                            if iy < (h + pads[2]) as i64 && ix < (w + pads[3]) as i64 {
                                padded += 1;
                            }
                            if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                                continue;
                            }
                            let v = x[at(b, iy as usize, ix as usize, ch, h, w)];
                            acc = if max { acc.max(v) } else { acc + v };
                            count += 1;
                        }
                    }
                    if !max {
                        acc /= if include_pad { padded } else { count } as f64;
                    }
                    out[at(b, oy, ox, ch, oh, ow)] = acc;
                }
            }
        }
    }
    out
}

#[test]
fn pooling_gradients() {
    use nnopt_compiler::ir::{PoolAttrs, PoolKind};
    let mut k = 0;
    for kind in [PoolKind::Max, PoolKind::Avg] {
        for (layout, xs) in [(Layout::Nchw, [2, 3, 7, 6]), (Layout::Nhwc, [1, 6, 7, 2])] {
            for include_pad in [false, true] {
                k += 1;
                let (kernel, strides, pads) = ([3, 2], [2, 2], [1, 0, 1, 1]);
                let pool = PoolAttrs {
                    kind,
                    layout,
                    kernel: kernel.to_vec(),
                    strides: strides.to_vec(),
                    dilations: vec![],
                    pads: pads.to_vec(),
                    ceil_mode: false,
                    count_include_pad: include_pad,
                };
                let x = random(xs.iter().product(), 40 + k);
                let xt = f32_tensor(&xs, &x);
                let os = pool.output_shape(&xs).unwrap();
                let op = Op::PoolGrad(pool);
                let r = random(os.iter().product(), 50 + k);
                let g = run(&op, &[xt, f32_tensor(&os, &r)]);
                let max = kind == PoolKind::Max;
                let nchw = layout == Layout::Nchw;
                let l = |p: &[f64]| -> f64 {
                    pool_f64(max, nchw, kernel, strides, pads, include_pad, p, &xs, &os)
                        .iter()
                        .zip(&r)
                        .map(|(a, b)| a * b)
                        .sum()
                };
                check(
                    &format!("{kind:?} {layout:?} include_pad={include_pad}"),
                    &x,
                    &g,
                    1e-6,
                    &l,
                );
            }
        }
    }
}
