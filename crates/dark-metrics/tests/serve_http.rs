//! The metrics server over in-memory connections and over the overlay (an in-process lab;
//! plus one TCP loopback run): routing, negotiation, gzip, scrape deadlines, the concurrency
//! limit, request limits and graceful shutdown. Each scenario runs on both transports.

mod serve_common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dark_metrics::exposition::{parse, Format, MetricFamily, MetricType, ParseLimits};
use dark_metrics::serve::{
    collector_fn, CollectError, DeadlinePolicy, MetricsServer, ServerConfig,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serve_common::*;
use tokio::sync::Notify;

/// Runs each scenario once per transport: `<scenario>::in_memory` and `<scenario>::over_lab`.
macro_rules! on_both_transports {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn in_memory() {
                    super::$scenario(Transport::InMemory).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn over_lab() {
                    super::$scenario(Transport::Lab).await;
                }
            }
        )*
    };
}

on_both_transports!(
    routes_get_head_landing_404_405_and_413,
    negotiates_prometheus_2_and_3_accept_headers,
    gzip_only_when_accepted,
    scrape_timeout_header_cuts_slow_collectors_off,
    the_deadline_is_capped_by_the_configured_maximum,
    over_the_concurrency_limit_requests_get_503_at_once,
    graceful_shutdown_finishes_the_request_in_flight,
    oversized_headers_are_refused,
);

const PROMETHEUS_2_42: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const PROMETHEUS_3_DEFAULT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
const PROMETHEUS_3_PROTO_FIRST: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
const OM_100: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT_004: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A registry with a counter, a gauge and a histogram, already holding values.
fn demo_registry() -> Registry {
    let mut registry = Registry::default();
    let jobs = Counter::<u64>::default();
    jobs.inc_by(7);
    registry.register("demo_jobs", "Jobs done", jobs);
    let queue = Gauge::<i64>::default();
    queue.set(3);
    registry.register("demo_queue_length", "Jobs waiting", queue);
    let latency = Histogram::new([0.1, 0.5, 1.0]);
    latency.observe(0.2);
    latency.observe(2.0);
    registry.register("demo_latency_seconds", "Job latency", latency);
    registry
}

fn temperature_collector() -> impl dark_metrics::serve::Collector {
    collector_fn("temperature", |_deadline| async {
        Ok(vec![MetricFamily::new(
            "demo_temperature_celsius",
            "Room temperature.",
            MetricType::Gauge,
        )
        .with_sample(vec![("room".into(), "lab".into())], 21.5)])
    })
}

fn demo_server(config: ServerConfig) -> MetricsServer {
    MetricsServer::builder()
        .registry(demo_registry())
        .collector(temperature_collector())
        .config(config)
        .build()
        .unwrap()
}

async fn routes_get_head_landing_404_405_and_413(transport: Transport) {
    let server = TestServer::start(demo_server(ServerConfig::default()), transport).await;

    let response = server.get("/metrics", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some(TEXT_004));
    let body = text(&response);
    assert_eq!(sample_value(&body, "demo_jobs_total"), Some(7.0));
    assert_eq!(sample_value(&body, "demo_queue_length"), Some(3.0));
    assert_eq!(
        sample_value(&body, "demo_latency_seconds_bucket{le=\"0.5\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample_value(&body, "demo_temperature_celsius{room=\"lab\"}"),
        Some(21.5)
    );
    // Query strings (Prometheus `params`) do not change the route.
    let response = server.get("/metrics?match[]=up", &[]).await;
    assert_eq!(response.status(), 200);

    let response = server
        .send(request("HEAD", "/metrics", &[("accept", PROMETHEUS_2_42)]))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some(OM_100));
    assert!(response.body().is_empty());

    let response = server.get("/", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(text(&response).contains("<a href=\"/metrics\">"));

    for path in ["/metric", "/metrics/", "/favicon.ico", "/federate"] {
        let response = server.get(path, &[]).await;
        assert_eq!(response.status(), 404, "{path}");
    }
    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let response = server.send(request(method, "/metrics", &[])).await;
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(header(&response, "allow"), Some("GET, HEAD"));
    }
    let response = server.send(request("POST", "/", &[])).await;
    assert_eq!(response.status(), 405);

    let response = server
        .get("/metrics", &[("content-length", "1000000")])
        .await;
    assert_eq!(response.status(), 413);

    // The self metrics counted what was answered so far.
    let body = text(&server.get("/metrics", &[]).await);
    assert_eq!(
        sample_value(&body, "dark_metrics_http_requests_total{code=\"404\"}"),
        Some(4.0)
    );
    assert_eq!(
        sample_value(&body, "dark_metrics_http_requests_total{code=\"405\"}"),
        Some(5.0)
    );
    assert_eq!(
        sample_value(&body, "dark_metrics_http_requests_total{code=\"413\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample_value(
            &body,
            "dark_metrics_collector_success{collector=\"temperature\"}"
        ),
        Some(1.0)
    );
    assert!(server.shutdown().await.drained);
}

