//! The SDK's OIDC login against the lab controller with OIDC on (as a ziti 2.x controller
//! serves it): `--auth oidc` and `auto` log in with OIDC, `legacy` keeps the API session;
//! bind, dial and end-to-end encryption work on OIDC sessions; an open stream keeps flowing
//! across several access-token lifetimes (each refresh is carried to the router with
//! UpdateToken, or the router would close the channel when the old token expires); a deleted
//! identity is cut off when its token runs out; and the Go SDK (which logs in with OIDC on
//! its own) and our SDK on either method exchange data.

#[path = "sdk_support.rs"]
mod support;

use std::time::{Duration, Instant};

use dark_listener::context::{Context, ContextOptions, DialOptions};
use dark_listener::controller::{AuthMethod, ControllerSessionOptions};
use dark_listener::listener::BindOptions;
use support::{go_dialer_echoes, payload, round_trip, spawn_echo, E2EE, PLAIN};
use testbed::go_peer::GoHost;
use testbed::lab::{dial_when_bound, TestLab};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A lab with OIDC on and access tokens living `access_secs`.
async fn oidc_lab(access_secs: u64) -> TestLab {
    let mut config = support::config();
    config.controller.oidc = true;
    config.controller.oidc_access_token_secs = access_secs;
    TestLab::start_with(config).await
}

fn options(auth: AuthMethod) -> ContextOptions {
    ContextOptions {
        session: ControllerSessionOptions {
            auth,
            min_refresh_delay: Duration::from_millis(200),
            ..ControllerSessionOptions::default()
        },
        ..ContextOptions::default()
    }
}

