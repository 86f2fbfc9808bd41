//! The workload's metrics and the dark-metrics server that serves them.
//!
//! `reflect_total_connections` keeps the original's name and help text ("number of
//! connections established", no labels, +1 per accepted echo connection, before any byte is
//! read), so the articles' PromQL keeps working. The original was a Go counter served with
//! OpenMetrics enabled; Prometheus prefers OpenMetrics, where a counter whose name lacks
//! `_total` is written as type `unknown`, so `unknown` is what Prometheus actually recorded
//! for it. This crate types it `unknown` in both formats (`untyped` in text 0.0.4): same
//! series, same help, same OpenMetrics output as the original, and a text output that
//! `promtool check metrics` accepts (a `counter` without `_total` is a lint error there).
//!
//! The other metrics are new, with conventional names:
//!
//! | metric | type | meaning |
//! | --- | --- | --- |
//! | `reflect_active_connections` | gauge | echo connections open now |
//! | `reflect_lines_total` | counter | lines echoed |
//! | `reflect_received_bytes_total` | counter | bytes read from clients |
//! | `reflect_sent_bytes_total` | counter | bytes written to clients |
//! | `reflect_closed_connections_total{reason}` | counter | closed connections by reason (`eof`, `partial_line`, `line_too_long`, `idle_timeout`, `io_error`, `shutdown`) |
//! | `reflect_connection_duration_seconds` | histogram | how long echo connections stayed open |
//!
//! Plus the standard `process_*` metrics (the original exposed Go's, through the default
//! registry) and dark-metrics' own `dark_metrics_*` self metrics.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use dark_metrics::exposition::{MetricFamily, MetricType};
use dark_metrics::serve::{
    collector_fn, MetricsServer, ProcessCollector, ServerConfig, ServerConfigError,
};

/// Name of the original's only application metric.
pub const TOTAL_CONNECTIONS: &str = "reflect_total_connections";
/// Its help text, as the original registered it.
pub const TOTAL_CONNECTIONS_HELP: &str = "number of connections established";

/// Bucket bounds (seconds) of the connection duration histogram.
const DURATION_BUCKETS: [f64; 10] = [0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0];

/// The workload's metrics. Clones share the same values.
#[derive(Debug, Clone)]
pub struct ReflectMetrics {
    total_connections: Counter,
    active: Gauge,
    lines: Counter,
    received_bytes: Counter,
    sent_bytes: Counter,
    closed: Family<Vec<(&'static str, &'static str)>, Counter>,
    duration: Histogram,
}

impl Default for ReflectMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ReflectMetrics {
    /// All metrics at zero.
    pub fn new() -> Self {
        ReflectMetrics {
            total_connections: Counter::default(),
            active: Gauge::default(),
            lines: Counter::default(),
            received_bytes: Counter::default(),
            sent_bytes: Counter::default(),
            closed: Family::default(),
            duration: Histogram::new(DURATION_BUCKETS),
        }
    }

    /// A connection was accepted (counted before any byte is read, as the original does).
    pub fn connection_opened(&self) {
        self.total_connections.inc();
        self.active.inc();
    }

    /// A connection ended after `seconds`, for `reason`.
    pub fn connection_closed(&self, reason: &'static str, seconds: f64) {
        self.active.dec();
        self.closed.get_or_create(&vec![("reason", reason)]).inc();
        self.duration.observe(seconds);
    }

    /// One line was echoed: `received` bytes read, `sent` bytes written.
    pub fn line_echoed(&self, received: u64, sent: u64) {
        self.lines.inc();
        self.received_bytes.inc_by(received);
        self.sent_bytes.inc_by(sent);
    }

    /// Bytes read that did not form an echoed line (a partial or overlong line).
    pub fn bytes_received(&self, received: u64) {
        self.received_bytes.inc_by(received);
    }

    /// Bytes written that were not an echo (the overlong-line notice).
    pub fn bytes_sent(&self, sent: u64) {
        self.sent_bytes.inc_by(sent);
    }

    /// Connections accepted so far.
    pub fn total_connections(&self) -> u64 {
        self.total_connections.get()
    }

    /// Connections open now.
    pub fn active_connections(&self) -> i64 {
        self.active.get()
    }

    /// Lines echoed so far.
    pub fn lines(&self) -> u64 {
        self.lines.get()
    }

    /// Registers the new metrics (not the legacy counter) in `registry`.
    fn register(&self, registry: &mut Registry) {
        let reflect = registry.sub_registry_with_prefix("reflect");
        reflect.register(
            "active_connections",
            "Echo connections open now",
            self.active.clone(),
        );
        reflect.register("lines", "Lines echoed", self.lines.clone());
        reflect.register(
            "received_bytes",
            "Bytes read from echo clients",
            self.received_bytes.clone(),
        );
        reflect.register(
            "sent_bytes",
            "Bytes written to echo clients",
            self.sent_bytes.clone(),
        );
        reflect.register(
            "closed_connections",
            "Echo connections closed, by reason",
            self.closed.clone(),
        );
        reflect.register(
            "connection_duration_seconds",
            "How long echo connections stayed open",
            self.duration.clone(),
        );
    }

    /// A metrics server for these metrics: a registry with the new ones, a collector writing
    /// `reflect_total_connections` with the original's name and help, and the process
    /// collector.
    pub fn metrics_server(&self, config: ServerConfig) -> Result<MetricsServer, ServerConfigError> {
        let mut registry = Registry::default();
        self.register(&mut registry);
        let total = self.total_connections.clone();
        MetricsServer::builder()
            .config(config)
            .registry(registry)
            .collector(collector_fn("reflect", move |_deadline| {
                let value = total.get() as f64;
                async move {
                    Ok(vec![MetricFamily::new(
                        TOTAL_CONNECTIONS,
                        TOTAL_CONNECTIONS_HELP,
                        MetricType::Unknown,
                    )
                    .with_sample(vec![], value)])
                }
            }))
            .collector(ProcessCollector::new())
            .build()
    }
}
