//! nnopt-train: training and federated learning. Training programs for edge clients
//! (`.ntp`: compiling, writing, reading, describing), their runtime, the FedAvg server,
//! the messages of federated learning, and FL simulation over datasets.

pub mod binary;
pub mod bocpd;
mod compile;
pub mod data;
pub mod fl;
pub mod message;
mod message_binary;
pub mod ntp;
pub mod optimizer;
mod program;
pub mod runtime;
pub mod server;

pub use compile::{compile_train, TrainCompiled};
pub use optimizer::{Optimizer, OptimizerKind};
pub use program::{
    CompileOptions, DelayedScaling, MasterWeights, ParamInfo, TrainingProgram, TrainingStep,
    DEFAULT_BATCH,
};
