//! The learned cost model's data: datasets of random networks from the search spaces of
//! [`nnopt_costmodel::space`], exported as int8 TFLite and labelled by nnopt's NPU
//! estimate, by Vela and by LiteRT latency measured here ([`dataset`], [`vela`],
//! [`litert`]), and the analytic NPU model fitted to Vela ([`calibrate`]).

pub mod baseline;
pub mod calibrate;
pub mod dataset;
pub mod eval;
pub mod learned;
pub mod litert;
pub mod vela;
