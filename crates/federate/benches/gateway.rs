//! Gateway benchmark: Debian's Prometheus scrapes N dark exporters through the federate
//! gateway, and the same N exporters directly over loopback HTTP, in one run.
//!
//! Run it with `cargo bench -p federate --bench gateway` (needs `prometheus`, installed by
//! `scripts/install-test-deps.sh`). Everything but Prometheus runs in this process, each
//! part on its own tokio runtime whose threads carry its name, so the on-CPU time of each
//! part is read per thread (`/proc/self/task/*/schedstat`):
//!
//! * `lab`: the lab's controller and edge router;
//! * `exporters`: N `MetricsServer`s of 1,000 series each, every one serving a loopback TCP
//!   listener *and* a dark service (one host identity binds the N services);
//! * `gateway`: the gateway, with its own scraper identity, on a loopback bridge.
//!
//! Two phases of the same length, each with its own Prometheus: **direct** (a job of N
//! loopback targets) and **dark** (the README's job: `http_sd_configs` + `proxy_url`). Per
//! phase: the scrapes Prometheus made (its `scrape_duration_seconds` samples), their
//! latency p50/p99 as Prometheus measured it, and the CPU of each part per scrape. The
//! targets: added latency p50 (dark − direct) ≤ 0.5 ms with kept-alive streams, and gateway
//! CPU per proxied scrape ≤ 1.5 × the exporter's CPU per direct scrape (its own HTTP serving
//! of that scrape). The process's VmRSS before and after the gateway phase is printed too.
//!
//! Started by `cargo test --all-targets` (no `--bench` argument) it runs a small smoke
//! configuration and checks only that every target was scraped up in both phases.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use federate::GatewayConfig;
use support::{
    cpu_by_thread_name, lab_config, percentile, start_bench_gateway, start_exporters, status_kib,
    BenchRuntimes,
};
use testbed::lab::TestLab;
use testbed::prometheus::TestPrometheus;

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    exporters: usize,
    series: usize,
    scrape_interval: Duration,
    phase: Duration,
}

const FULL: Plan = Plan {
    exporters: 200,
    series: 1000,
    scrape_interval: Duration::from_secs(5),
    phase: Duration::from_secs(60),
};

const SMOKE: Plan = Plan {
    exporters: 3,
    series: 50,
    scrape_interval: Duration::from_secs(1),
    phase: Duration::from_secs(4),
};

/// What one phase measured.
struct PhaseResult {
    scrapes: usize,
    up: usize,
    p50: f64,
    p99: f64,
    cpu_ns: BTreeMap<String, u64>,
}

