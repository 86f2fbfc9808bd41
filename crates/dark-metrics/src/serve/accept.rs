//! Where connections come from and how they are served: the [`AcceptSource`] trait
//! (implemented for dark listeners ([`dark_listener::listener::ServiceListener`]), TCP
//! listeners and in-memory channels), [`LimitedAccept`] (accepting under a connection limit
//! until shutdown, under every serve loop) and the HTTP/1.1 loop with header limits, run on
//! [`super::drain::serve_streams`] for its graceful shutdown.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What one call of [`AcceptSource::accept`] produced.
#[derive(Debug)]
pub enum Accepted<Io> {
    /// A new connection, and a short description of the peer for logs.
    Connection(Io, String),
    /// Accepting failed but the source is still usable (e.g. out of file descriptors); the
    /// loop logs the message, waits a little and tries again.
    Failed(String),
    /// The source is closed: no more connections will come.
    Closed,
}

/// A source of incoming byte-stream connections.
pub trait AcceptSource: Send {
    /// One connection.
    type Io: AsyncRead + AsyncWrite + Send + Unpin + 'static;

    /// Waits for the next connection.
    fn accept(&mut self) -> impl Future<Output = Accepted<Self::Io>> + Send;
}

impl AcceptSource for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;

    async fn accept(&mut self) -> Accepted<Self::Io> {
        match tokio::net::TcpListener::accept(self).await {
            Ok((stream, peer)) => {
                // An answer written in two parts (head, then a body that was still being
                // produced) must not wait for the peer's delayed ACK.
                let _ = stream.set_nodelay(true);
                Accepted::Connection(stream, peer.to_string())
            }
            Err(error) => Accepted::Failed(format!("TCP accept failed: {error}")),
        }
    }
}

/// Connections dialed to a service hosted on the overlay. The peer description is the
/// dialer's identity name when the router sent it.
impl AcceptSource for dark_listener::listener::ServiceListener {
    type Io = dark_listener::stream::DarkStream;

    async fn accept(&mut self) -> Accepted<Self::Io> {
        match dark_listener::listener::ServiceListener::accept(self).await {
            Ok((stream, peer)) => {
                let who = peer
                    .dialer_identity_name
                    .or(peer.dialer_identity_id)
                    .unwrap_or_else(|| "unknown dialer".to_string());
                Accepted::Connection(stream, format!("{who} via router {}", peer.router))
            }
            Err(dark_listener::listener::AcceptError::Closed { .. }) => Accepted::Closed,
        }
    }
}

/// In-memory connections (tests, or a caller that accepts elsewhere): every stream sent on
/// the channel is served; the source closes when all senders are dropped.
impl<Io> AcceptSource for tokio::sync::mpsc::Receiver<Io>
where
    Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Io = Io;

    async fn accept(&mut self) -> Accepted<Self::Io> {
        match self.recv().await {
            Some(io) => Accepted::Connection(io, "in-memory".to_string()),
            None => Accepted::Closed,
        }
    }
}

/// Limits and timeouts of the accept loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once; further connections wait in the source until one ends.
    pub max_connections: usize,
    /// Longest wait for a request's headers, counted from the end of the previous request
    /// on a kept-alive connection: a slow-loris guard and the idle limit of kept-alive
    /// connections. The default, 2 minutes, outlasts the usual scrape intervals (up to 1
    /// minute) so a scraper keeps reusing its connection instead of dialing again.
    pub header_read_timeout: Duration,
    /// Read buffer limit per connection, which bounds the request line and headers
    /// (hyper's minimum is 8192).
    pub max_header_bytes: usize,
    /// Longest wait for open connections to finish after shutdown was asked.
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 256,
            header_read_timeout: Duration::from_secs(120),
            max_header_bytes: 16 * 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// How a serve loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeSummary {
    /// Connections accepted.
    pub connections: u64,
    /// Whether every open connection finished within the drain timeout.
    pub drained: bool,
}

