//! [`LabState`]: the shared, internally synchronised state of a lab — configuration, PKI,
//! enrollments, issued certificates, API sessions and service sessions — and its persistence
//! under `<lab dir>/state/`.
//!
//! The controller answers REST calls from it; the edge router asks it to validate what SDKs
//! present on a channel:
//! * [`LabState::router_authenticate`]: API session token (router Hello) + client certificate
//!   fingerprint → [`ApiSessionInfo`] (identity); marks activity on the API session.
//! * [`LabState::service_session`]: service session token (Connect/Bind) → [`ServiceSessionInfo`]
//!   (service, `Dial`/`Bind`, identity, API session), only while it is still valid.
//! * [`LabState::service`], [`LabState::identity`]: lookups by id (e.g. `encryption_required`).
//! * [`LabState::edge_routers`]: the configured router and those started beside it (module
//!   `routers`), as the controller lists them.
//! * [`LabState::remove_identity`] and logout remove API sessions; routers watch
//!   [`LabState::api_session_removals`] and close the channels that presented them (module
//!   `revoke`).
//!
//! * One identity holds at most `max_api_sessions_per_identity` (`lab.toml`, default
//!   [`DEFAULT_MAX_API_SESSIONS_PER_IDENTITY`](crate::config::DEFAULT_MAX_API_SESSIONS_PER_IDENTITY))
//!   live API sessions: a login beyond it ends the identity's least recently used one, as a
//!   logout would, so one identity cannot fill the global [`MAX_API_SESSIONS`] that all share
//!   (module `api_sessions`).
//!
//! Persistence (JSON, written atomically): `state/identities/<identity id>.json` (pending
//! enrollment, used tokens, accepted certificate fingerprints), `state/sessions.json`,
//! `state/addresses.json` (addresses bound by the last start), and API sessions as
//! `state/api-sessions.json` plus a journal, written off the lock (module `api_store`).
//! Identity files are re-read when a token or certificate is unknown, so
//! `darkscrape lab jwt` / `lab identity` run from another process take effect in a running lab.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use serde::{Deserialize, Serialize};

use crate::config::{
    advertised_host, IdentityDecl, LabConfig, PolicyType, ServiceDecl, ServicePolicyDecl,
};
use crate::error::LabError;
use crate::jwt::{EnrollmentClaims, EnrollmentSigner, ServiceAccessClaims};
use crate::pki::{CertFingerprint, CsrError, IssuedCert, LabPki};
use crate::router::RouterCore;
use crate::timefmt::now_micros;

mod api_sessions;
mod api_store;
mod revoke;
mod routers;

/// Most live API sessions the lab keeps; further logins are refused until some expire. A last
/// resort: each identity is bounded well below it (`max_api_sessions_per_identity`).
pub const MAX_API_SESSIONS: usize = 10_000;

/// A stable id derived from a kind and a name (12 hex digits of SHA-256).
pub fn derive_id(kind: &str, name: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, format!("{kind}/{name}").as_bytes());
    hex::encode(&digest.as_ref()[..6])
}

/// An identity as the router and controller see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityInfo {
    /// Stable id (CN of its certificates, JWT `sub`).
    pub id: String,
    /// Declared name.
    pub name: String,
    /// Role attributes.
    pub roles: Vec<String>,
}

/// A service as the router and controller see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceInfo {
    /// Stable id.
    pub id: String,
    /// Declared name.
    pub name: String,
    /// Role attributes.
    pub roles: Vec<String>,
    /// Whether SDKs must encrypt end to end.
    pub encryption_required: bool,
    /// Config-type → config object.
    pub configs: BTreeMap<String, serde_json::Value>,
}

/// A terminator as the controller lists it (`terminatorClientDetail`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminatorInfo {
    /// Terminator id.
    pub id: String,
    /// The service it hosts.
    pub service_id: String,
    /// The edge router holding it.
    pub router_id: String,
    /// Its instance id (`identity` in the API; the host's identity name when it binds with
    /// `bindUsingEdgeIdentity`), empty when none was given.
    pub instance_id: String,
}

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

/// The single edge router of the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeRouterInfo {
    /// Stable id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Host put into its URL.
    pub hostname: String,
    /// `tls://host:port`.
    pub tls_url: String,
}

