//! FP8 kernels: convolution and fully connected layers on FP8 codes with an exact dot
//! product ([`Fp8Dot`]), their f32 output stage, and f32 to FP8 quantization, with the
//! reference interpreter's arithmetic (`nnopt_compiler::interp::fp8`).

use super::conv::{fc_shape, ConvShape};
use crate::npu::program::{Conv2d, Fp8Encoding, Fp8Stage, Fp8Weights, FullyConnected, WeightBlock};
use nnopt_compiler::fp8::{Fp8Dot, Saturation};
use nnopt_compiler::{Error, Result};

/// The FP8 part of a weight block with `n` channels of `per_channel` codes.
fn fp8_block<'a>(
    name: &str,
    wb: &'a WeightBlock,
    n: usize,
    per_channel: usize,
) -> Result<&'a Fp8Weights> {
    let f = wb
        .fp8
        .as_ref()
        .ok_or_else(|| Error::at_node(name, "FP8 command with an integer weight block"))?;
    if Some(wb.weights.len()) != n.checked_mul(per_channel)
        || f.scales.len() != n
        || f.bias.len() != n
    {
        return Err(Error::at_node(
            name,
            format!("FP8 weight block does not match {n} channels of {per_channel} weights"),
        ));
    }
    Ok(f)
}

/// Scale, bias and activation of one accumulated output (the interpreter's order).
#[inline]
fn finish(dot: f32, scale: f32, bias: f32, st: &Fp8Stage) -> f32 {
    let y = dot * scale + bias;
    st.activation.map_or(y, |a| a.apply(y))
}

/// FP8 codes of `x / scale`, rounded to nearest even and saturating.
pub fn encode(x: &[f32], e: Fp8Encoding) -> Vec<u8> {
    x.iter()
        .map(|&v| e.format.encode(v / e.scale, Saturation::Saturate))
        .collect()
}

/// Runs an FP8 convolution on input codes `x` (shape `xs`) into f32 results of shape `os`.
pub fn conv2d(
    c: &Conv2d,
    st: &Fp8Stage,
    wb: &WeightBlock,
    x: &[u8],
    xs: &[usize],
    os: &[usize],
) -> Result<Vec<f32>> {
    let shape = ConvShape::new(c, xs, os)?;
    let f = fp8_block(&c.name, wb, shape.cout, shape.weights_per_channel())?;
    let scale: Vec<f32> = f.scales.iter().map(|&s| st.input_scale * s).collect();
    let mut out = vec![0f32; shape.output_len()];
    shape.for_each_output(c, |oi, oc, taps| {
        let dot = taps.fold(Fp8Dot::new(st.input_format, f.format), |mut dot, xi, wi| {
            dot.add(x[xi], wb.weights[wi] as u8);
            dot
        });
        out[oi] = finish(dot.value(), scale[oc], f.bias[oc], st);
    });
    Ok(out)
}

/// Runs an FP8 fully connected layer: codes `x` flattened to `[batch, in]`, weights
/// `[out, in]`, f32 results `[batch, out]`.
pub fn fully_connected(
    c: &FullyConnected,
    st: &Fp8Stage,
    wb: &WeightBlock,
    x: &[u8],
    out_len: usize,
) -> Result<Vec<f32>> {
    let nout = wb.channels();
    let (batch, k) = fc_shape(c, nout, x.len(), out_len)?;
    let f = fp8_block(&c.name, wb, nout, k)?;
    let mut out = vec![0f32; out_len];
    for i in 0..batch {
        let row = &x[i * k..(i + 1) * k];
        for j in 0..nout {
            let wrow = &wb.weights[j * k..(j + 1) * k];
            let dot = row.iter().zip(wrow).fold(
                Fp8Dot::new(st.input_format, f.format),
                |mut d, (&xv, &wv)| {
                    d.add(xv, wv as u8);
                    d
                },
            );
            out[i * nout + j] = finish(dot.value(), st.input_scale * f.scales[j], f.bias[j], st);
        }
    }
    Ok(out)
}
