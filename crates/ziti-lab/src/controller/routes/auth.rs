//! API sessions: certificate login (`POST /authenticate?method=cert`) and the check that
//! admits a request to the authenticated routes (`zt-session` with the certificate that
//! created it, or an OIDC bearer token).

use std::sync::Arc;

use super::request::{
    internal, json_config_types, parse_json_body, query_pairs, query_value, read_body,
};
use crate::controller::envelope::{data, ApiError, ApiResponse};
use crate::controller::{model, oidc, ConnectionInfo};
use crate::pki::CertFingerprint;
use crate::state::{ApiSessionInfo, AuthError, LabState};
use http::{header, HeaderValue, Request, StatusCode};

pub(super) async fn authenticate(
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
    let config_types = json_config_types(&body);
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
/// The API session of a request: `zt-session` header naming a live session, on a connection
/// presenting the same client certificate that authenticated; or an OIDC access token in
/// `Authorization: Bearer` (see [`oidc::bearer`]).
pub(super) fn require_session(
    state: &Arc<LabState>,
    conn: &ConnectionInfo,
    req: &Request<hyper::body::Incoming>,
) -> Result<ApiSessionInfo, ApiError> {
    if let Some(token) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(oidc::bearer::bearer_token)
    {
        return oidc::bearer::session_for(state, conn, token).map_err(|e| {
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
