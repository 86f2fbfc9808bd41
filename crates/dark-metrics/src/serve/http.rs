//! The HTTP side of the metrics server: routing (metrics path, landing page, 404, 405),
//! negotiation of the exposition format, the scrape deadline taken from
//! `X-Prometheus-Scrape-Timeout-Seconds`, gzip of the body, and the tower layers around it
//! (tracing, request timeout, concurrency limit with load shedding).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, ALLOW, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_TYPE, VARY,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use tokio::time::Instant;
use tower::util::BoxCloneService;
use tower::{BoxError, Service, ServiceBuilder};
use tower_http::trace::TraceLayer;

use super::gzip::{accepts_gzip, gzip as gzip_body};
use super::ServerInner;
use crate::exposition::{negotiate, write_format, Negotiated};

/// The header Prometheus sends with its scrape timeout, in (fractional) seconds.
pub const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";

/// The response body type of [`super::MetricsServer::service`].
pub type MetricsBody = UnsyncBoxBody<Bytes, BoxError>;

/// The layered tower service [`super::MetricsServer::service`] returns.
///
/// It never fails: timeouts, load shedding and internal errors are turned into 503/500
/// responses, so [`RequestFailed`] is never produced in practice.
pub type MetricsHttpService<B> = BoxCloneService<Request<B>, Response<MetricsBody>, RequestFailed>;

/// The error type of [`MetricsHttpService`]: a layer failed before a response could be
/// made. The stack turns every such error into a response, so callers never see this.
#[derive(Debug, thiserror::Error)]
#[error("metrics request failed before it could be answered: {0}")]
pub struct RequestFailed(BoxError);

impl From<BoxError> for RequestFailed {
    fn from(error: BoxError) -> Self {
        RequestFailed(error)
    }
}

/// The innermost service: routes one request and answers it.
#[derive(Clone)]
pub(crate) struct MetricsEndpoint {
    pub(crate) inner: Arc<ServerInner>,
}

impl<B> Service<Request<B>> for MetricsEndpoint
where
    B: Send + 'static,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        let route = route(&inner, &request);
        drop(request);
        Box::pin(async move {
            Ok(match route {
                Route::Answer(response) => response,
                Route::Scrape {
                    negotiated,
                    budget,
                    gzip,
                } => scrape(&inner, negotiated, Instant::now() + budget, gzip).await,
            })
        })
    }
}

/// What a request needs: a scrape, or an answer known at once.
enum Route {
    Scrape {
        negotiated: Negotiated,
        budget: Duration,
        gzip: bool,
    },
    Answer(Response<Full<Bytes>>),
}

fn route<B>(inner: &ServerInner, request: &Request<B>) -> Route {
    let path = request.uri().path();
    let method = request.method();
    if body_too_large(request, inner.config.max_request_body) {
        return Route::Answer(plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large; a scrape is a GET without a body\n",
        ));
    }
    if path == inner.config.path {
        let negotiated = negotiate(joined_accept(request).as_deref());
        if *method == Method::GET {
            let budget = collect_budget(
                request
                    .headers()
                    .get(SCRAPE_TIMEOUT_HEADER)
                    .and_then(|v| v.to_str().ok()),
                &inner.config.deadline,
            );
            let gzip = inner.config.gzip_level.is_some()
                && accepts_gzip(
                    request
                        .headers()
                        .get_all(ACCEPT_ENCODING)
                        .iter()
                        .filter_map(|v| v.to_str().ok()),
                );
            return Route::Scrape {
                negotiated,
                budget,
                gzip,
            };
        }
        if *method == Method::HEAD {
            return Route::Answer(response(
                StatusCode::OK,
                negotiated.content_type,
                Bytes::new(),
            ));
        }
        return Route::Answer(method_not_allowed());
    }
    if path == "/" {
        if *method == Method::GET || *method == Method::HEAD {
            let body = if *method == Method::GET {
                inner.landing_page.clone()
            } else {
                Bytes::new()
            };
            return Route::Answer(response(StatusCode::OK, "text/html; charset=utf-8", body));
        }
        return Route::Answer(method_not_allowed());
    }
    Route::Answer(plain(StatusCode::NOT_FOUND, "404 page not found\n"))
}

