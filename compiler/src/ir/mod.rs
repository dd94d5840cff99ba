//! The nnopt IR: a petgraph graph of typed ops over typed tensors.

mod attrs;
mod dtype;
pub mod einsum;
mod graph;
pub mod infer;
pub mod narrow_float;
mod op;
mod recurrent;
mod tensor;
pub mod text;
mod verify;

pub use attrs::*;
pub use dtype::DType;
pub use graph::{Edge, Graph, Node, Value, ValueRef};
pub use narrow_float::E8m0Rounding;
pub use op::*;
pub use petgraph::stable_graph::NodeIndex;
pub use recurrent::*;
pub use tensor::{QuantParams, Tensor, TensorType};
pub use verify::verify;
