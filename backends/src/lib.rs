//! nnopt backends.
