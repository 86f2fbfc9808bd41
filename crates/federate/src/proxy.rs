//! The scrape proxy: Prometheus's absolute-URI GETs (`proxy_url`) dialed over the overlay.
//!
//! [`ScrapeProxy::forward`] dials the named service (and terminator), forwards the request
//! with its end-to-end headers (Accept, Accept-Encoding, User-Agent,
//! X-Prometheus-Scrape-Timeout-Seconds, Authorization, …; hop-by-hop ones dropped), reads the
//! answer whole under the body limit, checks that a 2xx body is an exposition, and returns
//! it unchanged: status, content type, encoding and bytes. The whole exchange runs under
//! the scrape's deadline (its timeout header, less a margin so the gateway answers first).
//!
//! Connections are kept alive per target and reused: hyper-util's pooled client, with
//! [`OverlayConnector`] dialing the overlay instead of TCP. The pool key of a target is its
//! [`TargetAddress::pool_authority`], so every target has its own pool. The proxy never
//! dials an underlay host: the only connector it has dials OpenZiti services.
//!
//! Every failure is a [`ProxyFailure`]: a status, a reason label for the metrics and a
//! one-line message, affecting only that request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use dark_listener::context::{Context, DialError, DialOptions};
use dark_listener::controller::ControllerError;
use dark_listener::stream::DarkStream;
use dark_metrics::serve::{collect_budget, DeadlinePolicy, SCRAPE_TIMEOUT_HEADER};
use http::header::{self, HeaderMap, HeaderName};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{Empty, Full};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::address::{ProxiedRequest, TargetAddress};
use crate::body::{check_exposition, read_limited, BodyError};
use crate::telemetry::GatewayMetrics;

/// Limits of the scrape proxy.
#[derive(Debug, Clone)]
pub struct ProxyLimits {
    /// Deadline of one scrape from its timeout header (default 10 s without one, at most
    /// 5 minutes, 250 ms kept to answer before the scraper gives up).
    pub deadline: DeadlinePolicy,
    /// Largest answer body relayed.
    pub max_body_bytes: u64,
    /// Scrapes proxied at once; more are answered 503.
    pub max_concurrent: usize,
    /// Idle kept-alive connections per target.
    pub idle_per_target: usize,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
}

impl Default for ProxyLimits {
    fn default() -> Self {
        ProxyLimits {
            deadline: DeadlinePolicy {
                default_timeout: Duration::from_secs(10),
                max_timeout: Duration::from_secs(300),
                margin: Duration::from_millis(250),
            },
            max_body_bytes: 64 * 1024 * 1024,
            max_concurrent: 256,
            idle_per_target: 2,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// Why a proxied scrape failed: the answer's status, a reason label and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyFailure {
    /// Status of the gateway's answer.
    pub status: StatusCode,
    /// Reason label (`darkscrape_federate_*{reason}`), one of a fixed set.
    pub reason: &'static str,
    /// One line on what happened and, where it helps, what to do.
    pub message: String,
}

impl ProxyFailure {
    fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        ProxyFailure {
            status,
            reason,
            message: message.into(),
        }
    }

    /// The failure of a request that names no usable target.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// What a failed dial means for the scrape.
    fn of_dial(error: &DialError) -> Self {
        let message = error.to_string();
        match error {
            DialError::Controller {
                source: ControllerError::ServiceNotFound { .. },
                ..
            } => Self::new(StatusCode::NOT_FOUND, "unknown_service", message),
            DialError::Controller {
                source: ControllerError::NotPermitted { .. },
                ..
            } => Self::new(StatusCode::FORBIDDEN, "not_permitted", message),
            DialError::Controller { source, .. } if matches!(source.status(), Some(401 | 403)) => {
                Self::new(StatusCode::FORBIDDEN, "not_permitted", message)
            }
            DialError::Refused { reason, .. } if reason.contains("has no terminators") => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "no_terminator", message)
            }
            DialError::Refused { .. } => {
                Self::new(StatusCode::BAD_GATEWAY, "dial_refused", message)
            }
            DialError::Timeout { .. } => Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout", message),
            _ => Self::new(StatusCode::BAD_GATEWAY, "dial_failed", message),
        }
    }
}