/// Collects and encodes one scrape.
async fn scrape(
    inner: &ServerInner,
    negotiated: Negotiated,
    deadline: Instant,
    gzip: bool,
) -> Response<Full<Bytes>> {
    let gathered = inner.sources.gather(deadline).await;
    let encode_started = Instant::now();
    let mut body = Vec::with_capacity(inner.body_size_hint());
    write_format(
        &mut body,
        negotiated.format,
        &gathered.families,
        &negotiated.write_options(),
    );
    inner.remember_body_size(body.len());
    let mut compressed = false;
    if let (true, Some(level)) = (gzip, inner.config.gzip_level) {
        match gzip_body(&body, level) {
            Ok(zipped) => {
                body = zipped;
                compressed = true;
            }
            // Cannot happen writing to memory; answer uncompressed if it ever does.
            Err(error) => tracing::warn!(%error, "gzip of a scrape failed; sending it plain"),
        }
    }
    if let Some(metrics) = &inner.sources.self_metrics {
        metrics.record_encode(encode_started.elapsed());
    }
    let mut answer = response(StatusCode::OK, negotiated.content_type, Bytes::from(body));
    let headers = answer.headers_mut();
    headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    if compressed {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    answer
}

/// All `Accept` headers of a request joined with `,` (`None` when there are none).
fn joined_accept<B>(request: &Request<B>) -> Option<String> {
    let mut joined: Option<String> = None;
    for value in request.headers().get_all(ACCEPT) {
        let Ok(text) = value.to_str() else { continue };
        match &mut joined {
            Some(all) => {
                all.push(',');
                all.push_str(text);
            }
            None => joined = Some(text.to_string()),
        }
    }
    joined
}

/// How the collection deadline is derived from the scrape-timeout header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeadlinePolicy {
    /// Used when the request carries no (valid) scrape-timeout header.
    pub default_timeout: Duration,
    /// Upper bound for a scraper's timeout.
    pub max_timeout: Duration,
    /// Subtracted from the timeout to leave time to encode and send the answer.
    pub margin: Duration,
}

impl Default for DeadlinePolicy {
    fn default() -> Self {
        DeadlinePolicy {
            default_timeout: Duration::from_secs(10),
            max_timeout: Duration::from_secs(120),
            margin: Duration::from_millis(500),
        }
    }
}

/// The time collection may take for a request whose scrape-timeout header is `header`.
///
/// The header's seconds (finite and positive, else the default) are capped at
/// `max_timeout`; then `margin` is taken off, but never more than half of the timeout, so a
/// short timeout still leaves the collectors half of it.
pub fn collect_budget(header: Option<&str>, policy: &DeadlinePolicy) -> Duration {
    let requested = header
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
        .map(|seconds| Duration::from_secs_f64(seconds.min(policy.max_timeout.as_secs_f64())))
        .unwrap_or(policy.default_timeout)
        .min(policy.max_timeout);
    requested.saturating_sub(policy.margin.min(requested / 2))
}

fn body_too_large<B>(request: &Request<B>, limit: u64) -> bool {
    if request
        .headers()
        .contains_key(http::header::TRANSFER_ENCODING)
    {
        return true;
    }
    match request.headers().get(CONTENT_LENGTH) {
        None => false,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .is_none_or(|length| length > limit),
    }
}

fn response(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    response(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(text.as_bytes()),
    )
}

