//! A complete dark exporter: a counter, a gauge and a histogram served on an OpenZiti
//! service, with no listening socket. Scrapers reach it by dialing the service (addressed by
//! this identity's name as terminator identity).
//!
//! ```text
//! cargo run --example custom_exporter -- IDENTITY.json SERVICE
//! IDENTITY_FILE=IDENTITY.json SERVICE_NAME=SERVICE cargo run --example custom_exporter
//! ```
//!
//! For the benchmark only, `LOOPBACK_ADDR=127.0.0.1:0` serves the same registry on plain
//! loopback HTTP instead (and prints the bound address); without it nothing listens.

use std::time::Duration;

use dark_listener::context::Context;
use dark_listener::listener::BindOptions;
use dark_metrics::serve::MetricsServer;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: custom_exporter IDENTITY_FILE SERVICE (or IDENTITY_FILE/SERVICE_NAME)";
    let mut args = std::env::args().skip(1);
    let identity = args
        .next()
        .or(std::env::var("IDENTITY_FILE").ok())
        .ok_or(usage)?;
    let service = args
        .next()
        .or(std::env::var("SERVICE_NAME").ok())
        .ok_or(usage)?;

    // The metrics: register them once, update them from the application.
    let mut registry = Registry::default();
    let jobs = Counter::<u64>::default();
    registry.register("demo_jobs", "Jobs processed", jobs.clone());
    let queue = Gauge::<i64>::default();
    registry.register("demo_queue_depth", "Jobs waiting", queue.clone());
    let duration = Histogram::new(exponential_buckets(0.001, 2.0, 12));
    registry.register(
        "demo_job_duration_seconds",
        "Job duration",
        duration.clone(),
    );

    // A stand-in workload so the numbers move.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        for n in 0u64.. {
            tick.tick().await;
            jobs.inc();
            queue.set((n % 7) as i64);
            duration.observe(0.001 * (n % 50) as f64);
        }
    });

    let server = MetricsServer::builder().registry(registry).build()?;
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Ok(addr) = std::env::var("LOOPBACK_ADDR") {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("loopback {}", listener.local_addr()?);
        server.serve(listener, stop).await;
        return Ok(());
    }
    let ctx = Context::from_identity_file(&identity)?;
    let options = BindOptions {
        bind_using_edge_identity: true,
        ..BindOptions::default()
    };
    let listener = ctx.bind(&service, options).await?;
    println!("serving {service} as {}", ctx.identity().name());
    server.serve_dark(listener, stop).await;
    ctx.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
