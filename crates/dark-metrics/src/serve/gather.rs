//! One collection: runs every [`Collector`] concurrently under the scrape deadline, bridges
//! the `prometheus-client` registry, merges everything into one sorted list of families and
//! keeps the server's self metrics up to date.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::collector::{CollectError, Collector};
use crate::exposition::{families_from_registry, MetricFamily};

type LabelSet = Vec<(&'static str, String)>;

/// Bucket bounds (seconds) of the collect and encode duration histograms.
const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The server's own metrics, registered in the served registry under the `dark_metrics_`
/// prefix.
#[derive(Debug, Clone)]
pub(crate) struct SelfMetrics {
    requests: Family<LabelSet, Counter>,
    errors: Family<LabelSet, Counter>,
    collect_duration: Histogram,
    encode_duration: Histogram,
    collector_duration: Family<LabelSet, Gauge<f64, AtomicU64>>,
    collector_success: Family<LabelSet, Gauge>,
}

impl SelfMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = SelfMetrics {
            requests: Family::default(),
            errors: Family::default(),
            collect_duration: Histogram::new(DURATION_BUCKETS),
            encode_duration: Histogram::new(DURATION_BUCKETS),
            collector_duration: Family::default(),
            collector_success: Family::default(),
        };
        let sub = registry.sub_registry_with_prefix("dark_metrics");
        sub.register(
            "http_requests",
            "HTTP requests answered by the metrics server, by status code",
            metrics.requests.clone(),
        );
        sub.register(
            "scrape_errors",
            "Problems met while collecting a scrape, by cause (collector_failed, collector_timeout, registry, duplicate_family)",
            metrics.errors.clone(),
        );
        sub.register(
            "collect_duration_seconds",
            "Time spent collecting all sources for one scrape",
            metrics.collect_duration.clone(),
        );
        sub.register(
            "encode_duration_seconds",
            "Time spent writing (and compressing) one scrape's exposition body",
            metrics.encode_duration.clone(),
        );
        sub.register(
            "collector_duration_seconds",
            "How long each collector took in the latest scrape",
            metrics.collector_duration.clone(),
        );
        sub.register(
            "collector_success",
            "Whether each collector succeeded within the deadline in the latest scrape (1) or not (0)",
            metrics.collector_success.clone(),
        );
        metrics
    }

    /// Counts one answered request.
    pub(crate) fn record_request(&self, code: u16) {
        self.requests
            .get_or_create(&vec![("code", code.to_string())])
            .inc();
    }

    /// Records the time spent encoding one body.
    pub(crate) fn record_encode(&self, elapsed: Duration) {
        self.encode_duration.observe(elapsed.as_secs_f64());
    }

    fn record_error(&self, cause: &'static str) {
        self.errors
            .get_or_create(&vec![("cause", cause.to_string())])
            .inc();
    }
}

/// How one collector did in one scrape.
#[derive(Debug, Clone, PartialEq)]
pub enum CollectorStatus {
    /// It returned its families in time.
    Succeeded,
    /// It returned an error (or panicked); the message says why.
    Failed(String),
    /// It was still running at the deadline and was cut off.
    TimedOut,
}

/// The outcome of one collector in one scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorOutcome {
    /// The collector's [`Collector::name`].
    pub name: String,
    /// Time from start to result (or to the deadline).
    pub duration: Duration,
    /// Whether it succeeded.
    pub status: CollectorStatus,
}

/// Everything one collection produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Gathered {
    /// All families, merged by name and sorted for exposition.
    pub families: Vec<MetricFamily>,
    /// One entry per collector, in registration order.
    pub outcomes: Vec<CollectorOutcome>,
}

/// The sources of one server: an optional registry and the collectors.
pub(crate) struct Sources {
    pub(crate) registry: Option<Registry>,
    pub(crate) collectors: Vec<Arc<dyn Collector>>,
    pub(crate) self_metrics: Option<SelfMetrics>,
}

