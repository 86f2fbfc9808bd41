//! The Go SDK (sdk-golang v1.9.0, `tests/peers/go-peer`) logging in to the lab with OIDC —
//! it does so by itself once `/version` lists `OIDC_AUTH` — and exchanging data with our SDK,
//! which logs in the legacy way: both directions, and streams that stay open across several
//! access-token lifetimes while the Go SDK refreshes (RFC 8693 token exchange) and sends
//! UpdateToken to the router, which closes channels whose token runs out.
//!
//! The lab's OIDC counters prove which path was taken: without a certificate login and code
//! grant the Go SDK used legacy login, and without exchanges and router token updates it did
//! not refresh.

#[path = "sdk_support.rs"]
mod support;

use std::time::Duration;

use dark_listener::context::DialOptions;
use dark_listener::listener::BindOptions;
use support::{config, go_dialer_echoes, payload, round_trip, spawn_echo, PLAIN};
use testbed::go_peer::GoHost;
use testbed::lab::{dial_when_bound, TestLab};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use ziti_lab::controller::oidc::{context, OidcStats};

/// The fixture's lab with OIDC on and access tokens of `access_secs`.
async fn oidc_lab(access_secs: u64) -> TestLab {
    let mut config = config();
    config.controller.oidc = true;
    config.controller.oidc_access_token_secs = access_secs;
    TestLab::start_with(config).await
}

fn stats(lab: &TestLab) -> OidcStats {
    context(&lab.lab.state()).unwrap().stats()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_sdk_logs_in_with_oidc_and_exchanges_data_with_a_legacy_rust_sdk() {
    let lab = oidc_lab(1800).await;
    // Rust (legacy) hosts, Go (OIDC) dials.
    let host = lab.context("host-a").await;
    let echo = spawn_echo(host.bind(PLAIN, BindOptions::default()).await.unwrap(), "");
    let sizes = [1, 65_536, 300_001];
    go_dialer_echoes(&lab, PLAIN, &[], &sizes).await;
    let after_dial = stats(&lab);
    assert!(
        after_dial.logins >= 1,
        "the Go dialer did not log in with OIDC: {after_dial:?}"
    );
    assert!(after_dial.code_grants >= 1, "{after_dial:?}");
    host.shutdown(Duration::from_secs(5)).await;
    echo.await.unwrap();

    // Go (OIDC) hosts, Rust (legacy) dials.
    let go_host = GoHost::start("host", &[], &lab.identity_file("host-b"), PLAIN).await;
    let dialer = lab.context("dialer").await;
    let data = payload(100_000, 7);
    let stream = dial_when_bound(&dialer, PLAIN, DialOptions::default(), 150).await;
    assert_eq!(round_trip(stream, &data).await, data);
    let after_host = stats(&lab);
    assert!(
        after_host.code_grants > after_dial.code_grants,
        "the Go host did not log in with OIDC: {after_host:?}"
    );
    dialer.shutdown(Duration::from_secs(5)).await;
    go_host.stop().await;
    lab.stop().await;
}

/// Access tokens last 4 s; a stream to the Go host stays open for 16 s with bytes flowing
/// every 200 ms: the Go SDK must refresh at least three times and update the router each time,
/// or the router closes its channel and the stream breaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_to_a_go_host_survives_token_refreshes() {
    let lab = oidc_lab(4).await;
    let go_host = GoHost::start("host", &[], &lab.identity_file("host-b"), PLAIN).await;
    let dialer = lab.context("dialer").await;
    let mut stream = dial_when_bound(&dialer, PLAIN, DialOptions::default(), 150).await;
    let before = stats(&lab);
    let started = tokio::time::Instant::now();
    let mut round = 0u32;
    while started.elapsed() < Duration::from_secs(16) {
        let data = payload(1000, round as u8);
        stream.write_all(&data).await.unwrap();
        let mut back = vec![0u8; data.len()];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut back))
            .await
            .unwrap_or_else(|_| panic!("no echo in round {round} after {:?}", started.elapsed()))
            .unwrap_or_else(|e| {
                panic!(
                    "the stream broke in round {round} after {:?}: {e}",
                    started.elapsed()
                )
            });
        assert_eq!(back, data, "round {round}");
        round += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = stats(&lab);
    assert!(
        after.exchange_grants >= before.exchange_grants + 3,
        "fewer than three refreshes in 16 s of 4 s tokens: {before:?} → {after:?}"
    );
    assert!(
        after.router_token_updates >= before.router_token_updates + 3,
        "fewer than three router token updates: {before:?} → {after:?}"
    );
    drop(stream);
    dialer.shutdown(Duration::from_secs(5)).await;
    go_host.stop().await;
    lab.stop().await;
}

/// The Go SDK dials (go-peer pipe: one connection, stdin to it, it to stdout) a Rust host and
/// keeps the stream for 14 s of 4 s tokens, lines flowing both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_dialer_stream_survives_token_refreshes() {
    let lab = oidc_lab(4).await;
    let host = lab.context("host-a").await;
    let echo = spawn_echo(host.bind(PLAIN, BindOptions::default()).await.unwrap(), "");
    let before = stats(&lab);
    let identity = lab.identity_file("dialer");
    let mut child = testbed::go_peer::spawn_pipe(&identity, PLAIN);
    let mut stdin = child.stdin.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let stderr_text = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = tokio::time::Instant::now();
    let mut round = 0u32;
    while started.elapsed() < Duration::from_secs(14) {
        let line = format!("line {round} {}", "x".repeat(100));
        if let Err(e) = stdin.write_all(format!("{line}\n").as_bytes()).await {
            let _ = child.wait().await;
            panic!(
                "go-peer pipe is gone in round {round} ({e}): {}",
                stderr_text.await.unwrap()
            );
        }
        stdin.flush().await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no echo of round {round} after {:?}", started.elapsed()))
            .unwrap();
        assert_eq!(got.as_deref(), Some(line.as_str()), "round {round}");
        round += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = stats(&lab);
    assert!(
        after.exchange_grants >= before.exchange_grants + 3,
        "fewer than three refreshes: {before:?} → {after:?}"
    );
    assert!(
        after.router_token_updates >= before.router_token_updates + 3,
        "{after:?}"
    );
    drop(stdin);
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    host.shutdown(Duration::from_secs(5)).await;
    echo.await.unwrap();
    lab.stop().await;
}
