//! Shared by the OIDC tests: an HTTPS client that sets `Host` itself and does not follow
//! redirects (on [`super::request`]), PKCE material, and the certificate login of
//! openziti/ziti's `edge-oidc` API step by step (authorize → login page →
//! POST /oidc/login/cert → callback → token endpoint).

use std::net::SocketAddr;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use super::Reply;

/// The redirect URI sdk-golang v1.9.0 uses.
pub const REDIRECT: &str = "http://localhost:8080/auth/callback";

/// A client of one controller with one TLS configuration and one `Host` value.
#[derive(Clone)]
pub struct OidcClient {
    pub tls: Arc<rustls::ClientConfig>,
    pub addr: SocketAddr,
    pub host: String,
}

impl OidcClient {
    pub fn new(tls: Arc<rustls::ClientConfig>, addr: SocketAddr) -> Self {
        OidcClient {
            tls,
            addr,
            host: addr.to_string(),
        }
    }

    /// This client with another `Host` header value.
    pub fn with_host(&self, host: &str) -> Self {
        OidcClient {
            host: host.to_owned(),
            ..self.clone()
        }
    }

    /// One request on a new TLS connection (10 s bound).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        super::request(
            &self.tls, self.addr, &self.host, method, path, headers, body,
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], Vec::new()).await
    }

    /// `GET path` with `Authorization: Bearer <token>`.
    pub async fn get_with_bearer(&self, path: &str, token: &str) -> Reply {
        self.get_with_authorization(path, &format!("Bearer {token}"))
            .await
    }

    /// `GET path` with this `Authorization` value as it is (garbage included).
    pub async fn get_with_authorization(&self, path: &str, authorization: &str) -> Reply {
        self.send("GET", path, &[("authorization", authorization)], Vec::new())
            .await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.send(
            "POST",
            path,
            &[("content-type", "application/x-www-form-urlencoded")],
            body.into_bytes(),
        )
        .await
    }

    /// `GET /oidc/authorize` with the usual parameters and `challenge`.
    pub async fn authorize(&self, client_id: &str, redirect: &str, challenge: &str) -> Reply {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("client_id", client_id),
                ("response_type", "code"),
                ("scope", "openid offline_access"),
                ("state", "state-1"),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
                ("redirect_uri", redirect),
                ("nonce", "nonce-1"),
            ])
            .finish();
        self.get(&format!("/oidc/authorize?{query}")).await
    }

    /// Authorize → login → callback; the code (state checked).
    pub async fn code(&self, client_id: &str, challenge: &str) -> String {
        self.code_and_request_id(client_id, challenge).await.0
    }

    /// [`code`](Self::code), and the auth request id it went through.
    pub async fn code_and_request_id(&self, client_id: &str, challenge: &str) -> (String, String) {
        let r = self.authorize(client_id, REDIRECT, challenge).await;
        assert_eq!(r.status, 302, "{:?}", r.body);
        let login = r.location();
        assert!(
            login.starts_with("/oidc/login/cert?authRequestID="),
            "{login}"
        );
        let page = self.get(&login).await;
        assert_eq!(page.status, 200);
        let id = page.headers["auth-request-id"].to_str().unwrap().to_owned();
        assert_eq!(login, format!("/oidc/login/cert?authRequestID={id}"));
        let r = self
            .post_form(
                "/oidc/login/cert",
                &[("id", &id), ("configTypes", "all"), ("sdkType", "test")],
            )
            .await;
        assert_eq!(r.status, 302, "{:?}", r.body);
        let callback = r.location();
        assert_eq!(callback, format!("/oidc/authorize/callback?id={id}"));
        let r = self.get(&callback).await;
        assert_eq!(r.status, 302, "{:?}", r.body);
        let to = r.location();
        let query = to
            .strip_prefix(&format!("{REDIRECT}?"))
            .unwrap_or_else(|| panic!("callback went to {to}"));
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("state").as_deref(), Some("state-1"));
        (get("code").expect("no code in the callback redirect"), id)
    }

    /// The code exchange.
    pub async fn exchange_code(&self, code: &str, verifier: &str, client_id: &str) -> Reply {
        self.post_form(
            "/oidc/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("client_id", client_id),
                ("code_verifier", verifier),
                ("code", code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await
    }

    /// The `refresh_token` grant for client `openziti`.
    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.post_form(
            "/oidc/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "openziti"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    /// The whole login; the token response JSON.
    pub async fn login(&self) -> Value {
        let (verifier, challenge) = pkce();
        let code = self.code("openziti", &challenge).await;
        let r = self.exchange_code(&code, &verifier, "openziti").await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.json()
    }

    /// RFC 8693 exchange of `subject` (a refresh token) for `requested`, client id in Basic
    /// auth as zitadel's token exchanger sends it.
    pub async fn token_exchange(
        &self,
        subject: &str,
        subject_type: &str,
        requested: &str,
    ) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", subject),
                ("subject_token_type", subject_type),
                ("requested_token_type", requested),
            ])
            .finish();
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("native:")
        );
        self.send(
            "POST",
            "/oidc/oauth/token",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", &basic),
            ],
            body.into_bytes(),
        )
        .await
    }
}

/// A fresh PKCE verifier (43+ characters) and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid_like(),
        uuid_like() // 64 characters of [0-9a-f-]
    );
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    (verifier, challenge)
}

fn uuid_like() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut b).unwrap();
    hex_encode(&b)
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The claims of a JWT, unverified.
pub fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The header of a JWT.
pub fn jwt_header(jwt: &str) -> Value {
    let part = jwt.split('.').next().expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Lowercase hex SHA-1 of `der` (the `z_cfs` format), computed here independently.
pub fn sha1_hex(der: &[u8]) -> String {
    hex_encode(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref())
}
