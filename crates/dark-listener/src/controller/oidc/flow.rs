//! The certificate OIDC login and the refresh, as a ziti 2.x controller serves them under
//! `/oidc` (reference `openziti-2x.md` §1; the Go SDK's `edge-apis/clients_shared.go` and the
//! controller's `controller/oidc_auth` are the upstream sources):
//!
//! 1. `GET /oidc/authorize` with PKCE S256, `state`, `nonce` and our redirect URI; the
//!    controller redirects to its login page for certificates, which answers 200 with the
//!    `auth-request-id` header;
//! 2. `POST /oidc/login/cert` (form: the auth request `id` plus SDK and environment info) on
//!    the TLS connection that presents the identity's certificate; it redirects through the
//!    controller's callback to our redirect URI with `code` and `state` (never followed);
//! 3. `POST /oidc/oauth/token` exchanges the code (with the PKCE verifier) for the access,
//!    refresh and ID tokens.
//!
//! A refresh is `grant_type=refresh_token` at the same token endpoint. Redirects are followed
//! only on the controller's own origin and at most [`MAX_REDIRECTS`] times. No token, code or
//! verifier is ever logged.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, StatusCode};
use rand_core::{OsRng, RngCore};
use serde::Deserialize;

use super::claims::{decode_unverified, TokenClaims};
use super::{OidcError, OidcTokens};
use crate::controller::http::{HttpAnswer, HttpsTransport};
use crate::controller::AuthenticateRequest;

/// Client id sent to the controller (`common/oidc_tokens.go` `ClaimClientIdOpenZiti`).
pub const CLIENT_ID: &str = "openziti";
/// Redirect URI: one of the controller's registered defaults. It is never fetched; the code
/// is read from the redirect that names it.
pub const REDIRECT_URI: &str = "openziti://auth/callback";
/// Most redirects followed in one step of the flow.
pub const MAX_REDIRECTS: usize = 5;
/// Header carrying the auth request id on the login page.
const AUTH_REQUEST_ID_HEADER: &str = "auth-request-id";

/// PKCE verifier and S256 challenge, plus `state` and `nonce`: the secrets of one login.
struct LoginSecrets {
    verifier: String,
    challenge: String,
    state: String,
    nonce: String,
}

fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

impl LoginSecrets {
    fn new() -> Self {
        let verifier = random_b64(32);
        let challenge = pkce_challenge(&verifier);
        Self {
            verifier,
            challenge,
            state: random_b64(16),
            nonce: random_b64(32),
        }
    }
}

