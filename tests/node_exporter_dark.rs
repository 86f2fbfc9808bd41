//! `darkscrape node-exporter` serving dark: the real binary runs as a child process hosting
//! a service of the in-process lab, is scraped over the overlay by a Rust dialer, holds no
//! listening TCP socket and no UDP socket (`ziti_lab::sockets`), and stops cleanly on
//! SIGTERM and on SIGINT. Two runs cover the serving flags: `--bind-using-identity` with
//! the defaults, then `--terminator-identity`, `--web.telemetry-path` and
//! `--web.disable-exporter-metrics`.

#[path = "../crates/node-exporter/tests/support/lab.rs"]
mod lab;

use std::path::{Path, PathBuf};
use std::time::Duration;

use dark_metrics::exposition::{Format, MetricFamily};
use dark_metrics::scrape::{scrape, ScrapeError, ScrapeRequest};
use lab::{context, start_lab, HOST, SCRAPER, SERVICE};
use testbed::lab::{addressed, dial_when_bound, TestLab};
use testbed::process::{logged_command, stop_cleanly};

fn has(families: &[MetricFamily], name: &str) -> bool {
    families.iter().any(|f| f.name == name)
}

fn identity_file(lab: &TestLab) -> PathBuf {
    lab.identity_file(HOST)
}

fn start(identity: &Path, log: &Path, extra: &[&str]) -> tokio::process::Child {
    logged_command(env!("CARGO_BIN_EXE_darkscrape"), log)
        .args(["node-exporter", "--identity"])
        .arg(identity)
        .args(["--service", SERVICE])
        .args(extra)
        .spawn()
        .expect("darkscrape starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn darkscrape_node_exporter_serves_dark_and_stops_on_signals() {
    let lab = start_lab().await;
    let identity = identity_file(&lab);
    let scraper = context(&lab, SCRAPER).await;

    // Defaults, addressed by the identity's name.
    let log = lab.dir.path().join("node-exporter.log");
    let child = start(&identity, &log, &["--bind-using-identity"]);
    let pid = child.id().unwrap();
    let mut request = ScrapeRequest::new(SERVICE, "/metrics");
    request.accept = "*/*".to_string();
    let served = scrape(
        dial_when_bound(&scraper, SERVICE, addressed(HOST), 150).await,
        &request,
    )
    .await
    .unwrap();
    assert_eq!(served.format, Format::Text004, "text 0.0.4 by default");
    for name in [
        "node_load1",
        "node_cpu_seconds_total",
        "node_scrape_collector_success",
        "process_resident_memory_bytes",
        "dark_metrics_collector_success",
    ] {
        assert!(has(&served.families, name), "{name} not served");
    }
    let census = ziti_lab::sockets::check_process_dark(pid)
        .unwrap_or_else(|not_dark| panic!("darkscrape node-exporter: {not_dark}"));
    assert!(!census.tcp.is_empty());
    stop_cleanly(child, "-TERM", &log).await;

    // A terminator identity, another path, no exporter metrics; stopped with SIGINT.
    let log = lab.dir.path().join("node-exporter-2.log");
    let child = start(
        &identity,
        &log,
        &[
            "--terminator-identity",
            "node-b",
            "--web.telemetry-path",
            "/node",
            "--web.disable-exporter-metrics",
            "--collector.disable-defaults",
            "--collector.loadavg",
        ],
    );
    let pid = child.id().unwrap();
    let served = scrape(
        dial_when_bound(&scraper, SERVICE, addressed("node-b"), 150).await,
        &ScrapeRequest::new(SERVICE, "/node"),
    )
    .await
    .unwrap();
    assert!(has(&served.families, "node_load1"));
    assert!(!has(&served.families, "node_cpu_seconds_total"));
    assert!(!has(&served.families, "process_resident_memory_bytes"));
    assert!(!has(&served.families, "dark_metrics_collector_success"));
    match scrape(
        dial_when_bound(&scraper, SERVICE, addressed("node-b"), 150).await,
        &ScrapeRequest::new(SERVICE, "/metrics"),
    )
    .await
    {
        Err(ScrapeError::Status { status, .. }) => assert_eq!(status, 404),
        other => panic!("expected 404 on /metrics, got {other:?}"),
    }
    ziti_lab::sockets::check_process_dark(pid)
        .unwrap_or_else(|not_dark| panic!("darkscrape node-exporter: {not_dark}"));
    stop_cleanly(child, "-INT", &log).await;

    scraper.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}

#[test]
fn serving_flags_without_identity_are_refused_and_once_needs_no_network() {
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_darkscrape"))
        .args(["node-exporter", "--service", SERVICE])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--identity"));
    let once = std::process::Command::new(env!("CARGO_BIN_EXE_darkscrape"))
        .args([
            "node-exporter",
            "--once",
            "--collector.disable-defaults",
            "--collector.loadavg",
        ])
        .output()
        .unwrap();
    assert!(once.status.success());
    let text = String::from_utf8_lossy(&once.stdout);
    assert!(text.contains("# TYPE node_load1 gauge"), "{text}");
    assert!(
        !text.contains("process_"),
        "--once prints host metrics only"
    );
}
