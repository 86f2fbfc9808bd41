//! Starting and stopping a gateway: [`start_gateway`] wires discovery, the scrape proxy and
//! the gateway's own metrics into one [`GatewayService`], and serves it on the loopback
//! bridge (`listen`), on a dark service (`service`), or both, with dark-metrics' accept loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dark_listener::context::Context;
use dark_listener::listener::{BindError, BindOptions, BindState};
use dark_metrics::serve::{
    serve_connections, ConnectionLimits, MetricsServer, ProcessCollector, ServeSummary,
    ServerConfig,
};
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::discovery::{spawn_discovery, DiscoveryOptions, TargetList};
use crate::federation::FederationLabels;
use crate::gateway::{FederationSource, GatewayInfo, GatewayService};
use crate::proxy::{ProxyLimits, ScrapeProxy};
use crate::scrape_loop::{spawn_scrape_loop, ScrapeLoopOptions};
use crate::telemetry::GatewayMetrics;

/// Where and how a gateway serves.
#[derive(Debug, Clone, Default)]
pub struct GatewayConfig {
    /// The loopback bridge for Prometheus (`None`: no IP listener at all).
    pub listen: Option<SocketAddr>,
    /// Also serve on this overlay service (hosted with the gateway's identity).
    pub service: Option<String>,
    /// What is discovered, and how often.
    pub discovery: DiscoveryOptions,
    /// Limits of the scrape proxy.
    pub proxy: ProxyLimits,
    /// Limits of the accept loops.
    pub connections: ConnectionLimits,
    /// The scrape loop behind `/federate`; `None` turns both off.
    pub scrape_loop: Option<ScrapeLoopOptions>,
    /// Labels `/federate` adds to every series.
    pub federation: FederationLabels,
    /// Whether `/federate` without `match[]` serves everything.
    pub federate_allow_all: bool,
}

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Neither a bridge address nor a dark service was given.
    #[error("the gateway would serve nowhere: give --listen ADDR, --service NAME, or both")]
    NowhereToServe,
    /// The context has no controller session (its identity names no controller).
    #[error("the identity names no controller, so nothing can be discovered or dialed")]
    NoController,
    /// The bridge address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another process using it? pick another --listen address)")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The dark service could not be bound.
    #[error("cannot host the gateway on service {service:?}: {source}")]
    Bind {
        /// The service.
        service: String,
        /// The SDK's error.
        #[source]
        source: BindError,
    },
    /// The metrics server configuration is invalid.
    #[error("gateway metrics: {0}")]
    Metrics(String),
}

/// A running gateway.
#[derive(Debug)]
pub struct RunningGateway {
    local_addr: Option<SocketAddr>,
    stop: CancellationToken,
    serving: Vec<JoinHandle<ServeSummary>>,
    targets: watch::Receiver<Arc<TargetList>>,
    metrics: Arc<GatewayMetrics>,
    bound: Vec<BindState>,
}

impl RunningGateway {
    /// The health check for `--health-file`: with a dark service, healthy while it is bound
    /// on at least one edge router; on the loopback bridge alone, healthy while the process
    /// runs (a controller outage does not stop it from serving what it knows).
    pub fn health_check(&self) -> impl Fn() -> Result<(), String> + Send + 'static {
        dark_metrics::health::all_bound(self.bound.clone())
    }

    /// The bound bridge address (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The latest discovered targets.
    pub fn targets(&self) -> Arc<TargetList> {
        self.targets.borrow().clone()
    }

    /// A receiver of the discovered targets, for waiting on changes.
    pub fn subscribe_targets(&self) -> watch::Receiver<Arc<TargetList>> {
        self.targets.clone()
    }

    /// The gateway's metrics and target outcomes.
    pub fn metrics(&self) -> &Arc<GatewayMetrics> {
        &self.metrics
    }

    /// Waits until every listener stopped (after [`RunningGateway::stop`] or when the dark
    /// listener closed), and returns their summaries.
    pub async fn wait(self) -> Vec<ServeSummary> {
        let mut summaries = Vec::new();
        for task in self.serving {
            if let Ok(summary) = task.await {
                summaries.push(summary);
            }
        }
        self.stop.cancel();
        summaries
    }

    /// Stops accepting, lets open requests finish (bounded by the drain timeout) and waits.
    pub async fn stop(self) -> Vec<ServeSummary> {
        self.stop.cancel();
        self.wait().await
    }

    /// A token that stops the gateway when cancelled (e.g. from a signal handler).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }
}

