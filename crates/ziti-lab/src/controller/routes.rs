//! Request routing and handlers of the edge client API.
//!
//! Paths are accepted with the `/edge/client/v1` or `/edge/v1` prefix and without any prefix
//! (like the real controller); everything unknown answers `404 NOT_FOUND`. Every response
//! carries `ziti-instance-id`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{json, Value};

use super::envelope::{data, page, ApiError, ApiResponse};
use super::model::{self, ConfigSelection};
use super::ConnectionInfo;
use crate::config::PolicyType;
use crate::pki::CertFingerprint;
use crate::state::{ApiSessionInfo, AuthError, EnrollmentRefusal, LabState, SessionCreateError};

/// Largest request body accepted (CSRs and JSON bodies are far smaller).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Time allowed to receive a request body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest page size; larger `limit`s are clamped (the real controller's maximum is 500).
pub const MAX_PAGE_LIMIT: usize = 500;
/// Page size when `limit` is absent.
pub const DEFAULT_PAGE_LIMIT: usize = 10;

fn build_date() -> &'static str {
    static DATE: OnceLock<String> = OnceLock::new();
    DATE.get_or_init(|| {
        let t = crate::timefmt::format_micros(crate::timefmt::now_micros());
        format!("{} {}", &t[..10], &t[11..19])
    })
}

