//! The text of a refused dial ([`crate::context::DialError::Refused`]): the router's own
//! refusal names the service by its id and tags the commonest case, "no host serves it",
//! with the code `Internal`. This module owns the words a user reads instead: the service by
//! the name that was dialed, what the router's error code means and what to do, with the
//! router's original text kept at the end.

use crate::wire::consts::ErrorCode;

/// What the router's error `code` means, in words.
pub fn code_meaning(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Ok => "no error",
        ErrorCode::Internal => "the router could not route the dial",
        ErrorCode::InvalidApiSession => "the API session is no longer valid; log in again",
        ErrorCode::InvalidSession => "the dial session expired or was revoked",
        ErrorCode::WrongSessionType => "the session was issued for binding, not dialing",
        ErrorCode::InvalidEdgeRouterForSession => {
            "this edge router may not be used for the service (check edge router policies)"
        }
        ErrorCode::InvalidService => "the service is unknown to the router",
        ErrorCode::TunnelingNotEnabled => "tunneling is not enabled on this router",
        ErrorCode::InvalidTerminator => "no host matches the terminator identity asked for",
        ErrorCode::InvalidPrecedence => "the terminator precedence is not valid",
        ErrorCode::InvalidCost => "the terminator cost is not valid",
        ErrorCode::EncryptionDataMissing => {
            "the service requires end-to-end encryption and a side sent no key"
        }
        ErrorCode::InvalidApiSessionType => "the API session is of the wrong type",
        ErrorCode::InvalidInstanceId => "the terminator identity is taken by another identity",
        ErrorCode::AccessDenied => "access denied (check the service's Dial policy)",
        ErrorCode::PostureCheckFailed => "a posture check failed",
        ErrorCode::Other(_) => "an error code this SDK does not know",
    }
}

/// The message of a dial of `service` refused by `router` with the router's `reason` and
/// `code`. A refusal for lack of hosts keeps the words "has no terminators" (callers such
/// as the federate proxy match on them).
pub fn message(service: &str, router: &str, reason: &str, code: Option<ErrorCode>) -> String {
    let said = match code {
        Some(code) => format!("router {router} said {reason:?}, error code {code}"),
        None => format!("router {router} said {reason:?}"),
    };
    if reason.contains("has no terminators") {
        let instance = reason
            .split_once("for instanceId ")
            .map(|(_, id)| id.trim())
            .filter(|id| !id.is_empty());
        let what = match instance {
            Some(id) => format!(
                "service {service:?} has no terminators for terminator identity {id:?}: no host of it serves under that identity right now; start that host (or check its Bind policy and the identity asked for) and retry"
            ),
            None => format!(
                "service {service:?} has no terminators: no host serves it right now; start its host (or check the host's Bind policy) and retry"
            ),
        };
        return format!("dial refused: {what} ({said})");
    }
    let meaning = match code {
        Some(code) => code_meaning(code),
        None => "the router gave no error code",
    };
    format!("dial {service:?} refused: {meaning} ({said})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_terminators_names_the_service_and_says_what_to_do() {
        let text = message(
            "reflect.svc",
            "tls:127.0.0.1:3022",
            "service 65534bcefde8 has no terminators",
            Some(ErrorCode::Internal),
        );
        assert!(
            text.contains("service \"reflect.svc\" has no terminators"),
            "{text}"
        );
        assert!(text.contains("start its host"), "{text}");
        // The router's own text is kept.
        assert!(
            text.contains("said \"service 65534bcefde8 has no terminators\""),
            "{text}"
        );
        assert!(!text.starts_with("service 65534bcefde8"), "{text}");
    }

    #[test]
    fn no_terminators_for_an_instance_names_the_identity() {
        let text = message(
            "m.svc",
            "r",
            "service 1a has no terminators for instanceId node-7",
            Some(ErrorCode::Internal),
        );
        assert!(
            text.contains(
                "service \"m.svc\" has no terminators for terminator identity \"node-7\""
            ),
            "{text}"
        );
    }

    #[test]
    fn other_codes_are_put_in_words() {
        let text = message(
            "s",
            "r",
            "encryption required",
            Some(ErrorCode::EncryptionDataMissing),
        );
        assert!(text.contains("requires end-to-end encryption"), "{text}");
        assert!(text.contains("\"encryption required\""), "{text}");
        let text = message("s", "r", "huh", Some(ErrorCode::Other(99)));
        assert!(text.contains("does not know"), "{text}");
        assert!(text.contains("error code 99"), "{text}");
    }
}