/// Pause after a failed accept, so a persistent failure does not spin.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// An [`AcceptSource`] with a limit on connections served at once: the accept side shared
/// by the serve loops (metrics here, and loops such as reflectz's echo service). Each
/// connection comes with a slot that frees when dropped; while all slots are taken, further
/// connections wait in the source.
pub struct LimitedAccept<A> {
    source: A,
    slots: Arc<Semaphore>,
    what: &'static str,
}

impl<A: AcceptSource> LimitedAccept<A> {
    /// Takes connections from `source`, at most `max_connections` (at least 1) at once;
    /// `what` names the connections in logs (e.g. "metrics").
    pub fn new(source: A, max_connections: usize, what: &'static str) -> Self {
        LimitedAccept {
            source,
            slots: Arc::new(Semaphore::new(max_connections.max(1))),
            what,
        }
    }

    /// The next connection, its peer description and its slot; `None` once `shutdown`
    /// resolves or the source closes. A failed accept is logged and retried after a short
    /// pause (which `shutdown` also ends).
    pub async fn next<F>(
        &mut self,
        mut shutdown: Pin<&mut F>,
    ) -> Option<(A::Io, String, OwnedSemaphorePermit)>
    where
        F: Future<Output = ()>,
    {
        let what = self.what;
        loop {
            let slot = tokio::select! {
                _ = &mut shutdown => return None,
                slot = self.slots.clone().acquire_owned() => slot.ok()?,
            };
            let accepted = tokio::select! {
                _ = &mut shutdown => return None,
                accepted = self.source.accept() => accepted,
            };
            match accepted {
                Accepted::Connection(io, peer) => return Some((io, peer, slot)),
                Accepted::Failed(message) => {
                    tracing::warn!(%message, "accepting a {what} connection failed; retrying");
                    drop(slot);
                    tokio::select! {
                        _ = &mut shutdown => return None,
                        _ = tokio::time::sleep(ACCEPT_RETRY_PAUSE) => {}
                    }
                }
                Accepted::Closed => return None,
            }
        }
    }
}

/// Serves `service` (any tower `Service` answering HTTP requests: the metrics service, the
/// federate gateway, a caller's own) over HTTP/1.1 with keep-alive on every connection from
/// `source` until `shutdown` resolves or the source closes, then lets open connections finish
/// their current request (bounded by [`ConnectionLimits::drain_timeout`]). This is the one
/// HTTP accept loop of the workspace.
pub async fn serve_connections<A, S, B>(
    source: A,
    service: S,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> ServeSummary
where
    A: AcceptSource,
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Half-close: a scraper may shut its write side right after the request (nc-style
    // clients such as `darkscrape dial` do, sending FIN); without this hyper drops the
    // connection on that EOF before a slow collection has answered.
    builder
        .keep_alive(true)
        .half_close(true)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    let summary = super::drain::serve_streams(
        source,
        limits.max_connections,
        "HTTP",
        limits.drain_timeout,
        shutdown,
        move |io, peer, mut drain| {
            tracing::debug!(%peer, "HTTP connection accepted");
            let connection = builder
                .serve_connection(TokioIo::new(io), TowerToHyperService::new(service.clone()));
            async move {
                tokio::pin!(connection);
                let ended = tokio::select! {
                    ended = connection.as_mut() => Some(ended),
                    _ = drain.draining() => None,
                };
                // Draining: finish the request in progress, close an idle kept-alive
                // connection; cut at the end of the grace period.
                let ended = match ended {
                    Some(ended) => ended,
                    None => {
                        connection.as_mut().graceful_shutdown();
                        tokio::select! {
                            ended = connection.as_mut() => ended,
                            _ = drain.cut() => return,
                        }
                    }
                };
                if let Err(error) = ended {
                    tracing::debug!(%peer, %error, "HTTP connection ended with an error");
                }
            }
        },
    )
    .await;
    ServeSummary {
        connections: summary.connections,
        drained: summary.drained,
    }
}
