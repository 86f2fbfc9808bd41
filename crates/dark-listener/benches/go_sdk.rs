//! Our SDK against the OpenZiti Go SDK (sdk-golang v1.9.0, `tests/peers/go-peer`) moving the
//! same bytes through the same lab edge router in the same run: every pairing of dialer and
//! host (Rust → Rust, Go → Rust, Rust → Go, Go → Go), plain and end-to-end encrypted.
//!
//! Run it with `cargo bench -p dark-listener --bench go_sdk` (see `BENCHMARKS.md`). Two parts:
//!
//! 1. **Echo throughput**: one stream per round, the dialer writes S bytes while reading the
//!    echo back; the time runs from the first write to the last echoed byte (the Go dialer
//!    times it the same way). Rounds go round-robin over the pairings; the median is shown.
//! 2. **Dial-to-first-byte latency**: dial, one byte written, its echo read; p50 of the dial
//!    and of the echo alone, p50 and p99 of both together.
//!
//! Hosts are told apart by terminator instance id: the Rust host (`host-a`) and the Go host
//! (`host-b`) both bind with their identity's name, and every dial names one of them. The
//! Rust host and dialer run in this process with the lab; each Go dialer round is its own
//! process (its start and login are not timed). Started by `cargo test --all-targets` (no
//! `--bench` argument) it runs a small smoke plan that checks the pairings work.

#[path = "../tests/sdk_support.rs"]
mod support;

use std::time::{Duration, Instant};

use dark_listener::context::{Context, DialOptions};
use dark_listener::listener::BindOptions;
use support::{payload, spawn_echo, start_lab, E2EE, PLAIN};
use testbed::go_peer::{go_dial, GoHost};
use testbed::lab::TestLab;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Clone, Copy)]
struct Plan {
    echo_bytes: usize,
    rounds: usize,
    latency_samples: usize,
    warmup: usize,
}

const FULL: Plan = Plan {
    echo_bytes: 64 << 20,
    rounds: 5,
    latency_samples: 200,
    warmup: 20,
};

const SMOKE: Plan = Plan {
    echo_bytes: 1 << 20,
    rounds: 1,
    latency_samples: 5,
    warmup: 1,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sdk {
    Rust,
    Go,
}

impl Sdk {
    fn name(self) -> &'static str {
        match self {
            Sdk::Rust => "Rust",
            Sdk::Go => "Go",
        }
    }

    /// The hosting identity, also the terminator instance id.
    fn host_identity(self) -> &'static str {
        match self {
            Sdk::Rust => "host-a",
            Sdk::Go => "host-b",
        }
    }
}

const PAIRS: [(Sdk, Sdk); 4] = [
    (Sdk::Rust, Sdk::Rust),
    (Sdk::Go, Sdk::Rust),
    (Sdk::Rust, Sdk::Go),
    (Sdk::Go, Sdk::Go),
];

fn main() {
    support::run_benchmark(|bench| run(if bench { FULL } else { SMOKE }, bench));
}

