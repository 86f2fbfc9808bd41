//! `darkscrape host`: hosts an existing loopback TCP service (a Prometheus, Debian's
//! node_exporter, kube-state-metrics) as a dark service, byte for byte, until SIGINT or
//! SIGTERM. The service keeps listening on loopback; only this forwarder touches the overlay.
//! On the signal it stops accepting and lets open connections finish for at most
//! `--drain-timeout` seconds.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use dark_listener::context::Context;
use dark_listener::listener::BindOptions;
use dark_metrics::serve::shutdown_signal;
use federate::forward::{forward_to_loopback, ForwardOptions};

/// Arguments of `darkscrape host`.
#[derive(Debug, Args)]
pub struct HostArgs {
    /// Enrolled identity file (JSON) that binds the service.
    #[arg(long, short = 'i', env = "IDENTITY_FILE")]
    pub identity: PathBuf,
    #[command(flatten)]
    pub auth: super::AuthArgs,
    /// The overlay service to host.
    #[arg(long, short = 's', env = "HOST_SERVICE")]
    pub service: String,
    /// The loopback address every connection is forwarded to, e.g. 127.0.0.1:9100.
    #[arg(long, env = "HOST_TO")]
    pub to: SocketAddr,
    /// Forward to an address outside loopback too.
    #[arg(long)]
    pub allow_remote_target: bool,
    /// Bind with this identity's name as terminator identity (addressable, like the
    /// original's bindUsingEdgeIdentity).
    #[arg(long)]
    pub bind_using_identity: bool,
    /// Bind with this terminator identity.
    #[arg(long, conflicts_with = "bind_using_identity")]
    pub terminator_identity: Option<String>,
    /// Connections forwarded at once.
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
    /// Seconds open connections may take to finish after SIGTERM or SIGINT (no new ones are
    /// accepted meanwhile); those still open then are closed.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub drain_timeout: u64,
}

/// Runs `darkscrape host …`.
pub fn run(args: HostArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(host(args))
}

async fn host(args: HostArgs) -> anyhow::Result<()> {
    let options = ForwardOptions {
        to: args.to,
        allow_remote: args.allow_remote_target,
        max_connections: args.max_connections,
        connect_timeout: Duration::from_secs(10),
        drain_timeout: Duration::from_secs(args.drain_timeout),
    };
    // Refused before anything touches the network.
    options.check()?;
    let ctx = Context::from_identity_file_with_auth(&args.identity, args.auth.method)
        .with_context(|| format!("cannot use identity {}", args.identity.display()))?;
    let bind = BindOptions {
        bind_using_edge_identity: args.bind_using_identity,
        terminator_identity: args.terminator_identity.clone(),
        ..BindOptions::default()
    };
    let listener = ctx
        .bind(&args.service, bind)
        .await
        .with_context(|| format!("cannot host service {:?}", args.service))?;
    tracing::info!(service = %args.service, to = %args.to, "hosting a loopback service on the overlay");
    let result = forward_to_loopback(listener, options, shutdown_signal()).await;
    ctx.shutdown(Duration::from_secs(5)).await;
    let summary = result?;
    tracing::info!(
        connections = summary.connections,
        drained = summary.drained,
        "host stopped"
    );
    Ok(())
}
