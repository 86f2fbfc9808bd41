//! The node exporter served dark: hosted with dark-metrics on a service of the in-process
//! lab (no listening socket in the serving code path), scraped by a Rust dialer with
//! `dark_metrics::scrape::scrape` over a `DarkStream`. Checks the negotiated formats, that
//! every collector ran, the served text passes promtool, the telemetry path and request
//! limit flags of the server, and that a scrape timeout shorter than `--collector.timeout`
//! bounds the scrape. The lab fixture is `support/lab.rs` (a testbed lab).

#[path = "support/lab.rs"]
mod lab;
#[path = "support/promtool.rs"]
mod promtool;

use std::time::Duration;

use dark_listener::context::{Context, DialOptions};
use dark_listener::listener::BindOptions;
use dark_listener::stream::DarkStream;
use dark_metrics::exposition::{Format, MetricFamily};
use dark_metrics::scrape::{scrape, ScrapeError, ScrapeRequest};
use dark_metrics::serve::{MetricsServer, ProcessCollector};
use lab::{context, start_lab, HOST, SCRAPER, SERVICE};
use node_exporter::{CollectorOptions, HostPaths, NodeExporter, COLLECTORS};

const TERMINATOR: &str = "node-a";

async fn dial(ctx: &Context) -> DarkStream {
    let options = DialOptions {
        terminator_identity: Some(TERMINATOR.to_string()),
        ..DialOptions::default()
    };
    let mut last = None;
    for _ in 0..100 {
        match ctx.dial(SERVICE, options.clone()).await {
            Ok(stream) => return stream,
            Err(error) => last = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot dial {SERVICE}: {last:?}");
}

fn value(families: &[MetricFamily], name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    families
        .iter()
        .find(|f| f.name == name)?
        .samples
        .iter()
        .find(|s| label.is_none_or(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v)))
        .map(|s| s.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_exporter_scraped_over_the_overlay() {
    let lab = start_lab().await;
    let host = context(&lab, HOST).await;
    let scraper = context(&lab, SCRAPER).await;

    let names: Vec<&str> = COLLECTORS.iter().map(|c| c.name).collect();
    let exporter = NodeExporter::new(
        &names,
        CollectorOptions::defaults(HostPaths::default()).unwrap(),
        Duration::from_secs(5),
    )
    .unwrap();
    let server = MetricsServer::builder()
        .path("/node")
        .collector(exporter)
        .collector(ProcessCollector::new())
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn({
        let server = server.clone();
        let host = host.clone();
        async move {
            let options = BindOptions {
                terminator_identity: Some(TERMINATOR.to_string()),
                ..BindOptions::default()
            };
            server
                .host(&host, SERVICE, options, async {
                    let _ = stopped.await;
                })
                .await
        }
    });

    // Text 0.0.4 when asked for plain text; every collector reports.
    let mut request = ScrapeRequest::new(SERVICE, "/node");
    request.accept = "text/plain;version=0.0.4".to_string();
    let text = scrape(dial(&scraper).await, &request).await.unwrap();
    assert_eq!(text.format, Format::Text004);
    assert_eq!(
        text.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    for name in ["cpu", "loadavg", "meminfo", "stat", "uname", "netdev"] {
        assert_eq!(
            value(
                &text.families,
                "node_scrape_collector_success",
                Some(("collector", name))
            ),
            Some(1.0),
            "collector {name} did not succeed"
        );
    }
    let reported = text
        .families
        .iter()
        .find(|f| f.name == "node_scrape_collector_success")
        .unwrap()
        .samples
        .len();
    assert_eq!(reported, COLLECTORS.len(), "every collector reports");
    assert_eq!(
        value(
            &text.families,
            "dark_metrics_collector_success",
            Some(("collector", "node"))
        ),
        Some(1.0)
    );
    assert!(value(&text.families, "process_resident_memory_bytes", None).unwrap() > 0.0);
    let mem_total = value(&text.families, "node_memory_MemTotal_bytes", None).unwrap();
    assert!(mem_total > 1e8, "MemTotal {mem_total}");
    promtool::assert_promtool_clean(&text.body);

    // Prometheus' own Accept header gets OpenMetrics, which parses too.
    let open = scrape(dial(&scraper).await, &ScrapeRequest::new(SERVICE, "/node"))
        .await
        .unwrap();
    assert_eq!(open.format, Format::OpenMetrics100);
    assert!(value(&open.families, "node_load1", None).is_some());

    // The default path is not served when another is configured.
    match scrape(
        dial(&scraper).await,
        &ScrapeRequest::new(SERVICE, "/metrics"),
    )
    .await
    {
        Err(ScrapeError::Status { status, .. }) => assert_eq!(status, 404),
        other => panic!("expected 404 on /metrics, got {other:?}"),
    }

    // A scrape timeout of 2 s (collector timeout 5 s) is answered well within 2 s.
    let mut quick = ScrapeRequest::new(SERVICE, "/node");
    quick.timeout = Duration::from_secs(2);
    let started = std::time::Instant::now();
    let answered = scrape(dial(&scraper).await, &quick).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(value(&answered.families, "node_load1", None).is_some());

    let _ = stop.send(());
    let summary = tokio::time::timeout(Duration::from_secs(20), serving)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
    assert_eq!(summary.connections, 4);
    assert!(summary.drained);
    scraper.shutdown(Duration::from_secs(5)).await;
    host.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}
