//! reflectz on the in-process lab (controller + edge router on loopback): a Rust dialer and
//! the real C SDK (PyPI openziti 0.6.0) get `you sent me: …` back, and the metrics service is
//! reached by addressing the host's identity name as terminator identity.

#[path = "support/lab.rs"]
mod support;

use std::process::Stdio;
use std::time::Duration;

use dark_listener::context::{Context, DialOptions};
use reflectz::{ReflectMetrics, ReflectzConfig, RunSummary};
use support::{http_get, sample_value, start_lab, support_file, ECHO, HOST, METRICS, SCRAPER};
use testbed::lab::TestLab;
use testbed::lab::{addressed, dial_when_bound};
use testbed::peers::peer_python;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Starts reflectz for `HOST` on the lab; stop it with the returned sender.
async fn start_reflectz(
    lab: &TestLab,
) -> (
    ReflectMetrics,
    oneshot::Sender<()>,
    JoinHandle<(RunSummary, Context)>,
) {
    let ctx = lab.context(HOST).await;
    let metrics = ReflectMetrics::new();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = ReflectzConfig::new(ECHO, Some(METRICS.to_string()));
    let shared = metrics.clone();
    let task = tokio::spawn(async move {
        let summary = reflectz::run(&ctx, config, shared, async {
            let _ = stopped.await;
        })
        .await
        .expect("reflectz runs");
        (summary, ctx)
    });
    (metrics, stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_dialers_get_echoes_and_scrape_the_addressed_metrics() {
    let lab = start_lab().await;
    let (metrics, stop, task) = start_reflectz(&lab).await;
    let dialer = lab.context(SCRAPER).await;

    let first = dial_when_bound(&dialer, ECHO, DialOptions::default(), 100).await;
    let mut first = BufReader::new(first);
    first.write_all(b"hello over the overlay\n").await.unwrap();
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(10), first.read_line(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, "you sent me: hello over the overlay\n");
    drop(first);

    // Eight clients at once, five lines each.
    let mut clients = Vec::new();
    for i in 0..8 {
        let stream = dialer.dial(ECHO, DialOptions::default()).await.unwrap();
        clients.push(tokio::spawn(async move {
            let mut stream = BufReader::new(stream);
            for j in 0..5 {
                let line = format!("client {i} line {j}\n");
                stream.write_all(line.as_bytes()).await.unwrap();
                let mut reply = String::new();
                tokio::time::timeout(Duration::from_secs(10), stream.read_line(&mut reply))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(reply, format!("you sent me: {line}"));
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    assert_eq!(metrics.total_connections(), 9);

    // The metrics service, addressed by the host's identity name.
    let scrape = dial_when_bound(&dialer, METRICS, addressed(HOST), 100).await;
    let (status, content_type, body) =
        http_get(scrape, "/metrics", "text/plain;version=0.0.4").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_eq!(sample_value(&body, "reflect_total_connections"), Some(9.0));
    assert_eq!(sample_value(&body, "reflect_lines_total"), Some(41.0));
    let scrape = dialer.dial(METRICS, addressed(HOST)).await.unwrap();
    let (status, content_type, body) = http_get(
        scrape,
        "/metrics",
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(body.contains("# TYPE reflect_total_connections unknown\n"));
    assert!(body.ends_with("# EOF\n"));

    // Another terminator identity does not reach this host.
    let refused = dialer.dial(METRICS, addressed("someone-else")).await;
    assert!(refused.is_err(), "dial to an unknown terminator must fail");

    stop.send(()).unwrap();
    let (summary, host) = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("reflectz stops")
        .unwrap();
    assert_eq!(summary.echo.connections, 9);
    assert_eq!(summary.metrics.map(|m| m.connections), Some(2));
    host.shutdown(Duration::from_secs(5)).await;
    dialer.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_sdk_gets_echoes_and_scrapes_reflectz() {
    let lab = start_lab().await;
    let (metrics, stop, task) = start_reflectz(&lab).await;
    // Make sure both binds are in place before the C SDK dials.
    let probe = lab.context(SCRAPER).await;
    drop(dial_when_bound(&probe, ECHO, DialOptions::default(), 100).await);
    drop(dial_when_bound(&probe, METRICS, addressed(HOST), 100).await);
    probe.shutdown(Duration::from_secs(5)).await;
    for _ in 0..100 {
        if metrics.active_connections() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = metrics.total_connections();

    let identity = lab.identity_file(SCRAPER);
    let child = tokio::process::Command::new(peer_python())
        .arg(support_file("c_sdk_reflect.py"))
        .arg(&identity)
        .args([ECHO, METRICS, HOST, "hello from C", "second line"])
        .env("ZITI_LOG", "2")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot start the peer python");
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("C SDK client did not finish within 120 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let steps: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let replies: Vec<&str> = steps
        .iter()
        .filter(|s| s["step"] == "echo")
        .filter_map(|s| s["reply"].as_str())
        .collect();
    assert_eq!(
        replies,
        ["you sent me: hello from C\n", "you sent me: second line\n"],
        "C SDK client: {stdout}\n--- stderr ---\n{stderr}"
    );
    let scrape = steps
        .iter()
        .find(|s| s["step"] == "scrape")
        .and_then(|s| s["response"].as_str())
        .unwrap_or_else(|| panic!("no scrape: {stdout}\n{stderr}"));
    assert!(scrape.starts_with("HTTP/1.0 200 OK\r\n"), "{scrape}");
    assert!(
        scrape.contains("content-type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{scrape}"
    );
    // The C SDK's echo connection was counted before the scrape was answered.
    let expected = (before + 1) as f64;
    assert_eq!(
        sample_value(scrape, "reflect_total_connections"),
        Some(expected),
        "{scrape}"
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");

    stop.send(()).unwrap();
    let (_summary, host) = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("reflectz stops")
        .unwrap();
    host.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}
