//! The wire format of federated-learning [`Message`]s: a checksummed header (like the
//! NPU binary's, magic `NFLM`) around a FlatBuffer (`schemas/fl_message.fbs`).
//!
//! Parameter names are not sent: [`Message::layout`] fingerprints the program's
//! parameter layout, and [`Message::check_against`] checks a message against it.

nnopt_compiler::flatbuffers_module!(fl_message_generated);

use super::message::{layout_id, Encoding, Message, MessageKind, Payload};
use super::ParamInfo;
use fl_message_generated::nnopt::fl::fb;
use flatbuffers::FlatBufferBuilder;
use nnopt_compiler::container::Container;
use nnopt_compiler::fp8::Fp8Format;
use nnopt_compiler::{Error, Result};

/// Message magic.
pub const MAGIC: &[u8; 4] = b"NFLM";
/// Format major version: a reader rejects messages of another major version.
pub const FORMAT_MAJOR: u16 = 1;
/// Format minor version (backward-compatible additions).
pub const FORMAT_MINOR: u16 = 0;

const CONTAINER: Container = Container {
    magic: MAGIC,
    major: FORMAT_MAJOR,
    minor: FORMAT_MINOR,
    kind: "FL message",
    a_kind: "an FL message",
};

impl Message {
    /// The message's bytes (deterministic): besides the payloads' data, under 100 bytes
    /// of header and message fields and about 30 bytes a payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = FlatBufferBuilder::with_capacity(
            64 + self
                .payloads
                .iter()
                .map(|p| p.data.len() + 24)
                .sum::<usize>(),
        );
        let payloads: Vec<_> = self
            .payloads
            .iter()
            .map(|p| {
                let data = b.create_vector(&p.data);
                fb::Payload::create(
                    &mut b,
                    &fb::PayloadArgs {
                        encoding: match p.encoding {
                            Encoding::F32 => fb::Encoding::F32,
                            Encoding::Fp8(Fp8Format::E4M3) => fb::Encoding::E4M3,
                            Encoding::Fp8(Fp8Format::E5M2) => fb::Encoding::E5M2,
                        },
                        scale: p.scale,
                        data: Some(data),
                    },
                )
            })
            .collect();
        let payloads = b.create_vector(&payloads);
        let root = fb::Message::create(
            &mut b,
            &fb::MessageArgs {
                kind: match self.kind {
                    MessageKind::Broadcast => fb::Kind::Broadcast,
                    MessageKind::Update => fb::Kind::Update,
                    MessageKind::BroadcastDelta => fb::Kind::BroadcastDelta,
                },
                round: self.round,
                client: self.client,
                samples: self.samples,
                layout: self.layout,
                payloads: Some(payloads),
            },
        );
        fb::finish_message_buffer(&mut b, root);
        CONTAINER.wrap(b.finished_data())
    }

    /// Parses and checks a message: header, CRC, FlatBuffer structure, enums, and each
    /// payload's scale (1 for f32, positive and finite for FP8) and length (a whole
    /// number of f32 values).
    pub fn from_bytes(bytes: &[u8]) -> Result<Message> {
        let body = CONTAINER.open(bytes)?;
        let m = fb::root_as_message(body)
            .map_err(|e| Error::new(format!("FL message payload is malformed: {e}")))?;
        let kind = match m.kind() {
            fb::Kind::Broadcast => MessageKind::Broadcast,
            fb::Kind::Update => MessageKind::Update,
            fb::Kind::BroadcastDelta => MessageKind::BroadcastDelta,
            k => return Err(Error::new(format!("FL message: unknown kind {}", k.0))),
        };
        let payloads = m
            .payloads()
            .iter()
            .enumerate()
            .map(|(k, p)| {
                payload(&p).map_err(|e| Error::new(format!("FL message payload #{k}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Message {
            kind,
            round: m.round(),
            client: m.client(),
            samples: m.samples(),
            layout: m.layout(),
            payloads,
        })
    }

    /// Checks that the message fits the parameters `params`: the same layout
    /// fingerprint, one payload per parameter, and payload sizes that hold their shapes.
    pub fn check_against(&self, params: &[ParamInfo]) -> Result<()> {
        let layout = layout_id(params);
        if self.layout != layout {
            return Err(Error::new(format!(
                "message for parameter layout {:08x}, this program has {layout:08x}",
                self.layout
            )));
        }
        if self.payloads.len() != params.len() {
            return Err(Error::new(format!(
                "message has {} payloads, this program has {} parameters",
                self.payloads.len(),
                params.len()
            )));
        }
        for (p, info) in self.payloads.iter().zip(params) {
            let n = info.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            let per_value = match p.encoding {
                Encoding::F32 => 4,
                Encoding::Fp8(_) => 1,
            };
            let want = n.and_then(|n| n.checked_mul(per_value));
            if want != Some(p.data.len()) {
                return Err(Error::new(format!(
                    "the payload of parameter '{}' {:?} has {} bytes, {} values of {} need {}",
                    info.name,
                    info.shape,
                    p.data.len(),
                    n.map_or("too many".to_string(), |n| n.to_string()),
                    encoding_name(p.encoding),
                    want.map_or("too many".to_string(), |n| n.to_string()),
                )));
            }
        }
        Ok(())
    }
}

/// `f32`, `e4m3` or `e5m2`.
fn encoding_name(e: Encoding) -> &'static str {
    match e {
        Encoding::F32 => "f32",
        Encoding::Fp8(f) => f.name(),
    }
}

fn payload(p: &fb::Payload<'_>) -> Result<Payload> {
    let encoding = match p.encoding() {
        fb::Encoding::F32 => Encoding::F32,
        fb::Encoding::E4M3 => Encoding::Fp8(Fp8Format::E4M3),
        fb::Encoding::E5M2 => Encoding::Fp8(Fp8Format::E5M2),
        e => return Err(Error::new(format!("unknown encoding {}", e.0))),
    };
    let data = p.data().bytes().to_vec();
    let scale = p.scale();
    match encoding {
        Encoding::F32 if scale != 1.0 => {
            return Err(Error::new(format!(
                "an f32 payload has scale {scale}, not 1"
            )))
        }
        Encoding::F32 if !data.len().is_multiple_of(4) => {
            return Err(Error::new(format!(
                "an f32 payload of {} bytes is not a whole number of values",
                data.len()
            )))
        }
        Encoding::Fp8(_) if !(scale.is_finite() && scale > 0.0) => {
            return Err(Error::new(format!(
                "an FP8 payload has scale {scale}, not a positive finite number"
            )))
        }
        _ => {}
    }
    Ok(Payload {
        encoding,
        scale,
        data,
    })
}
