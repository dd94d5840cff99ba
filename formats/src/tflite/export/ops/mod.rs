//! TFLite operator writers, one file per op family.

pub(super) mod conv;
pub(super) mod elementwise;
pub(super) mod pool;
pub(super) mod shape;
