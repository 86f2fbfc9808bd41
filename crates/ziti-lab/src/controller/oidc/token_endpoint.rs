//! `POST /oidc/oauth/token` (form body; client id in `client_id` or HTTP Basic, secret empty):
//!
//! * `grant_type=authorization_code`: `code`, `code_verifier` (S256 of it must equal the
//!   authorize request's challenge), `redirect_uri` (the authorize request's), `client_id`
//!   (the authorize request's). A code is good once and for [`super::CODE_TTL_SECS`].
//! * `grant_type=refresh_token`: `refresh_token`.
//! * `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693, what sdk-golang
//!   v1.9.0 refreshes with): `subject_token`, `subject_token_type` (`…:refresh_token` or
//!   `…:access_token`), `requested_token_type` (`…:access_token` default, `…:refresh_token`,
//!   `…:id_token`; the ID token comes back in `access_token`, `token_type` `N_A`, as zitadel's
//!   `CreateTokenExchangeResponse` answers).
//!
//! Refreshes and exchanges must present a certificate the subject token is bound to (z_cfs),
//! as the real server's `verifyCertBinding`, and the API session must still exist (logout,
//! identity deletion and idle expiry end it).
//!
//! Answers `{"access_token","token_type":"Bearer","refresh_token","expires_in","id_token",
//! "scope"}`; errors are RFC 6749 §5.2 bodies.

use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use http::{header, Request, StatusCode};
use serde_json::json;

use super::flow::{body, media_type, pairs, value};
use super::tokens::{self, Audience, IdClaims, OidcClaims, TokenRefusal, CLIENT_IDS};
use super::{json_ok, now_secs, now_secs_ceil, oauth_error, AuthRequest, OAuthError, OidcContext};
use crate::controller::envelope::ApiResponse;
use crate::controller::ConnectionInfo;
use crate::state::LabState;

/// RFC 8693 grant type.
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 token type of access tokens.
pub const TYPE_URN_ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
/// RFC 8693 token type of refresh tokens.
pub const TYPE_URN_REFRESH: &str = "urn:ietf:params:oauth:token-type:refresh_token";
/// RFC 8693 token type of ID tokens.
pub const TYPE_URN_ID: &str = "urn:ietf:params:oauth:token-type:id_token";

fn grant_error(description: impl Into<String>) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

fn request_error(description: impl Into<String>) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// The client id of a token request: `client_id` in the form, or the user of HTTP Basic.
fn client_id(req: &Request<hyper::body::Incoming>, form: &[(String, String)]) -> Option<String> {
    if let Some(id) = value(form, "client_id").filter(|c| !c.is_empty()) {
        return Some(id.to_owned());
    }
    let auth = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = auth.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let user = decoded.split(':').next()?;
    Some(
        percent_encoding::percent_decode_str(user)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// `POST /oidc/oauth/token`.
pub async fn token(
    state: &Arc<LabState>,
    ctx: &OidcContext,
    conn: &ConnectionInfo,
    issuer: &str,
    req: Request<hyper::body::Incoming>,
) -> ApiResponse {
    if media_type(&req) != "application/x-www-form-urlencoded" {
        return request_error("the token endpoint takes an application/x-www-form-urlencoded body")
            .response();
    }
    let head_client = {
        // Basic auth is read before the body is consumed.
        let empty: [(String, String); 0] = [];
        client_id(&req, &empty)
    };
    let raw = match body(req).await {
        Ok(b) => b,
        Err(e) => return e.response(),
    };
    let form = pairs(&String::from_utf8_lossy(&raw));
    let client = value(&form, "client_id")
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .or(head_client)
        .unwrap_or_default();
    if !CLIENT_IDS.contains(&client.as_str()) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            format!("client_id {client:?} is unknown; use \"openziti\" (or the older \"native\")"),
        );
    }
    let grant = value(&form, "grant_type").unwrap_or("");
    let outcome = match grant {
        "authorization_code" => authorization_code(state, ctx, &client, &form),
        "refresh_token" => {
            let Some(subject) = value(&form, "refresh_token").filter(|t| !t.is_empty()) else {
                return request_error("refresh_token is required for grant_type=refresh_token")
                    .response();
            };
            refresh(state, ctx, conn, issuer, subject, tokens::TYPE_REFRESH, TYPE_URN_REFRESH)
                .inspect(|_| ctx.tables().stats.refresh_grants += 1)
        }
        GRANT_TOKEN_EXCHANGE => exchange(state, ctx, conn, issuer, &form),
        "" => Err(request_error("grant_type is required")),
        other => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("grant_type {other:?} is not supported; use authorization_code, refresh_token or {GRANT_TOKEN_EXCHANGE}"),
        )),
    };
    match outcome {
        Ok(resp) => resp,
        Err(e) => {
            tracing::info!(peer = %conn.peer, grant, status = e.status.as_u16(), error = e.error, reason = %e.description, "OIDC token request refused");
            e.response()
        }
    }
}

