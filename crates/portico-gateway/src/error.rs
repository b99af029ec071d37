//! The gateway's error answers: `ApiError`, rendered as the contract's `Error` body (with
//! `Retry-After` where set), and the trace id of the request being served that the body carries.
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::wire::{ErrorBody, ErrorDetail};

tokio::task_local! {
    /// The trace id of the request being served; the gate sets it around every route.
    pub(crate) static TRACE_ID: String;
}

/// An error answer with the contract's `Error` body; the trace id is filled in from the request
/// being served.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    details: Vec<ErrorDetail>,
    retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// An error of `status` with the code the contract lists for it.
    pub(crate) fn with_status(status: StatusCode, message: impl Into<String>) -> Self {
        let code = match status.as_u16() {
            400 => "bad_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            409 => "conflict",
            422 => "invalid",
            429 => "rate_limited",
            503 => "unavailable",
            500..=599 => "internal",
            _ => "bad_request",
        };
        ApiError::new(status, code, message)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn conflict(message: impl Into<String>, details: Vec<ErrorDetail>) -> Self {
        ApiError {
            details,
            ..ApiError::new(StatusCode::CONFLICT, "conflict", message)
        }
    }

    pub(crate) fn invalid(details: Vec<ErrorDetail>) -> Self {
        let fields: Vec<&str> = details.iter().map(|d| d.field.as_str()).collect();
        ApiError {
            message: format!("invalid value of {}", fields.join(", ")),
            details,
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "")
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub(crate) fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retryable = matches!(self.status.as_u16(), 408 | 429 | 500..=599);
        let body = ErrorBody {
            code: self.code,
            message: self.message,
            retryable,
            retry_after_seconds: self.retry_after,
            details: self.details,
            trace_id: TRACE_ID.try_with(Clone::clone).ok(),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
