//! The OIDC tokens of the lab: access (`z_t = "a"`), refresh (`z_t = "r"`) and ID tokens,
//! with the claim set of a ziti 2.x controller (openziti/ziti `common/oidc_tokens.go`
//! `CustomClaims`, `controller/oidc_auth/storage.go` `createAccessToken`), RS256-signed by
//! the controller key (the `kid` the lab's other JWTs carry), and their verification — used by
//! the token endpoint, by REST `Authorization: Bearer` and by the router (hello header 1002,
//! UpdateToken).
//!
//! Certificate binding: `z_cfs` lists the lowercase hex SHA-1 fingerprints of the DER of the
//! certificates the token is bound to (the one that logged in), and `z_acf` that one, as the
//! real controller writes them (`verify.go` `verifyByFingerprint`: `fmt.Sprintf("%x",
//! sha1.Sum(leaf.Raw))`). A verifier given the presenting TLS leaf refuses a token whose
//! `z_cfs` does not list it, and one without `z_cfs`.

use serde::{Deserialize, Serialize};

use crate::jwt::{decode_and_verify_as, EnrollmentSigner, JwtDecodeError};

/// Token type of access tokens.
pub const TYPE_ACCESS: &str = "a";
/// Token type of refresh tokens.
pub const TYPE_REFRESH: &str = "r";
/// The client ids (and audiences) the controller knows: `openziti` and the older `native`.
pub const CLIENT_IDS: [&str; 2] = ["openziti", "native"];
/// Authentication method reference of a certificate login.
pub const AMR_CERT: &str = "cert";

/// Lowercase hex SHA-1 of a certificate's DER: the `z_cfs` fingerprint format.
pub fn cert_sha1_hex(der: &[u8]) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        der,
    ))
}

/// `aud` as JWTs write it: one string or an array of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `aud` names `who`.
    pub fn contains(&self, who: &str) -> bool {
        match self {
            Audience::One(a) => a == who,
            Audience::Many(list) => list.iter().any(|a| a == who),
        }
    }
}

/// The claims of an access or refresh token (the union the real controller writes; unknown
/// claims are ignored when reading).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcClaims {
    /// `https://host:port/oidc`.
    pub iss: String,
    /// The identity id.
    pub sub: String,
    /// The client id the token was issued to.
    pub aud: Audience,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds.
    #[serde(default)]
    pub nbf: i64,
    /// When the identity authenticated, Unix seconds.
    #[serde(default)]
    pub auth_time: i64,
    /// Token id.
    pub jti: String,
    /// The client id.
    #[serde(default)]
    pub client_id: String,
    /// Authentication methods (`["cert"]`).
    #[serde(default)]
    pub amr: Vec<String>,
    /// Space-separated scopes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// The API session id.
    #[serde(default)]
    pub z_asid: String,
    /// Config types asked for at login.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub z_ct: Vec<String>,
    /// The application (client) id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub z_aid: String,
    /// Token type: `a` access, `r` refresh.
    pub z_t: String,
    /// Fingerprints of the certificates the token is bound to.
    #[serde(default)]
    pub z_cfs: Option<Vec<String>>,
    /// Fingerprint of the certificate that authenticated.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub z_acf: String,
    /// Scopes as a list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Address the login came from.
    #[serde(default)]
    pub z_ra: String,
    /// Whether the certificate may be extended.
    #[serde(default)]
    pub z_ice: bool,
    /// Whether a certificate extension was requested.
    #[serde(default)]
    pub z_cer: bool,
    /// Whether a key roll was requested.
    #[serde(default)]
    pub z_ckrr: bool,
    /// Whether the client presented an improper chain.
    #[serde(default)]
    pub z_iccc: bool,
    /// SDK information (not collected by the lab: `null`).
    #[serde(default)]
    pub z_sdk: Option<serde_json::Value>,
    /// Environment information (not collected by the lab: `null`).
    #[serde(default)]
    pub z_env: Option<serde_json::Value>,
}

