//! Request routing and handlers of the edge client API.
//!
//! Paths are accepted with the `/edge/client/v1` or `/edge/v1` prefix and without any prefix
//! (like the real controller); everything unknown answers `404 NOT_FOUND`. Every response
//! carries `ziti-instance-id`.
//!
//! This file owns the dispatch: [`handle`] wraps every answer, `route` the paths open
//! without a session, `authenticated` those behind one. The handlers are beside it by
//! concern: `request` (reading paths, queries and bodies, paging, filters), `enroll`
//! (EST CA certificates and OTT enrollment), `auth` (certificate login and the per-request
//! session check) and `services` (service listing and service sessions).

mod auth;
mod enroll;
mod request;
mod services;

use std::sync::{Arc, OnceLock};

use http::{HeaderValue, Method, Request, StatusCode};
use serde_json::json;

use super::envelope::{data, page, ApiError, ApiResponse};
use super::model::{self, ConfigSelection};
use super::ConnectionInfo;
use crate::state::{ApiSessionInfo, LabState};
use auth::{authenticate, require_session};
use enroll::{cacerts, enroll};
use request::{
    config_types, internal, normalise_path, paged, paging, parse_json_body, query_pairs,
};
use services::{create_session, list_services, require_usable_service};

pub(crate) use request::{json_config_types, read_body};
pub use request::{
    parse_name_filter, BODY_READ_TIMEOUT, DEFAULT_PAGE_LIMIT, MAX_BODY_BYTES, MAX_PAGE_LIMIT,
};

fn build_date() -> &'static str {
    static DATE: OnceLock<String> = OnceLock::new();
    DATE.get_or_init(|| {
        let t = crate::timefmt::format_micros(crate::timefmt::now_micros());
        format!("{} {}", &t[..10], &t[11..19])
    })
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
            require_usable_service(state, session, id)?;
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
            require_usable_service(state, session, id)?;
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
