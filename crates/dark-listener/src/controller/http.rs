//! The HTTPS transport under the controller client and enrollment: ONE HTTP/1.1 keep-alive
//! connection over rustls, shared by every clone of a transport, with requests taking turns,
//! a deadline and a cap on the response body for each exchange.
//!
//! Why one connection, taken in turns, instead of hyper-util's pooled client: that pool races
//! a fresh connect against each idle checkout and keeps whatever wins, so one Context (the
//! session keeper, the service poll and session creation, often at the same moment) held about
//! three controller connections for its whole life, and 90 open `darkscrape dial` processes
//! filled a 256-connection controller. Controller calls are short and rare (a login, a poll a
//! minute, a session per new service), so taking turns costs nothing measurable, and the
//! controller sees at most one connection per Context, as with the Go SDK's keep-alive client.
//!
//! The connection closes after [`IDLE_CLOSE`] without a request, so an idle SDK process holds
//! no controller connection at all between its polls. A request that meets a connection the
//! server closed while it sat idle is sent once more on a fresh one (the request was never
//! read, as with hyper-util's retry of canceled requests).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

/// How long the shared connection may sit without a request before it is closed.
pub(crate) const IDLE_CLOSE: Duration = Duration::from_secs(15);

/// Why one HTTPS exchange failed before an HTTP answer could be read.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The URL could not be turned into a request.
    #[error("invalid request URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// TCP connect, TLS handshake or the HTTP exchange failed.
    #[error("{method} {url}: {source}")]
    Exchange {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// The underlying error (its chain names TLS and socket errors).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No complete answer within the deadline.
    #[error("{method} {url}: no answer within {after:?}")]
    Timeout {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// The deadline.
        after: Duration,
    },
    /// The response body was larger than allowed.
    #[error("{method} {url}: response body larger than {limit} bytes")]
    BodyTooLarge {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// The cap.
        limit: usize,
    },
}

/// A response read completely into memory.
#[derive(Debug)]
pub(crate) struct HttpAnswer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Limits applied to every exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TransportLimits {
    /// Deadline for one exchange: waiting for the turn, connecting and reading the body.
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_body_bytes: usize,
}

/// The open connection and what it was opened to.
struct OpenConnection {
    authority: String,
    sender: SendRequest<Full<Bytes>>,
    /// Bumped each time the connection is handed back; an idle timer closes the connection
    /// only if no request used it since the timer was armed.
    turn: u64,
    last_used: Instant,
}

struct Shared {
    tls: TlsConnector,
    limits: TransportLimits,
    slot: Mutex<Option<OpenConnection>>,
}

/// An HTTPS client bound to one rustls configuration, holding at most one connection.
/// Cheap to clone; clones share the connection.
#[derive(Clone)]
pub(crate) struct HttpsTransport {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for HttpsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsTransport")
            .field("limits", &self.shared.limits)
            .finish_non_exhaustive()
    }
}

/// Where to connect, read from a request URL.
struct Target {
    host: String,
    port: u16,
    authority: String,
}