/// Starts a gateway scraping with `ctx` (see the module docs). A non-loopback `listen`
/// address is allowed but logged as a warning: anyone who reaches it may scrape every target
/// the identity may dial.
pub async fn start_gateway(
    ctx: &Context,
    config: GatewayConfig,
) -> Result<RunningGateway, GatewayError> {
    if config.listen.is_none() && config.service.is_none() {
        return Err(GatewayError::NowhereToServe);
    }
    let controller = ctx.controller().ok_or(GatewayError::NoController)?;
    let mut registry = Registry::default();
    let metrics = GatewayMetrics::new(&mut registry);
    let own_metrics = MetricsServer::builder()
        .registry(registry)
        .collector(metrics.reason_collector())
        .collector(ProcessCollector::new())
        .config(ServerConfig {
            title: "darkscrape federate".to_string(),
            ..ServerConfig::default()
        })
        .build()
        .map_err(|e| GatewayError::Metrics(e.to_string()))?;
    let stop = CancellationToken::new();
    let mut discovery = config.discovery.clone();
    if let Some(own) = &config.service {
        discovery.filter = discovery.filter.excluding(own);
    }
    let targets = spawn_discovery(controller, discovery, metrics.clone(), stop.clone());
    let proxy = ScrapeProxy::new(ctx.clone(), config.proxy.clone(), metrics.clone());
    let local_listener = match config.listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| GatewayError::Listen { addr, source })?,
        ),
        None => None,
    };
    let local_addr = local_listener.as_ref().and_then(|l| l.local_addr().ok());
    let info = GatewayInfo {
        listen: local_addr.map(|a| a.to_string()),
        service: config.service.clone(),
        identity: ctx.identity().name().to_string(),
    };
    let federation = config.scrape_loop.clone().map(|options| FederationSource {
        store: spawn_scrape_loop(
            proxy.clone(),
            targets.clone(),
            options,
            metrics.clone(),
            stop.clone(),
        ),
        labels: config.federation.clone(),
        allow_all: config.federate_allow_all,
    });
    let service = GatewayService::new(
        proxy,
        targets.clone(),
        metrics.clone(),
        own_metrics.service(),
        info,
        federation,
    );
    let mut serving = Vec::new();
    if let Some(listener) = local_listener {
        let addr = local_addr.map_or_else(|| "?".to_string(), |a| a.to_string());
        if local_addr.is_some_and(|a| !a.ip().is_loopback()) {
            tracing::warn!(%addr, "the gateway's bridge listens beyond loopback: whoever reaches it may scrape every target this identity may dial");
        } else {
            tracing::info!(%addr, "gateway bridge listening on loopback");
        }
        let stop = stop.clone();
        serving.push(tokio::spawn(serve_connections(
            listener,
            service.clone(),
            config.connections,
            async move { stop.cancelled().await },
        )));
    }
    let mut bound = Vec::new();
    if let Some(name) = &config.service {
        let listener = ctx
            .bind(name, BindOptions::default())
            .await
            .map_err(|source| GatewayError::Bind {
                service: name.clone(),
                source,
            })?;
        tracing::info!(service = %name, "gateway hosted on the overlay");
        bound.push(listener.bind_state());
        let stop = stop.clone();
        serving.push(tokio::spawn(serve_connections(
            listener,
            service,
            config.connections,
            async move { stop.cancelled().await },
        )));
    }
    Ok(RunningGateway {
        local_addr,
        stop,
        serving,
        targets,
        metrics,
        bound,
    })
}

/// Waits until `targets` satisfies `ready`, at most `timeout`; returns the list that did,
/// or `None` on timeout.
pub async fn wait_for_targets(
    targets: &mut watch::Receiver<Arc<TargetList>>,
    timeout: Duration,
    ready: impl Fn(&TargetList) -> bool,
) -> Option<Arc<TargetList>> {
    tokio::time::timeout(timeout, async {
        loop {
            let list = targets.borrow_and_update().clone();
            if ready(&list) {
                return Some(list);
            }
            if targets.changed().await.is_err() {
                return None;
            }
        }
    })
    .await
    .ok()
    .flatten()
}
