//! The gateway client: the build-time generated progenitor client wrapped as `GatewayClient`.
//!
//! Contract: imports no other crate of ours. `build.rs` generates the client from
//! `openapi/gateway.yaml` into `OUT_DIR` at build time (nothing generated is checked in); this
//! crate is the only one that sees generated types, and callers use the plain domain types
//! re-exported here. Every failure is classified here, once ([`FailureCause`]).
#![forbid(unsafe_code)]

mod breaker;
mod client;
mod error;
mod generated;
mod hooks;
mod limiter;
mod metrics;
mod trace;
mod types;

pub use breaker::REPROBE_AFTER;
pub use client::{
    GatewayClient, GatewayClientConfig, GatewayConfigError, GatewayResponse, GatewayResult,
    GatewayTls, Owner, TokenSource,
};
pub use error::{
    CallRecord, ErrorClass, ErrorDetail, FailureCause, GatewayError, GatewayErrorKind,
};
pub use hooks::{
    MAX_RESPONSE_BODY_BYTES, MAX_SERVER_DELAY, bounded_server_delay, parse_retry_after,
};
pub use metrics::{AtomicHistogram, GatewayMetrics};
pub use trace::trace_id_layer;
pub use types::{
    ApiKey, ChatAnswer, Database, DatabaseConnection, DatabaseCredentials, DatabasePhase,
    DatabaseSpec, GatewayStats, Model, ModelLimits, ModelParameters, ModelSpec, ObjectCounts, Page,
    PromptTemplate, PromptVariable, RequestCount, Upstream, UpstreamCheck,
};
