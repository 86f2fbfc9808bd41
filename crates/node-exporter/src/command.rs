//! The node exporter as a command: its flags ([`CommandArgs`]) and [`run`], shared by
//! `darkscrape node-exporter` and the exporter-only binary `darkscrape-node-exporter`, so
//! both parse the same flags and serve the same way.
//!
//! * `--identity F --service S`: serves the metrics on the overlay service `S` with the
//!   enrolled identity `F` — no listening socket — until SIGINT or SIGTERM (open scrapes
//!   are drained). Dialers address this host by `--terminator-identity X`, or by the
//!   identity's name with `--bind-using-identity`.
//!   With `--health-file F` (env `HEALTH_FILE`), `F` is rewritten every 5 s while the
//!   service is bound on at least one edge router (`dark_metrics::health`), for an exec
//!   probe.
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
//! process small. See the crate's performance notes for the measured costs.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use dark_listener::context::{Context, ContextError};
use dark_listener::listener::{BindError, BindOptions};
use dark_metrics::health::{self, spawn_health_file, HealthFileError};
use dark_metrics::serve::{
    shutdown_signal, ConnectionLimits, MetricsServer, ProcessCollector, ServeSummary, ServerConfig,
    ServerConfigError,
};

use crate::args::ExporterArgs;
use crate::error::ConfigError;
use crate::exporter::NodeExporter;

/// `--web.max-requests 0` (no limit) in practice: far more scrapes at once than any set of
/// Prometheus servers sends.
const UNLIMITED_REQUESTS: usize = 65_536;

/// How long open overlay work may take to wind down after the server stopped.
const CONTEXT_SHUTDOWN: Duration = Duration::from_secs(5);

/// Flags of the node exporter command.
#[derive(Debug, clap::Args)]
pub struct CommandArgs {
    /// Run one scrape, print it to stdout in Prometheus text format 0.0.4 and exit (no
    /// network).
    #[arg(long, conflicts_with_all = ["identity", "service"])]
    pub once: bool,

    /// Enrolled identity file (JSON) hosting the metrics service.
    #[arg(long, short = 'i', required_unless_present = "once")]
    pub identity: Option<PathBuf>,

    /// How to log in to the controller: `auto` (OIDC when the controller offers it, as every
    /// ziti 2.x controller does; else the legacy API session), `oidc`, or `legacy`.
    #[arg(
        long,
        default_value = "auto",
        env = "DARKSCRAPE_AUTH",
        conflicts_with = "once"
    )]
    pub auth: dark_listener::controller::AuthMethod,

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

    /// Rewrite this file every 5 s while the service is bound on at least one edge router,
    /// for an exec probe (`darkscrape probe --health-file F --max-age S`); its directory
    /// must be writable.
    #[arg(long, env = "HEALTH_FILE", conflicts_with = "once")]
    pub health_file: Option<PathBuf>,

    /// Seconds scrapes in progress may take to be answered after SIGTERM or SIGINT (no new
    /// connection is accepted meanwhile); connections still open then are closed.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10,
        conflicts_with = "once"
    )]
    pub drain_timeout: u64,

    /// Collector selection and options, as node_exporter names them.
    #[command(flatten)]
    pub exporter: ExporterArgs,
}

