//! The scraping side: one HTTP/1.1 `GET` of a metrics path over any connected stream (a
//! dark stream from `Context::dial`, or a TCP stream), with a deadline, a body cap and
//! content-type aware parsing into [`MetricFamily`]s.
//!
//! This is what `darkscrape demo` uses to read reflectz's metrics over the overlay, and
//! what a federation endpoint builds on: the caller owns the connection (and so the
//! choice of service and terminator), this module owns the HTTP exchange and the format.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::exposition::{parse, Format, MetricFamily, ParseError, ParseLimits};

/// The `Accept` header Prometheus 2.42 sends (OpenMetrics first, then text 0.0.4).
pub const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// What to ask for.
#[derive(Debug, Clone)]
pub struct ScrapeRequest {
    /// Value of the `Host` header (the service name is a good choice over the overlay).
    pub host: String,
    /// Path and query, e.g. `/metrics`.
    pub path: String,
    /// `Accept` header; [`PROMETHEUS_ACCEPT`] by default.
    pub accept: String,
    /// Deadline for the whole exchange; also sent as `X-Prometheus-Scrape-Timeout-Seconds`.
    pub timeout: Duration,
    /// Largest body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Limits for parsing the body.
    pub parse_limits: ParseLimits,
}

impl ScrapeRequest {
    /// `GET path` with Prometheus' Accept header, a 10 s deadline and a 64 MiB body cap.
    pub fn new(host: impl Into<String>, path: impl Into<String>) -> Self {
        ScrapeRequest {
            host: host.into(),
            path: path.into(),
            accept: PROMETHEUS_ACCEPT.to_string(),
            timeout: Duration::from_secs(10),
            max_body_bytes: 64 * 1024 * 1024,
            parse_limits: ParseLimits::default(),
        }
    }
}

/// A successful scrape.
#[derive(Debug, Clone)]
pub struct ScrapeResponse {
    /// The `Content-Type` the target sent.
    pub content_type: String,
    /// The format it maps to.
    pub format: Format,
    /// The raw body.
    pub body: Bytes,
    /// The parsed families.
    pub families: Vec<MetricFamily>,
}

/// Why a scrape failed.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The request could not be built (bad host or path characters).
    #[error("invalid scrape request for {path:?}: {source}")]
    Request {
        /// The path asked for.
        path: String,
        /// The reason.
        #[source]
        source: http::Error,
    },
    /// The HTTP exchange failed (connection closed, malformed response).
    #[error("HTTP exchange with the target failed: {0}")]
    Http(#[from] hyper::Error),
    /// The exchange did not finish before the deadline.
    #[error("the target did not answer within {0:?}")]
    Timeout(Duration),
    /// The target answered with a non-200 status.
    #[error("the target answered HTTP {status}: {excerpt}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the body.
        excerpt: String,
    },
    /// The body was larger than allowed.
    #[error("the response body exceeds {max} bytes; raise the limit or scrape less")]
    BodyTooLarge {
        /// The cap.
        max: usize,
    },
    /// The Content-Type is not a Prometheus exposition format.
    #[error(
        "the target answered Content-Type {0:?}, which is neither text 0.0.4 nor OpenMetrics 1.0"
    )]
    ContentType(String),
    /// The body did not parse in the announced format.
    #[error("the {format:?} body does not parse: {source}")]
    Parse {
        /// The announced format.
        format: Format,
        /// The parser's error (line and reason).
        #[source]
        source: ParseError,
    },
}

/// Maps a `Content-Type` to the exposition format it announces; an absent one is text 0.0.4.
pub fn format_of_content_type(content_type: &str) -> Option<Format> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "" | "text/plain" => Some(Format::Text004),
        "application/openmetrics-text" => Some(Format::OpenMetrics100),
        _ => None,
    }
}

/// Sends one `GET` over `io` and parses the answer. The connection is used for this one
/// request and then dropped.
pub async fn scrape<S>(io: S, request: &ScrapeRequest) -> Result<ScrapeResponse, ScrapeError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match tokio::time::timeout(request.timeout, exchange(io, request)).await {
        Ok(result) => result,
        Err(_) => Err(ScrapeError::Timeout(request.timeout)),
    }
}