/// Strips the API prefix; `None` for paths of other APIs (`/edge/management/...`, `/fabric`).
fn normalise_path(path: &str) -> Option<String> {
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
fn query_pairs(req: &Request<hyper::body::Incoming>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Handles one request (never fails: errors become envelopes).
pub async fn handle(
    state: &Arc<LabState>,
    conn: &ConnectionInfo,
    req: Request<hyper::body::Incoming>,
) -> ApiResponse {
    let method = req.method().clone();
    let raw_path = req.uri().path().to_owned();
    let mut resp = match route(state, conn, req).await {
        Ok(r) => r,
        Err(e) => e.response(),
    };
    if let Ok(v) = HeaderValue::from_str(state.instance_id()) {
        resp.headers_mut().insert("ziti-instance-id", v);
    }
    tracing::debug!(peer = %conn.peer, %method, path = %raw_path, status = resp.status().as_u16(), "request");
    resp
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

fn parse_json_body(bytes: &[u8]) -> Result<Value, ApiError> {
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

async fn route(
    state: &Arc<LabState>,
    conn: &ConnectionInfo,
    req: Request<hyper::body::Incoming>,
) -> Result<ApiResponse, ApiError> {
    if super::oidc::is_oidc_path(req.uri().path()) {
        return Ok(super::oidc::handle(state, conn, req).await);
    }
    let path = normalise_path(req.uri().path()).ok_or_else(ApiError::not_found)?;
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method().clone();
    match (&method, segments.as_slice()) {
        (&Method::GET, []) | (&Method::GET, ["version"]) => {
            let mut version = model::version(&state.controller_url(), build_date());
            if state.config().controller.oidc {
                model::advertise_oidc(&mut version, &state.controller_url());
            }
            Ok(data(StatusCode::OK, version))
        }
        (&Method::GET, [".well-known", "est", "cacerts"]) => Ok(cacerts(state)),
        (&Method::POST, ["enroll"]) => enroll(state, req, None).await,
        (&Method::POST, ["enroll", "ott"]) => enroll(state, req, Some("ott")).await,
        (&Method::POST, ["authenticate"]) => authenticate(state, conn, req).await,
        (&Method::GET, ["external-jwt-signers"]) => {
            let pairs = query_pairs(&req);
            let (limit, offset) = paging(&pairs)?;
            Ok(page(Vec::new(), limit, offset, 0))
        }
        _ => {
            let session = require_session(state, conn, &req)?;
            authenticated(state, &session, &method, &segments, req).await
        }
    }
}

/// The API session of a request: `zt-session` header naming a live session, on a connection
/// presenting the same client certificate that authenticated; or an OIDC access token in
/// `Authorization: Bearer` (see [`super::oidc::bearer`]).
fn require_session(
    state: &Arc<LabState>,
    conn: &ConnectionInfo,
    req: &Request<hyper::body::Incoming>,
) -> Result<ApiSessionInfo, ApiError> {
    if let Some(token) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(super::oidc::bearer::bearer_token)
    {
        return super::oidc::bearer::session_for(state, conn, token).map_err(|e| {
            tracing::info!(peer = %conn.peer, reason = %e, "bearer token refused");
            ApiError::unauthorized()
        });
    }
    let token = req
        .headers()
        .get("zt-session")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(ApiError::unauthorized)?;
    let session = state
        .touch_api_session(token)
        .ok_or_else(ApiError::unauthorized)?;
    let presented = conn.client_cert_der.as_deref().map(CertFingerprint::of_der);
    if presented.as_ref() != Some(&session.cert_fingerprint) {
        tracing::info!(peer = %conn.peer, "zt-session used without the certificate that created it");
        return Err(ApiError::unauthorized());
    }
    Ok(session)
}

async fn authenticated(
    state: &Arc<LabState>,
    session: &ApiSessionInfo,
    method: &Method,
    segments: &[&str],
    req: Request<hyper::body::Incoming>,
) -> Result<ApiResponse, ApiError> {
    let changed = state.last_change_at();
    match (method, segments) {
        (&Method::GET, ["current-api-session"]) => {
            Ok(data(StatusCode::OK, model::api_session(session)))
        }
        (&Method::DELETE, ["current-api-session"]) => {
            state.delete_api_session(&session.token).map_err(internal)?;
            tracing::info!(identity = %session.identity.name, "API session ended");
            Ok(data(StatusCode::OK, json!({})))
        }
        (&Method::GET, ["current-api-session", "service-updates"]) => Ok(data(
            StatusCode::OK,
            json!({"lastChangeAt": crate::timefmt::format_micros(changed)}),
        )),
        (&Method::GET, ["current-identity"]) => Ok(data(
            StatusCode::OK,
            model::identity(&session.identity, true, changed),
        )),
        (&Method::GET, ["current-identity", "edge-routers"]) => {
            let pairs = query_pairs(&req);
            let (limit, offset) = paging(&pairs)?;
            let all = state
                .edge_routers()
                .iter()
                .map(|r| model::edge_router(r, changed))
                .collect();
            Ok(paged(all, limit, offset))
        }
        (&Method::GET, ["services"]) => list_services(state, session, &req),
        (&Method::GET, ["services", id]) => {
            let pairs = query_pairs(&req);
            let selection = ConfigSelection::merge(&session.config_types, &config_types(&pairs));
            let (svc, perms) = state
                .services_for(&session.identity.id)
                .into_iter()
                .find(|(s, _)| s.id == *id)
                .ok_or_else(ApiError::not_found)?;
            Ok(data(
                StatusCode::OK,
                model::service(&svc, &perms, &selection, changed),
            ))
        }
        (&Method::GET, ["services", id, "edge-routers"]) => {
            if !state
                .services_for(&session.identity.id)
                .iter()
                .any(|(s, _)| s.id == *id)
            {
                return Err(ApiError::not_found());
            }
            Ok(data(
                StatusCode::OK,
                json!({"edgeRouters": state
                    .edge_routers()
                    .iter()
                    .map(|r| model::edge_router(r, changed))
                    .collect::<Vec<_>>()}),
            ))
        }
        (&Method::GET, ["services", id, "terminators"]) => {
            // As the real controller: listed to identities that may use the service.
            if !state
                .services_for(&session.identity.id)
                .iter()
                .any(|(s, _)| s.id == *id)
            {
                return Err(ApiError::not_found());
            }
            let pairs = query_pairs(&req);
            let (limit, offset) = paging(&pairs)?;
            let all = state
                .service_terminators(id)
                .iter()
                .map(|t| model::terminator(t, changed))
                .collect();
            Ok(paged(all, limit, offset))
        }
        (&Method::POST, ["sessions"]) => create_session(state, session, req).await,
        (&Method::GET, ["sessions", id]) => {
            let s = state
                .service_session_by_id(session, id)
                .ok_or_else(ApiError::not_found)?;
            Ok(data(
                StatusCode::OK,
                model::session(&s, &state.edge_routers(), changed),
            ))
        }
        (&Method::POST, ["posture-response"]) | (&Method::POST, ["posture-response-bulk"]) => {
            let body = read_body(req).await?;
            parse_json_body(&body)?;
            Ok(data(StatusCode::OK, json!({"services": []})))
        }
        _ => Err(ApiError::not_found()),
    }
}

fn internal(e: crate::LabError) -> ApiError {
    tracing::error!(error = %e, "lab state error");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "UNHANDLED",
        e.to_string(),
    )
}

fn paging(pairs: &[(String, String)]) -> Result<(usize, usize), ApiError> {
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

fn paged(all: Vec<Value>, limit: usize, offset: usize) -> ApiResponse {
    let total = all.len();
    let items = all.into_iter().skip(offset).take(limit).collect();
    page(items, limit, offset, total)
}

fn config_types(pairs: &[(String, String)]) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == "configTypes")
        .flat_map(|(_, v)| v.split(',').map(|t| t.trim().to_owned()))
        .filter(|t| !t.is_empty())
        .collect()
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

fn list_services(
    state: &LabState,
    session: &ApiSessionInfo,
    req: &Request<hyper::body::Incoming>,
) -> Result<ApiResponse, ApiError> {
    let pairs = query_pairs(req);
    let (limit, offset) = paging(&pairs)?;
    let name = query_value(&pairs, "filter")
        .filter(|f| !f.trim().is_empty())
        .map(parse_name_filter)
        .transpose()?;
    let selection = ConfigSelection::merge(&session.config_types, &config_types(&pairs));
    let changed = state.last_change_at();
    let all: Vec<Value> = state
        .services_for(&session.identity.id)
        .into_iter()
        .filter(|(s, _)| name.as_ref().is_none_or(|n| &s.name == n))
        .map(|(s, perms)| model::service(&s, &perms, &selection, changed))
        .collect();
    Ok(paged(all, limit, offset))
}

fn cacerts(state: &LabState) -> ApiResponse {
    let body = match crate::pkcs7::certs_only_base64(&[state.pki().ca_der()]) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the CA bundle");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNHANDLED",
                format!("the lab cannot encode its CA certificate as PKCS#7: {e}"),
            )
            .response();
        }
    };
    let mut resp = http::Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pkcs7-mime"),
    );
    resp.headers_mut().insert(
        "content-transfer-encoding",
        HeaderValue::from_static("base64"),
    );
    resp
}

