//! What the gateway benchmarks share: the lab of N exporter services, the exporters (1,000
//! series each, served on loopback TCP and dark), named runtimes, per-thread-name CPU time,
//! the process's memory, percentiles.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use dark_listener::context::Context;
use dark_listener::identity::Identity;
use dark_listener::listener::BindOptions;
use dark_metrics::serve::MetricsServer;
use federate::{start_gateway, wait_for_targets, GatewayConfig, RunningGateway};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use testbed::lab::{ephemeral_config, TestLab};
use tokio::runtime::Runtime;
use ziti_lab::{IdentityDecl, LabConfig, PolicyType, ServiceDecl, ServicePolicyDecl};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SeriesLabels {
    series: String,
    shard: &'static str,
}

/// The service of exporter `i`.
pub fn service_name(i: usize) -> String {
    format!("bench-exporter-{i:03}")
}

/// A lab with `exporters` services bound by identity `exporters` and dialed by `gateway`.
pub fn lab_config(exporters: usize) -> LabConfig {
    let mut config = ephemeral_config();
    config.identities = vec![
        IdentityDecl {
            name: "exporters".into(),
            roles: vec!["exporters".into()],
        },
        IdentityDecl {
            name: "gateway".into(),
            roles: vec!["scrapers".into()],
        },
    ];
    config.services = (0..exporters)
        .map(|i| ServiceDecl {
            name: service_name(i),
            roles: vec!["bench".into()],
            encryption_required: false,
            configs: Default::default(),
        })
        .collect();
    config.service_policies = vec![
        ServicePolicyDecl {
            name: "exporters-bind".into(),
            policy_type: PolicyType::Bind,
            identities: vec!["#exporters".into()],
            services: vec!["#bench".into()],
        },
        ServicePolicyDecl {
            name: "gateway-dial".into(),
            policy_type: PolicyType::Dial,
            identities: vec!["#scrapers".into()],
            services: vec!["#bench".into()],
        },
    ];
    config
}

/// A 2-worker runtime whose threads are all called `name`.
pub fn runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The runtimes of a gateway benchmark: the lab's, the exporters' and the gateway's (each
/// from [`runtime`], so their CPU time can be told apart) and a current-thread one for the
/// measuring client.
pub struct BenchRuntimes {
    pub lab: Runtime,
    pub exporters: Runtime,
    pub gateway: Runtime,
    pub main: Runtime,
}

impl BenchRuntimes {
    pub fn start() -> Self {
        BenchRuntimes {
            lab: runtime("lab"),
            exporters: runtime("exporters"),
            gateway: runtime("gateway"),
            main: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("main runtime"),
        }
    }

    /// Stops `lab` and shuts every runtime down without waiting for the servers that run
    /// forever.
    pub fn shutdown(self, lab: TestLab) {
        self.main.shutdown_background();
        self.gateway.shutdown_background();
        self.exporters.shutdown_background();
        self.lab.block_on(lab.stop());
        self.lab.shutdown_background();
    }
}

/// Starts `count` exporters of `series` gauges each, every one on a loopback TCP listener
/// and on its dark service; returns their TCP addresses and the hosting context.
pub async fn start_exporters(
    identity: &Path,
    count: usize,
    series: usize,
) -> (Vec<SocketAddr>, Context) {
    let ctx = Context::from_identity(Identity::from_file(identity).unwrap()).unwrap();
    let mut addrs = Vec::new();
    for i in 0..count {
        let mut registry = Registry::default();
        let family = Family::<SeriesLabels, Gauge>::default();
        for s in 0..series {
            family
                .get_or_create(&SeriesLabels {
                    series: format!("s{s:04}"),
                    shard: "bench",
                })
                .set((s * i) as i64);
        }
        registry.register("bench_values", "Benchmark series.", family);
        let server = MetricsServer::builder().registry(registry).build().unwrap();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(tcp.local_addr().unwrap());
        let listener = ctx
            .bind(&service_name(i), BindOptions::default())
            .await
            .expect("bind an exporter's service");
        let dark = server.clone();
        tokio::spawn(async move { dark.serve_dark(listener, std::future::pending()).await });
        tokio::spawn(async move { server.serve(tcp, std::future::pending()).await });
    }
    (addrs, ctx)
}

/// Starts a gateway on a loopback bridge with `identity` and waits until it discovered
/// `expected` targets.
pub async fn start_bench_gateway(
    identity: &Path,
    mut config: GatewayConfig,
    expected: usize,
) -> (RunningGateway, Context) {
    let ctx = Context::from_identity(Identity::from_file(identity).unwrap()).unwrap();
    config.listen = Some("127.0.0.1:0".parse().unwrap());
    let gateway = start_gateway(&ctx, config).await.expect("gateway starts");
    let mut targets = gateway.subscribe_targets();
    wait_for_targets(&mut targets, Duration::from_secs(60), |list| {
        list.targets.len() == expected
    })
    .await
    .expect("every exporter discovered");
    (gateway, ctx)
}

/// On-CPU nanoseconds of this process's threads, summed by thread name.
pub fn cpu_by_thread_name() -> BTreeMap<String, u64> {
    let mut sums = BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let on_cpu: u64 = std::fs::read_to_string(task.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        *sums.entry(name.trim().to_string()).or_insert(0) += on_cpu;
    }
    sums
}

/// CPU nanoseconds (user + system) of process `pid` so far.
pub fn process_cpu_ns(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    ticks * 10_000_000
}

/// A field of `/proc/PID/status` in KiB (`VmRSS:`, `VmHWM:`); `pid` 0 is this process.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let path = if pid == 0 {
        "/proc/self/status".to_string()
    } else {
        format!("/proc/{pid}/status")
    };
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The `q` quantile of sorted values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[rank]
}
