//! The learned cost model's data: datasets of random networks from the search spaces of
//! [`nnopt_costmodel::space`], exported as int8 TFLite and labelled by nnopt's NPU
//! estimate and by Vela ([`dataset`], [`vela`]).

pub mod dataset;
pub mod eval;
pub mod vela;