async fn negotiates_prometheus_2_and_3_accept_headers(transport: Transport) {
    let server = TestServer::start(demo_server(ServerConfig::default()), transport).await;
    let cases = [
        (Some(PROMETHEUS_2_42), OM_100),
        (Some(PROMETHEUS_3_DEFAULT), OM_100),
        (Some(PROMETHEUS_3_PROTO_FIRST), OM_100),
        (Some("text/plain;version=0.0.4"), TEXT_004),
        (
            Some("application/openmetrics-text"),
            "application/openmetrics-text; version=0.0.1; charset=utf-8",
        ),
        (Some("*/*"), TEXT_004),
        (Some("application/json"), TEXT_004),
        (None, TEXT_004),
    ];
    for (accept, expected) in cases {
        let headers: Vec<(&str, &str)> = accept.iter().map(|a| ("accept", *a)).collect();
        let response = server.get("/metrics", &headers).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            header(&response, "content-type"),
            Some(expected),
            "{accept:?}"
        );
        let body = text(&response);
        let format = if expected == TEXT_004 {
            Format::Text004
        } else {
            Format::OpenMetrics100
        };
        assert_eq!(body.ends_with("# EOF\n"), format == Format::OpenMetrics100);
        let families = parse(body.as_bytes(), format, &ParseLimits::default())
            .unwrap_or_else(|e| panic!("{accept:?}: {e}\n{body}"));
        let jobs = families
            .iter()
            .find(|f| f.name == "demo_jobs_total")
            .expect("counter served");
        assert_eq!(jobs.metric_type, MetricType::Counter);
    }
    server.shutdown().await;
}

async fn gzip_only_when_accepted(transport: Transport) {
    let config = ServerConfig {
        self_metrics: false,
        ..ServerConfig::default()
    };
    let server = TestServer::start(demo_server(config), transport).await;
    let plain = server.get("/metrics", &[]).await;
    assert_eq!(header(&plain, "content-encoding"), None);
    let zipped = server.get("/metrics", &[("accept-encoding", "gzip")]).await;
    assert_eq!(header(&zipped, "content-encoding"), Some("gzip"));
    assert_eq!(header(&zipped, "content-type"), Some(TEXT_004));
    assert_ne!(zipped.body(), plain.body());
    assert_eq!(gunzip(zipped.body()), text(&plain));
    let refused = server
        .get("/metrics", &[("accept-encoding", "gzip;q=0, identity")])
        .await;
    assert_eq!(header(&refused, "content-encoding"), None);
    assert_eq!(refused.body(), plain.body());
    let other = server.get("/metrics", &[("accept-encoding", "zstd")]).await;
    assert_eq!(header(&other, "content-encoding"), None);
    server.shutdown().await;
}

