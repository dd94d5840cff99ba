//! Federated-learning simulation: datasets split among clients, and
//! FedAvg over simulated clients that run a training program, with every message
//! serialized, counted and parsed.

pub mod client;
pub mod participation;
pub mod partition;
pub mod simulate;
pub mod state;
