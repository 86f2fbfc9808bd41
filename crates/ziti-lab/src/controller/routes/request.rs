//! Reading a request: the API path without its prefix, query parameters, the body (bounded
//! in size and time) and JSON bodies, paging, the `configTypes` a client selects, the one
//! supported filter form, and the answer for an internal error.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde_json::{json, Value};

use crate::controller::envelope::{page, ApiError, ApiResponse};
use crate::controller::model;

/// Largest request body accepted (CSRs and JSON bodies are far smaller).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Time allowed to receive a request body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest page size; larger `limit`s are clamped (the real controller's maximum is 500).
pub const MAX_PAGE_LIMIT: usize = 500;
/// Page size when `limit` is absent.
pub const DEFAULT_PAGE_LIMIT: usize = 10;
/// Strips the API prefix; `None` for paths of other APIs (`/edge/management/...`, `/fabric`).
pub(super) fn normalise_path(path: &str) -> Option<String> {
    let rest = if let Some(r) = path.strip_prefix(model::CLIENT_API_PATH) {
        r
    } else if let Some(r) = path.strip_prefix("/edge/v1") {
        r
    } else if path.starts_with("/edge/") || path == "/edge" || path.starts_with("/fabric") {
        return None;
    } else {
        path
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let trimmed = rest.trim_end_matches('/');
    Some(if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    })
}

/// Decoded query parameters in order.
pub(super) fn query_pairs(req: &Request<hyper::body::Incoming>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

pub(super) fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}
/// Reads a request body, bounded by [`MAX_BODY_BYTES`] and [`BODY_READ_TIMEOUT`].
pub(crate) async fn read_body(req: Request<hyper::body::Incoming>) -> Result<Bytes, ApiError> {
    let body = Limited::new(req.into_body(), MAX_BODY_BYTES);
    match tokio::time::timeout(BODY_READ_TIMEOUT, body.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "COULD_NOT_PARSE_BODY",
                    format!("request body larger than {MAX_BODY_BYTES} bytes"),
                ))
            } else {
                Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "COULD_NOT_PARSE_BODY",
                    format!("cannot read the request body: {e}"),
                ))
            }
        }
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "TIMEOUT",
            "the request body did not arrive in time",
        )),
    }
}

pub(super) fn parse_json_body(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "COULD_NOT_PARSE_BODY",
            format!("the body is not valid JSON: {e}"),
        )
    })
}
/// A `500 UNHANDLED` answer for a failure of the lab itself (storage, signing), logged.
pub(super) fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "lab state error");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "UNHANDLED",
        e.to_string(),
    )
}

pub(super) fn paging(pairs: &[(String, String)]) -> Result<(usize, usize), ApiError> {
    let num = |key: &str, default: usize| -> Result<usize, ApiError> {
        match query_value(pairs, key) {
            None => Ok(default),
            Some(v) => v.trim().parse::<usize>().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "INVALID_PAGINATION",
                    format!("{key} must be a non-negative integer, got {v:?}"),
                )
            }),
        }
    };
    let limit = num("limit", DEFAULT_PAGE_LIMIT)?.clamp(1, MAX_PAGE_LIMIT);
    Ok((limit, num("offset", 0)?))
}

pub(super) fn paged(all: Vec<Value>, limit: usize, offset: usize) -> ApiResponse {
    let total = all.len();
    let items = all.into_iter().skip(offset).take(limit).collect();
    page(items, limit, offset, total)
}

pub(super) fn config_types(pairs: &[(String, String)]) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == "configTypes")
        .flat_map(|(_, v)| v.split(',').map(|t| t.trim().to_owned()))
        .filter(|t| !t.is_empty())
        .collect()
}

/// The `configTypes` array of a JSON login body (API or OIDC login); absent or not an array
/// selects none, and entries that are not strings are skipped.
pub(crate) fn json_config_types(body: &Value) -> Vec<String> {
    body.get("configTypes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Parses the one filter form the lab supports: `name = "value"` (also `name="value"`).
pub fn parse_name_filter(filter: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_FILTER",
            format!("unsupported filter {filter:?}; the lab understands only name=\"…\""),
        )
    };
    let rest = filter.trim().strip_prefix("name").ok_or_else(bad)?;
    let rest = rest.trim_start().strip_prefix('=').ok_or_else(bad)?.trim();
    let inner = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or_else(bad)?;
    if inner.contains('"') {
        return Err(bad());
    }
    Ok(inner.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::model::ConfigSelection;

    #[test]
    fn paths_are_normalised_like_the_real_controller() {
        assert_eq!(
            normalise_path("/edge/client/v1/services").as_deref(),
            Some("/services")
        );
        assert_eq!(
            normalise_path("/edge/v1/version/").as_deref(),
            Some("/version")
        );
        assert_eq!(normalise_path("/version").as_deref(), Some("/version"));
        assert_eq!(normalise_path("/").as_deref(), Some("/"));
        assert_eq!(normalise_path("/edge/client/v1").as_deref(), Some("/"));
        assert_eq!(normalise_path("/edge/management/v1/identities"), None);
        assert_eq!(normalise_path("/fabric/v1/routers"), None);
        assert_eq!(normalise_path("/edge/client/v1x/services"), None);
    }

    #[test]
    fn name_filters_parse_and_garbage_is_refused() {
        assert_eq!(parse_name_filter(r#"name="echo""#).unwrap(), "echo");
        assert_eq!(parse_name_filter(r#" name = "a b" "#).unwrap(), "a b");
        for bad in [
            r#"name contains "x""#,
            "name=echo",
            r#"id="x""#,
            r#"name="a"b""#,
            "",
            "name=\"",
        ] {
            assert_eq!(
                parse_name_filter(bad).unwrap_err().code,
                "INVALID_FILTER",
                "{bad}"
            );
        }
    }

    #[test]
    fn config_type_selection_honours_all() {
        assert_eq!(
            ConfigSelection::merge(&["a".into()], &["all".into()]),
            ConfigSelection::All
        );
        assert_eq!(
            ConfigSelection::merge(&["a".into()], &["b".into(), "a".into()]),
            ConfigSelection::Only(vec!["a".into(), "b".into()])
        );
    }
}
