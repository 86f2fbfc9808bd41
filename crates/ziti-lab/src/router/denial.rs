//! Why the router refuses a Connect or Bind, and how each refusal looks on the wire.
//!
//! [`Denial`] names every refusal the lab router can send. Each maps to the reason text a real
//! OpenZiti router (or its controller, relayed by the router) puts into the `StateClosed` body,
//! and, where the real one attaches them, the `ErrorCode` (1014) and `StructuredError` (1033)
//! headers with a retry hint (ziti-edge-protocol.md §2.2, §3.3). Texts that SDKs match on
//! (the C SDK retries a dial with a fresh session when the body reads "Invalid Session"; the
//! lab never sends an empty body, which the C SDK would take for that) stay stable.

use bytes::Bytes;
use dark_listener::wire::consts::{ErrorCode, RetryHint};
use dark_listener::wire::edge::{ErrorDetails, StateClosed, StructuredError};

/// A refusal of a Connect or Bind (or the failure of a dial to its terminator).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// A Connect or Bind without header 1000.
    #[error("connId not set, required")]
    MissingConnId,
    /// A Connect or Bind whose headers cannot be read (wrong widths, bad key length, …).
    #[error("{0}")]
    Malformed(String),
    /// The conn id of a Connect is already in use on the channel.
    #[error("conn id {0} is already in use on this channel")]
    ConnIdInUse(u32),
    /// The channel already carries as many connections as the router allows.
    #[error("too many connections on this channel ({0} allowed)")]
    TooManyConnections(usize),
    /// The channel already has as many dials in flight as the router allows.
    #[error("too many dials in progress on this channel ({0} allowed)")]
    TooManyPendingDials(usize),
    /// The channel already hosts as many binds as the router allows.
    #[error("too many binds on this channel ({0} allowed)")]
    TooManyBinds(usize),
    /// The service session token is unknown, expired, of another identity, or no longer
    /// granted by a policy (code 3, start over).
    #[error("invalid session")]
    InvalidSession,
    /// A Bind session token was used to Connect (code 4, start over).
    #[error("incorrect session type")]
    WrongSessionType,
    /// A Dial session token was used to Bind (plain text, as the real router's bind path).
    #[error("rejecting bind, invalid session type. expected Bind, got {got}")]
    WrongBindSessionType {
        /// The type the token was issued for.
        got: &'static str,
    },
    /// The service requires end-to-end encryption and the dialer sent no key (code 11).
    #[error("encryption required on service, initiator did not send public header")]
    InitiatorKeyMissing,
    /// The service requires end-to-end encryption and the chosen terminator has no key (code 11).
    #[error("encryption required on service, terminator did not send public header")]
    TerminatorKeyMissing,
    /// Nobody hosts the service (code 1).
    #[error("service {service_id} has no terminators")]
    NoTerminators {
        /// The service id.
        service_id: String,
    },
    /// Hosts exist, but none matches the instance-id rule (code 1).
    #[error("service {service_id} has no terminators for instanceId {instance_id}")]
    NoTerminatorsForInstance {
        /// The service id.
        service_id: String,
        /// The instance id asked for (empty for a dial without header 1006).
        instance_id: String,
    },
    /// The host refused the Dial, answered garbage, or did not answer in time.
    #[error(
        "failed to establish connection with terminator address {terminator}. error: ({cause})"
    )]
    TerminatorFailed {
        /// The terminator id.
        terminator: String,
        /// The host's DialFailed text, or what went wrong.
        cause: String,
    },
    /// A Bind names an instance id that a terminator of another identity already uses
    /// (code 13, not retriable).
    #[error("sibling terminator {sibling} with shared identity {instance_id} belongs to different identity")]
    InstanceIdTaken {
        /// The terminator already holding the instance id.
        sibling: String,
        /// The instance id.
        instance_id: String,
    },
}

impl Denial {
    /// The error code and retry hint the real router attaches, if any.
    pub fn code(&self) -> Option<(ErrorCode, RetryHint)> {
        match self {
            Denial::InvalidSession => Some((ErrorCode::InvalidSession, RetryHint::StartOver)),
            Denial::WrongSessionType => Some((ErrorCode::WrongSessionType, RetryHint::StartOver)),
            Denial::InitiatorKeyMissing | Denial::TerminatorKeyMissing => {
                Some((ErrorCode::EncryptionDataMissing, RetryHint::StartOver))
            }
            Denial::NoTerminators { .. } | Denial::NoTerminatorsForInstance { .. } => {
                Some((ErrorCode::Internal, RetryHint::Default))
            }
            Denial::InstanceIdTaken { .. } => {
                Some((ErrorCode::InvalidInstanceId, RetryHint::NotRetriable))
            }
            Denial::TooManyConnections(_)
            | Denial::TooManyPendingDials(_)
            | Denial::TooManyBinds(_) => Some((ErrorCode::Internal, RetryHint::TooBusy)),
            Denial::MissingConnId
            | Denial::Malformed(_)
            | Denial::ConnIdInUse(_)
            | Denial::WrongBindSessionType { .. }
            | Denial::TerminatorFailed { .. } => None,
        }
    }

    /// Headers 1014 / 1033 for this refusal.
    pub fn error_details(&self) -> ErrorDetails {
        match self.code() {
            None => ErrorDetails::default(),
            Some((code, hint)) => ErrorDetails {
                code: Some(code),
                structured: Some(StructuredError {
                    message: self.to_string(),
                    code: code.as_u32(),
                    retry_hint: hint.as_u32(),
                    failing_posture_check_ids: Vec::new(),
                }),
            },
        }
    }

    /// The `StateClosed` carrying this refusal for `conn_id` (the caller marks it as a reply).
    pub fn state_closed(&self, conn_id: u32, circuit_id: Option<String>) -> StateClosed {
        StateClosed {
            conn_id,
            reason: Bytes::from(self.to_string()),
            error: self.error_details(),
            circuit_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coded_denials_carry_matching_structured_error() {
        let d = Denial::InitiatorKeyMissing;
        let details = d.error_details();
        assert_eq!(details.code, Some(ErrorCode::EncryptionDataMissing));
        let s = details.structured.unwrap();
        assert_eq!(s.code, 11);
        assert_eq!(s.retry_hint, RetryHint::StartOver.as_u32());
        assert_eq!(s.message, d.to_string());
    }

    #[test]
    fn plain_denials_have_no_code_headers() {
        let d = Denial::TerminatorFailed {
            terminator: "t1".into(),
            cause: "rejected".into(),
        };
        assert_eq!(d.error_details(), ErrorDetails::default());
        assert_eq!(
            d.to_string(),
            "failed to establish connection with terminator address t1. error: (rejected)"
        );
    }

    #[test]
    fn no_denial_has_an_empty_reason() {
        let all = [
            Denial::MissingConnId,
            Denial::Malformed("x".into()),
            Denial::ConnIdInUse(1),
            Denial::TooManyConnections(1),
            Denial::TooManyPendingDials(1),
            Denial::TooManyBinds(1),
            Denial::InvalidSession,
            Denial::WrongSessionType,
            Denial::WrongBindSessionType { got: "Dial" },
            Denial::InitiatorKeyMissing,
            Denial::TerminatorKeyMissing,
            Denial::NoTerminators {
                service_id: "s".into(),
            },
            Denial::NoTerminatorsForInstance {
                service_id: "s".into(),
                instance_id: String::new(),
            },
            Denial::InstanceIdTaken {
                sibling: "t".into(),
                instance_id: "i".into(),
            },
        ];
        for d in all {
            assert!(!d.state_closed(7, None).reason.is_empty(), "{d:?}");
        }
    }
}
