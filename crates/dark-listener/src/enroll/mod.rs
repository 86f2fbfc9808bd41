//! One-time-token (`ott`) enrollment: turns an enrollment JWT into an identity file.
//!
//! The steps, in the order the OpenZiti SDKs take them:
//! 1. parse the JWT ([`EnrollmentJwt::parse`]) and check its method and expiry;
//! 2. open TLS to the JWT issuer accepting any certificate for that handshake only
//!    ([`crate::tls::LeafCapture`]), `GET /.well-known/est/cacerts`, and **verify the JWT
//!    signature with the public key of the server's leaf certificate** — this is what makes
//!    the JWT the trust anchor; the answer is only believed once the signature checks out;
//! 3. read the CA bundle (base64 of a DER PKCS#7 certs-only message, [`decode_cacerts_body`]);
//! 4. make a key (EC P-256 by default, RSA on request) and a CSR, and
//!    `POST /enroll?method=ott&token=<jti>` over TLS verified against that bundle;
//! 5. take the signed certificate (JSON `data.cert` or a PEM body) and produce a Go-style
//!    identity file ([`EnrolledIdentity::to_json_go_style`]) whose `ztAPI` is the issuer.
//!
//! | module | owns |
//! | --- | --- |
//! | `jwt` | [`EnrollmentJwt`]: parsing and the signature check |
//! | `ca_bundle` | the CA bundle (PKCS#7 via the `cms` crate) and host-name checks (webpki) |
//! | `keys` | [`KeyType`], key generation and the CSR |
//! | this file | [`enroll`], its options, errors and the [`EnrolledIdentity`] it produces |

mod ca_bundle;
mod jwt;
mod keys;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rustls::pki_types::CertificateDer;
use serde::Deserialize;

use crate::controller::http::{HttpAnswer, HttpsTransport, TransportLimits};
use crate::controller::{error_chain, TransportError};
use crate::identity::{Identity, IdentityError, PemParts};
use crate::tls::{self, LeafCapture, TlsSetupError};

pub use self::ca_bundle::{certificate_matches_host, decode_cacerts_body, pem_encode};
pub use self::jwt::{
    EnrollmentClaims, EnrollmentJwt, EnrollmentMethod, JwtAlgorithm, MAX_JWT_BYTES,
};
pub use self::keys::{certificate_request, generate_key, KeyType};