async fn scrape_timeout_header_cuts_slow_collectors_off(transport: Transport) {
    let server = MetricsServer::builder()
        .registry(demo_registry())
        .collector(temperature_collector())
        .collector(collector_fn("slow", |_deadline| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(vec![MetricFamily::new(
                "demo_slow",
                "never",
                MetricType::Gauge,
            )
            .with_sample(vec![], 1.0)])
        }))
        .collector(collector_fn("broken", |_deadline| async {
            Err(CollectError::failed("sensor unplugged"))
        }))
        .build()
        .unwrap();
    let server = TestServer::start(server, transport).await;
    let started = Instant::now();
    let response = server
        .get(
            "/metrics",
            &[("x-prometheus-scrape-timeout-seconds", "1.5")],
        )
        .await;
    let took = started.elapsed();
    assert_eq!(response.status(), 200);
    // 1.5 s minus the 0.5 s margin: cut off at about 1 s, well inside the scraper's 1.5 s.
    assert!(took >= Duration::from_millis(950), "{took:?}");
    assert!(took < Duration::from_millis(1450), "{took:?}");
    let body = text(&response);
    assert_eq!(sample_value(&body, "demo_slow"), None);
    assert_eq!(
        sample_value(&body, "demo_temperature_celsius{room=\"lab\"}"),
        Some(21.5)
    );
    let success = |name: &str| {
        sample_value(
            &body,
            &format!("dark_metrics_collector_success{{collector=\"{name}\"}}"),
        )
    };
    assert_eq!(success("slow"), Some(0.0));
    assert_eq!(success("broken"), Some(0.0));
    assert_eq!(success("temperature"), Some(1.0));
    let slow_duration = sample_value(
        &body,
        "dark_metrics_collector_duration_seconds{collector=\"slow\"}",
    )
    .unwrap();
    assert!((0.9..1.4).contains(&slow_duration), "{slow_duration}");
    assert_eq!(
        sample_value(
            &body,
            "dark_metrics_scrape_errors_total{cause=\"collector_timeout\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample_value(
            &body,
            "dark_metrics_scrape_errors_total{cause=\"collector_failed\"}"
        ),
        Some(1.0)
    );
    server.shutdown().await;
}

async fn the_deadline_is_capped_by_the_configured_maximum(transport: Transport) {
    let config = ServerConfig {
        deadline: DeadlinePolicy {
            default_timeout: Duration::from_millis(600),
            max_timeout: Duration::from_millis(800),
            margin: Duration::from_millis(200),
        },
        request_timeout: Duration::from_secs(5),
        ..ServerConfig::default()
    };
    let seen = Arc::new(AtomicU64::new(0));
    let recorded = seen.clone();
    let server = MetricsServer::builder()
        .config(config)
        .collector(collector_fn("deadline_probe", move |deadline| {
            let recorded = recorded.clone();
            async move {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                recorded.store(left.as_millis() as u64, Ordering::SeqCst);
                Ok(Vec::new())
            }
        }))
        .build()
        .unwrap();
    let server = TestServer::start(server, transport).await;
    server
        .get(
            "/metrics",
            &[("x-prometheus-scrape-timeout-seconds", "3600")],
        )
        .await;
    let left = seen.load(Ordering::SeqCst);
    assert!(
        (500..=600).contains(&left),
        "capped at 0.8 s - 0.2 s, saw {left} ms"
    );
    server.get("/metrics", &[]).await;
    let left = seen.load(Ordering::SeqCst);
    assert!(
        (300..=400).contains(&left),
        "default 0.6 s - 0.2 s, saw {left} ms"
    );
    server.shutdown().await;
}

/// A collector that blocks until released, counting how many scrapes entered it.
fn gate_collector(
    entered: Arc<Notify>,
    release: Arc<Notify>,
) -> impl dark_metrics::serve::Collector {
    collector_fn("gate", move |_deadline| {
        let entered = entered.clone();
        let release = release.clone();
        async move {
            entered.notify_one();
            release.notified().await;
            Ok(vec![MetricFamily::new(
                "demo_gate",
                "Released.",
                MetricType::Gauge,
            )
            .with_sample(vec![], 1.0)])
        }
    })
}

