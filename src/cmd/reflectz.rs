//! `darkscrape reflectz`: the reflectz demo workload. Hosts the line echo service and,
//! when a metrics service is named, its metrics (terminator identity = the identity's
//! name), both on the overlay with no listening socket, until SIGINT or SIGTERM.
//!
//! Flags and environment follow the original Go reflect server: `--identity`
//! (`IDENTITY_FILE`), `--service` (`SERVICE_NAME`; the original's `--serviceName` is
//! accepted too) and `--metrics-service` (`PROMETHEUS_SERVICE_NAME`; also
//! `-p`/`--prometheusServiceName`). With `--health-file F` (`HEALTH_FILE`), `F` is
//! rewritten every 5 s while both services are bound on at least one edge router, for an
//! exec probe (`darkscrape probe`). On the signal both services stop accepting, open echo
//! sessions keep being echoed until their dialers close them, and scrapes in progress are
//! answered, for at most `--drain-timeout` seconds (default 10).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use dark_listener::context::Context;
use reflectz::{EchoLimits, ReflectMetrics, ReflectzConfig};

use dark_metrics::serve::shutdown_signal;

/// Arguments of `darkscrape reflectz`.
#[derive(Debug, Args)]
pub struct ReflectzArgs {
    /// Enrolled identity file (JSON) hosting both services.
    #[arg(long, short = 'i', env = "IDENTITY_FILE")]
    pub identity: PathBuf,
    #[command(flatten)]
    pub auth: super::AuthArgs,
    /// Name of the echo service to host.
    #[arg(long, short = 's', env = "SERVICE_NAME", alias = "serviceName")]
    pub service: String,
    /// Name of the metrics service to host (addressable by this identity's name); without
    /// it no metrics are served.
    #[arg(
        long,
        short = 'p',
        env = "PROMETHEUS_SERVICE_NAME",
        alias = "prometheusServiceName"
    )]
    pub metrics_service: Option<String>,
    /// HTTP path of the metrics.
    #[arg(long, default_value = "/metrics")]
    pub metrics_path: String,
    /// Longest echo line in bytes (newline included); a longer line closes the connection.
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_line_bytes: usize,
    /// Seconds an echo connection may wait for its next complete line.
    #[arg(long, default_value_t = 300)]
    pub idle_timeout: u64,
    /// Echo connections served at once.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// Rewrite this file every 5 s while both services are bound on at least one edge
    /// router, for an exec probe (`darkscrape probe --health-file F --max-age S`); its
    /// directory must be writable.
    #[arg(long, env = "HEALTH_FILE")]
    pub health_file: Option<PathBuf>,
    /// Seconds open connections may take to finish after SIGTERM or SIGINT (no new ones are
    /// accepted meanwhile); those still open then are closed.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub drain_timeout: u64,
}

/// Runs `darkscrape reflectz …`.
pub fn run(args: ReflectzArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ReflectzArgs) -> anyhow::Result<()> {
    let ctx = Context::from_identity_file_with_auth(&args.identity, args.auth.method)
        .with_context(|| format!("cannot use identity {}", args.identity.display()))?;
    let mut config = ReflectzConfig::new(&args.service, args.metrics_service.clone());
    config.metrics.path = args.metrics_path.clone();
    config.health_file = args.health_file.clone();
    config.echo = EchoLimits {
        max_line_bytes: args.max_line_bytes,
        idle_timeout: Duration::from_secs(args.idle_timeout),
        max_connections: args.max_connections,
        drain_timeout: Duration::from_secs(args.drain_timeout),
    };
    config.metrics.connections.drain_timeout = Duration::from_secs(args.drain_timeout);
    let result = reflectz::run(&ctx, config, ReflectMetrics::new(), shutdown_signal()).await;
    ctx.shutdown(Duration::from_secs(5)).await;
    let summary = result?;
    tracing::info!(
        echo_connections = summary.echo.connections,
        metrics_connections = summary.metrics.map(|m| m.connections),
        "reflectz stopped"
    );
    Ok(())
}