fn authorization_code(
    state: &Arc<LabState>,
    ctx: &OidcContext,
    client: &str,
    form: &[(String, String)],
) -> Result<ApiResponse, OAuthError> {
    let code = value(form, "code").unwrap_or("");
    if code.is_empty() {
        return Err(request_error(
            "code is required for grant_type=authorization_code",
        ));
    }
    let now = now_secs();
    // A code is taken out at its first use, whatever the outcome: it never works twice.
    let taken = {
        let mut t = ctx.tables();
        t.prune(now);
        t.codes.remove(code)
    };
    let Some((request, _)) = taken else {
        return Err(grant_error(
            "the code is unknown, expired or already used; log in again from /oidc/authorize",
        ));
    };
    if request.client_id != client {
        return Err(grant_error(format!(
            "the code was issued to client {:?}, not {client:?}",
            request.client_id
        )));
    }
    let redirect_uri = value(form, "redirect_uri").unwrap_or("");
    if redirect_uri != request.redirect_uri {
        return Err(grant_error(
            "redirect_uri differs from the one of the authorize request",
        ));
    }
    let verifier = value(form, "code_verifier").unwrap_or("");
    if verifier.is_empty() {
        return Err(grant_error("code_verifier is required (PKCE)"));
    }
    if verifier.len() < 43
        || verifier.len() > 128
        || !verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        return Err(grant_error(
            "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636)",
        ));
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    if URL_SAFE_NO_PAD.encode(digest.as_ref()) != request.code_challenge {
        return Err(grant_error(
            "code_verifier does not match the code_challenge of the authorize request",
        ));
    }
    let Some(login) = request.login.clone() else {
        return Err(grant_error("the auth request never logged in"));
    };
    let base = OidcClaims {
        iss: request.issuer.clone(),
        sub: login.identity_id.clone(),
        aud: Audience::Many(vec![client.to_owned()]),
        exp: 0,
        iat: now,
        nbf: now,
        auth_time: login.auth_time,
        jti: String::new(),
        client_id: client.to_owned(),
        amr: vec![tokens::AMR_CERT.to_owned()],
        scope: request.scopes.join(" "),
        z_asid: login.api_session_id.clone(),
        z_ct: login.config_types.clone(),
        z_aid: client.to_owned(),
        z_t: String::new(),
        z_cfs: Some(vec![login.cert_sha1.clone()]),
        z_acf: login.cert_sha1.clone(),
        scopes: request.scopes.clone(),
        z_ra: login.remote_address.clone(),
        z_ice: false,
        z_cer: false,
        z_ckrr: false,
        z_iccc: false,
        z_sdk: None,
        z_env: None,
    };
    if live_session_name(state, &base).is_none() {
        return Err(grant_error(
            "the API session of this login ended; log in again",
        ));
    }
    let resp = issue(state, ctx, &base, &request, &login.identity_name, true)?;
    ctx.tables().stats.code_grants += 1;
    tracing::info!(identity = %login.identity_name, "OIDC tokens issued (authorization code)");
    Ok(resp)
}

