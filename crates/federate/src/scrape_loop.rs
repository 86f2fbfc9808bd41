//! The gateway's own scrape loop, which feeds `/federate`: every discovered target is
//! scraped on an interval over the proxy's kept-alive connections, parsed, and its latest
//! sample set kept in a [`SampleStore`].
//!
//! Per target the store also holds what Prometheus records for a target (`up`,
//! `scrape_duration_seconds`, `scrape_samples_scraped`) and the failure reason. Limits bound
//! memory as Prometheus's do ([`ScrapeLimits`]): samples per target, labels per series, body
//! bytes (the proxy's). A target over a limit fails alone, with its reason. A target that
//! leaves discovery leaves the store at once, and a scrape replaces the whole set, so a
//! series the target stopped exporting is gone on the next cycle (no 5-minute lookback).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use dark_metrics::exposition::parse::{parse, ParseErrorKind, ParseLimits};
use dark_metrics::exposition::MetricFamily;
use dark_metrics::scrape::format_of_content_type;
use http::header::{self, HeaderMap, HeaderValue};
use http::Method;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::address::{ProxiedRequest, TargetAddress};
use crate::discovery::{DiscoveredTarget, TargetList};
use crate::proxy::{ProxyFailure, ScrapeProxy};
use crate::telemetry::GatewayMetrics;

/// What the loop asks for: text 0.0.4 first (the cheapest to parse), OpenMetrics otherwise.
const ACCEPT: &str =
    "text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1";

/// Limits of one target's scrape.
#[derive(Debug, Clone, Copy)]
pub struct ScrapeLimits {
    /// Most samples kept from one target (Prometheus's `sample_limit`); 0 = no limit.
    pub samples: usize,
    /// Most labels on one series (Prometheus's `label_limit`); 0 = no limit.
    pub labels: usize,
}

impl Default for ScrapeLimits {
    fn default() -> Self {
        ScrapeLimits {
            samples: 200_000,
            labels: 64,
        }
    }
}

/// Tunables of the scrape loop.
#[derive(Debug, Clone)]
pub struct ScrapeLoopOptions {
    /// Time between scrapes of a target.
    pub interval: Duration,
    /// Deadline of one scrape.
    pub timeout: Duration,
    /// Targets scraped at once.
    pub concurrency: usize,
    /// Path scraped on every target.
    pub path: String,
    /// Limits per target.
    pub limits: ScrapeLimits,
}

impl Default for ScrapeLoopOptions {
    fn default() -> Self {
        ScrapeLoopOptions {
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            concurrency: 32,
            path: "/metrics".to_string(),
            limits: ScrapeLimits::default(),
        }
    }
}

