//! The browser-style part of the certificate login: discovery, JWKS, `/oidc/authorize`, the
//! login page and `POST /oidc/login/cert`, and the callback that hands out the code.
//!
//! Steps (openziti/ziti `controller/oidc_auth/login.go`, `provider.go` `newLoginResolver`;
//! sdk-golang v1.9.0 `edge-apis/clients_shared.go`):
//! 1. `GET|POST /oidc/authorize` with `client_id` (`openziti`|`native`), `response_type=code`,
//!    `scope` containing `openid`, `redirect_uri` matching a registered default,
//!    `code_challenge` + `code_challenge_method=S256` (required), optional `state`, `nonce` →
//!    `302` to `/oidc/login/cert?authRequestID=<id>` when the TLS connection presents a client
//!    certificate, else to `/oidc/login/username?authRequestID=<id>`;
//! 2. `GET` of that page → `200`, header `auth-request-id: <id>`;
//! 3. `POST /oidc/login/cert` (form or JSON; the id as `id` in the body, or `authRequestID` /
//!    `id` in the query; optional `configTypes`) on a connection presenting the identity's
//!    certificate → `302` to `/oidc/authorize/callback?id=<id>`;
//! 4. `GET` of the callback → `302` to `<redirect_uri>?code=<code>&state=<state>`.

use http::{header, HeaderValue, Request, StatusCode};
use serde_json::{json, Value};

use super::tokens::CLIENT_IDS;
use super::{
    json_ok, now_secs, oauth_error, redirect, AuthRequest, Login, OAuthError, OidcContext,
    AUTH_REQUEST_TTL_SECS,
};
use crate::controller::envelope::ApiResponse;
use crate::controller::ConnectionInfo;
use crate::state::{AuthError, LabState};

/// Query or form pairs in order.
pub fn pairs(text: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

/// The first value of `key`.
pub fn value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Reads a request body (bounded in size and time) as an OAuth error on failure.
pub async fn body(req: Request<hyper::body::Incoming>) -> Result<bytes::Bytes, OAuthError> {
    crate::controller::routes::read_body(req)
        .await
        .map_err(|e| OAuthError::new(e.status, "invalid_request", e.message))
}

/// The media type of a request, lowercased, without parameters.
pub fn media_type(req: &Request<hyper::body::Incoming>) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// `GET /oidc/.well-known/openid-configuration`.
pub fn discovery(issuer: &str) -> ApiResponse {
    json_ok(&json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "jwks_uri": format!("{issuer}/keys"),
        "scopes_supported": ["openid", "offline_access"],
        "response_types_supported": ["code"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "amr", "azp", "name"]
    }))
}

/// `GET /oidc/keys`: the controller's signing key as a JWK set.
pub fn jwks(ctx: &OidcContext) -> ApiResponse {
    let (n, e) = ctx.signer.public_jwk_parts();
    json_ok(&json!({"keys": [{
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": ctx.signer.kid(), "n": n, "e": e
    }]}))
}

