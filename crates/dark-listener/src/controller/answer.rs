//! Reading the controller's answers: the `{data, error, meta}` envelope of every edge client
//! API response, turned into the typed data or a [`ControllerError`] that names the call,
//! the status and the controller's own error code and message (or the first bytes of a body
//! that is not an envelope).

use http::StatusCode;
use serde::de::DeserializeOwned;

use super::http::HttpAnswer;
use super::model::Envelope;
use super::ControllerError;

/// Reads an envelope; an `error` member or a non-2xx status becomes [`ControllerError::Api`].
pub(super) fn decode_envelope<T: DeserializeOwned>(
    operation: &'static str,
    url: &str,
    answer: HttpAnswer,
) -> Result<Envelope<T>, ControllerError> {
    let status = answer.status;
    if !status.is_success() {
        return Err(api_error(operation, url, status, &answer.body));
    }
    let envelope: Envelope<T> =
        serde_json::from_slice(&answer.body).map_err(|e| ControllerError::Decode {
            operation,
            url: url.to_string(),
            status: status.as_u16(),
            body_start: excerpt(&answer.body),
            source: e,
        })?;
    if let Some(error) = envelope.error {
        return Err(ControllerError::Api {
            operation,
            status: status.as_u16(),
            code: error.code,
            message: error.message,
        });
    }
    Ok(envelope)
}

pub(super) fn decode_data<T: DeserializeOwned>(
    operation: &'static str,
    url: &str,
    answer: HttpAnswer,
) -> Result<T, ControllerError> {
    decode_envelope::<T>(operation, url, answer)?
        .data
        .ok_or(ControllerError::MissingData { operation })
}

pub(super) fn api_error(
    operation: &'static str,
    url: &str,
    status: StatusCode,
    body: &[u8],
) -> ControllerError {
    match serde_json::from_slice::<Envelope<serde_json::Value>>(body) {
        Ok(Envelope {
            error: Some(error), ..
        }) => ControllerError::Api {
            operation,
            status: status.as_u16(),
            code: error.code,
            message: error.message,
        },
        _ => ControllerError::UnexpectedStatus {
            operation,
            url: url.to_string(),
            status: status.as_u16(),
            body_start: excerpt(body),
        },
    }
}

/// The first bytes of a body, printable, for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::model::{ApiSession, ServiceSession};
    use bytes::Bytes;

    fn answer(status: u16, body: &str) -> HttpAnswer {
        HttpAnswer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: http::HeaderMap::new(),
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    #[test]
    fn error_envelope_becomes_typed_error() {
        let err = decode_data::<ApiSession>(
            "POST /authenticate",
            "https://c/authenticate",
            answer(
                401,
                r#"{"error":{"code":"INVALID_AUTH","message":"bad cert"},"meta":{}}"#,
            ),
        )
        .unwrap_err();
        assert!(err.is_unauthorized());
        match err {
            ControllerError::Api {
                status,
                code,
                message,
                ..
            } => {
                assert_eq!(
                    (status, code.as_str(), message.as_str()),
                    (401, "INVALID_AUTH", "bad cert")
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn error_member_in_a_200_is_still_an_error() {
        let err = decode_data::<ServiceSession>(
            "POST /sessions",
            "u",
            answer(200, r#"{"error":{"code":"NOT_FOUND","message":"gone"}}"#),
        )
        .unwrap_err();
        assert!(err.is_not_found());
    }

    #[test]
    fn non_json_error_keeps_status_and_excerpt() {
        let err =
            decode_data::<ApiSession>("GET /x", "u", answer(502, "<html>bad\ngateway</html>"))
                .unwrap_err();
        match err {
            ControllerError::UnexpectedStatus {
                status, body_start, ..
            } => {
                assert_eq!(status, 502);
                assert_eq!(body_start, "<html>bad gateway</html>");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn malformed_success_bodies() {
        for body in [
            "",
            "{",
            "[]",
            r#"{"data":{"id":"x"}}"#,
            r#"{"data":"text"}"#,
        ] {
            let err = decode_data::<ApiSession>("GET /current-api-session", "u", answer(200, body))
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    ControllerError::Decode { .. } | ControllerError::MissingData { .. }
                ),
                "{body:?} gave {err:?}"
            );
        }
        let err = decode_data::<ApiSession>("op", "u", answer(200, r#"{"meta":{}}"#)).unwrap_err();
        assert!(matches!(err, ControllerError::MissingData { .. }));
    }
}
