//! The edge client API of the lab, exercised over loopback HTTPS with the lab CA and client
//! certificates, against the JSON shapes of docs/reference/ziti-controller-api.md §3–§4.

mod common;

use std::net::SocketAddr;

use common::{authenticate, current_api_session, send, ClientTls, Reply};
use serde_json::Value;
use ziti_lab::test_support::{ephemeral_config, new_lab};
use ziti_lab::{IdentityDecl, Lab, PolicyType, RunningLab, ServiceDecl, ServicePolicyDecl};

/// Lab material of one test: TLS clients with and without the identity's certificate.
struct Fixture {
    _dir: tempfile::TempDir,
    lab: Lab,
    running: RunningLab,
    anon: ClientTls,
    client: ClientTls,
}

impl Fixture {
    async fn new(identity: &str) -> Self {
        let (dir, lab) = new_lab(ephemeral_config());
        let running = lab.start().await.unwrap();
        let ca = lab.state().pki().ca_pem().to_owned();
        let (cert, key) = lab.state().issue_client_cert(identity).unwrap();
        Fixture {
            anon: ClientTls::new(&ca, None, false),
            client: ClientTls::new(&ca, Some((&cert.cert_pem, &key)), false),
            _dir: dir,
            lab,
            running,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.running.controller_addr()
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let headers: Vec<(&str, &str)> = token.map(|t| vec![("zt-session", t)]).unwrap_or_default();
        send(&self.client, self.addr(), "GET", path, &headers, Vec::new()).await
    }

    /// `GET path` without a client certificate, with `headers`.
    async fn anon_get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        send(&self.anon, self.addr(), "GET", path, headers, Vec::new()).await
    }

    /// `POST path` without a client certificate, with `Content-Type: content_type`.
    async fn anon_post(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        Self::post_over(&self.anon, self.addr(), path, content_type, body).await
    }

    /// `POST path` with the client certificate and `Content-Type: content_type`, no token.
    async fn client_post(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        Self::post_over(&self.client, self.addr(), path, content_type, body).await
    }

    async fn post_over(
        tls: &ClientTls,
        addr: SocketAddr,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        send(
            tls,
            addr,
            "POST",
            path,
            &[("content-type", content_type)],
            body,
        )
        .await
    }

    /// `DELETE path` with the client certificate and the API session `token`.
    async fn delete(&self, path: &str, token: &str) -> Reply {
        let headers = [("zt-session", token)];
        send(
            &self.client,
            self.addr(),
            "DELETE",
            path,
            &headers,
            Vec::new(),
        )
        .await
    }

    async fn post_json(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(t) = token {
            headers.push(("zt-session", t));
        }
        send(
            &self.client,
            self.addr(),
            "POST",
            path,
            &headers,
            body.to_string().into_bytes(),
        )
        .await
    }

    /// Logs in with the client certificate; returns (token, session JSON).
    async fn login(&self, config_types: &[&str]) -> (String, Value) {
        let reply = self
            .post_json(
                "/edge/client/v1/authenticate?method=cert",
                None,
                serde_json::json!({"configTypes": config_types, "sdkInfo": {"type": "test"}}),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let data = reply.json()["data"].clone();
        let token = data["token"].as_str().unwrap().to_owned();
        assert_eq!(reply.headers["zt-session"].to_str().unwrap(), token);
        (token, data)
    }
}

fn assert_common_headers(reply: &Reply, instance_id: &str) {
    assert_eq!(
        reply.headers["ziti-instance-id"].to_str().unwrap(),
        instance_id
    );
    assert!(reply.headers.get("ziti-ctrl-address").is_none());
}

fn assert_timestamp(v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp string: {v}"));
    let b = s.as_bytes();
    assert_eq!(b.len(), 27, "{s}");
    assert!(s.ends_with('Z') && b[10] == b'T' && b[19] == b'.', "{s}");
    assert!(s[20..26].bytes().all(|c| c.is_ascii_digit()), "{s}");
}

fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.content_type(), "application/json");
    let v = reply.json();
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(v["error"]["message"].is_string());
    assert!(v["error"]["requestId"].is_string());
    assert_eq!(v["meta"]["apiVersion"], "0.0.1");
}

