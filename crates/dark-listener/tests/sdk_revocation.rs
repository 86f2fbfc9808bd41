//! A deleted identity loses access, as on a 2.x network (`ziti edge delete identity`): the
//! lab removes its API sessions and the router closes the channels that presented them. For
//! a host (ours, then the Go SDK v1.9.0), open streams end, its terminators go and new dials
//! are refused; for a dialer, open streams end and new dials fail with the controller's
//! reason for refusing the login.

#[path = "sdk_support.rs"]
mod support;

use std::time::{Duration, Instant};

use dark_listener::context::{Context, ContextOptions, DialOptions};
use dark_listener::identity::Identity;
use dark_listener::listener::BindOptions;
use dark_listener::stream::DarkStream;
use support::{spawn_echo, start_lab, PLAIN};
use testbed::go_peer::GoHost;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Dials `service` (retried for up to 15 s while a bind settles) and checks a short echo;
/// returns the open stream.
async fn open_echo(dialer: &Context, service: &str) -> DarkStream {
    let mut last = None;
    for _ in 0..150 {
        match dialer.dial(service, DialOptions::default()).await {
            Ok(mut stream) => {
                stream.write_all(b"ping").await.unwrap();
                let mut back = [0u8; 4];
                tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut back))
                    .await
                    .expect("echo within 10 s")
                    .unwrap();
                assert_eq!(&back, b"ping");
                return stream;
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot dial {service} within 15 s: {last:?}");
}

/// Waits (5 s at most) for the open stream to end: EOF or an error, nothing else arrives.
async fn assert_stream_ends(mut stream: DarkStream, whose: &str) {
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
    match read {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        Ok(Ok(n)) => panic!("{n} unexpected bytes on the stream of a deleted {whose}"),
        Err(_) => panic!("the open stream of a deleted {whose} still runs after 5 s"),
    }
}

/// Dials until refused (5 s at most, 1 s per dial); returns the refusal.
async fn refused_within_5_s(dialer: &Context, service: &str) -> String {
    let options = DialOptions {
        timeout: Duration::from_secs(1),
        ..DialOptions::default()
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        match dialer.dial(service, options.clone()).await {
            Ok(stream) => drop(stream),
            Err(e) => return e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{service} still takes dials 5 s after its host identity was deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_host_loses_its_streams_and_terminators_and_cannot_log_in() {
    let lab = start_lab().await;
    let identity_file = lab.identity_file("host-a");
    let host = lab.context("host-a").await;
    let echo = spawn_echo(host.bind(PLAIN, BindOptions::default()).await.unwrap(), "");
    let dialer = lab.context("dialer").await;
    let stream = open_echo(&dialer, PLAIN).await;

    lab.lab.state().remove_identity("host-a").unwrap();
    assert_stream_ends(stream, "host").await;
    let refusal = refused_within_5_s(&dialer, PLAIN).await;
    assert!(refusal.contains("terminator"), "{refusal}");

    // Its certificate no longer logs in; the error carries the controller's answer.
    let again = Context::with_options(
        Identity::from_file(&identity_file).unwrap(),
        ContextOptions::default(),
    )
    .unwrap();
    let login = again.wait_authenticated(Duration::from_secs(5)).await;
    let err = login.expect_err("a deleted identity logged in").to_string();
    assert!(refusal_of_the_certificate(&err), "{err}");

    again.shutdown(Duration::from_secs(2)).await;
    dialer.shutdown(Duration::from_secs(5)).await;
    host.shutdown(Duration::from_secs(5)).await;
    echo.await.unwrap();
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_dialer_loses_its_streams_and_new_dials_say_why() {
    let lab = start_lab().await;
    let host = lab.context("host-a").await;
    let echo = spawn_echo(host.bind(PLAIN, BindOptions::default()).await.unwrap(), "");
    let dialer = lab.context("dialer").await;
    let stream = open_echo(&dialer, PLAIN).await;

    lab.lab.state().remove_identity("dialer").unwrap();
    assert_stream_ends(stream, "dialer").await;
    // Every dial fails. The first may only say that the router refused the stale API
    // session; once the SDK has tried to log in again, the controller's reason shows.
    let options = DialOptions {
        timeout: Duration::from_secs(2),
        ..DialOptions::default()
    };
    let started = Instant::now();
    let mut errors = Vec::new();
    loop {
        let err = dialer
            .dial(PLAIN, options.clone())
            .await
            .expect_err("a deleted identity dialed")
            .to_string();
        if refusal_of_the_certificate(&err) {
            break;
        }
        errors.push(err);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no dial error named the controller's refusal within 10 s: {errors:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    dialer.shutdown(Duration::from_secs(5)).await;
    host.shutdown(Duration::from_secs(5)).await;
    echo.await.unwrap();
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_go_sdk_host_loses_its_streams_and_terminators() {
    let lab = start_lab().await;
    let go = GoHost::start("host", &[], &lab.identity_file("host-b"), PLAIN).await;
    let dialer = lab.context("dialer").await;
    let stream = open_echo(&dialer, PLAIN).await;

    lab.lab.state().remove_identity("host-b").unwrap();
    assert_stream_ends(stream, "Go SDK host").await;
    let refusal = refused_within_5_s(&dialer, PLAIN).await;
    assert!(refusal.contains("terminator"), "{refusal}");

    dialer.shutdown(Duration::from_secs(5)).await;
    go.stop().await;
    lab.stop().await;
}

/// The controller's refusal of a certificate that belongs to no identity: `INVALID_AUTH` on
/// the legacy login, the OAuth `access_denied` on the OIDC one.
fn refusal_of_the_certificate(err: &str) -> bool {
    err.contains("INVALID_AUTH") || err.contains("refused with 401 access_denied")
}
