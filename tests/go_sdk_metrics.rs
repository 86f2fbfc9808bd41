//! A metrics endpoint hosted by the OpenZiti Go SDK (sdk-golang v1.9.0, `go-peer metrics`,
//! an HTTP server on the SDK's `net.Listener`) on the lab overlay, scraped by darkscrape's
//! scraper (`dark_metrics::scrape` over a `Context::dial` stream) three times in a row: each
//! scrape parses as text 0.0.4 and sees the peer's scrape counter go up by one.

#[path = "../crates/node-exporter/tests/support/lab.rs"]
mod lab;

use std::time::Duration;

use dark_listener::context::DialOptions;
use dark_metrics::exposition::{Format, MetricFamily};
use dark_metrics::scrape::{scrape, ScrapeRequest};
use lab::{context, start_lab, HOST, SCRAPER, SERVICE};
use testbed::go_peer::GoHost;

fn value(families: &[MetricFamily], name: &str) -> Option<f64> {
    families
        .iter()
        .find(|f| f.name == name)
        .and_then(|f| f.samples.first())
        .map(|s| s.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn darkscrape_scrapes_a_go_sdk_hosted_metrics_endpoint() {
    let lab = start_lab().await;
    let host = GoHost::start("metrics", &[], &lab.identity_file(HOST), SERVICE).await;
    let scraper = context(&lab, SCRAPER).await;
    // The Go host's terminator follows its listener: retry the first dial (15 s at most).
    let mut first = None;
    for _ in 0..150 {
        match scraper.dial(SERVICE, DialOptions::default()).await {
            Ok(stream) => {
                first = Some(stream);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let mut first = Some(first.unwrap_or_else(|| panic!("{SERVICE} was not bound within 15 s")));
    for expected in 1..=3u32 {
        let stream = match first.take() {
            Some(stream) => stream,
            None => scraper
                .dial(SERVICE, DialOptions::default())
                .await
                .unwrap_or_else(|e| panic!("dial {SERVICE} for scrape {expected}: {e}")),
        };
        let response = scrape(stream, &ScrapeRequest::new(SERVICE, "/metrics"))
            .await
            .unwrap_or_else(|e| panic!("scrape {expected} of the Go SDK host: {e}"));
        assert_eq!(
            response.format,
            Format::Text004,
            "{}",
            response.content_type
        );
        assert_eq!(value(&response.families, "go_peer_up"), Some(1.0));
        assert_eq!(
            value(&response.families, "go_peer_scrapes_total"),
            Some(f64::from(expected)),
            "{}",
            String::from_utf8_lossy(&response.body)
        );
    }
    scraper.shutdown(Duration::from_secs(5)).await;
    host.stop().await;
    lab.stop().await;
}