/// What went wrong during enrollment; each variant names the step and what to do.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// The JWT is not a well-formed enrollment token.
    #[error("the enrollment JWT is malformed: {reason}; pass the JWT exactly as the controller issued it")]
    JwtMalformed {
        /// What is wrong.
        reason: String,
    },
    /// The JWT header names a signature algorithm this SDK does not accept.
    #[error("the enrollment JWT uses signature algorithm {alg:?}; only RS256, ES256 and ES384 are accepted")]
    UnsupportedAlgorithm {
        /// The `alg` header value.
        alg: String,
    },
    /// The JWT asks for an enrollment method other than `ott`.
    #[error("enrollment method {em:?} is not supported; only one-time-token (\"ott\") enrollment is implemented")]
    UnsupportedMethod {
        /// The `em` claim.
        em: String,
    },
    /// The JWT's `exp` is in the past.
    #[error("the enrollment JWT expired at {expired_at} (unix seconds, now {now}); ask the controller administrator for a new one")]
    Expired {
        /// The `exp` claim.
        expired_at: u64,
        /// Local time.
        now: u64,
    },
    /// The issuer (`iss`) is not an `https://host:port` URL.
    #[error("the enrollment JWT issuer {iss:?} is not usable: {reason}")]
    BadIssuer {
        /// The `iss` claim.
        iss: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The controller could not be reached.
    #[error("{step}: controller unreachable: {}", error_chain(.source))]
    Unreachable {
        /// The step.
        step: &'static str,
        /// The transport error.
        #[source]
        source: TransportError,
    },
    /// The controller presented no certificate.
    #[error("the controller presented no TLS certificate, so the JWT cannot be checked")]
    NoServerCertificate,
    /// The JWT signature does not verify with the controller's certificate.
    #[error("the enrollment JWT signature does not match the certificate presented by {iss} ({detail}); the JWT was altered, or another server answers at that address")]
    SignatureMismatch {
        /// The issuer contacted.
        iss: String,
        /// Which check failed.
        detail: String,
    },
    /// The controller certificate does not name the issuer host.
    #[error("the controller certificate is not valid for host {host:?} (from the JWT issuer); another server answers at that address")]
    HostMismatch {
        /// The host of `iss`.
        host: String,
    },
    /// The CA bundle from `/.well-known/est/cacerts` is unusable.
    #[error("GET /.well-known/est/cacerts: {reason}")]
    CaBundle {
        /// What is wrong.
        reason: String,
    },
    /// The controller refused a step with an error document or an unexpected status.
    #[error("{step}: controller answered HTTP {status} {code}: {message}{hint}")]
    Refused {
        /// The step.
        step: &'static str,
        /// HTTP status.
        status: u16,
        /// Error code, e.g. `INVALID_ENROLLMENT_TOKEN`.
        code: String,
        /// The controller's message (or the start of the body).
        message: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// The key pair or CSR could not be made.
    #[error("could not create the key pair or CSR: {reason}")]
    KeyGeneration {
        /// What failed.
        reason: String,
    },
    /// The certificate the controller returned is unusable.
    #[error("POST /enroll: the controller returned an unusable certificate: {reason}")]
    BadCertificate {
        /// What is wrong.
        reason: String,
    },
    /// A TLS configuration could not be built.
    #[error("TLS setup for enrollment failed: {0}")]
    Tls(#[from] TlsSetupError),
}

/// Tunables of [`enroll`].
#[derive(Debug, Clone)]
pub struct EnrollOptions {
    /// Kind of key to generate.
    pub key_type: KeyType,
    /// Deadline of each HTTPS request.
    pub request_timeout: Duration,
}

impl Default for EnrollOptions {
    fn default() -> Self {
        Self {
            key_type: KeyType::EcP256,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The result of an enrollment: everything an identity file holds.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrolledIdentity {
    /// Controller URL (the JWT issuer).
    pub zt_api: String,
    /// Client certificate chain, PEM, leaf first.
    pub cert_pem: String,
    /// Private key, PEM (PKCS#8).
    pub key_pem: String,
    /// CA bundle from the controller, PEM.
    pub ca_pem: String,
}

impl fmt::Debug for EnrolledIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrolledIdentity")
            .field("zt_api", &self.zt_api)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl EnrolledIdentity {
    /// Loads the enrolled material as an [`Identity`] (same checks as an identity file).
    pub fn to_identity(&self) -> Result<Identity, IdentityError> {
        Identity::from_pem_parts(
            &self.zt_api,
            PemParts {
                cert: &self.cert_pem,
                key: &self.key_pem,
                ca: &self.ca_pem,
            },
            "enrollment result",
        )
    }

    /// The identity file as the Go SDK writes it (`pem:` values, `ztAPI` = issuer).
    pub fn to_json_go_style(&self) -> String {
        let doc = serde_json::json!({
            "ztAPI": self.zt_api,
            "ztAPIs": null,
            "configTypes": null,
            "id": {
                "key": format!("pem:{}", self.key_pem),
                "cert": format!("pem:{}", self.cert_pem),
                "ca": format!("pem:{}", self.ca_pem),
            },
            "enableHa": false,
        });
        // A json! value of strings always serializes.
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Splits `https://host:port[/…]` into origin and host.
fn issuer_origin(iss: &str) -> Result<(String, String), EnrollError> {
    let bad = |reason: &str| EnrollError::BadIssuer {
        iss: iss.to_string(),
        reason: reason.to_string(),
    };
    let uri: http::Uri = iss.parse().map_err(|_| bad("not a URL"))?;
    if uri.scheme_str() != Some("https") {
        return Err(bad("it must start with https://"));
    }
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    if authority.host().is_empty() || authority.as_str().contains('@') {
        return Err(bad("no host, or user info in the URL"));
    }
    Ok((format!("https://{authority}"), authority.host().to_string()))
}

fn refused(step: &'static str, answer: &HttpAnswer, hint: &'static str) -> EnrollError {
    #[derive(Deserialize)]
    struct ErrorEnvelope {
        error: crate::controller::model::ApiErrorBody,
    }
    match serde_json::from_slice::<ErrorEnvelope>(&answer.body) {
        Ok(env) => EnrollError::Refused {
            step,
            status: answer.status.as_u16(),
            code: env.error.code,
            message: env.error.message,
            hint,
        },
        Err(_) => EnrollError::Refused {
            step,
            status: answer.status.as_u16(),
            code: String::new(),
            message: crate::controller::client_excerpt(&answer.body),
            hint,
        },
    }
}

/// Enrolls with a one-time-token JWT (the text of the `.jwt` file).
pub async fn enroll(
    jwt_text: &str,
    options: &EnrollOptions,
) -> Result<EnrolledIdentity, EnrollError> {
    let jwt = EnrollmentJwt::parse(jwt_text)?;
    jwt.check_method()?;
    jwt.check_not_expired(unix_now())?;
    let (origin, host) = issuer_origin(&jwt.claims.iss)?;
    let limits = TransportLimits {
        request_timeout: options.request_timeout,
        connect_timeout: options.request_timeout,
        max_body_bytes: 1024 * 1024,
    };

    // Step 2: fetch the CA bundle over a handshake that only records the server leaf.
    let capture = LeafCapture::new();
    let bootstrap = HttpsTransport::new(capture.client_config()?, limits);
    let step = "GET /.well-known/est/cacerts";
    let answer = bootstrap
        .send(
            Method::GET,
            &format!("{origin}/.well-known/est/cacerts"),
            &[("accept", "application/pkcs7-mime".to_string())],
            None,
        )
        .await
        .map_err(|source| EnrollError::Unreachable { step, source })?;
    let leaf = capture.leaf().ok_or(EnrollError::NoServerCertificate)?;
    jwt.verify_with_certificate(&leaf)?;
    if !certificate_matches_host(&leaf, &host) {
        return Err(EnrollError::HostMismatch { host });
    }
    tracing::debug!(
        controller = origin,
        fingerprint = tls::sha1_fingerprint(&leaf),
        "enrollment JWT verified with the controller certificate"
    );
    if !answer.status.is_success() {
        return Err(refused(step, &answer, ""));
    }
    let ca = decode_cacerts_body(&answer.body)?;

    // Step 4: key, CSR, POST /enroll over TLS verified against the bundle.
    let key = generate_key(options.key_type)?;
    let csr = certificate_request(&key, &jwt.claims.sub)?;
    let verified = HttpsTransport::new(tls::server_verifying_config(&ca)?, limits);
    let token: String = utf8_percent_encode(&jwt.claims.jti, NON_ALPHANUMERIC).collect();
    let step = "POST /enroll";
    let answer = verified
        .send(
            Method::POST,
            &format!("{origin}/enroll?method=ott&token={token}"),
            &[
                ("content-type", "application/x-pem-file".to_string()),
                ("accept", "application/json".to_string()),
            ],
            Some(csr.into_bytes().into()),
        )
        .await
        .map_err(|source| EnrollError::Unreachable { step, source })?;
    if !answer.status.is_success() {
        return Err(refused(
            step,
            &answer,
            "; the token may be used already or revoked: ask for a new enrollment JWT",
        ));
    }
    let cert_pem = issued_certificate_pem(&answer)?;
    check_issued_certificate(&cert_pem, &key)?;
    let ca_pem = ca.iter().map(|c| pem_encode("CERTIFICATE", c)).collect();
    let enrolled = EnrolledIdentity {
        zt_api: jwt.claims.iss.clone(),
        cert_pem,
        key_pem: key.serialize_pem(),
        ca_pem,
    };
    // Whatever we write must load again.
    enrolled
        .to_identity()
        .map_err(|e| EnrollError::BadCertificate {
            reason: format!("the resulting identity does not load: {e}"),
        })?;
    Ok(enrolled)
}

/// The certificate PEM from the enroll answer: a PEM body, or JSON `data.cert`.
fn issued_certificate_pem(answer: &HttpAnswer) -> Result<String, EnrollError> {
    let bad = |reason: String| EnrollError::BadCertificate { reason };
    let content_type = answer
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let text = std::str::from_utf8(&answer.body).map_err(|_| bad("the body is not text".into()))?;
    if content_type.starts_with("application/x-pem-file")
        || text.trim_start().starts_with("-----BEGIN")
    {
        return Ok(text.to_string());
    }
    #[derive(Deserialize)]
    struct Data {
        cert: String,
    }
    #[derive(Deserialize)]
    struct Envelope {
        data: Data,
    }
    let env: Envelope = serde_json::from_str(text)
        .map_err(|e| bad(format!("neither PEM nor JSON with data.cert ({e})")))?;
    Ok(env.data.cert)
}

/// The issued chain must parse and its leaf must carry our public key.
fn check_issued_certificate(cert_pem: &str, key: &rcgen::KeyPair) -> Result<(), EnrollError> {
    let bad = |reason: String| EnrollError::BadCertificate { reason };
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("the PEM does not parse: {e}")))?;
    let leaf = certs
        .first()
        .ok_or_else(|| bad("no CERTIFICATE block".into()))?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| bad(format!("the leaf does not parse: {e}")))?;
    if parsed
        .tbs_certificate
        .subject_pki
        .subject_public_key
        .data
        .as_ref()
        != key.public_key_raw()
    {
        return Err(bad(
            "the certificate does not carry the key we sent in the CSR".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(content_type: &str, body: &str) -> HttpAnswer {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, content_type.parse().unwrap());
        HttpAnswer {
            status: http::StatusCode::OK,
            headers,
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    #[test]
    fn issued_certificate_from_json_or_pem() {
        let key = generate_key(KeyType::EcP256).unwrap();
        let params = rcgen::CertificateParams::new(vec!["id-1".to_string()]).unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        let json = serde_json::json!({"data": {"cert": pem}, "meta": {}}).to_string();
        for a in [
            answer("application/json", &json),
            answer("application/json; charset=utf-8", &json),
            answer("application/x-pem-file", &pem),
            answer("text/plain", &pem),
        ] {
            let got = issued_certificate_pem(&a).unwrap();
            assert_eq!(got, pem);
            check_issued_certificate(&got, &key).unwrap();
        }
        let other = generate_key(KeyType::EcP256).unwrap();
        assert!(matches!(
            check_issued_certificate(&pem, &other),
            Err(EnrollError::BadCertificate { .. })
        ));
        for bad in [
            "",
            "{}",
            r#"{"data":{}}"#,
            r#"{"data":{"cert":5}}"#,
            "<html>",
        ] {
            assert!(
                issued_certificate_pem(&answer("application/json", bad)).is_err(),
                "{bad:?}"
            );
        }
        assert!(check_issued_certificate("no pem here", &key).is_err());
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(check_issued_certificate(garbage, &key).is_err());
    }

    #[test]
    fn go_style_identity_json() {
        let id = EnrolledIdentity {
            zt_api: "https://127.0.0.1:1280".into(),
            cert_pem: "C".into(),
            key_pem: "K".into(),
            ca_pem: "A".into(),
        };
        let v: serde_json::Value = serde_json::from_str(&id.to_json_go_style()).unwrap();
        assert_eq!(v["ztAPI"], "https://127.0.0.1:1280");
        assert_eq!(v["id"]["key"], "pem:K");
        assert_eq!(v["id"]["cert"], "pem:C");
        assert_eq!(v["id"]["ca"], "pem:A");
        assert!(!format!("{id:?}").contains('K'));
    }

    #[test]
    fn issuer_must_be_https_with_host() {
        assert_eq!(
            issuer_origin("https://127.0.0.1:1280").unwrap(),
            (
                "https://127.0.0.1:1280".to_string(),
                "127.0.0.1".to_string()
            )
        );
        for bad in ["http://h:1", "h:1", "", "https://"] {
            assert!(issuer_origin(bad).is_err(), "{bad}");
        }
    }
}
