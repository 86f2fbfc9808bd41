//! Graceful drain of the real binaries on SIGTERM: `darkscrape reflectz` and
//! `darkscrape host` run as child processes against the in-process lab. A dialer mid-stream
//! when the signal arrives still gets every line echoed (reflectz's echo, or a loopback TCP
//! echo behind `darkscrape host`) and the process then exits 0; no new dial reaches the
//! service once the signal arrived; a stream still open when `--drain-timeout` runs out is
//! closed and the process exits anyway.
//!
//! The binary is the one cargo built next to this test (alone:
//! `cargo build --bin darkscrape --example custom_exporter`).

#[path = "support/lab.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use dark_listener::context::{Context, DialOptions};
use dark_listener::stream::DarkStream;
use support::{start_lab, ECHO, HOST, SCRAPER};
use testbed::lab::{dial_when_bound, TestLab};
use testbed::process::{built_binary, exits_cleanly, logged_command, send_signal};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Child;

/// Lines sent by the dialer, one every [`PACE`].
const LINES: usize = 30;
/// Pause between two lines.
const PACE: Duration = Duration::from_millis(60);

/// Starts `darkscrape SUBCOMMAND --identity <HOST's file> --service ECHO EXTRA…` with its
/// stderr in `log`.
fn spawn_darkscrape(lab: &TestLab, subcommand: &str, extra: &[&str], log: &Path) -> Child {
    let identity = lab.identity_file(HOST);
    logged_command(built_binary("darkscrape"), log)
        .args([subcommand, "--identity", identity.to_str().unwrap()])
        .args(["--service", ECHO])
        .args(extra)
        .spawn()
        .expect("darkscrape starts")
}

/// Sends `line`, reads one line back.
async fn round_trip(stream: &mut BufReader<DarkStream>, line: &str) -> String {
    stream.get_mut().write_all(line.as_bytes()).await.unwrap();
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_line(&mut reply))
        .await
        .expect("a reply within 10 s")
        .unwrap();
    reply
}

/// Line 0, then SIGTERM, then the other lines slowly, then FIN: every line must come back
/// as `prefix` + line, and the far side must then close.
async fn stream_through_sigterm(stream: DarkStream, child: &Child, prefix: &str) {
    let mut stream = BufReader::new(stream);
    let first = "line 0\n";
    assert_eq!(
        round_trip(&mut stream, first).await,
        format!("{prefix}{first}")
    );
    send_signal(child, "-TERM");
    for i in 1..LINES {
        tokio::time::sleep(PACE).await;
        let line = format!("line {i}\n");
        assert_eq!(
            round_trip(&mut stream, &line).await,
            format!("{prefix}{line}"),
            "line {i} of {LINES} after SIGTERM"
        );
    }
    stream.get_mut().shutdown().await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
        .await
        .expect("the far side closes after our FIN")
        .unwrap();
    assert!(rest.is_empty(), "nothing more: {rest:?}");
}

/// Once the signal arrived, dials to the service fail (bounded: 50 tries, 100 ms apart).
async fn dials_are_refused(ctx: &Context) {
    for _ in 0..50 {
        if ctx.dial(ECHO, DialOptions::default()).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{ECHO} still accepts dials after SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflectz_echoes_every_line_of_an_open_session_after_sigterm() {
    let lab = start_lab().await;
    let dialer = lab.context(SCRAPER).await;
    let log = lab.dir.path().join("reflectz.log");
    let child = spawn_darkscrape(&lab, "reflectz", &["--drain-timeout", "10"], &log);
    let stream = dial_when_bound(&dialer, ECHO, DialOptions::default(), 150).await;
    let session = stream_through_sigterm(stream, &child, "you sent me: ");
    tokio::join!(session, dials_are_refused(&dialer));
    let took = exits_cleanly(child, Duration::from_secs(15), &log).await;
    assert!(took < Duration::from_secs(10), "exit took {took:?}");
    dialer.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflectz_closes_a_session_still_open_after_the_drain_timeout() {
    let lab = start_lab().await;
    let dialer = lab.context(SCRAPER).await;
    let log = lab.dir.path().join("reflectz.log");
    let child = spawn_darkscrape(&lab, "reflectz", &["--drain-timeout", "1"], &log);
    let stream = dial_when_bound(&dialer, ECHO, DialOptions::default(), 150).await;
    let mut stream = BufReader::new(stream);
    assert_eq!(round_trip(&mut stream, "hi\n").await, "you sent me: hi\n");
    let signalled = Instant::now();
    send_signal(&child, "-TERM");
    // The session stays open and idle: reflectz closes it at the end of the grace period.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
        .await
        .expect("reflectz closes the session")
        .unwrap();
    assert!(rest.is_empty(), "nothing more: {rest:?}");
    assert!(
        signalled.elapsed() >= Duration::from_millis(900),
        "closed before the grace period ended: {:?}",
        signalled.elapsed()
    );
    exits_cleanly(child, Duration::from_secs(10), &log).await;
    assert!(signalled.elapsed() < Duration::from_secs(9));
    dialer.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}

/// A loopback TCP echo server (bytes back as they come), for `darkscrape host` to forward
/// to; serves connections until the test ends.
async fn tcp_echo() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = tcp.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
                let _ = write.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_finishes_a_forwarded_stream_after_sigterm() {
    let lab = start_lab().await;
    let dialer = lab.context(SCRAPER).await;
    let to = tcp_echo().await.to_string();
    let log = lab.dir.path().join("host.log");
    let child = spawn_darkscrape(&lab, "host", &["--to", &to, "--drain-timeout", "10"], &log);
    let stream = dial_when_bound(&dialer, ECHO, DialOptions::default(), 150).await;
    let session = stream_through_sigterm(stream, &child, "");
    tokio::join!(session, dials_are_refused(&dialer));
    let took = exits_cleanly(child, Duration::from_secs(15), &log).await;
    assert!(took < Duration::from_secs(10), "exit took {took:?}");
    dialer.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}
