//! The `nnopt fl` commands and their reports; the simulation itself is
//! [`nnopt_train::fl`].

pub mod command;
pub mod report;
