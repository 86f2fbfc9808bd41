//! Hosting an existing loopback TCP service on the overlay, byte for byte
//! (`darkscrape host`): a cluster's Prometheus, Debian's node_exporter, kube-state-metrics.
//!
//! Every connection dialed to the dark service is forwarded to the loopback address with a
//! new TCP connection, both ways, with half-closes passed on (a FIN from either side shuts
//! the other side's write half). Only the forwarder touches the overlay: the exporter keeps
//! listening on loopback as it always did. A target beyond loopback is refused unless the
//! caller allows it ([`ForwardOptions::allow_remote`]), so a dark service never becomes a way
//! into the underlay by accident.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use dark_listener::listener::ServiceListener;
use dark_metrics::serve::serve_streams;

/// Tunables of [`forward_to_loopback`].
#[derive(Debug, Clone)]
pub struct ForwardOptions {
    /// Where connections go.
    pub to: SocketAddr,
    /// Allow `to` outside loopback.
    pub allow_remote: bool,
    /// Connections forwarded at once; more wait in the listener.
    pub max_connections: usize,
    /// Longest wait for the TCP connect.
    pub connect_timeout: Duration,
    /// After shutdown, longest wait for open connections to end on their own before they
    /// are closed.
    pub drain_timeout: Duration,
}

/// A forward target that is refused.
#[derive(Debug, thiserror::Error)]
#[error("--to {0} is not a loopback address: darkscrape host forwards to this machine only (pass --allow-remote-target to forward elsewhere, knowing the dark service then reaches that host)")]
pub struct NotLoopback(pub SocketAddr);

impl ForwardOptions {
    /// Refuses a target outside loopback unless allowed.
    pub fn check(&self) -> Result<(), NotLoopback> {
        if self.to.ip().is_loopback() || self.allow_remote {
            Ok(())
        } else {
            Err(NotLoopback(self.to))
        }
    }
}

/// How the forwarder ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardSummary {
    /// Connections forwarded.
    pub connections: u64,
    /// Whether every open connection ended within the drain timeout.
    pub drained: bool,
}

/// Forwards every connection of `listener` to `options.to` until `shutdown` resolves or the
/// listener closes; then stops accepting (the service is unbound) and lets open connections
/// finish on their own for at most [`ForwardOptions::drain_timeout`] before closing them.
pub async fn forward_to_loopback(
    listener: ServiceListener,
    options: ForwardOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<ForwardSummary, NotLoopback> {
    options.check()?;
    let to = options.to;
    let timeout = options.connect_timeout;
    let summary = serve_streams(
        listener,
        options.max_connections,
        "forwarded",
        options.drain_timeout,
        shutdown,
        move |dark, peer, mut drain| async move {
            tokio::select! {
                _ = forward_one(dark, &peer, to, timeout) => {}
                _ = drain.cut() => {
                    tracing::info!(%peer, "forwarded connection still open after the drain timeout; closed");
                }
            }
        },
    )
    .await;
    Ok(ForwardSummary {
        connections: summary.connections,
        drained: summary.drained,
    })
}

/// Forwards one overlay connection to `to` until both sides are done.
async fn forward_one<S>(mut dark: S, peer: &str, to: SocketAddr, timeout: Duration)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let tcp = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(to)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(error)) => {
            tracing::warn!(%peer, %to, %error, "cannot connect to the forwarded service; closing the overlay connection");
            return;
        }
        Err(_) => {
            tracing::warn!(%peer, %to, "connecting to the forwarded service timed out");
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    let mut tcp = tcp;
    match tokio::io::copy_bidirectional(&mut dark, &mut tcp).await {
        Ok((up, down)) => tracing::debug!(%peer, up, down, "forwarded connection ended"),
        Err(error) => tracing::debug!(%peer, %error, "forwarded connection failed"),
    }
}
