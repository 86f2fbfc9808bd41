//! `darkscrape node-exporter`: the node-style host exporter (node_exporter-compatible
//! metric names and flags).
//!
//! * `--identity F --service S`: serves the metrics on the overlay service `S` with the
//!   enrolled identity `F` — no listening socket — until SIGINT or SIGTERM (open scrapes
//!   are drained). Dialers address this host by `--terminator-identity X`, or by the
//!   identity's name with `--bind-using-identity`.
//! * `--once`: runs one scrape, prints it in text format 0.0.4 and exits, with no network.
//!
//! Serving follows node_exporter's conventions: text format 0.0.4 unless the scraper asks
//! for OpenMetrics, `--web.telemetry-path` (default `/metrics`), `--web.max-requests`
//! (default 40, 0 = no limit; more scrapes at once are answered 503) and
//! `--web.disable-exporter-metrics` (leaves out the exporter's own `process_*` and
//! `dark_metrics_*` metrics, as node_exporter leaves out its `go_*`, `process_*` and
//! `promhttp_*`). The scraper's `X-Prometheus-Scrape-Timeout-Seconds` bounds every
//! collector's deadline, together with `--collector.timeout`.
//!
//! The exporter runs on a current-thread tokio runtime (the collectors have their own
//! thread): a scrape is a few milliseconds of mostly kernel time, and one thread keeps the
//! process small. Running it with `MALLOC_ARENA_MAX=1` in the environment keeps glibc to one
//! malloc arena (measured 0.25–0.4 MiB less resident memory, no CPU change), and
//! `cargo build --profile dist` makes a smaller binary (measured 1.2 MiB less peak RSS); see
//! the node-exporter crate's performance notes.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use dark_listener::context::Context;
use dark_listener::listener::BindOptions;
use dark_metrics::serve::{MetricsServer, ProcessCollector, ServerConfig};

use crate::cmd::signal::shutdown_signal;

/// `--web.max-requests 0` (no limit) in practice: far more scrapes at once than any set of
/// Prometheus servers sends.
const UNLIMITED_REQUESTS: usize = 65_536;

/// Flags of `darkscrape node-exporter`.
#[derive(Debug, clap::Args)]
pub struct NodeExporterArgs {
    /// Run one scrape, print it to stdout in Prometheus text format 0.0.4 and exit (no
    /// network).
    #[arg(long, conflicts_with_all = ["identity", "service"])]
    pub once: bool,

    /// Enrolled identity file (JSON) hosting the metrics service.
    #[arg(long, short = 'i', required_unless_present = "once")]
    pub identity: Option<PathBuf>,

    /// Overlay service to serve the metrics on.
    #[arg(long, short = 's', required_unless_present = "once")]
    pub service: Option<String>,

    /// Terminator identity dialers use to reach this host among the service's hosts.
    #[arg(long, conflicts_with = "once")]
    pub terminator_identity: Option<String>,

    /// Make this host addressable by the identity's name (ignored with
    /// --terminator-identity).
    #[arg(long, conflicts_with = "once")]
    pub bind_using_identity: bool,

    /// HTTP path the metrics are served on.
    #[arg(long = "web.telemetry-path", default_value = "/metrics")]
    pub telemetry_path: String,

    /// Most scrapes served at once (0 = no limit); more are answered 503.
    #[arg(long = "web.max-requests", default_value_t = 40)]
    pub max_requests: usize,

    /// Leave out the exporter's own metrics (process_*, dark_metrics_*).
    #[arg(long = "web.disable-exporter-metrics")]
    pub disable_exporter_metrics: bool,

    /// Collector selection and options, as node_exporter names them.
    #[command(flatten)]
    pub exporter: node_exporter::ExporterArgs,
}

/// Runs the subcommand.
pub fn run(args: NodeExporterArgs) -> anyhow::Result<()> {
    let exporter = args
        .exporter
        .build()
        .context("invalid node-exporter flags")?;
    let mut runtime = tokio::runtime::Builder::new_current_thread();
    runtime.enable_time();
    if !args.once {
        runtime.enable_io();
    }
    let runtime = runtime.build().context("cannot start the async runtime")?;
    if args.once {
        let families = runtime.block_on(exporter.scrape());
        let body = node_exporter::render_text(&families);
        let mut stdout = std::io::stdout().lock();
        return stdout
            .write_all(&body)
            .and_then(|()| stdout.flush())
            .context("cannot write the scrape to stdout");
    }
    let server = metrics_server(&args, exporter)?;
    runtime.block_on(serve_dark(args, server))
}

/// The metrics server for the serving flags.
fn metrics_server(
    args: &NodeExporterArgs,
    exporter: node_exporter::NodeExporter,
) -> anyhow::Result<MetricsServer> {
    let config = ServerConfig {
        path: args.telemetry_path.clone(),
        title: "darkscrape node-exporter".to_string(),
        max_concurrent_requests: match args.max_requests {
            0 => UNLIMITED_REQUESTS,
            n => n,
        },
        self_metrics: !args.disable_exporter_metrics,
        ..ServerConfig::default()
    };
    let mut builder = MetricsServer::builder().config(config).collector(exporter);
    if !args.disable_exporter_metrics {
        builder = builder.collector(ProcessCollector::new());
    }
    builder
        .build()
        .context("invalid node-exporter serving flags")
}

async fn serve_dark(args: NodeExporterArgs, server: MetricsServer) -> anyhow::Result<()> {
    let (Some(identity), Some(service)) = (args.identity, args.service) else {
        anyhow::bail!("--identity and --service are required unless --once is given");
    };
    let ctx = Context::from_identity_file(&identity)
        .with_context(|| format!("cannot use identity {}", identity.display()))?;
    let options = BindOptions {
        terminator_identity: args.terminator_identity,
        bind_using_edge_identity: args.bind_using_identity,
        ..BindOptions::default()
    };
    let result = server
        .host(&ctx, &service, options, shutdown_signal())
        .await
        .with_context(|| format!("cannot host service {service:?} on the overlay"));
    ctx.shutdown(Duration::from_secs(5)).await;
    let summary = result?;
    tracing::info!(
        connections = summary.connections,
        drained = summary.drained,
        "node-exporter stopped"
    );
    Ok(())
}
