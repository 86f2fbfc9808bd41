//! `/federate` benchmark: the gateway's `/federate` of N dark targets × 1,000 series against
//! Prometheus 2.42's own `/federate` serving the same series, in one run.
//!
//! Run it with `cargo bench -p federate --bench federate_endpoint` (`BENCH_EXPORTERS=20` for
//! the small size; needs `prometheus`). The lab, the N exporters and the gateway run in this
//! process on runtimes of their own (CPU read per thread name); the gateway's scrape loop
//! keeps the latest samples of every target. A Prometheus scrapes the same targets through the
//! gateway (its `job="dark"`, like the gateway's), so both hold the same N × 1,000 series.
//! Then both answer `GET /federate?match[]={job="dark"}` in turn, plain and gzip, one request
//! at a time: latency p50/p99 to the last byte, CPU per request (each side's CPU during the
//! requests less its idle rate, measured just before over the same length: the gateway's
//! scrape loop and Prometheus's scraping keep running), bytes on the wire, and memory:
//! Prometheus's VmHWM against what this process grew by when the gateway started and filled
//! its store (an upper bound for the gateway: the process also holds the proxy's
//! connections Prometheus scrapes through).
//!
//! Under `cargo test --all-targets` it runs a small smoke configuration.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use federate::scrape_loop::ScrapeLoopOptions;
use federate::GatewayConfig;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use support::{
    cpu_by_thread_name, lab_config, percentile, process_cpu_ns, start_bench_gateway,
    start_exporters, status_kib, BenchRuntimes,
};
use testbed::lab::TestLab;
use testbed::prometheus::TestPrometheus;

const PATH: &str = "/federate?match%5B%5D=%7Bjob%3D%22dark%22%7D";

/// One GET of `path` on `addr`: status, body bytes, time to the last byte.
async fn get(addr: SocketAddr, path: &str, gzip: bool) -> (u16, usize, Duration) {
    let started = Instant::now();
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    let driver = tokio::spawn(connection);
    let mut request = http::Request::get(path).header("host", addr.to_string());
    if gzip {
        request = request.header("accept-encoding", "gzip");
    }
    let response = sender
        .send_request(request.body(Empty::<bytes::Bytes>::new()).unwrap())
        .await
        .expect("answer");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let elapsed = started.elapsed();
    driver.abort();
    (status, body.len(), elapsed)
}

struct Side {
    p50: f64,
    p99: f64,
    cpu_ms: f64,
    plain_bytes: usize,
    gzip_bytes: usize,
}

