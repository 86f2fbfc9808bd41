//! OIDC login for the edge client API, as ziti 2.x controllers offer it (`OIDC_AUTH` in
//! `/version` capabilities): the certificate login with PKCE (`flow`), the tokens it yields
//! ([`OidcTokens`]) and the unverified reading of their claims ([`claims`]).
//!
//! The access token replaces the legacy `zt-session` token: REST calls send it as
//! `Authorization: Bearer`, and router hellos carry it in header 1002. It is refreshed before
//! it expires with the refresh token.

pub mod claims;
pub(crate) mod flow;

use std::time::Duration;

use self::claims::{TokenClaims, TokenError};
use super::TransportError;

pub use self::flow::{pkce_challenge, CLIENT_ID, MAX_REDIRECTS, REDIRECT_URI};

/// Tokens from one login or refresh.
#[derive(Clone)]
pub struct OidcTokens {
    /// The access token (a JWT): Bearer on REST calls, header 1002 in router hellos.
    pub access_token: String,
    /// The refresh token, when the controller gave one (`offline_access`).
    pub refresh_token: Option<String>,
    /// The ID token.
    pub id_token: Option<String>,
    /// The access token's claims, read without verification.
    pub claims: TokenClaims,
    /// When the access token expires, seconds since the Unix epoch.
    pub expires_at: u64,
    /// The access token's lifetime as seen when it arrived.
    pub lifetime: Duration,
}

impl std::fmt::Debug for OidcTokens {
    // Tokens are credentials: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcTokens")
            .field("subject", &self.claims.subject)
            .field("api_session_id", &self.claims.api_session_id)
            .field("expires_at", &self.expires_at)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// Why an OIDC login or refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The HTTPS exchange failed.
    #[error("OIDC {step}: {source}")]
    Transport {
        /// Which step of the flow.
        step: &'static str,
        /// The transport error.
        #[source]
        source: TransportError,
    },
    /// The controller answered with an OAuth error.
    #[error("OIDC {step}: the controller refused with {status} {error}: {description}")]
    Refused {
        /// Which step of the flow.
        step: &'static str,
        /// HTTP status.
        status: u16,
        /// OAuth error code (`invalid_grant`, …).
        error: String,
        /// The controller's description.
        description: String,
    },
    /// The answer does not follow the protocol.
    #[error("OIDC {step}: {reason}")]
    Protocol {
        /// Which step of the flow.
        step: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A token in the answer cannot be read.
    #[error("OIDC {step}: the {which} cannot be read: {source}")]
    Token {
        /// Which step of the flow.
        step: &'static str,
        /// Which token.
        which: &'static str,
        /// Why.
        #[source]
        source: TokenError,
    },
}
