//! The gateway's HTTP service: one tower `Service` that every listener serves (the loopback
//! bridge and the dark service alike).
//!
//! | request | answer |
//! | --- | --- |
//! | absolute URI (`GET http://…`, what `proxy_url` makes Prometheus send) | the scrape proxy ([`crate::proxy`]) |
//! | `GET /sd` | http_sd JSON of the discovered targets ([`crate::discovery`]) |
//! | `GET /federate?match[]=…` | the scrape loop's latest series ([`crate::federation`]) |
//! | `GET /metrics` | the gateway's own metrics, served by dark-metrics |
//! | `GET /` | a status page: the endpoints and every target with its last outcome |
//! | `CONNECT`, anything else | 4xx with a one-line reason: the gateway is not an open proxy |
//!
//! Failures carry `text/plain` bodies of one line and the header `x-darkscrape-reason` with
//! the reason label.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use dark_metrics::serve::{html_escape, MetricsBody, MetricsHttpService};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::address::{ProxiedRequest, SERVICE_PARAM, TERMINATOR_PARAM};
use crate::discovery::{http_sd_json, TargetList};
use crate::federation::{stream_federation, FederateQuery, FederationLabels, TEXT_CONTENT_TYPE};
use crate::proxy::{ProxyFailure, ScrapeProxy};
use crate::scrape_loop::SampleStore;
use crate::telemetry::GatewayMetrics;

/// Header naming the reason label of a failed answer.
pub const REASON_HEADER: &str = "x-darkscrape-reason";

/// What the status page says about where the gateway serves.
#[derive(Debug, Clone, Default)]
pub struct GatewayInfo {
    /// The loopback bridge address, when there is one.
    pub listen: Option<String>,
    /// The dark service the gateway is hosted on, when there is one.
    pub service: Option<String>,
    /// The scraper identity's name.
    pub identity: String,
}

struct Shared {
    proxy: ScrapeProxy,
    targets: watch::Receiver<Arc<TargetList>>,
    metrics: Arc<GatewayMetrics>,
    info: GatewayInfo,
    federation: Option<FederationSource>,
}

/// What `/federate` serves from: the scrape loop's store, and how to label and select.
#[derive(Debug, Clone)]
pub struct FederationSource {
    /// The scrape loop's latest samples.
    pub store: Arc<SampleStore>,
    /// Labels added to every series.
    pub labels: FederationLabels,
    /// Whether a request without `match[]` gets everything.
    pub allow_all: bool,
}

/// The gateway's tower service (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct GatewayService {
    shared: Arc<Shared>,
    own_metrics: MetricsHttpService<Incoming>,
}

impl std::fmt::Debug for GatewayService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayService")
            .field("info", &self.shared.info)
            .finish_non_exhaustive()
    }
}

impl GatewayService {
    /// A service answering with `proxy`, the discovered `targets`, and `own_metrics` (the
    /// dark-metrics service of the gateway's registry).
    pub fn new(
        proxy: ScrapeProxy,
        targets: watch::Receiver<Arc<TargetList>>,
        metrics: Arc<GatewayMetrics>,
        own_metrics: MetricsHttpService<Incoming>,
        info: GatewayInfo,
        federation: Option<FederationSource>,
    ) -> Self {
        GatewayService {
            shared: Arc::new(Shared {
                proxy,
                targets,
                metrics,
                info,
                federation,
            }),
            own_metrics,
        }
    }

    async fn answer(self, request: Request<Incoming>) -> Response<MetricsBody> {
        let shared = &self.shared;
        if request.method() == Method::CONNECT {
            return failure(&ProxyFailure {
                status: StatusCode::METHOD_NOT_ALLOWED,
                reason: "bad_request",
                message: "CONNECT tunnels are not offered: scrape dark targets with scheme http, the overlay already encrypts".into(),
            });
        }
        if request.uri().scheme().is_some() {
            let proxied = match ProxiedRequest::parse(request.uri()) {
                Ok(proxied) => proxied,
                Err(error) => return failure(&ProxyFailure::bad_request(error.to_string())),
            };
            return match shared
                .proxy
                .forward(request.method(), request.headers(), proxied)
                .await
            {
                Ok(response) => response.map(|b| b.map_err(|never| match never {}).boxed_unsync()),
                Err(failed) => failure(&failed),
            };
        }
        let is_read = matches!(*request.method(), Method::GET | Method::HEAD);
        match request.uri().path() {
            "/metrics" => match self.own_metrics.oneshot(request).await {
                Ok(response) => response,
                Err(error) => plain(StatusCode::INTERNAL_SERVER_ERROR, "internal", &error.to_string()),
            },
            "/sd" if is_read => {
                let list = shared.targets.borrow().clone();
                if !list.ready {
                    return plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not_ready",
                        "discovery has not listed the services yet; Prometheus retries on its refresh interval",
                    );
                }
                let body = http_sd_json(&list).to_string();
                with_type(StatusCode::OK, "application/json", body)
            }
            "/federate" if is_read => federate(shared, &request),
            "/" if is_read => with_type(
                StatusCode::OK,
                "text/html; charset=utf-8",
                status_page(shared),
            ),
            "/" | "/sd" | "/federate" => plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "bad_request",
                &format!("{} is not served here: use GET", request.method()),
            ),
            other => plain(
                StatusCode::NOT_FOUND,
                "bad_request",
                &format!(
                    "{other:?} is not a gateway endpoint: GET /sd (http_sd), /federate, /metrics, / (status), or an absolute http:// URI (proxy_url)"
                ),
            ),
        }
    }
}