/// The identity name when the API session `claims` name is still live (touching it).
fn live_session_name(state: &LabState, claims: &OidcClaims) -> Option<String> {
    let session = state
        .api_sessions_of(&claims.sub)
        .into_iter()
        .find(|s| s.id == claims.z_asid)?;
    state
        .touch_api_session(&session.token)
        .map(|s| s.identity.name)
}

/// Mints the access (and refresh, and ID) token of `base` and answers.
fn issue(
    state: &LabState,
    ctx: &OidcContext,
    base: &OidcClaims,
    request: &AuthRequest,
    identity_name: &str,
    with_id_token: bool,
) -> Result<ApiResponse, OAuthError> {
    let tokens = mint(state, ctx, base, &request.nonce, identity_name)?;
    let mut body = json!({
        "access_token": tokens.access,
        "token_type": "Bearer",
        "refresh_token": tokens.refresh,
        "expires_in": tokens.expires_in,
        "scope": base.scope,
    });
    if with_id_token {
        body["id_token"] = json!(tokens.id);
    }
    Ok(json_ok(&body))
}

struct Minted {
    access: String,
    refresh: String,
    id: String,
    expires_in: u64,
}

fn mint(
    state: &LabState,
    ctx: &OidcContext,
    base: &OidcClaims,
    nonce: &str,
    identity_name: &str,
) -> Result<Minted, OAuthError> {
    let config = state.config().controller;
    let now = now_secs();
    // Expiries count from the next whole second, so a token lives at least `expires_in`
    // seconds (clients schedule refreshes from `expires_in`, routers close at `exp`).
    let from = now_secs_ceil();
    let secs = |s: u64| i64::try_from(s).unwrap_or(i64::MAX / 2);
    let sign = |claims: &dyn erased::Claims| {
        claims.sign(&ctx.signer).map_err(|e| {
            tracing::error!(error = %e, "cannot sign an OIDC token");
            OAuthError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                format!("cannot sign the token ({e}); the lab's controller key is unusable"),
            )
        })
    };
    let mut access = base.clone();
    access.z_t = tokens::TYPE_ACCESS.into();
    access.jti = uuid::Uuid::new_v4().to_string();
    access.iat = now;
    access.nbf = now;
    access.exp = from.saturating_add(secs(config.oidc_access_token_secs));
    let mut refresh = base.clone();
    refresh.z_t = tokens::TYPE_REFRESH.into();
    refresh.jti = uuid::Uuid::new_v4().to_string();
    refresh.iat = now;
    refresh.nbf = now;
    refresh.exp = from.saturating_add(secs(config.oidc_refresh_token_secs));
    let id = IdClaims {
        iss: base.iss.clone(),
        sub: base.sub.clone(),
        aud: base.aud.clone(),
        exp: access.exp,
        iat: now,
        auth_time: base.auth_time,
        nonce: nonce.to_owned(),
        azp: base.client_id.clone(),
        amr: base.amr.clone(),
        name: identity_name.to_owned(),
        z_asid: base.z_asid.clone(),
    };
    Ok(Minted {
        access: sign(&access)?,
        refresh: sign(&refresh)?,
        id: sign(&id)?,
        expires_in: config.oidc_access_token_secs,
    })
}

mod erased {
    //! Signing either claim type through one closure.
    use crate::jwt::EnrollmentSigner;

    pub trait Claims {
        fn sign(&self, signer: &EnrollmentSigner) -> Result<String, crate::LabError>;
    }

    impl<T: serde::Serialize> Claims for T {
        fn sign(&self, signer: &EnrollmentSigner) -> Result<String, crate::LabError> {
            signer.sign_claims(self)
        }
    }
}