/// `requests` plain GETs then `requests` gzip GETs, with `cpu` read around them and the idle
/// rate measured over the same length first.
async fn measure(addr: SocketAddr, requests: usize, cpu: &dyn Fn() -> u64) -> Side {
    // Warm-up, and the idle rate over about as long as the requests will take.
    let (status, _, one) = get(addr, PATH, false).await;
    assert_eq!(status, 200, "{addr}{PATH}");
    let idle_for = one * (2 * requests) as u32;
    let idle_start = cpu();
    tokio::time::sleep(idle_for).await;
    let idle_rate = (cpu() - idle_start) as f64 / idle_for.as_secs_f64();
    let started = Instant::now();
    let before = cpu();
    let mut latencies = Vec::new();
    let mut plain_bytes = 0;
    let mut gzip_bytes = 0;
    for gzip in [false, true] {
        for _ in 0..requests {
            let (status, bytes, elapsed) = get(addr, PATH, gzip).await;
            assert_eq!(status, 200);
            assert!(bytes > 0, "{addr}{PATH} answered nothing");
            if gzip {
                gzip_bytes = bytes;
            } else {
                plain_bytes = bytes;
                latencies.push(elapsed.as_secs_f64());
            }
        }
    }
    let busy = (cpu() - before) as f64 - idle_rate * started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Side {
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        cpu_ms: busy.max(0.0) / (2 * requests) as f64 / 1e6,
        plain_bytes,
        gzip_bytes,
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let exporters = std::env::var("BENCH_EXPORTERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if bench { 200 } else { 3 });
    let series = if bench { 1000 } else { 50 };
    let requests = if bench { 20 } else { 2 };
    let interval = Duration::from_secs(if bench { 5 } else { 1 });
    println!(
        "/federate benchmark ({} build): {exporters} targets x {series} series, {requests} requests per format",
        if cfg!(debug_assertions) { "debug" } else { "release" },
    );
    let rt = BenchRuntimes::start();
    let lab = rt.lab.block_on(TestLab::start_with(lab_config(exporters)));
    let (_, _exporters_ctx) = rt.exporters.block_on(start_exporters(
        &lab.identity_file("exporters"),
        exporters,
        series,
    ));
    let rss_before = status_kib(0, "VmRSS:");
    let (gateway, _gateway_ctx) = rt.gateway.block_on(start_bench_gateway(
        &lab.identity_file("gateway"),
        GatewayConfig {
            scrape_loop: Some(ScrapeLoopOptions {
                interval,
                ..ScrapeLoopOptions::default()
            }),
            ..GatewayConfig::default()
        },
        exporters,
    ));
    let bridge = gateway.local_addr().expect("bridge");
    rt.main.block_on(async {
        // The gateway's store holds every target.
        let up_query = "/federate?match%5B%5D=up";
        let mut filled = false;
        for _ in 0..240 {
            let tcp_ok = tokio::net::TcpStream::connect(bridge).await.is_ok();
            if tcp_ok {
                let tcp = tokio::net::TcpStream::connect(bridge).await.unwrap();
                let request = http::Request::get(up_query)
                    .header("host", bridge.to_string())
                    .body(Empty::<bytes::Bytes>::new())
                    .unwrap();
                let body = testbed::http::send_on(tcp, request).await.into_body();
                let text = String::from_utf8_lossy(&body);
                if text.lines().filter(|l| l.starts_with("up{") && l.contains("} 1 ")).count() == exporters {
                    filled = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert!(filled, "the gateway's scrape loop did not scrape every target up within 120 s");
        let rss_filled = status_kib(0, "VmRSS:");
        let config = format!(
            "global:\n  scrape_interval: {}s\n  scrape_timeout: {}s\nscrape_configs:\n  - job_name: dark\n    http_sd_configs:\n      - url: http://{bridge}/sd\n    proxy_url: http://{bridge}/\n",
            interval.as_secs(),
            interval.as_secs()
        );
        let prometheus = TestPrometheus::start(&config).await;
        prometheus
            .wait_for(
                "up{job=\"dark\"} == 1",
                Duration::from_secs(120),
                |result| result.len() == exporters,
                String::new,
            )
            .await;
        tokio::time::sleep(interval * 2).await;
        let pid = prometheus.pid().expect("prometheus running");
        let ours = measure(bridge, requests, &|| {
            cpu_by_thread_name().get("gateway").copied().unwrap_or(0)
        })
        .await;
        let theirs = measure(prometheus.addr(), requests, &|| process_cpu_ns(pid)).await;
        println!();
        println!("| /federate of {{job=\"dark\"}} | p50 ms | p99 ms | CPU ms/request | bytes plain | bytes gzip | memory |");
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        println!(
            "| gateway | {:.1} | {:.1} | {:.1} | {} | {} | +{} KiB RSS (process, store filled) |",
            ours.p50 * 1e3, ours.p99 * 1e3, ours.cpu_ms, ours.plain_bytes, ours.gzip_bytes,
            rss_filled.saturating_sub(rss_before)
        );
        println!(
            "| Prometheus 2.42 | {:.1} | {:.1} | {:.1} | {} | {} | {} KiB VmHWM, {} KiB VmRSS |",
            theirs.p50 * 1e3, theirs.p99 * 1e3, theirs.cpu_ms, theirs.plain_bytes, theirs.gzip_bytes,
            status_kib(pid, "VmHWM:"), status_kib(pid, "VmRSS:")
        );
        println!(
            "\nlatency p50 ratio gateway/Prometheus: {:.2}; CPU ratio: {:.2}; this process VmHWM {} KiB",
            ours.p50 / theirs.p50,
            ours.cpu_ms / theirs.cpu_ms.max(f64::MIN_POSITIVE),
            status_kib(0, "VmHWM:")
        );
        prometheus.stop().await;
    });
    drop(gateway);
    rt.shutdown(lab);
}
