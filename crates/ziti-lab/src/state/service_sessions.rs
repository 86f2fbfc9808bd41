//! Service sessions: `POST /sessions` creates one (or returns the existing one) for an API
//! session, a service and `Dial` or `Bind`, after checking the service policies, with a
//! signed service-access JWT as its token; `GET /sessions/{id}` reads it back. The router
//! asks [`LabState::service_session`] about the token an SDK presents in Connect/Bind: valid
//! only while its API session is live, its identity and service are declared and a policy
//! still grants the session type.

use super::{
    derive_id, find_identity, find_service, ApiSessionInfo, IdentityInfo, Inner, LabState,
    RouterAuthError, ServiceInfo, ServiceSessionRecord,
};
use crate::config::PolicyType;
use crate::jwt::ServiceAccessClaims;
use crate::timefmt::now_micros;

/// A live service session (what the router checks on Connect/Bind).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSessionInfo {
    /// Session id.
    pub id: String,
    /// Opaque token the SDK presents to the router.
    pub token: String,
    /// Dial or Bind.
    pub session_type: PolicyType,
    /// The service.
    pub service: ServiceInfo,
    /// The identity that created it.
    pub identity: IdentityInfo,
    /// The API session it belongs to.
    pub api_session_id: String,
    /// Creation time, µs since the epoch.
    pub created_at: i64,
}

/// Why `POST /sessions` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionCreateError {
    /// The API session is unknown or expired (`UNAUTHORIZED` 401).
    #[error("the API session is unknown or expired")]
    Unauthorized,
    /// The service does not exist or the identity has no right on it (`NOT_FOUND` 404).
    #[error("service {0:?} not found")]
    ServiceNotFound(String),
    /// The identity may use the service, but not this way (`INVALID_FIELD` 400, like the real
    /// controller's field error "service not found" on `serviceId`).
    #[error("service {service_id:?} does not grant {requested:?}")]
    NotPermitted {
        /// The service id asked for.
        service_id: String,
        /// The session type asked for.
        requested: PolicyType,
    },
    /// The session token could not be signed (`UNHANDLED` 500).
    #[error("cannot sign the service session token ({0}): the lab's controller key is unusable; re-create the lab directory")]
    Signing(String),
}