impl tower::Service<Request<Incoming>> for GatewayService {
    type Response = Response<MetricsBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.answer(request).await) })
    }
}

/// `GET /federate` (see [`crate::federation`]).
fn federate(shared: &Shared, request: &Request<Incoming>) -> Response<MetricsBody> {
    let Some(source) = &shared.federation else {
        return plain(
            StatusCode::NOT_FOUND,
            "bad_request",
            "/federate is off: the gateway runs no scrape loop (--scrape-interval 0)",
        );
    };
    let query = match FederateQuery::parse(request.uri().query(), source.allow_all) {
        Ok(query) => query,
        Err(error) => return plain(StatusCode::BAD_REQUEST, "bad_request", &error.to_string()),
    };
    let gzip = request
        .headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            parts
                .next()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("gzip"))
                && !parts.any(|p| p.trim().replace(' ', "") == "q=0")
        });
    let mut response = if request.method() == Method::HEAD {
        Response::new(
            Full::new(Bytes::new())
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
    } else {
        let body = stream_federation(
            source.store.snapshot(),
            query,
            source.labels.clone(),
            gzip.then_some(1),
        );
        Response::new(body.map_err(|never| match never {}).boxed_unsync())
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(TEXT_CONTENT_TYPE),
    );
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<MetricsBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn plain(status: StatusCode, reason: &'static str, message: &str) -> Response<MetricsBody> {
    let mut response = with_type(status, "text/plain; charset=utf-8", format!("{message}\n"));
    response
        .headers_mut()
        .insert(REASON_HEADER, HeaderValue::from_static(reason));
    response
}

fn failure(failed: &ProxyFailure) -> Response<MetricsBody> {
    plain(failed.status, failed.reason, &failed.message)
}

fn status_page(shared: &Shared) -> String {
    let list = shared.targets.borrow().clone();
    let outcomes = shared.metrics.last_outcomes();
    let info = &shared.info;
    let mut page = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>darkscrape federate</title>\
         <style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}\
         .fail{color:#b00}.ok{color:#070}</style></head><body>\n<h1>darkscrape federate</h1>\n",
    );
    let _ = write!(
        page,
        "<p>Scraper identity <b>{}</b>; bridge {}; dark service {}.</p>\n<h2>Endpoints</h2>\n<ul>\
         <li><a href=\"/sd\">/sd</a>: http_sd discovery of the dark targets</li>\
         <li><a href=\"/metrics\">/metrics</a>: the gateway's own metrics</li>\
         <li>any absolute <code>http://</code> URI: the scrape proxy (<code>proxy_url</code>); \
         name the target with <code>?{SERVICE_PARAM}=</code> and <code>&amp;{TERMINATOR_PARAM}=</code> \
         or as the URL's host</li></ul>\n",
        html_escape(&info.identity),
        info.listen.as_deref().map_or("none".to_string(), html_escape),
        info.service.as_deref().map_or("none".to_string(), html_escape),
    );
    let _ = write!(
        page,
        "<h2>Targets ({})</h2>\n{}<table>\n<tr><th>instance</th><th>service</th><th>terminator</th>\
         <th>attributes</th><th>last scrape</th></tr>\n",
        list.targets.len(),
        list.last_error
            .as_deref()
            .map(|e| format!("<p class=\"fail\">Discovery: {}</p>\n", html_escape(e)))
            .unwrap_or_default(),
    );
    let now = SystemTime::now();
    for target in &list.targets {
        let address = &target.address;
        let last = outcomes
            .iter()
            .find(|(a, _)| a == address)
            .map(|(_, outcome)| {
                let age = now
                    .duration_since(outcome.at)
                    .map(|d| format!("{}s ago", d.as_secs()))
                    .unwrap_or_default();
                match outcome.failure {
                    None => format!(
                        "<span class=\"ok\">ok</span> ({}, {age})",
                        html_escape(&outcome.detail)
                    ),
                    Some(reason) => format!(
                        "<span class=\"fail\">{reason}</span>: {} ({age})",
                        html_escape(&outcome.detail)
                    ),
                }
            })
            .unwrap_or_else(|| "not scraped yet".to_string());
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{last}</td></tr>",
            html_escape(&address.instance()),
            html_escape(&address.service),
            html_escape(address.terminator.as_deref().unwrap_or("")),
            html_escape(&target.attributes.join(", ")),
        );
    }
    page.push_str("</table>\n</body></html>\n");
    page
}
