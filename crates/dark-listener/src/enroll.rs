//! One-time-token (`ott`) enrollment: turns an enrollment JWT into an identity file.
//!
//! The steps, in the order the OpenZiti SDKs take them:
//! 1. parse the JWT ([`EnrollmentJwt::parse`]) and check its method and expiry;
//! 2. open TLS to the JWT issuer accepting any certificate for that handshake only
//!    ([`crate::tls::LeafCapture`]), `GET /.well-known/est/cacerts`, and **verify the JWT
//!    signature with the public key of the server's leaf certificate** — this is what makes
//!    the JWT the trust anchor; the answer is only believed once the signature checks out;
//! 3. read the CA bundle (base64 of a DER PKCS#7 certs-only message, [`parse_pkcs7_certificates`]);
//! 4. make a key (EC P-256 by default, RSA on request) and a CSR, and
//!    `POST /enroll?method=ott&token=<jti>` over TLS verified against that bundle;
//! 5. take the signed certificate (JSON `data.cert` or a PEM body) and produce a Go-style
//!    identity file ([`EnrolledIdentity::to_json_go_style`]) whose `ztAPI` is the issuer.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::Method;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rustls::pki_types::CertificateDer;
use serde::Deserialize;

use crate::controller::http::{HttpAnswer, HttpsTransport, TransportLimits};
use crate::controller::{error_chain, TransportError};
use crate::identity::{Identity, IdentityError, PemParts};
use crate::tls::{self, LeafCapture, TlsSetupError};

/// Longest JWT accepted, in bytes (real ones are well under 2 KiB).
pub const MAX_JWT_BYTES: usize = 16 * 1024;

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

/// JWT signature algorithms accepted for enrollment tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (controller with an RSA server certificate).
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
}

/// The enrollment method (`em` claim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollmentMethod {
    /// One-time token: the SDK makes a key and a CSR.
    Ott,
    /// Any other method (`ottca`, `ca`, `updb`, `network`, …), not supported here.
    Other(String),
}

/// The claims of an enrollment JWT this SDK uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentClaims {
    /// Issuer: the controller URL, `https://host:port`.
    pub iss: String,
    /// Subject: the identity id.
    pub sub: String,
    /// The one-time enrollment token.
    pub jti: String,
    /// The enrollment method.
    pub em: EnrollmentMethod,
    /// Expiry, unix seconds.
    pub exp: u64,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Deserialize)]
struct RawClaims {
    iss: String,
    sub: String,
    jti: String,
    em: String,
    exp: serde_json::Number,
}

/// A parsed, not yet verified, enrollment JWT.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentJwt {
    /// Signature algorithm from the header.
    pub alg: JwtAlgorithm,
    /// Key id from the header (hex SHA-1 of the signing certificate), when present.
    pub kid: Option<String>,
    /// The claims.
    pub claims: EnrollmentClaims,
    signing_input: String,
    signature: Vec<u8>,
}

impl fmt::Debug for EnrollmentJwt {
    // The jti is a credential until used: keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollmentJwt")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("iss", &self.claims.iss)
            .field("sub", &self.claims.sub)
            .field("em", &self.claims.em)
            .field("exp", &self.claims.exp)
            .finish_non_exhaustive()
    }
}

fn malformed(reason: impl Into<String>) -> EnrollError {
    EnrollError::JwtMalformed {
        reason: reason.into(),
    }
}

fn b64url(part: &str, what: &str) -> Result<Vec<u8>, EnrollError> {
    let trimmed = part.trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .map_err(|e| malformed(format!("{what} is not base64url: {e}")))
}

