//! The controller side of the SDK: the edge client REST API, logged in with the certificate
//! OIDC flow of ziti 2.x (`oidc`) or the legacy `zt-session` API session.
//!
//! * [`ControllerClient`] — one async method per API call (`/version`, `/authenticate`,
//!   `/current-api-session`, `/current-identity`, `/services`, `/sessions`, …) over hyper and
//!   rustls, with deadlines and bounded bodies.
//! * [`ControllerSession`] — a long-running task that keeps an API session valid (refresh
//!   before expiry, re-login when the controller forgets it, capped exponential backoff with
//!   jitter while the controller is unreachable), keeps the service list current, and hands
//!   out Dial/Bind sessions to the channel layer.
//! * [`oidc`] — the certificate OIDC login with PKCE, its tokens and their claims.
//! * [`model`] — the JSON documents.
//!
//! Existing router connections never wait on the controller: the session keeper only
//! publishes new state, it never tears anything down when the controller goes away.

mod answer;
mod client;
pub(crate) mod http;
mod keeper;
pub mod model;
pub mod oidc;
pub mod schedule;

pub(crate) use self::answer::excerpt as client_excerpt;
pub use self::client::{ControllerClient, ControllerClientOptions};
pub use self::http::{error_chain, TransportError};
pub use self::keeper::{AuthMethod, ControllerSession, ControllerSessionOptions, SessionSnapshot};
pub use self::model::{
    ApiSession, AuthenticateRequest, ControllerVersion, CurrentIdentity, EdgeRouter, EnvInfo,
    RouterAddress, RouterAddressError, SdkInfo, Service, ServicePermission, ServiceSession,
    ServiceTerminator, ServiceUpdates, SessionType,
};

/// What went wrong talking to the controller.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The controller URL (`ztAPI`) is unusable.
    #[error("controller URL {url:?} is invalid: {reason}; fix `ztAPI` in the identity file")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The controller could not be reached or did not answer in time.
    #[error("controller unreachable: {}", error_chain(.0))]
    Transport(#[from] TransportError),
    /// The OIDC login or refresh failed.
    #[error(transparent)]
    Oidc(#[from] oidc::OidcError),
    /// The controller answered with an error envelope.
    #[error("{operation}: controller answered HTTP {status} {code}: {message}")]
    Api {
        /// The call, e.g. `POST /sessions`.
        operation: &'static str,
        /// HTTP status.
        status: u16,
        /// Error code, e.g. `UNAUTHORIZED`, `NOT_FOUND`, `INVALID_AUTH`.
        code: String,
        /// The controller's message.
        message: String,
    },
    /// A non-success status without an error envelope (a proxy page, say).
    #[error("{operation}: {url} answered HTTP {status} without an error document: {body_start:?}; is this an OpenZiti controller?")]
    UnexpectedStatus {
        /// The call.
        operation: &'static str,
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Start of the body.
        body_start: String,
    },
    /// The body is not the JSON document the call returns.
    #[error("{operation}: {url} answered HTTP {status} with a body that is not the expected JSON ({source}): {body_start:?}")]
    Decode {
        /// The call.
        operation: &'static str,
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Start of the body.
        body_start: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The envelope has no `data`.
    #[error("{operation}: the controller's answer has no `data`")]
    MissingData {
        /// The call.
        operation: &'static str,
    },
    /// A well-formed answer that cannot be used.
    #[error("{operation}: {reason}")]
    Invalid {
        /// The call.
        operation: &'static str,
        /// Why it cannot be used.
        reason: String,
    },
    /// A request body could not be encoded.
    #[error("{operation}: could not encode the request: {source}")]
    Encode {
        /// The call.
        operation: &'static str,
        /// The encoder error.
        #[source]
        source: serde_json::Error,
    },
    /// A call that needs an API session was made before logging in.
    #[error("{operation}: not logged in to the controller (no API session yet)")]
    NotAuthenticated {
        /// The call.
        operation: &'static str,
    },
    /// The identity may not see a service of that name.
    #[error("service {name:?} not found, or this identity has no Dial/Bind policy for it")]
    ServiceNotFound {
        /// The service name.
        name: String,
    },
    /// The service exists but the identity lacks the permission.
    #[error("this identity may not {kind} service {name:?}; add a service policy granting {kind}")]
    NotPermitted {
        /// The service name.
        name: String,
        /// Dial or Bind.
        kind: SessionType,
    },
    /// The session keeper did not get an API session in time.
    #[error("no API session within {after:?}; last error: {last_error}")]
    NotReady {
        /// How long we waited.
        after: std::time::Duration,
        /// What the keeper saw last.
        last_error: String,
    },
    /// The session keeper has stopped.
    #[error("the controller session has been shut down")]
    ShutDown,
}

impl ControllerError {
    /// HTTP status of the controller's answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ControllerError::Api { status, .. }
            | ControllerError::UnexpectedStatus { status, .. }
            | ControllerError::Decode { status, .. } => Some(*status),
            ControllerError::Oidc(oidc::OidcError::Refused { status, .. }) => Some(*status),
            _ => None,
        }
    }

    /// The controller's error code (`UNAUTHORIZED`, …), if it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ControllerError::Api { code, .. } => Some(code),
            ControllerError::Oidc(oidc::OidcError::Refused { error, .. }) => Some(error),
            _ => None,
        }
    }

    /// The API session is unknown or expired, or the credentials were refused: log in again.
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self.code(),
            Some(
                "UNAUTHORIZED"
                    | "INVALID_AUTH"
                    | "INVALID_AUTHENTICATION"
                    // OAuth: the refresh token is expired, revoked or unknown.
                    | "invalid_grant"
            )
        ) || self.status() == Some(401)
            || matches!(self, ControllerError::NotAuthenticated { .. })
    }

    /// The controller does not know the thing asked for.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some("NOT_FOUND") || self.status() == Some(404)
    }

    /// The controller was not reached (worth retrying later).
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            ControllerError::Transport(_)
                | ControllerError::Oidc(oidc::OidcError::Transport { .. })
        )
    }
}