/// RFC 7636 S256: `BASE64URL(SHA256(ASCII(verifier)))`, unpadded.
pub fn pkce_challenge(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Where the OIDC API of one controller lives.
#[derive(Debug, Clone)]
pub(crate) struct OidcEndpoint {
    /// `https://host:port`.
    pub(crate) origin: String,
    /// `/oidc` unless `/version` names another path.
    pub(crate) path: String,
}

impl OidcEndpoint {
    fn url(&self, rest: &str) -> String {
        format!("{}{}{}", self.origin, self.path, rest)
    }
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    token_type: Option<String>,
}

/// An OAuth error body (RFC 6749 §5.2).
#[derive(Deserialize)]
struct OauthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Logs in with the certificate the transport presents.
pub(crate) async fn login(
    transport: &HttpsTransport,
    endpoint: &OidcEndpoint,
    request: &AuthenticateRequest,
) -> Result<OidcTokens, OidcError> {
    let secrets = LoginSecrets::new();
    let authorize = format!(
        "{}?{}",
        endpoint.url("/authorize"),
        form(&[
            ("client_id", CLIENT_ID),
            ("response_type", "code"),
            ("scope", "openid offline_access"),
            ("state", &secrets.state),
            ("nonce", &secrets.nonce),
            ("code_challenge", &secrets.challenge),
            ("code_challenge_method", "S256"),
            ("redirect_uri", REDIRECT_URI),
        ])
    );
    let (page, _) = follow(
        transport,
        endpoint,
        Method::GET,
        authorize,
        None,
        "authorize",
    )
    .await?;
    if page.status != StatusCode::OK {
        return Err(refusal("authorize", &page));
    }
    let auth_request_id = page
        .headers
        .get(AUTH_REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or(OidcError::Protocol {
            step: "authorize",
            reason: "the login page has no auth-request-id header".into(),
        })?
        .to_string();

    let mut fields: Vec<(&str, String)> = vec![
        ("id", auth_request_id),
        ("sdkType", request.sdk_info.kind.clone()),
        ("sdkVersion", request.sdk_info.version.clone()),
        ("envArch", request.env_info.arch.clone()),
        ("envOs", request.env_info.os.clone()),
    ];
    if let Some(release) = &request.env_info.os_release {
        fields.push(("envOsRelease", release.clone()));
    }
    if let Some(app) = &request.sdk_info.app_id {
        fields.push(("sdkAppID", app.clone()));
    }
    if let Some(version) = &request.sdk_info.app_version {
        fields.push(("sdkAppVersion", version.clone()));
    }
    for config_type in &request.config_types {
        fields.push(("configTypes", config_type.clone()));
    }
    let body = form(
        &fields
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    let (answer, location) = follow(
        transport,
        endpoint,
        Method::POST,
        endpoint.url("/login/cert"),
        Some(body),
        "login/cert",
    )
    .await?;
    let Some(location) = location else {
        if answer.status == StatusCode::OK && answer.headers.contains_key("totp-required") {
            return Err(OidcError::Protocol {
                step: "login/cert",
                reason: "the controller asks for a TOTP code (MFA), which this SDK does not \
                         support; remove the MFA posture check for this identity"
                    .into(),
            });
        }
        return Err(refusal("login/cert", &answer));
    };
    let (code, state) = code_and_state(&location)?;
    if state != secrets.state {
        return Err(OidcError::Protocol {
            step: "callback",
            reason: "the redirect's state does not match the one sent".into(),
        });
    }
    let answer = post_form(
        transport,
        &endpoint.url("/oauth/token"),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("code", &code),
            ("code_verifier", &secrets.verifier),
            ("redirect_uri", REDIRECT_URI),
        ],
    )
    .await?;
    let tokens = token_answer("token (authorization_code)", answer)?;
    match tokens.id_token.as_deref().map(decode_unverified) {
        Some(Ok(id)) if id.nonce.as_deref() == Some(secrets.nonce.as_str()) => Ok(tokens),
        Some(Ok(_)) => Err(OidcError::Protocol {
            step: "token (authorization_code)",
            reason: "the ID token's nonce does not match the one sent".into(),
        }),
        Some(Err(e)) => Err(OidcError::Token {
            step: "token (authorization_code)",
            which: "ID token",
            source: e,
        }),
        None => Err(OidcError::Protocol {
            step: "token (authorization_code)",
            reason: "the answer has no id_token".into(),
        }),
    }
}

/// Exchanges the refresh token for new tokens.
pub(crate) async fn refresh(
    transport: &HttpsTransport,
    endpoint: &OidcEndpoint,
    refresh_token: &str,
) -> Result<OidcTokens, OidcError> {
    let answer = post_form(
        transport,
        &endpoint.url("/oauth/token"),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("refresh_token", refresh_token),
        ],
    )
    .await?;
    let mut tokens = token_answer("token (refresh_token)", answer)?;
    if tokens.refresh_token.is_none() {
        // A controller may keep the refresh token unchanged.
        tokens.refresh_token = Some(refresh_token.to_string());
    }
    Ok(tokens)
}

/// Sends a request and follows redirects on the controller's origin; returns the last answer
/// and, when it redirects elsewhere (our redirect URI), that location.
async fn follow(
    transport: &HttpsTransport,
    endpoint: &OidcEndpoint,
    mut method: Method,
    mut url: String,
    mut body: Option<String>,
    step: &'static str,
) -> Result<(HttpAnswer, Option<String>), OidcError> {
    for _ in 0..=MAX_REDIRECTS {
        let headers = match body {
            Some(_) => vec![
                ("accept", "application/json".to_string()),
                (
                    "content-type",
                    "application/x-www-form-urlencoded".to_string(),
                ),
            ],
            None => vec![("accept", "application/json".to_string())],
        };
        let answer = transport
            .send(method.clone(), &url, &headers, body.take().map(Bytes::from))
            .await
            .map_err(|source| OidcError::Transport { step, source })?;
        if !answer.status.is_redirection() {
            return Ok((answer, None));
        }
        let location = answer
            .headers
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(OidcError::Protocol {
                step,
                reason: format!("a {} redirect without a Location header", answer.status),
            })?
            .to_string();
        let next = if location.starts_with('/') {
            format!("{}{location}", endpoint.origin)
        } else {
            location.clone()
        };
        if !next.starts_with(&format!("{}/", endpoint.origin)) {
            return Ok((answer, Some(location)));
        }
        // 301/302/303 turn a POST into a GET, as browsers and the Go SDK's client do.
        if answer.status != StatusCode::TEMPORARY_REDIRECT
            && answer.status != StatusCode::PERMANENT_REDIRECT
        {
            method = Method::GET;
        }
        url = next;
    }
    Err(OidcError::Protocol {
        step,
        reason: format!("more than {MAX_REDIRECTS} redirects"),
    })
}

async fn post_form(
    transport: &HttpsTransport,
    url: &str,
    fields: &[(&str, &str)],
) -> Result<HttpAnswer, OidcError> {
    let headers = [
        ("accept", "application/json".to_string()),
        (
            "content-type",
            "application/x-www-form-urlencoded".to_string(),
        ),
    ];
    transport
        .send(Method::POST, url, &headers, Some(Bytes::from(form(fields))))
        .await
        .map_err(|source| OidcError::Transport {
            step: "token",
            source,
        })
}

/// A failed answer: the OAuth error it carries (RFC 6749 §5.2), else the status and body.
fn refusal(step: &'static str, answer: &HttpAnswer) -> OidcError {
    match serde_json::from_slice::<OauthErrorBody>(&answer.body) {
        Ok(e) if !answer.status.is_success() => OidcError::Refused {
            step,
            status: answer.status.as_u16(),
            error: e.error,
            description: e.error_description.unwrap_or_default(),
        },
        _ => unexpected(step, answer),
    }
}

fn token_answer(step: &'static str, answer: HttpAnswer) -> Result<OidcTokens, OidcError> {
    if answer.status != StatusCode::OK {
        return Err(refusal(step, &answer));
    }
    let parsed: TokenAnswer =
        serde_json::from_slice(&answer.body).map_err(|e| OidcError::Protocol {
            step,
            reason: format!("the token answer is not the expected JSON: {e}"),
        })?;
    if let Some(kind) = &parsed.token_type {
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(OidcError::Protocol {
                step,
                reason: format!("token_type is {kind:?}, not Bearer"),
            });
        }
    }
    let claims: TokenClaims =
        decode_unverified(&parsed.access_token).map_err(|source| OidcError::Token {
            step,
            which: "access token",
            source,
        })?;
    let now = unix_now();
    let expires_at = claims
        .expires_at
        .or_else(|| parsed.expires_in.map(|s| now + s))
        .ok_or(OidcError::Protocol {
            step,
            reason: "the access token has no expiry (no exp claim, no expires_in)".into(),
        })?;
    if expires_at <= now {
        return Err(OidcError::Protocol {
            step,
            reason: "the access token is already expired (check this host's clock)".into(),
        });
    }
    Ok(OidcTokens {
        access_token: parsed.access_token,
        refresh_token: parsed.refresh_token,
        id_token: parsed.id_token,
        claims,
        expires_at,
        lifetime: Duration::from_secs(expires_at - now),
    })
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn code_and_state(location: &str) -> Result<(String, String), OidcError> {
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    let query = query.split('#').next().unwrap_or("");
    let mut code = None;
    let mut state = None;
    let mut error = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(&value.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned();
        match key {
            "code" => code = Some(value),
            "state" => state = Some(value),
            "error" => error = Some(value),
            _ => {}
        }
    }
    if let Some(error) = error {
        return Err(OidcError::Protocol {
            step: "callback",
            reason: format!("the controller redirected with error {error:?}"),
        });
    }
    match (code, state) {
        (Some(code), Some(state)) if !code.is_empty() => Ok((code, state)),
        (None, _) | (Some(_), _) if !location.starts_with(REDIRECT_URI) => {
            Err(OidcError::Protocol {
                step: "callback",
                reason: "the login redirected somewhere other than the redirect URI".into(),
            })
        }
        (Some(_), None) => Err(OidcError::Protocol {
            step: "callback",
            reason: "the redirect has no state".into(),
        }),
        _ => Err(OidcError::Protocol {
            step: "callback",
            reason: "the redirect has no code".into(),
        }),
    }
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, crate::controller::client::QUERY_VALUE).to_string()
}

