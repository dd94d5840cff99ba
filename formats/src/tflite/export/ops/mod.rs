//! TFLite operator writers, one file per op family.

pub(super) mod arg_reduce;
pub(super) mod conv;
pub(super) mod cumulative;
pub(super) mod elementwise;
pub(super) mod gather_nd;
pub(super) mod pool;
pub(super) mod shape;