async fn run(plan: Plan, bench: bool) {
    println!(
        "Go SDK comparison ({}), through the lab router on loopback",
        support::plan_and_build(bench)
    );
    println!("load average at start: {}", load_average());
    let lab = start_lab().await;
    let host = lab.context(Sdk::Rust.host_identity()).await;
    let by_name = BindOptions {
        bind_using_edge_identity: true,
        ..BindOptions::default()
    };
    let echoes = [
        spawn_echo(host.bind(PLAIN, by_name.clone()).await.unwrap(), ""),
        spawn_echo(host.bind(E2EE, by_name).await.unwrap(), ""),
    ];
    let go_identity = lab.identity_file(Sdk::Go.host_identity());
    let go_hosts = [
        GoHost::start("host", &["-edge-identity"], &go_identity, PLAIN).await,
        GoHost::start("host", &["-edge-identity"], &go_identity, E2EE).await,
    ];
    let dialer = lab.context("dialer").await;
    for service in [PLAIN, E2EE] {
        for (_, to) in PAIRS {
            wait_bound(&dialer, service, to).await;
        }
    }

    println!(
        "\n| dialer → host | mode | echo of {} MiB, median of {} | MB/s each way | vs Rust → Rust | dial p50 | 1 B echo p50 | dial + 1 B p50 | p99 |",
        plan.echo_bytes >> 20,
        plan.rounds
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for service in [PLAIN, E2EE] {
        let mode = if service == PLAIN { "plain" } else { "e2ee" };
        let mut echo_ms: Vec<Vec<f64>> = vec![Vec::new(); PAIRS.len()];
        for _ in 0..plan.rounds {
            for (i, (from, to)) in PAIRS.into_iter().enumerate() {
                let (_, transfer) = echo(&lab, &dialer, from, to, service, &[plan.echo_bytes])
                    .await
                    .remove(0);
                echo_ms[i].push(transfer);
            }
        }
        let reference = median(&mut echo_ms[0].clone());
        for (i, (from, to)) in PAIRS.into_iter().enumerate() {
            let transfer = median(&mut echo_ms[i]);
            let sizes = vec![1; plan.warmup + plan.latency_samples];
            let samples: Vec<(f64, f64)> = echo(&lab, &dialer, from, to, service, &sizes)
                .await
                .into_iter()
                .skip(plan.warmup)
                .collect();
            let mut dial: Vec<f64> = samples.iter().map(|(d, _)| *d).collect();
            let mut byte: Vec<f64> = samples.iter().map(|(_, b)| *b).collect();
            let mut first_byte: Vec<f64> = samples.iter().map(|(d, b)| d + b).collect();
            for list in [&mut dial, &mut byte, &mut first_byte] {
                list.sort_by(f64::total_cmp);
            }
            println!(
                "| {} → {} | {mode} | {transfer:.1} ms | {:.0} | {:.2} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
                from.name(),
                to.name(),
                plan.echo_bytes as f64 / 1e6 / (transfer / 1e3),
                reference / transfer,
                percentile(&dial, 0.50),
                percentile(&byte, 0.50),
                percentile(&first_byte, 0.50),
                percentile(&first_byte, 0.99),
            );
        }
    }
    println!("\nload average at end: {}", load_average());

    dialer.shutdown(Duration::from_secs(5)).await;
    host.shutdown(Duration::from_secs(5)).await;
    for echo in echoes {
        echo.await.unwrap();
    }
    for go in go_hosts {
        go.stop().await;
    }
    lab.stop().await;
}

fn options(to: Sdk) -> DialOptions {
    DialOptions {
        terminator_identity: Some(to.host_identity().into()),
        timeout: Duration::from_secs(15),
        ..DialOptions::default()
    }
}

/// Waits (15 s at most) until `to`'s terminator on `service` takes dials.
async fn wait_bound(dialer: &Context, service: &str, to: Sdk) {
    for _ in 0..150 {
        if dialer.dial(service, options(to)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} host of {service} not bound within 15 s", to.name());
}

/// One echo per size from `from`'s dialer to `to`'s host: `(dial ms, transfer ms)` each,
/// every echo checked byte for byte.
async fn echo(
    lab: &TestLab,
    dialer: &Context,
    from: Sdk,
    to: Sdk,
    service: &str,
    sizes: &[usize],
) -> Vec<(f64, f64)> {
    match from {
        Sdk::Go => {
            let run = go_dial(
                &["-terminator", to.host_identity()],
                &lab.identity_file("dialer"),
                service,
                sizes,
                Duration::from_secs(300),
            )
            .await;
            run.assert_exact(sizes, service);
            run.timings_ms()
        }
        Sdk::Rust => {
            let mut out = Vec::with_capacity(sizes.len());
            for &size in sizes {
                out.push(rust_echo(dialer, service, to, size).await);
            }
            out
        }
    }
}

async fn rust_echo(dialer: &Context, service: &str, to: Sdk, size: usize) -> (f64, f64) {
    let data = payload(size, 9);
    let started = Instant::now();
    let stream = dialer
        .dial(service, options(to))
        .await
        .unwrap_or_else(|e| panic!("dial {service} at {}: {e}", to.name()));
    let dial = started.elapsed();
    let transfer_started = Instant::now();
    let (mut rd, mut wr) = tokio::io::split(stream);
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        wr.write_all(&sent).await.expect("write to the echo");
        wr
    });
    let mut back = vec![0u8; size];
    tokio::time::timeout(Duration::from_secs(120), rd.read_exact(&mut back))
        .await
        .unwrap_or_else(|_| panic!("echo of {size} bytes on {service} timed out"))
        .expect("read the echo");
    let transfer = transfer_started.elapsed();
    assert!(back == data, "echo of {size} bytes on {service} differs");
    let wr = writer.await.expect("writer task");
    drop(rd.unsplit(wr));
    (ms(dial), ms(transfer))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|e| format!("unavailable ({e})"))
}
