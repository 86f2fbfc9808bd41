//! The lab controller's JWTs, RS256-signed with the controller TLS server key, `kid` = hex
//! SHA-1 of the controller certificate DER (what SDKs verify against the certificate they see
//! in the TLS handshake):
//!
//! * enrollment JWTs (`em: "ott"`), [`EnrollmentClaims`];
//! * service session tokens, [`ServiceAccessClaims`]: since controller 1.7 `POST /sessions`
//!   answers with a signed JWT as `data.token` (openziti/ziti v2.0.3
//!   `controller/model/session_manager.go` `CreateJwt`), which SDKs present to routers in
//!   Connect and Bind and Go SDKs decode (`z_t = "s"`, `sub` = service id).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::LabError;

/// Claims of an enrollment JWT.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnrollmentClaims {
    /// `https://host:port` of the controller (becomes the identity's `ztAPI`).
    pub iss: String,
    /// Identity id.
    pub sub: String,
    /// One-time enrollment token, sent back as `?token=`.
    pub jti: String,
    /// Enrollment method, always `ott` here.
    pub em: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Audience, `[""]` like the real controller.
    pub aud: Vec<String>,
}

/// Claims of a service session token, as a 2.x controller writes them for a session created
/// under a legacy (certificate-authenticated) API session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceAccessClaims {
    /// `https://host:port` of the controller.
    pub iss: String,
    /// The service id.
    pub sub: String,
    /// Audience, `["openziti"]`.
    pub aud: Vec<String>,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// The service session id.
    pub jti: String,
    /// Expiry, Unix seconds (a year on: the API session bounds its use).
    pub exp: i64,
    /// The API session id.
    pub z_asid: String,
    /// The identity id.
    pub z_iid: String,
    /// Token type, `"s"` (service access).
    pub z_t: String,
    /// Session type, `"Dial"` or `"Bind"`.
    pub z_st: String,
    /// True: backed by a stored session of a legacy API session.
    pub z_leg: bool,
}

/// Signs the lab's JWTs with the controller's RSA key.
pub struct EnrollmentSigner {
    key: ring::signature::RsaKeyPair,
    kid: String,
}

impl std::fmt::Debug for EnrollmentSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollmentSigner")
            .field("kid", &self.kid)
            .finish()
    }
}

impl EnrollmentSigner {
    /// From the controller key (PKCS#8 DER) and certificate (DER).
    pub fn new(key_pkcs8: &[u8], cert_der: &[u8]) -> Result<Self, LabError> {
        let key = ring::signature::RsaKeyPair::from_pkcs8(key_pkcs8)
            .map_err(|e| LabError::pki("loading the JWT signing key", e))?;
        let kid = hex::encode(ring::digest::digest(
            &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            cert_der,
        ));
        Ok(EnrollmentSigner { key, kid })
    }

    /// The `kid` header value.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The RSA public key as JWK `n` and `e` (base64url, big-endian, no leading zeros).
    pub fn public_jwk_parts(&self) -> (String, String) {
        let parts = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(self.key.public());
        let trim = |b: &[u8]| {
            let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
            URL_SAFE_NO_PAD.encode(&b[start..])
        };
        (trim(&parts.n), trim(&parts.e))
    }

    /// Encodes and signs enrollment `claims`.
    pub fn sign(&self, claims: &EnrollmentClaims) -> Result<String, LabError> {
        self.sign_claims(claims)
    }

    /// Encodes and signs service session `claims`.
    pub fn sign_service_access(&self, claims: &ServiceAccessClaims) -> Result<String, LabError> {
        self.sign_claims(claims)
    }

    /// Encodes and signs any claim set (the OIDC tokens of [`crate::controller::oidc`]).
    pub fn sign_claims<T: Serialize>(&self, claims: &T) -> Result<String, LabError> {
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let claims_json =
            serde_json::to_vec(claims).map_err(|e| LabError::pki("encoding JWT claims", e))?;
        let mut text = URL_SAFE_NO_PAD.encode(header.to_string());
        text.push('.');
        text.push_str(&URL_SAFE_NO_PAD.encode(claims_json));
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                text.as_bytes(),
                &mut sig,
            )
            .map_err(|e| LabError::pki("signing a JWT", e))?;
        text.push('.');
        text.push_str(&URL_SAFE_NO_PAD.encode(sig));
        Ok(text)
    }
}

