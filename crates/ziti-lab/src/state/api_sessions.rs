//! API sessions: certificate login ([`LabState::authenticate`]) with the per-identity bound
//! (`max_api_sessions_per_identity`: a login beyond it ends the identity's least recently used
//! session, as a logout would) and the global [`MAX_API_SESSIONS`], activity and idle expiry,
//! logout. Their persistence is module `api_store`'s.
//!
//! Why least recently *used* rather than oldest created: an SDK touches its API session on
//! every request and router hello, so the session of a long-running process outlives the
//! sessions a login loop of the same identity creates and never uses.

use super::{
    find_identity, now_micros, ApiSessionRecord, IdentityInfo, Inner, LabError, LabState,
    RouterAuthError, MAX_API_SESSIONS,
};
use crate::pki::CertFingerprint;

/// Least time between two sweeps of every API session for expired ones. Between sweeps, each
/// lookup checks the expiry of the session it finds, so a sweep is only housekeeping; sweeping
/// on every request cost O(live sessions) each.
const EXPIRY_SWEEP_INTERVAL_MICROS: i64 = 1_000_000;

/// A live API session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSessionInfo {
    /// API session id.
    pub id: String,
    /// The `zt-session` token.
    pub token: String,
    /// Whose session it is.
    pub identity: IdentityInfo,
    /// Fingerprint of the client certificate that authenticated.
    pub cert_fingerprint: CertFingerprint,
    /// Config types asked for at authentication.
    pub config_types: Vec<String>,
    /// Creation time, µs since the epoch.
    pub created_at: i64,
    /// Last activity, µs since the epoch.
    pub last_activity_at: i64,
    /// Expiry (`last_activity_at` + timeout), µs since the epoch.
    pub expires_at: i64,
    /// Timeout in seconds.
    pub expiration_seconds: u64,
    /// Address the session was created from.
    pub ip_address: String,
}

/// Why `POST /authenticate?method=cert` was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The TLS connection carried no client certificate.
    #[error("no client certificate was presented")]
    NoCertificate,
    /// The certificate chains to the lab CA but belongs to no (declared) identity.
    #[error("the client certificate belongs to no identity of this lab")]
    UnknownCertificate,
    /// [`MAX_API_SESSIONS`] live API sessions exist already (`RATE_LIMITED`).
    #[error("too many live API sessions; retry later or log out unused ones")]
    TooManySessions,
    /// The state could not be persisted.
    #[error(transparent)]
    Storage(#[from] LabError),
}

impl LabState {
    /// `POST /authenticate?method=cert`: maps the TLS client certificate to an identity and
    /// opens an API session remembering `config_types`.
    pub fn authenticate(
        &self,
        client_cert_der: Option<&[u8]>,
        config_types: Vec<String>,
        ip_address: String,
    ) -> Result<ApiSessionInfo, AuthError> {
        let der = client_cert_der.ok_or(AuthError::NoCertificate)?;
        let fp = CertFingerprint::of_der(der);
        let mut inner = self.lock();
        let id = self
            .identity_for_cert(&mut inner, &fp)?
            .ok_or(AuthError::UnknownCertificate)?;
        let now = now_micros();
        self.expire(&mut inner, now);
        let evicted = self.make_room_for_login(&mut inner, &id);
        if inner.api_sessions.len() >= MAX_API_SESSIONS {
            inner.last_expiry_sweep = 0;
            self.expire(&mut inner, now);
        }
        if inner.api_sessions.len() >= MAX_API_SESSIONS {
            drop(inner);
            if evicted > 0 {
                self.announce_api_session_removals();
            }
            return Err(AuthError::TooManySessions);
        }
        let serial = inner.next_api_session_serial;
        inner.next_api_session_serial += 1;
        let record = ApiSessionRecord {
            id: uuid::Uuid::new_v4().to_string(),
            token: uuid::Uuid::new_v4().to_string(),
            identity_id: id,
            cert_fingerprint: fp,
            config_types,
            created_at: now,
            last_activity_at: now,
            ip_address,
            serial,
        };
        inner
            .api_sessions
            .insert(record.token.clone(), record.clone());
        self.api_store.put(&record);
        let info = Self::api_session_info(&inner, &record).ok_or(AuthError::UnknownCertificate);
        drop(inner);
        if evicted > 0 {
            self.announce_api_session_removals();
        }
        info
    }

