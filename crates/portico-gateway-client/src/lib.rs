//! The gateway client: the build-time generated progenitor client wrapped as `GatewayClient`.
//!
//! This module imports nothing else from the crate and is the only one that sees generated
//! types; callers use the plain domain types re-exported here.
#![forbid(unsafe_code)]

mod client;
mod error;
mod generated;
mod hooks;
mod limiter;
mod metrics;
mod trace;
mod types;

pub use client::{
    GatewayClient, GatewayClientConfig, GatewayConfigError, GatewayResponse, GatewayResult,
    TokenSource,
};
pub use error::{
    CallRecord, ErrorClass, ErrorDetail, FailureCause, GatewayError, GatewayErrorKind,
};
pub use hooks::MAX_RESPONSE_BODY_BYTES;
pub use metrics::{AtomicHistogram, GatewayMetrics};
pub use trace::trace_id_layer;
pub use types::{
    ApiKey, ChatAnswer, Database, DatabaseConnection, DatabaseCredentials, DatabasePhase,
    DatabaseSpec, GatewayStats, Model, ModelLimits, ModelParameters, ModelSpec, ObjectCounts, Page,
    PromptTemplate, PromptVariable, RequestCount,
};
