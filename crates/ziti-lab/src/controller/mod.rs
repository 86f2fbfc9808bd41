//! The controller: the OpenZiti edge client API (legacy, certificate-authenticated mode) over
//! HTTPS, served by hyper on tokio-rustls.
//!
//! `serve` owns the accept loop (bounded connection count, TLS handshake timeout, graceful
//! shutdown); [`routes`] maps requests to [`LabState`] calls; [`model`]
//! builds the JSON objects; [`envelope`] the `{"data","meta"}` / `{"error","meta"}` responses.

pub mod envelope;
pub mod model;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::state::LabState;

/// Most TLS connections served at once; further ones wait in the accept backlog.
pub const MAX_CONNECTIONS: usize = 256;
/// Time allowed for a TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed to read request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Time in-flight requests get to finish at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What the controller knows about one TLS connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// Remote address.
    pub peer: SocketAddr,
    /// DER of the client's leaf certificate, when one was presented (verified against the lab CA).
    pub client_cert_der: Option<Vec<u8>>,
}

/// Serves the controller on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<LabState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let limit = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
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
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Reap finished connection tasks so the set stays small.
        while connections.try_join_next().is_some() {}
        let acceptor = acceptor.clone();
        let state = state.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _permit = permit;
            serve_connection(tcp, peer, acceptor, state, shutdown).await;
        });
    }
    drop(listener);
    let deadline = tokio::time::sleep(SHUTDOWN_GRACE + Duration::from_secs(1));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            next = connections.join_next() => if next.is_none() { break },
        }
    }
    connections.abort_all();
    tracing::info!("controller stopped");
}

async fn serve_connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    state: Arc<LabState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let (_, session) = tls.get_ref();
    let info = Arc::new(ConnectionInfo {
        peer,
        client_cert_der: session
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec()),
    });
    tracing::debug!(
        %peer,
        version = ?session.protocol_version(),
        client_cert = info.client_cert_der.is_some(),
        "TLS connection"
    );
    let service = service_fn(move |req| {
        let state = state.clone();
        let info = info.clone();
        async move { Ok::<_, std::convert::Infallible>(routes::handle(&state, &info, req).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn.as_mut()).await;
        }
    }
}
