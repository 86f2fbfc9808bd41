//! The `edge-oidc` API of the lab controller: certificate login by OAuth 2.0 authorization
//! code + PKCE, as a ziti 2.x controller serves it under `/oidc` (openziti/ziti
//! `controller/oidc_auth/*`, `controller/webapis/oidc-api.go`), on when
//! `controller.oidc` is set.
//!
//! | module | owns |
//! | --- | --- |
//! | this one | the per-lab [`OidcContext`] (signing key, pending auth requests and codes, router channel tokens), routing, Host validation, OAuth error bodies |
//! | [`flow`] | discovery, JWKS, `/oidc/authorize`, `/oidc/login/cert`, the callback |
//! | [`token_endpoint`] | `/oidc/oauth/token`: authorization code, refresh token, RFC 8693 token exchange |
//! | [`tokens`] | token claims, signing and verification (also used by the router) |
//! | [`bearer`] | `Authorization: Bearer` on the edge client API |
//!
//! A successful certificate login opens an ordinary API session of [`LabState`] (the same call
//! as `POST /authenticate?method=cert`); the tokens name it in `z_asid`. REST calls with a
//! bearer token and router channels presenting one use that API session, so logout, identity
//! deletion and idle expiry end OIDC sessions exactly as they end legacy ones, and a refresh
//! of a session that ended is refused.
//!
//! Nothing here logs a token, code, verifier or auth request id.

pub mod bearer;
pub mod flow;
pub mod token_endpoint;
pub mod tokens;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use bytes::Bytes;
use http::{header, HeaderValue, Request, StatusCode};
use http_body_util::Full;
use serde_json::json;

use super::envelope::ApiResponse;
use super::ConnectionInfo;
use crate::jwt::EnrollmentSigner;
use crate::state::LabState;

/// Path prefix of the API.
pub const OIDC_PATH: &str = "/oidc";
/// Most pending auth requests plus unexchanged codes kept; older ones are dropped first.
pub const MAX_PENDING: usize = 10_000;
/// Lifetime of an auth request (authorize → login → callback), seconds.
pub const AUTH_REQUEST_TTL_SECS: i64 = 300;
/// Lifetime of an authorization code, seconds.
pub const CODE_TTL_SECS: i64 = 60;

/// One `/oidc/authorize` request, until its code is exchanged.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    /// `openziti` or `native`.
    pub client_id: String,
    /// The registered redirect URI asked for.
    pub redirect_uri: String,
    /// Returned with the code.
    pub state: Option<String>,
    /// Copied into the ID token.
    pub nonce: String,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// The issuer (`https://host:port/oidc`) the request was made to.
    pub issuer: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Set by a successful login.
    pub login: Option<Login>,
}

/// What a successful certificate login established.
#[derive(Debug, Clone)]
pub struct Login {
    /// Identity id.
    pub identity_id: String,
    /// Identity name.
    pub identity_name: String,
    /// The API session opened for it.
    pub api_session_id: String,
    /// SHA-1 fingerprint (`z_cfs` format) of the certificate that logged in.
    pub cert_sha1: String,
    /// Config types asked for.
    pub config_types: Vec<String>,
    /// Remote address.
    pub remote_address: String,
    /// Unix seconds.
    pub auth_time: i64,
}

/// A router channel that presented an OIDC access token (see `router::token`).
#[derive(Debug)]
pub struct ChannelToken {
    /// The identity of the channel.
    pub identity_id: String,
    /// DER of the channel's TLS leaf certificate (what updates must be bound to).
    pub leaf_der: Vec<u8>,
    /// Expiry of the current token, Unix seconds; updated by UpdateToken.
    pub expires_at: tokio::sync::watch::Sender<i64>,
}

/// Counters the tests read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OidcStats {
    /// Successful certificate logins.
    pub logins: u64,
    /// Tokens issued per grant: authorization code.
    pub code_grants: u64,
    /// … refresh_token grant.
    pub refresh_grants: u64,
    /// … RFC 8693 token exchange.
    pub exchange_grants: u64,
    /// UpdateToken messages accepted by routers.
    pub router_token_updates: u64,
}

/// The mutable part of an [`OidcContext`].
#[derive(Debug, Default)]
pub struct OidcTables {
    /// Pending auth requests by id.
    pub auth_requests: HashMap<String, AuthRequest>,
    /// Issued, unexchanged codes → (auth request, issued at).
    pub codes: HashMap<String, (AuthRequest, i64)>,
    /// Router channels by channel id.
    pub channels: HashMap<u64, ChannelToken>,
    /// Counters.
    pub stats: OidcStats,
}

