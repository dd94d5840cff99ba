//! Attributes of [`Op::Recurrent`](super::Op::Recurrent) (ONNX's RNN, GRU and LSTM, TFLite's
//! LSTM): the cell, the direction, the cell's functions, the input slots they imply and
//! the output types.
//!
//! Inputs, with `D` directions, `G` gates (RNN 1, GRU 3, LSTM 4), `T` steps, `B` batch,
//! `I` input and `H` hidden size (ONNX's shapes and gate orders):
//! `x` `[T, B, I]` (`[B, T, I]` when `batch_major`), `w` `[D, G*H, I]`, `r` `[D, G*H, H]`,
//! `b` `[D, 2*G*H]` (input biases, then recurrent biases), `initial_h` `[D, B, H]`
//! (`[B, D, H]`), then for an LSTM `initial_c` like `initial_h` and, with peepholes, `p`
//! `[D, 3*H]`; last, when `sequence_lens`, the integer lengths `[B]`. Outputs: `y`
//! `[T, D, B, H]` (`[B, T, D, H]`; zero past a sequence's length), `y_h` and, for an
//! LSTM, `y_c`, shaped like `initial_h`.

use super::dtype::DType;
use super::tensor::TensorType;
use crate::{bail, Result};
use serde::{Deserialize, Serialize};

/// The recurrent cell; gates in ONNX's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecurrentCell {
    /// `h = f(W x + R h + b)`.
    Rnn,
    /// Gates `z, r, h`; `linear_before_reset` applies the reset gate after `R_h h + Rb_h`.
    Gru { linear_before_reset: bool },
    /// Gates `i, o, f, c`; `input_forget` couples the forget gate to the input gate
    /// (`f = 1 - i`); `peepholes` adds the `p` input (`[P_i, P_o, P_f]`).
    Lstm { input_forget: bool, peepholes: bool },
}

impl RecurrentCell {
    /// Gates per direction (the row blocks of `w` and `r`).
    pub fn gates(self) -> usize {
        match self {
            RecurrentCell::Rnn => 1,
            RecurrentCell::Gru { .. } => 3,
            RecurrentCell::Lstm { .. } => 4,
        }
    }

    /// Functions per direction: `f` (RNN), `f, g` (GRU), `f, g, h` (LSTM).
    pub fn functions(self) -> usize {
        match self {
            RecurrentCell::Rnn => 1,
            RecurrentCell::Gru { .. } => 2,
            RecurrentCell::Lstm { .. } => 3,
        }
    }

    /// ONNX's default functions of one direction.
    pub fn default_activations(self) -> Vec<RecurrentActivation> {
        use RecurrentActivation::{Sigmoid, Tanh};
        match self {
            RecurrentCell::Rnn => vec![Tanh],
            RecurrentCell::Gru { .. } => vec![Sigmoid, Tanh],
            RecurrentCell::Lstm { .. } => vec![Sigmoid, Tanh, Tanh],
        }
    }
}

/// Which way the sequence is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecurrentDirection {
    Forward,
    Reverse,
    /// Forward, then reverse, as direction 0 and 1 of every output.
    Bidirectional,
}

impl RecurrentDirection {
    /// The `D` of the shapes.
    pub fn count(self) -> usize {
        match self {
            RecurrentDirection::Bidirectional => 2,
            _ => 1,
        }
    }
}

/// The functions of ONNX's recurrent ops, with their `alpha`/`beta`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecurrentActivation {
    Relu,
    Tanh,
    Sigmoid,
    /// `alpha * x + beta`.
    Affine {
        alpha: f32,
        beta: f32,
    },
    LeakyRelu {
        alpha: f32,
    },
    /// `x` where `x > alpha`, else 0.
    ThresholdedRelu {
        alpha: f32,
    },
    /// `alpha * tanh(beta * x)`.
    ScaledTanh {
        alpha: f32,
        beta: f32,
    },
    /// `clamp(alpha * x + beta, 0, 1)`.
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    Elu {
        alpha: f32,
    },
    /// `x / (1 + |x|)`.
    Softsign,
    /// `ln(1 + e^x)`.
    Softplus,
}

impl RecurrentActivation {
    /// Applies the function to one value.
    pub fn apply(self, x: f32) -> f32 {
        use RecurrentActivation::*;
        match self {
            Relu => x.max(0.0),
            Tanh => x.tanh(),
            Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Affine { alpha, beta } => alpha * x + beta,
            LeakyRelu { alpha } => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            ThresholdedRelu { alpha } => {
                if x > alpha {
                    x
                } else {
                    0.0
                }
            }
            ScaledTanh { alpha, beta } => alpha * (beta * x).tanh(),
            HardSigmoid { alpha, beta } => (alpha * x + beta).clamp(0.0, 1.0),
            Elu { alpha } => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * (x.exp() - 1.0)
                }
            }
            Softsign => x / (1.0 + x.abs()),
            Softplus => x.exp().ln_1p(),
        }
    }
}

