//! `darkscrape federate`: the gateway that lets an unmodified Prometheus scrape dark
//! targets — http_sd discovery at `/sd`, the scrape proxy for `proxy_url`, `/federate` fed by
//! its own scrape loop, its own metrics at `/metrics` and a status page at `/` (see the
//! `federate` crate).
//!
//! It serves on the loopback bridge `--listen` (default `127.0.0.1:9099`), on the dark
//! service `--service`, or both; with `--service` and no `--listen` it opens no IP listener
//! at all. A bridge address beyond loopback must be given explicitly and is warned about.
//! On SIGTERM or SIGINT it stops accepting and answers the requests in progress for at most
//! `--drain-timeout` seconds.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use dark_listener::context::{Context, ContextOptions};
use dark_listener::identity::Identity;
use dark_metrics::health::{self, spawn_health_file};
use dark_metrics::serve::{shutdown_signal, ConnectionLimits};
use federate::federation::FederationLabels;
use federate::scrape_loop::{ScrapeLimits, ScrapeLoopOptions};
use federate::{start_gateway, DiscoveryFilter, DiscoveryOptions, GatewayConfig, ProxyLimits};

/// The bridge address when neither `--listen` nor `--service` is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9099";

/// Arguments of `darkscrape federate`.
#[derive(Debug, Args)]
pub struct FederateArgs {
    /// Enrolled identity file (JSON) of the scraper: the gateway discovers and dials what it
    /// may dial.
    #[arg(long, short = 'i', env = "IDENTITY_FILE")]
    pub identity: PathBuf,
    #[command(flatten)]
    pub auth: super::AuthArgs,
    /// HTTP bridge address for Prometheus [default: 127.0.0.1:9099, unless --service is given
    /// alone]. Anything but loopback lets whoever reaches it scrape every dark target.
    #[arg(long, env = "FEDERATE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Also serve the gateway on this overlay service (hosted with the identity); with no
    /// --listen, no IP listener is opened at all.
    #[arg(long, env = "FEDERATE_SERVICE")]
    pub service: Option<String>,
    /// Discover only services whose whole name matches this regex.
    #[arg(long, env = "FEDERATE_SERVICE_REGEX")]
    pub service_regex: Option<String>,
    /// Leave out services whose whole name matches this regex.
    #[arg(long, env = "FEDERATE_EXCLUDE_SERVICE_REGEX")]
    pub exclude_service_regex: Option<String>,
    /// Discover only services carrying one of these role attributes (repeat the flag, or
    /// separate with commas; a leading `#` is ignored).
    #[arg(
        long = "service-attribute",
        env = "FEDERATE_SERVICE_ATTRIBUTES",
        value_delimiter = ','
    )]
    pub service_attributes: Vec<String>,
    /// Seconds between discovery rounds (service list and terminators).
    #[arg(long, default_value_t = 30)]
    pub refresh_interval: u64,
    /// Seconds a hosting identity stays listed after its terminator vanished (it shows as a
    /// target that is down, with its reason, before it is forgotten).
    #[arg(long, default_value_t = 600)]
    pub keep_vanished: u64,
    /// Scrape timeout in seconds when Prometheus sends no X-Prometheus-Scrape-Timeout-Seconds.
    #[arg(long, default_value_t = 10)]
    pub default_scrape_timeout: u64,
    /// Largest answer body relayed from a target, in bytes.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub max_body_bytes: u64,
    /// Scrapes proxied at once; more are answered 503.
    #[arg(long, default_value_t = 256)]
    pub max_concurrent_scrapes: usize,
    /// Seconds between the gateway's own scrapes of every target, which feed /federate;
    /// 0 turns the scrape loop and /federate off (a proxy-only gateway).
    #[arg(long, env = "FEDERATE_SCRAPE_INTERVAL", default_value_t = 15)]
    pub scrape_interval: u64,
    /// Deadline of one scrape of the loop, in seconds.
    #[arg(long, default_value_t = 10)]
    pub scrape_timeout: u64,
    /// Targets the loop scrapes at once.
    #[arg(long, default_value_t = 32)]
    pub scrape_concurrency: usize,
    /// HTTP path the loop scrapes on every target.
    #[arg(long, default_value = "/metrics")]
    pub metrics_path: String,
    /// Most samples kept from one target; a target over it fails alone (0 = no limit).
    #[arg(long, default_value_t = 200_000)]
    pub sample_limit: usize,
    /// Most labels on one series; a target over it fails alone (0 = no limit).
    #[arg(long, default_value_t = 64)]
    pub label_limit: usize,
    /// The `job` label of the gateway's targets in /federate.
    #[arg(long, env = "FEDERATE_JOB", default_value = "dark")]
    pub job: String,
    /// A label added to every /federate series that lacks it, as NAME=VALUE (repeatable),
    /// like Prometheus's external labels, e.g. cluster=eu-1.
    #[arg(
        long = "external-label",
        env = "FEDERATE_EXTERNAL_LABELS",
        value_delimiter = ','
    )]
    pub external_labels: Vec<String>,
    /// Serve everything on /federate when no match[] is given (otherwise that is an error).
    #[arg(long)]
    pub federate_allow_all: bool,
    /// Rewrite this file every 5 s while healthy (with --service: while the service is bound
    /// on a router), for an exec probe (`darkscrape probe --health-file F --max-age S`).
    #[arg(long, env = "HEALTH_FILE")]
    pub health_file: Option<PathBuf>,
    /// Seconds requests in progress (scrapes, /federate) may take to be answered after
    /// SIGTERM or SIGINT (no new connection is accepted meanwhile); connections still open
    /// then are closed.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub drain_timeout: u64,
}