    /// Ends the least recently used API sessions of `identity_id` until a new one fits its
    /// bound, as logouts would (their service sessions go too; the caller announces the
    /// removals after releasing the lock). Returns how many ended.
    fn make_room_for_login(&self, inner: &mut Inner, identity_id: &str) -> usize {
        let bound = inner.config.controller.max_api_sessions_per_identity.max(1);
        let own = inner
            .api_sessions
            .values()
            .filter(|s| s.identity_id == identity_id)
            .count();
        if own < bound {
            return 0;
        }
        let mut ended_ids = std::collections::HashSet::new();
        for _ in 0..own + 1 - bound {
            let least_recently_used = inner
                .api_sessions
                .values()
                .filter(|s| s.identity_id == identity_id)
                .min_by_key(|s| (s.last_activity_at, s.serial))
                .map(|s| s.token.clone());
            let Some(token) = least_recently_used else {
                break;
            };
            if let Some(ended) = inner.api_sessions.remove(&token) {
                self.api_store.remove(&token);
                ended_ids.insert(ended.id);
            }
        }
        let before = inner.sessions.len();
        inner
            .sessions
            .retain(|_, s| !ended_ids.contains(&s.api_session_id));
        if inner.sessions.len() != before {
            if let Err(e) = self.save_sessions(inner) {
                tracing::warn!(error = %e, "cannot persist service sessions");
            }
        }
        tracing::debug!(
            identity = identity_id,
            ended = ended_ids.len(),
            bound,
            "a login exceeded the identity's API session bound; its least recently used \
             API sessions ended"
        );
        ended_ids.len()
    }

    pub(super) fn timeout_micros(inner: &Inner) -> i64 {
        i64::try_from(inner.config.controller.api_session_timeout_secs)
            .unwrap_or(i64::MAX / 2_000_000)
            .saturating_mul(1_000_000)
    }

    /// Drops expired API sessions and the service sessions that hang off them, at most once per
    /// [`EXPIRY_SWEEP_INTERVAL_MICROS`] (lookups check their own session's expiry).
    pub(super) fn expire(&self, inner: &mut Inner, now: i64) {
        if now.saturating_sub(inner.last_expiry_sweep) < EXPIRY_SWEEP_INTERVAL_MICROS {
            return;
        }
        inner.last_expiry_sweep = now;
        let timeout = Self::timeout_micros(inner);
        let mut expired = 0;
        inner.api_sessions.retain(|token, s| {
            let live = s.last_activity_at.saturating_add(timeout) > now;
            if !live {
                self.api_store.remove(token);
                expired += 1;
            }
            live
        });
        if expired == 0 {
            return;
        }
        let live: std::collections::HashSet<&str> =
            inner.api_sessions.values().map(|s| s.id.as_str()).collect();
        inner
            .sessions
            .retain(|_, s| live.contains(s.api_session_id.as_str()));
    }

    pub(super) fn api_session_info(inner: &Inner, r: &ApiSessionRecord) -> Option<ApiSessionInfo> {
        let identity = find_identity(&inner.config, &r.identity_id).map(Self::identity_info)?;
        let timeout = Self::timeout_micros(inner);
        Some(ApiSessionInfo {
            id: r.id.clone(),
            token: r.token.clone(),
            identity,
            cert_fingerprint: r.cert_fingerprint.clone(),
            config_types: r.config_types.clone(),
            created_at: r.created_at,
            last_activity_at: r.last_activity_at,
            expires_at: r.last_activity_at.saturating_add(timeout),
            expiration_seconds: inner.config.controller.api_session_timeout_secs,
            ip_address: r.ip_address.clone(),
        })
    }