impl EnrollmentJwt {
    /// Parses the compact JWS form (`header.claims.signature`); surrounding whitespace is
    /// ignored. Does not check the signature or the expiry.
    pub fn parse(text: &str) -> Result<Self, EnrollError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(malformed("it is empty"));
        }
        if text.len() > MAX_JWT_BYTES {
            return Err(malformed(format!(
                "it is longer than {MAX_JWT_BYTES} bytes"
            )));
        }
        let parts: Vec<&str> = text.split('.').collect();
        if parts.len() != 3 {
            return Err(malformed(format!(
                "expected 3 dot-separated parts, found {}",
                parts.len()
            )));
        }
        let header: RawHeader = serde_json::from_slice(&b64url(parts[0], "the header")?)
            .map_err(|e| malformed(format!("the header is not the expected JSON: {e}")))?;
        let alg = match header.alg.as_str() {
            "RS256" => JwtAlgorithm::Rs256,
            "ES256" => JwtAlgorithm::Es256,
            "ES384" => JwtAlgorithm::Es384,
            other => {
                return Err(EnrollError::UnsupportedAlgorithm {
                    alg: other.to_string(),
                })
            }
        };
        let raw: RawClaims = serde_json::from_slice(&b64url(parts[1], "the claims")?)
            .map_err(|e| malformed(format!("the claims are not the expected JSON: {e}")))?;
        let exp = raw
            .exp
            .as_u64()
            .or_else(|| raw.exp.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .ok_or_else(|| malformed("`exp` is not a non-negative number"))?;
        for (name, value) in [("iss", &raw.iss), ("sub", &raw.sub), ("jti", &raw.jti)] {
            if value.trim().is_empty() {
                return Err(malformed(format!("`{name}` is empty")));
            }
        }
        let em = match raw.em.as_str() {
            "ott" => EnrollmentMethod::Ott,
            other => EnrollmentMethod::Other(other.to_string()),
        };
        let signature = b64url(parts[2], "the signature")?;
        if signature.is_empty() {
            return Err(malformed("the signature is empty"));
        }
        Ok(Self {
            alg,
            kid: header.kid,
            claims: EnrollmentClaims {
                iss: raw.iss,
                sub: raw.sub,
                jti: raw.jti,
                em,
                exp,
            },
            signing_input: format!("{}.{}", parts[0], parts[1]),
            signature,
        })
    }

    /// Refuses a token whose `exp` is at or before `now` (unix seconds).
    pub fn check_not_expired(&self, now: u64) -> Result<(), EnrollError> {
        if self.claims.exp <= now {
            return Err(EnrollError::Expired {
                expired_at: self.claims.exp,
                now,
            });
        }
        Ok(())
    }

    /// Refuses methods other than `ott`.
    pub fn check_method(&self) -> Result<(), EnrollError> {
        match &self.claims.em {
            EnrollmentMethod::Ott => Ok(()),
            EnrollmentMethod::Other(em) => Err(EnrollError::UnsupportedMethod { em: em.clone() }),
        }
    }

    /// Verifies the signature with the public key of `cert` (the controller's leaf).
    pub fn verify_with_certificate(&self, cert: &CertificateDer<'_>) -> Result<(), EnrollError> {
        let mismatch = |detail: String| EnrollError::SignatureMismatch {
            iss: self.claims.iss.clone(),
            detail,
        };
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
            .map_err(|e| mismatch(format!("the controller certificate does not parse: {e}")))?;
        let spki = &parsed.tbs_certificate.subject_pki;
        let key = spki.subject_public_key.data.as_ref();
        let key_oid = spki.algorithm.algorithm.to_id_string();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|o| o.to_id_string());
        const RSA: &str = "1.2.840.113549.1.1.1";
        const EC: &str = "1.2.840.10045.2.1";
        const P256: &str = "1.2.840.10045.3.1.7";
        const P384: &str = "1.3.132.0.34";
        let input = self.signing_input.as_bytes();
        let verify = |alg: &'static dyn ring::signature::VerificationAlgorithm| {
            ring::signature::UnparsedPublicKey::new(alg, key)
                .verify(input, &self.signature)
                .is_ok()
        };
        let ok = match (self.alg, key_oid.as_str(), curve.as_deref()) {
            (JwtAlgorithm::Rs256, RSA, _) => verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256),
            // Standard JWS signatures are r||s; older C SDKs produced DER, accept both.
            (JwtAlgorithm::Es256, EC, Some(P256)) => {
                verify(&ring::signature::ECDSA_P256_SHA256_FIXED)
                    || verify(&ring::signature::ECDSA_P256_SHA256_ASN1)
            }
            (JwtAlgorithm::Es384, EC, Some(P384)) => {
                verify(&ring::signature::ECDSA_P384_SHA384_FIXED)
                    || verify(&ring::signature::ECDSA_P384_SHA384_ASN1)
            }
            (alg, oid, curve) => {
                return Err(mismatch(format!(
                    "the JWT says {alg:?} but the certificate key is {oid} (curve {})",
                    curve.unwrap_or("none")
                )))
            }
        };
        if ok {
            Ok(())
        } else {
            Err(mismatch("signature check failed".to_string()))
        }
    }
}