/// Why the overlay connector could not produce a connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The dial failed.
    #[error(transparent)]
    Dial(#[from] DialError),
    /// The pool asked for a host that is not a target's pool key (a bug, never a user's
    /// request: requests are addressed by the proxy itself).
    #[error("internal: {0:?} is not a target's pool key")]
    NotAPoolKey(String),
}

/// An overlay connection as hyper-util's client wants it.
#[derive(Debug)]
pub struct OverlayConnection(TokioIo<DarkStream>);

impl Connection for OverlayConnection {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for OverlayConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for OverlayConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
}

/// Dials the target named by a pool key over the overlay (a tower `Service<Uri>`, the
/// connector of hyper-util's client).
#[derive(Debug, Clone)]
pub struct OverlayConnector {
    ctx: Context,
    metrics: Arc<GatewayMetrics>,
    dial_timeout: Duration,
}

impl tower::Service<Uri> for OverlayConnector {
    type Response = OverlayConnection;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<OverlayConnection, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = uri.host().unwrap_or("");
            let target = TargetAddress::from_pool_authority(host)
                .ok_or_else(|| ConnectError::NotAPoolKey(host.to_string()))?;
            let options = DialOptions {
                terminator_identity: target.terminator.clone(),
                timeout: this.dial_timeout,
                ..DialOptions::default()
            };
            let started = Instant::now();
            let stream = this.ctx.dial(&target.service, options).await?;
            this.metrics.observe_dial(started.elapsed());
            Ok(OverlayConnection(TokioIo::new(stream)))
        })
    }
}

/// Headers that concern one hop, never forwarded (RFC 9110 §7.6.1, plus the proxy's own).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("keep-alive"),
];

fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for name in &HOP_BY_HOP {
        kept.remove(name);
    }
    kept.remove("proxy-connection");
    kept
}

/// The scrape proxy (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct ScrapeProxy {
    client: Client<OverlayConnector, Empty<Bytes>>,
    limits: ProxyLimits,
    metrics: Arc<GatewayMetrics>,
    slots: Arc<Semaphore>,
}

