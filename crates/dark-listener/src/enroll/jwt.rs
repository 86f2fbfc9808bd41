//! The enrollment JWT: parsing, the method and expiry checks, and the signature check with
//! the public key of the controller's leaf certificate (ES256, ES384, RS256), which makes
//! the JWT the trust anchor of enrollment.

use std::fmt;

use base64::Engine as _;
use rustls::pki_types::CertificateDer;
use serde::Deserialize;

use super::EnrollError;

/// Longest JWT accepted, in bytes (real ones are well under 2 KiB).
pub const MAX_JWT_BYTES: usize = 16 * 1024;

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

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    fn claims(exp: u64) -> serde_json::Value {
        serde_json::json!({"iss":"https://127.0.0.1:1280","sub":"id-1","jti":"7c3e-uuid","em":"ott","exp":exp,"aud":[""]})
    }

    /// A certificate for 127.0.0.1 whose key signs JWTs with `alg`.
    pub(in crate::enroll) fn signer(
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
}
