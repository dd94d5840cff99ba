//! Federated-learning simulation (`nnopt fl simulate`): FedAvg over simulated clients
//! that run a training program, with every message serialized, counted and parsed.

pub mod data;
pub mod partition;
pub mod simulate;
