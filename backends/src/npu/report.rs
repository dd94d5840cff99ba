//! What lowering did: which ops run on the NPU, which fell back to the CPU and why, and
//! how much activation memory the arena needs.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An op that runs on the CPU, with the reason (as Vela lists its fallbacks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fallback {
    /// IR node name.
    pub node: String,
    /// Detailed op name (`softmax`, `binary.div`, ...).
    pub op: String,
    /// Why the NPU cannot run it.
    pub reason: String,
}

/// Summary of one lowering.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoweringReport {
    /// IR ops lowered to NPU commands (or folded into aliases / IO conversions), by
    /// detailed op name.
    pub npu_ops: BTreeMap<String, usize>,
    /// IR ops left to CPU segments, in schedule order.
    pub fallbacks: Vec<Fallback>,
    /// Peak arena bytes after lifetime-based placement.
    pub arena_bytes: usize,
    /// Sum of the sizes of all activation buffers (what a planner without reuse needs).
    pub naive_bytes: usize,
}