/// Why the node exporter command stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A collector flag is invalid (bad pattern, unknown collector, …).
    #[error("invalid node-exporter flags: {0}")]
    Config(#[from] ConfigError),
    /// A serving flag is invalid (telemetry path, …).
    #[error("invalid node-exporter serving flags: {0}")]
    Serving(#[from] ServerConfigError),
    /// Neither `--once` nor both `--identity` and `--service` were given.
    #[error("--identity and --service are required unless --once is given")]
    NothingToServe,
    /// The async runtime could not start (out of threads or file descriptors).
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// `--once` could not write its scrape (stdout closed?).
    #[error("cannot write the scrape to stdout: {0}")]
    Stdout(std::io::Error),
    /// The identity file is unreadable or unusable; check the path or enroll again.
    #[error("cannot use identity {}: {source}", path.display())]
    Identity {
        /// The `--identity` file.
        path: PathBuf,
        /// What is wrong with it.
        source: Box<ContextError>,
    },
    /// The `--health-file` writer could not start.
    #[error("cannot keep the health file: {0}")]
    Health(#[from] HealthFileError),
    /// Hosting the service failed (no Bind policy, controller or router unreachable, …).
    #[error("cannot host service {service:?} on the overlay: {source}")]
    Host {
        /// The `--service` name.
        service: String,
        /// Why the overlay refused or failed.
        source: Box<BindError>,
    },
}

/// Runs the command: one scrape to stdout with `--once`, otherwise serves dark until SIGINT
/// or SIGTERM.
pub fn run(args: CommandArgs) -> Result<(), CommandError> {
    let exporter = args.exporter.build()?;
    let mut runtime = tokio::runtime::Builder::new_current_thread();
    runtime.enable_time();
    if !args.once {
        runtime.enable_io();
    }
    let runtime = runtime.build().map_err(CommandError::Runtime)?;
    if args.once {
        let families = runtime.block_on(exporter.scrape());
        let body = crate::render_text(&families);
        let mut stdout = std::io::stdout().lock();
        return stdout
            .write_all(&body)
            .and_then(|()| stdout.flush())
            .map_err(CommandError::Stdout);
    }
    let server = metrics_server(&args, exporter)?;
    runtime.block_on(serve_dark(args, server))
}

/// The dark-metrics server the serving flags of `args` describe, with `exporter` as its
/// `node` collector (plus the process collector unless exporter metrics are disabled).
pub fn metrics_server(
    args: &CommandArgs,
    exporter: NodeExporter,
) -> Result<MetricsServer, CommandError> {
    let config = ServerConfig {
        path: args.telemetry_path.clone(),
        title: "darkscrape node-exporter".to_string(),
        max_concurrent_requests: match args.max_requests {
            0 => UNLIMITED_REQUESTS,
            n => n,
        },
        self_metrics: !args.disable_exporter_metrics,
        connections: ConnectionLimits {
            drain_timeout: Duration::from_secs(args.drain_timeout),
            ..ConnectionLimits::default()
        },
        ..ServerConfig::default()
    };
    let mut builder = MetricsServer::builder().config(config).collector(exporter);
    if !args.disable_exporter_metrics {
        builder = builder.collector(ProcessCollector::new());
    }
    Ok(builder.build()?)
}

async fn serve_dark(args: CommandArgs, server: MetricsServer) -> Result<(), CommandError> {
    let (Some(identity), Some(service)) = (args.identity, args.service) else {
        return Err(CommandError::NothingToServe);
    };
    let ctx = Context::from_identity_file_with_auth(&identity, args.auth).map_err(|source| {
        CommandError::Identity {
            path: identity.clone(),
            source: Box::new(source),
        }
    })?;
    let options = BindOptions {
        terminator_identity: args.terminator_identity,
        bind_using_edge_identity: args.bind_using_identity,
        ..BindOptions::default()
    };
    let result = host(&ctx, &server, &service, options, args.health_file).await;
    ctx.shutdown(CONTEXT_SHUTDOWN).await;
    let summary = result?;
    tracing::info!(
        connections = summary.connections,
        drained = summary.drained,
        "node-exporter stopped"
    );
    Ok(())
}

/// Binds `service` and serves on it until SIGINT or SIGTERM, keeping `health_file` fresh
/// while the service is bound on at least one router.
async fn host(
    ctx: &Context,
    server: &MetricsServer,
    service: &str,
    options: BindOptions,
    health_file: Option<PathBuf>,
) -> Result<ServeSummary, CommandError> {
    let listener = ctx
        .bind(service, options)
        .await
        .map_err(|source| CommandError::Host {
            service: service.to_string(),
            source: Box::new(source),
        })?;
    let _health = match health_file {
        Some(path) => Some(spawn_health_file(
            path,
            health::DEFAULT_INTERVAL,
            health::all_bound(vec![listener.bind_state()]),
        )?),
        None => None,
    };
    tracing::info!(service, path = %server.config().path, "serving metrics on the overlay");
    Ok(server.serve_dark(listener, shutdown_signal()).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: CommandArgs,
    }

    fn parse(argv: &[&str]) -> Result<CommandArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("node-exporter").chain(argv.iter().copied()))
            .map(|cli| cli.args)
    }

    #[test]
    fn serving_needs_identity_and_service_unless_once() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--identity", "id.json"]).is_err());
        assert!(parse(&["--once", "--service", "s"]).is_err());
        let args = parse(&["--once"]).unwrap();
        assert!(args.once && args.identity.is_none());
        let args = parse(&["-i", "id.json", "-s", "node.metrics"]).unwrap();
        assert_eq!(args.service.as_deref(), Some("node.metrics"));
        assert_eq!(args.telemetry_path, "/metrics");
        assert_eq!(args.max_requests, 40);
        assert_eq!(args.drain_timeout, 10);
    }

    #[test]
    fn serving_flags_shape_the_server() {
        let args = parse(&[
            "-i",
            "id.json",
            "-s",
            "svc",
            "--web.telemetry-path=/node",
            "--web.max-requests=0",
            "--web.disable-exporter-metrics",
            "--drain-timeout=3",
            "--collector.disable-defaults",
            "--collector.loadavg",
        ])
        .unwrap();
        let exporter = args.exporter.build().unwrap();
        assert_eq!(exporter.enabled_collectors(), ["loadavg"]);
        let server = metrics_server(&args, exporter).unwrap();
        assert_eq!(server.config().path, "/node");
        assert_eq!(server.config().max_concurrent_requests, UNLIMITED_REQUESTS);
        assert!(!server.config().self_metrics);
        assert_eq!(
            server.config().connections.drain_timeout,
            Duration::from_secs(3)
        );
    }

    #[test]
    fn a_bad_telemetry_path_is_a_serving_error() {
        let args = parse(&["-i", "id.json", "-s", "svc", "--web.telemetry-path=metrics"]).unwrap();
        let exporter = args.exporter.build().unwrap();
        let err = metrics_server(&args, exporter).err().unwrap();
        assert!(matches!(err, CommandError::Serving(_)), "{err}");
    }

    #[test]
    fn a_missing_identity_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.json");
        let args = parse(&[
            "-i",
            missing.to_str().unwrap(),
            "-s",
            "svc",
            "--collector.disable-defaults",
            "--collector.loadavg",
        ])
        .unwrap();
        let err = run(args).err().unwrap();
        assert!(matches!(err, CommandError::Identity { .. }), "{err}");
        assert!(err.to_string().contains("absent.json"), "{err}");
    }
}
