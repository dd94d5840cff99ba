//! Federated-learning messages: model weights or weight deltas, one payload per
//! parameter, f32 or FP8 with a per-tensor scale.

use nnopt_compiler::fp8::{
    encode_into, encode_stochastic_into, tensor_scale, Fp8Format, Saturation, ScaleMethod,
};
use nnopt_compiler::ir::{DType, Tensor};
use nnopt_compiler::{bail, Result};
use rand::Rng;

/// What a message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Server to client: the global model's weights.
    Broadcast,
    /// Client to server: the client's weights minus the broadcast it started from.
    Update,
    /// Server to client: the global model minus the model the clients hold (the sum of
    /// the broadcasts so far), so a broadcast's rounding error is sent again next round
    /// instead of staying in the clients' model.
    BroadcastDelta,
}

/// How a payload's values are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Little-endian f32, 4 bytes a value.
    F32,
    /// One FP8 code a value; the value is `decode(code) * scale`.
    Fp8(Fp8Format),
}

/// One parameter's values.
#[derive(Clone, Debug, PartialEq)]
pub struct Payload {
    pub encoding: Encoding,
    /// 1 for f32 payloads.
    pub scale: f32,
    /// The encoded values.
    pub data: Vec<u8>,
}

/// A message between the FL server and a client.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub kind: MessageKind,
    pub round: u32,
    /// The sending client (updates) or 0 (broadcasts).
    pub client: u32,
    /// Training samples behind an update (its FedAvg weight); 0 in broadcasts.
    pub samples: u64,
    /// [`layout_id`] of the program's parameters: both sides must agree.
    pub layout: u32,
    /// One payload per parameter, in program order.
    pub payloads: Vec<Payload>,
}

/// A fingerprint (CRC-32) of a parameter layout: names and shapes in order.
pub fn layout_id(params: &[crate::ParamInfo]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in params {
        h.update(p.name.as_bytes());
        h.update(&[0]);
        for &d in &p.shape {
            h.update(&(d as u64).to_le_bytes());
        }
        h.update(&[0xff]);
    }
    h.finalize()
}

impl Payload {
    /// Encodes f32 `values`: FP8 with the per-tensor scale that maps their amax to the
    /// format's largest value, rounded to nearest even, or stochastically with `rng`
    /// when `stochastic`.
    pub fn encode(
        values: &Tensor,
        encoding: Encoding,
        stochastic: bool,
        rng: &mut impl Rng,
    ) -> Result<Payload> {
        let Some(a) = values.as_f32() else {
            bail!("message payloads are f32 tensors, got {}", values.dtype());
        };
        let v: Vec<f32> = a.iter().copied().collect();
        Ok(match encoding {
            Encoding::F32 => Payload {
                encoding,
                scale: 1.0,
                data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            },
            Encoding::Fp8(f) => {
                let scale = tensor_scale(f, &v, ScaleMethod::default());
                let scaled: Vec<f32> = v.iter().map(|&x| x / scale).collect();
                let mut data = vec![0u8; v.len()];
                if stochastic {
                    encode_stochastic_into(f, &scaled, &mut data, rng, Saturation::Saturate);
                } else {
                    encode_into(f, &scaled, &mut data, Saturation::Saturate);
                }
                Payload {
                    encoding,
                    scale,
                    data,
                }
            }
        })
    }

    /// The f32 values, shaped `shape`.
    pub fn decode(&self, shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = match self.encoding {
            Encoding::F32 => {
                if self.data.len() != 4 * n {
                    bail!(
                        "an f32 payload of {} bytes cannot hold {n} values",
                        self.data.len()
                    );
                }
                self.data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
                    .collect()
            }
            Encoding::Fp8(f) => {
                if self.data.len() != n {
                    bail!(
                        "an FP8 payload of {} bytes cannot hold {n} values",
                        self.data.len()
                    );
                }
                self.data
                    .iter()
                    .map(|&c| (f.decode(c) * self.scale) as f64)
                    .collect()
            }
        };
        Ok(Tensor::from_f64s(DType::F32, shape, &v).expect("sized"))
    }
}

impl Message {
    /// A message carrying `values` (one tensor per parameter) in `encoding`: updates
    /// are rounded stochastically (unbiased, so the server's average keeps small
    /// updates), broadcasts to nearest (the smallest error per value).
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        kind: MessageKind,
        round: u32,
        client: u32,
        samples: u64,
        layout: u32,
        values: &[Tensor],
        encoding: Encoding,
        rng: &mut impl Rng,
    ) -> Result<Message> {
        Ok(Message {
            kind,
            round,
            client,
            samples,
            layout,
            payloads: values
                .iter()
                .map(|v| Payload::encode(v, encoding, kind == MessageKind::Update, rng))
                .collect::<Result<_>>()?,
        })
    }

    /// The carried values, shaped by `params`.
    pub fn values(&self, params: &[crate::ParamInfo]) -> Result<Vec<Tensor>> {
        if self.payloads.len() != params.len() {
            bail!(
                "the message has {} tensors, the program {} parameters",
                self.payloads.len(),
                params.len()
            );
        }
        self.payloads
            .iter()
            .zip(params)
            .map(|(p, info)| p.decode(&info.shape).map_err(|e| e.in_node(&info.name)))
            .collect()
    }
}