/// Whether `uri` is one of the controller's default redirect URIs
/// (`controller/webapis/oidc-api.go`): `openziti://auth/callback`, or
/// `http(s)://127.0.0.1:*/auth/callback` / `http(s)://localhost:*/auth/callback`.
pub fn redirect_uri_registered(uri: &str) -> bool {
    if uri == "openziti://auth/callback" {
        return true;
    }
    let Some(rest) = uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))
    else {
        return false;
    };
    let Some(authority) = rest.strip_suffix("/auth/callback") else {
        return false;
    };
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    (host == "127.0.0.1" || host == "localhost")
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `challenge` is a base64url S256 challenge (43 characters).
fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `GET|POST /oidc/authorize`.
pub async fn authorize(
    ctx: &OidcContext,
    conn: &ConnectionInfo,
    issuer: &str,
    req: Request<hyper::body::Incoming>,
) -> ApiResponse {
    let mut params = pairs(req.uri().query().unwrap_or(""));
    if req.method() == http::Method::POST {
        if media_type(&req) != "application/x-www-form-urlencoded" {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "POST /oidc/authorize takes an application/x-www-form-urlencoded body",
            );
        }
        match body(req).await {
            Ok(b) => params.extend(pairs(&String::from_utf8_lossy(&b))),
            Err(e) => return e.response(),
        }
    }
    let bad = |error: &'static str, description: String| {
        tracing::info!(peer = %conn.peer, error, reason = %description, "OIDC authorize refused");
        oauth_error(StatusCode::BAD_REQUEST, error, description)
    };
    let client_id = value(&params, "client_id").unwrap_or("");
    if !CLIENT_IDS.contains(&client_id) {
        return bad(
            "invalid_client",
            format!(
                "client_id {client_id:?} is unknown; use \"openziti\" (or the older \"native\")"
            ),
        );
    }
    let redirect_uri = value(&params, "redirect_uri").unwrap_or("");
    if !redirect_uri_registered(redirect_uri) {
        return bad(
            "invalid_request",
            format!("redirect_uri {redirect_uri:?} is not registered; use openziti://auth/callback or http(s)://127.0.0.1|localhost:<port>/auth/callback"),
        );
    }
    let response_type = value(&params, "response_type").unwrap_or("");
    if response_type != "code" {
        return bad(
            "unsupported_response_type",
            format!("response_type {response_type:?} is not supported; only \"code\""),
        );
    }
    let scopes: Vec<String> = value(&params, "scope")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return bad(
            "invalid_scope",
            "scope must contain \"openid\" (e.g. \"openid offline_access\")".into(),
        );
    }
    let method = value(&params, "code_challenge_method").unwrap_or("");
    let challenge = value(&params, "code_challenge").unwrap_or("");
    if challenge.is_empty() {
        return bad(
            "invalid_request",
            "code_challenge is required (PKCE with S256)".into(),
        );
    }
    if method != "S256" {
        return bad(
            "invalid_request",
            format!("code_challenge_method {method:?} is not supported; PKCE requires \"S256\""),
        );
    }
    if !valid_challenge(challenge) {
        return bad(
            "invalid_request",
            "code_challenge must be the 43-character base64url SHA-256 of the code verifier".into(),
        );
    }
    let id = uuid::Uuid::new_v4().to_string();
    let request = AuthRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state: value(&params, "state")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        nonce: value(&params, "nonce").unwrap_or("").to_owned(),
        code_challenge: challenge.to_owned(),
        scopes,
        issuer: issuer.to_owned(),
        created_at: now_secs(),
        login: None,
    };
    {
        let mut t = ctx.tables();
        t.prune(request.created_at);
        t.auth_requests.insert(id.clone(), request);
    }
    let page = if conn.client_cert_der.is_some() {
        "cert"
    } else {
        "username"
    };
    redirect(&format!("/oidc/login/{page}?authRequestID={id}"))
}

/// `GET /oidc/login/{cert,username,password}`: names the auth request in `auth-request-id`.
pub fn login_page(req: &Request<hyper::body::Incoming>) -> ApiResponse {
    let params = pairs(req.uri().query().unwrap_or(""));
    let id = value(&params, "authRequestID")
        .or_else(|| value(&params, "id"))
        .unwrap_or("");
    let mut resp = http::Response::new(http_body_util::Full::new(bytes::Bytes::from_static(
        b"please POST to this URL",
    )));
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert("auth-request-id", v);
    }
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The fields of a login body.
struct LoginBody {
    id: String,
    config_types: Vec<String>,
}

fn parse_login_body(
    media: &str,
    body: &[u8],
    query: &[(String, String)],
) -> Result<LoginBody, OAuthError> {
    let (mut id, config_types) = match media {
        "application/x-www-form-urlencoded" | "" => {
            let form = pairs(&String::from_utf8_lossy(body));
            let types = form
                .iter()
                .filter(|(k, _)| k == "configTypes")
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
                .collect();
            (value(&form, "id").unwrap_or("").to_owned(), types)
        }
        "application/json" => {
            let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
                json!({})
            } else {
                serde_json::from_slice(body).map_err(|e| {
                    OAuthError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        format!("the login body is not valid JSON: {e}"),
                    )
                })?
            };
            let types = crate::controller::routes::json_config_types(&v);
            (
                v.get("id").and_then(Value::as_str).unwrap_or("").to_owned(),
                types,
            )
        }
        other => {
            return Err(OAuthError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                format!("the content type {other:?} is not supported (supported: application/x-www-form-urlencoded, application/json)"),
            ))
        }
    };
    if id.is_empty() {
        id = value(query, "authRequestID")
            .or_else(|| value(query, "id"))
            .unwrap_or("")
            .to_owned();
    }
    Ok(LoginBody { id, config_types })
}