impl Sources {
    /// Runs one collection that must be done by `deadline`.
    pub(crate) async fn gather(&self, deadline: Instant) -> Gathered {
        let started = Instant::now();
        let mut tasks = JoinSet::new();
        for (index, collector) in self.collectors.iter().enumerate() {
            let collector = collector.clone();
            tasks.spawn(async move {
                let began = Instant::now();
                let result = tokio::time::timeout_at(deadline, collector.collect(deadline)).await;
                (index, began.elapsed(), result)
            });
        }
        let mut outcomes: Vec<CollectorOutcome> = self
            .collectors
            .iter()
            .map(|c| CollectorOutcome {
                name: c.name().to_string(),
                duration: Duration::ZERO,
                status: CollectorStatus::Failed("the collector task did not report".into()),
            })
            .collect();
        let mut collected: Vec<Vec<MetricFamily>> = vec![Vec::new(); self.collectors.len()];
        while let Some(joined) = tasks.join_next().await {
            let Ok((index, duration, result)) = joined else {
                // A panicking collector: its slot keeps the "did not report" failure, with
                // the panic named in the log.
                if let Err(error) = joined {
                    tracing::warn!(%error, "a metrics collector panicked");
                }
                continue;
            };
            let status = match result {
                Ok(Ok(families)) => {
                    collected[index] = families;
                    CollectorStatus::Succeeded
                }
                Ok(Err(error)) => failure_status(&outcomes[index].name, &error),
                Err(_elapsed) => {
                    tracing::warn!(
                        collector = %outcomes[index].name,
                        "metrics collector cut off at the scrape deadline"
                    );
                    CollectorStatus::TimedOut
                }
            };
            outcomes[index].duration = duration;
            outcomes[index].status = status;
        }
        if let Some(metrics) = &self.self_metrics {
            for outcome in &outcomes {
                let labels = vec![("collector", outcome.name.clone())];
                metrics
                    .collector_duration
                    .get_or_create(&labels)
                    .set(outcome.duration.as_secs_f64());
                let success = i64::from(outcome.status == CollectorStatus::Succeeded);
                metrics
                    .collector_success
                    .get_or_create(&labels)
                    .set(success);
                match outcome.status {
                    CollectorStatus::Succeeded => {}
                    CollectorStatus::Failed(_) => metrics.record_error("collector_failed"),
                    CollectorStatus::TimedOut => metrics.record_error("collector_timeout"),
                }
            }
            metrics
                .collect_duration
                .observe(started.elapsed().as_secs_f64());
        }
        let mut sources = Vec::with_capacity(collected.len() + 1);
        if let Some(registry) = &self.registry {
            match families_from_registry(registry) {
                Ok(families) => sources.push(families),
                Err(error) => {
                    tracing::warn!(%error, "the prometheus-client registry could not be served");
                    if let Some(metrics) = &self.self_metrics {
                        metrics.record_error("registry");
                    }
                }
            }
        }
        sources.extend(collected);
        let (families, duplicates) = merge_families(sources);
        if duplicates > 0 {
            if let Some(metrics) = &self.self_metrics {
                for _ in 0..duplicates {
                    metrics.record_error("duplicate_family");
                }
            }
        }
        Gathered { families, outcomes }
    }
}

fn failure_status(name: &str, error: &CollectError) -> CollectorStatus {
    tracing::warn!(collector = %name, %error, "metrics collector failed");
    CollectorStatus::Failed(error.to_string())
}

/// Concatenates the sources, merging families that share a name and type (their samples are
/// appended) and dropping a later family whose name is taken by a family of another type.
/// Returns the sorted families and how many were dropped.
pub(crate) fn merge_families(sources: Vec<Vec<MetricFamily>>) -> (Vec<MetricFamily>, usize) {
    let mut all: Vec<MetricFamily> = Vec::with_capacity(sources.iter().map(Vec::len).sum());
    for source in sources {
        all.extend(source);
    }
    let (mut merged, dropped) = MetricFamily::join_by_name(all);
    MetricFamily::sort_for_exposition(&mut merged);
    (merged, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::MetricType;

    #[test]
    fn same_named_families_merge_and_conflicting_types_are_dropped() {
        let a = MetricFamily::new("x_total", "x", MetricType::Counter)
            .with_sample(vec![("k".into(), "b".into())], 2.0);
        let b = MetricFamily::new("x_total", "x", MetricType::Counter)
            .with_sample(vec![("k".into(), "a".into())], 1.0);
        let c = MetricFamily::new("x_total", "x", MetricType::Gauge).with_sample(vec![], 3.0);
        let d = MetricFamily::new("a_gauge", "a", MetricType::Gauge).with_sample(vec![], 4.0);
        let (merged, dropped) = merge_families(vec![vec![a], vec![b, c], vec![d]]);
        assert_eq!(dropped, 1);
        let names: Vec<&str> = merged.iter().map(|f| &*f.name).collect();
        assert_eq!(names, ["a_gauge", "x_total"]);
        let values: Vec<f64> = merged[1].samples.iter().map(|s| s.value).collect();
        assert_eq!(
            values,
            [1.0, 2.0],
            "samples sorted by label value after the merge"
        );
    }
}
