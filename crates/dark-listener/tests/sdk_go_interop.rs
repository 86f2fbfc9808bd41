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

use std::process::Stdio;
use std::time::Duration;

use dark_listener::context::{Context, DialOptions};
use dark_listener::listener::BindOptions;
use dark_listener::stream::DarkStream;
use support::{payload, round_trip, spawn_echo, start_lab, E2EE, PLAIN};
use testbed::lab::TestLab;
use testbed::peers::go_peer;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

const SIZES: [usize; 5] = [1, 1000, 65_536, 300_001, 1 << 20];

fn peer_command(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(go_peer());
    cmd.args(args)
        // The Go SDK logs through logrus/pfxlog on stderr; keep it to warnings.
        .env("PFXLOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs `go-peer dial` on `service` for every size in [`SIZES`] and checks each echo.
async fn go_dials(lab: &TestLab, service: &str, extra: &[&str]) {
    let identity = lab.identity_file("dialer");
    let sizes: Vec<String> = SIZES.iter().map(|s| s.to_string()).collect();
    // Flags first: Go's flag package stops at the first positional argument.
    let mut args = vec!["dial"];
    args.extend_from_slice(extra);
    args.extend([identity.to_str().unwrap(), service]);
    args.extend(sizes.iter().map(String::as_str));
    let child = peer_command(&args)
        .spawn()
        .expect("cannot start the Go SDK peer");
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("Go SDK dialer did not finish within 120 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let echoed: Vec<_> = lines.iter().filter(|l| l["step"] == "echoed").collect();
    assert_eq!(
        echoed.len(),
        SIZES.len(),
        "Go SDK dialer on {service}: {stdout}\n--- stderr ---\n{stderr}"
    );
    for (line, size) in echoed.iter().zip(SIZES) {
        assert_eq!(line["size"], size as u64, "{line}");
        assert_eq!(line["received"], size as u64, "{line}\n{stderr}");
        assert_eq!(line["ok"], true, "{line}\n{stderr}");
    }
    assert!(out.status.success(), "{stdout}\n{stderr}");
}

async fn go_dials_rust_host(service: &'static str) {
    let lab = start_lab().await;
    let host = lab.context("host-a").await;
    let echo = spawn_echo(
        host.bind(service, BindOptions::default()).await.unwrap(),
        "",
    );
    go_dials(&lab, service, &[]).await;
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

/// A Go-hosted echo whose listener exists (its terminators follow: see [`dial_when_bound`]);
/// its stdout keeps being drained.
struct GoHost {
    child: Child,
    drain: tokio::task::JoinHandle<()>,
}

impl GoHost {
    async fn start(lab: &TestLab, identity: &str, service: &str, extra: &[&str]) -> Self {
        let identity = lab.identity_file(identity);
        let mut args = vec!["host"];
        args.extend_from_slice(extra);
        args.extend([identity.to_str().unwrap(), service]);
        let mut child = peer_command(&args)
            .spawn()
            .expect("cannot start the Go SDK peer");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let listening =
            tokio::time::timeout(Duration::from_secs(60), wait_listening(&mut stdout)).await;
        if listening != Ok(true) {
            let _ = child.start_kill();
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "Go SDK host did not listen on {service} within 60 s: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Keep draining the host's stdout so it never blocks on a full pipe.
        let drain =
            tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        GoHost { child, drain }
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.drain.abort();
    }
}

async fn wait_listening(stdout: &mut Lines<BufReader<ChildStdout>>) -> bool {
    while let Ok(Some(line)) = stdout.next_line().await {
        if line.contains("\"listening\"") {
            return true;
        }
    }
    false
}

/// The first dial of a Go-hosted service: retried (every 100 ms, at most 150 times) until
/// the Go host's terminator exists.
async fn dial_when_bound(ctx: &Context, service: &str, options: &DialOptions) -> DarkStream {
    let mut last = None;
    for _ in 0..150 {
        match ctx.dial(service, options.clone()).await {
            Ok(stream) => return stream,
            Err(error) => last = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot dial the Go-hosted {service} within 15 s: {last:?}");
}

/// Echo of every size in [`SIZES`] through a Rust dialer; the Go host half-closes after
/// the dialer's half-close, so the whole stream must arrive and end.
async fn rust_round_trips(lab: &TestLab, service: &str, options: DialOptions) {
    let dialer = lab.context("dialer").await;
    for (i, size) in SIZES.into_iter().enumerate() {
        let data = payload(size, 60 + i as u8);
        let stream = if i == 0 {
            dial_when_bound(&dialer, service, &options).await
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
    let host = GoHost::start(&lab, "host-b", service, &[]).await;
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
    let host = GoHost::start(&lab, "host-b", E2EE, &["-edge-identity"]).await;
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
    go_dials(&lab, PLAIN, &["-terminator", "host-a"]).await;
    host.shutdown(Duration::from_secs(5)).await;
    echo.await.unwrap();
    lab.stop().await;
}