impl LabState {
    /// `POST /sessions`: creates (or returns the existing) service session of this API session
    /// for `service_id` and `session_type`, after checking the service policies.
    pub fn create_service_session(
        &self,
        api_session: &ApiSessionInfo,
        service_id: &str,
        session_type: PolicyType,
    ) -> Result<ServiceSessionInfo, SessionCreateError> {
        let issuer = self.controller_url();
        let mut inner = self.lock();
        if !inner.api_sessions.contains_key(&api_session.token) {
            return Err(SessionCreateError::Unauthorized);
        }
        let identity = find_identity(&inner.config, &api_session.identity.id)
            .ok_or(SessionCreateError::Unauthorized)?;
        let service = find_service(&inner.config, service_id)
            .ok_or_else(|| SessionCreateError::ServiceNotFound(service_id.to_owned()))?;
        let perms = inner.config.permissions(identity, service);
        if perms.is_empty() {
            return Err(SessionCreateError::ServiceNotFound(service_id.to_owned()));
        }
        if !perms.contains(&session_type) {
            return Err(SessionCreateError::NotPermitted {
                service_id: service_id.to_owned(),
                requested: session_type,
            });
        }
        let service_id = derive_id("service", &service.name);
        let existing = inner
            .sessions
            .values()
            .find(|s| {
                s.api_session_id == api_session.id
                    && s.service_id == service_id
                    && s.session_type == session_type
            })
            .cloned();
        let record = match existing {
            Some(r) => r,
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                let issued_at = now_micros() / 1_000_000;
                // A signed service-access JWT, as a 2.x controller answers (SDKs treat it as
                // opaque; Go SDKs decode its claims to refresh the session's routers).
                let token = self
                    .signer
                    .sign_service_access(&ServiceAccessClaims {
                        iss: issuer,
                        sub: service_id.clone(),
                        aud: vec!["openziti".into()],
                        iat: issued_at,
                        jti: id.clone(),
                        exp: issued_at + 365 * 24 * 3600,
                        z_asid: api_session.id.clone(),
                        z_iid: api_session.identity.id.clone(),
                        z_t: "s".into(),
                        z_st: session_type.as_str().into(),
                        z_leg: true,
                    })
                    .map_err(|e| SessionCreateError::Signing(e.to_string()))?;
                let r = ServiceSessionRecord {
                    id,
                    token,
                    session_type,
                    service_id,
                    identity_id: api_session.identity.id.clone(),
                    api_session_id: api_session.id.clone(),
                    api_session_token: api_session.token.clone(),
                    created_at: now_micros(),
                };
                inner.sessions.insert(r.token.clone(), r.clone());
                if let Err(e) = self.save_sessions(&inner) {
                    tracing::warn!(error = %e, "cannot persist service sessions");
                }
                r
            }
        };
        Self::session_info(&inner, &record).ok_or(SessionCreateError::Unauthorized)
    }

    fn session_info(inner: &Inner, r: &ServiceSessionRecord) -> Option<ServiceSessionInfo> {
        Some(ServiceSessionInfo {
            id: r.id.clone(),
            token: r.token.clone(),
            session_type: r.session_type,
            service: find_service(&inner.config, &r.service_id).map(Self::service_info)?,
            identity: find_identity(&inner.config, &r.identity_id).map(Self::identity_info)?,
            api_session_id: r.api_session_id.clone(),
            created_at: r.created_at,
        })
    }

    /// `GET /sessions/{id}` for the owner of the API session.
    pub fn service_session_by_id(
        &self,
        api_session: &ApiSessionInfo,
        id: &str,
    ) -> Option<ServiceSessionInfo> {
        let inner = self.lock();
        let record = inner
            .sessions
            .values()
            .find(|s| s.id == id && s.identity_id == api_session.identity.id)?;
        Self::session_info(&inner, record)
    }

    /// Router: the service session behind a token presented in Connect/Bind, if still valid
    /// (API session live, identity and service declared, policy still granting the type).
    pub fn service_session(&self, token: &str) -> Result<ServiceSessionInfo, RouterAuthError> {
        let now = now_micros();
        let mut inner = self.lock();
        self.expire(&mut inner, now);
        let record = inner
            .sessions
            .get(token)
            .cloned()
            .ok_or(RouterAuthError::UnknownServiceSession)?;
        // Its API session may have expired since the last sweep.
        let timeout = Self::timeout_micros(&inner);
        if inner
            .api_sessions
            .get(&record.api_session_token)
            .is_none_or(|a| a.last_activity_at.saturating_add(timeout) <= now)
        {
            return Err(RouterAuthError::UnknownServiceSession);
        }
        let info =
            Self::session_info(&inner, &record).ok_or(RouterAuthError::ServiceSessionRevoked)?;
        let (Some(identity), Some(service)) = (
            find_identity(&inner.config, &record.identity_id),
            find_service(&inner.config, &record.service_id),
        ) else {
            return Err(RouterAuthError::ServiceSessionRevoked);
        };
        if !inner
            .config
            .permissions(identity, service)
            .contains(&record.session_type)
        {
            return Err(RouterAuthError::ServiceSessionRevoked);
        }
        Ok(info)
    }

    /// Router: whether a service session token is still valid (see [`LabState::service_session`]).
    pub fn is_service_session_valid(&self, token: &str) -> bool {
        self.service_session(token).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::starter_state as state;

    #[test]
    fn service_sessions_are_checked_against_policies_and_api_sessions() {
        let (_dir, state) = state();
        let (cert, _) = state.issue_client_cert("client").unwrap();
        let api = state
            .authenticate(Some(&cert.cert_der), vec![], "127.0.0.1".into())
            .unwrap();
        let echo = state.services_for(&api.identity.id)[0].0.clone();
        assert_eq!(
            state.create_service_session(&api, &echo.id, PolicyType::Bind),
            Err(SessionCreateError::NotPermitted {
                service_id: echo.id.clone(),
                requested: PolicyType::Bind
            })
        );
        assert_eq!(
            state.create_service_session(&api, "nope", PolicyType::Dial),
            Err(SessionCreateError::ServiceNotFound("nope".into()))
        );
        let dial = state
            .create_service_session(&api, &echo.id, PolicyType::Dial)
            .unwrap();
        let seen = state.service_session(&dial.token).unwrap();
        assert_eq!(seen.session_type, PolicyType::Dial);
        assert!(!seen.service.encryption_required);
        assert_eq!(
            state.service_session("st-unknown"),
            Err(RouterAuthError::UnknownServiceSession)
        );
        assert!(state.delete_api_session(&api.token).unwrap());
        assert!(!state.is_service_session_valid(&dial.token));
        assert_eq!(
            state.create_service_session(&api, &echo.id, PolicyType::Dial),
            Err(SessionCreateError::Unauthorized)
        );
    }
}
