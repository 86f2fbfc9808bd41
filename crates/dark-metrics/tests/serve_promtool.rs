//! `promtool check metrics` (Prometheus 2.42, a peer we did not write) on what the metrics
//! server answers, in both formats, self metrics included.

mod serve_common;

use dark_metrics::exposition::{MetricFamily, MetricType};
use dark_metrics::serve::{collector_fn, MetricsServer};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serve_common::*;
use testbed::promtool::{check_metrics, parse_openmetrics};

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
    let (code, messages) = check_metrics(text_body.body());
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
    let (_code, messages) = check_metrics(om_body.body());
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
    let (ok, messages, samples) = parse_openmetrics(&om);
    assert!(ok, "promtool: {messages}\n{om}");
    assert_eq!(samples, sample_lines, "{messages}");
    let (ok, _, _) = parse_openmetrics(om.trim_end_matches("# EOF\n"));
    assert!(!ok);
    // The check can fail: a counter without `_total` is a lint problem for promtool.
    let (code, _) =
        check_metrics(b"# HELP bad_counter x\n# TYPE bad_counter counter\nbad_counter 1\n");
    assert_ne!(code, Some(0));
    server.shutdown().await;
}
