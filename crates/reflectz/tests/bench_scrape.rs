//! Benchmark: scrape latency and exporter CPU per scrape of the `custom_exporter` example,
//! over the overlay (lab router on loopback, the example hosting its service dark) against
//! the same example serving the same registry on plain loopback HTTP, in the same run.
//!
//! ```text
//! cargo build --release --bin darkscrape --example custom_exporter
//! cargo test --release -p reflectz --test bench_scrape -- --ignored --nocapture
//! ```
//!
//! (`BENCH_SCRAPES=N` changes the number of scrapes per mode, default 1000.)
//!
//! Each mode scrapes as Prometheus does: GET /metrics with Prometheus 2.42's Accept header,
//! `Accept-Encoding: gzip` and a 10 s scrape-timeout header, one scrape after the other on a
//! kept-alive connection; then again with a new connection (a new dial) per scrape. Exporter
//! CPU is the sum of the child's threads' on-CPU time (`/proc/PID/task/*/schedstat`, ns)
//! over the run, minus its idle rate (the example updates its metrics every 100 ms and the
//! SDK keeps its channels alive) measured just before.

#[path = "support/lab.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dark_listener::context::DialOptions;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use support::{start_lab, DEMO, HOST, SCRAPER};
use testbed::lab::dial_when_bound;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};

const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn built_binary(relative: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in <target>/<profile>/deps");
    let path = dir.join(relative);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --release --bin darkscrape --example custom_exporter`",
        path.display()
    );
    path
}

/// On-CPU nanoseconds of all threads of `pid`.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

async fn handshake<Io>(io: Io) -> SendRequest<Empty<Bytes>>
where
    Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("HTTP handshake");
    tokio::spawn(connection);
    sender
}

/// One scrape on `sender`; returns the compressed body size.
async fn scrape(sender: &mut SendRequest<Empty<Bytes>>) -> usize {
    sender.ready().await.expect("connection ready");
    let request = http::Request::get("/metrics")
        .header("host", "exporter")
        .header("accept", ACCEPT)
        .header("accept-encoding", "gzip")
        .header("x-prometheus-scrape-timeout-seconds", "10")
        .body(Empty::new())
        .unwrap();
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body.len() > 100);
    body.len()
}

struct Run {
    latencies: Vec<Duration>,
    cpu_per_scrape_ns: f64,
    body_bytes: usize,
}

/// Scrapes `n` times, reusing one connection when `connect` is called once, and measures.
async fn measure<F, Fut, Io>(pid: u32, n: usize, keep_alive: bool, connect: F) -> Run
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Io>,
    Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    // Idle rate first.
    let idle_start = cpu_ns(pid);
    let idle_wall = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rate = (cpu_ns(pid) - idle_start) as f64 / idle_wall.elapsed().as_secs_f64();

    let mut sender = if keep_alive {
        Some(handshake(connect().await).await)
    } else {
        None
    };
    // Warm up.
    for _ in 0..20 {
        match &mut sender {
            Some(sender) => scrape(sender).await,
            None => scrape(&mut handshake(connect().await).await).await,
        };
    }
    let cpu_start = cpu_ns(pid);
    let wall = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    let mut body_bytes = 0;
    for _ in 0..n {
        let started = Instant::now();
        body_bytes = match &mut sender {
            Some(sender) => scrape(sender).await,
            None => scrape(&mut handshake(connect().await).await).await,
        };
        latencies.push(started.elapsed());
    }
    let busy = (cpu_ns(pid) - cpu_start) as f64 - idle_rate * wall.elapsed().as_secs_f64();
    latencies.sort();
    Run {
        latencies,
        cpu_per_scrape_ns: busy.max(0.0) / n as f64,
        body_bytes,
    }
}

fn report(name: &str, run: &Run) {
    let pct = |p: f64| {
        let index = ((run.latencies.len() as f64 - 1.0) * p).round() as usize;
        run.latencies[index].as_secs_f64() * 1e3
    };
    let mean = run.latencies.iter().map(Duration::as_secs_f64).sum::<f64>()
        / run.latencies.len() as f64
        * 1e3;
    println!(
        "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} | {} |",
        run.latencies.len(),
        mean,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        run.cpu_per_scrape_ns / 1e3,
        run.body_bytes
    );
}

async fn spawn_example(
    identity: &Path,
    loopback: bool,
    log: &Path,
) -> (tokio::process::Child, String) {
    let mut command = tokio::process::Command::new(built_binary("examples/custom_exporter"));
    command
        .arg(identity)
        .arg(DEMO)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    if loopback {
        command.env("LOOPBACK_ADDR", "127.0.0.1:0");
    }
    let mut child = command.spawn().expect("custom_exporter starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut line))
        .await
        .expect("the example reports it is serving")
        .unwrap();
    (child, line.trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --release --ignored --nocapture (see the file's docs)"]
async fn scrape_latency_and_cpu_overlay_vs_loopback() {
    let n: usize = std::env::var("BENCH_SCRAPES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let lab = start_lab().await;
    let identity = lab.identity_file(HOST);
    let dialer = lab.context(SCRAPER).await;
    let options = DialOptions {
        terminator_identity: Some(HOST.to_string()),
        ..DialOptions::default()
    };

    let (dark, _) = spawn_example(&identity, false, &lab.dir.path().join("dark.log")).await;
    let (loopback, line) = spawn_example(&identity, true, &lab.dir.path().join("loop.log")).await;
    let addr: std::net::SocketAddr = line
        .strip_prefix("loopback ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    drop(dial_when_bound(&dialer, DEMO, options.clone(), 150).await);
    let dark_pid = dark.id().unwrap();
    let loop_pid = loopback.id().unwrap();

    println!("\n{n} scrapes per mode; latency in ms, exporter CPU in µs per scrape (idle rate subtracted)\n");
    println!("| mode | scrapes | mean | p50 | p90 | p99 | exporter CPU/scrape | gzip body bytes |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let overlay_keep = measure(dark_pid, n, true, || {
        let dialer = &dialer;
        let options = options.clone();
        async move { dialer.dial(DEMO, options).await.expect("dial") }
    })
    .await;
    report("overlay, kept-alive connection", &overlay_keep);
    let loopback_keep = measure(loop_pid, n, true, || async move {
        tokio::net::TcpStream::connect(addr).await.expect("connect")
    })
    .await;
    report("loopback HTTP, kept-alive connection", &loopback_keep);
    let fresh = (n / 5).max(20);
    let overlay_fresh = measure(dark_pid, fresh, false, || {
        let dialer = &dialer;
        let options = options.clone();
        async move { dialer.dial(DEMO, options).await.expect("dial") }
    })
    .await;
    report("overlay, new dial per scrape", &overlay_fresh);
    let loopback_fresh = measure(loop_pid, fresh, false, || async move {
        tokio::net::TcpStream::connect(addr).await.expect("connect")
    })
    .await;
    report("loopback HTTP, new connection per scrape", &loopback_fresh);
    println!();

    drop(dark);
    drop(loopback);
    dialer.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}