    /// Looks up a live API session by token and marks activity (extending its expiry).
    /// `None` when unknown, expired, or its identity is no longer declared.
    pub fn touch_api_session(&self, token: &str) -> Option<ApiSessionInfo> {
        let now = now_micros();
        let mut inner = self.lock();
        self.expire(&mut inner, now);
        let timeout = Self::timeout_micros(&inner);
        let record = inner.api_sessions.get_mut(token)?;
        if record.last_activity_at.saturating_add(timeout) <= now {
            // Expired since the last sweep: make the next lookup sweep it away.
            inner.last_expiry_sweep = 0;
            return None;
        }
        record.last_activity_at = now;
        let record = record.clone();
        self.api_store.touch(token, now);
        Self::api_session_info(&inner, &record)
    }

    /// The live API sessions of an identity (oldest first).
    pub fn api_sessions_of(&self, identity_id: &str) -> Vec<ApiSessionInfo> {
        let now = now_micros();
        let mut inner = self.lock();
        self.expire(&mut inner, now);
        let timeout = Self::timeout_micros(&inner);
        let mut list: Vec<ApiSessionInfo> = inner
            .api_sessions
            .values()
            .filter(|s| s.identity_id == identity_id)
            .filter(|s| s.last_activity_at.saturating_add(timeout) > now)
            .filter_map(|s| Self::api_session_info(&inner, s))
            .collect();
        list.sort_by_key(|s| s.created_at);
        list
    }

    /// `DELETE /current-api-session`: ends the API session and its service sessions; routers
    /// then close the channels that presented it.
    pub fn delete_api_session(&self, token: &str) -> Result<bool, LabError> {
        let mut inner = self.lock();
        let Some(removed) = inner.api_sessions.remove(token) else {
            return Ok(false);
        };
        inner.sessions.retain(|_, s| s.api_session_id != removed.id);
        self.api_store.remove(token);
        self.save_sessions(&inner)?;
        drop(inner);
        self.announce_api_session_removals();
        Ok(true)
    }

    /// Router: validates the API session token an SDK sent in its channel Hello, against the
    /// fingerprint of the client certificate of that TLS channel. Marks activity.
    pub fn router_authenticate(
        &self,
        api_session_token: &str,
        cert_fingerprint: &CertFingerprint,
    ) -> Result<ApiSessionInfo, RouterAuthError> {
        let session = self
            .touch_api_session(api_session_token)
            .ok_or(RouterAuthError::UnknownApiSession)?;
        let inner = self.lock();
        let record = inner
            .identities
            .get(&session.identity.id)
            .ok_or(RouterAuthError::UnknownApiSession)?;
        if record
            .certs
            .iter()
            .any(|c| &c.fingerprint == cert_fingerprint)
        {
            Ok(session)
        } else {
            Err(RouterAuthError::CertificateMismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::starter_state as state;

    #[test]
    fn router_checks_token_and_certificate_together() {
        let (_dir, state) = state();
        let (cert, _) = state.issue_client_cert("reflectz").unwrap();
        let (other, _) = state.issue_client_cert("client").unwrap();
        let session = state
            .authenticate(Some(&cert.cert_der), vec![], "127.0.0.1".into())
            .unwrap();
        assert_eq!(session.identity.name, "reflectz");
        let seen = state
            .router_authenticate(&session.token, &cert.fingerprint)
            .unwrap();
        assert_eq!(seen.id, session.id);
        assert_eq!(
            state.router_authenticate(&session.token, &other.fingerprint),
            Err(RouterAuthError::CertificateMismatch)
        );
        assert_eq!(
            state.router_authenticate("nope", &cert.fingerprint),
            Err(RouterAuthError::UnknownApiSession)
        );
        assert!(matches!(
            state.authenticate(None, vec![], "127.0.0.1".into()),
            Err(AuthError::NoCertificate)
        ));
        assert!(matches!(
            state.authenticate(Some(b"not a registered cert"), vec![], "127.0.0.1".into()),
            Err(AuthError::UnknownCertificate)
        ));
    }
}
