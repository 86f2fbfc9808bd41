//! Services: the filtered, paged service list of an API session and service-session
//! creation (`POST /sessions`, Dial or Bind).

use http::{Request, StatusCode};
use serde_json::Value;

use super::request::{
    config_types, internal, paged, paging, parse_json_body, parse_name_filter, query_pairs,
    query_value, read_body,
};
use crate::config::PolicyType;
use crate::controller::envelope::{data, ApiError, ApiResponse};
use crate::controller::model::{self, ConfigSelection};
use crate::state::{ApiSessionInfo, LabState, SessionCreateError};

/// Refuses (`404`, as the real controller does) a service the session's identity may not use.
pub(super) fn require_usable_service(
    state: &LabState,
    session: &ApiSessionInfo,
    id: &str,
) -> Result<(), ApiError> {
    if !state
        .services_for(&session.identity.id)
        .iter()
        .any(|(s, _)| s.id == *id)
    {
        return Err(ApiError::not_found());
    }
    Ok(())
}

pub(super) fn list_services(
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
pub(super) async fn create_session(
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
        Err(e @ SessionCreateError::Signing(_)) => Err(internal(e)),
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
