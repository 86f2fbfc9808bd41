//! The stop signal of a serving process: one future for SIGINT and SIGTERM, handed to
//! [`super::MetricsServer::host`] / `serve_dark` (and to any other long-running dark
//! service) so Ctrl-C and a service manager's stop both drain open scrapes.

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. If SIGTERM cannot be watched, logs why and waits
/// for Ctrl-C alone.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGTERM; only Ctrl-C stops this process");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
