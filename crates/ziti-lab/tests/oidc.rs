//! The lab controller's `edge-oidc` API over loopback HTTPS: `/version`, the certificate
//! login with PKCE, the tokens' claims, bearer tokens on the client API, refresh and RFC 8693
//! exchange, and the refusals (each with an OAuth error body naming what was wrong).

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::oidc_flow::{claims, jwt_header, pkce, sha1_hex, OidcClient, REDIRECT};
use common::ClientTls;
use serde_json::json;
use ziti_lab::test_support::{ephemeral_config, new_lab};
use ziti_lab::{Lab, LabConfig, RunningLab};

const REFRESH_URN: &str = "urn:ietf:params:oauth:token-type:refresh_token";
const ACCESS_URN: &str = "urn:ietf:params:oauth:token-type:access_token";
const ID_URN: &str = "urn:ietf:params:oauth:token-type:id_token";

struct Fixture {
    _dir: tempfile::TempDir,
    lab: Lab,
    running: RunningLab,
    /// Presents the certificate of identity `client`.
    client: OidcClient,
    /// Presents another certificate of the same identity.
    other_cert: OidcClient,
    /// Presents no certificate.
    anon: OidcClient,
    cert_der: Vec<u8>,
}

impl Fixture {
    async fn new(edit: impl FnOnce(&mut LabConfig)) -> Self {
        let mut config = ephemeral_config();
        config.controller.oidc = true;
        edit(&mut config);
        let (dir, lab) = new_lab(config);
        let running = lab.start().await.unwrap();
        let state = lab.state();
        let ca = state.pki().ca_pem().to_owned();
        let (cert, key) = state.issue_client_cert("client").unwrap();
        let (cert2, key2) = state.issue_client_cert("client").unwrap();
        let addr = running.controller_addr();
        let tls = |c: Option<(&str, &str)>| ClientTls::new(&ca, c, false).config;
        Fixture {
            client: OidcClient::new(tls(Some((&cert.cert_pem, &key))), addr),
            other_cert: OidcClient::new(tls(Some((&cert2.cert_pem, &key2))), addr),
            anon: OidcClient::new(tls(None), addr),
            cert_der: cert.cert_der.clone(),
            _dir: dir,
            lab,
            running,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.running.controller_addr()
    }
}

#[tokio::test]
async fn version_advertises_oidc_exactly_when_it_is_on() {
    let on = Fixture::new(|_| {}).await;
    let v = on.anon.get("/edge/client/v1/version").await.json()["data"].clone();
    assert_eq!(
        v["capabilities"],
        json!(["OIDC_AUTH", "OIDC_AUTH_WITH_CSR"])
    );
    let url = on.running.controller_url().to_owned();
    assert_eq!(
        v["apiVersions"]["edge-oidc"],
        json!({"v1": {"path": "/oidc", "apiBaseUrls": [format!("{url}/oidc")]}})
    );
    assert_eq!(
        v["apiVersions"]["edge-client"]["v1"]["path"],
        "/edge/client/v1"
    );
    let d = on.anon.get("/oidc/.well-known/openid-configuration").await;
    assert_eq!(d.status, 200);
    let d = d.json();
    assert_eq!(d["issuer"], format!("https://{}/oidc", on.addr()));
    assert_eq!(
        d["token_endpoint"],
        format!("https://{}/oidc/oauth/token", on.addr())
    );
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    let keys = on.anon.get("/oidc/keys").await.json();
    assert_eq!(keys["keys"][0]["kty"], "RSA");
    assert_eq!(keys["keys"][0]["kid"].as_str().unwrap().len(), 40);

    let off = Fixture::new(|c| c.controller.oidc = false).await;
    let v = off.anon.get("/version").await.json()["data"].clone();
    assert_eq!(v["capabilities"], json!([]));
    assert!(v["apiVersions"].get("edge-oidc").is_none());
    let (_, challenge) = pkce();
    let r = off.client.authorize("openziti", REDIRECT, &challenge).await;
    assert!(r
        .oauth_error(404, "invalid_request")
        .contains("OIDC is off"));
    // Legacy login stays available with OIDC on.
    let r = on
        .client
        .send(
            "POST",
            "/edge/client/v1/authenticate?method=cert",
            &[("content-type", "application/json")],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn certificate_login_issues_bound_tokens_usable_as_bearer() {
    let f = Fixture::new(|_| {}).await;
    let tokens = f.client.login().await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 1800);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let id = tokens["id_token"].as_str().unwrap();
    let identity = f.lab.state().identity_by_name("client").unwrap();

    let a = claims(access);
    assert_eq!(a["z_t"], "a");
    assert_eq!(a["sub"], identity.id.as_str());
    assert_eq!(a["iss"], format!("https://{}/oidc", f.addr()));
    assert_eq!(a["aud"], json!(["openziti"]));
    assert_eq!(a["z_cfs"], json!([sha1_hex(&f.cert_der)]));
    assert_eq!(a["z_acf"], sha1_hex(&f.cert_der));
    assert_eq!(a["amr"], json!(["cert"]));
    assert_eq!(a["z_ct"], json!(["all"]));
    assert!(a["z_asid"].as_str().is_some_and(|s| !s.is_empty()));
    let now = a["iat"].as_i64().unwrap();
    // Lifetimes count from the next whole second.
    assert!(
        (1800..=1801).contains(&(a["exp"].as_i64().unwrap() - now)),
        "{a}"
    );
    let kid = jwt_header(access)["kid"].as_str().unwrap().to_owned();
    assert_eq!(jwt_header(access)["alg"], "RS256");
    let r = claims(refresh);
    assert_eq!(r["z_t"], "r");
    assert!(
        (86_400..=86_401).contains(&(r["exp"].as_i64().unwrap() - now)),
        "{r}"
    );
    let i = claims(id);
    assert_eq!(i["nonce"], "nonce-1");
    assert_eq!(i["name"], "client");
    assert_eq!(i["sub"], identity.id.as_str());
    assert_eq!(jwt_header(id)["kid"], kid.as_str());

    // Bearer on the client API: the identity and its API session.
    let me = f
        .client
        .get_with_bearer("/edge/client/v1/current-identity", access)
        .await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.json()["data"]["name"], "client");
    let s = f
        .client
        .get_with_bearer("/edge/client/v1/current-api-session", access)
        .await;
    assert_eq!(s.status, 200);
    assert_eq!(s.json()["data"]["id"], a["z_asid"]);
    // The same token from another certificate of the same identity: not bound to it.
    let r = f
        .other_cert
        .get_with_bearer("/edge/client/v1/current-identity", access)
        .await;
    assert_eq!(r.status, 401);
    // Garbage bearer tokens.
    for garbage in ["Bearer x.y.z", "Bearer eyJhbGciOiJub25lIn0.e30.", "Bearer "] {
        let r = f
            .client
            .get_with_authorization("/edge/client/v1/services", garbage)
            .await;
        assert_eq!(r.status, 401, "{garbage}");
    }

    // refresh_token grant, and RFC 8693 exchange for access/refresh and ID tokens.
    let r = f.client.refresh(refresh).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let refreshed = r.json();
    assert_ne!(refreshed["access_token"], tokens["access_token"]);
    assert_eq!(
        claims(refreshed["access_token"].as_str().unwrap())["z_asid"],
        a["z_asid"]
    );
    let r = f
        .client
        .token_exchange(refresh, REFRESH_URN, REFRESH_URN)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let x = r.json();
    assert_eq!(x["issued_token_type"], REFRESH_URN);
    assert_eq!(x["token_type"], "Bearer");
    assert_eq!(claims(x["access_token"].as_str().unwrap())["z_t"], "a");
    assert_eq!(claims(x["refresh_token"].as_str().unwrap())["z_t"], "r");
    let r = f.client.token_exchange(refresh, REFRESH_URN, ID_URN).await;
    assert_eq!(r.status, 200);
    let x = r.json();
    assert_eq!(x["token_type"], "N_A");
    assert_eq!(
        claims(x["access_token"].as_str().unwrap())["name"],
        "client"
    );
    let r = f
        .client
        .token_exchange(access, ACCESS_URN, ACCESS_URN)
        .await;
    assert_eq!(r.status, 200);
    // An access token is not a refresh token, and the reverse.
    f.client
        .token_exchange(access, REFRESH_URN, ACCESS_URN)
        .await
        .oauth_error(400, "invalid_grant");
    // Refreshing from another certificate is refused.
    let d = f
        .other_cert
        .token_exchange(refresh, REFRESH_URN, ACCESS_URN)
        .await
        .oauth_error(403, "access_denied");
    assert!(d.contains("z_cfs"), "{d}");

    // A deleted identity is cut off at its next refresh, and its bearer token stops working.
    f.lab.state().remove_identity("client").unwrap();
    let d = f
        .client
        .token_exchange(refresh, REFRESH_URN, ACCESS_URN)
        .await
        .oauth_error(400, "invalid_grant");
    assert!(d.contains("API session"), "{d}");
    let r = f
        .client
        .get_with_bearer("/edge/client/v1/current-identity", access)
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn malformed_requests_get_clear_oauth_errors() {
    let f = Fixture::new(|_| {}).await;
    let (verifier, challenge) = pkce();
    // Authorize.
    let q = |extra: &str| {
        format!("/oidc/authorize?client_id=openziti&response_type=code&scope=openid&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fauth%2Fcallback{extra}")
    };
    let e = f
        .client
        .get(&q(""))
        .await
        .oauth_error(400, "invalid_request");
    assert!(e.contains("code_challenge is required"), "{e}");
    let e = f
        .client
        .get(&q(&format!(
            "&code_challenge={challenge}&code_challenge_method=plain"
        )))
        .await
        .oauth_error(400, "invalid_request");
    assert!(e.contains("S256"), "{e}");
    let e = f
        .client
        .authorize(
            "openziti",
            "http://evil.example:8080/auth/callback",
            &challenge,
        )
        .await
        .oauth_error(400, "invalid_request");
    assert!(e.contains("redirect_uri"), "{e}");
    f.client
        .authorize("someone", REDIRECT, &challenge)
        .await
        .oauth_error(400, "invalid_client");
    f.client
        .get(&format!("/oidc/authorize?client_id=openziti&response_type=token&scope=openid&redirect_uri={REDIRECT}&code_challenge={challenge}&code_challenge_method=S256"))
        .await
        .oauth_error(400, "unsupported_response_type");
    // Host must be host:port of the controller certificate and listener.
    let port = f.addr().port();
    for host in [
        format!("127.0.0.1:{}", port + 1),
        format!("evil.example:{port}"),
        "127.0.0.1".to_owned(),
    ] {
        let e = f
            .client
            .with_host(&host)
            .authorize("openziti", REDIRECT, &challenge)
            .await
            .oauth_error(404, "invalid_request");
        assert!(e.contains("Host"), "{host}: {e}");
    }
    assert_eq!(
        f.client
            .with_host(&format!("localhost:{port}"))
            .authorize("openziti", REDIRECT, &challenge)
            .await
            .status,
        302
    );
    // Login.
    f.client
        .post_form("/oidc/login/cert", &[("id", "no-such-request")])
        .await
        .oauth_error(400, "invalid_request");
    let r = f.anon.authorize("openziti", REDIRECT, &challenge).await;
    assert!(r
        .location()
        .starts_with("/oidc/login/username?authRequestID="));
    let id = r.location().rsplit('=').next().unwrap().to_owned();
    f.anon
        .post_form("/oidc/login/cert", &[("id", &id)])
        .await
        .oauth_error(401, "access_denied");
    f.client
        .get(&format!("/oidc/authorize/callback?id={id}"))
        .await
        .oauth_error(400, "access_denied");
    let r = f
        .client
        .send(
            "POST",
            "/oidc/login/cert",
            &[("content-type", "text/xml")],
            b"<x/>".to_vec(),
        )
        .await;
    r.oauth_error(415, "invalid_request");

    // Token endpoint.
    let code = f.client.code("openziti", &challenge).await;
    let (other_verifier, _) = pkce();
    let e = f
        .client
        .exchange_code(&code, &other_verifier, "openziti")
        .await
        .oauth_error(400, "invalid_grant");
    assert!(e.contains("code_verifier does not match"), "{e}");
    // The code went with its first use.
    let e = f
        .client
        .exchange_code(&code, &verifier, "openziti")
        .await
        .oauth_error(400, "invalid_grant");
    assert!(e.contains("already used"), "{e}");
    let code = f.client.code("openziti", &challenge).await;
    f.client
        .exchange_code(&code, "", "openziti")
        .await
        .oauth_error(400, "invalid_grant");
    let code = f.client.code("openziti", &challenge).await;
    let e = f
        .client
        .post_form(
            "/oidc/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("client_id", "openziti"),
                ("code_verifier", &verifier),
                ("code", &code),
                ("redirect_uri", "http://localhost:9999/auth/callback"),
            ],
        )
        .await
        .oauth_error(400, "invalid_grant");
    assert!(e.contains("redirect_uri"), "{e}");
    let code = f.client.code("openziti", &challenge).await;
    assert_eq!(
        f.client
            .exchange_code(&code, &verifier, "openziti")
            .await
            .status,
        200
    );
    assert!(f
        .client
        .exchange_code(&code, &verifier, "openziti")
        .await
        .oauth_error(400, "invalid_grant")
        .contains("already used"));
    f.client
        .exchange_code("no-such-code", &verifier, "openziti")
        .await
        .oauth_error(400, "invalid_grant");
    f.client
        .exchange_code("x", &verifier, "unknown-client")
        .await
        .oauth_error(401, "invalid_client");
    f.client
        .post_form(
            "/oidc/oauth/token",
            &[("grant_type", "password"), ("client_id", "openziti")],
        )
        .await
        .oauth_error(400, "unsupported_grant_type");
    f.client
        .send(
            "POST",
            "/oidc/oauth/token",
            &[("content-type", "application/json")],
            b"{\"grant_type\":\"authorization_code\"}".to_vec(),
        )
        .await
        .oauth_error(400, "invalid_request");
    f.client
        .refresh("garbage")
        .await
        .oauth_error(400, "invalid_grant");
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let f = Fixture::new(|c| {
        c.controller.oidc_access_token_secs = 1;
        c.controller.oidc_refresh_token_secs = 2;
    })
    .await;
    let tokens = f.client.login().await;
    assert_eq!(tokens["expires_in"], 1);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let r = f
        .client
        .get_with_bearer("/edge/client/v1/current-identity", access)
        .await;
    assert_eq!(r.status, 401);
    let e = f
        .client
        .token_exchange(refresh, REFRESH_URN, ACCESS_URN)
        .await
        .oauth_error(400, "invalid_grant");
    assert!(e.contains("expired"), "{e}");
}

/// Collects formatted log lines of the current thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_credential_appears_in_the_log() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let f = Fixture::new(|_| {}).await;
    let (verifier, challenge) = pkce();
    let (code, request_id) = f.client.code_and_request_id("openziti", &challenge).await;
    let tokens = f
        .client
        .exchange_code(&code, &verifier, "openziti")
        .await
        .json();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    // Refusals log too: a wrong verifier, a bad bearer, a refresh from the wrong certificate.
    let code2 = f.client.code("openziti", &challenge).await;
    let (wrong, _) = pkce();
    f.client.exchange_code(&code2, &wrong, "openziti").await;
    f.other_cert
        .get_with_bearer("/edge/client/v1/services", &access)
        .await;
    f.other_cert
        .token_exchange(&refresh, REFRESH_URN, ACCESS_URN)
        .await;
    f.client
        .token_exchange(&refresh, REFRESH_URN, ACCESS_URN)
        .await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("OIDC certificate login"),
        "nothing was logged: {log}"
    );
    assert!(log.contains("OIDC token request refused"), "{log}");
    for (what, secret) in [
        ("verifier", verifier.as_str()),
        ("wrong verifier", wrong.as_str()),
        ("code", code.as_str()),
        ("second code", code2.as_str()),
        ("auth request id", request_id.as_str()),
        ("access token", access.as_str()),
        ("refresh token", refresh.as_str()),
        ("challenge", challenge.as_str()),
    ] {
        // The last 24 characters (a JWT's signature end; all JWT headers look alike).
        let probe = &secret[secret.len() - 24..];
        assert!(
            !log.contains(probe),
            "the {what} appears in the log:\n{log}"
        );
    }
}