async fn enroll(
    state: &LabState,
    req: Request<hyper::body::Incoming>,
    path_method: Option<&str>,
) -> Result<ApiResponse, ApiError> {
    let pairs = query_pairs(&req);
    let method = path_method
        .or_else(|| query_value(&pairs, "method"))
        .unwrap_or("");
    if method != "ott" {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_ENROLLMENT_TOKEN",
            format!("enrollment method {method:?} is not supported by the lab; only \"ott\""),
        ));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let mut token = query_value(&pairs, "token").map(str::to_owned);
    let body = read_body(req).await?;
    let csr: Vec<u8> = match content_type.as_str() {
        "application/json" => {
            let v = parse_json_body(&body)?;
            if let Some(t) = v.get("token").and_then(Value::as_str) {
                token.get_or_insert_with(|| t.to_owned());
            }
            v.get("clientCsr")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "MISSING_OR_INVALID_CSR",
                        "JSON enrollment bodies must carry clientCsr (PEM)",
                    )
                })?
                .as_bytes()
                .to_vec()
        }
        ""
        | "text/plain"
        | "application/x-pem-file"
        | "application/pkcs7"
        | "application/pkcs10" => body.to_vec(),
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_CONTENT_TYPE",
                format!("content type {other:?} is not accepted for enrollment"),
            ))
        }
    };
    let token = token.filter(|t| !t.is_empty()).ok_or_else(invalid_token)?;
    let trimmed: &[u8] = {
        let start = csr
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(csr.len());
        &csr[start..]
    };
    match state.enroll(&token, trimmed) {
        Ok((identity, cert)) => {
            tracing::info!(identity = %identity.name, id = %identity.id, fingerprint = %cert.fingerprint, "identity enrolled");
            Ok(data(
                StatusCode::OK,
                json!({"cert": cert.cert_pem, "ca": state.pki().ca_pem()}),
            ))
        }
        Err(EnrollmentRefusal::InvalidToken) => Err(invalid_token()),
        Err(EnrollmentRefusal::Expired) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "ENROLLMENT_EXPIRED",
            "The enrollment token has expired",
        )),
        Err(EnrollmentRefusal::AlreadyEnrolled) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "ENROLLMENT_IDENTITY_ALREADY_ENROLLED",
            "The identity has already been enrolled with this token",
        )),
        Err(EnrollmentRefusal::Csr(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "COULD_NOT_PROCESS_CSR",
            format!("Could not process the CSR: {e}"),
        )),
        Err(EnrollmentRefusal::Storage(e)) => Err(internal(e)),
    }
}