impl OidcTables {
    /// Drops expired auth requests and codes, then the oldest ones beyond [`MAX_PENDING`].
    pub fn prune(&mut self, now: i64) {
        self.auth_requests
            .retain(|_, r| r.created_at + AUTH_REQUEST_TTL_SECS > now);
        self.codes.retain(|_, (_, at)| *at + CODE_TTL_SECS > now);
        while self.auth_requests.len() + self.codes.len() >= MAX_PENDING {
            let oldest = self
                .auth_requests
                .iter()
                .min_by_key(|(_, r)| r.created_at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.auth_requests.remove(&k);
                }
                None => {
                    let k = self
                        .codes
                        .iter()
                        .min_by_key(|(_, (_, at))| *at)
                        .map(|(k, _)| k.clone());
                    match k {
                        Some(k) => self.codes.remove(&k),
                        None => break,
                    };
                }
            }
        }
    }
}

/// The OIDC side of one lab: its signing key (the controller key, as for every lab JWT) and
/// the tables. One per [`LabState`], found with [`context`].
#[derive(Debug)]
pub struct OidcContext {
    /// Signs and names (`kid`) the tokens.
    pub signer: EnrollmentSigner,
    /// SubjectPublicKeyInfo DER of the controller certificate (verification key).
    pub spki_der: Vec<u8>,
    /// `host` values the issuer answers for: the controller certificate's DNS and IP names.
    pub issuer_hosts: Vec<String>,
    tables: Mutex<OidcTables>,
}