/// `POST /oidc/login/cert`: authenticates the identity by the connection's client
/// certificate, as `POST /authenticate?method=cert` does, and opens its API session.
pub async fn login_cert(
    state: &LabState,
    ctx: &OidcContext,
    conn: &ConnectionInfo,
    req: Request<hyper::body::Incoming>,
) -> ApiResponse {
    let media = media_type(&req);
    let query = pairs(req.uri().query().unwrap_or(""));
    let raw = match body(req).await {
        Ok(b) => b,
        Err(e) => return e.response(),
    };
    let login = match parse_login_body(&media, &raw, &query) {
        Ok(l) => l,
        Err(e) => return e.response(),
    };
    let now = now_secs();
    let known = {
        let mut t = ctx.tables();
        t.prune(now);
        t.auth_requests.get(&login.id).map(|r| r.login.is_some())
    };
    match known {
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("no pending auth request has this id (unknown, or older than {AUTH_REQUEST_TTL_SECS} s); start again at /oidc/authorize"),
            )
        }
        Some(true) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "this auth request has already logged in; follow /oidc/authorize/callback",
            )
        }
        Some(false) => {}
    }
    let Some(der) = conn.client_cert_der.as_deref() else {
        tracing::info!(peer = %conn.peer, "OIDC certificate login without a client certificate");
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "access_denied",
            "no client certificate was presented; connect with the identity's certificate",
        );
    };
    let session = match state.authenticate(
        Some(der),
        login.config_types.clone(),
        conn.peer.ip().to_string(),
    ) {
        Ok(s) => s,
        Err(AuthError::TooManySessions) => {
            return oauth_error(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "too many live API sessions; retry later",
            )
        }
        Err(AuthError::Storage(e)) => {
            tracing::error!(error = %e, "lab state error");
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                e.to_string(),
            );
        }
        Err(e) => {
            tracing::info!(peer = %conn.peer, reason = %e, "OIDC certificate login refused");
            return oauth_error(StatusCode::UNAUTHORIZED, "access_denied", e.to_string());
        }
    };
    {
        let mut t = ctx.tables();
        let Some(request) = t.auth_requests.get_mut(&login.id) else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the auth request expired during the login; start again at /oidc/authorize",
            );
        };
        request.login = Some(Login {
            identity_id: session.identity.id.clone(),
            identity_name: session.identity.name.clone(),
            api_session_id: session.id.clone(),
            cert_sha1: super::tokens::cert_sha1_hex(der),
            config_types: login.config_types,
            remote_address: conn.peer.ip().to_string(),
            auth_time: now,
        });
        t.stats.logins += 1;
    }
    tracing::info!(identity = %session.identity.name, peer = %conn.peer, "OIDC certificate login");
    redirect(&format!("/oidc/authorize/callback?id={}", login.id))
}

/// `GET /oidc/authorize/callback?id=…`: trades a logged-in auth request for a code.
pub fn callback(ctx: &OidcContext, req: &Request<hyper::body::Incoming>) -> ApiResponse {
    let params = pairs(req.uri().query().unwrap_or(""));
    let id = value(&params, "id").unwrap_or("");
    let now = now_secs();
    let mut t = ctx.tables();
    t.prune(now);
    match t.auth_requests.get(id) {
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "no pending auth request has this id; start again at /oidc/authorize",
            )
        }
        Some(r) if r.login.is_none() => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "access_denied",
                "the auth request has not logged in yet; POST /oidc/login/cert first",
            )
        }
        Some(_) => {}
    }
    let Some(request) = t.auth_requests.remove(id) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unknown auth request",
        );
    };
    let code = random_token();
    let mut location = format!(
        "{}?code={}",
        request.redirect_uri,
        form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>()
    );
    if let Some(s) = &request.state {
        location.push_str("&state=");
        location.extend(form_urlencoded::byte_serialize(s.as_bytes()));
    }
    t.codes.insert(code, (request, now));
    drop(t);
    redirect(&location)
}

/// 32 random bytes, base64url.
pub fn random_token() -> String {
    use base64::Engine;
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // Fall back on two v4 UUIDs (getrandom as well) rather than fail the login.
        let a = uuid::Uuid::new_v4();
        let b = uuid::Uuid::new_v4();
        bytes[..16].copy_from_slice(a.as_bytes());
        bytes[16..].copy_from_slice(b.as_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_redirect_uris_are_the_controller_defaults() {
        for ok in [
            "openziti://auth/callback",
            "http://localhost:8080/auth/callback",
            "https://127.0.0.1:1/auth/callback",
            "http://127.0.0.1/auth/callback",
        ] {
            assert!(redirect_uri_registered(ok), "{ok}");
        }
        for bad in [
            "",
            "http://evil.example:8080/auth/callback",
            "http://localhost:8080/auth/callback/x",
            "http://localhost:80a/auth/callback",
            "ftp://localhost:8080/auth/callback",
            "http://localhost.evil:8080/auth/callback",
            "openziti://auth/callbackx",
        ] {
            assert!(!redirect_uri_registered(bad), "{bad}");
        }
    }

    #[test]
    fn challenges_must_be_s256_shaped() {
        assert!(valid_challenge(&"a".repeat(43)));
        assert!(!valid_challenge(&"a".repeat(42)));
        assert!(!valid_challenge(&format!("{}=", "a".repeat(42))));
    }
}
