//! The gateway's error answers: `ApiError`, rendered as the contract's `Error` body (with
//! `Retry-After` where set), and the trace id of the request being served that the body carries.
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::wire::{ErrorBody, ErrorDetail, OpenAiError};

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
    /// OpenAI's `error` object to add to the body (the data plane's answers), boxed to keep
    /// results small.
    openai: Option<Box<OpenAiExtras>>,
}

#[derive(Debug, Default)]
struct OpenAiExtras {
    enabled: bool,
    param: Option<String>,
    code: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
            openai: None,
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

    /// Adds OpenAI's `{"error": {message, type, param, code}}` to the body, so OpenAI's SDKs
    /// read the answer as they read OpenAI's own.
    pub(crate) fn for_openai(mut self) -> Self {
        self.openai.get_or_insert_default().enabled = true;
        self
    }

    /// The request field the error is about (OpenAI's `param`).
    pub(crate) fn param(mut self, param: impl Into<String>) -> Self {
        self.openai.get_or_insert_default().param = Some(param.into());
        self
    }

    /// OpenAI's `code` (defaults to the contract's code).
    pub(crate) fn openai_code(mut self, code: &'static str) -> Self {
        self.openai.get_or_insert_default().code = Some(code);
        self
    }

    fn openai_error(&self) -> OpenAiError {
        let kind = match self.status.as_u16() {
            400 | 404 | 409 | 413 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            429 => "rate_limit_error",
            502 | 504 => "upstream_error",
            _ => "api_error",
        };
        let extras = self.openai.as_deref();
        let code = extras
            .and_then(|e| e.code)
            .unwrap_or(match self.status.as_u16() {
                401 => "invalid_api_key",
                429 => "rate_limit_exceeded",
                _ => self.code,
            });
        OpenAiError {
            message: self.message.clone(),
            kind,
            param: extras
                .and_then(|e| e.param.clone())
                .or_else(|| self.details.first().map(|d| d.field.clone())),
            code,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retryable = matches!(self.status.as_u16(), 408 | 429 | 500..=599);
        let error = self
            .openai
            .as_ref()
            .is_some_and(|e| e.enabled)
            .then(|| self.openai_error());
        let body = ErrorBody {
            error,
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