fn method_not_allowed() -> Response<Full<Bytes>> {
    let mut response = plain(
        StatusCode::METHOD_NOT_ALLOWED,
        "405 method not allowed: use GET or HEAD\n",
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

/// Builds the landing page: a title and a link to the metrics path.
pub(crate) fn landing_page(title: &str, path: &str) -> Bytes {
    let title = html_escape(title);
    let path = html_escape(path);
    Bytes::from(format!(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body>\n<h1>{title}</h1>\n<p><a href=\"{path}\">Metrics</a></p>\n</body>\n</html>\n"
    ))
}

/// `text` with the five HTML-special characters (`& < > " '`) escaped, for element text
/// and quoted attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Wraps the endpoint in the layers: status counting and error answers, tracing, request
/// timeout, load shedding over the concurrency limit.
pub(crate) fn layered<B>(inner: Arc<ServerInner>) -> MetricsHttpService<B>
where
    B: hyper::body::Body + Send + 'static,
{
    let counted = inner.clone();
    let stack = ServiceBuilder::new()
        .map_result(move |result: Result<Response<_>, BoxError>| {
            let response = match result {
                Ok(response) => response.map(box_body),
                Err(error) => error_response(&error),
            };
            if let Some(metrics) = &counted.sources.self_metrics {
                metrics.record_request(response.status().as_u16());
            }
            Ok::<_, RequestFailed>(response)
        })
        .layer(TraceLayer::new_for_http())
        .timeout(inner.config.request_timeout)
        .load_shed()
        .concurrency_limit(inner.config.max_concurrent_requests)
        .service(MetricsEndpoint { inner });
    BoxCloneService::new(stack)
}

fn box_body<D>(body: D) -> MetricsBody
where
    D: hyper::body::Body<Data = Bytes> + Send + 'static,
    D::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

fn error_response(error: &BoxError) -> Response<MetricsBody> {
    let (status, text): (StatusCode, &'static str) =
        if error.is::<tower::load_shed::error::Overloaded>() {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "503 too many concurrent scrapes; retry later\n",
            )
        } else if error.is::<tower::timeout::error::Elapsed>() {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "503 the scrape took longer than the server's request timeout\n",
            )
        } else {
            (StatusCode::INTERNAL_SERVER_ERROR, "500 internal error\n")
        };
    tracing::warn!(%error, status = status.as_u16(), "metrics request failed");
    plain(status, text).map(box_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> DeadlinePolicy {
        DeadlinePolicy {
            default_timeout: Duration::from_secs(10),
            max_timeout: Duration::from_secs(30),
            margin: Duration::from_millis(500),
        }
    }

    #[test]
    fn header_sets_the_budget_minus_the_margin() {
        assert_eq!(
            collect_budget(Some("2"), &policy()),
            Duration::from_millis(1500)
        );
        assert_eq!(
            collect_budget(Some("2.25"), &policy()),
            Duration::from_millis(1750)
        );
        assert_eq!(
            collect_budget(Some(" 15 "), &policy()),
            Duration::from_millis(14500)
        );
    }

    #[test]
    fn short_timeouts_keep_half() {
        assert_eq!(
            collect_budget(Some("0.4"), &policy()),
            Duration::from_millis(200)
        );
        assert_eq!(
            collect_budget(Some("1"), &policy()),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn missing_or_malformed_headers_use_the_default() {
        for header in [
            None,
            Some(""),
            Some("abc"),
            Some("-3"),
            Some("0"),
            Some("NaN"),
            Some("inf"),
            Some("1e999"),
        ] {
            assert_eq!(
                collect_budget(header, &policy()),
                Duration::from_millis(9500),
                "header {header:?}"
            );
        }
    }

    #[test]
    fn huge_timeouts_are_capped() {
        assert_eq!(
            collect_budget(Some("3600"), &policy()),
            Duration::from_millis(29500)
        );
        let tight = DeadlinePolicy {
            max_timeout: Duration::from_secs(5),
            ..policy()
        };
        assert_eq!(collect_budget(None, &tight), Duration::from_millis(4500));
    }

    #[test]
    fn landing_page_escapes_the_title() {
        let page = landing_page("a <b> & \"c\"", "/metrics");
        let text = std::str::from_utf8(&page).unwrap();
        assert!(text.contains("<title>a &lt;b&gt; &amp; &quot;c&quot;</title>"));
        assert!(text.contains("<a href=\"/metrics\">"));
    }
}
