//! Several controllers (`ztAPIs`, the HA form of an identity file): the client uses them in
//! order and moves to the next one when the one in use cannot be reached, for the login and
//! for every later call.

use std::time::Duration;

use dark_listener::controller::{ControllerClient, ControllerClientOptions, ControllerSession};
use dark_listener::identity::Identity;
use dark_listener::tls;
use testbed::lab::{ephemeral_config, free_loopback_addr, TestLab};
use ziti_lab::IdentityDecl;

fn quick() -> ControllerClientOptions {
    ControllerClientOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        ..ControllerClientOptions::default()
    }
}

#[tokio::test]
async fn login_moves_past_an_unreachable_controller_and_stays_on_the_live_one() {
    let mut config = ephemeral_config();
    config.identities.push(IdentityDecl {
        name: "ha.client".into(),
        roles: vec![],
    });
    let lab = TestLab::start_with(config).await;
    let identity = Identity::from_file(lab.identity_file("ha.client")).unwrap();
    let live = identity.zt_api().unwrap().to_string();
    // Nothing listens here: the port was free a moment ago and is not bound again.
    let dead = format!("https://{}/edge/client/v1", free_loopback_addr());
    let tls = tls::client_config(&identity).unwrap();

    let client = ControllerClient::with_urls(&[&dead, &live], tls.clone(), quick()).unwrap();
    assert_eq!(client.controller_count(), 2);
    let keeper = ControllerSession::start(client.clone(), Default::default());
    let session = keeper
        .wait_authenticated(Duration::from_secs(20))
        .await
        .expect("logged in through the second controller");
    assert!(!session.token.is_empty());
    assert!(
        live.starts_with(&client.origin()),
        "{} in use",
        client.origin()
    );
    // Later calls stay on the live controller.
    client.current_identity().await.expect("current identity");
    assert!(live.starts_with(&client.origin()));

    // The live one first: no fail-over happens.
    let client = ControllerClient::with_urls(&[&live, &dead], tls, quick()).unwrap();
    client
        .version()
        .await
        .expect("version from the first controller");
    assert!(live.starts_with(&client.origin()));
    keeper.shutdown(Duration::from_secs(2)).await.ok();
    lab.stop().await;
}

/// A TLS client configuration with no identity and no trusted roots.
fn tls_without_identity() -> std::sync::Arc<rustls::ClientConfig> {
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth(),
    )
}

#[test]
fn a_client_needs_at_least_one_valid_controller_url() {
    let identity_less_tls = tls_without_identity();
    let err = ControllerClient::with_urls(&[], identity_less_tls.clone(), quick()).unwrap_err();
    assert!(err.to_string().contains("no controller URL"), "{err}");
    let err = ControllerClient::with_urls(
        &["https://ok:1280", "http://plain:1280"],
        identity_less_tls,
        quick(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("https://"), "{err}");
}

#[tokio::test]
async fn a_call_before_version_uses_the_ztapi_path_and_returns() {
    // Before /version the API path comes from ztAPI; reading it once took the client's lock
    // twice and hung every call made before a /version answer.
    let tls = tls_without_identity();
    let dead = format!("https://{}/edge/client/v1", free_loopback_addr());
    let client = ControllerClient::new(&dead, tls, quick()).unwrap();
    assert_eq!(client.api_path(), "/edge/client/v1");
    let answered = tokio::time::timeout(Duration::from_secs(10), client.current_identity()).await;
    let err = answered
        .expect("a call before /version returns")
        .expect_err("nothing listens");
    assert!(
        err.to_string().contains("not logged in") || err.is_transport(),
        "{err}"
    );
}
