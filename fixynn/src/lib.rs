//! FixyNN (Whatmough et al., SysML 2019) for nnopt: a network split into a fixed-weight
//! front-end, hard-wired in silicon and shared by every task, and per-task back-ends on a
//! programmable accelerator, trained by transfer learning on the frozen front-end.
//!
//! `split.rs` finds split points and cuts graphs, `head.rs` gives a model a fresh
//! classifier for a task, `tasks.rs` loads task data, `transfer.rs` trains classifiers
//! (full fine-tuning, or a back-end on the int8 front-end's features), `partition.rs`
//! searches the split, and `pass.rs` is the `fixynn-partition` pass. The hardware itself
//! is `nnopt_backends::fixed_frontend`.

pub mod head;
pub mod partition;
mod pass;
pub mod split;
pub mod tasks;
pub mod transfer;

pub use partition::{partition, Partition, PartitionOptions, SplitPoint};
pub use pass::FixynnPartition;
pub use tasks::{load_task, Task, TaskSource};
pub use transfer::TrainOptions;