/// Checks that `cert` names `host` in its subject alternative names (DNS or IP).
pub fn certificate_matches_host(cert: &CertificateDer<'_>, host: &str) -> bool {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return false;
    };
    let Ok(Some(san)) = parsed.subject_alternative_name() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: Option<IpAddr> = host.parse().ok();
    san.value.general_names.iter().any(|name| match name {
        x509_parser::extensions::GeneralName::IPAddress(bytes) => match (ip, bytes.len()) {
            (Some(IpAddr::V4(v4)), 4) => v4.octets() == **bytes,
            (Some(IpAddr::V6(v6)), 16) => v6.octets() == **bytes,
            _ => false,
        },
        x509_parser::extensions::GeneralName::DNSName(dns) if ip.is_none() => {
            dns_name_matches(dns, host)
        }
        _ => false,
    })
}

fn dns_name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

/// What went wrong reading a PKCS#7 message, with the byte offset.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("malformed PKCS#7 at byte {offset}: {reason}")]
pub struct Pkcs7Error {
    /// Offset into the DER input.
    pub offset: usize,
    /// What is wrong.
    pub reason: &'static str,
}

/// One DER element: tag byte, content, and the whole encoding.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    whole: &'a [u8],
    /// Offset of the content in the original input.
    content_offset: usize,
}

/// Reads one DER TLV from `input` (located at `base` in the original input).
fn read_tlv(input: &[u8], base: usize) -> Result<(Tlv<'_>, &[u8], usize), Pkcs7Error> {
    let err = |at: usize, reason| Pkcs7Error {
        offset: base + at,
        reason,
    };
    let tag = *input.first().ok_or(err(0, "unexpected end of input"))?;
    if tag & 0x1f == 0x1f {
        return Err(err(0, "multi-byte tags are not used in PKCS#7"));
    }
    let first = *input.get(1).ok_or(err(1, "missing length"))?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else if first == 0x80 {
        return Err(err(1, "indefinite length (BER) is not DER"));
    } else {
        let n = usize::from(first & 0x7f);
        if n > 4 {
            return Err(err(1, "length field longer than 4 bytes"));
        }
        let bytes = input.get(2..2 + n).ok_or(err(2, "truncated length"))?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + n)
    };
    let end = header
        .checked_add(len)
        .filter(|end| *end <= input.len())
        .ok_or(err(1, "length runs past the end of the input"))?;
    Ok((
        Tlv {
            tag,
            content: &input[header..end],
            whole: &input[..end],
            content_offset: base + header,
        },
        &input[end..],
        base + end,
    ))
}

fn expect_tlv<'a>(
    input: &'a [u8],
    base: usize,
    tag: u8,
    reason: &'static str,
) -> Result<(Tlv<'a>, &'a [u8], usize), Pkcs7Error> {
    let (tlv, rest, next) = read_tlv(input, base)?;
    if tlv.tag != tag {
        return Err(Pkcs7Error {
            offset: base,
            reason,
        });
    }
    Ok((tlv, rest, next))
}

/// DER of the OID 1.2.840.113549.1.7.2 (PKCS#7 signedData).
const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];

/// Extracts the certificates of a DER PKCS#7 `SignedData` (the "certs-only" form the
/// controller serves at `/.well-known/est/cacerts`).
pub fn parse_pkcs7_certificates(der: &[u8]) -> Result<Vec<CertificateDer<'static>>, Pkcs7Error> {
    let (content_info, rest, _) = expect_tlv(der, 0, 0x30, "ContentInfo is not a SEQUENCE")?;
    if !rest.is_empty() {
        return Err(Pkcs7Error {
            offset: der.len() - rest.len(),
            reason: "trailing bytes after ContentInfo",
        });
    }
    let base = content_info.content_offset;
    let (oid, rest, next) =
        expect_tlv(content_info.content, base, 0x06, "missing contentType OID")?;
    if oid.content != OID_SIGNED_DATA {
        return Err(Pkcs7Error {
            offset: oid.content_offset,
            reason: "contentType is not signedData",
        });
    }
    let (explicit, _, _) = expect_tlv(rest, next, 0xa0, "missing [0] content")?;
    let (signed_data, _, _) = expect_tlv(
        explicit.content,
        explicit.content_offset,
        0x30,
        "SignedData is not a SEQUENCE",
    )?;
    let base = signed_data.content_offset;
    let (_, rest, next) = expect_tlv(signed_data.content, base, 0x02, "missing version INTEGER")?;
    let (_, rest, next) = expect_tlv(rest, next, 0x31, "missing digestAlgorithms SET")?;
    let (_, rest, next) = expect_tlv(rest, next, 0x30, "missing encapContentInfo SEQUENCE")?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let (certs, _, _) = read_tlv(rest, next)?;
    if certs.tag != 0xa0 {
        // No [0] certificates (the next element is crls or signerInfos).
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut input = certs.content;
    let mut offset = certs.content_offset;
    while !input.is_empty() {
        let (cert, rest, next) = read_tlv(input, offset)?;
        // Only plain X.509 certificates; other CertificateChoices are tagged differently.
        if cert.tag == 0x30 {
            out.push(CertificateDer::from(cert.whole.to_vec()));
        }
        input = rest;
        offset = next;
    }
    Ok(out)
}