/// Why an enrollment was refused (maps to the controller's error codes).
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// No identity has this pending token (`INVALID_ENROLLMENT_TOKEN`).
    #[error("the enrollment token is not valid")]
    InvalidToken,
    /// The token's JWT has expired (`ENROLLMENT_EXPIRED`).
    #[error("the enrollment token has expired; mint a new one with `darkscrape lab jwt`")]
    Expired,
    /// The token was already used (`ENROLLMENT_IDENTITY_ALREADY_ENROLLED`).
    #[error(
        "the identity already enrolled with this token; mint a new one with `darkscrape lab jwt`"
    )]
    AlreadyEnrolled,
    /// The CSR is bad (`COULD_NOT_PROCESS_CSR`).
    #[error(transparent)]
    Csr(#[from] CsrError),
    /// The state could not be persisted.
    #[error(transparent)]
    Storage(#[from] LabError),
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

fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<(), LabError> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| LabError::StateFile {
        path: path.to_owned(),
        source: e,
    })?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|e| LabError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| LabError::io("rename into", path, e))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, LabError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| LabError::StateFile {
                path: path.to_owned(),
                source: e,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LabError::io("read", path, e)),
    }
}

impl LabState {
    /// Loads state for the lab in `dir` (config already parsed, PKI already loaded).
    pub(crate) fn load(dir: &Path, config: LabConfig, pki: LabPki) -> Result<Self, LabError> {
        let signer = EnrollmentSigner::new(pki.controller_key_pkcs8(), pki.controller_cert_der())?;
        let instance_id = format!(
            "lab-{}",
            &CertFingerprint::of_der(pki.ca_der()).as_str()[..12]
        );
        let state_dir = dir.join("state");
        std::fs::create_dir_all(state_dir.join("identities"))
            .map_err(|e| LabError::io("create directory", &state_dir, e))?;
        let loaded = api_store::load(&state_dir)?;
        let api_store = api_store::ApiSessionStore::start(&state_dir, &loaded)?;
        let next_api_session_serial = loaded.records.iter().map(|r| r.serial + 1).max();
        let sessions: Vec<ServiceSessionRecord> =
            read_json(&state_dir.join("sessions.json"))?.unwrap_or_default();
        // With port 0 in lab.toml, use the addresses a running lab recorded (so a second
        // process, e.g. `darkscrape lab jwt`, mints JWTs naming the port actually bound).
        let recorded: Option<RecordedAddresses> = read_json(&state_dir.join("addresses.json"))?;
        let pick = |configured: SocketAddr, recorded: Option<SocketAddr>| match recorded {
            Some(r) if configured.port() == 0 => r,
            _ => configured,
        };
        let inner = Inner {
            controller_addr: pick(
                config.controller.address,
                recorded.as_ref().map(|r| r.controller),
            ),
            router_addr: pick(config.router.address, recorded.as_ref().map(|r| r.router)),
            config,
            identities: HashMap::new(),
            api_sessions: loaded
                .records
                .into_iter()
                .map(|s| (s.token.clone(), s))
                .collect(),
            sessions: sessions.into_iter().map(|s| (s.token.clone(), s)).collect(),
            last_change_at: now_micros(),
            next_api_session_serial: next_api_session_serial.unwrap_or(0),
            last_expiry_sweep: 0,
            extra_routers: Vec::new(),
        };
        let state = LabState {
            dir: dir.to_owned(),
            pki,
            signer,
            instance_id,
            inner: Mutex::new(inner),
            api_store,
            router: Mutex::new(Weak::new()),
            api_session_removals: tokio::sync::watch::Sender::new(0),
        };
        {
            let mut inner = state.lock();
            state.reload_identities(&mut inner)?;
        }
        Ok(state)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than losing the lab, so recover the guard.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    fn identity_path(&self, id: &str) -> PathBuf {
        self.state_dir()
            .join("identities")
            .join(format!("{id}.json"))
    }

    /// Re-reads every declared identity's record from disk (creating missing ones in memory).
    fn reload_identities(&self, inner: &mut Inner) -> Result<(), LabError> {
        let mut fresh = HashMap::new();
        for decl in &inner.config.identities {
            let id = derive_id("identity", &decl.name);
            let record =
                read_json::<IdentityRecord>(&self.identity_path(&id))?.unwrap_or(IdentityRecord {
                    id: id.clone(),
                    name: decl.name.clone(),
                    pending: None,
                    used_tokens: Vec::new(),
                    certs: Vec::new(),
                });
            fresh.insert(id, record);
        }
        inner.identities = fresh;
        Ok(())
    }

    fn save_identity(&self, record: &IdentityRecord) -> Result<(), LabError> {
        write_json_atomic(&self.identity_path(&record.id), record)
    }

    fn save_sessions(&self, inner: &Inner) -> Result<(), LabError> {
        let list: Vec<&ServiceSessionRecord> = inner.sessions.values().collect();
        write_json_atomic(&self.state_dir().join("sessions.json"), &list)
    }

    /// Writes API sessions (with their latest activity) and service sessions to disk, and
    /// waits until both are written.
    pub fn flush(&self) -> Result<(), LabError> {
        let inner = self.lock();
        let api_sessions = self
            .api_store
            .snapshot(inner.api_sessions.values().cloned().collect());
        let sessions = self.save_sessions(&inner);
        drop(inner);
        api_sessions.wait()?;
        sessions
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

    /// Records the addresses actually bound (port 0 resolved) so URLs and JWTs use them, also
    /// in `state/addresses.json` for other processes opening the same lab.
    pub(crate) fn set_addresses(&self, controller: SocketAddr, router: SocketAddr) {
        let mut inner = self.lock();
        inner.controller_addr = controller;
        inner.router_addr = router;
        let recorded = RecordedAddresses { controller, router };
        if let Err(e) = write_json_atomic(&self.state_dir().join("addresses.json"), &recorded) {
            tracing::warn!(error = %e, "cannot record the bound addresses");
        }
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

    /// The lab's edge router as listed to SDKs.
    pub fn edge_router(&self) -> EdgeRouterInfo {
        let inner = self.lock();
        let hostname = advertised_host(&inner.config.router.host, inner.router_addr);
        EdgeRouterInfo {
            id: derive_id("router", &inner.config.router.name),
            name: inner.config.router.name.clone(),
            tls_url: format!("tls://{hostname}:{}", inner.router_addr.port()),
            hostname,
        }
    }

    /// Time of the last change to services or policies (µs since the epoch).
    pub fn last_change_at(&self) -> i64 {
        self.lock().last_change_at
    }

    /// The API session idle timeout, seconds.
    pub fn api_session_timeout_secs(&self) -> u64 {
        self.lock().config.controller.api_session_timeout_secs
    }

    fn identity_info(decl: &IdentityDecl) -> IdentityInfo {
        IdentityInfo {
            id: derive_id("identity", &decl.name),
            name: decl.name.clone(),
            roles: decl.roles.clone(),
        }
    }

    fn service_info(decl: &ServiceDecl) -> ServiceInfo {
        ServiceInfo {
            id: derive_id("service", &decl.name),
            name: decl.name.clone(),
            roles: decl.roles.clone(),
            encryption_required: decl.encryption_required,
            configs: decl.configs.clone(),
        }
    }

    /// The identity with this id, if declared.
    pub fn identity(&self, id: &str) -> Option<IdentityInfo> {
        let inner = self.lock();
        find_identity(&inner.config, id).map(Self::identity_info)
    }

    /// The identity with this name, or an error listing the declared names.
    pub fn identity_by_name(&self, name: &str) -> Result<IdentityInfo, LabError> {
        let inner = self.lock();
        inner.config.identity(name).map(Self::identity_info)
    }

    /// The service with this id, if declared.
    pub fn service(&self, id: &str) -> Option<ServiceInfo> {
        let inner = self.lock();
        find_service(&inner.config, id).map(Self::service_info)
    }

    /// Services the identity may Dial or Bind, with its permissions, in declaration order.
    pub fn services_for(&self, identity_id: &str) -> Vec<(ServiceInfo, Vec<PolicyType>)> {
        let inner = self.lock();
        let Some(identity) = find_identity(&inner.config, identity_id) else {
            return Vec::new();
        };
        inner
            .config
            .services
            .iter()
            .filter_map(|s| {
                let perms = inner.config.permissions(identity, s);
                (!perms.is_empty()).then(|| (Self::service_info(s), perms))
            })
            .collect()
    }

    // ---- configuration changes -------------------------------------------------------

    fn change_config(
        &self,
        edit: impl FnOnce(&mut LabConfig) -> Result<(), LabError>,
    ) -> Result<(), LabError> {
        let mut inner = self.lock();
        let mut config = inner.config.clone();
        edit(&mut config)?;
        let path = self.dir.join("lab.toml");
        config.validate(&path)?;
        let text = config.to_toml()?;
        std::fs::write(&path, text).map_err(|e| LabError::io("write", &path, e))?;
        inner.config = config;
        inner.last_change_at = now_micros();
        self.reload_identities(&mut inner)
    }

    /// Declares an identity (persisted to `lab.toml`).
    pub fn add_identity(&self, decl: IdentityDecl) -> Result<IdentityInfo, LabError> {
        let info = Self::identity_info(&decl);
        self.change_config(|c| {
            if c.identities.iter().any(|i| i.name == decl.name) {
                return Err(LabError::Duplicate {
                    kind: "identity",
                    name: decl.name.clone(),
                });
            }
            c.identities.push(decl);
            Ok(())
        })?;
        Ok(info)
    }

    /// Declares a service (persisted to `lab.toml`).
    pub fn add_service(&self, decl: ServiceDecl) -> Result<ServiceInfo, LabError> {
        let info = Self::service_info(&decl);
        self.change_config(|c| {
            if c.services.iter().any(|s| s.name == decl.name) {
                return Err(LabError::Duplicate {
                    kind: "service",
                    name: decl.name.clone(),
                });
            }
            c.services.push(decl);
            Ok(())
        })?;
        Ok(info)
    }

    /// Declares a service policy (persisted to `lab.toml`).
    pub fn add_service_policy(&self, decl: ServicePolicyDecl) -> Result<(), LabError> {
        self.change_config(|c| {
            if c.service_policies.iter().any(|p| p.name == decl.name) {
                return Err(LabError::Duplicate {
                    kind: "service policy",
                    name: decl.name.clone(),
                });
            }
            c.service_policies.push(decl);
            Ok(())
        })
    }

    /// Deletes the service policy called `name` (persisted to `lab.toml`), as
    /// `ziti edge delete service-policy` does: identities it alone granted lose the service
    /// from their list at once, and new sessions are refused. Fails if no such policy exists.
    pub fn remove_service_policy(&self, name: &str) -> Result<(), LabError> {
        self.change_config(|c| {
            let before = c.service_policies.len();
            c.service_policies.retain(|p| p.name != name);
            if c.service_policies.len() == before {
                return Err(LabError::Unknown {
                    kind: "service policy",
                    name: name.to_string(),
                });
            }
            Ok(())
        })
    }

    // ---- terminators ----------------------------------------------------------------

    /// Records `router` as the running edge router (its terminators are what
    /// [`LabState::service_terminators`] lists).
    pub fn attach_router(&self, router: &Arc<RouterCore>) {
        *self.router.lock().unwrap_or_else(|p| p.into_inner()) = Arc::downgrade(router);
    }

    /// The terminators of the service with id `service_id` on the running router, ordered by
    /// id; empty while the router is stopped (its terminators went with its channels).
    pub fn service_terminators(&self, service_id: &str) -> Vec<TerminatorInfo> {
        let router = self
            .router
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .upgrade();
        let Some(router) = router else {
            return Vec::new();
        };
        let table = router.terminators();
        table
            .for_service(service_id)
            .map(|t| TerminatorInfo {
                id: t.id.clone(),
                service_id: t.service_id.clone(),
                router_id: router.router_id.clone(),
                instance_id: t.instance_id.clone().unwrap_or_default(),
            })
            .collect()
    }

    // ---- enrollment ------------------------------------------------------------------

    /// Mints a fresh one-time enrollment JWT for the named identity. This re-arms enrollment:
    /// any older, unused JWT of the identity stops working, and enrolling with the new one
    /// replaces the identity's previously *enrolled* certificate (certificates issued directly
    /// with [`LabState::issue_client_cert`] stay valid).
    pub fn mint_enrollment_jwt(&self, name: &str) -> Result<String, LabError> {
        let url = self.controller_url();
        let mut inner = self.lock();
        let info = Self::identity_info(inner.config.identity(name)?);
        self.reload_identities(&mut inner)?;
        let ttl = inner.config.controller.enrollment_ttl_secs;
        let record =
            inner
                .identities
                .get_mut(&info.id)
                .ok_or_else(|| LabError::UnknownIdentity {
                    name: name.to_owned(),
                    known: Vec::new(),
                })?;
        let token = uuid::Uuid::new_v4().to_string();
        let exp = now_micros() / 1_000_000 + i64::try_from(ttl).unwrap_or(i64::MAX / 2);
        record.pending = Some(PendingEnrollment {
            token: token.clone(),
            expires_at_secs: exp,
        });
        self.save_identity(record)?;
        self.signer.sign(&EnrollmentClaims {
            iss: url,
            sub: info.id,
            jti: token,
            em: "ott".into(),
            exp,
            aud: vec![String::new()],
        })
    }

    /// Completes an `ott` enrollment: checks the token, signs the CSR, records the certificate.
    pub fn enroll(
        &self,
        token: &str,
        csr: &[u8],
    ) -> Result<(IdentityInfo, IssuedCert), EnrollError> {
        let mut inner = self.lock();
        let find = |inner: &Inner| {
            inner
                .identities
                .values()
                .find(|r| {
                    r.pending.as_ref().is_some_and(|p| p.token == token)
                        || r.used_tokens.iter().any(|t| t == token)
                })
                .map(|r| r.id.clone())
        };
        let id = match find(&inner) {
            Some(id) => id,
            None => {
                self.reload_identities(&mut inner)?;
                find(&inner).ok_or(EnrollError::InvalidToken)?
            }
        };
        let decl = find_identity(&inner.config, &id).ok_or(EnrollError::InvalidToken)?;
        let info = Self::identity_info(decl);
        let record = inner
            .identities
            .get_mut(&id)
            .ok_or(EnrollError::InvalidToken)?;
        if record.used_tokens.iter().any(|t| t == token) {
            return Err(EnrollError::AlreadyEnrolled);
        }
        let pending = record.pending.clone().ok_or(EnrollError::InvalidToken)?;
        if pending.expires_at_secs <= now_micros() / 1_000_000 {
            return Err(EnrollError::Expired);
        }
        let issued = self.pki.sign_csr(csr, &info.id, &info.name)?;
        record.pending = None;
        record.used_tokens.push(pending.token);
        record.certs.retain(|c| c.source != CertSource::Enrolled);
        record.certs.push(CertRecord {
            fingerprint: issued.fingerprint.clone(),
            source: CertSource::Enrolled,
            issued_at: now_micros(),
        });
        self.save_identity(record)?;
        Ok((info, issued))
    }

    /// Issues a client certificate + key for the named identity without enrollment (what
    /// `darkscrape lab identity` writes into an identity file). Returns (cert, key PEM).
    pub fn issue_client_cert(&self, name: &str) -> Result<(IssuedCert, String), LabError> {
        let mut inner = self.lock();
        let info = Self::identity_info(inner.config.identity(name)?);
        self.reload_identities(&mut inner)?;
        let (cert, key) = self.pki.issue_client(&info.id, &info.name)?;
        if let Some(record) = inner.identities.get_mut(&info.id) {
            record.certs.push(CertRecord {
                fingerprint: cert.fingerprint.clone(),
                source: CertSource::Issued,
                issued_at: now_micros(),
            });
            self.save_identity(record)?;
        }
        Ok((cert, key))
    }

    fn identity_for_cert(
        &self,
        inner: &mut Inner,
        fp: &CertFingerprint,
    ) -> Result<Option<String>, LabError> {
        let find = |inner: &Inner| {
            inner
                .identities
                .values()
                .find(|r| r.certs.iter().any(|c| &c.fingerprint == fp))
                .map(|r| r.id.clone())
        };
        if let Some(id) = find(inner) {
            return Ok(Some(id));
        }
        self.reload_identities(inner)?;
        Ok(find(inner))
    }

    // ---- service sessions ------------------------------------------------------------

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

    // ---- router-facing API -----------------------------------------------------------

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

fn find_identity<'a>(config: &'a LabConfig, id: &str) -> Option<&'a IdentityDecl> {
    config
        .identities
        .iter()
        .find(|i| derive_id("identity", &i.name) == id)
}

fn find_service<'a>(config: &'a LabConfig, id: &str) -> Option<&'a ServiceDecl> {
    config
        .services
        .iter()
        .find(|s| derive_id("service", &s.name) == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> (tempfile::TempDir, LabState) {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::test_support::shared_pki(dir.path());
        let state = LabState::load(dir.path(), LabConfig::starter(), pki).unwrap();
        (dir, state)
    }

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

    #[test]
    fn ids_are_stable_and_distinct_per_kind() {
        assert_eq!(derive_id("identity", "a"), derive_id("identity", "a"));
        assert_ne!(derive_id("identity", "a"), derive_id("service", "a"));
        assert_eq!(derive_id("identity", "a").len(), 12);
    }
}
