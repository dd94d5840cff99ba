//! FP8 kernels: convolution and fully connected layers whose weights (and possibly data)
//! are FP8 tensors with scales on their types (`decode(code) * scale`).
//!
//! With FP8 data and FP8 weights (what the `quantize-fp8` pass makes and the NPU runs):
//! `y[c] = dot * (s_x * s_w[c]) + bias[c]`, evaluated in f32 in that order, where `dot` is
//! the exact sum of the decoded products rounded once to f32 ([`Fp8Dot`], or f64 matrix
//! products where those are provably exact, see [`exact_in_f64`]); then the fused
//! activation; an FP8 output stores `y / s_out` rounded to nearest even, saturating.
//! With f32 data and FP8 weights (weight-only quantization) the weights are dequantized
//! and the float kernel runs.

use super::conv_geometry::ConvGeometry;
use super::{float, Operand};
use crate::fp8::{Fp8Dot, Fp8Format, Saturation};
use crate::ir::{Activation, ConvAttrs, Op, Tensor, TensorType};
use crate::{bail, Result};
use ndarray::{Array2, ArrayD, IxDyn};

/// Whether `op` has an FP8 operand this module evaluates.
pub fn handles(op: &Op, inputs: &[Operand<'_>]) -> bool {
    matches!(op, Op::Conv(_) | Op::Gemm(_))
        && inputs
            .iter()
            .take(2)
            .any(|o| Fp8Format::of(o.ty.dtype).is_some())
}

/// Evaluates a convolution or Gemm with FP8 operands.
pub fn eval(op: &Op, inputs: &[Operand<'_>], outputs: &[TensorType]) -> Result<Vec<Tensor>> {
    if inputs.len() < 2 {
        bail!("{} needs data and weights", op.name());
    }
    let out = outputs
        .first()
        .ok_or_else(|| crate::Error::new("op has no output"))?;
    let (x, w) = (&inputs[0], &inputs[1]);
    let Some(wf) = Fp8Format::of(w.ty.dtype) else {
        bail!("FP8 data needs FP8 weights, got {}", w.ty);
    };
    let Some(xf) = Fp8Format::of(x.ty.dtype) else {
        return weight_only(op, inputs, outputs);
    };
    let y = match op {
        Op::Conv(c) => conv(c, (xf, x), (wf, w), inputs.get(2), out)?,
        Op::Gemm(g) => {
            if !g.is_fully_connected() {
                bail!("FP8 gemm supports alpha = beta = 1 and no transposed A only");
            }
            gemm(g.trans_b, g.activation, (xf, x), (wf, w), inputs.get(2))?
        }
        _ => bail!("no FP8 kernel for {}", op.name()),
    };
    Ok(vec![store(y, out)?])
}

/// Scales of an FP8 type: one per tensor or `n` (1 without parameters).
fn scales(ty: &TensorType, n: usize, what: &str) -> Result<Vec<f32>> {
    let s = ty.quant.as_ref().map_or(vec![1.0], |q| q.scale.clone());
    match s.len() {
        1 => Ok(vec![s[0]; n]),
        k if k == n => Ok(s),
        k => bail!("{what} has {k} scales, expected 1 or {n}"),
    }
}

fn codes(t: &Tensor) -> Result<Vec<u8>> {
    match t {
        Tensor::F8E4M3(a) | Tensor::F8E5M2(a) => Ok(a.iter().copied().collect()),
        _ => bail!("expected FP8 data, got {}", t.dtype()),
    }
}

fn bias(b: Option<&Operand<'_>>, n: usize) -> Result<Vec<f32>> {
    match b {
        None => Ok(vec![0.0; n]),
        Some(b) => match b.data {
            Tensor::F32(a) if a.len() == n => Ok(a.iter().copied().collect()),
            t => bail!(
                "FP8 kernels need an f32 bias of {n} values, got {}",
                t.tensor_type()
            ),
        },
    }
}

/// Products summed per output below which f64 sums of E4M3 products are exact.
const EXACT_F64_TERMS: usize = 1 << 17;

/// Whether f64 sums of products of these codes equal [`Fp8Dot`]'s value once rounded to
/// f32, in any summation order: both operands E4M3 without NaN codes and fewer than
/// [`EXACT_F64_TERMS`] products a sum. An E4M3 value is a multiple of 2^-9 below 2^9 in
/// magnitude, so a product is an exact multiple of 2^-18 below 2^17.62, and any partial
/// sum of fewer than 2^17 of them a multiple of 2^-18 below 2^35: 53 significant bits,
/// which f64 holds exactly. Rounding that exact sum to f32 is what `Fp8Dot` does.
fn exact_in_f64((fa, a): (Fp8Format, &[u8]), (fb, b): (Fp8Format, &[u8]), terms: usize) -> bool {
    let finite = |c: &u8| c & 0x7f != 0x7f; // E4M3's only non-finite codes are NaN
    fa == Fp8Format::E4M3
        && fb == Fp8Format::E4M3
        && terms < EXACT_F64_TERMS
        && a.iter().all(finite)
        && b.iter().all(finite)
}

/// The decoded values of `codes` (exact in f64).
fn decoded(f: Fp8Format, codes: &[u8]) -> Vec<f64> {
    let table = f.decode_table();
    codes
        .iter()
        .map(|&c| f64::from(table[c as usize]))
        .collect()
}

fn shape(e: ndarray::ShapeError) -> crate::Error {
    crate::Error::new(format!("FP8 kernel operand shape mismatch: {e}"))
}

/// Scale, bias and activation of one accumulated output.
#[inline]
fn finish(dot: f32, scale: f32, bias: f32, act: Option<Activation>) -> f32 {
    let y = dot * scale + bias;
    act.map_or(y, |a| a.apply(y))
}

/// The output tensor: f32 values, or FP8 codes of `y / scale`.
fn store(y: Vec<f32>, out: &TensorType) -> Result<Tensor> {
    let shape = IxDyn(&out.shape);
    let bad = |e| crate::Error::new(format!("kernel output shape mismatch: {e}"));
    let Some(f) = Fp8Format::of(out.dtype) else {
        if out.dtype.is_float() {
            return Ok(Tensor::F32(ArrayD::from_shape_vec(shape, y).map_err(bad)?));
        }
        bail!("FP8 kernels write f32 or FP8, not {}", out.dtype);
    };
    let s = scales(out, 1, "output")?[0];
    let c = y
        .iter()
        .map(|&v| f.encode(v / s, Saturation::Saturate))
        .collect();
    let a = ArrayD::from_shape_vec(shape, c).map_err(bad)?;
    Ok(if out.dtype == crate::ir::DType::F8E5M2 {
        Tensor::F8E5M2(a)
    } else {
        Tensor::F8E4M3(a)
    })
}

type Fp8Operand<'a, 'b> = (Fp8Format, &'a Operand<'b>);

fn conv(
    c: &ConvAttrs,
    (xf, x): Fp8Operand<'_, '_>,
    (wf, w): Fp8Operand<'_, '_>,
    b: Option<&Operand<'_>>,
    out: &TensorType,
) -> Result<Vec<f32>> {
    let geo = ConvGeometry::new(c, x.data.shape(), w.data.shape(), &out.shape)?;
    let n = geo.cout();
    let sx = scales(x.ty, 1, "input")?[0];
    let sw = scales(w.ty, n, "weights")?;
    let bias = bias(b, n)?;
    let (xv, wv) = (codes(x.data)?, codes(w.data)?);
    let mut y = vec![0f32; out.num_elements()];
    if exact_in_f64((xf, &xv), (wf, &wv), geo.taps_per_output()) {
        let (xd, wd) = (decoded(xf, &xv), decoded(wf, &wv));
        let [n, oh, ow] = geo.output_grid();
        let (k, og) = (geo.taps_per_output(), geo.cout() / geo.groups());
        for gi in 0..geo.groups() {
            let wm = Array2::from_shape_vec((k, og), geo.weight_matrix(&wd, gi)).map_err(shape)?;
            for b in 0..n {
                let cols = Array2::from_shape_vec((oh * ow, k), geo.im2col(&xd, 0.0, b, gi))
                    .map_err(shape)?;
                for ((p, j), &dot) in cols.dot(&wm).indexed_iter() {
                    let oc = gi * og + j;
                    let oi = geo.output_index(b, p / ow, p % ow, oc);
                    y[oi] = finish(dot as f32, sx * sw[oc], bias[oc], c.activation);
                }
            }
        }
        return Ok(y);
    }
    geo.for_each_output(|oi, oc, taps| {
        let mut dot = Fp8Dot::new(xf, wf);
        taps.fold((), |(), xi, wi| dot.add(xv[xi], wv[wi]));
        y[oi] = finish(dot.value(), sx * sw[oc], bias[oc], c.activation);
    });
    Ok(y)
}

fn gemm(
    trans_b: bool,
    act: Option<Activation>,
    (af, a): Fp8Operand<'_, '_>,
    (wf, w): Fp8Operand<'_, '_>,
    b: Option<&Operand<'_>>,
) -> Result<Vec<f32>> {
    let (as_, ws) = (a.data.shape(), w.data.shape());
    if as_.len() != 2 || ws.len() != 2 {
        bail!("FP8 gemm needs 2-D operands, got {as_:?} and {ws:?}");
    }
    let (m, k) = (as_[0], as_[1]);
    let (n, wk) = if trans_b {
        (ws[0], ws[1])
    } else {
        (ws[1], ws[0])
    };
    if wk != k {
        bail!("FP8 gemm: {as_:?} does not multiply {ws:?}");
    }
    let sa = scales(a.ty, 1, "input")?[0];
    let sw = scales(w.ty, n, "weights")?;
    let bias = bias(b, n)?;
    let (av, wv) = (codes(a.data)?, codes(w.data)?);
    let mut y = vec![0f32; m * n];
    if exact_in_f64((af, &av), (wf, &wv), k) {
        let ad = Array2::from_shape_vec((m, k), decoded(af, &av)).map_err(shape)?;
        let wd = Array2::from_shape_vec((ws[0], ws[1]), decoded(wf, &wv)).map_err(shape)?;
        let wd = if trans_b { wd.reversed_axes() } else { wd };
        for ((i, j), &dot) in ad.dot(&wd).indexed_iter() {
            y[i * n + j] = finish(dot as f32, sa * sw[j], bias[j], act);
        }
        return Ok(y);
    }
    for i in 0..m {
        for j in 0..n {
            let mut d = Fp8Dot::new(af, wf);
            for kk in 0..k {
                let wi = if trans_b { j * k + kk } else { kk * n + j };
                d.add(av[i * k + kk], wv[wi]);
            }
            y[i * n + j] = finish(d.value(), sa * sw[j], bias[j], act);
        }
    }
    Ok(y)
}

/// f32 data with FP8 weights: dequantize the weights, run the float kernel.
fn weight_only(op: &Op, inputs: &[Operand<'_>], outputs: &[TensorType]) -> Result<Vec<Tensor>> {
    let w = &inputs[1];
    let f = Fp8Format::of(w.ty.dtype).expect("checked by the caller");
    let q = w.ty.quant.as_ref();
    let scale_at = |i: &IxDyn| -> f32 {
        q.map_or(1.0, |q| match q.axis {
            Some(axis) if q.scale.len() > 1 => q.scale[i[axis]],
            _ => q.scale[0],
        })
    };
    let wd = match w.data {
        Tensor::F8E4M3(a) | Tensor::F8E5M2(a) => {
            let mut d = a.mapv(|c| f.decode(c));
            for (i, v) in d.indexed_iter_mut() {
                *v *= scale_at(&i);
            }
            Tensor::F32(d)
        }
        t => bail!("expected FP8 weights, got {}", t.dtype()),
    };
    let wty = wd.tensor_type();
    let mut ops = inputs.to_vec();
    ops[1] = Operand {
        data: &wd,
        ty: &wty,
    };
    float::eval(op, &ops, outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{DType, GemmAttrs, Layout, QuantParams};

    /// FP8 codes of pseudo-random values in about [-3, 3] (no NaN).
    fn codes_of(f: Fp8Format, n: usize, seed: u32) -> Vec<u8> {
        (0..n)
            .map(|i| {
                let v = (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 6000)
                    as f32
                    / 1000.0
                    - 3.0;
                f.encode(v, Saturation::Saturate)
            })
            .collect()
    }

    fn fp8_tensor(f: Fp8Format, shape: &[usize], seed: u32) -> Tensor {
        let a = ArrayD::from_shape_vec(IxDyn(shape), codes_of(f, shape.iter().product(), seed))
            .unwrap();
        match f {
            Fp8Format::E4M3 => Tensor::F8E4M3(a),
            Fp8Format::E5M2 => Tensor::F8E5M2(a),
        }
    }

    /// The same values (times their scales) as f32.
    fn dequantized(t: &Tensor, ty: &TensorType) -> Tensor {
        let f = Fp8Format::of(t.dtype()).unwrap();
        let q = ty.quant.as_ref().unwrap();
        match t {
            Tensor::F8E4M3(a) | Tensor::F8E5M2(a) => {
                let mut d = a.mapv(|c| f.decode(c));
                for (i, v) in d.indexed_iter_mut() {
                    *v *= q.scale[q.axis.map_or(0, |ax| i[ax])];
                }
                Tensor::F32(d)
            }
            _ => unreachable!(),
        }
    }

    /// Runs `op` on FP8 operands and on their dequantized f32 values with the float
    /// kernel, and compares.
    fn check(op: &Op, xs: &[usize], ws: &[usize], axis: usize, out: &[usize]) {
        for (xf, wf) in [
            (Fp8Format::E4M3, Fp8Format::E4M3),
            (Fp8Format::E5M2, Fp8Format::E4M3),
        ] {
            let x = fp8_tensor(xf, xs, 1);
            let w = fp8_tensor(wf, ws, 2);
            let cout = ws[axis];
            let xty = x
                .tensor_type()
                .with_quant(Some(QuantParams::per_tensor(0.5, 0)));
            let wty = w.tensor_type().with_quant(Some(QuantParams {
                scale: (0..cout).map(|c| 0.25 + c as f32 / 8.0).collect(),
                zero_point: vec![0; cout],
                axis: Some(axis),
            }));
            let b = Tensor::F32(ArrayD::from_shape_fn(IxDyn(&[cout]), |i| i[0] as f32 - 1.0));
            let bty = b.tensor_type();
            let out_ty = TensorType::new(DType::F32, out.to_vec());
            let ops = [
                Operand { data: &x, ty: &xty },
                Operand { data: &w, ty: &wty },
                Operand { data: &b, ty: &bty },
            ];
            let got = eval(op, &ops, std::slice::from_ref(&out_ty)).unwrap();
            let (xd, wd) = (dequantized(&x, &xty), dequantized(&w, &wty));
            let (xdt, wdt) = (xd.tensor_type(), wd.tensor_type());
            let fops = [
                Operand {
                    data: &xd,
                    ty: &xdt,
                },
                Operand {
                    data: &wd,
                    ty: &wdt,
                },
                ops[2],
            ];
            let want = float::eval(op, &fops, &[out_ty]).unwrap();
            let (g, w) = (got[0].to_f64_vec(), want[0].to_f64_vec());
            let scale = w.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            for (a, b) in g.iter().zip(&w) {
                assert!(
                    (a - b).abs() <= 1e-5 * scale,
                    "{op:?}: fp8 {a} vs float {b}"
                );
            }
            // Weight-only: f32 data with FP8 weights is the float kernel on dequantized
            // weights.
            let wo = [fops[0], ops[1], ops[2]];
            let got = eval(
                op,
                &wo,
                std::slice::from_ref(&TensorType::new(DType::F32, out.to_vec())),
            )
            .unwrap();
            assert_eq!(got[0], want[0]);
        }
    }

    fn conv_attrs(layout: Layout, group: usize) -> ConvAttrs {
        ConvAttrs {
            layout,
            strides: [2, 1],
            dilations: [1, 2],
            pads: [1, 1, 1, 1],
            group,
            activation: Some(Activation::Relu6),
        }
    }

    #[test]
    fn conv_and_gemm_match_the_float_kernels_on_dequantized_values() {
        check(
            &Op::Conv(conv_attrs(Layout::Nchw, 2)),
            &[2, 4, 5, 6],
            &[6, 2, 3, 3],
            0,
            &[2, 6, 3, 4],
        );
        check(
            &Op::Conv(conv_attrs(Layout::Nhwc, 4)),
            &[1, 5, 6, 4],
            &[4, 3, 3, 1],
            0,
            &[1, 3, 4, 4],
        );
        for trans_b in [false, true] {
            let gemm = Op::Gemm(GemmAttrs::fully_connected(trans_b, None));
            let (ws, axis) = if trans_b { ([5, 7], 0) } else { ([7, 5], 1) };
            check(&gemm, &[3, 7], &ws, axis, &[3, 5]);
        }
    }

    /// Every E4M3 code but NaN, in a scrambled order.
    fn all_finite_e4m3(n: usize, seed: u32) -> Vec<u8> {
        (0..n as u32)
            .map(|i| {
                let c = (i.wrapping_mul(2654435761).wrapping_add(seed) >> 7) as u8;
                if c & 0x7f == 0x7f {
                    c ^ 1
                } else {
                    c
                }
            })
            .collect()
    }

    #[test]
    fn f64_matrix_products_equal_the_exact_accumulator() {
        // Full-range codes (subnormals to +-448) make the f32 rounding of the sums matter.
        let f = Fp8Format::E4M3;
        let c = ConvAttrs {
            activation: None,
            ..conv_attrs(Layout::Nhwc, 1)
        };
        let (xs, ws, os) = ([2, 6, 7, 40], [5, 3, 3, 40], [2, 3, 7, 5]);
        let xv = all_finite_e4m3(xs.iter().product(), 3);
        let wv = all_finite_e4m3(ws.iter().product(), 4);
        assert!(exact_in_f64((f, &xv), (f, &wv), 9 * 40));
        let to = |shape: &[usize], v: &[u8]| {
            Tensor::F8E4M3(ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap())
        };
        let (x, w) = (to(&xs, &xv), to(&ws, &wv));
        let (xty, wty) = (x.tensor_type(), w.tensor_type());
        let out_ty = TensorType::new(DType::F32, os.to_vec());
        let ops = [
            Operand { data: &x, ty: &xty },
            Operand { data: &w, ty: &wty },
        ];
        let got = eval(&Op::Conv(c.clone()), &ops, &[out_ty]).unwrap();
        let geo = ConvGeometry::new(&c, &xs, &ws, &os).unwrap();
        let mut want = vec![0f32; os.iter().product()];
        geo.for_each_output(|oi, _, taps| {
            let mut dot = Fp8Dot::new(f, f);
            taps.fold((), |(), xi, wi| dot.add(xv[xi], wv[wi]));
            want[oi] = dot.value();
        });
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let Tensor::F32(got) = &got[0] else { panic!() };
        assert_eq!(bits(got.as_slice().unwrap()), bits(&want));
        // A NaN code takes the exact accumulator (and its IEEE NaN handling).
        let mut nan = wv.clone();
        nan[0] = 0x7f;
        assert!(!exact_in_f64((f, &xv), (f, &nan), 9 * 40));
        assert!(!exact_in_f64((f, &xv), (Fp8Format::E5M2, &wv), 9 * 40));
        assert!(!exact_in_f64((f, &xv), (f, &wv), EXACT_F64_TERMS));
    }

    #[test]
    fn fp8_output_is_the_rounded_scaled_value() {
        let f = Fp8Format::E4M3;
        let x = fp8_tensor(f, &[2, 3], 5);
        let w = fp8_tensor(f, &[3, 2], 6);
        let xty = x
            .tensor_type()
            .with_quant(Some(QuantParams::per_tensor(1.0, 0)));
        let wty = w
            .tensor_type()
            .with_quant(Some(QuantParams::per_tensor(1.0, 0)));
        let gemm = Op::Gemm(GemmAttrs::fully_connected(false, None));
        let ops = [
            Operand { data: &x, ty: &xty },
            Operand { data: &w, ty: &wty },
        ];
        let f32_out = eval(&gemm, &ops, &[TensorType::new(DType::F32, vec![2, 2])]).unwrap();
        let fp8_ty = TensorType::new(DType::F8E4M3, vec![2, 2])
            .with_quant(Some(QuantParams::per_tensor(0.5, 0)));
        let fp8_out = eval(&gemm, &ops, &[fp8_ty]).unwrap();
        let want: Vec<u8> = f32_out[0]
            .to_f64_vec()
            .iter()
            .map(|&v| f.encode(v as f32 / 0.5, Saturation::Saturate))
            .collect();
        match &fp8_out[0] {
            Tensor::F8E4M3(a) => assert_eq!(a.iter().copied().collect::<Vec<_>>(), want),
            t => panic!("{t:?}"),
        }
    }
}
