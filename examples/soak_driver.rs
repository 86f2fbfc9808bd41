//! The dialing side of the soak benchmark (`scripts/soak.sh` runs it; not a test): one
//! process, one identity, that keeps `--streams` echo streams open over the overlay, each
//! sending a line every `--echo-interval` seconds and checking the reply, and scrapes every
//! second: reflectz's metrics directly over the overlay, and the node exporter through the
//! federate gateway's scrape proxy (plain HTTP to the gateway's loopback bridge).
//!
//! It prints `ready <streams>` on stdout once every stream is open, a progress line on stderr
//! every 10 s, and on SIGTERM or SIGINT a `summary …` line on stdout; it exits 0 only when no
//! echo failed, every stream stayed open and fewer than 1% of the scrapes failed.
//!
//! ```text
//! soak_driver --identity client.json --echo-service echo --metrics-service reflect-metrics \
//!     --metrics-terminator reflectz --node-service node-metrics --gateway 127.0.0.1:9099
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use dark_listener::context::{Context, DialOptions};
use dark_listener::stream::DarkStream;
use dark_metrics::scrape::{scrape, ScrapeRequest};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

/// Flags of the soak driver.
#[derive(Debug, Parser)]
struct Args {
    /// Identity file of the dialer (may dial every service below).
    #[arg(long)]
    identity: PathBuf,
    /// The reflectz echo service.
    #[arg(long)]
    echo_service: String,
    /// reflectz's metrics service.
    #[arg(long)]
    metrics_service: String,
    /// The identity hosting the metrics service (its terminator identity).
    #[arg(long)]
    metrics_terminator: String,
    /// The node exporter's service, scraped through the gateway.
    #[arg(long)]
    node_service: String,
    /// The federate gateway's bridge address.
    #[arg(long)]
    gateway: SocketAddr,
    /// Echo streams kept open.
    #[arg(long, default_value_t = 1000)]
    streams: u32,
    /// Seconds between two lines on one stream.
    #[arg(long, default_value_t = 5)]
    echo_interval: u64,
}

/// Counters shared by every task.
#[derive(Debug, Default)]
struct Tally {
    open: AtomicU64,
    echoes: AtomicU64,
    echo_failures: AtomicU64,
    scrapes: AtomicU64,
    scrape_failures: AtomicU64,
}

impl Tally {
    fn line(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "open={} echoes={} echo_failures={} scrapes={} scrape_failures={}",
            get(&self.open),
            get(&self.echoes),
            get(&self.echo_failures),
            get(&self.scrapes),
            get(&self.scrape_failures)
        )
    }
}

/// Dials the echo service, retrying for up to 30 s (the host may still be binding).
async fn dial_echo(ctx: Context, service: String) -> Result<DarkStream, String> {
    let mut last = String::new();
    for _ in 0..60 {
        match ctx.dial(&service, DialOptions::default()).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!("cannot dial {service}: {last}"))
}

/// One stream: a line every `interval` (the first after a spread start), reply checked.
async fn echo_loop(
    stream: DarkStream,
    index: u32,
    interval: Duration,
    tally: Arc<Tally>,
    mut stop: watch::Receiver<bool>,
) {
    let (read, mut write) = tokio::io::split(stream);
    let mut read = BufReader::new(read);
    let mut reply = String::new();
    let spread = interval.mul_f64(f64::from(index % 1000) / 1000.0);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + spread, interval);
    for seq in 0u64.. {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ticks.tick() => {}
        }
        let line = format!("soak stream {index} line {seq}\n");
        reply.clear();
        let exchange = async {
            write.write_all(line.as_bytes()).await?;
            read.read_line(&mut reply).await
        };
        let ok = matches!(
            tokio::time::timeout(Duration::from_secs(30), exchange).await,
            Ok(Ok(_)) if reply.strip_prefix("you sent me: ") == Some(line.as_str())
        );
        if ok {
            tally.echoes.fetch_add(1, Ordering::Relaxed);
        } else {
            tally.echo_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(stream = index, seq, reply = %reply.trim_end(), "echo failed; stream closed");
            break;
        }
    }
    tally.open.fetch_sub(1, Ordering::Relaxed);
}