/// Attributes of a recurrent layer (see the module documentation for its operands).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecurrentAttrs {
    pub cell: RecurrentCell,
    pub direction: RecurrentDirection,
    pub hidden_size: usize,
    /// The cell's functions per direction ([`RecurrentCell::functions`] each), forward
    /// first.
    pub activations: Vec<RecurrentActivation>,
    /// ONNX `clip`: every gate's input is clamped to `[-clip, clip]` before its function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<f32>,
    /// TFLite `cell_clip` (LSTM): the cell state is clamped to `[-cell_clip, cell_clip]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell_clip: Option<f32>,
    /// ONNX `layout = 1` (TFLite `time_major = false`): batch before time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub batch_major: bool,
    /// Whether the last input holds per-sequence lengths.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sequence_lens: bool,
}

/// Where the optional inputs of a recurrent layer sit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecurrentSlots {
    pub initial_c: Option<usize>,
    pub peepholes: Option<usize>,
    pub sequence_lens: Option<usize>,
    /// The number of inputs.
    pub count: usize,
}

/// Sizes of a recurrent layer, read from its input shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecurrentDims {
    pub steps: usize,
    pub batch: usize,
    pub input: usize,
    pub hidden: usize,
    pub directions: usize,
}

impl RecurrentAttrs {
    /// The input slots these attributes imply.
    pub fn slots(&self) -> RecurrentSlots {
        let mut next = 5;
        let mut take = |present: bool| {
            present.then(|| {
                next += 1;
                next - 1
            })
        };
        let lstm = matches!(self.cell, RecurrentCell::Lstm { .. });
        let peep = matches!(
            self.cell,
            RecurrentCell::Lstm {
                peepholes: true,
                ..
            }
        );
        let initial_c = take(lstm);
        let peepholes = take(peep);
        let sequence_lens = take(self.sequence_lens);
        RecurrentSlots {
            initial_c,
            peepholes,
            sequence_lens,
            count: next,
        }
    }

    /// The shape of a state (`initial_h`, `y_h`): `[D, B, H]` or `[B, D, H]`.
    pub fn state_shape(&self, d: &RecurrentDims) -> Vec<usize> {
        if self.batch_major {
            vec![d.batch, d.directions, d.hidden]
        } else {
            vec![d.directions, d.batch, d.hidden]
        }
    }

    /// Checks every input's shape and returns the sizes.
    pub fn dims(&self, inputs: &[&TensorType]) -> Result<RecurrentDims> {
        let slots = self.slots();
        if inputs.len() != slots.count {
            bail!(
                "a recurrent {:?} layer takes {} inputs, got {}",
                self.cell,
                slots.count,
                inputs.len()
            );
        }
        let x = &inputs[0].shape;
        if x.len() != 3 {
            bail!("recurrent input must have rank 3, got {x:?}");
        }
        let (steps, batch) = if self.batch_major {
            (x[1], x[0])
        } else {
            (x[0], x[1])
        };
        let fns = self.cell.functions() * self.direction.count();
        if self.activations.len() != fns {
            bail!(
                "a recurrent {:?} layer has {fns} functions, got {}",
                self.cell,
                self.activations.len()
            );
        }
        let d = RecurrentDims {
            steps,
            batch,
            input: x[2],
            hidden: self.hidden_size,
            directions: self.direction.count(),
        };
        let (dn, h, gh) = (d.directions, d.hidden, self.cell.gates() * d.hidden);
        let state = self.state_shape(&d);
        let mut expect = vec![
            (1, "w", vec![dn, gh, d.input]),
            (2, "r", vec![dn, gh, h]),
            (3, "b", vec![dn, 2 * gh]),
            (4, "initial_h", state.clone()),
        ];
        expect.extend(slots.initial_c.map(|i| (i, "initial_c", state.clone())));
        expect.extend(slots.peepholes.map(|i| (i, "p", vec![dn, 3 * h])));
        expect.extend(
            slots
                .sequence_lens
                .map(|i| (i, "sequence_lens", vec![batch])),
        );
        for (i, what, shape) in expect {
            if inputs[i].shape != shape {
                bail!(
                    "recurrent {what} must be {shape:?}, got {:?}",
                    inputs[i].shape
                );
            }
        }
        if let Some(i) = slots.sequence_lens {
            if inputs[i].dtype.int_range().is_none() || inputs[i].dtype == DType::Bool {
                bail!("sequence_lens must be integers, got {}", inputs[i]);
            }
        }
        Ok(d)
    }

    /// Output types: `y` (dtype and quantization of the hidden state), `y_h` and, for an
    /// LSTM, `y_c`.
    pub fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>> {
        let d = self.dims(inputs)?;
        let y_shape = if self.batch_major {
            vec![d.batch, d.steps, d.directions, d.hidden]
        } else {
            vec![d.steps, d.directions, d.batch, d.hidden]
        };
        let h = inputs[4];
        let mut out = vec![
            TensorType::new(h.dtype, y_shape).with_quant(h.quant.clone()),
            h.clone(),
        ];
        out.extend(self.slots().initial_c.map(|i| inputs[i].clone()));
        Ok(out)
    }
}
