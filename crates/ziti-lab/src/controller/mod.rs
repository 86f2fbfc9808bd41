//! The controller: the OpenZiti edge client API (legacy, certificate-authenticated mode) over
//! HTTPS, served by hyper on tokio-rustls.
//!
//! `serve` owns the accept loop (bounded connection count, TLS handshake timeout, graceful
//! shutdown); [`routes`] maps requests to [`LabState`] calls; [`model`]
//! builds the JSON objects; [`envelope`] the `{"data","meta"}` / `{"error","meta"}` responses.

pub mod envelope;
pub mod model;
pub mod oidc;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::state::LabState;
use crate::tls_accept;

/// Most TLS connections served at once (counted from the end of their handshake); further
/// handshaken ones wait for a place.
pub const MAX_CONNECTIONS: usize = 256;
/// Most connections accepted whose TLS handshake has not finished; when full, a new one takes
/// the place of the oldest that has not sent a byte (see `tls_accept`). Twice the served
/// places, so a burst of real clients is not evicted by itself.
pub const MAX_PENDING_HANDSHAKES: usize = 512;
/// Time allowed from accept to the end of the TLS handshake (a loopback handshake takes a
/// few milliseconds; an idle connection is closed after this).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
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
    shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let connection_shutdown = shutdown.clone();
    let serve = |tcp, peer| {
        let acceptor = acceptor.clone();
        let state = state.clone();
        let shutdown = connection_shutdown.clone();
        serve_connection(tcp, peer, acceptor, state, shutdown)
    };
    let drain = SHUTDOWN_GRACE + Duration::from_secs(1);
    let limits = tls_accept::AcceptLimits {
        served: MAX_CONNECTIONS,
        pending: MAX_PENDING_HANDSHAKES,
    };
    tls_accept::serve_connections(
        listener,
        limits,
        shutdown,
        "controller",
        serve,
        || {},
        drain,
    )
    .await;
}

async fn serve_connection(
    tcp: tls_accept::Incoming,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    state: Arc<LabState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(tls) =
        tls_accept::handshake(&acceptor, tcp, peer, HANDSHAKE_TIMEOUT, "controller").await
    else {
        return;
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