/// Verifies a subject (refresh or access) token presented with the connection's certificate
/// and checks that its API session is live; the claims and the identity name.
fn subject(
    state: &LabState,
    ctx: &OidcContext,
    conn: &ConnectionInfo,
    token: &str,
    expected_type: &'static str,
) -> Result<(OidcClaims, String), OAuthError> {
    let claims = tokens::verify(
        token,
        &ctx.signer,
        &ctx.spki_der,
        expected_type,
        conn.client_cert_der.as_deref(),
        now_secs(),
    )
    .map_err(|e| match e {
        TokenRefusal::NoCertificate | TokenRefusal::CertificateMismatch | TokenRefusal::Unbound => {
            OAuthError::new(StatusCode::FORBIDDEN, "access_denied", e.to_string())
        }
        other => grant_error(other.to_string()),
    })?;
    let name = live_session_name(state, &claims).ok_or_else(|| {
        grant_error("the API session of this token ended (logout, identity removed or idle timeout); log in again")
    })?;
    Ok((claims, name))
}

fn refresh(
    state: &Arc<LabState>,
    ctx: &OidcContext,
    conn: &ConnectionInfo,
    issuer: &str,
    subject_token: &str,
    expected_type: &'static str,
    _urn: &str,
) -> Result<ApiResponse, OAuthError> {
    let (claims, name) = subject(state, ctx, conn, subject_token, expected_type)?;
    let request = carried_request(issuer, &claims);
    tracing::info!(identity = %name, "OIDC tokens refreshed");
    issue(state, ctx, &claims, &request, &name, true)
}

/// An auth request standing in for the original one on refreshes (no nonce, same client).
fn carried_request(issuer: &str, claims: &OidcClaims) -> AuthRequest {
    AuthRequest {
        client_id: claims.client_id.clone(),
        redirect_uri: String::new(),
        state: None,
        nonce: String::new(),
        code_challenge: String::new(),
        scopes: claims.scopes.clone(),
        issuer: issuer.to_owned(),
        created_at: now_secs(),
        login: None,
    }
}

fn exchange(
    state: &Arc<LabState>,
    ctx: &OidcContext,
    conn: &ConnectionInfo,
    issuer: &str,
    form: &[(String, String)],
) -> Result<ApiResponse, OAuthError> {
    let subject_token = value(form, "subject_token").unwrap_or("");
    if subject_token.is_empty() {
        return Err(request_error(
            "subject_token is required for token exchange",
        ));
    }
    let expected = match value(form, "subject_token_type").unwrap_or("") {
        TYPE_URN_REFRESH => tokens::TYPE_REFRESH,
        TYPE_URN_ACCESS => tokens::TYPE_ACCESS,
        other => {
            return Err(request_error(format!(
                "subject_token_type {other:?} is not supported; use {TYPE_URN_REFRESH} or {TYPE_URN_ACCESS}"
            )))
        }
    };
    let requested = value(form, "requested_token_type")
        .filter(|t| !t.is_empty())
        .unwrap_or(TYPE_URN_ACCESS);
    if ![TYPE_URN_ACCESS, TYPE_URN_REFRESH, TYPE_URN_ID].contains(&requested) {
        return Err(request_error(format!(
            "requested_token_type {requested:?} is not supported; use {TYPE_URN_ACCESS}, {TYPE_URN_REFRESH} or {TYPE_URN_ID}"
        )));
    }
    let (claims, name) = subject(state, ctx, conn, subject_token, expected)?;
    let mut base = claims;
    base.iss = issuer.to_owned();
    let minted = mint(state, ctx, &base, "", &name)?;
    let body = if requested == TYPE_URN_ID {
        json!({
            "access_token": minted.id,
            "issued_token_type": TYPE_URN_ID,
            "token_type": "N_A",
            "expires_in": minted.expires_in,
        })
    } else {
        ctx.tables().stats.exchange_grants += 1;
        tracing::info!(identity = %name, "OIDC tokens refreshed (token exchange)");
        json!({
            "access_token": minted.access,
            "issued_token_type": requested,
            "token_type": "Bearer",
            "expires_in": minted.expires_in,
            "refresh_token": minted.refresh,
            "scope": base.scope,
        })
    };
    Ok(json_ok(&body))
}
