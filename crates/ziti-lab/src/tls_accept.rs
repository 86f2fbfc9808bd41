//! The accept side shared by the lab's TLS servers (controller and router): a bounded accept
//! loop that runs one task per connection until shutdown and then drains them, and the TLS
//! handshake with a deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long the loop pauses after a failed accept (e.g. out of file descriptors).
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Accepts connections on `listener` until `shutdown` turns true, with at most
/// `max_connections` served at once, each by a task running `serve(tcp, peer)`. After the
/// loop, `stopping` runs (e.g. to tell open connections to close), then the tasks get `drain`
/// to finish before the rest are aborted. `component` names the server in logs.
pub(crate) async fn serve_connections<S, F>(
    listener: TcpListener,
    max_connections: usize,
    mut shutdown: watch::Receiver<bool>,
    component: &'static str,
    mut serve: S,
    stopping: impl FnOnce(),
    drain: Duration,
) where
    S: FnMut(TcpStream, SocketAddr) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let limit = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.changed() => break,
            p = limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(component, error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                    continue;
                }
            },
        };
        // Reap finished connection tasks so the set stays small.
        while tasks.try_join_next().is_some() {}
        let connection = serve(tcp, peer);
        tasks.spawn(async move {
            let _permit = permit;
            connection.await;
        });
    }
    drop(listener);
    stopping();
    let deadline = tokio::time::sleep(drain);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            next = tasks.join_next() => if next.is_none() { break },
        }
    }
    tasks.abort_all();
    tracing::info!(component, "stopped");
}

/// The TLS handshake on `tcp`, bounded by `timeout`; `None` (logged at debug) when it fails
/// or times out.
pub(crate) async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
    timeout: Duration,
    component: &'static str,
) -> Option<TlsStream<TcpStream>> {
    match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            tracing::debug!(component, %peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(component, %peer, "TLS handshake timed out");
            None
        }
    }
}