impl Target {
    fn of(uri: &Uri, url: &str) -> Result<Self, TransportError> {
        let invalid = |reason: &str| TransportError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        if uri.scheme_str() != Some("https") {
            return Err(invalid("only https URLs are used"));
        }
        let host = uri.host().ok_or_else(|| invalid("the URL has no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(443);
        Ok(Self {
            authority: format!("{host}:{port}"),
            host,
            port,
        })
    }
}

impl HttpsTransport {
    /// A transport that only speaks HTTPS (HTTP/1.1, offered by ALPN) with `tls`.
    pub(crate) fn new(tls: Arc<ClientConfig>, limits: TransportLimits) -> Self {
        let mut config = (*tls).clone();
        if config.alpn_protocols.is_empty() {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        Self {
            shared: Arc::new(Shared {
                tls: TlsConnector::from(Arc::new(config)),
                limits,
                slot: Mutex::new(None),
            }),
        }
    }

    /// Sends one request and reads the whole answer, within the deadline and body cap.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&'static str, String)],
        body: Option<Bytes>,
    ) -> Result<HttpAnswer, TransportError> {
        let uri: Uri =
            url.parse()
                .map_err(|e: http::uri::InvalidUri| TransportError::InvalidUrl {
                    url: url.to_string(),
                    reason: e.to_string(),
                })?;
        let target = Target::of(&uri, url)?;
        let body = body.unwrap_or_default();
        // Checked once up front, so a bad header fails before any connection is made.
        build_request(&method, &uri, &target, headers, body.clone(), url)?;
        let timeout = self.shared.limits.request_timeout;
        let exchange = async {
            let mut slot = self.shared.slot.lock().await;
            for attempt in 0..2 {
                let (mut open, reused) = match slot.take() {
                    Some(open)
                        if open.authority == target.authority
                            && !open.sender.is_closed()
                            && open.last_used.elapsed() < IDLE_CLOSE =>
                    {
                        (open, true)
                    }
                    _ => (self.connect(&target, &method, url).await?, false),
                };
                if reused && open.sender.ready().await.is_err() {
                    continue;
                }
                let sent = build_request(&method, &uri, &target, headers, body.clone(), url)?;
                let response = match open.sender.send_request(sent).await {
                    Ok(response) => response,
                    // The server closed the idle connection before reading the request.
                    Err(e)
                        if reused
                            && attempt == 0
                            && (e.is_canceled() || e.is_closed() || e.is_incomplete_message()) =>
                    {
                        tracing::debug!(url, error = %e, "idle controller connection was closed; reconnecting");
                        continue;
                    }
                    Err(e) => return Err(exchange_error(&method, url, e)),
                };
                let answer = self.read_answer(&method, url, response).await?;
                if !open.sender.is_closed() {
                    open.turn = open.turn.wrapping_add(1);
                    open.last_used = Instant::now();
                    self.arm_idle_close(open.turn);
                    *slot = Some(open);
                }
                return Ok(answer);
            }
            Err(TransportError::Exchange {
                method: method.clone(),
                url: url.to_string(),
                source: "the controller closed the connection twice before answering".into(),
            })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout {
                method,
                url: url.to_string(),
                after: timeout,
            }),
        }
    }

    /// TCP connect (bounded), TLS handshake and the HTTP/1.1 handshake; the connection is
    /// driven by its own task until the sender is dropped or the server closes it.
    async fn connect(
        &self,
        target: &Target,
        method: &Method,
        url: &str,
    ) -> Result<OpenConnection, TransportError> {
        let fail = |source: Box<dyn std::error::Error + Send + Sync>| TransportError::Exchange {
            method: method.clone(),
            url: url.to_string(),
            source,
        };
        let connect_timeout = self.shared.limits.connect_timeout;
        let tcp = tokio::time::timeout(
            connect_timeout,
            tokio::net::TcpStream::connect((target.host.as_str(), target.port)),
        )
        .await
        .map_err(|_| {
            fail(
                format!(
                    "TCP connect to {} timed out after {connect_timeout:?}",
                    target.authority
                )
                .into(),
            )
        })?
        .map_err(|e| fail(Box::new(e)))?;
        let _ = tcp.set_nodelay(true);
        let server_name = ServerName::try_from(target.host.clone()).map_err(|e| {
            fail(format!("{:?} is not a valid TLS server name: {e}", target.host).into())
        })?;
        let tls = self
            .shared
            .tls
            .connect(server_name, tcp)
            .await
            .map_err(|e| fail(Box::new(e)))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| fail(Box::new(e)))?;
        let authority = target.authority.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(controller = %authority, error = %e, "controller connection ended with an error");
            }
        });
        tracing::debug!(controller = %target.authority, "controller connection opened");
        Ok(OpenConnection {
            authority: target.authority.clone(),
            sender,
            turn: 0,
            last_used: Instant::now(),
        })
    }

    async fn read_answer(
        &self,
        method: &Method,
        url: &str,
        response: http::Response<hyper::body::Incoming>,
    ) -> Result<HttpAnswer, TransportError> {
        let limit = self.shared.limits.max_body_bytes;
        let (parts, body) = response.into_parts();
        let collected = Limited::new(body, limit).collect().await.map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                TransportError::BodyTooLarge {
                    method: method.clone(),
                    url: url.to_string(),
                    limit,
                }
            } else {
                TransportError::Exchange {
                    method: method.clone(),
                    url: url.to_string(),
                    source: e,
                }
            }
        })?;
        Ok(HttpAnswer {
            status: parts.status,
            headers: parts.headers,
            body: collected.to_bytes(),
        })
    }

    /// Closes the connection after [`IDLE_CLOSE`] unless a request uses it before then. The
    /// timer holds only a weak reference, so it never keeps a dropped transport alive.
    fn arm_idle_close(&self, turn: u64) {
        let shared: Weak<Shared> = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            tokio::time::sleep(IDLE_CLOSE).await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            // A request in progress holds the lock and will re-arm the timer itself.
            let Ok(mut slot) = shared.slot.try_lock() else {
                return;
            };
            if slot.as_ref().is_some_and(|open| open.turn == turn) {
                let closed = slot.take();
                if let Some(open) = closed {
                    tracing::debug!(controller = %open.authority, "idle controller connection closed");
                }
            }
        });
    }
}

fn build_request(
    method: &Method,
    uri: &Uri,
    target: &Target,
    headers: &[(&'static str, String)],
    body: Bytes,
    url: &str,
) -> Result<Request<Full<Bytes>>, TransportError> {
    let invalid = |reason: String| TransportError::InvalidUrl {
        url: url.to_string(),
        reason,
    };
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let host = if uri.port_u16().is_some() {
        HeaderValue::from_str(&format!(
            "{}:{}",
            uri.host().unwrap_or(&target.host),
            target.port
        ))
    } else {
        HeaderValue::from_str(uri.host().unwrap_or(&target.host))
    }
    .map_err(|e| invalid(e.to_string()))?;
    let mut builder = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(http::header::HOST, host);
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    builder
        .body(Full::new(body))
        .map_err(|e| invalid(e.to_string()))
}

fn exchange_error(method: &Method, url: &str, e: hyper::Error) -> TransportError {
    TransportError::Exchange {
        method: method.clone(),
        url: url.to_string(),
        source: Box::new(e),
    }
}

/// Renders an error with its whole `source()` chain (`a: b: c`), for log lines and
/// messages that must name the root cause (a TLS alert, a refused connection).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    let mut depth = 0;
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
        depth += 1;
        if depth > 16 {
            break;
        }
    }
    out
}
