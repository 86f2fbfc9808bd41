//! [`LabState`]: the shared, internally synchronised state of a lab — configuration, PKI,
//! enrollments, issued certificates, API sessions and service sessions — and its persistence
//! under `<lab dir>/state/`.
//!
//! This module holds [`LabState`] itself, the records it keeps behind its one mutex, and its
//! small accessors (addresses, URLs, configuration). Each concern has a module of its own:
//! * `config_edits`: declaring identities, services and service policies at run time
//!   (written to `lab.toml`).
//! * `identities`: identity lookups, enrollment JWTs, `ott` enrollment and client
//!   certificates ([`EnrollmentRefusal`] when an enrollment is refused).
//! * `policies`: service lookups and what the service policies grant an identity.
//! * `api_sessions`: certificate login, API session activity, expiry and logout, and
//!   [`LabState::router_authenticate`] (API session token of a router Hello + client
//!   certificate fingerprint → [`ApiSessionInfo`]). One identity holds at most
//!   `max_api_sessions_per_identity` (`lab.toml`, default
//!   [`DEFAULT_MAX_API_SESSIONS_PER_IDENTITY`](crate::config::DEFAULT_MAX_API_SESSIONS_PER_IDENTITY))
//!   live API sessions: a login beyond it ends the identity's least recently used one, as a
//!   logout would, so one identity cannot fill the global [`MAX_API_SESSIONS`] that all share.
//! * `service_sessions`: `POST /sessions` and [`LabState::service_session`] (service session
//!   token of a Connect/Bind → [`ServiceSessionInfo`], only while it is still valid).
//! * `routers`: the configured edge router and those started beside it, as the controller
//!   lists them ([`LabState::edge_routers`]), and the running router's terminators.
//! * `revoke`: [`LabState::remove_identity`]; it and logout remove API sessions, and routers
//!   watch [`LabState::api_session_removals`] to close the channels that presented them.
//! * `persistence` and `api_store`: loading and writing the state directory.
//!
//! Persistence (JSON, written atomically): `state/identities/<identity id>.json` (pending
//! enrollment, used tokens, accepted certificate fingerprints), `state/sessions.json`,
//! `state/addresses.json` (addresses bound by the last start), and API sessions as
//! `state/api-sessions.json` plus a journal, written off the lock (module `api_store`).
//! Identity files are re-read when a token or certificate is unknown, so
//! `darkscrape lab jwt` / `lab identity` run from another process take effect in a running lab.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Weak};

use serde::{Deserialize, Serialize};

use crate::config::{advertised_host, LabConfig, PolicyType};
use crate::error::LabError;
use crate::jwt::EnrollmentSigner;
use crate::pki::{CertFingerprint, LabPki};
use crate::router::RouterCore;
use crate::timefmt::now_micros;

mod api_sessions;
mod api_store;
mod config_edits;
mod identities;
mod persistence;
mod policies;
mod revoke;
mod routers;
mod service_sessions;

pub use api_sessions::{ApiSessionInfo, AuthError};
pub use identities::{EnrollmentRefusal, IdentityInfo};
pub use policies::ServiceInfo;
pub use routers::{EdgeRouterInfo, TerminatorInfo};
pub use service_sessions::{ServiceSessionInfo, SessionCreateError};

use identities::find_identity;
use persistence::{read_json, write_json_atomic};
use policies::find_service;

/// Most live API sessions the lab keeps; further logins are refused until some expire. A last
/// resort: each identity is bounded well below it (`max_api_sessions_per_identity`).
pub const MAX_API_SESSIONS: usize = 10_000;

/// A stable id derived from a kind and a name (12 hex digits of SHA-256).
pub fn derive_id(kind: &str, name: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, format!("{kind}/{name}").as_bytes());
    hex::encode(&digest.as_ref()[..6])
}