/// The claims of an ID token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdClaims {
    /// `https://host:port/oidc`.
    pub iss: String,
    /// The identity id.
    pub sub: String,
    /// The client id.
    pub aud: Audience,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// When the identity authenticated.
    pub auth_time: i64,
    /// The nonce of the authorize request (empty when none was sent).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    /// Authorized party: the client id.
    pub azp: String,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// The identity's name (what SDKs show as the identity name).
    pub name: String,
    /// The API session id.
    pub z_asid: String,
}

/// Why a presented token is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Not a JWT of the lab, or the signature does not verify.
    #[error("the token is not a valid JWT signed by this controller: {0}")]
    Malformed(#[from] JwtDecodeError),
    /// Signed with another key id.
    #[error("the token's kid {0:?} is not this controller's signing key")]
    UnknownKey(String),
    /// `exp` has passed.
    #[error("the token expired {0} s ago; refresh it or log in again")]
    Expired(i64),
    /// `aud` names none of the controller's clients.
    #[error("the token's audience is neither \"openziti\" nor \"native\"")]
    WrongAudience,
    /// A refresh token where an access token belongs, or the reverse.
    #[error("the token has type z_t={found:?}, expected {expected:?}")]
    WrongType {
        /// The type needed here.
        expected: &'static str,
        /// The type of the token.
        found: String,
    },
    /// No `z_cfs`: the token is bound to no certificate.
    #[error("the token carries no certificate binding (z_cfs)")]
    Unbound,
    /// No client certificate on the connection.
    #[error("no client certificate was presented; the token is bound to one")]
    NoCertificate,
    /// The presented certificate is not one the token is bound to.
    #[error("the presented client certificate is not one the token is bound to (z_cfs)")]
    CertificateMismatch,
}

/// Verifies `jwt` as a token of `expected_type` signed by `signer`'s key (`spki_der`),
/// unexpired at `now` (Unix seconds), for one of [`CLIENT_IDS`], and bound to `leaf_der`
/// (the presenting certificate).
pub fn verify(
    jwt: &str,
    signer: &EnrollmentSigner,
    spki_der: &[u8],
    expected_type: &'static str,
    leaf_der: Option<&[u8]>,
    now: i64,
) -> Result<OidcClaims, TokenRefusal> {
    let (header, claims): (serde_json::Value, OidcClaims) = decode_and_verify_as(jwt, spki_der)?;
    let kid = header.get("kid").and_then(|k| k.as_str()).unwrap_or("");
    if kid != signer.kid() {
        return Err(TokenRefusal::UnknownKey(kid.to_owned()));
    }
    if claims.z_t != expected_type {
        return Err(TokenRefusal::WrongType {
            expected: expected_type,
            found: claims.z_t,
        });
    }
    if claims.exp <= now {
        return Err(TokenRefusal::Expired(now - claims.exp));
    }
    if !CLIENT_IDS.iter().any(|c| claims.aud.contains(c)) {
        return Err(TokenRefusal::WrongAudience);
    }
    check_binding(&claims, leaf_der)?;
    Ok(claims)
}

/// The certificate-binding check alone (`z_cfs` lists the leaf's SHA-1).
pub fn check_binding(claims: &OidcClaims, leaf_der: Option<&[u8]>) -> Result<(), TokenRefusal> {
    let bound = match &claims.z_cfs {
        Some(list) if !list.is_empty() => list,
        _ => return Err(TokenRefusal::Unbound),
    };
    let leaf = leaf_der.ok_or(TokenRefusal::NoCertificate)?;
    let fp = cert_sha1_hex(leaf);
    if bound.iter().any(|b| b == &fp) {
        Ok(())
    } else {
        Err(TokenRefusal::CertificateMismatch)
    }
}

