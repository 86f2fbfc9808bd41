//! Enrollment endpoints: the EST CA bundle (`/.well-known/est/cacerts`, PKCS#7) and one-time
//! token enrollment (`/enroll?method=ott`, `/enroll/ott`) with its CSR body forms.

use bytes::Bytes;
use http::{header, HeaderValue, Request, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};

use super::request::{internal, parse_json_body, query_pairs, query_value, read_body};
use crate::controller::envelope::{data, ApiError, ApiResponse};
use crate::controller::oidc::flow::media_type;
use crate::state::{EnrollmentRefusal, LabState};

pub(super) fn cacerts(state: &LabState) -> ApiResponse {
    let body = match crate::pkcs7::certs_only_base64(&[state.pki().ca_der()]) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the CA bundle");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNHANDLED",
                format!("the lab cannot encode its CA certificate as PKCS#7: {e}"),
            )
            .response();
        }
    };
    let mut resp = http::Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pkcs7-mime"),
    );
    resp.headers_mut().insert(
        "content-transfer-encoding",
        HeaderValue::from_static("base64"),
    );
    resp
}

pub(super) async fn enroll(
    state: &LabState,
    req: Request<hyper::body::Incoming>,
    path_method: Option<&str>,
) -> Result<ApiResponse, ApiError> {
    let pairs = query_pairs(&req);
    let method = path_method
        .or_else(|| query_value(&pairs, "method"))
        .unwrap_or("");
    if method != "ott" {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_ENROLLMENT_TOKEN",
            format!("enrollment method {method:?} is not supported by the lab; only \"ott\""),
        ));
    }
    let content_type = media_type(&req);
    let mut token = query_value(&pairs, "token").map(str::to_owned);
    let body = read_body(req).await?;
    let csr: Vec<u8> = match content_type.as_str() {
        "application/json" => {
            let v = parse_json_body(&body)?;
            if let Some(t) = v.get("token").and_then(Value::as_str) {
                token.get_or_insert_with(|| t.to_owned());
            }
            v.get("clientCsr")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "MISSING_OR_INVALID_CSR",
                        "JSON enrollment bodies must carry clientCsr (PEM)",
                    )
                })?
                .as_bytes()
                .to_vec()
        }
        ""
        | "text/plain"
        | "application/x-pem-file"
        | "application/pkcs7"
        | "application/pkcs10" => body.to_vec(),
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_CONTENT_TYPE",
                format!("content type {other:?} is not accepted for enrollment"),
            ))
        }
    };
    let token = token.filter(|t| !t.is_empty()).ok_or_else(invalid_token)?;
    let trimmed: &[u8] = {
        let start = csr
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(csr.len());
        &csr[start..]
    };
    match state.enroll(&token, trimmed) {
        Ok((identity, cert)) => {
            tracing::info!(identity = %identity.name, id = %identity.id, fingerprint = %cert.fingerprint, "identity enrolled");
            Ok(data(
                StatusCode::OK,
                json!({"cert": cert.cert_pem, "ca": state.pki().ca_pem()}),
            ))
        }
        Err(EnrollmentRefusal::InvalidToken) => Err(invalid_token()),
        Err(EnrollmentRefusal::Expired) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "ENROLLMENT_EXPIRED",
            "The enrollment token has expired",
        )),
        Err(EnrollmentRefusal::AlreadyEnrolled) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "ENROLLMENT_IDENTITY_ALREADY_ENROLLED",
            "The identity has already been enrolled with this token",
        )),
        Err(EnrollmentRefusal::Csr(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "COULD_NOT_PROCESS_CSR",
            format!("Could not process the CSR: {e}"),
        )),
        Err(EnrollmentRefusal::Storage(e)) => Err(internal(e)),
    }
}

fn invalid_token() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_ENROLLMENT_TOKEN",
        "The supplied token is not valid",
    )
}
