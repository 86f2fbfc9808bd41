//! Hosting reflectz on the overlay: binds the echo service (any terminator, as the original
//! did) and, when configured, the metrics service (terminator identity = this identity's
//! name, like Go's `BindUsingEdgeIdentity`), and serves both until shutdown, keeping a
//! health file fresh while both are bound when one is configured.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use dark_listener::context::Context;
use dark_listener::listener::{BindError, BindOptions};
use dark_metrics::health::{self, spawn_health_file, HealthFileError};
use dark_metrics::serve::{ServeSummary, ServerConfig, ServerConfigError};
use tokio::sync::watch;

use crate::echo::{serve_echo, EchoLimits, EchoSummary};
use crate::metrics::ReflectMetrics;

/// What to host.
#[derive(Debug, Clone)]
pub struct ReflectzConfig {
    /// The echo service's name.
    pub service: String,
    /// The metrics service's name; `None` hosts no metrics (as the original without `-p`).
    pub metrics_service: Option<String>,
    /// Echo limits.
    pub echo: EchoLimits,
    /// Metrics server settings (path, limits).
    pub metrics: ServerConfig,
    /// A health file rewritten every [`health::DEFAULT_INTERVAL`] while every hosted
    /// service is bound on at least one edge router (see `dark_metrics::health`).
    pub health_file: Option<PathBuf>,
}

impl ReflectzConfig {
    /// Echo on `service`, metrics on `metrics_service`, default limits.
    pub fn new(service: impl Into<String>, metrics_service: Option<String>) -> Self {
        ReflectzConfig {
            service: service.into(),
            metrics_service,
            echo: EchoLimits::default(),
            metrics: ServerConfig {
                title: "reflectz".to_string(),
                ..ServerConfig::default()
            },
            health_file: None,
        }
    }
}

/// Why reflectz could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReflectzError {
    /// A service could not be bound: check the service name, the identity's Bind policy
    /// and that the controller and an edge router are reachable.
    #[error("cannot host service {service:?}: {source}")]
    Bind {
        /// The service.
        service: String,
        /// The SDK's reason.
        #[source]
        source: BindError,
    },
    /// The metrics server settings are invalid.
    #[error("invalid metrics server settings: {0}")]
    MetricsConfig(#[from] ServerConfigError),
    /// The health file writer could not start (its directory is not writable).
    #[error("cannot keep the health file: {0}")]
    Health(#[from] HealthFileError),
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// The echo loop's summary.
    pub echo: EchoSummary,
    /// The metrics server's summary, when one was hosted.
    pub metrics: Option<ServeSummary>,
}

/// Binds the configured services with `context` and serves them until `shutdown`
/// resolves. `metrics` receives the echo counts (pass a clone to read them elsewhere).
pub async fn run(
    context: &Context,
    config: ReflectzConfig,
    metrics: ReflectMetrics,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, ReflectzError> {
    let server = match &config.metrics_service {
        Some(_) => Some(metrics.metrics_server(config.metrics.clone())?),
        None => None,
    };
    let echo_listener = context
        .bind(&config.service, BindOptions::default())
        .await
        .map_err(|source| ReflectzError::Bind {
            service: config.service.clone(),
            source,
        })?;
    tracing::info!(service = %config.service, "echo service hosted");
    let metrics_listener = match &config.metrics_service {
        Some(service) => {
            let options = BindOptions {
                bind_using_edge_identity: true,
                ..BindOptions::default()
            };
            let listener =
                context
                    .bind(service, options)
                    .await
                    .map_err(|source| ReflectzError::Bind {
                        service: service.clone(),
                        source,
                    })?;
            tracing::info!(
                %service,
                identity = %context.identity().name(),
                path = %config.metrics.path,
                "metrics service hosted"
            );
            Some(listener)
        }
        None => None,
    };
    let _health = match &config.health_file {
        Some(path) => {
            let mut bound = vec![echo_listener.bind_state()];
            bound.extend(metrics_listener.as_ref().map(|l| l.bind_state()));
            Some(spawn_health_file(
                path,
                health::DEFAULT_INTERVAL,
                health::all_bound(bound),
            )?)
        }
        None => None,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let echo = tokio::spawn(serve_echo(
        echo_listener,
        config.echo,
        metrics,
        stopped(stop_rx.clone()),
    ));
    let metrics_task = match (server, metrics_listener) {
        (Some(server), Some(listener)) => {
            let stop = stopped(stop_rx.clone());
            Some(tokio::spawn(async move {
                server.serve_dark(listener, stop).await
            }))
        }
        _ => None,
    };
    shutdown.await;
    tracing::info!("reflectz shutting down");
    let _ = stop_tx.send(true);
    let echo = match echo.await {
        Ok(summary) => summary,
        Err(error) => {
            tracing::warn!(%error, "echo loop ended abnormally");
            EchoSummary {
                connections: 0,
                drained: false,
            }
        }
    };
    let metrics = match metrics_task {
        Some(task) => match tokio::time::timeout(Duration::from_secs(30), task).await {
            Ok(Ok(summary)) => Some(summary),
            _ => None,
        },
        None => None,
    };
    Ok(RunSummary { echo, metrics })
}
