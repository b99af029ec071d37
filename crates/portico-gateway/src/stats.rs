//! What the gateway reports about the calls it served: counts by operation and status, the
//! objects it holds (`GET /v1/admin/stats`), and the log of requests as they arrived.
use std::time::Instant;

use serde::Serialize;

/// One request as the gateway saw it arrive, for tests that check what reached the server and
/// when.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// operationId (`unknown` for unmatched routes).
    pub operation: &'static str,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// When the request arrived.
    pub arrived: Instant,
    /// The `traceparent` header as received.
    pub traceparent: Option<String>,
    /// The trace id the gateway served it under.
    pub trace_id: String,
    /// Status answered.
    pub status: u16,
}

/// `GET /v1/admin/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Calls by operation and status, sorted.
    pub requests: Vec<RequestCount>,
    /// Objects held.
    pub objects: ObjectCounts,
}

/// Calls of one operation answered with one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestCount {
    /// operationId.
    pub operation: &'static str,
    /// Status.
    pub status: u16,
    /// How many.
    pub count: u64,
}

/// Objects held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectCounts {
    /// Models.
    pub models: u64,
    /// Unrevoked keys.
    pub model_keys: u64,
    /// Databases, including those being deleted.
    pub databases: u64,
}

impl Stats {
    /// Calls of `operation` answered with `status`.
    pub fn count(&self, operation: &str, status: u16) -> u64 {
        self.requests
            .iter()
            .filter(|r| r.operation == operation && r.status == status)
            .map(|r| r.count)
            .sum()
    }
}
