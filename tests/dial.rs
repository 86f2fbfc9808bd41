//! `darkscrape dial` as a child process against the in-process lab: its exit status tells a
//! clean close (the host sent FIN, or closed after the dialer's FIN) from a close with an
//! error (the host closed while standard input was still being sent), and a dial to a
//! service nobody hosts fails with a message naming the service by name.

use std::process::{Output, Stdio};
use std::time::Duration;

use dark_listener::context::{Context, DialError, DialOptions};
use dark_listener::listener::{BindOptions, ServiceListener};
use testbed::lab::{group_config, ServiceGroup, TestLab};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const SERVICE: &str = "dial.exit.svc";
const HOST: &str = "dial.host";
const CLIENT: &str = "dial.client";

async fn start_lab() -> TestLab {
    TestLab::start_with(group_config(&ServiceGroup {
        service_role: "dial-exit",
        services: &[(SERVICE, false)],
        identities: &[(HOST, "dial-hosts"), (CLIENT, "dial-clients")],
        binders: "dial-hosts",
        dialers: "dial-clients",
    }))
    .await
}

/// Binds the service and waits (bounded) until a dial reaches it; the probe connection is
/// accepted and dropped.
async fn bind(lab: &TestLab) -> (Context, ServiceListener) {
    let host = lab.context(HOST).await;
    let mut listener = host
        .bind(SERVICE, BindOptions::default())
        .await
        .expect("bind");
    let client = lab.context(CLIENT).await;
    for attempt in 0..150 {
        match client.dial(SERVICE, DialOptions::default()).await {
            Ok(probe) => {
                drop(probe);
                let _ = tokio::time::timeout(Duration::from_secs(5), listener.accept()).await;
                break;
            }
            Err(error) if attempt == 149 => panic!("{SERVICE} never became dialable: {error}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    client.shutdown(Duration::from_secs(2)).await;
    (host, listener)
}

/// Starts `darkscrape dial` with piped stdin; returns the child.
fn spawn_dial(lab: &TestLab) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_darkscrape"))
        .args(["dial", "--identity"])
        .arg(lab.identity_file(CLIENT))
        .args(["--service", SERVICE, "--timeout", "10"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("darkscrape starts")
}

async fn finished(child: tokio::process::Child) -> Output {
    tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("darkscrape dial ends within 30 s")
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_answers_and_sends_fin_gives_exit_zero() {
    let lab = start_lab().await;
    let (host, mut listener) = bind(&lab).await;
    let mut child = spawn_dial(&lab);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"ping\n").await.unwrap();
    drop(stdin);
    let (stream, _) = listener.accept().await.expect("the dial arrives");
    let mut stream = BufReader::new(stream);
    let mut got = Vec::new();
    stream.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"ping\n");
    stream.get_mut().write_all(b"pong\n").await.unwrap();
    stream.get_mut().shutdown().await.unwrap();
    let output = finished(child).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "pong\n");
    drop(stream);
    host.shutdown(Duration::from_secs(2)).await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_closes_while_input_is_still_sent_gives_a_failure() {
    let lab = start_lab().await;
    let (host, mut listener) = bind(&lab).await;
    let mut child = spawn_dial(&lab);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"first\n").await.unwrap();
    let (stream, _) = listener.accept().await.expect("the dial arrives");
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    stream.read_line(&mut line).await.unwrap();
    assert_eq!(line, "first\n");
    stream.get_mut().write_all(b"bye\n").await.unwrap();
    // Closed without FIN while the dialer's standard input is still open.
    drop(stream);
    let output = finished(child).await;
    drop(stdin);
    assert!(
        !output.status.success(),
        "an early close must fail; stderr: {}",
        text(&output.stderr)
    );
    assert_eq!(text(&output.stdout), "bye\n");
    assert!(
        text(&output.stderr).contains("before the end of standard input"),
        "{}",
        text(&output.stderr)
    );
    host.shutdown(Duration::from_secs(2)).await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_closes_after_the_dialers_fin_gives_exit_zero() {
    let lab = start_lab().await;
    let (host, mut listener) = bind(&lab).await;
    let mut child = spawn_dial(&lab);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"q\n").await.unwrap();
    drop(stdin);
    let (stream, _) = listener.accept().await.expect("the dial arrives");
    let mut stream = BufReader::new(stream);
    let mut got = Vec::new();
    stream.read_to_end(&mut got).await.unwrap();
    stream.get_mut().write_all(b"answer\n").await.unwrap();
    stream.get_mut().flush().await.unwrap();
    // As Go hosts do: Close without CloseWrite, once the request was read.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(stream);
    let output = finished(child).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "answer\n");
    host.shutdown(Duration::from_secs(2)).await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_nobody_hosts_is_named_in_the_error() {
    let lab = start_lab().await;
    let client = lab.context(CLIENT).await;
    match client.dial(SERVICE, DialOptions::default()).await {
        Err(error @ DialError::Refused { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains(&format!("service {SERVICE:?} has no terminators")),
                "{message}"
            );
            assert!(message.contains("start its host"), "{message}");
            let DialError::Refused { reason, .. } = &error else {
                unreachable!()
            };
            assert!(!reason.contains(SERVICE), "the router's own text: {reason}");
            assert!(message.contains(reason.as_str()), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    client.shutdown(Duration::from_secs(2)).await;
    let child = spawn_dial(&lab);
    let output = finished(child).await;
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains(&format!("service {SERVICE:?} has no terminators")),
        "{}",
        text(&output.stderr)
    );
    lab.stop().await;
}