/// Decodes the body of `GET /.well-known/est/cacerts`: base64 (line breaks allowed) of a DER
/// PKCS#7. A body that is already DER is accepted too.
pub fn decode_cacerts_body(body: &[u8]) -> Result<Vec<CertificateDer<'static>>, EnrollError> {
    let bad = |reason: String| EnrollError::CaBundle { reason };
    let der = if body.first() == Some(&0x30) {
        body.to_vec()
    } else {
        let compact: Vec<u8> = body
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(&compact)
            .map_err(|e| bad(format!("the body is not base64: {e}")))?
    };
    let certs = parse_pkcs7_certificates(&der).map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("the PKCS#7 bundle holds no certificate".into()));
    }
    Ok(certs)
}

/// PEM-encodes DER with `label` (`CERTIFICATE`), 64-character lines.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The kind of key to generate for the identity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA P-256 (what the C SDK uses).
    #[default]
    EcP256,
    /// RSA 2048 bits.
    Rsa2048,
    /// RSA 4096 bits.
    Rsa4096,
}

impl FromStr for KeyType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ec" | "ec-p256" | "p256" => Ok(KeyType::EcP256),
            "rsa" | "rsa2048" | "rsa-2048" => Ok(KeyType::Rsa2048),
            "rsa4096" | "rsa-4096" => Ok(KeyType::Rsa4096),
            other => Err(format!(
                "unknown key type {other:?}; use ec, rsa (2048 bits) or rsa4096"
            )),
        }
    }
}

/// Makes the identity's key pair.
pub fn generate_key(kind: KeyType) -> Result<rcgen::KeyPair, EnrollError> {
    let fail = |e: &dyn fmt::Display| EnrollError::KeyGeneration {
        reason: e.to_string(),
    };
    match kind {
        KeyType::EcP256 => {
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| fail(&e))
        }
        KeyType::Rsa2048 | KeyType::Rsa4096 => {
            use rsa::pkcs8::EncodePrivateKey as _;
            let bits = if kind == KeyType::Rsa2048 { 2048 } else { 4096 };
            let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, bits).map_err(|e| fail(&e))?;
            let der = key.to_pkcs8_der().map_err(|e| fail(&e))?;
            let pkcs8 = rustls::pki_types::PrivatePkcs8KeyDer::from(der.as_bytes().to_vec());
            rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256)
                .map_err(|e| fail(&e))
        }
    }
}

