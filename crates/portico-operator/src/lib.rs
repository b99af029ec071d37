//! The Portico operator: reconciles `AIModel` and `ManagedDatabase` resources against the
//! gateway's admin API.
//!
//! Contract: imports only the CRD types (`portico-api`), the gateway client
//! (`portico-gateway-client`) and process telemetry (`portico-telemetry`) of our crates; never
//! the sandbox API server, the gateway server or the test harness. What runs in the operator
//! image is this crate and what it imports.
//!
//! - [`controller`]: one kube-runtime controller per kind; each reconcile is dereference → plan →
//!   apply → update status, with the plan a pure function.
//! - [`context`]: the `Context` every reconcile shares, built in one place ([`context::ContextBuilder`]).
//! - [`credentials`]: every Secret read of the operator (provider keys, connection Secrets, the
//!   gateway admin token).
//! - [`leader`], [`metrics`], [`http`]: leader election, Prometheus series, `/metrics`,
//!   `/healthz`, `/readyz`.
//! - [`operator`]: the `portico run` command's flags and lifetime.
#![forbid(unsafe_code)]

pub mod context;
pub mod controller;
pub mod credentials;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod operator;
