//! Portico: a Kubernetes operator that provisions AI models and managed databases through an API
//! gateway, plus the sandbox (API server and reference gateway) it is developed and tested against.
//!
//! Layering (see `docs/architecture.md`): `api` and `gateway` import nothing else from this crate;
//! the operator's code paths never import `sandbox`.
#![forbid(unsafe_code)]

pub mod api;
pub mod bench;
pub mod controller;
pub mod credentials;
pub mod gateway;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod operator;
pub mod sandbox;
pub mod soak;
pub mod telemetry;
pub mod tls;