/// Why a JWT could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtDecodeError {
    /// Not three base64url parts separated by dots.
    #[error("a JWT has three base64url parts separated by '.'")]
    Shape,
    /// A part is not valid base64url or JSON of the expected shape.
    #[error("JWT {part} is not valid: {message}")]
    Part {
        /// "header", "claims" or "signature".
        part: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The signature does not verify with the given public key.
    #[error("JWT signature does not verify")]
    Signature,
}

/// Decodes an enrollment JWT and verifies its RS256 signature against the SubjectPublicKeyInfo
/// DER of a certificate (`spki_der`). Used by tests and by tools that inspect JWTs.
pub fn decode_and_verify(
    jwt: &str,
    spki_der: &[u8],
) -> Result<(serde_json::Value, EnrollmentClaims), JwtDecodeError> {
    decode_and_verify_as(jwt, spki_der)
}

/// [`decode_and_verify`] for a service session token.
pub fn decode_and_verify_service_access(
    jwt: &str,
    spki_der: &[u8],
) -> Result<(serde_json::Value, ServiceAccessClaims), JwtDecodeError> {
    decode_and_verify_as(jwt, spki_der)
}

/// [`decode_and_verify`] for any claim set `T`.
pub fn decode_and_verify_as<T: serde::de::DeserializeOwned>(
    jwt: &str,
    spki_der: &[u8],
) -> Result<(serde_json::Value, T), JwtDecodeError> {
    let mut parts = jwt.trim().split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtDecodeError::Shape);
    };
    let part = |part: &'static str, text: &str| {
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|e| JwtDecodeError::Part {
                part,
                message: e.to_string(),
            })
    };
    let header: serde_json::Value =
        serde_json::from_slice(&part("header", h)?).map_err(|e| JwtDecodeError::Part {
            part: "header",
            message: e.to_string(),
        })?;
    let claims: T =
        serde_json::from_slice(&part("claims", c)?).map_err(|e| JwtDecodeError::Part {
            part: "claims",
            message: e.to_string(),
        })?;
    let sig = part("signature", s)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("RS256") {
        return Err(JwtDecodeError::Part {
            part: "header",
            message: "alg is not RS256".into(),
        });
    }
    use x509_parser::prelude::FromDer;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der).map_err(|e| {
        JwtDecodeError::Part {
            part: "signature",
            message: format!("bad verification key: {e}"),
        }
    })?;
    let key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        spki.subject_public_key.data.as_ref(),
    );
    let signed_len = h.len() + 1 + c.len();
    key.verify(&jwt.trim().as_bytes()[..signed_len], &sig)
        .map_err(|_| JwtDecodeError::Signature)?;
    Ok((header, claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_jwt_verifies_and_tampering_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::test_support::shared_pki(dir.path());
        let signer =
            EnrollmentSigner::new(pki.controller_key_pkcs8(), pki.controller_cert_der()).unwrap();
        let claims = EnrollmentClaims {
            iss: "https://127.0.0.1:1280".into(),
            sub: "abc".into(),
            jti: "tok".into(),
            em: "ott".into(),
            exp: 2_000_000_000,
            aud: vec![String::new()],
        };
        let jwt = signer.sign(&claims).unwrap();
        use x509_parser::prelude::FromDer;
        let (_, cert) =
            x509_parser::certificate::X509Certificate::from_der(pki.controller_cert_der()).unwrap();
        let spki = cert.public_key().raw;
        let (header, got) = decode_and_verify(&jwt, spki).unwrap();
        assert_eq!(got, claims);
        assert_eq!(header["kid"], signer.kid());
        assert_eq!(signer.kid().len(), 40);

        // Swap claims: signature must fail.
        let mut parts: Vec<&str> = jwt.split('.').collect();
        let other = URL_SAFE_NO_PAD
            .encode(br#"{"iss":"x","sub":"y","jti":"z","em":"ott","exp":1,"aud":[""]}"#);
        parts[1] = &other;
        assert_eq!(
            decode_and_verify(&parts.join("."), spki).unwrap_err(),
            JwtDecodeError::Signature
        );
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.AA"] {
            assert!(decode_and_verify(bad, spki).is_err(), "{bad}");
        }
    }
}
