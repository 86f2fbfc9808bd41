//! Response envelopes of the edge client API: `{"data": …, "meta": {…}}` on success and
//! `{"error": {…}, "meta": {…}}` on failure, always `Content-Type: application/json`.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};

/// The response type of every handler.
pub type ApiResponse = Response<Full<Bytes>>;

/// A JSON response with exactly `Content-Type: application/json`.
pub fn json_response(status: StatusCode, body: &Value) -> ApiResponse {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// `{"data": data, "meta": {}}`.
pub fn data(status: StatusCode, data: Value) -> ApiResponse {
    json_response(status, &json!({"data": data, "meta": {}}))
}

/// A list envelope with `meta.pagination`.
pub fn page(items: Vec<Value>, limit: usize, offset: usize, total: usize) -> ApiResponse {
    json_response(
        StatusCode::OK,
        &json!({
            "data": items,
            "meta": {
                "pagination": {"limit": limit, "offset": offset, "totalCount": total},
                "filterableFields": []
            }
        }),
    )
}

/// An API error: code, HTTP status, message and optional cause.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Error code, e.g. `NOT_FOUND`.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// `cause` object (or null).
    pub cause: Value,
}

impl ApiError {
    /// A new error without cause.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            cause: Value::Null,
        }
    }

    /// Adds a field-error cause `{field, reason, value}`.
    pub fn with_field_cause(mut self, field: &str, reason: &str, value: &str) -> Self {
        self.cause = json!({"field": field, "reason": reason, "value": value});
        self
    }

    /// `404 NOT_FOUND`.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The resource requested was not found or is no longer available",
        )
    }

    /// `401 UNAUTHORIZED`.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "The request could not be completed. The session is not authorized or the credentials are invalid",
        )
    }

    /// Renders the envelope.
    pub fn response(&self) -> ApiResponse {
        let cause_message = match &self.cause {
            Value::Null => String::new(),
            c => c
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        };
        json_response(
            self.status,
            &json!({
                "error": {
                    "code": self.code,
                    "message": self.message,
                    "requestId": uuid::Uuid::new_v4().to_string(),
                    "args": {"urlVars": {}},
                    "cause": self.cause,
                    "causeMessage": cause_message,
                    "data": {}
                },
                "meta": {"apiVersion": "0.0.1", "apiEnrollmentVersion": "0.0.1"}
            }),
        )
    }
}