async fn exchange<S>(io: S, request: &ScrapeRequest) -> Result<ScrapeResponse, ScrapeError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    let driver = tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "scrape connection ended with an error");
        }
    });
    let http_request = http::Request::get(&request.path)
        .header(http::header::HOST, &request.host)
        .header(http::header::ACCEPT, &request.accept)
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            format!("{}", request.timeout.as_secs_f64()),
        )
        .header(http::header::USER_AGENT, "darkscrape")
        .body(Empty::<Bytes>::new())
        .map_err(|source| ScrapeError::Request {
            path: request.path.clone(),
            source,
        })?;
    let response = sender.send_request(http_request).await?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = match Limited::new(response.into_body(), request.max_body_bytes)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            driver.abort();
            return Err(match error.downcast::<hyper::Error>() {
                Ok(hyper_error) => ScrapeError::Http(*hyper_error),
                Err(_) => ScrapeError::BodyTooLarge {
                    max: request.max_body_bytes,
                },
            });
        }
    };
    driver.abort();
    if !status.is_success() {
        let excerpt = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(ScrapeError::Status {
            status: status.as_u16(),
            excerpt,
        });
    }
    let format = format_of_content_type(&content_type)
        .ok_or_else(|| ScrapeError::ContentType(content_type.clone()))?;
    let families = parse(&body, format, &request.parse_limits)
        .map_err(|source| ScrapeError::Parse { format, source })?;
    Ok(ScrapeResponse {
        content_type,
        format,
        body,
        families,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves one canned HTTP response on one end of a duplex pipe.
    async fn canned(response: &'static str) -> tokio::io::DuplexStream {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match server.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = server.write_all(response.as_bytes()).await;
            let _ = server.shutdown().await;
        });
        client
    }

    #[tokio::test]
    async fn parses_text_and_openmetrics_answers() {
        let text = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: 42\r\n\r\n# TYPE up gauge\nup 1\nother_total{a=\"b\"} 2\n";
        let got = scrape(canned(text).await, &ScrapeRequest::new("svc", "/metrics"))
            .await
            .unwrap();
        assert_eq!(got.format, Format::Text004);
        assert_eq!(got.families.len(), 2);
        assert_eq!(got.families[0].name, "up");
        assert_eq!(got.families[1].samples[0].value, 2.0);

        let om = "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: 33\r\n\r\n# TYPE c counter\nc_total 3\n# EOF\n";
        let got = scrape(canned(om).await, &ScrapeRequest::new("svc", "/metrics"))
            .await
            .unwrap();
        assert_eq!(got.format, Format::OpenMetrics100);
        assert_eq!(got.families[0].samples[0].value, 3.0);
    }

    #[tokio::test]
    async fn refuses_bad_status_type_body_and_size() {
        let not_found = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found";
        let err = scrape(canned(not_found).await, &ScrapeRequest::new("s", "/x"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ScrapeError::Status { status: 404, .. }),
            "{err}"
        );

        let html = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nhi";
        let err = scrape(canned(html).await, &ScrapeRequest::new("s", "/x"))
            .await
            .unwrap_err();
        assert!(matches!(err, ScrapeError::ContentType(_)), "{err}");

        let garbage =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nup {{{ 1\n";
        let err = scrape(canned(garbage).await, &ScrapeRequest::new("s", "/x"))
            .await
            .unwrap_err();
        assert!(matches!(err, ScrapeError::Parse { .. }), "{err}");

        let big =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nup 1\nup 2\n";
        let mut request = ScrapeRequest::new("s", "/x");
        request.max_body_bytes = 4;
        let err = scrape(canned(big).await, &request).await.unwrap_err();
        assert!(matches!(err, ScrapeError::BodyTooLarge { max: 4 }), "{err}");
    }

    #[tokio::test]
    async fn silent_target_hits_the_deadline() {
        let (client, _server) = tokio::io::duplex(1024);
        let mut request = ScrapeRequest::new("s", "/metrics");
        request.timeout = Duration::from_millis(200);
        let err = scrape(client, &request).await.unwrap_err();
        assert!(matches!(err, ScrapeError::Timeout(_)), "{err}");
    }

    #[test]
    fn content_types_map_to_formats() {
        assert_eq!(
            format_of_content_type("text/plain; version=0.0.4; charset=utf-8"),
            Some(Format::Text004)
        );
        assert_eq!(
            format_of_content_type("application/openmetrics-text; version=1.0.0"),
            Some(Format::OpenMetrics100)
        );
        assert_eq!(format_of_content_type(""), Some(Format::Text004));
        assert_eq!(format_of_content_type("application/json"), None);
    }
}