/// Runs `darkscrape federate …`.
pub fn run(args: FederateArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(serve(args))
}

/// The gateway configuration the arguments describe.
pub fn gateway_config(args: &FederateArgs) -> anyhow::Result<GatewayConfig> {
    let filter = DiscoveryFilter::new(
        args.service_regex.as_deref(),
        args.exclude_service_regex.as_deref(),
        &args.service_attributes,
    )?;
    let listen = match (args.listen, &args.service) {
        (Some(addr), _) => Some(addr),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_LISTEN.parse().context("default listen address")?),
    };
    let mut proxy = ProxyLimits {
        max_body_bytes: args.max_body_bytes,
        max_concurrent: args.max_concurrent_scrapes,
        ..ProxyLimits::default()
    };
    proxy.deadline.default_timeout = Duration::from_secs(args.default_scrape_timeout.max(1));
    let mut external = Vec::new();
    for pair in &args.external_labels {
        let Some((name, value)) = pair.split_once('=') else {
            anyhow::bail!("--external-label {pair:?}: expected NAME=VALUE, e.g. cluster=eu-1");
        };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with("__");
        if !valid {
            anyhow::bail!("--external-label {pair:?}: {name:?} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)");
        }
        external.push((name.to_string(), value.to_string()));
    }
    if !args.metrics_path.starts_with('/') {
        anyhow::bail!("--metrics-path {:?} must start with /", args.metrics_path);
    }
    let scrape_loop = (args.scrape_interval > 0).then(|| ScrapeLoopOptions {
        interval: Duration::from_secs(args.scrape_interval),
        timeout: Duration::from_secs(args.scrape_timeout.max(1)),
        concurrency: args.scrape_concurrency.max(1),
        path: args.metrics_path.clone(),
        limits: ScrapeLimits {
            samples: args.sample_limit,
            labels: args.label_limit,
        },
    });
    Ok(GatewayConfig {
        listen,
        service: args.service.clone(),
        discovery: DiscoveryOptions {
            filter,
            refresh_interval: Duration::from_secs(args.refresh_interval.max(1)),
            keep_vanished: Duration::from_secs(args.keep_vanished),
            ..DiscoveryOptions::default()
        },
        proxy,
        scrape_loop,
        federation: FederationLabels {
            job: args.job.clone(),
            external,
        },
        federate_allow_all: args.federate_allow_all,
        connections: ConnectionLimits {
            drain_timeout: Duration::from_secs(args.drain_timeout),
            ..ConnectionLimits::default()
        },
    })
}

async fn serve(args: FederateArgs) -> anyhow::Result<()> {
    let config = gateway_config(&args)?;
    let identity = Identity::from_file(&args.identity)
        .with_context(|| format!("cannot use identity {}", args.identity.display()))?;
    let mut options = ContextOptions::default();
    options.session.auth = args.auth.method;
    // New services show up within one refresh interval.
    options.session.service_poll_interval = config.discovery.refresh_interval;
    let ctx = Context::with_options(identity, options)
        .with_context(|| format!("cannot use identity {}", args.identity.display()))?;
    let gateway = start_gateway(&ctx, config).await?;
    let _health = match &args.health_file {
        Some(path) => Some(spawn_health_file(
            path,
            health::DEFAULT_INTERVAL,
            gateway.health_check(),
        )?),
        None => None,
    };
    let stop = gateway.stop_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        stop.cancel();
    });
    let summaries = gateway.wait().await;
    ctx.shutdown(Duration::from_secs(5)).await;
    tracing::info!(
        connections = summaries.iter().map(|s| s.connections).sum::<u64>(),
        drained = summaries.iter().all(|s| s.drained),
        "gateway stopped"
    );
    Ok(())
}