async fn over_the_concurrency_limit_requests_get_503_at_once(transport: Transport) {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let config = ServerConfig {
        max_concurrent_requests: 1,
        ..ServerConfig::default()
    };
    let server = MetricsServer::builder()
        .config(config)
        .collector(gate_collector(entered.clone(), release.clone()))
        .build()
        .unwrap();
    let server = Arc::new(TestServer::start(server, transport).await);
    let first = {
        let server = server.clone();
        tokio::spawn(async move { server.get("/metrics", &[]).await })
    };
    tokio::time::timeout(Duration::from_secs(5), entered.notified())
        .await
        .expect("first scrape reaches the collector");
    let started = Instant::now();
    let second = server.get("/metrics", &[]).await;
    assert_eq!(second.status(), 503);
    assert!(started.elapsed() < Duration::from_secs(1));
    release.notify_one();
    let first = first.await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(sample_value(&text(&first), "demo_gate"), Some(1.0));
    // The permit is back: the next scrape is served (and sees the 503 counted).
    let entered_again = entered.clone();
    let release_again = release.clone();
    tokio::spawn(async move {
        entered_again.notified().await;
        release_again.notify_one();
    });
    let third = server.get("/metrics", &[]).await;
    assert_eq!(third.status(), 200);
    assert_eq!(
        sample_value(
            &text(&third),
            "dark_metrics_http_requests_total{code=\"503\"}"
        ),
        Some(1.0)
    );
    let server = Arc::try_unwrap(server).ok().expect("no other handle");
    server.shutdown().await;
}

async fn graceful_shutdown_finishes_the_request_in_flight(transport: Transport) {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let server = MetricsServer::builder()
        .collector(gate_collector(entered.clone(), release.clone()))
        .build()
        .unwrap();
    let mut server = TestServer::start(server, transport).await;
    let io = server.connect().await.unwrap();
    let in_flight = tokio::spawn(send_on(io, request("GET", "/metrics", &[])));
    tokio::time::timeout(Duration::from_secs(5), entered.notified())
        .await
        .expect("scrape reaches the collector");
    server.stop();
    // The loop stops accepting: a new connection is refused once it has exited.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !server.task.is_finished(),
        "still draining the open request"
    );
    release.notify_one();
    let response = in_flight.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(sample_value(&text(&response), "demo_gate"), Some(1.0));
    let summary = tokio::time::timeout(Duration::from_secs(10), &mut server.task)
        .await
        .expect("loop ends once the request is done")
        .unwrap();
    assert!(summary.drained);
    assert_eq!(summary.connections, 1);
    assert!(
        server.connect().await.is_none(),
        "no accepting after shutdown"
    );
}

async fn oversized_headers_are_refused(transport: Transport) {
    let server = TestServer::start(demo_server(ServerConfig::default()), transport).await;
    let big = "x".repeat(20 * 1024);
    let io = server.connect().await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .unwrap();
    let driver = tokio::spawn(connection);
    let result = sender
        .send_request(request("GET", "/metrics", &[("x-filler", &big)]))
        .await;
    match result {
        Ok(response) => assert_eq!(response.status(), 431),
        Err(error) => assert!(
            error.is_incomplete_message() || error.is_closed(),
            "connection closed on oversized headers: {error}"
        ),
    }
    driver.abort();
    // A normal request on a new connection is still served.
    assert_eq!(server.get("/metrics", &[]).await.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn idle_kept_alive_connections_are_closed_after_the_header_timeout() {
    let mut config = ServerConfig::default();
    config.connections.header_read_timeout = Duration::from_millis(300);
    let server = TestServer::start(demo_server(config), Transport::InMemory).await;
    let io = server.connect().await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .unwrap();
    let driver = tokio::spawn(connection);
    let response = sender
        .send_request(request("GET", "/metrics", &[]))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    // Kept alive, then idle: the server ends the connection once the timeout passes.
    let started = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(5), driver)
        .await
        .expect("server closes the idle connection");
    assert!(ended.is_ok());
    let idle = started.elapsed();
    assert!(idle >= Duration::from_millis(250), "{idle:?}");
    assert!(sender.is_closed());
    server.shutdown().await;
}

#[tokio::test]
async fn serves_over_tcp_loopback_too() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = demo_server(ServerConfig::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await
    });
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let response = send_on(
        stream,
        request("GET", "/metrics", &[("accept", PROMETHEUS_3_DEFAULT)]),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some(OM_100));
    assert_eq!(sample_value(&text(&response), "demo_jobs_total"), Some(7.0));
    stop.send(()).unwrap();
    let summary = task.await.unwrap();
    assert_eq!(summary.connections, 1);
}
