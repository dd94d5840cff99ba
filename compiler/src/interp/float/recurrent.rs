//! RNN, GRU and LSTM layers on f32 operands, with ONNX's equations (see
//! [`crate::ir::RecurrentAttrs`]).

use super::util::f32_input;
use crate::interp::Operand;
use crate::ir::{
    RecurrentActivation, RecurrentAttrs, RecurrentCell, RecurrentDims, RecurrentDirection, Tensor,
};
use crate::{bail, Error, Result};
use ndarray::{ArrayD, IxDyn};

/// Runs the layer: `(y, y_h, [y_c])`.
pub(super) fn recurrent(a: &RecurrentAttrs, inputs: &[Operand<'_>]) -> Result<Vec<Tensor>> {
    let types: Vec<_> = inputs.iter().map(|o| o.ty).collect();
    let d = a.dims(&types)?;
    let slots = a.slots();
    let flat = |i: usize, what: &str| -> Result<Vec<f32>> {
        Ok(f32_input(inputs, i, what)?.iter().copied().collect())
    };
    let l = Layer {
        a,
        d,
        x: flat(0, "recurrent input")?,
        w: flat(1, "recurrent input weights")?,
        r: flat(2, "recurrent weights")?,
        b: flat(3, "recurrent biases")?,
        p: slots.peepholes.map(|i| flat(i, "peepholes")).transpose()?,
    };
    let lens = match slots.sequence_lens {
        Some(i) => {
            let v = inputs[i]
                .data
                .to_i64_vec()
                .ok_or_else(|| Error::new("sequence_lens must be integers"))?;
            if let Some(bad) = v.iter().find(|&&n| n < 0 || n as usize > d.steps) {
                bail!("sequence length {bad} is outside 0..={}", d.steps);
            }
            v.into_iter().map(|n| n as usize).collect()
        }
        None => vec![d.steps; d.batch],
    };
    let state_len = d.directions * d.batch * d.hidden;
    let mut h = flat(4, "initial_h")?;
    let mut c = match slots.initial_c {
        Some(i) => flat(i, "initial_c")?,
        None => vec![0.0; state_len],
    };
    let mut y = vec![0.0f32; d.steps * state_len];
    for dir in 0..d.directions {
        let reverse = a.direction == RecurrentDirection::Reverse || dir == 1;
        for (b, &len) in lens.iter().enumerate() {
            let s = l.state_at(dir, b);
            let (hs, cs) = (&mut h[s..s + d.hidden], &mut c[s..s + d.hidden]);
            for k in 0..len {
                let t = if reverse { len - 1 - k } else { k };
                l.step(dir, &l.x[l.x_at(t, b)..][..d.input], hs, cs);
                y[l.y_at(t, dir, b)..][..d.hidden].copy_from_slice(hs);
            }
        }
    }
    let y_shape = match a.batch_major {
        true => vec![d.batch, d.steps, d.directions, d.hidden],
        false => vec![d.steps, d.directions, d.batch, d.hidden],
    };
    let state_shape = a.state_shape(&d);
    let tensor = |shape: &[usize], v: Vec<f32>| -> Result<Tensor> {
        ArrayD::from_shape_vec(IxDyn(shape), v)
            .map(Tensor::F32)
            .map_err(|e| Error::new(e.to_string()))
    };
    let mut out = vec![tensor(&y_shape, y)?, tensor(&state_shape, h)?];
    if slots.initial_c.is_some() {
        out.push(tensor(&state_shape, c)?);
    }
    Ok(out)
}

/// A layer's weights and sizes.
struct Layer<'a> {
    a: &'a RecurrentAttrs,
    d: RecurrentDims,
    x: Vec<f32>,
    w: Vec<f32>,
    r: Vec<f32>,
    b: Vec<f32>,
    p: Option<Vec<f32>>,
}