/// Why the router must refuse what an SDK presented.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouterAuthError {
    /// No API session has this token, or it expired.
    #[error("unknown or expired API session")]
    UnknownApiSession,
    /// The API session exists but the channel's client certificate is not one of the identity's.
    #[error("the client certificate does not belong to the API session's identity")]
    CertificateMismatch,
    /// No service session has this token.
    #[error("unknown service session")]
    UnknownServiceSession,
    /// The service session exists but is no longer valid (API session gone, identity or
    /// service removed, or the policy no longer grants the right).
    #[error("the service session is no longer valid")]
    ServiceSessionRevoked,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum CertSource {
    Enrolled,
    Issued,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CertRecord {
    fingerprint: CertFingerprint,
    source: CertSource,
    issued_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingEnrollment {
    token: String,
    expires_at_secs: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdentityRecord {
    id: String,
    name: String,
    #[serde(default)]
    pending: Option<PendingEnrollment>,
    #[serde(default)]
    used_tokens: Vec<String>,
    #[serde(default)]
    certs: Vec<CertRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ApiSessionRecord {
    id: String,
    token: String,
    identity_id: String,
    cert_fingerprint: CertFingerprint,
    config_types: Vec<String>,
    created_at: i64,
    last_activity_at: i64,
    ip_address: String,
    /// Order of creation in this lab (breaks ties of equal times when picking the least
    /// recently used session of an identity).
    #[serde(default)]
    serial: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ServiceSessionRecord {
    id: String,
    token: String,
    session_type: PolicyType,
    service_id: String,
    identity_id: String,
    api_session_id: String,
    api_session_token: String,
    created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecordedAddresses {
    controller: SocketAddr,
    router: SocketAddr,
}

struct Inner {
    config: LabConfig,
    controller_addr: SocketAddr,
    router_addr: SocketAddr,
    identities: HashMap<String, IdentityRecord>,
    api_sessions: HashMap<String, ApiSessionRecord>,
    sessions: HashMap<String, ServiceSessionRecord>,
    last_change_at: i64,
    /// Serial of the next API session.
    next_api_session_serial: u64,
    /// When [`LabState::expire`] last swept every API session (µs since the epoch).
    last_expiry_sweep: i64,
    /// Routers started beside the configured one (name, address), not persisted.
    extra_routers: Vec<(String, SocketAddr)>,
}

/// The shared state of one lab. Cheap to query from many tasks (one short mutex section per call).
pub struct LabState {
    dir: PathBuf,
    pki: LabPki,
    signer: EnrollmentSigner,
    instance_id: String,
    inner: Mutex<Inner>,
    /// Writes API sessions to disk off the lock.
    api_store: api_store::ApiSessionStore,
    /// The running edge router, whose terminators the controller lists
    /// (`GET /services/{id}/terminators`); dangling while the router is stopped.
    router: Mutex<Weak<RouterCore>>,
    /// Bumped whenever API sessions are removed (see [`revoke`]), so routers can close the
    /// channels that presented them.
    api_session_removals: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for LabState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabState")
            .field("dir", &self.dir)
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}

impl LabState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than losing the lab, so recover the guard.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lab directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The lab PKI (CA, server certificates, TLS configurations).
    pub fn pki(&self) -> &LabPki {
        &self.pki
    }

    /// Value of the `ziti-instance-id` header (stable per lab: derived from the CA).
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// A copy of the current configuration.
    pub fn config(&self) -> LabConfig {
        self.lock().config.clone()
    }

    /// Controller address in use (the configured one until the lab starts).
    pub fn controller_addr(&self) -> SocketAddr {
        self.lock().controller_addr
    }

    /// Router address in use (the configured one until the lab starts).
    pub fn router_addr(&self) -> SocketAddr {
        self.lock().router_addr
    }

    /// `https://host:port` of the controller: the `ztAPI` and the JWT `iss`.
    pub fn controller_url(&self) -> String {
        let inner = self.lock();
        let host = advertised_host(&inner.config.controller.host, inner.controller_addr);
        format!("https://{host}:{}", inner.controller_addr.port())
    }

    /// Time of the last change to services or policies (µs since the epoch).
    pub fn last_change_at(&self) -> i64 {
        self.lock().last_change_at
    }

    /// The API session idle timeout, seconds.
    pub fn api_session_timeout_secs(&self) -> u64 {
        self.lock().config.controller.api_session_timeout_secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state loaded with the starter configuration and the shared test PKI (for the unit
    /// tests of every module of `state`).
    pub(super) fn starter_state() -> (tempfile::TempDir, LabState) {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::test_support::shared_pki(dir.path());
        let state = LabState::load(dir.path(), LabConfig::starter(), pki).unwrap();
        (dir, state)
    }

    #[test]
    fn ids_are_stable_and_distinct_per_kind() {
        assert_eq!(derive_id("identity", "a"), derive_id("identity", "a"));
        assert_ne!(derive_id("identity", "a"), derive_id("service", "a"));
        assert_eq!(derive_id("identity", "a").len(), 12);
    }
}
