//! nnopt optimization passes.
