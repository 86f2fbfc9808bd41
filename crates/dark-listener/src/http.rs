//! Serving HTTP on a [`ServiceListener`]: any tower `Service` (or hyper service via
//! [`TowerToHyperService`]) over HTTP/1.1 with keep-alive and graceful shutdown.
//!
//! This module owns the accept loop only: hyper's HTTP/1 connection builder drives each
//! accepted [`crate::stream::DarkStream`]; when `shutdown` resolves the loop stops accepting,
//! asks every open connection to finish its in-flight request and close, and waits for them
//! (bounded by [`HttpServeOptions::drain_timeout`]).

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

use crate::listener::{AcceptError, ServiceListener};

/// Tunables of [`serve_http_with`].
#[derive(Debug, Clone)]
pub struct HttpServeOptions {
    /// Longest wait for a request's headers on an open connection (slow-loris guard).
    pub header_read_timeout: Duration,
    /// Longest wait for open connections to finish after shutdown was asked.
    pub drain_timeout: Duration,
}

impl Default for HttpServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// How the serve loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeSummary {
    /// Connections accepted.
    pub connections: u64,
    /// Whether every connection finished within the drain timeout.
    pub drained: bool,
}

/// Serves `service` on `listener` over HTTP/1.1 until `shutdown` resolves, with default
/// options. See [`serve_http_with`].
pub async fn serve_http<S, B>(
    listener: ServiceListener,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> ServeSummary
where
    S: tower_service::Service<
            http::Request<Incoming>,
            Response = http::Response<B>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    serve_http_with(listener, service, shutdown, HttpServeOptions::default()).await
}

/// Serves `service` on `listener` over HTTP/1.1 (keep-alive on) until `shutdown` resolves
/// or the listener closes, then shuts the open connections down gracefully.
pub async fn serve_http_with<S, B>(
    mut listener: ServiceListener,
    service: S,
    shutdown: impl Future<Output = ()>,
    options: HttpServeOptions,
) -> ServeSummary
where
    S: tower_service::Service<
            http::Request<Incoming>,
            Response = http::Response<B>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // HTTP/1 only: scrapers speak HTTP/1.1, and leaving out HTTP/2 keeps its code out of
    // every binary that serves on the overlay.
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        // A client may half-close (FIN) right after its request; answer it anyway.
        .half_close(true)
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut connections = 0u64;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            next = listener.accept() => match next {
                Ok((stream, peer)) => {
                    connections += 1;
                    tracing::debug!(service = listener.service(), caller = ?peer.dialer_identity_name, "HTTP connection accepted");
                    let conn = builder.serve_connection(
                        TokioIo::new(stream),
                        TowerToHyperService::new(service.clone()),
                    );
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(err) = conn.await {
                            tracing::debug!(error = %err, "HTTP connection ended with an error");
                        }
                    });
                }
                Err(AcceptError::Closed { .. }) => break,
            },
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(options.drain_timeout, graceful.shutdown())
        .await
        .is_ok();
    ServeSummary {
        connections,
        drained,
    }
}