fn invalid_token() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_ENROLLMENT_TOKEN",
        "The supplied token is not valid",
    )
}

async fn authenticate(
    state: &LabState,
    conn: &ConnectionInfo,
    req: Request<hyper::body::Incoming>,
) -> Result<ApiResponse, ApiError> {
    let pairs = query_pairs(&req);
    let method = query_value(&pairs, "method").unwrap_or("");
    if method != "cert" {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_AUTH_METHOD",
            format!("authentication method {method:?} is not supported by the lab; only \"cert\""),
        ));
    }
    let body = parse_json_body(&read_body(req).await?)?;
    let config_types: Vec<String> = body
        .get("configTypes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    match state.authenticate(
        conn.client_cert_der.as_deref(),
        config_types,
        conn.peer.ip().to_string(),
    ) {
        Ok(session) => {
            tracing::info!(identity = %session.identity.name, peer = %conn.peer, "API session created");
            let mut resp = data(StatusCode::OK, model::api_session(&session));
            if let Ok(v) = HeaderValue::from_str(&session.token) {
                resp.headers_mut().insert("zt-session", v);
            }
            Ok(resp)
        }
        Err(AuthError::Storage(e)) => Err(internal(e)),
        Err(AuthError::TooManySessions) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "Too many live API sessions; retry later",
        )),
        Err(e) => {
            tracing::info!(peer = %conn.peer, reason = %e, "authentication refused");
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_AUTH",
                "The authentication request failed",
            ))
        }
    }
}

async fn create_session(
    state: &LabState,
    session: &ApiSessionInfo,
    req: Request<hyper::body::Incoming>,
) -> Result<ApiResponse, ApiError> {
    let body = parse_json_body(&read_body(req).await?)?;
    let invalid = |field: &str, reason: &str, value: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "COULD_NOT_VALIDATE",
            "The supplied request contains an invalid document",
        )
        .with_field_cause(field, reason, value)
    };
    let service_id = body
        .get("serviceId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("serviceId", "serviceId is required", ""))?;
    let session_type = match body.get("type").and_then(Value::as_str) {
        None | Some("Dial") => PolicyType::Dial,
        Some("Bind") => PolicyType::Bind,
        Some(other) => return Err(invalid("type", "type must be Dial or Bind", other)),
    };
    match state.create_service_session(session, service_id, session_type) {
        Ok(s) => {
            tracing::info!(identity = %session.identity.name, service = %s.service.name, kind = s.session_type.as_str(), "service session created");
            Ok(data(
                StatusCode::CREATED,
                model::session(&s, &state.edge_routers(), state.last_change_at()),
            ))
        }
        Err(SessionCreateError::Unauthorized) => Err(ApiError::unauthorized()),
        Err(e @ SessionCreateError::Signing(_)) => {
            tracing::error!(error = %e, "lab state error");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNHANDLED",
                e.to_string(),
            ))
        }
        Err(SessionCreateError::ServiceNotFound(_)) => Err(ApiError::not_found()),
        Err(SessionCreateError::NotPermitted {
            service_id,
            requested,
        }) => {
            tracing::info!(identity = %session.identity.name, %service_id, requested = requested.as_str(), "session type not granted");
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                "The field contains an invalid value",
            )
            .with_field_cause("ServiceId", "service not found", &service_id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