#[tokio::test]
async fn version_is_served_on_every_prefix() {
    let f = Fixture::new("client").await;
    let instance = f.lab.state().instance_id().to_owned();
    for path in [
        "/version",
        "/",
        "/edge/client/v1/version",
        "/edge/v1/version",
        "/edge/client/v1/",
    ] {
        let reply = f.anon_get(path, &[]).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.content_type(), "application/json");
        assert_common_headers(&reply, &instance);
        let d = &reply.json()["data"];
        assert!(d["version"].as_str().unwrap().starts_with("v0."));
        assert!(d["buildDate"].is_string() && d["revision"].is_string());
        assert_eq!(d["apiVersions"]["edge"]["v1"]["path"], "/edge/client/v1");
        assert_eq!(
            d["apiVersions"]["edge-client"]["v1"]["path"],
            "/edge/client/v1"
        );
        // OIDC is on by default, as on a ziti 2.x controller (tests/oidc.rs covers it off).
        assert_eq!(d["apiVersions"]["edge-oidc"]["v1"]["path"], "/oidc");
        assert_eq!(
            d["capabilities"],
            serde_json::json!(["OIDC_AUTH", "OIDC_AUTH_WITH_CSR"])
        );
    }
}

#[tokio::test]
async fn tls12_is_offered_and_tls13_preferred() {
    let f = Fixture::new("client").await;
    let ca = f.lab.state().pki().ca_pem().to_owned();
    let tls12 = ClientTls::new(&ca, None, true);
    let r = send(&tls12, f.addr(), "GET", "/version", &[], Vec::new()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.tls_version, Some(rustls::ProtocolVersion::TLSv1_2));
    let r = f.anon_get("/version", &[]).await;
    assert_eq!(r.tls_version, Some(rustls::ProtocolVersion::TLSv1_3));
}

#[tokio::test]
async fn cacerts_is_a_base64_degenerate_pkcs7_holding_the_ca() {
    use base64::Engine;
    let f = Fixture::new("client").await;
    for path in [
        "/.well-known/est/cacerts",
        "/edge/client/v1/.well-known/est/cacerts",
    ] {
        let reply = f
            .anon_get(path, &[("accept", "application/pkcs7-mime")])
            .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.content_type(), "application/pkcs7-mime");
        let text: String = std::str::from_utf8(&reply.body).unwrap().lines().collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap();
        // The CA certificate DER must sit inside the [0] certificates field.
        let ca_der = f.lab.state().pki().ca_der().to_vec();
        let pos = der
            .windows(ca_der.len())
            .position(|w| w == ca_der.as_slice());
        assert!(pos.is_some(), "CA not inside the PKCS#7");
        // openssl, when installed, must list the CA from it.
        if let Ok(out) = std::process::Command::new("openssl")
            .args(["pkcs7", "-print_certs", "-inform", "DER", "-noout"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(&der)?;
                child.wait_with_output()
            })
        {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let listed = String::from_utf8_lossy(&out.stdout);
            assert!(listed.contains("darkscrape lab CA"), "{listed}");
        }
    }
}

#[tokio::test]
async fn authenticate_creates_a_complete_api_session() {
    let f = Fixture::new("client").await;
    let instance = f.lab.state().instance_id().to_owned();
    let (token, s) = f.login(&["intercept.v1"]).await;
    for field in ["id", "token", "identityId", "authenticatorId", "ipAddress"] {
        assert!(s[field].is_string(), "{field}: {s}");
    }
    assert_eq!(s["identity"]["name"], "client");
    assert_eq!(s["configTypes"], serde_json::json!(["intercept.v1"]));
    assert_eq!(s["authQueries"], serde_json::json!([]));
    assert_eq!(s["isCertExtendable"], false);
    assert_eq!(s["expirationSeconds"], 1800);
    for ts in [
        "createdAt",
        "updatedAt",
        "lastActivityAt",
        "cachedLastActivityAt",
        "expiresAt",
    ] {
        assert_timestamp(&s[ts]);
    }
    assert!(!token.starts_with("ey"));

    let reply = f
        .get("/edge/client/v1/current-api-session", Some(&token))
        .await;
    assert_eq!(reply.status, 200);
    assert_common_headers(&reply, &instance);
    assert_eq!(reply.json()["data"]["id"], s["id"]);

    let reply = f
        .delete("/edge/client/v1/current-api-session", &token)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), serde_json::json!({"data": {}, "meta": {}}));
    assert_error(
        &f.get("/current-api-session", Some(&token)).await,
        401,
        "UNAUTHORIZED",
    );
}

