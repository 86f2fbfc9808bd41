//! What can go wrong with a router channel, in words that say what to do about it.

use std::time::Duration;

/// What went wrong with a router channel.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChannelError {
    /// TCP connect failed.
    #[error("cannot reach edge router {router}: {detail}; check that the router is up and its address is reachable")]
    Connect {
        /// Router address.
        router: String,
        /// The socket error.
        detail: String,
    },
    /// The TLS handshake failed.
    #[error("TLS handshake with edge router {router} failed: {detail}; the router certificate must chain to the identity's CA")]
    Tls {
        /// Router address.
        router: String,
        /// The TLS error.
        detail: String,
    },
    /// A step did not finish in time.
    #[error("edge router {router}: {stage} did not finish within {after:?}")]
    Timeout {
        /// Router address.
        router: String,
        /// What was being waited for.
        stage: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The router answered the hello with a failure.
    #[error("edge router {router} rejected the hello: {message}")]
    HelloRejected {
        /// Router address.
        router: String,
        /// The router's message.
        message: String,
    },
    /// The router closed the connection right after the hello: it refused the API session.
    #[error("edge router {router} closed the channel right after the hello: it rejected the API session token (expired or unknown session, or a certificate it does not accept); log in again")]
    AuthenticationRejected {
        /// Router address.
        router: String,
    },
    /// The router sent something this SDK cannot accept.
    #[error("edge router {router} broke the protocol: {detail}")]
    Protocol {
        /// Router address.
        router: String,
        /// What was wrong.
        detail: String,
    },
    /// The channel is gone (router closed it, I/O error, or shut down).
    #[error("channel to edge router {router} is closed: {reason}")]
    Closed {
        /// Router address.
        router: String,
        /// Why.
        reason: String,
    },
    /// A latency probe went unanswered: the router is considered dead.
    #[error("edge router {router} did not answer a latency probe within {after:?}; channel declared dead")]
    ProbeTimeout {
        /// Router address.
        router: String,
        /// The probe timeout.
        after: Duration,
    },
    /// No connection id is free on this channel.
    #[error("edge router {router}: all {max} connection slots of the channel are in use")]
    ConnIdsExhausted {
        /// Router address.
        router: String,
        /// The limit.
        max: usize,
    },
    /// The router is in reconnect backoff after a failure.
    #[error(
        "edge router {router} is in reconnect backoff for another {retry_in:?} after: {last_error}"
    )]
    Backoff {
        /// Router address.
        router: String,
        /// Time left.
        retry_in: Duration,
        /// The failure that caused the backoff.
        last_error: String,
    },
}