impl Layer<'_> {
    fn x_at(&self, t: usize, b: usize) -> usize {
        let d = &self.d;
        match self.a.batch_major {
            true => (b * d.steps + t) * d.input,
            false => (t * d.batch + b) * d.input,
        }
    }

    fn y_at(&self, t: usize, dir: usize, b: usize) -> usize {
        let d = &self.d;
        match self.a.batch_major {
            true => ((b * d.steps + t) * d.directions + dir) * d.hidden,
            false => ((t * d.directions + dir) * d.batch + b) * d.hidden,
        }
    }

    fn state_at(&self, dir: usize, b: usize) -> usize {
        let d = &self.d;
        match self.a.batch_major {
            true => (b * d.directions + dir) * d.hidden,
            false => (dir * d.batch + b) * d.hidden,
        }
    }

    /// Gate `g`'s input part for direction `dir`: `W_g x + Wb_g`, and `+ Rb_g` with
    /// `recurrent_bias`.
    fn input_part(&self, dir: usize, g: usize, x: &[f32], recurrent_bias: bool) -> Vec<f32> {
        let (h, n) = (self.d.hidden, self.d.input);
        let gh = self.a.cell.gates() * h;
        (0..h)
            .map(|j| {
                let row = dir * gh + g * h + j;
                let w = &self.w[row * n..(row + 1) * n];
                let bias = dir * 2 * gh + g * h + j;
                let rb = if recurrent_bias {
                    self.b[bias + gh]
                } else {
                    0.0
                };
                dot(w, x) + self.b[bias] + rb
            })
            .collect()
    }

    /// `R_g v` for direction `dir`.
    fn recurrent_part(&self, dir: usize, g: usize, v: &[f32]) -> Vec<f32> {
        let h = self.d.hidden;
        let gh = self.a.cell.gates() * h;
        (0..h)
            .map(|j| {
                let row = dir * gh + g * h + j;
                dot(&self.r[row * h..(row + 1) * h], v)
            })
            .collect()
    }

    /// Function `k` of direction `dir`; the clip applies to gate inputs (`f`, `g`), not
    /// to an LSTM's `h` of the cell state.
    fn act(&self, dir: usize, k: usize, v: f32) -> f32 {
        let n = self.a.cell.functions();
        let v = match self.a.clip {
            Some(c) if k < 2 => v.clamp(-c, c),
            _ => v,
        };
        let f: RecurrentActivation = self.a.activations[dir * n + k];
        f.apply(v)
    }

    /// One step: updates the hidden state `h` and (LSTM) the cell state `c`.
    fn step(&self, dir: usize, x: &[f32], h: &mut [f32], c: &mut [f32]) {
        let sum = |a: Vec<f32>, b: Vec<f32>| -> Vec<f32> {
            a.into_iter().zip(b).map(|(a, b)| a + b).collect()
        };
        let gate = |g: usize| {
            sum(
                self.input_part(dir, g, x, true),
                self.recurrent_part(dir, g, h),
            )
        };
        match self.a.cell {
            RecurrentCell::Rnn => {
                let v = gate(0);
                for (h, v) in h.iter_mut().zip(v) {
                    *h = self.act(dir, 0, v);
                }
            }
            RecurrentCell::Gru {
                linear_before_reset,
            } => {
                let z: Vec<f32> = gate(0).into_iter().map(|v| self.act(dir, 0, v)).collect();
                let r: Vec<f32> = gate(1).into_iter().map(|v| self.act(dir, 0, v)).collect();
                let pre: Vec<f32> = if linear_before_reset {
                    let hx = self.input_part(dir, 2, x, false);
                    let gh = self.a.cell.gates() * self.d.hidden;
                    let rb = &self.b[dir * 2 * gh + gh + 2 * self.d.hidden..];
                    let rh = self.recurrent_part(dir, 2, h);
                    (0..h.len())
                        .map(|j| hx[j] + r[j] * (rh[j] + rb[j]))
                        .collect()
                } else {
                    let hx = self.input_part(dir, 2, x, true);
                    let reset: Vec<f32> = r.iter().zip(h.iter()).map(|(r, h)| r * h).collect();
                    sum(hx, self.recurrent_part(dir, 2, &reset))
                };
                for (j, h) in h.iter_mut().enumerate() {
                    let cand = self.act(dir, 1, pre[j]);
                    *h = (1.0 - z[j]) * cand + z[j] * *h;
                }
            }
            RecurrentCell::Lstm { input_forget, .. } => {
                let hn = self.d.hidden;
                let p = |k: usize, j: usize| {
                    self.p
                        .as_ref()
                        .map_or(0.0, |p| p[dir * 3 * hn + k * hn + j])
                };
                let (gi, go, gf, gc) = (gate(0), gate(1), gate(2), gate(3));
                for j in 0..hn {
                    let i = self.act(dir, 0, gi[j] + p(0, j) * c[j]);
                    let f = match input_forget {
                        true => 1.0 - i,
                        false => self.act(dir, 0, gf[j] + p(2, j) * c[j]),
                    };
                    let g = self.act(dir, 1, gc[j]);
                    let mut cell = f * c[j] + i * g;
                    if let Some(clip) = self.a.cell_clip {
                        cell = cell.clamp(-clip, clip);
                    }
                    c[j] = cell;
                    let o = self.act(dir, 0, go[j] + p(1, j) * cell);
                    h[j] = o * self.act(dir, 2, cell);
                }
            }
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0f32, |acc, (a, b)| acc + a * b)
}
