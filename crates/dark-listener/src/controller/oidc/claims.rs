//! Reading the claims of a controller-issued JWT without verifying it: the SDK cannot check
//! the controller's signature (it has no key for it) and does not need to; the controller and
//! the routers verify. The SDK reads the expiry to schedule a refresh, the nonce of the ID
//! token, and the certificate fingerprints (`z_cfs`) to tell a token minted for another
//! certificate before a router refuses it.
//!
//! The decoder is strict about shape (three base64url parts, a JSON object header with `alg`,
//! a JSON object payload) and bounded in size, and never panics on input: it is fuzzed
//! (`fuzz/fuzz_targets/oidc_claims.rs`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;

/// Largest token accepted (real access tokens are about 1–2 KB).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Why a token could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Longer than [`MAX_TOKEN_BYTES`].
    #[error("token is {0} bytes, more than the {MAX_TOKEN_BYTES} accepted")]
    TooLong(usize),
    /// Not three dot-separated parts.
    #[error("token is not a JWT: expected 3 dot-separated parts, found {0}")]
    NotAJwt(usize),
    /// A part is not unpadded base64url.
    #[error("token {part} is not base64url: {reason}")]
    Base64 {
        /// `header` or `payload`.
        part: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// A part is not the JSON object it must be.
    #[error("token {part} is not a JSON object of the expected shape: {reason}")]
    Json {
        /// `header` or `payload`.
        part: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// The header names no algorithm or `none`.
    #[error("token header names algorithm {0:?}; a signed token is required")]
    Unsigned(String),
    /// The signature part is empty.
    #[error("token has an empty signature")]
    EmptySignature,
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// `aud` is a string or an array of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    iat: Option<f64>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    z_t: Option<String>,
    #[serde(default)]
    z_cfs: Option<Vec<String>>,
    #[serde(default)]
    z_asid: Option<String>,
}

/// The claims of a controller token that the SDK uses.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenClaims {
    /// Signing algorithm named in the header (`ES256`, `RS256`, …).
    pub algorithm: String,
    /// Key id named in the header.
    pub key_id: Option<String>,
    /// Issuer (`https://host:port/oidc`).
    pub issuer: Option<String>,
    /// Subject: the identity id.
    pub subject: Option<String>,
    /// Audiences (`openziti`, `native`).
    pub audience: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: Option<u64>,
    /// Issue time, seconds since the Unix epoch.
    pub issued_at: Option<u64>,
    /// Nonce (ID tokens).
    pub nonce: Option<String>,
    /// Token type: `a` access, `r` refresh, `s` service session.
    pub token_type: Option<String>,
    /// Fingerprints of the certificates the token is bound to.
    pub cert_fingerprints: Vec<String>,
    /// API session id.
    pub api_session_id: Option<String>,
}

/// Decodes `token`'s header and claims without checking the signature.
pub fn decode_unverified(token: &str) -> Result<TokenClaims, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLong(token.len()));
    }
    let parts: Vec<&str> = token.trim().split('.').collect();
    if parts.len() != 3 {
        return Err(TokenError::NotAJwt(parts.len()));
    }
    let header: Header = json_part(parts[0], "header")?;
    if header.alg.is_empty() || header.alg.eq_ignore_ascii_case("none") {
        return Err(TokenError::Unsigned(header.alg));
    }
    if parts[2].is_empty() {
        return Err(TokenError::EmptySignature);
    }
    let raw: RawClaims = json_part(parts[1], "payload")?;
    let seconds = |v: Option<f64>| v.filter(|s| s.is_finite() && *s >= 0.0).map(|s| s as u64);
    Ok(TokenClaims {
        algorithm: header.alg,
        key_id: header.kid,
        issuer: raw.iss,
        subject: raw.sub,
        audience: match raw.aud {
            None => Vec::new(),
            Some(Audience::One(a)) => vec![a],
            Some(Audience::Many(a)) => a,
        },
        expires_at: seconds(raw.exp),
        issued_at: seconds(raw.iat),
        nonce: raw.nonce,
        token_type: raw.z_t,
        cert_fingerprints: raw.z_cfs.unwrap_or_default(),
        api_session_id: raw.z_asid,
    })
}

