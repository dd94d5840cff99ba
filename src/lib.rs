//! nnopt driver API.
