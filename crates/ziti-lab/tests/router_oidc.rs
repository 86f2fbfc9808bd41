//! OIDC access tokens on router channels: a hello with a token from the lab's own login flow
//! works (and then binds), UpdateToken is answered 60801 or 60802 (then the channel closes),
//! tokens without or with a foreign `z_cfs`, expired ones, refresh tokens and garbage are
//! refused, and a channel whose token runs out without an update is closed.

mod common;
#[path = "support/router_lab.rs"]
mod router_lab;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::oidc_flow::{claims, OidcClient};
use dark_listener::wire::consts::{content_type as ct, header as h};
use dark_listener::wire::edge::{Bind, Hello, UpdateToken};
use dark_listener::wire::frame::Frame;
use router_lab::{client_tls, service_id, test_config, RawChannel, ReadEnd};
use serde_json::json;
use ziti_lab::{Lab, RunningLab};

struct OidcLab {
    _dir: tempfile::TempDir,
    lab: Lab,
    running: RunningLab,
}

/// A certificate of `identity`: TLS config for router and controller, and the DER.
struct Cert {
    tls: Arc<rustls::ClientConfig>,
    der: Vec<u8>,
}

impl OidcLab {
    async fn start(access_secs: u64) -> Self {
        let mut config = test_config();
        config.controller.oidc = true;
        config.controller.oidc_access_token_secs = access_secs;
        let (dir, lab) = ziti_lab::test_support::new_lab(config);
        let running = lab.start().await.unwrap();
        OidcLab {
            _dir: dir,
            lab,
            running,
        }
    }

    fn cert(&self, identity: &str) -> Cert {
        let state = self.lab.state();
        let (cert, key) = state.issue_client_cert(identity).unwrap();
        Cert {
            tls: client_tls(Some((&cert.cert_der, &key)), state.pki().ca_der()),
            der: cert.cert_der.clone(),
        }
    }

    /// Tokens from the certificate login of `cert`.
    async fn login(&self, cert: &Cert) -> serde_json::Value {
        OidcClient::new(cert.tls.clone(), self.running.controller_addr())
            .login()
            .await
    }