fn json_part<T: serde::de::DeserializeOwned>(
    encoded: &str,
    part: &'static str,
) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|e| TokenError::Base64 {
            part,
            reason: e.to_string(),
        })?;
    serde_json::from_slice(&bytes).map_err(|e| TokenError::Json {
        part,
        reason: e.to_string(),
    })
}

impl TokenClaims {
    /// Whether `fingerprint` (any case, with or without `:` separators) is one of the
    /// certificate fingerprints the token is bound to.
    pub fn is_bound_to(&self, fingerprint: &str) -> bool {
        let wanted = normalise_fingerprint(fingerprint);
        self.cert_fingerprints
            .iter()
            .any(|f| normalise_fingerprint(f) == wanted)
    }
}

fn normalise_fingerprint(f: &str) -> String {
    f.chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(payload))
    }

    #[test]
    fn reads_the_claims_the_sdk_uses() {
        // The claim names and shapes of common/oidc_tokens.go (CustomClaims) and the
        // standard OIDC claims.
        let t = token(
            r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#,
            r#"{"iss":"https://127.0.0.1:1280/oidc","sub":"id-1","aud":["openziti"],
                "exp":1767225600,"iat":1767223800,"z_t":"a","z_asid":"as-1",
                "z_cfs":["AB:CD:EF"],"z_sdk":null,"z_env":null,"z_ra":"","z_ice":false}"#,
        );
        let c = decode_unverified(&t).unwrap();
        assert_eq!(c.algorithm, "ES256");
        assert_eq!(c.key_id.as_deref(), Some("k1"));
        assert_eq!(c.subject.as_deref(), Some("id-1"));
        assert_eq!(c.audience, vec!["openziti".to_string()]);
        assert_eq!(c.expires_at, Some(1_767_225_600));
        assert_eq!(c.token_type.as_deref(), Some("a"));
        assert_eq!(c.api_session_id.as_deref(), Some("as-1"));
        assert!(c.is_bound_to("abcdef"));
        assert!(!c.is_bound_to("abcd00"));
        let single = token(r#"{"alg":"RS256"}"#, r#"{"aud":"native","nonce":"n"}"#);
        let c = decode_unverified(&single).unwrap();
        assert_eq!(c.audience, vec!["native".to_string()]);
        assert_eq!(c.nonce.as_deref(), Some("n"));
        assert_eq!(c.expires_at, None);
    }

    #[test]
    fn malformed_tokens_are_errors_not_panics() {
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "3 dot-separated parts"),
            ("a.b".into(), "found 2"),
            ("a.b.c.d".into(), "found 4"),
            ("!!.e30.c2ln".into(), "header is not base64url"),
            (
                format!("{}.e30.c2ln", b64("[1]")),
                "header is not a JSON object",
            ),
            (
                format!("{}.e30.c2ln", b64(r#"{"alg":"none"}"#)),
                "signed token",
            ),
            (format!("{}.e30.c2ln", b64("{}")), "signed token"),
            (
                format!("{}.e30.", b64(r#"{"alg":"ES256"}"#)),
                "empty signature",
            ),
            (
                format!("{}.%%.c2ln", b64(r#"{"alg":"ES256"}"#)),
                "payload is not base64url",
            ),
            (
                token(r#"{"alg":"ES256"}"#, "null"),
                "payload is not a JSON object",
            ),
            (
                token(r#"{"alg":"ES256"}"#, r#"{"exp":"soon"}"#),
                "payload is not a JSON",
            ),
            (
                token(r#"{"alg":"ES256"}"#, r#"{"z_cfs":"x"}"#),
                "payload is not a JSON",
            ),
            ("a".repeat(MAX_TOKEN_BYTES + 1), "more than"),
        ];
        for (input, wanted) in cases {
            let err = decode_unverified(&input).expect_err(&input[..input.len().min(60)]);
            assert!(
                err.to_string().contains(wanted),
                "{input:.60}: {err} does not say {wanted:?}"
            );
        }
        let negative = token(r#"{"alg":"ES256"}"#, r#"{"exp":-5,"iat":1e400}"#);
        let err = decode_unverified(&negative);
        assert!(err.is_err() || err.unwrap().expires_at.is_none());
    }
}