#[tokio::test]
async fn authentication_and_session_failures_use_error_envelopes() {
    let f = Fixture::new("client").await;
    // No client certificate.
    let r = f
        .anon_post(
            "/authenticate?method=cert",
            "application/json",
            b"{}".to_vec(),
        )
        .await;
    assert_error(&r, 401, "INVALID_AUTH");
    // Unsupported method.
    assert_error(
        &f.post_json("/authenticate?method=password", None, serde_json::json!({}))
            .await,
        400,
        "INVALID_AUTH_METHOD",
    );
    // Garbage body.
    let r = f
        .client_post(
            "/authenticate?method=cert",
            "application/json",
            b"{nope".to_vec(),
        )
        .await;
    assert_error(&r, 400, "COULD_NOT_PARSE_BODY");
    // Oversized body.
    let r = f
        .client_post(
            "/authenticate?method=cert",
            "application/json",
            vec![b' '; 100 * 1024],
        )
        .await;
    assert_eq!(r.status, 413);
    // Unknown token, missing token.
    assert_error(
        &f.get("/current-identity", Some("not-a-token")).await,
        401,
        "UNAUTHORIZED",
    );
    assert_error(&f.get("/services", None).await, 401, "UNAUTHORIZED");
    // A valid token used over a connection without the certificate that created it.
    let (token, _) = f.login(&[]).await;
    let r = f
        .anon_get("/current-identity", &[("zt-session", &token)])
        .await;
    assert_error(&r, 401, "UNAUTHORIZED");
    // Unknown paths and other APIs.
    for path in [
        "/nope",
        "/edge/management/v1/identities",
        "/fabric/v1/routers",
        "/services/x/y/z",
    ] {
        assert_error(&f.get(path, Some(&token)).await, 404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn api_sessions_expire_after_the_idle_timeout() {
    let mut config = ephemeral_config();
    config.controller.api_session_timeout_secs = 1;
    let (_dir, lab) = new_lab(config);
    let running = lab.start().await.unwrap();
    let ca = lab.state().pki().ca_pem().to_owned();
    let (cert, key) = lab.state().issue_client_cert("client").unwrap();
    let tls = ClientTls::new(&ca, Some((&cert.cert_pem, &key)), false);
    let r = authenticate(&tls, running.controller_addr(), Vec::new()).await;
    let token = r.json()["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["data"]["expirationSeconds"], 1);
    let ok = current_api_session(&tls, running.controller_addr(), &token).await;
    assert_eq!(ok.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let gone = current_api_session(&tls, running.controller_addr(), &token).await;
    assert_error(&gone, 401, "UNAUTHORIZED");
    running.shutdown().await;
}

#[tokio::test]
async fn current_identity_and_edge_routers() {
    let f = Fixture::new("reflectz").await;
    let (token, _) = f.login(&[]).await;
    let r = f
        .get("/edge/client/v1/current-identity", Some(&token))
        .await;
    assert_eq!(r.status, 200);
    let d = &r.json()["data"];
    assert_eq!(d["name"], "reflectz");
    assert_eq!(
        d["id"],
        f.lab.state().identity_by_name("reflectz").unwrap().id
    );
    assert_eq!(d["roleAttributes"], serde_json::json!(["workload"]));
    assert!(d["serviceHostingCosts"].is_object() && d["defaultHostingCost"].is_number());
    assert_timestamp(&d["updatedAt"]);

    let r = f
        .get(
            "/edge/client/v1/current-identity/edge-routers?limit=25&offset=0",
            Some(&token),
        )
        .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(
        v["meta"]["pagination"],
        serde_json::json!({"limit": 25, "offset": 0, "totalCount": 1})
    );
    let er = &v["data"][0];
    let url = format!("tls://127.0.0.1:{}", f.running.router_addr().port());
    assert_eq!(er["supportedProtocols"]["tls"], url);
    assert_eq!(er["urls"]["tls"], url);
    assert_eq!(er["isOnline"], true);
    assert_eq!(er["hostname"], "127.0.0.1");
}

#[tokio::test]
async fn services_list_only_permitted_services_with_every_required_field() {
    let f = Fixture::new("reflectz").await;
    // A second service only the scraper may dial: invisible to reflectz.
    f.lab
        .add_service(ServiceDecl {
            name: "metrics".into(),
            roles: vec![],
            encryption_required: true,
            configs: Default::default(),
        })
        .unwrap();
    f.lab
        .add_service_policy(ServicePolicyDecl {
            name: "scraper-dials-metrics".into(),
            policy_type: PolicyType::Dial,
            identities: vec!["@scraper".into()],
            services: vec!["@metrics".into()],
        })
        .unwrap();
    let (token, _) = f.login(&["intercept.v1"]).await;
    let r = f
        .get("/edge/client/v1/services?limit=25&offset=0", Some(&token))
        .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["meta"]["pagination"]["totalCount"], 1, "{v}");
    let s = &v["data"][0];
    assert_eq!(s["name"], "echo");
    assert_eq!(s["permissions"], serde_json::json!(["Bind"]));
    assert_eq!(s["postureQueries"], serde_json::json!([]));
    assert_eq!(s["encryptionRequired"], false);
    assert_eq!(
        s["config"]["intercept.v1"]["addresses"],
        serde_json::json!(["echo.ziti"])
    );
    assert_timestamp(&s["updatedAt"]);

    // Config types: none asked at login and none in the query -> empty config; `all` -> all.
    let (bare, _) = f.login(&[]).await;
    let v = f.get("/services", Some(&bare)).await.json();
    assert_eq!(v["data"][0]["config"], serde_json::json!({}));
    let v = f.get("/services?configTypes=all", Some(&bare)).await.json();
    assert!(v["data"][0]["config"]["intercept.v1"].is_object());

    // Name filter, percent-encoded as the C SDK sends it.
    let v = f
        .get(
            "/edge/client/v1/services?filter=name=%22echo%22",
            Some(&token),
        )
        .await
        .json();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let v = f
        .get(
            "/edge/client/v1/services?filter=name%3D%22metrics%22",
            Some(&token),
        )
        .await
        .json();
    assert_eq!(
        v["data"].as_array().unwrap().len(),
        0,
        "metrics is not visible to reflectz"
    );
    assert_error(
        &f.get("/services?filter=id%3D3", Some(&token)).await,
        400,
        "INVALID_FILTER",
    );
    assert_error(
        &f.get("/services?limit=x", Some(&token)).await,
        400,
        "INVALID_PAGINATION",
    );

    // Paging.
    let v = f
        .get("/services?limit=1&offset=1", Some(&token))
        .await
        .json();
    assert_eq!(v["data"], serde_json::json!([]));
    assert_eq!(
        v["meta"]["pagination"],
        serde_json::json!({"limit": 1, "offset": 1, "totalCount": 1})
    );

    // Single service and its routers; unknown -> 404.
    let id = s["id"].as_str().unwrap();
    let r = f.get(&format!("/services/{id}"), Some(&token)).await;
    assert_eq!(r.json()["data"]["name"], "echo");
    let r = f
        .get(&format!("/services/{id}/edge-routers"), Some(&token))
        .await;
    assert!(r.json()["data"]["edgeRouters"][0]["supportedProtocols"]["tls"].is_string());
    let scraper = f.lab.state().identity_by_name("scraper").unwrap();
    let metrics_id = f
        .lab
        .state()
        .services_for(&scraper.id)
        .into_iter()
        .find(|(s, _)| s.name == "metrics")
        .unwrap()
        .0
        .id;
    assert_error(
        &f.get(&format!("/services/{metrics_id}"), Some(&token))
            .await,
        404,
        "NOT_FOUND",
    );

    // Service updates.
    let r = f
        .get("/current-api-session/service-updates", Some(&token))
        .await;
    assert_timestamp(&r.json()["data"]["lastChangeAt"]);
}

#[tokio::test]
async fn sessions_follow_service_policies() {
    let f = Fixture::new("reflectz").await;
    let (token, api) = f.login(&[]).await;
    let echo_id = f
        .lab
        .state()
        .services_for(&f.lab.state().identity_by_name("reflectz").unwrap().id)[0]
        .0
        .id
        .clone();

    let r = f
        .post_json(
            "/edge/client/v1/sessions",
            Some(&token),
            serde_json::json!({"serviceId": echo_id, "type": "Bind"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let s = r.json()["data"].clone();
    let st = s["token"].as_str().unwrap();
    // A signed service-access JWT, as 2.x controllers answer (v2.0.3 session_manager.go).
    let (header, claims) = ziti_lab::jwt::decode_and_verify_service_access(
        st,
        &spki_of(f.lab.state().pki().controller_cert_der()),
    )
    .expect("the session token is a JWT signed with the controller key");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims.z_t, "s");
    assert_eq!(claims.z_st, "Bind");
    assert_eq!(claims.sub, echo_id);
    assert_eq!(claims.jti, s["id"].as_str().unwrap());
    assert_eq!(claims.z_asid, api["id"].as_str().unwrap());
    assert_eq!(claims.z_iid, s["identityId"].as_str().unwrap());
    assert_eq!(claims.aud, ["openziti"]);
    assert!(claims.z_leg);
    assert!(claims.exp > claims.iat);
    assert_eq!(s["type"], "Bind");
    assert_eq!(s["serviceId"], echo_id);
    assert_eq!(s["apiSessionId"], api["id"]);
    let url = format!("tls://127.0.0.1:{}", f.running.router_addr().port());
    assert_eq!(s["edgeRouters"][0]["supportedProtocols"]["tls"], url);
    assert_eq!(s["edgeRouters"][0]["urls"]["tls"], url);

    // The router-facing view agrees.
    let seen = f.lab.state().service_session(st).unwrap();
    assert_eq!(seen.session_type, PolicyType::Bind);
    assert_eq!(seen.identity.name, "reflectz");
    assert_eq!(seen.service.name, "echo");

    // Same request again: same session (as the real controller caches per API session).
    let again = f
        .post_json(
            "/sessions",
            Some(&token),
            serde_json::json!({"serviceId": echo_id, "type": "Bind"}),
        )
        .await;
    assert_eq!(again.json()["data"]["id"], s["id"]);

    let got = f
        .get(
            &format!("/sessions/{}", s["id"].as_str().unwrap()),
            Some(&token),
        )
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["data"]["token"], s["token"]);
    assert_error(
        &f.get("/sessions/nope", Some(&token)).await,
        404,
        "NOT_FOUND",
    );

    // Dial is not granted to reflectz: field error like the real controller.
    let r = f
        .post_json(
            "/sessions",
            Some(&token),
            serde_json::json!({"serviceId": echo_id, "type": "Dial"}),
        )
        .await;
    assert_error(&r, 400, "INVALID_FIELD");
    assert_eq!(r.json()["error"]["cause"]["field"], "ServiceId");
    // Unknown service, bad type, missing id.
    assert_error(
        &f.post_json(
            "/sessions",
            Some(&token),
            serde_json::json!({"serviceId": "nope"}),
        )
        .await,
        404,
        "NOT_FOUND",
    );
    assert_error(
        &f.post_json(
            "/sessions",
            Some(&token),
            serde_json::json!({"serviceId": echo_id, "type": "Host"}),
        )
        .await,
        400,
        "COULD_NOT_VALIDATE",
    );
    assert_error(
        &f.post_json("/sessions", Some(&token), serde_json::json!({}))
            .await,
        400,
        "COULD_NOT_VALIDATE",
    );

    // Logging out revokes the service session for the router.
    f.delete("/current-api-session", &token).await;
    assert!(!f.lab.state().is_service_session_valid(st));
}

#[tokio::test]
async fn auxiliary_endpoints() {
    let f = Fixture::new("client").await;
    let r = f
        .anon_get(
            "/edge/client/v1/external-jwt-signers?limit=25&offset=0",
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"], serde_json::json!([]));
    assert_eq!(r.json()["meta"]["pagination"]["totalCount"], 0);
    let (token, _) = f.login(&[]).await;
    for path in ["/posture-response", "/posture-response-bulk"] {
        let r = f.post_json(path, Some(&token), serde_json::json!([])).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["data"]["services"], serde_json::json!([]));
    }
}

#[tokio::test]
async fn enrollment_by_api_is_one_time_and_checks_the_csr() {
    let f = Fixture::new("client").await;
    let jwt = f.lab.enrollment_jwt("scraper").unwrap();
    let (_, claims) =
        ziti_lab::jwt::decode_and_verify(&jwt, &spki_of(f.lab.state().pki().controller_cert_der()))
            .unwrap();
    assert_eq!(claims.em, "ott");
    assert_eq!(claims.iss, f.running.controller_url());
    assert_eq!(claims.aud, vec![String::new()]);
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    let path = format!("/edge/client/v1/enroll?method=ott&token={}", claims.jti);

    // Bad CSR first: refused, token still usable.
    let r = f
        .anon_post(
            &path,
            "text/plain",
            b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
                .to_vec(),
        )
        .await;
    assert_error(&r, 400, "COULD_NOT_PROCESS_CSR");
    // Unknown token, wrong method, odd content type.
    let r = f
        .anon_post(
            "/enroll?method=ott&token=nope",
            "text/plain",
            csr.clone().into_bytes(),
        )
        .await;
    assert_error(&r, 400, "INVALID_ENROLLMENT_TOKEN");
    let r = f
        .anon_post("/enroll?method=ca", "text/plain", csr.clone().into_bytes())
        .await;
    assert_error(&r, 400, "INVALID_ENROLLMENT_TOKEN");
    let r = f
        .anon_post(&path, "image/png", csr.clone().into_bytes())
        .await;
    assert_error(&r, 400, "INVALID_CONTENT_TYPE");

    // JSON form succeeds.
    let body = serde_json::json!({"clientCsr": csr})
        .to_string()
        .into_bytes();
    let r = f.anon_post(&path, "application/json", body.clone()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.content_type(), "application/json");
    let cert_pem = r.json()["data"]["cert"].as_str().unwrap().to_owned();
    assert!(cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    // Second use: 409.
    let r = f
        .anon_post(&path, "application/x-pem-file", csr.clone().into_bytes())
        .await;
    assert_error(&r, 409, "ENROLLMENT_IDENTITY_ALREADY_ENROLLED");

    // The enrolled certificate logs in as scraper.
    let tls = ClientTls::new(
        f.lab.state().pki().ca_pem(),
        Some((&cert_pem, &key.serialize_pem())),
        false,
    );
    let r = authenticate(&tls, f.addr(), Vec::new()).await;
    assert_eq!(r.json()["data"]["identity"]["name"], "scraper");

    // A fresh JWT re-arms enrollment and replaces the enrolled certificate.
    let jwt2 = f.lab.enrollment_jwt("scraper").unwrap();
    let (_, claims2) = ziti_lab::jwt::decode_and_verify(
        &jwt2,
        &spki_of(f.lab.state().pki().controller_cert_der()),
    )
    .unwrap();
    let key2 = rcgen::KeyPair::generate().unwrap();
    let csr2 = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key2)
        .unwrap()
        .pem()
        .unwrap();
    let path = format!("/enroll?method=ott&token={}", claims2.jti);
    let r = f.anon_post(&path, "text/plain", csr2.into_bytes()).await;
    assert_eq!(r.status, 200);
    let r = authenticate(&tls, f.addr(), Vec::new()).await;
    assert_error(&r, 401, "INVALID_AUTH");
}

fn spki_of(cert_der: &[u8]) -> Vec<u8> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(cert_der).unwrap();
    cert.public_key().raw.to_vec()
}

#[tokio::test]
async fn identities_added_at_runtime_can_log_in_and_unknown_names_are_listed() {
    let f = Fixture::new("client").await;
    f.lab
        .add_identity(IdentityDecl {
            name: "late".into(),
            roles: vec!["client".into()],
        })
        .unwrap();
    let err = f.lab.enrollment_jwt("nobody").unwrap_err().to_string();
    assert!(err.contains("late") && err.contains("reflectz"), "{err}");
    let (cert, key) = f.lab.state().issue_client_cert("late").unwrap();
    let tls = ClientTls::new(
        f.lab.state().pki().ca_pem(),
        Some((&cert.cert_pem, &key)),
        false,
    );
    let r = authenticate(&tls, f.addr(), Vec::new()).await;
    assert_eq!(r.json()["data"]["identity"]["name"], "late");
}

#[tokio::test]
async fn expired_enrollment_tokens_are_refused() {
    let mut config = ephemeral_config();
    config.controller.enrollment_ttl_secs = 0;
    let (_dir, lab) = new_lab(config);
    let running = lab.start().await.unwrap();
    let jwt = lab.enrollment_jwt("client").unwrap();
    let (_, claims) =
        ziti_lab::jwt::decode_and_verify(&jwt, &spki_of(lab.state().pki().controller_cert_der()))
            .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    let anon = ClientTls::new(lab.state().pki().ca_pem(), None, false);
    let r = send(
        &anon,
        running.controller_addr(),
        "POST",
        &format!("/enroll?method=ott&token={}", claims.jti),
        &[("content-type", "text/plain")],
        csr.into_bytes(),
    )
    .await;
    assert_error(&r, 400, "ENROLLMENT_EXPIRED");
    running.shutdown().await;
}
