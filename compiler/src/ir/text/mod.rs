//! The IR text form: a deterministic printer and a parser that reads it back.
//!
//! ```text
//! graph "tiny"(%x) {
//!   %x: f32[1,4] = input
//!   %w: f32[4,2] = const [0.5, -1.0, 2.0, 0.0, 1.0, 1.0, -0.5, 0.25]
//!   %y: f32[1,2] = mat_mul(%x, %w)
//!   %z: f32[1,2] = activation {"act":"relu"}(%y) @"relu_0"
//!   return %z
//! }
//! ```
//! Attributes are the op's fields as JSON; `@"name"` is printed when the node's name
//! differs from its first output's name.

mod parse;
mod print;

pub use parse::parse_graph;
pub use print::{print_graph, PrintOptions};
