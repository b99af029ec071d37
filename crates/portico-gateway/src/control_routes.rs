//! Admin control routes (not part of the contract; see `docs/gateway-api.md`): random faults,
//! scripted faults and the server-side rate limit.
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::faults::{RandomFaults, RateLimitSetting, ScriptedFault};
use super::state::AppState;
use super::wire::ErrorDetail;

/// Admin control routes (not part of the contract; see `docs/gateway-api.md`).
pub(crate) fn routes() -> Router<Arc<AppState>> {
    use axum::routing::{post, put};
    Router::new()
        .route(
            "/v1/admin/faults",
            put(put_random_faults).delete(delete_faults),
        )
        .route("/v1/admin/faults/scripted", post(post_scripted_fault))
        .route("/v1/admin/rate-limit", put(put_rate_limit))
}

fn parse_control<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))
}

async fn put_random_faults(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let faults: RandomFaults = parse_control(&body)?;
    if !(0.0..=1.0).contains(&faults.rate) {
        return Err(ApiError::invalid(vec![ErrorDetail {
            field: "rate".into(),
            reason: "must be between 0 and 1".into(),
        }]));
    }
    state.with_controls(|c| c.random = faults);
    Ok(axum::Json(faults).into_response())
}

async fn delete_faults(State(state): State<Arc<AppState>>) -> StatusCode {
    state.with_controls(|c| {
        c.scripted.clear();
        c.random = RandomFaults::default();
    });
    StatusCode::NO_CONTENT
}

async fn post_scripted_fault(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fault: ScriptedFault = parse_control(&body)?;
    if !(100..=599).contains(&fault.status) {
        return Err(ApiError::invalid(vec![ErrorDetail {
            field: "status".into(),
            reason: "must be an HTTP status (100 to 599)".into(),
        }]));
    }
    state.with_controls(|c| c.scripted.push_back(fault.clone()));
    Ok((StatusCode::CREATED, axum::Json(fault)).into_response())
}

async fn put_rate_limit(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let setting: RateLimitSetting = parse_control(&body)?;
    state.with_controls(|c| c.set_rate_limit(setting.qps));
    Ok(axum::Json(setting).into_response())
}