fn unexpected(step: &'static str, answer: &HttpAnswer) -> OidcError {
    OidcError::Protocol {
        step,
        reason: format!(
            "unexpected answer {}: {}",
            answer.status,
            crate::controller::client_excerpt(&answer.body)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc7636_appendix_b() {
        // RFC 7636 Appendix B: the verifier and the S256 challenge it gives.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn login_secrets_are_fresh_and_url_safe() {
        let a = LoginSecrets::new();
        let b = LoginSecrets::new();
        assert_ne!(a.verifier, b.verifier);
        assert_ne!(a.state, b.state);
        assert_eq!(a.verifier.len(), 43, "32 bytes, unpadded base64url");
        assert!(a
            .verifier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(a.challenge, pkce_challenge(&a.verifier));
    }

    #[test]
    fn callback_redirects() {
        let ok = code_and_state("openziti://auth/callback?code=c%2B1&state=s1").unwrap();
        assert_eq!(ok, ("c+1".to_string(), "s1".to_string()));
        let err = |l: &str| code_and_state(l).unwrap_err().to_string();
        assert!(err("openziti://auth/callback?state=s1").contains("no code"));
        assert!(err("openziti://auth/callback?code=&state=s1").contains("no code"));
        assert!(err("openziti://auth/callback?code=c").contains("no state"));
        assert!(
            err("openziti://auth/callback?error=access_denied&state=s").contains("access_denied")
        );
        assert!(err("https://elsewhere.example/x").contains("somewhere other"));
    }

    #[test]
    fn token_answers() {
        fn answer(status: u16, body: &str) -> HttpAnswer {
            HttpAnswer {
                status: StatusCode::from_u16(status).unwrap(),
                headers: Default::default(),
                body: Bytes::from(body.to_string()),
            }
        }
        fn err(status: u16, body: &str) -> String {
            token_answer("t", answer(status, body))
                .unwrap_err()
                .to_string()
        }
        assert!(err(
            400,
            r#"{"error":"invalid_grant","error_description":"code used"}"#
        )
        .contains("invalid_grant"));
        assert!(err(500, "boom").contains("500"));
        assert!(err(200, "{garbage").contains("not the expected JSON"));
        assert!(err(200, r#"{"access_token":"x.y.z"}"#).contains("access token"));
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let jwt = |claims: &str| format!("{}.{}.c2ln", b64(r#"{"alg":"ES256"}"#), b64(claims));
        let expired = jwt(r#"{"exp":1000,"z_t":"a"}"#);
        assert!(err(200, &format!(r#"{{"access_token":"{expired}"}}"#)).contains("expired"));
        let no_exp = jwt(r#"{"z_t":"a"}"#);
        assert!(err(200, &format!(r#"{{"access_token":"{no_exp}"}}"#)).contains("no expiry"));
        let fine =
            format!(r#"{{"access_token":"{no_exp}","expires_in":60,"token_type":"Bearer"}}"#);
        let tokens = token_answer("t", answer(200, &fine)).unwrap();
        assert!(tokens.lifetime <= Duration::from_secs(60));
        assert!(err(
            200,
            &format!(r#"{{"access_token":"{no_exp}","expires_in":60,"token_type":"mac"}}"#)
        )
        .contains("not Bearer"));
    }
}
