//! Data-plane interop with the OpenZiti Go SDK (github.com/openziti/sdk-golang v1.9.0, the
//! `tests/peers/go-peer` program that `scripts/install-test-deps.sh` builds) through the lab:
//! the Go SDK dials a Rust-hosted echo and a Rust dialer reaches a Go-hosted echo, with and
//! without end-to-end encryption, byte-exact up to 1 MiB; terminators addressed by the
//! hosting identity's name work in both directions.
//!
//! The Go SDK is the most used OpenZiti SDK today (the controller, router and tunnelers are
//! built on it), so what it sends and expects is what a current network carries.

#[path = "sdk_support.rs"]
mod support;

use std::time::Duration;

use dark_listener::context::DialOptions;
use dark_listener::listener::BindOptions;
use support::{go_dialer_echoes, payload, round_trip, spawn_echo, start_lab, E2EE, PLAIN};
use testbed::go_peer::GoHost;
use testbed::lab::{dial_when_bound, TestLab};

const SIZES: [usize; 5] = [1, 1000, 65_536, 300_001, 1 << 20];

async fn go_dials_rust_host(service: &'static str) {
    let lab = start_lab().await;
    let host = lab.context("host-a").await;
    let echo = spawn_echo(
        host.bind(service, BindOptions::default()).await.unwrap(),
        "",
    );
    go_dialer_echoes(&lab, service, &[], &SIZES).await;
    host.shutdown(Duration::from_secs(5)).await;
    echo.await.unwrap();
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_sdk_dials_a_rust_hosted_plain_echo() {
    go_dials_rust_host(PLAIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_sdk_dials_a_rust_hosted_encrypted_echo() {
    go_dials_rust_host(E2EE).await;
}

/// The Go SDK puts each write into one Data message (sealed as one secretstream message with
/// e2ee); a real router forwards it whole. An 8 MiB write must reach our host as such a frame
/// and come back exact (the SDK's frame limit was 4 MiB before, and the channel closed).
async fn go_sdk_single_large_write(service: &'static str) {
    let lab = start_lab().await;
    let host = lab.context("host-a").await;
    let echo = spawn_echo(
        host.bind(service, BindOptions::default()).await.unwrap(),
        "",
    );
    go_dialer_echoes(&lab, service, &[], &[(8 << 20) + 1]).await;
    host.shutdown(Duration::from_secs(5)).await;
    echo.await.unwrap();
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_sdk_8_mib_plain_write_reaches_a_rust_host_whole() {
    go_sdk_single_large_write(PLAIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_sdk_8_mib_encrypted_write_reaches_a_rust_host_whole() {
    go_sdk_single_large_write(E2EE).await;
}

/// Echo of every size in [`SIZES`] through a Rust dialer; the Go host half-closes after
/// the dialer's half-close, so the whole stream must arrive and end.
async fn rust_round_trips(lab: &TestLab, service: &str, options: DialOptions) {
    let dialer = lab.context("dialer").await;
    for (i, size) in SIZES.into_iter().enumerate() {
        let data = payload(size, 60 + i as u8);
        let stream = if i == 0 {
            dial_when_bound(&dialer, service, options.clone(), 150).await
        } else {
            dialer.dial(service, options.clone()).await.unwrap()
        };
        assert_eq!(stream.is_encrypted(), service == E2EE);
        let back = round_trip(stream, &data).await;
        assert_eq!(back.len(), size, "Go SDK echo length on {service}");
        assert!(
            back == data,
            "Go SDK echo of {size} bytes on {service} differs"
        );
    }
    dialer.shutdown(Duration::from_secs(5)).await;
}

async fn rust_dials_go_host(service: &'static str) {
    let lab = start_lab().await;
    let host = GoHost::start("host", &[], &lab.identity_file("host-b"), service).await;
    rust_round_trips(&lab, service, DialOptions::default()).await;
    host.stop().await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_dials_a_go_hosted_plain_echo() {
    rust_dials_go_host(PLAIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_dials_a_go_hosted_encrypted_echo() {
    rust_dials_go_host(E2EE).await;
}

/// The Go host binds with its identity's name as terminator instance id: a Rust dial that
/// names it arrives, one that names another identity is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_dials_a_go_terminator_by_the_host_identity_name() {
    let lab = start_lab().await;
    let identity = lab.identity_file("host-b");
    let host = GoHost::start("host", &["-edge-identity"], &identity, E2EE).await;
    let named = |name: &str| DialOptions {
        terminator_identity: Some(name.into()),
        timeout: Duration::from_secs(10),
        ..DialOptions::default()
    };
    rust_round_trips(&lab, E2EE, named("host-b")).await;
    let dialer = lab.context("dialer").await;
    let refused = dialer.dial(E2EE, named("host-a")).await;
    assert!(
        refused.is_err(),
        "a dial naming a terminator nobody hosts was accepted"
    );
    dialer.shutdown(Duration::from_secs(5)).await;
    host.stop().await;
    lab.stop().await;
}

/// The Rust host binds using its identity's name; the Go SDK dials that terminator by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_sdk_dials_a_rust_terminator_by_the_host_identity_name() {
    let lab = start_lab().await;
    let host = lab.context("host-a").await;
    let options = BindOptions {
        bind_using_edge_identity: true,
        ..BindOptions::default()
    };
    let echo = spawn_echo(host.bind(PLAIN, options).await.unwrap(), "");
    go_dialer_echoes(&lab, PLAIN, &["-terminator", "host-a"], &SIZES).await;
    host.shutdown(Duration::from_secs(5)).await;
    echo.await.unwrap();
    lab.stop().await;
}

/// Runs `go-peer ARGS…` for at most `limit` (then kills it); returns (exited with success,
/// stdout + stderr).
async fn go_peer_output(args: &[&str], limit: Duration) -> (bool, String) {
    let mut cmd = tokio::process::Command::new(testbed::peers::go_peer());
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("cannot start the Go SDK peer");
    let finished = tokio::time::timeout(limit, child.wait()).await;
    let success = matches!(finished, Ok(Ok(status)) if status.success());
    if finished.is_err() {
        let _ = child.start_kill();
    }
    let out = child.wait_with_output().await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (success, text)
}

/// The lab's refusals reach the Go SDK in the controller's words: a dial by an identity no
/// policy lets see the service, and a bind by an identity that may only dial it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_go_sdk_is_refused_unauthorized_dial_and_bind_with_the_controllers_reason() {
    let lab = start_lab().await;
    let host = lab.context("host-a").await;
    let echo = spawn_echo(host.bind(PLAIN, BindOptions::default()).await.unwrap(), "");
    let stranger = lab.identity_file("stranger");
    // No policy lets the stranger see the service: the controller lists it to nobody else.
    let (ok, text) = go_peer_output(
        &["dial", stranger.to_str().unwrap(), PLAIN, "10"],
        Duration::from_secs(15),
    )
    .await;
    assert!(!ok, "a stranger's Go SDK dial succeeded: {text}");
    assert!(
        text.contains("dial-failed") && text.contains(&format!("service '{PLAIN}' not found")),
        "{text}"
    );

    // The dialer may dial but not bind: the Go SDK reads the controller's refusal of the Bind
    // session as access denied and stops its listener (the process itself keeps waiting in
    // Accept, so it is stopped after 5 s).
    let dialer = lab.identity_file("dialer");
    let (_, text) = go_peer_output(
        &["host", dialer.to_str().unwrap(), PLAIN],
        Duration::from_secs(5),
    )
    .await;
    assert!(
        text.contains("service access denied")
            && text.contains(&format!("permission to bind service '{PLAIN}'")),
        "{text}"
    );
    host.shutdown(Duration::from_secs(5)).await;
    echo.await.unwrap();
    lab.stop().await;
}