/// One GET of `http://SERVICE/metrics` through the gateway's proxy; Ok when 200.
async fn proxied_scrape(gateway: SocketAddr, service: &str) -> Result<(), String> {
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(gateway).await?;
        let request = format!(
            "GET http://{service}/metrics HTTP/1.1\r\nHost: {service}\r\nAccept: text/plain\r\n\
             X-Prometheus-Scrape-Timeout-Seconds: 5\r\nConnection: close\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "no answer within 10 s".to_string())?
        .map_err(|e| e.to_string())?;
    let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).to_string();
    if head.starts_with("HTTP/1.1 200") && answer.len() > 1000 {
        Ok(())
    } else {
        Err(format!("answer starts {head:?} ({} bytes)", answer.len()))
    }
}

/// Every second: reflectz's metrics over the overlay and the node exporter via the gateway.
async fn scrape_loop(
    ctx: Context,
    args: Arc<Args>,
    tally: Arc<Tally>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut request = ScrapeRequest::new(args.metrics_service.clone(), "/metrics");
    request.timeout = Duration::from_secs(5);
    let options = DialOptions {
        terminator_identity: Some(args.metrics_terminator.clone()),
        ..DialOptions::default()
    };
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ticks.tick() => {}
        }
        let direct = match ctx.dial(&args.metrics_service, options.clone()).await {
            Ok(stream) => scrape(stream, &request)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let proxied = proxied_scrape(args.gateway, &args.node_service).await;
        for (what, outcome) in [("reflectz", direct), ("node exporter via gateway", proxied)] {
            tally.scrapes.fetch_add(1, Ordering::Relaxed);
            if let Err(error) = outcome {
                tally.scrape_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(target_name = what, %error, "scrape failed");
            }
        }
    }
}

async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Arc::new(Args::parse());
    let ctx = Context::from_identity_file(&args.identity)?;
    ctx.wait_authenticated(Duration::from_secs(30)).await?;
    let tally = Arc::new(Tally::default());
    let (stop_tx, stop) = watch::channel(false);

    // Open the streams, 50 at a time.
    let interval = Duration::from_secs(args.echo_interval.max(1));
    let mut echo_tasks = Vec::with_capacity(args.streams as usize);
    for first in (0..args.streams).step_by(50) {
        let mut dials = tokio::task::JoinSet::new();
        for index in first..(first + 50).min(args.streams) {
            let dial = dial_echo(ctx.clone(), args.echo_service.clone());
            dials.spawn(async move { (index, dial.await) });
        }
        while let Some(joined) = dials.join_next().await {
            let (index, dialed) = joined?;
            let stream = dialed?;
            tally.open.fetch_add(1, Ordering::Relaxed);
            echo_tasks.push(tokio::spawn(echo_loop(
                stream,
                index,
                interval,
                tally.clone(),
                stop.clone(),
            )));
        }
    }
    println!("ready {}", args.streams);
    let scraper = tokio::spawn(scrape_loop(
        ctx.clone(),
        args.clone(),
        tally.clone(),
        stop.clone(),
    ));

    let progress = async {
        let mut ticks = tokio::time::interval(Duration::from_secs(10));
        loop {
            ticks.tick().await;
            tracing::info!("{}", tally.line());
        }
    };
    tokio::select! {
        _ = stop_signal() => {}
        _ = progress => {}
    }
    let still_open = tally.open.load(Ordering::Relaxed);
    let _ = stop_tx.send(true);
    for task in echo_tasks {
        let _ = task.await;
    }
    let _ = scraper.await;
    println!("summary {} open_at_end={still_open}", tally.line());
    ctx.shutdown(Duration::from_secs(5)).await;

    let scrapes = tally.scrapes.load(Ordering::Relaxed);
    let scrape_failures = tally.scrape_failures.load(Ordering::Relaxed);
    let healthy = tally.echo_failures.load(Ordering::Relaxed) == 0
        && still_open == u64::from(args.streams)
        && scrape_failures * 100 < scrapes.max(1);
    if healthy {
        Ok(())
    } else {
        Err("the soak saw failures (see the summary line and the warnings above)".into())
    }
}