impl std::fmt::Debug for ScrapeProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeProxy")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ScrapeProxy {
    /// A proxy dialing with `ctx`, recording into `metrics`.
    pub fn new(ctx: Context, limits: ProxyLimits, metrics: Arc<GatewayMetrics>) -> Self {
        let connector = OverlayConnector {
            ctx,
            metrics: metrics.clone(),
            dial_timeout: limits.deadline.max_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(limits.idle_timeout)
            .pool_max_idle_per_host(limits.idle_per_target)
            .build(connector);
        ScrapeProxy {
            client,
            slots: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            limits,
            metrics,
        }
    }

    /// Forwards one proxied scrape and records its outcome.
    pub async fn forward(
        &self,
        method: &Method,
        headers: &HeaderMap,
        proxied: ProxiedRequest,
    ) -> Result<Response<Full<Bytes>>, ProxyFailure> {
        let started = Instant::now();
        let target = proxied.target.clone();
        let result = self.exchange(method, headers, proxied).await;
        let elapsed = started.elapsed();
        match &result {
            Ok(response) => {
                let bytes = hyper::body::Body::size_hint(response.body())
                    .exact()
                    .unwrap_or(0);
                let failure = (!response.status().is_success()).then_some("target_status");
                let detail = format!("HTTP {}, {bytes} bytes", response.status().as_u16());
                self.metrics
                    .record_scrape("proxy", &target, failure, detail, elapsed, bytes);
            }
            Err(failure) => {
                tracing::debug!(%target, reason = failure.reason, message = %failure.message, "proxied scrape failed");
                self.metrics.record_scrape(
                    "proxy",
                    &target,
                    Some(failure.reason),
                    failure.message.clone(),
                    elapsed,
                    0,
                );
            }
        }
        result
    }

    async fn exchange(
        &self,
        method: &Method,
        headers: &HeaderMap,
        proxied: ProxiedRequest,
    ) -> Result<Response<Full<Bytes>>, ProxyFailure> {
        if method != Method::GET && method != Method::HEAD {
            return Err(ProxyFailure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "bad_request",
                format!("{method} is not proxied: scrapes are GET or HEAD"),
            ));
        }
        let Ok(_slot) = self.slots.clone().try_acquire_owned() else {
            return Err(ProxyFailure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                format!(
                    "{} scrapes are already in flight; raise --max-concurrent-scrapes or scrape less at once",
                    self.limits.max_concurrent
                ),
            ));
        };
        let timeout_header = headers
            .get(SCRAPE_TIMEOUT_HEADER)
            .and_then(|v| v.to_str().ok());
        let budget = collect_budget(timeout_header, &self.limits.deadline);
        let (parts, bytes) = self
            .fetch(method, end_to_end(headers), &proxied, budget)
            .await
            .map_err(|mut failure| {
                if failure.reason == "timeout" {
                    failure.message.push_str(&format!(
                        " (from {SCRAPE_TIMEOUT_HEADER}: {})",
                        timeout_header.unwrap_or("absent")
                    ));
                }
                failure
            })?;
        if parts.status.is_success() && method == Method::GET {
            let header_text = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
            check_exposition(
                &bytes,
                header_text(header::CONTENT_TYPE),
                header_text(header::CONTENT_ENCODING),
            )
            .map_err(|message| {
                ProxyFailure::new(StatusCode::BAD_GATEWAY, "invalid_exposition", message)
            })?;
        }
        let mut response = Response::new(Full::new(bytes));
        *response.status_mut() = parts.status;
        *response.headers_mut() = end_to_end(&parts.headers);
        response.headers_mut().remove(header::CONTENT_LENGTH);
        Ok(response)
    }

    /// Sends one request to `proxied`'s target over a kept-alive overlay connection and reads
    /// the answer whole under the body limit, all within `budget`. No exposition check, no
    /// outcome recorded: callers do both.
    pub async fn fetch(
        &self,
        method: &Method,
        headers: HeaderMap,
        proxied: &ProxiedRequest,
        budget: Duration,
    ) -> Result<(http::response::Parts, Bytes), ProxyFailure> {
        let target = &proxied.target;
        let uri: Uri = format!(
            "http://{}{}",
            target.pool_authority(),
            proxied.path_and_query
        )
        .parse()
        .map_err(|e| ProxyFailure::bad_request(format!("cannot build the target's URI: {e}")))?;
        let mut request = Request::builder()
            .method(method.clone())
            .uri(uri)
            .body(Empty::<Bytes>::new())
            .map_err(|e| ProxyFailure::bad_request(format!("cannot build the request: {e}")))?;
        *request.headers_mut() = headers;
        let work = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| classify_client_error(&e))?;
            let (parts, body) = response.into_parts();
            let announced = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let bytes = read_limited(body, announced, self.limits.max_body_bytes)
                .await
                .map_err(|e| match e {
                    BodyError::TooLarge { .. } => {
                        ProxyFailure::new(StatusCode::BAD_GATEWAY, "body_too_large", e.to_string())
                    }
                    BodyError::ClosedMidBody { .. } => {
                        ProxyFailure::new(StatusCode::BAD_GATEWAY, "closed_mid_body", e.to_string())
                    }
                })?;
            Ok::<_, ProxyFailure>((parts, bytes))
        };
        match tokio::time::timeout(budget, work).await {
            Ok(result) => result,
            Err(_) => Err(ProxyFailure::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                format!(
                    "the target did not answer whole within the scrape's deadline ({budget:?})"
                ),
            )),
        }
    }
}

/// What a failure of hyper-util's client means: the dial's own error when the connector
/// failed, else the connection ended before an answer.
fn classify_client_error(error: &hyper_util::client::legacy::Error) -> ProxyFailure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(ConnectError::Dial(dial)) = current.downcast_ref::<ConnectError>() {
            return ProxyFailure::of_dial(dial);
        }
        if let Some(dial) = current.downcast_ref::<DialError>() {
            return ProxyFailure::of_dial(dial);
        }
        if let Some(http) = current.downcast_ref::<hyper::Error>() {
            if http.is_parse() || http.is_parse_status() {
                return ProxyFailure::new(
                    StatusCode::BAD_GATEWAY,
                    "not_http",
                    format!("the target's answer is not HTTP/1.1 ({http}); is this service an HTTP exporter?"),
                );
            }
        }
        source = current.source();
    }
    ProxyFailure::new(
        StatusCode::BAD_GATEWAY,
        "target_closed",
        format!(
            "the target closed the connection before answering: {}",
            dark_listener::controller::error_chain(error)
        ),
    )
}
