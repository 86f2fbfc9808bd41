//! reflectz's metrics as a scraper sees them: the original's `reflect_total_connections`
//! (name, help, value), the new metrics, and `promtool check metrics` on both formats.

use std::time::Duration;

use bytes::Bytes;
use dark_metrics::serve::ServerConfig;
use http_body_util::{BodyExt, Empty};
use reflectz::echo::{serve_echo, EchoLimits};
use reflectz::ReflectMetrics;
use testbed::promtool::{check_metrics, parse_openmetrics};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tower::ServiceExt;

/// Prometheus' own OpenMetrics parser on `body` (see `testbed::promtool`): the number of
/// samples promtool reports having read; panics when it refuses the body.
fn promtool_parse_openmetrics(body: &str) -> usize {
    let (accepted, messages, samples) = parse_openmetrics(body);
    assert!(
        accepted,
        "promtool refused the OpenMetrics body: {messages}\n{body}"
    );
    samples
}

#[tokio::test]
async fn served_metrics_keep_the_original_counter_and_pass_promtool() {
    let metrics = ReflectMetrics::new();
    let (connect, accept) = tokio::sync::mpsc::channel::<DuplexStream>(8);
    let echo = tokio::spawn(serve_echo(
        accept,
        EchoLimits::default(),
        metrics.clone(),
        std::future::pending::<()>(),
    ));
    for n in 0..3 {
        let (mut client, server) = tokio::io::duplex(4096);
        connect.send(server).await.unwrap();
        client
            .write_all(format!("line {n}\n").as_bytes())
            .await
            .unwrap();
        client.shutdown().await.unwrap();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, format!("you sent me: line {n}\n").into_bytes());
    }
    for _ in 0..200 {
        if metrics.active_connections() == 0 && metrics.total_connections() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let server = metrics.metrics_server(ServerConfig::default()).unwrap();
    let scrape = |accept: &'static str| {
        let service = server.service::<Empty<Bytes>>();
        async move {
            let request = http::Request::get("/metrics")
                .header("accept", accept)
                .body(Empty::new())
                .unwrap();
            let response = service.oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200);
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_string();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (content_type, String::from_utf8(body.to_vec()).unwrap())
        }
    };

    let (content_type, text) = scrape("text/plain;version=0.0.4").await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(
        text.contains(
            "# HELP reflect_total_connections number of connections established\n\
             # TYPE reflect_total_connections untyped\n\
             reflect_total_connections 3\n"
        ),
        "{text}"
    );
    for line in [
        "reflect_lines_total 3\n",
        "reflect_active_connections 0\n",
        "reflect_received_bytes_total 21\n",
        "reflect_sent_bytes_total 60\n",
        "reflect_closed_connections_total{reason=\"eof\"} 3\n",
        "reflect_connection_duration_seconds_count 3\n",
        "# TYPE process_cpu_seconds_total counter\n",
        "# TYPE process_resident_memory_bytes gauge\n",
        "dark_metrics_collector_success{collector=\"process\"} 1\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    let (code, messages) = check_metrics(text.as_bytes());
    assert_eq!(code, Some(0), "promtool: {messages}\n{text}");

    let (content_type, om) = scrape("application/openmetrics-text;version=1.0.0").await;
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    // What Go's client wrote for the original's counter under OpenMetrics.
    assert!(
        om.contains(
            "# TYPE reflect_total_connections unknown\n\
             # HELP reflect_total_connections number of connections established\n\
             reflect_total_connections 3"
        ),
        "{om}"
    );
    assert!(om.ends_with("# EOF\n"));
    // `promtool check metrics` only reads the text format (it stops at `unknown`), so the
    // OpenMetrics body goes through Prometheus' OpenMetrics parser instead.
    let sample_lines = om
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    assert_eq!(promtool_parse_openmetrics(&om), sample_lines);
    // That parser does reject a broken body (no `# EOF`).
    let truncated = om.trim_end_matches("# EOF\n");
    let result = std::panic::catch_unwind(|| promtool_parse_openmetrics(truncated));
    assert!(result.is_err(), "a body without # EOF must be refused");
    drop(connect);
    let summary = echo.await.unwrap();
    assert_eq!(summary.connections, 3);
}
