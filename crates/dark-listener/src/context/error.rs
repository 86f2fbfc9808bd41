//! Why a context could not be created, and why a dial failed, in words that say what to do.

use std::time::Duration;

use crate::channel::ChannelError;
use crate::controller::ControllerError;
use crate::e2ee::E2eeError;
use crate::identity::IdentityError;
use crate::tls::TlsSetupError;
use crate::wire::consts::ErrorCode;
use crate::wire::edge::StructuredError;

/// Why a context could not be created or used.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The identity file could not be loaded.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The identity's certificate material is unusable for TLS.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    /// The identity names no controller.
    #[error("identity {0} names no controller (`ztAPI`); re-enroll or fix the identity file")]
    NoController(String),
    /// The controller client could not be built.
    #[error(transparent)]
    Controller(#[from] ControllerError),
    /// Not called inside a tokio runtime.
    #[error(
        "dark-listener needs a tokio runtime: create the Context from async code running on tokio"
    )]
    NoRuntime,
    /// The context was shut down.
    #[error("the context has been shut down")]
    ShutDown,
}

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The controller refused or could not be asked (service unknown, no Dial policy, …).
    #[error("dial {service:?}: {source}")]
    Controller {
        /// Service name.
        service: String,
        /// The controller error.
        #[source]
        source: ControllerError,
    },
    /// The Dial session lists no usable edge router.
    #[error("dial {service:?}: the controller lists no edge router with a tls:// address for this service; check the edge router policies")]
    NoRouters {
        /// Service name.
        service: String,
    },
    /// No listed router could be reached.
    #[error("dial {service:?}: no edge router reachable: {}", join_errors(.errors))]
    Unreachable {
        /// Service name.
        service: String,
        /// One error per router.
        errors: Vec<ChannelError>,
    },
    /// The channel failed during the dial.
    #[error("dial {service:?}: {source}")]
    Channel {
        /// Service name.
        service: String,
        /// The channel error.
        #[source]
        source: ChannelError,
    },
    /// The router (or the controller behind it, or the host) refused the connection.
    /// The message names the service and says what the code means (see
    /// [`crate::refusal`]); `reason` keeps the router's original text.
    #[error("{}", crate::refusal::message(service, router, reason, *code))]
    Refused {
        /// Service name.
        service: String,
        /// Router address.
        router: String,
        /// The StateClosed body.
        reason: String,
        /// Header 1014, when sent.
        code: Option<ErrorCode>,
        /// Header 1033, when sent.
        structured: Option<Box<StructuredError>>,
    },
    /// The dial did not finish in time.
    #[error(
        "dial {service:?} did not finish within {after:?}{}",
        login_error.as_ref().map(|e| format!(" (the controller session's last error: {e})")).unwrap_or_default()
    )]
    Timeout {
        /// Service name.
        service: String,
        /// The deadline.
        after: Duration,
        /// The session keeper's last error when the dial gave up, e.g. the controller
        /// refusing the login of a deleted identity (`401 INVALID_AUTH`), which is usually why
        /// a dial waits.
        login_error: Option<String>,
    },
    /// The service requires encryption but the host's key did not arrive.
    #[error("dial {service:?}: the service requires end-to-end encryption but the router sent no host public key; refusing to send plaintext")]
    HostKeyMissing {
        /// Service name.
        service: String,
    },
    /// The key exchange failed.
    #[error("dial {service:?}: key exchange failed: {source}")]
    Crypto {
        /// Service name.
        service: String,
        /// The crypto error.
        #[source]
        source: E2eeError,
    },
    /// The router answered Connect with something else than StateConnected/StateClosed.
    #[error("dial {service:?}: router {router} answered Connect with content type {content_type}")]
    UnexpectedReply {
        /// Service name.
        service: String,
        /// Router address.
        router: String,
        /// What it sent.
        content_type: i32,
    },
    /// The context was shut down.
    #[error("dial {service:?}: the context has been shut down")]
    ShutDown {
        /// Service name.
        service: String,
    },
}

fn join_errors(errors: &[ChannelError]) -> String {
    if errors.is_empty() {
        return "no attempt was possible".into();
    }
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