/// Runs Prometheus with `config` for the phase and reads back every scrape duration of
/// `job` in the phase's window.
async fn phase(plan: Plan, config: &str, job: &str, expected: usize) -> PhaseResult {
    let prometheus = TestPrometheus::start(config).await;
    // Warm-up: every target up once (connections dialed, pools filled).
    prometheus
        .wait_for(
            &format!("up{{job=\"{job}\"}} == 1"),
            Duration::from_secs(120),
            |result| result.len() == expected,
            String::new,
        )
        .await;
    tokio::time::sleep(plan.scrape_interval * 2).await;
    let before = cpu_by_thread_name();
    tokio::time::sleep(plan.phase).await;
    let after = cpu_by_thread_name();
    let window = plan.phase.as_secs();
    let samples = prometheus
        .query(&format!(
            "scrape_duration_seconds{{job=\"{job}\"}}[{window}s]"
        ))
        .await;
    let up = prometheus
        .query(&format!("up{{job=\"{job}\"}} == 1"))
        .await
        .len();
    let mut durations: Vec<f64> = samples
        .iter()
        .flat_map(|series| series["values"].as_array().cloned().unwrap_or_default())
        .filter_map(|pair| pair[1].as_str()?.parse::<f64>().ok())
        .collect();
    durations.sort_by(f64::total_cmp);
    prometheus.stop().await;
    let cpu_ns = after
        .iter()
        .map(|(name, ns)| (name.clone(), ns - before.get(name).copied().unwrap_or(0)))
        .collect();
    PhaseResult {
        scrapes: durations.len(),
        up,
        p50: percentile(&durations, 0.5),
        p99: percentile(&durations, 0.99),
        cpu_ns,
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let plan = if bench { FULL } else { SMOKE };
    println!(
        "gateway benchmark ({} plan, {} build): {} exporters x {} series, scrape interval {:?}, {:?} per phase",
        if bench { "full" } else { "smoke" },
        if cfg!(debug_assertions) { "debug" } else { "release" },
        plan.exporters,
        plan.series,
        plan.scrape_interval,
        plan.phase,
    );
    let rt = BenchRuntimes::start();

    let lab = rt
        .lab
        .block_on(TestLab::start_with(lab_config(plan.exporters)));
    let exporter_identity = lab.identity_file("exporters");
    let gateway_identity = lab.identity_file("gateway");

    // The exporters: one registry of `series` gauges each, served on TCP and dark.
    let (direct, _exporters_ctx) = rt.exporters.block_on(start_exporters(
        &exporter_identity,
        plan.exporters,
        plan.series,
    ));
    let rss_before_gateway = status_kib(0, "VmRSS:");
    let (gateway, _gateway_ctx) = rt.gateway.block_on(start_bench_gateway(
        &gateway_identity,
        GatewayConfig::default(),
        plan.exporters,
    ));
    let bridge = gateway.local_addr().expect("bridge address");

    let interval = format!(
        "global:\n  scrape_interval: {}s\n  scrape_timeout: {}s\n",
        plan.scrape_interval.as_secs(),
        plan.scrape_interval.as_secs()
    );
    let targets: Vec<String> = direct.iter().map(|a| format!("'{a}'")).collect();
    let direct_config = format!(
        "{interval}scrape_configs:\n  - job_name: direct\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    );
    let dark_config = format!(
        "{interval}scrape_configs:\n  - job_name: dark\n    http_sd_configs:\n      - url: http://{bridge}/sd\n    proxy_url: http://{bridge}/\n"
    );
    let direct_result = rt
        .main
        .block_on(phase(plan, &direct_config, "direct", plan.exporters));
    let dark_result = rt
        .main
        .block_on(phase(plan, &dark_config, "dark", plan.exporters));
    let rss_after = status_kib(0, "VmRSS:");

    let per_scrape = |result: &PhaseResult, part: &str| {
        result.cpu_ns.get(part).copied().unwrap_or(0) as f64 / result.scrapes.max(1) as f64 / 1e3
    };
    println!();
    println!("| phase | scrapes | up | p50 ms | p99 ms | exporters µs/scrape | lab µs/scrape | gateway µs/scrape |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, r) in [("direct", &direct_result), ("dark", &dark_result)] {
        println!(
            "| {name} | {} | {} | {:.3} | {:.3} | {:.1} | {:.1} | {:.1} |",
            r.scrapes,
            r.up,
            r.p50 * 1e3,
            r.p99 * 1e3,
            per_scrape(r, "exporters"),
            per_scrape(r, "lab"),
            per_scrape(r, "gateway"),
        );
    }
    let exporter_direct = per_scrape(&direct_result, "exporters");
    let gateway_dark = per_scrape(&dark_result, "gateway");
    println!();
    println!(
        "added latency: p50 {:.3} ms (target <= 0.5), p99 {:.3} ms",
        (dark_result.p50 - direct_result.p50) * 1e3,
        (dark_result.p99 - direct_result.p99) * 1e3
    );
    println!(
        "gateway CPU per proxied scrape / exporter CPU per direct scrape: {:.2} (target <= 1.5)",
        gateway_dark / exporter_direct
    );
    println!(
        "process VmRSS: {} KiB before the gateway, {} KiB after the dark phase (+{} KiB); VmHWM {} KiB",
        rss_before_gateway,
        rss_after,
        rss_after.saturating_sub(rss_before_gateway),
        status_kib(0, "VmHWM:")
    );
    assert_eq!(direct_result.up, plan.exporters, "every direct target up");
    assert_eq!(dark_result.up, plan.exporters, "every dark target up");
    assert!(dark_result.scrapes > 0 && direct_result.scrapes > 0);
    // Shut the runtimes down without waiting for the servers that run forever.
    drop(gateway);
    rt.shutdown(lab);
}