impl OidcContext {
    fn new(state: &LabState) -> Result<Self, crate::LabError> {
        let pki = state.pki();
        let signer = EnrollmentSigner::new(pki.controller_key_pkcs8(), pki.controller_cert_der())?;
        use x509_parser::prelude::FromDer;
        let (_, cert) =
            x509_parser::certificate::X509Certificate::from_der(pki.controller_cert_der())
                .map_err(|e| crate::LabError::pki("reading the controller certificate", e))?;
        let mut issuer_hosts = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    x509_parser::extensions::GeneralName::DNSName(d) => {
                        issuer_hosts.push(d.to_ascii_lowercase())
                    }
                    x509_parser::extensions::GeneralName::IPAddress(ip) => {
                        if let Ok(b) = <[u8; 4]>::try_from(*ip) {
                            issuer_hosts.push(std::net::Ipv4Addr::from(b).to_string());
                        } else if let Ok(b) = <[u8; 16]>::try_from(*ip) {
                            issuer_hosts.push(std::net::Ipv6Addr::from(b).to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(OidcContext {
            signer,
            spki_der: cert.public_key().raw.to_vec(),
            issuer_hosts,
            tables: Mutex::new(OidcTables::default()),
        })
    }

    /// The tables, locked (short sections only).
    pub fn tables(&self) -> MutexGuard<'_, OidcTables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the counters.
    pub fn stats(&self) -> OidcStats {
        self.tables().stats
    }
}

type Registry = Mutex<Vec<(Weak<LabState>, Arc<OidcContext>)>>;

/// The [`OidcContext`] of `state`, created on first use. The lab state has no slot for this
/// controller- and router-side bookkeeping, so it lives beside it and goes when the state goes.
pub fn context(state: &Arc<LabState>) -> Result<Arc<OidcContext>, crate::LabError> {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    let mut list = REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    list.retain(|(w, _)| w.strong_count() > 0);
    if let Some((_, ctx)) = list
        .iter()
        .find(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(state)))
    {
        return Ok(ctx.clone());
    }
    let ctx = Arc::new(OidcContext::new(state)?);
    list.push((Arc::downgrade(state), ctx.clone()));
    Ok(ctx)
}

/// Whether a request path belongs to the OIDC API.
pub fn is_oidc_path(path: &str) -> bool {
    path == OIDC_PATH || path.starts_with("/oidc/")
}

/// Now, Unix seconds.
pub fn now_secs() -> i64 {
    crate::timefmt::now_micros() / 1_000_000
}

/// Now, Unix seconds, rounded up.
pub fn now_secs_ceil() -> i64 {
    (crate::timefmt::now_micros() + 999_999) / 1_000_000
}

/// An OAuth 2.0 error (RFC 6749 §5.2): status, `error` code and a description saying what was
/// wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// HTTP status.
    pub status: StatusCode,
    /// `error`: `invalid_request`, `invalid_grant`, `invalid_client`, `access_denied`, …
    pub error: &'static str,
    /// `error_description`.
    pub description: String,
}

impl OAuthError {
    /// An error with `status`, code `error` and `description`.
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    /// The response: `{"error","error_description"}`, `Cache-Control: no-store`.
    pub fn response(&self) -> ApiResponse {
        let body = json!({"error": self.error, "error_description": self.description});
        no_store_json(self.status, &body)
    }
}

/// An OAuth 2.0 error response (see [`OAuthError`]).
pub fn oauth_error(
    status: StatusCode,
    error: &'static str,
    description: impl Into<String>,
) -> ApiResponse {
    OAuthError::new(status, error, description).response()
}

/// A JSON body with status 200 and `Cache-Control: no-store`.
pub fn json_ok(body: &serde_json::Value) -> ApiResponse {
    no_store_json(StatusCode::OK, body)
}

/// A JSON body with `status` and `Cache-Control: no-store`.
fn no_store_json(status: StatusCode, body: &serde_json::Value) -> ApiResponse {
    let mut resp = http::Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A `302 Found` to `location`.
pub fn redirect(location: &str) -> ApiResponse {
    let mut resp = http::Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::FOUND;
    match HeaderValue::from_str(location) {
        Ok(v) => {
            resp.headers_mut().insert(header::LOCATION, v);
            resp
        }
        Err(_) => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the redirect target is not a valid header value",
        ),
    }
}

/// The issuer (`https://host:port/oidc`) a request's `Host` names, as issuer.go checks it:
/// the host must be one of the controller certificate's names and the port the controller's.
pub fn issuer_for(
    ctx: &OidcContext,
    state: &LabState,
    req: &Request<hyper::body::Incoming>,
) -> Result<String, OAuthError> {
    let port = state.controller_addr().port().to_string();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let bad = |why: String| {
        tracing::info!(host = %host, reason = %why, "OIDC request refused: bad Host");
        OAuthError::new(
            StatusCode::NOT_FOUND,
            "invalid_request",
            format!(
                "the Host header {host:?} names no issuer of this controller ({why}); send host:port of the controller URL, e.g. {}",
                state.controller_url().trim_start_matches("https://")
            ),
        )
    };
    let (name, got_port) = match host.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.is_empty() && !h.ends_with(':') => (h, p),
        _ => return Err(bad("no port".into())),
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if got_port != port {
        return Err(bad(format!("port {got_port} is not {port}")));
    }
    let lower = name.to_ascii_lowercase();
    if !ctx.issuer_hosts.iter().any(|h| h == &lower) {
        return Err(bad(format!(
            "{name} is not a name of the controller certificate"
        )));
    }
    Ok(format!("https://{host}{OIDC_PATH}"))
}

/// Handles a request under `/oidc` (never fails: errors become OAuth error bodies).
pub async fn handle(
    state: &Arc<LabState>,
    conn: &ConnectionInfo,
    req: Request<hyper::body::Incoming>,
) -> ApiResponse {
    if !state.config().controller.oidc {
        return oauth_error(
            StatusCode::NOT_FOUND,
            "invalid_request",
            "OIDC is off on this lab controller (controller.oidc = false); use POST /edge/client/v1/authenticate?method=cert",
        );
    }
    let ctx = match context(state) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "OIDC unavailable");
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                format!(
                    "the lab's OIDC signing key is unusable ({e}); re-create the lab directory"
                ),
            );
        }
    };
    let issuer = match issuer_for(&ctx, state, &req) {
        Ok(i) => i,
        Err(e) => return e.response(),
    };
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let rest = path.strip_prefix(OIDC_PATH).unwrap_or("");
    let method = req.method().clone();
    use http::Method;
    match (&method, rest) {
        (&Method::GET, "/.well-known/openid-configuration") => flow::discovery(&issuer),
        (&Method::GET, "/keys") => flow::jwks(&ctx),
        (&Method::GET | &Method::POST, "/authorize") => {
            flow::authorize(&ctx, conn, &issuer, req).await
        }
        (&Method::GET, "/authorize/callback") => flow::callback(&ctx, &req),
        (&Method::GET, "/login/cert" | "/login/username" | "/login/password") => {
            flow::login_page(&req)
        }
        (&Method::POST, "/login/cert") => flow::login_cert(state, &ctx, conn, req).await,
        (&Method::POST, "/login/username" | "/login/password" | "/login/ext-jwt") => {
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the lab authenticates only by client certificate: POST /oidc/login/cert on a TLS connection presenting the identity's certificate",
            )
        }
        (&Method::POST, "/oauth/token") => {
            token_endpoint::token(state, &ctx, conn, &issuer, req).await
        }
        _ => oauth_error(
            StatusCode::NOT_FOUND,
            "invalid_request",
            format!("{method} {path} is not an endpoint of the lab's OIDC API"),
        ),
    }
}
