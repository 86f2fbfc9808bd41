//! The real binaries hold no listening socket: `darkscrape reflectz` (configured through the
//! original's environment variables) and the `custom_exporter` example run as child
//! processes against the in-process lab; after proving they serve (echo and scrape over the
//! overlay), the test matches each child's socket inodes (`/proc/PID/fd`) against
//! `/proc/PID/net/{tcp,tcp6,udp,udp6}` (`ziti_lab::sockets`): no TCP socket in LISTEN
//! state, no UDP socket. Then
//! each child is stopped with a signal and must exit cleanly.
//!
//! The binaries are the ones cargo built next to this test (`scripts/test.sh` builds them;
//! alone: `cargo build --bin darkscrape --example custom_exporter`).

#[path = "support/lab.rs"]
mod support;

use std::process::Stdio;
use std::time::Duration;

use dark_listener::context::DialOptions;
use support::{http_get, sample_value, start_lab, DEMO, ECHO, HOST, METRICS, SCRAPER};
use testbed::lab::{addressed, dial_when_bound};
use testbed::process::{built_binary, logged_command, stop_cleanly};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Asserts that `pid` has TCP sockets (its channels) but none listening, and no UDP socket
/// (the lab's shared procfs check).
fn assert_no_listening_socket(pid: u32, what: &str) {
    if let Err(not_dark) = ziti_lab::sockets::check_process_dark(pid) {
        panic!("{what}: {not_dark}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflectz_and_the_example_exporter_hold_no_listening_socket() {
    let lab = start_lab().await;
    let identity = lab.identity_file(HOST);
    let dialer = lab.context(SCRAPER).await;

    // darkscrape reflectz, configured through the original's environment variables.
    let log = lab.dir.path().join("reflectz.log");
    let child = logged_command(built_binary("darkscrape"), &log)
        .arg("reflectz")
        .env("IDENTITY_FILE", &identity)
        .env("SERVICE_NAME", ECHO)
        .env("PROMETHEUS_SERVICE_NAME", METRICS)
        .spawn()
        .expect("darkscrape starts");
    let pid = child.id().unwrap();
    let echo = dial_when_bound(&dialer, ECHO, DialOptions::default(), 150).await;
    let mut echo = BufReader::new(echo);
    echo.write_all(b"are you dark?\n").await.unwrap();
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(10), echo.read_line(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, "you sent me: are you dark?\n");
    let scrape = dial_when_bound(&dialer, METRICS, addressed(HOST), 150).await;
    let (status, _, body) = http_get(scrape, "/metrics", "*/*").await;
    assert_eq!(status, 200);
    assert_eq!(sample_value(&body, "reflect_total_connections"), Some(1.0));
    assert_no_listening_socket(pid, "darkscrape reflectz");
    drop(echo);
    stop_cleanly(child, "-TERM", &log).await;

    // The custom exporter example.
    let log = lab.dir.path().join("example.log");
    let child = tokio::process::Command::new(built_binary("examples/custom_exporter"))
        .arg(&identity)
        .arg(DEMO)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("custom_exporter starts");
    let pid = child.id().unwrap();
    let scrape = dial_when_bound(&dialer, DEMO, addressed(HOST), 150).await;
    let (status, content_type, body) = http_get(scrape, "/metrics", "text/plain").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    for family in [
        "# TYPE demo_jobs_total counter",
        "# TYPE demo_queue_depth gauge",
        "# TYPE demo_job_duration_seconds histogram",
    ] {
        assert!(body.contains(family), "missing {family:?}:\n{body}");
    }
    assert_no_listening_socket(pid, "custom_exporter");
    stop_cleanly(child, "-INT", &log).await;

    // The check does catch a listener: the example's loopback mode (benchmark only) has one.
    let log = lab.dir.path().join("example-loopback.log");
    let mut child = tokio::process::Command::new(built_binary("examples/custom_exporter"))
        .arg(&identity)
        .arg(DEMO)
        .env("LOOPBACK_ADDR", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("custom_exporter starts");
    let pid = child.id().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(20), stdout.read_line(&mut line))
        .await
        .expect("loopback address printed")
        .unwrap();
    assert!(line.starts_with("loopback 127.0.0.1:"), "{line}");
    let caught = std::panic::catch_unwind(|| assert_no_listening_socket(pid, "loopback mode"));
    assert!(caught.is_err(), "a listening TCP socket must be detected");
    stop_cleanly(child, "-INT", &log).await;

    dialer.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}