/// Whether `text` looks like a JWT (three base64url parts) rather than a legacy session token.
pub fn looks_like_jwt(text: &str) -> bool {
    text.starts_with("eyJ") && text.split('.').count() == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(z_t: &str, exp: i64, cfs: Option<Vec<String>>) -> OidcClaims {
        OidcClaims {
            iss: "https://127.0.0.1:1/oidc".into(),
            sub: "id1".into(),
            aud: Audience::Many(vec!["openziti".into()]),
            exp,
            iat: 0,
            nbf: 0,
            auth_time: 0,
            jti: "j".into(),
            client_id: "openziti".into(),
            amr: vec![AMR_CERT.into()],
            scope: String::new(),
            z_asid: "as".into(),
            z_ct: vec![],
            z_aid: String::new(),
            z_t: z_t.into(),
            z_cfs: cfs,
            z_acf: String::new(),
            scopes: vec![],
            z_ra: String::new(),
            z_ice: false,
            z_cer: false,
            z_ckrr: false,
            z_iccc: false,
            z_sdk: None,
            z_env: None,
        }
    }

    #[test]
    fn tokens_verify_and_every_check_can_refuse() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::test_support::shared_pki(dir.path());
        let signer =
            EnrollmentSigner::new(pki.controller_key_pkcs8(), pki.controller_cert_der()).unwrap();
        use x509_parser::prelude::FromDer;
        let (_, cert) =
            x509_parser::certificate::X509Certificate::from_der(pki.controller_cert_der()).unwrap();
        let spki = cert.public_key().raw;
        let leaf = b"leaf certificate der";
        let other = b"another certificate";
        let fp = cert_sha1_hex(leaf);
        assert_eq!(fp.len(), 40);
        let good = signer
            .sign_claims(&claims("a", 2000, Some(vec![fp.clone()])))
            .unwrap();
        assert!(looks_like_jwt(&good));
        assert!(!looks_like_jwt("3f2a5c9e-0000-4000-8000-000000000000"));
        let got = verify(&good, &signer, spki, TYPE_ACCESS, Some(leaf), 1000).unwrap();
        assert_eq!(got.sub, "id1");
        assert_eq!(
            verify(&good, &signer, spki, TYPE_ACCESS, Some(leaf), 2000).unwrap_err(),
            TokenRefusal::Expired(0)
        );
        assert!(matches!(
            verify(&good, &signer, spki, TYPE_REFRESH, Some(leaf), 1000).unwrap_err(),
            TokenRefusal::WrongType { .. }
        ));
        assert_eq!(
            verify(&good, &signer, spki, TYPE_ACCESS, Some(other), 1000).unwrap_err(),
            TokenRefusal::CertificateMismatch
        );
        assert_eq!(
            verify(&good, &signer, spki, TYPE_ACCESS, None, 1000).unwrap_err(),
            TokenRefusal::NoCertificate
        );
        let unbound = signer.sign_claims(&claims("a", 2000, None)).unwrap();
        assert_eq!(
            verify(&unbound, &signer, spki, TYPE_ACCESS, Some(leaf), 1000).unwrap_err(),
            TokenRefusal::Unbound
        );
        let mut foreign = claims("a", 2000, Some(vec![fp]));
        foreign.aud = Audience::One("someone-else".into());
        let foreign = signer.sign_claims(&foreign).unwrap();
        assert_eq!(
            verify(&foreign, &signer, spki, TYPE_ACCESS, Some(leaf), 1000).unwrap_err(),
            TokenRefusal::WrongAudience
        );
        for garbage in ["", "eyJ.x.y", "a.b.c.d", "not a token"] {
            assert!(matches!(
                verify(garbage, &signer, spki, TYPE_ACCESS, Some(leaf), 1000).unwrap_err(),
                TokenRefusal::Malformed(_)
            ));
        }
        // A flipped signature byte.
        let mut tampered = good.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(verify(&tampered, &signer, spki, TYPE_ACCESS, Some(leaf), 1000).is_err());
    }
}
