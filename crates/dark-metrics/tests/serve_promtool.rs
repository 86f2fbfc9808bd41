//! `promtool check metrics` (Prometheus 2.42, a peer we did not write) on what the metrics
//! server answers, in both formats, self metrics included.

mod serve_common;

use std::io::Write;
use std::process::{Command, Stdio};

use dark_metrics::exposition::{MetricFamily, MetricType};
use dark_metrics::serve::{collector_fn, MetricsServer};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serve_common::*;
use testbed::peers::promtool;

/// Runs `promtool check metrics` on `body`; returns its exit code and messages.
pub fn promtool_check(body: &[u8]) -> (Option<i32>, String) {
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body)
        .expect("promtool reads stdin");
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

/// Prometheus' own OpenMetrics parser, through `promtool tsdb create-blocks-from
/// openmetrics`, which needs a timestamp on every sample: one is appended to each sample
/// line. Returns whether promtool accepted it, its messages, and the samples it read.
fn promtool_parse_openmetrics(body: &str) -> (bool, String, usize) {
    let stamped: String = body
        .lines()
        .map(|line| {
            if line.starts_with('#') {
                format!("{line}\n")
            } else {
                format!("{line} 1700000000\n")
            }
        })
        .collect();
    let dir = std::env::temp_dir().join(format!(
        "dark-metrics-serve-om-{}-{}",
        std::process::id(),
        body.len()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("scrape.om");
    std::fs::write(&input, stamped).unwrap();
    let output = Command::new(promtool())
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(dir.join("blocks"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let samples = stdout
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(4))
        .filter_map(|n| n.parse::<usize>().ok())
        .sum();
    let _ = std::fs::remove_dir_all(&dir);
    (
        output.status.success(),
        stdout + &String::from_utf8_lossy(&output.stderr),
        samples,
    )
}

#[tokio::test]
async fn promtool_accepts_both_formats_with_self_metrics() {
    let mut registry = Registry::default();
    let requests = Family::<Vec<(String, String)>, Counter>::default();
    requests
        .get_or_create(&vec![("path".into(), "/a \"quoted\"\\path".into())])
        .inc_by(3);
    registry.register("demo_requests", "Requests by path", requests);
    let ready = Gauge::<i64>::default();
    ready.set(1);
    registry.register("demo_ready", "Whether ready\nsecond help line", ready);
    let sizes = Histogram::new([100.0, 1000.0]);
    sizes.observe(512.0);
    registry.register("demo_response_size_bytes", "Response sizes", sizes);
    let server = MetricsServer::builder()
        .registry(registry)
        .collector(collector_fn("disk", |_| async {
            Ok(vec![MetricFamily::new(
                "demo_disk_free_bytes",
                "Free disk space.",
                MetricType::Gauge,
            )
            .with_sample(vec![("mount".into(), "/".into())], 1.5e9)])
        }))
        .build()
        .unwrap();
    let server = TestServer::start(server, Transport::InMemory).await;
    // One scrape first so the per-code request counter exists in the checked bodies.
    server.get("/metrics", &[]).await;
    let text_body = server
        .get("/metrics", &[("accept", "text/plain;version=0.0.4")])
        .await;
    let text = String::from_utf8_lossy(text_body.body()).into_owned();
    assert!(text.contains("dark_metrics_http_requests_total{code=\"200\"}"));
    assert!(text.contains("demo_disk_free_bytes{mount=\"/\"}"));
    let (code, messages) = promtool_check(text_body.body());
    assert_eq!(code, Some(0), "promtool: {messages}\n{text}");

    // promtool's linter reads the text format only. On OpenMetrics it parses every line
    // (a syntax error would fail here) and its only complaint is expected: OpenMetrics puts
    // a counter's HELP on the family name without `_total`, so the linter, which looks for
    // HELP on the sample name, reports "<name>_total no help text" for each counter.
    let om_body = server
        .get(
            "/metrics",
            &[("accept", "application/openmetrics-text;version=1.0.0")],
        )
        .await;
    let om = String::from_utf8_lossy(om_body.body()).into_owned();
    assert!(om.ends_with("# EOF\n"));
    let (_code, messages) = promtool_check(om_body.body());
    let counters: Vec<&str> = om
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    assert!(counters.len() >= 2, "{om}");
    for line in messages.lines().filter(|l| !l.trim().is_empty()) {
        let family = line
            .strip_suffix("_total no help text")
            .unwrap_or_else(|| panic!("unexpected promtool message on OpenMetrics: {line}\n{om}"));
        assert!(counters.contains(&family), "{line}");
    }
    // Prometheus' OpenMetrics parser reads every sample of it, and refuses it without `# EOF`.
    let sample_lines = om
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    let (ok, messages, samples) = promtool_parse_openmetrics(&om);
    assert!(ok, "promtool: {messages}\n{om}");
    assert_eq!(samples, sample_lines, "{messages}");
    let (ok, _, _) = promtool_parse_openmetrics(om.trim_end_matches("# EOF\n"));
    assert!(!ok);
    // The check can fail: a counter without `_total` is a lint problem for promtool.
    let (code, _) =
        promtool_check(b"# HELP bad_counter x\n# TYPE bad_counter counter\nbad_counter 1\n");
    assert_ne!(code, Some(0));
    server.shutdown().await;
}
