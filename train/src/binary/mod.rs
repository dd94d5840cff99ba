//! The `.ntp` file: a checksummed header around a FlatBuffer (`schemas/train.fbs`) that
//! holds a [`TrainingProgram`](super::TrainingProgram).
//!
//! Graphs are stored as IR text. The parameters' starting values are stored apart, as
//! raw little-endian f32 (bit-exact, 4 bytes a value); in the stored forward graph they
//! are the last graph inputs, and [`read`] turns them back into constants.

nnopt_compiler::flatbuffers_module!(train_generated);
mod read;
mod validate;
mod write;

use super::{MasterWeights, OptimizerKind};
use nnopt_compiler::container::Container;
use nnopt_compiler::fp8::Fp8Format;
use nnopt_passes::{QuantRole, TrainPrecision};
use train_generated::nnopt::train::fb;

pub use read::read;
pub use validate::validate;
pub use write::write;

/// File magic.
pub const MAGIC: &[u8; 4] = b"NTRP";
/// Format major version: a loader rejects files of another major version, except 1.x
/// files, whose steps it builds again (see `schemas/train.fbs`).
pub const FORMAT_MAJOR: u16 = 2;
/// The oldest major version [`read`] accepts.
const OLDEST_MAJOR: u16 = 1;
/// Format minor version (backward-compatible additions).
pub const FORMAT_MINOR: u16 = 0;
/// File extension.
pub const EXTENSION: &str = "ntp";

/// The `.ntp` header.
const CONTAINER: Container = Container {
    magic: MAGIC,
    major: FORMAT_MAJOR,
    minor: FORMAT_MINOR,
    kind: "training program",
    a_kind: "a training program",
};

fn precision_to_fb(p: TrainPrecision) -> fb::Precision {
    match p {
        TrainPrecision::Fp32 => fb::Precision::Fp32,
        TrainPrecision::Fp8 => fb::Precision::Fp8,
    }
}

fn precision_from_fb(p: fb::Precision) -> Option<TrainPrecision> {
    match p {
        fb::Precision::Fp32 => Some(TrainPrecision::Fp32),
        fb::Precision::Fp8 => Some(TrainPrecision::Fp8),
        _ => None,
    }
}

fn format_to_fb(f: Fp8Format) -> fb::Fp8Format {
    match f {
        Fp8Format::E4M3 => fb::Fp8Format::E4M3,
        Fp8Format::E5M2 => fb::Fp8Format::E5M2,
    }
}

fn format_from_fb(f: fb::Fp8Format) -> Option<Fp8Format> {
    match f {
        fb::Fp8Format::E4M3 => Some(Fp8Format::E4M3),
        fb::Fp8Format::E5M2 => Some(Fp8Format::E5M2),
        _ => None,
    }
}

fn role_to_fb(r: QuantRole) -> fb::QuantRole {
    match r {
        QuantRole::Weight => fb::QuantRole::Weight,
        QuantRole::Activation => fb::QuantRole::Activation,
        QuantRole::Gradient => fb::QuantRole::Gradient,
    }
}

fn role_from_fb(r: fb::QuantRole) -> Option<QuantRole> {
    match r {
        fb::QuantRole::Weight => Some(QuantRole::Weight),
        fb::QuantRole::Activation => Some(QuantRole::Activation),
        fb::QuantRole::Gradient => Some(QuantRole::Gradient),
        _ => None,
    }
}

fn master_to_fb(m: MasterWeights) -> fb::MasterWeights {
    match m {
        MasterWeights::F32 => fb::MasterWeights::F32,
        MasterWeights::Fp8 => fb::MasterWeights::Fp8,
    }
}

fn master_from_fb(m: fb::MasterWeights) -> Option<MasterWeights> {
    match m {
        fb::MasterWeights::F32 => Some(MasterWeights::F32),
        fb::MasterWeights::Fp8 => Some(MasterWeights::Fp8),
        _ => None,
    }
}

#[cfg(test)]
mod tests;

fn optimizer_to_fb(k: OptimizerKind) -> fb::Optimizer {
    match k {
        OptimizerKind::Sgd => fb::Optimizer::Sgd,
        OptimizerKind::AdamW => fb::Optimizer::AdamW,
    }
}

fn optimizer_from_fb(k: fb::Optimizer) -> Option<OptimizerKind> {
    match k {
        fb::Optimizer::Sgd => Some(OptimizerKind::Sgd),
        fb::Optimizer::AdamW => Some(OptimizerKind::AdamW),
        _ => None,
    }
}
