//! nnopt backends: the NPU (targets, lowering, `.npub` binary, virtual NPU, performance model)
//! and the fixed-weight front-end (`fixed_frontend`: hard-wired int8 convolutions as Verilog).

pub mod fixed_frontend;
pub mod npu;