    /// The access token from the certificate login of `cert`.
    async fn access_token(&self, cert: &Cert) -> String {
        self.login(cert).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A token with `edit` applied to the claims of `model`, signed by the lab's key.
    fn forge(&self, model: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut c = claims(model);
        edit(&mut c);
        let ctx = ziti_lab::controller::oidc::context(&self.lab.state()).unwrap();
        ctx.signer.sign_claims(&c).unwrap()
    }

    /// Sends a hello with `token`; the channel after the (always successful) acknowledgement.
    async fn hello(&self, cert: &Cert, token: &str) -> RawChannel {
        let mut ch = RawChannel::connect(self.running.router_addr(), cert.tls.clone()).await;
        let hello = Hello {
            session_token: Bytes::from(token.to_owned()),
            identifier: Bytes::from_static(b"router-oidc-test"),
            ..Hello::default()
        }
        .to_frame(-1);
        ch.send(hello).await;
        let ack = ch.recv().await;
        assert_eq!(ack.content_type, ct::RESULT);
        ch
    }
}

/// Whether the router keeps the channel: a latency probe is answered.
async fn alive(ch: &mut RawChannel) -> bool {
    let probe = Frame {
        content_type: ct::LATENCY,
        sequence: 0,
        headers: Default::default(),
        body: Bytes::new(),
    };
    ch.send_seq(probe).await;
    loop {
        match ch.try_recv(Duration::from_secs(3)).await {
            Ok(f) if f.content_type == ct::LATENCY || f.content_type == ct::RESULT => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
}

/// Sends an UpdateToken with `token`; its sequence number and the router's answer (the
/// first UpdateTokenSuccess or UpdateTokenFailure that arrives).
async fn update_token(ch: &mut RawChannel, token: String) -> (i32, Frame) {
    let seq = ch
        .send_seq(
            UpdateToken {
                token: Bytes::from(token),
            }
            .to_frame(0),
        )
        .await;
    let reply = loop {
        let f = ch.recv().await;
        if f.content_type == ct::UPDATE_TOKEN_SUCCESS || f.content_type == ct::UPDATE_TOKEN_FAILURE
        {
            break f;
        }
    };
    (seq, reply)
}

async fn closed(ch: &mut RawChannel) -> bool {
    loop {
        match ch.try_recv(Duration::from_secs(5)).await {
            Ok(_) => continue,
            Err(ReadEnd::Timeout) => return false,
            Err(_) => return true,
        }
    }
}

#[tokio::test]
async fn an_access_token_opens_a_channel_that_binds_and_takes_updates() {
    let lab = OidcLab::start(1800).await;
    let cert = lab.cert("host-a");
    let tokens = lab.login(&cert).await;
    let access = tokens["access_token"].as_str().unwrap();
    let mut ch = lab.hello(&cert, access).await;
    assert!(alive(&mut ch).await, "the OIDC channel was closed");

    // A Bind with a service session created through the bearer token's API session.
    let client = OidcClient::new(cert.tls.clone(), lab.running.controller_addr());
    let r = client
        .send(
            "POST",
            "/edge/client/v1/sessions",
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {access}")),
            ],
            json!({"serviceId": service_id("plain"), "type": "Bind"})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let session = r.json()["data"]["token"].as_str().unwrap().to_owned();
    let bind = Bind {
        conn_id: 1,
        token: Bytes::from(session),
        supports_bind_success: true,
        ..Bind::default()
    }
    .to_frame(0);
    ch.send_seq(bind).await;
    let reply = ch.expect(ct::STATE_CONNECTED).await;
    assert_eq!(reply.headers.get_u32(h::CONN_ID).unwrap(), Some(1));

    // UpdateToken with a fresh token of the same identity and certificate: success.
    let fresh = lab.access_token(&cert).await;
    let (seq, reply) = update_token(&mut ch, fresh).await;
    assert_eq!(
        reply.content_type,
        ct::UPDATE_TOKEN_SUCCESS,
        "{:?}",
        reply.body
    );
    assert_eq!(reply.reply_for().unwrap(), Some(seq));
    assert!(alive(&mut ch).await);

    // A token bound to another certificate: failure, then the channel closes.
    let other = lab.cert("host-a");
    let foreign = lab.access_token(&other).await;
    let (_, reply) = update_token(&mut ch, foreign).await;
    assert_eq!(reply.content_type, ct::UPDATE_TOKEN_FAILURE);
    let reason = String::from_utf8_lossy(&reply.body).into_owned();
    assert!(reason.contains("z_cfs"), "{reason}");
    assert!(
        closed(&mut ch).await,
        "the channel stayed open after a failed update"
    );
}

#[tokio::test]
async fn garbage_updates_fail_and_legacy_channels_refuse_updates() {
    let lab = OidcLab::start(1800).await;
    let cert = lab.cert("host-a");
    let access = lab.access_token(&cert).await;
    let mut ch = lab.hello(&cert, &access).await;
    ch.send_seq(
        UpdateToken {
            token: Bytes::from_static(b"{not a jwt"),
        }
        .to_frame(0),
    )
    .await;
    assert_eq!(
        ch.expect(ct::UPDATE_TOKEN_FAILURE).await.content_type,
        ct::UPDATE_TOKEN_FAILURE
    );
    assert!(closed(&mut ch).await);

    // A legacy channel: updates are refused (the lab's legacy sessions are not JWTs).
    let state = lab.lab.state();
    let (legacy_cert, key) = state.issue_client_cert("host-a").unwrap();
    let api = state
        .authenticate(Some(&legacy_cert.cert_der), vec![], "127.0.0.1".into())
        .unwrap();
    let legacy = Cert {
        tls: client_tls(Some((&legacy_cert.cert_der, &key)), state.pki().ca_der()),
        der: legacy_cert.cert_der.clone(),
    };
    let mut ch = lab.hello(&legacy, &api.token).await;
    assert!(alive(&mut ch).await, "legacy hello refused");
    ch.send_seq(
        UpdateToken {
            token: Bytes::from(access),
        }
        .to_frame(0),
    )
    .await;
    let failure = ch.expect(ct::UPDATE_TOKEN_FAILURE).await;
    assert!(String::from_utf8_lossy(&failure.body).contains("legacy"));
}

#[tokio::test]
async fn bad_hello_tokens_close_the_channel() {
    let lab = OidcLab::start(1800).await;
    let cert = lab.cert("host-a");
    let tokens = lab.login(&cert).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let other = lab.cert("host-a");
    let now = claims(&access)["iat"].as_i64().unwrap();
    let cases = [
        (
            "no z_cfs",
            lab.forge(&access, |c| {
                c.as_object_mut()
                    .unwrap()
                    .remove("z_cfs")
                    .map(|_| ())
                    .unwrap()
            }),
        ),
        (
            "empty z_cfs",
            lab.forge(&access, |c| c["z_cfs"] = json!([])),
        ),
        (
            "foreign z_cfs",
            lab.forge(&access, |c| {
                c["z_cfs"] = json!([common::oidc_flow::sha1_hex(&other.der)])
            }),
        ),
        ("expired", lab.forge(&access, |c| c["exp"] = json!(now - 1))),
        (
            "wrong audience",
            lab.forge(&access, |c| c["aud"] = json!(["elsewhere"])),
        ),
        ("refresh token", refresh.clone()),
        ("garbage", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA".to_owned()),
    ];
    for (what, token) in cases {
        let mut ch = lab.hello(&cert, &token).await;
        assert!(closed(&mut ch).await, "{what}: the channel stayed open");
    }
    // The genuine token still works (so the refusals above were about the token).
    let mut ch = lab.hello(&cert, &access).await;
    assert!(alive(&mut ch).await);
    // And from another certificate of the same identity, it does not.
    let mut ch = lab.hello(&other, &access).await;
    assert!(
        closed(&mut ch).await,
        "a token was accepted from a certificate it is not bound to"
    );
}

#[tokio::test]
async fn a_channel_closes_when_its_token_expires_without_an_update() {
    // Tokens last 3 s (exp is whole seconds: 2 to 3 s from issue).
    let lab = OidcLab::start(3).await;
    let cert = lab.cert("host-a");
    let access = lab.access_token(&cert).await;
    let started = tokio::time::Instant::now();
    let mut updated = lab.hello(&cert, &access).await;
    let mut idle = lab.hello(&cert, &access).await;
    // Keep one channel fed with fresh tokens every second for 6 s.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let fresh = lab.access_token(&cert).await;
        updated
            .send_seq(
                UpdateToken {
                    token: Bytes::from(fresh),
                }
                .to_frame(0),
            )
            .await;
        assert_eq!(
            updated.expect(ct::UPDATE_TOKEN_SUCCESS).await.content_type,
            ct::UPDATE_TOKEN_SUCCESS
        );
    }
    assert!(started.elapsed() > Duration::from_secs(5));
    assert!(
        closed(&mut idle).await,
        "the channel without updates outlived its token"
    );
    assert!(alive(&mut updated).await, "the updated channel was closed");
}