fn uses_oidc(ctx: &Context) -> bool {
    ctx.controller().expect("running").client().uses_oidc()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_and_auto_log_in_with_oidc_and_legacy_stays_legacy() {
    let lab = oidc_lab(1800).await;
    let host = lab.context_with("host-a", options(AuthMethod::Oidc)).await;
    assert!(uses_oidc(&host), "--auth oidc");
    let auto = lab.context_with("dialer", options(AuthMethod::Auto)).await;
    assert!(
        uses_oidc(&auto),
        "--auth auto on a controller that offers OIDC"
    );
    let legacy = lab
        .context_with("host-b", options(AuthMethod::Legacy))
        .await;
    assert!(!uses_oidc(&legacy), "--auth legacy");
    for service in [PLAIN, E2EE] {
        let echo = spawn_echo(
            host.bind(service, BindOptions::default()).await.unwrap(),
            "",
        );
        let data = payload(300_001, 7);
        let stream = dial_when_bound(&auto, service, DialOptions::default(), 150).await;
        assert_eq!(stream.is_encrypted(), service == E2EE);
        assert!(round_trip(stream, &data).await == data, "{service} echo");
        drop(echo);
    }
    // A legacy host and an OIDC dialer meet on one circuit.
    let echo = spawn_echo(
        legacy.bind(PLAIN, BindOptions::default()).await.unwrap(),
        "",
    );
    let data = payload(10_000, 9);
    let stream = dial_when_bound(&auto, PLAIN, DialOptions::default(), 150).await;
    assert!(round_trip(stream, &data).await == data);
    drop(echo);
    for ctx in [host, auto, legacy] {
        ctx.shutdown(Duration::from_secs(2)).await;
    }
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_stream_keeps_flowing_across_three_token_lifetimes() {
    const LIFETIME: u64 = 4;
    let lab = oidc_lab(LIFETIME).await;
    let host = lab.context_with("host-a", options(AuthMethod::Oidc)).await;
    let echo = spawn_echo(host.bind(E2EE, BindOptions::default()).await.unwrap(), "");
    let dialer = lab.context_with("dialer", options(AuthMethod::Oidc)).await;
    let mut tokens = dialer.controller().unwrap().subscribe();
    let first_token = tokens.borrow().api_session.as_ref().unwrap().token.clone();
    let mut stream = dial_when_bound(&dialer, E2EE, DialOptions::default(), 150).await;

    let until = Instant::now() + Duration::from_secs(LIFETIME * 3 + 2);
    let mut seen = std::collections::BTreeSet::from([first_token]);
    let mut line = 0u32;
    while Instant::now() < until {
        line += 1;
        let sent = format!("line {line:06}\n");
        stream.write_all(sent.as_bytes()).await.expect("write");
        let mut back = vec![0u8; sent.len()];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut back))
            .await
            .unwrap_or_else(|_| panic!("no echo of line {line} within 5 s"))
            .unwrap_or_else(|e| panic!("stream broke at line {line}: {e}"));
        assert_eq!(back, sent.as_bytes());
        if let Some(session) = tokens.borrow_and_update().api_session.as_ref() {
            seen.insert(session.token.clone());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        seen.len() >= 4,
        "the access token was refreshed {} times over {} lifetimes",
        seen.len() - 1,
        3
    );
    drop(stream);
    drop(echo);
    dialer.shutdown(Duration::from_secs(2)).await;
    host.shutdown(Duration::from_secs(2)).await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_identity_is_cut_off_when_its_token_runs_out() {
    const LIFETIME: u64 = 3;
    let lab = oidc_lab(LIFETIME).await;
    let host = lab.context_with("host-a", options(AuthMethod::Oidc)).await;
    let echo = spawn_echo(host.bind(PLAIN, BindOptions::default()).await.unwrap(), "");
    let dialer = lab.context_with("dialer", options(AuthMethod::Oidc)).await;
    let mut stream = dial_when_bound(&dialer, PLAIN, DialOptions::default(), 150).await;
    stream.write_all(b"before\n").await.unwrap();
    let mut back = [0u8; 7];
    stream.read_exact(&mut back).await.unwrap();

    lab.lab
        .state()
        .remove_identity("dialer")
        .expect("identity removed");
    let removed = Instant::now();
    // The stream ends (the router closes the channel) within a token lifetime or two.
    let ended = tokio::time::timeout(Duration::from_secs(LIFETIME * 3 + 5), async {
        let mut buf = [0u8; 64];
        loop {
            if stream.write_all(b"ping\n").await.is_err() {
                return;
            }
            match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the deleted identity's stream was still open {:?} after deletion",
        removed.elapsed()
    );
    drop(echo);
    host.shutdown(Duration::from_secs(2)).await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_go_sdk_and_ours_exchange_data_with_both_login_methods() {
    let lab = oidc_lab(1800).await;
    let sizes = [1, 65_536, 1 << 20];
    // Go (OIDC, its own choice) dials our OIDC host and our legacy host.
    for (auth, service) in [(AuthMethod::Oidc, PLAIN), (AuthMethod::Legacy, E2EE)] {
        let host = lab.context_with("host-a", options(auth)).await;
        assert_eq!(uses_oidc(&host), auth == AuthMethod::Oidc);
        let echo = spawn_echo(
            host.bind(service, BindOptions::default()).await.unwrap(),
            "",
        );
        go_dialer_echoes(&lab, service, &[], &sizes).await;
        host.shutdown(Duration::from_secs(2)).await;
        echo.await.unwrap();
    }
    // Our OIDC and legacy dialers reach a Go host.
    let go_host = GoHost::start("host", &[], &lab.identity_file("host-b"), E2EE).await;
    for auth in [AuthMethod::Oidc, AuthMethod::Legacy] {
        let dialer = lab.context_with("dialer", options(auth)).await;
        let data = payload(1 << 20, 3);
        let stream = dial_when_bound(&dialer, E2EE, DialOptions::default(), 150).await;
        assert!(round_trip(stream, &data).await == data, "{auth} dialer");
        dialer.shutdown(Duration::from_secs(2)).await;
    }
    go_host.stop().await;
    lab.stop().await;
}