/// The latest scrape of one target.
#[derive(Debug, Clone)]
pub struct ScrapedTarget {
    /// The target and its discovered labels.
    pub target: DiscoveredTarget,
    /// The families of the last successful scrape (empty after a failure).
    pub families: Vec<MetricFamily>,
    /// When the scrape started, in milliseconds since the epoch (the samples' timestamp).
    pub timestamp_ms: i64,
    /// How long it took.
    pub duration: Duration,
    /// `None` when it succeeded, else the failure's reason label and message.
    pub failure: Option<(&'static str, String)>,
    /// Samples kept.
    pub samples: usize,
}

/// The latest scrape of every target, shared by the loop and `/federate`.
#[derive(Debug, Default)]
pub struct SampleStore {
    targets: RwLock<BTreeMap<TargetAddress, Arc<ScrapedTarget>>>,
}

impl SampleStore {
    /// The scraped targets, ordered by address: a snapshot of `Arc`s, cheap to take, that
    /// later scrapes do not change.
    pub fn snapshot(&self) -> Vec<Arc<ScrapedTarget>> {
        self.targets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn put(&self, scraped: ScrapedTarget, listed: &TargetList) {
        let address = scraped.target.address.clone();
        let mut targets = self.targets.write().unwrap_or_else(|p| p.into_inner());
        // A target that left discovery while it was being scraped stays out.
        if listed.targets.iter().any(|t| t.address == address) {
            targets.insert(address, Arc::new(scraped));
        }
    }

    fn retain(&self, listed: &TargetList) {
        let mut targets = self.targets.write().unwrap_or_else(|p| p.into_inner());
        targets.retain(|address, _| listed.targets.iter().any(|t| &t.address == address));
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Parses `body` as the answer's content type says, under `limits`.
pub fn parse_answer(
    body: &[u8],
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    limits: ScrapeLimits,
) -> Result<Vec<MetricFamily>, (&'static str, String)> {
    if content_encoding
        .is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity") && !e.trim().is_empty())
    {
        return Err((
            "invalid_exposition",
            format!("content encoding {content_encoding:?} was not asked for"),
        ));
    }
    let content_type = content_type.unwrap_or("");
    let format = format_of_content_type(content_type).ok_or_else(|| {
        (
            "invalid_exposition",
            format!("content type {content_type:?} is not a Prometheus text exposition format"),
        )
    })?;
    let parse_limits = ParseLimits {
        max_series: if limits.samples == 0 {
            ParseLimits::default().max_series
        } else {
            limits.samples
        },
        ..ParseLimits::default()
    };
    let families = parse(body, format, &parse_limits).map_err(|e| {
        if limits.samples != 0 && matches!(e.kind, ParseErrorKind::TooManySeries { .. }) {
            (
                "sample_limit",
                format!("more than {} samples (--sample-limit)", limits.samples),
            )
        } else {
            (
                "invalid_exposition",
                format!("the body is not a valid exposition: {e}"),
            )
        }
    })?;
    if limits.labels != 0 {
        for family in &families {
            if let Some(sample) = family
                .samples
                .iter()
                .find(|s| s.labels.len() > limits.labels)
            {
                return Err((
                    "label_limit",
                    format!(
                        "a series of {} has {} labels, more than {} (--label-limit)",
                        family.name,
                        sample.labels.len(),
                        limits.labels
                    ),
                ));
            }
        }
    }
    Ok(families)
}

/// Scrapes one target once.
async fn scrape_once(
    proxy: &ScrapeProxy,
    target: &DiscoveredTarget,
    options: &ScrapeLoopOptions,
) -> ScrapedTarget {
    let timestamp_ms = now_ms();
    let started = Instant::now();
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    headers.insert(
        header::USER_AGENT,
        HeaderValue::from_static("darkscrape-federate"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("{}", options.timeout.as_secs_f64())) {
        headers.insert(dark_metrics::serve::SCRAPE_TIMEOUT_HEADER, value);
    }
    let proxied = ProxiedRequest {
        target: target.address.clone(),
        path_and_query: options.path.clone(),
    };
    let result = match proxy
        .fetch(&Method::GET, headers, &proxied, options.timeout)
        .await
    {
        Err(ProxyFailure {
            reason, message, ..
        }) => Err((reason, message)),
        Ok((parts, _)) if !parts.status.is_success() => Err((
            "target_status",
            format!("the target answered HTTP {}", parts.status.as_u16()),
        )),
        Ok((parts, body)) => {
            let text = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
            parse_answer(
                &body,
                text(header::CONTENT_TYPE),
                text(header::CONTENT_ENCODING),
                options.limits,
            )
        }
    };
    let duration = started.elapsed();
    match result {
        Ok(families) => ScrapedTarget {
            samples: families.iter().map(|f| f.samples.len()).sum(),
            target: target.clone(),
            families,
            timestamp_ms,
            duration,
            failure: None,
        },
        Err(failure) => ScrapedTarget {
            target: target.clone(),
            families: Vec::new(),
            timestamp_ms,
            duration,
            failure: Some(failure),
            samples: 0,
        },
    }
}

/// Starts the scrape loop over the discovered `targets`; it runs until `stop` fires.
pub fn spawn_scrape_loop(
    proxy: ScrapeProxy,
    mut targets: watch::Receiver<Arc<TargetList>>,
    options: ScrapeLoopOptions,
    metrics: Arc<GatewayMetrics>,
    stop: CancellationToken,
) -> Arc<SampleStore> {
    let store = Arc::new(SampleStore::default());
    let shared = store.clone();
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(options.concurrency.max(1)));
        let options = Arc::new(options);
        let mut tick = tokio::time::interval(options.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
                changed = targets.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    // Targets that left discovery leave the store at once.
                    shared.retain(&targets.borrow_and_update());
                    continue;
                }
            }
            let list = targets.borrow().clone();
            shared.retain(&list);
            for target in list.targets.iter().cloned() {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (proxy, options, metrics, store, targets) = (
                    proxy.clone(),
                    options.clone(),
                    metrics.clone(),
                    shared.clone(),
                    targets.clone(),
                );
                tokio::spawn(async move {
                    let scraped = scrape_once(&proxy, &target, &options).await;
                    let (failure, detail) = match &scraped.failure {
                        Some((reason, message)) => (Some(*reason), message.clone()),
                        None => (None, format!("{} samples", scraped.samples)),
                    };
                    metrics.record_scrape(
                        "loop",
                        &target.address,
                        failure,
                        detail,
                        scraped.duration,
                        0,
                    );
                    let listed = targets.borrow().clone();
                    store.put(scraped, &listed);
                    drop(slot);
                });
            }
        }
    });
    store
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: Option<&str> = Some("text/plain; version=0.0.4");

    #[test]
    fn answers_parse_within_their_limits() {
        let body = b"# TYPE a_total counter\na_total{x=\"1\"} 1\na_total{x=\"2\"} 2\n";
        let families = parse_answer(body, TEXT, None, ScrapeLimits::default()).unwrap();
        assert_eq!(families[0].samples.len(), 2);
        let over_samples = ScrapeLimits {
            samples: 1,
            labels: 0,
        };
        assert_eq!(
            parse_answer(body, TEXT, None, over_samples).unwrap_err().0,
            "sample_limit"
        );
        let over_labels = ScrapeLimits {
            samples: 0,
            labels: 1,
        };
        let body = b"b{x=\"1\",y=\"2\"} 1\n";
        assert_eq!(
            parse_answer(body, TEXT, None, over_labels).unwrap_err().0,
            "label_limit"
        );
        assert_eq!(
            parse_answer(b"<html>", TEXT, None, ScrapeLimits::default())
                .unwrap_err()
                .0,
            "invalid_exposition"
        );
        assert_eq!(
            parse_answer(b"a 1\n", Some("text/html"), None, ScrapeLimits::default())
                .unwrap_err()
                .0,
            "invalid_exposition"
        );
        assert_eq!(
            parse_answer(b"a 1\n", TEXT, Some("gzip"), ScrapeLimits::default())
                .unwrap_err()
                .0,
            "invalid_exposition"
        );
    }
}
