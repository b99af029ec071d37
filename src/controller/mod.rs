//! The operator: one kube-runtime controller per kind, sharing a `Context`.

pub mod gate;
pub mod connection_secret;
