//! The HTTPS transport under the controller client and enrollment: a pooled hyper client
//! over rustls, one request at a time with a deadline and a cap on the response body.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::ClientConfig;

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
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_body_bytes: usize,
}

/// A pooled HTTPS client bound to one rustls configuration.
#[derive(Clone)]
pub(crate) struct HttpsTransport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    limits: TransportLimits,
}

impl std::fmt::Debug for HttpsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsTransport")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl HttpsTransport {
    /// A transport that only speaks HTTPS with `tls`.
    pub(crate) fn new(tls: Arc<ClientConfig>, limits: TransportLimits) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(limits.connect_timeout));
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_only()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(4)
            .build(connector);
        Self { client, limits }
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
        let mut builder = Request::builder().method(method.clone()).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, value.as_str());
        }
        let request = builder
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| TransportError::InvalidUrl {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        let limit = self.limits.max_body_bytes;
        let exchange = async {
            let response =
                self.client
                    .request(request)
                    .await
                    .map_err(|e| TransportError::Exchange {
                        method: method.clone(),
                        url: url.to_string(),
                        source: Box::new(e),
                    })?;
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
        };
        match tokio::time::timeout(self.limits.request_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout {
                method,
                url: url.to_string(),
                after: self.limits.request_timeout,
            }),
        }
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
