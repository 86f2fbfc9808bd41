//! `Authorization: Bearer <access token>` on the edge client API (openziti/ziti
//! `common/security_tokens.go`): the token must be an unexpired access token of this
//! controller, bound (z_cfs) to the connection's client certificate, and its API session
//! (`z_asid`) must be live; the request then runs as that API session.

use std::sync::Arc;

use super::tokens::{self, TokenRefusal};
use super::{context, now_secs};
use crate::controller::ConnectionInfo;
use crate::state::{ApiSessionInfo, LabState};

/// Why a bearer token was refused (logged; the client sees `401 UNAUTHORIZED`).
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    /// OIDC is off on this lab.
    #[error("OIDC is off (controller.oidc = false)")]
    Disabled,
    /// The token failed verification.
    #[error(transparent)]
    Token(#[from] TokenRefusal),
    /// The token's API session ended.
    #[error("the token's API session ended")]
    SessionEnded,
    /// The OIDC context could not be built.
    #[error("OIDC unavailable: {0}")]
    Unavailable(String),
}

/// The bearer token of an `Authorization` header value, if it is one.
pub fn bearer_token(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The API session an access token stands for, marking activity on it.
pub fn session_for(
    state: &Arc<LabState>,
    conn: &ConnectionInfo,
    token: &str,
) -> Result<ApiSessionInfo, BearerError> {
    if !state.config().controller.oidc {
        return Err(BearerError::Disabled);
    }
    let ctx = context(state).map_err(|e| BearerError::Unavailable(e.to_string()))?;
    let claims = tokens::verify(
        token,
        &ctx.signer,
        &ctx.spki_der,
        tokens::TYPE_ACCESS,
        conn.client_cert_der.as_deref(),
        now_secs(),
    )?;
    session_of_claims(state, &claims).ok_or(BearerError::SessionEnded)
}

/// The live API session named by verified `claims` (`sub` + `z_asid`), touched.
pub fn session_of_claims(state: &LabState, claims: &tokens::OidcClaims) -> Option<ApiSessionInfo> {
    let session = state
        .api_sessions_of(&claims.sub)
        .into_iter()
        .find(|s| s.id == claims.z_asid)?;
    state.touch_api_session(&session.token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_parsed_case_insensitively() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
