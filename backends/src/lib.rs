//! nnopt backends: the NPU (targets, lowering, `.npub` binary, virtual NPU, performance model).

pub mod npu;
