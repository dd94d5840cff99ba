//! The training backend: training programs for edge clients (`.ntp`), their runtime,
//! and the messages of federated learning.

pub mod binary;
pub mod message;
mod message_binary;
mod program;
pub mod runtime;
pub mod server;

pub use program::{
    CompileOptions, DelayedScaling, MasterWeights, ParamInfo, TrainingProgram, TrainingStep,
};