/// A PEM certificate signing request for identity `subject` (the JWT `sub`).
pub fn certificate_request(key: &rcgen::KeyPair, subject: &str) -> Result<String, EnrollError> {
    let fail = |e: rcgen::Error| EnrollError::KeyGeneration {
        reason: e.to_string(),
    };
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::OrganizationName, "OpenZiti");
    dn.push(rcgen::DnType::CommonName, subject);
    params.distinguished_name = dn;
    params
        .serialize_request(key)
        .map_err(fail)?
        .pem()
        .map_err(fail)
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
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    fn claims(exp: u64) -> serde_json::Value {
        serde_json::json!({"iss":"https://127.0.0.1:1280","sub":"id-1","jti":"7c3e-uuid","em":"ott","exp":exp,"aud":[""]})
    }

    /// A certificate for 127.0.0.1 whose key signs JWTs with `alg`.
    fn signer(
        alg: &'static rcgen::SignatureAlgorithm,
    ) -> (rcgen::KeyPair, CertificateDer<'static>) {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let params = rcgen::CertificateParams::new(vec![
            "127.0.0.1".to_string(),
            "ctrl.example".to_string(),
        ])
        .unwrap();
        let cert = params.self_signed(&key).unwrap();
        (key, cert.der().clone())
    }

    fn sign_es(
        key: &rcgen::KeyPair,
        alg: &'static ring::signature::EcdsaSigningAlgorithm,
        input: &str,
    ) -> Vec<u8> {
        let rng = ring::rand::SystemRandom::new();
        let pair =
            ring::signature::EcdsaKeyPair::from_pkcs8(alg, &key.serialize_der(), &rng).unwrap();
        pair.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec()
    }

    fn jwt(header: &serde_json::Value, claims: &serde_json::Value, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64(header),
            b64(claims),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    fn es256_jwt(key: &rcgen::KeyPair, claims: &serde_json::Value) -> String {
        let header = serde_json::json!({"alg":"ES256","typ":"JWT","kid":"ab"});
        let input = format!("{}.{}", b64(&header), b64(claims));
        let sig = sign_es(
            key,
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &input,
        );
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    #[test]
    fn parses_and_verifies_es256() {
        let (key, cert) = signer(&rcgen::PKCS_ECDSA_P256_SHA256);
        let token = es256_jwt(&key, &claims(4_000_000_000));
        let parsed = EnrollmentJwt::parse(&format!("  {token}\n")).unwrap();
        assert_eq!(parsed.alg, JwtAlgorithm::Es256);
        assert_eq!(parsed.kid.as_deref(), Some("ab"));
        assert_eq!(parsed.claims.iss, "https://127.0.0.1:1280");
        assert_eq!(parsed.claims.jti, "7c3e-uuid");
        assert_eq!(parsed.claims.em, EnrollmentMethod::Ott);
        parsed.verify_with_certificate(&cert).unwrap();
        parsed.check_not_expired(1_700_000_000).unwrap();
        parsed.check_method().unwrap();
        assert!(!format!("{parsed:?}").contains("7c3e"));
    }

    #[test]
    fn es256_der_signature_is_accepted() {
        let (key, cert) = signer(&rcgen::PKCS_ECDSA_P256_SHA256);
        let header = serde_json::json!({"alg":"ES256"});
        let c = claims(4_000_000_000);
        let input = format!("{}.{}", b64(&header), b64(&c));
        let sig = sign_es(
            &key,
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &input,
        );
        EnrollmentJwt::parse(&jwt(&header, &c, &sig))
            .unwrap()
            .verify_with_certificate(&cert)
            .unwrap();
    }

    #[test]
    fn es384_verifies_and_wrong_curve_is_refused() {
        let (key, cert) = signer(&rcgen::PKCS_ECDSA_P384_SHA384);
        let header = serde_json::json!({"alg":"ES384"});
        let c = claims(4_000_000_000);
        let input = format!("{}.{}", b64(&header), b64(&c));
        let sig = sign_es(
            &key,
            &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            &input,
        );
        let parsed = EnrollmentJwt::parse(&jwt(&header, &c, &sig)).unwrap();
        parsed.verify_with_certificate(&cert).unwrap();
        let (_, p256_cert) = signer(&rcgen::PKCS_ECDSA_P256_SHA256);
        assert!(matches!(
            parsed.verify_with_certificate(&p256_cert),
            Err(EnrollError::SignatureMismatch { .. })
        ));
    }

    #[test]
    fn tampered_claims_or_other_key_fail_verification() {
        let (key, cert) = signer(&rcgen::PKCS_ECDSA_P256_SHA256);
        let token = es256_jwt(&key, &claims(4_000_000_000));
        let parts: Vec<&str> = token.split('.').collect();
        let mut evil = claims(4_000_000_000);
        evil["sub"] = "someone-else".into();
        let tampered = format!("{}.{}.{}", parts[0], b64(&evil), parts[2]);
        let err = EnrollmentJwt::parse(&tampered)
            .unwrap()
            .verify_with_certificate(&cert)
            .unwrap_err();
        assert!(
            matches!(err, EnrollError::SignatureMismatch { .. }),
            "{err}"
        );
        let (_, other_cert) = signer(&rcgen::PKCS_ECDSA_P256_SHA256);
        assert!(EnrollmentJwt::parse(&token)
            .unwrap()
            .verify_with_certificate(&other_cert)
            .is_err());
    }

    #[test]
    fn expiry_and_method_checks() {
        let (key, _) = signer(&rcgen::PKCS_ECDSA_P256_SHA256);
        let parsed = EnrollmentJwt::parse(&es256_jwt(&key, &claims(1000))).unwrap();
        assert!(matches!(
            parsed.check_not_expired(1000),
            Err(EnrollError::Expired {
                expired_at: 1000,
                now: 1000
            })
        ));
        parsed.check_not_expired(999).unwrap();
        let mut c = claims(4_000_000_000);
        c["em"] = "ottca".into();
        let parsed = EnrollmentJwt::parse(&es256_jwt(&key, &c)).unwrap();
        let err = parsed.check_method().unwrap_err();
        assert!(err.to_string().contains("ottca"), "{err}");
    }

    #[test]
    fn malformed_jwts() {
        let h = b64(&serde_json::json!({"alg":"ES256"}));
        let c = b64(&claims(5));
        let cases: Vec<String> = vec![
            String::new(),
            "   ".into(),
            "abc".into(),
            "a.b".into(),
            "a.b.c.d".into(),
            format!("{h}.{c}."),
            format!("!!!.{c}.AAAA"),
            format!("{h}.%%%.AAAA"),
            format!("{}.{c}.AAAA", b64(&serde_json::json!("text"))),
            format!("{h}.{}.AAAA", b64(&serde_json::json!({"iss":"x"}))),
            format!(
                "{h}.{}.AAAA",
                b64(&serde_json::json!({"iss":"x","sub":"s","jti":"j","em":"ott","exp":-1}))
            ),
            format!(
                "{h}.{}.AAAA",
                b64(&serde_json::json!({"iss":"x","sub":"s","jti":"j","em":"ott","exp":"soon"}))
            ),
            format!(
                "{h}.{}.AAAA",
                b64(&serde_json::json!({"iss":"","sub":"s","jti":"j","em":"ott","exp":1}))
            ),
            format!(
                "{h}.{}.AAAA",
                b64(&serde_json::json!({"iss":"x","sub":"s","jti":" ","em":"ott","exp":1}))
            ),
            format!("{}.{c}.AAAA", URL_SAFE_NO_PAD.encode(b"{\"alg\":")),
            "x".repeat(MAX_JWT_BYTES + 1),
        ];
        for case in &cases {
            let err = EnrollmentJwt::parse(case).unwrap_err();
            assert!(
                matches!(err, EnrollError::JwtMalformed { .. }),
                "{case:?} gave {err}"
            );
        }
        for alg in ["none", "HS256", "ES512", "PS256", ""] {
            let t = format!("{}.{c}.AAAA", b64(&serde_json::json!({ "alg": alg })));
            assert!(
                matches!(
                    EnrollmentJwt::parse(&t),
                    Err(EnrollError::UnsupportedAlgorithm { .. })
                ),
                "{alg}"
            );
        }
    }

    #[test]
    fn host_matching() {
        let (_, cert) = signer(&rcgen::PKCS_ECDSA_P256_SHA256);
        assert!(certificate_matches_host(&cert, "127.0.0.1"));
        assert!(certificate_matches_host(&cert, "CTRL.example"));
        assert!(!certificate_matches_host(&cert, "127.0.0.2"));
        assert!(!certificate_matches_host(&cert, "other.example"));
        assert!(!certificate_matches_host(
            &CertificateDer::from(vec![1, 2, 3]),
            "127.0.0.1"
        ));
        assert!(dns_name_matches("*.example", "a.example"));
        assert!(!dns_name_matches("*.example", "a.b.example"));
        assert!(!dns_name_matches("*.example", "example"));
    }

    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else if len < 0x100 {
            out.extend([0x81, len as u8]);
        } else {
            out.extend([0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    /// A degenerate certs-only SignedData, laid out as RFC 2315 describes it.
    fn certs_only(certs: &[&[u8]]) -> Vec<u8> {
        let version = der(0x02, &[1]);
        let digest_algs = der(0x31, &[]);
        let data_oid = der(
            0x06,
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01],
        );
        let encap = der(0x30, &data_oid);
        let cert_set = der(0xa0, &certs.concat());
        let signer_infos = der(0x31, &[]);
        let signed_data = der(
            0x30,
            &[version, digest_algs, encap, cert_set, signer_infos].concat(),
        );
        let content = der(0xa0, &signed_data);
        der(0x30, &[der(0x06, OID_SIGNED_DATA), content].concat())
    }

    #[test]
    fn pkcs7_certs_only_round_trip() {
        let (_, a) = signer(&rcgen::PKCS_ECDSA_P256_SHA256);
        let (_, b) = signer(&rcgen::PKCS_ECDSA_P384_SHA384);
        let p7 = certs_only(&[a.as_ref(), b.as_ref()]);
        let certs = parse_pkcs7_certificates(&p7).unwrap();
        assert_eq!(certs, vec![a.clone(), b.clone()]);
        // base64 with 64-character lines, as the controller sends it
        let text = base64::engine::general_purpose::STANDARD.encode(&p7);
        let wrapped: String = text
            .as_bytes()
            .chunks(64)
            .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
            .collect();
        assert_eq!(decode_cacerts_body(wrapped.as_bytes()).unwrap().len(), 2);
        assert_eq!(decode_cacerts_body(&p7).unwrap().len(), 2);
        // PEM round trip of one cert
        let pem = pem_encode("CERTIFICATE", a.as_ref());
        let back: Vec<CertificateDer> = rustls_pemfile::certs(&mut pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, vec![a]);
    }

    #[test]
    fn malformed_pkcs7() {
        let (_, a) = signer(&rcgen::PKCS_ECDSA_P256_SHA256);
        let good = certs_only(&[a.as_ref()]);
        let mut wrong_oid = good.clone();
        let at = good
            .windows(OID_SIGNED_DATA.len())
            .position(|w| w == OID_SIGNED_DATA)
            .unwrap();
        wrong_oid[at + OID_SIGNED_DATA.len() - 1] = 0x03;
        let mut trailing = good.clone();
        trailing.push(0);
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x30],
            vec![0x30, 0x80, 0x00, 0x00],
            vec![0x30, 0x85, 1, 1, 1, 1, 1],
            vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            vec![0x1f, 0x01, 0x00],
            vec![0x31, 0x00],
            good[..good.len() - 1].to_vec(),
            good[..good.len() / 2].to_vec(),
            wrong_oid,
            trailing,
            der(0x30, &der(0x06, OID_SIGNED_DATA)),
            der(
                0x30,
                &[der(0x06, OID_SIGNED_DATA), der(0xa0, &der(0x31, &[]))].concat(),
            ),
        ];
        for case in &cases {
            assert!(
                parse_pkcs7_certificates(case).is_err(),
                "{case:02x?} accepted"
            );
        }
        let empty = certs_only(&[]);
        assert_eq!(parse_pkcs7_certificates(&empty).unwrap(), vec![]);
        assert!(matches!(
            decode_cacerts_body(&empty),
            Err(EnrollError::CaBundle { .. })
        ));
        assert!(matches!(
            decode_cacerts_body(b"not base64 !"),
            Err(EnrollError::CaBundle { .. })
        ));
    }

    #[test]
    fn csr_carries_subject_and_key() {
        let key = generate_key(KeyType::EcP256).unwrap();
        let pem = certificate_request(&key, "id-1").unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        let der: Vec<u8> = rustls_pemfile::csr(&mut pem.as_bytes())
            .unwrap()
            .unwrap()
            .as_ref()
            .to_vec();
        use x509_parser::prelude::FromDer as _;
        let (_, csr) =
            x509_parser::certification_request::X509CertificationRequest::from_der(&der).unwrap();
        let cn = csr
            .certification_request_info
            .subject
            .iter_common_name()
            .next()
            .unwrap();
        assert_eq!(cn.as_str().unwrap(), "id-1");
        assert_eq!(
            csr.certification_request_info
                .subject_pki
                .subject_public_key
                .data
                .as_ref(),
            key.public_key_raw()
        );
    }

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
    fn key_types_parse() {
        assert_eq!("ec".parse::<KeyType>().unwrap(), KeyType::EcP256);
        assert_eq!("RSA".parse::<KeyType>().unwrap(), KeyType::Rsa2048);
        assert_eq!("rsa4096".parse::<KeyType>().unwrap(), KeyType::Rsa4096);
        assert!("dsa".parse::<KeyType>().is_err());
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
