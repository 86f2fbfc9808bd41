//! One identity cannot take the lab's API sessions from the others: a login beyond
//! `max_api_sessions_per_identity` ends that identity's least recently used API session, so
//! even more logins than the global cap ([`MAX_API_SESSIONS`]) leave room for everyone else.

mod common;
#[path = "support/router_lab.rs"]
mod router_lab;

use common::{authenticate, current_api_session, ClientTls};
use router_lab::{ReadEnd, TestLab, STEP};
use ziti_lab::state::MAX_API_SESSIONS;
use ziti_lab::test_support::{ephemeral_config, new_lab};

async fn current_api_session_status(
    tls: &ClientTls,
    addr: std::net::SocketAddr,
    token: &str,
) -> u16 {
    current_api_session(tls, addr, token).await.status
}

#[tokio::test]
async fn one_identity_logging_in_past_the_global_cap_locks_no_one_out() {
    let (_dir, lab) = new_lab(ephemeral_config());
    let running = lab.start().await.unwrap();
    let addr = running.controller_addr();
    let state = lab.state();
    let ca = state.pki().ca_pem().to_owned();
    let bound = state.config().controller.max_api_sessions_per_identity;
    assert!(bound < MAX_API_SESSIONS);

    let (flood_cert, flood_key) = state.issue_client_cert("reflectz").unwrap();
    let flood_tls = ClientTls::new(&ca, Some((&flood_cert.cert_pem, &flood_key)), false);
    let r = authenticate(&flood_tls, addr, Vec::new()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let oldest = r.json()["data"]["token"].as_str().unwrap().to_owned();
    let flooder = r.json()["data"]["identity"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        current_api_session_status(&flood_tls, addr, &oldest).await,
        200
    );

    // `bound` more logins of the same identity: the first one is the least recently used.
    let login = || {
        state
            .authenticate(Some(&flood_cert.cert_der), Vec::new(), "127.0.0.1".into())
            .expect("a login of the flooding identity")
    };
    for _ in 0..bound {
        login();
    }
    assert_eq!(
        current_api_session_status(&flood_tls, addr, &oldest).await,
        401,
        "the evicted API session's token must be refused"
    );

    // More logins than the global cap holds, all by one identity.
    for _ in 0..=MAX_API_SESSIONS {
        login();
    }
    assert_eq!(state.api_sessions_of(&flooder).len(), bound);

    // Another identity still logs in over HTTPS.
    let (cert, key) = state.issue_client_cert("client").unwrap();
    let tls = ClientTls::new(&ca, Some((&cert.cert_pem, &key)), false);
    let r = authenticate(&tls, addr, Vec::new()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["data"]["identity"]["name"], "client");
    // And so does the flooding identity, still bounded.
    let r = authenticate(&flood_tls, addr, Vec::new()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(state.api_sessions_of(&flooder).len(), bound);
    running.shutdown().await;
}

#[tokio::test]
async fn a_recently_used_session_outlives_newer_idle_ones() {
    let mut config = ephemeral_config();
    config.controller.max_api_sessions_per_identity = 3;
    let (_dir, lab) = new_lab(config);
    let running = lab.start().await.unwrap();
    let addr = running.controller_addr();
    let state = lab.state();
    let ca = state.pki().ca_pem().to_owned();
    let (cert, key) = state.issue_client_cert("client").unwrap();
    let tls = ClientTls::new(&ca, Some((&cert.cert_pem, &key)), false);
    let login = || async {
        let r = authenticate(&tls, addr, Vec::new()).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.json()["data"]["token"].as_str().unwrap().to_owned()
    };
    let kept = login().await;
    let idle = login().await;
    let _third = login().await;
    // `kept` is used (as an SDK's keeper does), so `idle` is now the least recently used.
    assert_eq!(current_api_session_status(&tls, addr, &kept).await, 200);
    let _fourth = login().await;
    assert_eq!(current_api_session_status(&tls, addr, &idle).await, 401);
    assert_eq!(current_api_session_status(&tls, addr, &kept).await, 200);
    running.shutdown().await;
}

#[tokio::test]
async fn the_router_closes_the_channel_of_an_evicted_session_as_after_a_logout() {
    let lab = TestLab::start().await;
    let state = lab.lab.state();
    let bound = state.config().controller.max_api_sessions_per_identity;
    let (mut channel, token) = lab.channel("host-a").await;
    let (cert, _) = state.issue_client_cert("host-a").unwrap();
    let (mut other, _) = lab.channel("host-b").await;
    for _ in 0..bound {
        state
            .authenticate(Some(&cert.cert_der), Vec::new(), "127.0.0.1".into())
            .unwrap();
    }
    assert!(!state.api_session_exists(&token));
    match channel.try_recv(STEP).await {
        Err(ReadEnd::Closed | ReadEnd::Error(_)) => {}
        other => panic!("the evicted session's channel stayed open: {other:?}"),
    }
    // Another identity's channel is untouched.
    other
        .expect_silence(std::time::Duration::from_millis(300))
        .await;
}
