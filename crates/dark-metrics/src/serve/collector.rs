//! Metrics computed at scrape time: the [`Collector`] trait, its error type and
//! [`collector_fn`], which turns a closure into a collector.
//!
//! A collector is asked for its families once per scrape, with the scrape's deadline. The
//! server runs all collectors concurrently and cuts off any that is still running at the
//! deadline; the others are served, and the late one is reported as failed (see
//! [`crate::serve`]'s self metrics).

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use tokio::time::Instant;

use crate::exposition::MetricFamily;

/// The future a [`Collector`] returns.
pub type CollectFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<MetricFamily>, CollectError>> + Send + 'a>>;

/// Why a collector produced nothing for this scrape.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The collector could not read its source; the message says which and why.
    #[error("collector failed: {reason}")]
    Failed {
        /// What went wrong, for logs and for the operator.
        reason: String,
    },
    /// An I/O error while reading the collector's source.
    #[error("collector I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl CollectError {
    /// A [`CollectError::Failed`] with the given reason.
    pub fn failed(reason: impl Into<String>) -> Self {
        CollectError::Failed {
            reason: reason.into(),
        }
    }
}

/// A source of metric families computed at scrape time.
///
/// `collect` should finish before `deadline`; the server drops its future at the deadline
/// (so a collector doing blocking work should move it to `spawn_blocking` and check the
/// deadline itself). Families are returned in any order; the server sorts them and merges
/// families of the same name and type coming from different sources.
pub trait Collector: Send + Sync + 'static {
    /// A short name for labels and logs, e.g. `"cpu"`; unique within one server.
    fn name(&self) -> &str;

    /// Computes the families for one scrape.
    fn collect(&self, deadline: Instant) -> CollectFuture<'_>;
}

/// A [`Collector`] made of a name and a closure; see [`collector_fn`].
pub struct FnCollector<F> {
    name: String,
    collect: F,
}

impl<F> fmt::Debug for FnCollector<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnCollector")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Makes a collector from a closure that is given the deadline and returns a future of the
/// families.
///
/// ```
/// use dark_metrics::exposition::{MetricFamily, MetricType};
/// use dark_metrics::serve::collector_fn;
///
/// let uptime = collector_fn("uptime", |_deadline| async {
///     Ok(vec![MetricFamily::new("demo_uptime_seconds", "Seconds since start.", MetricType::Gauge)
///         .with_sample(vec![], 42.0)])
/// });
/// # let _ = uptime;
/// ```
pub fn collector_fn<F, Fut>(name: impl Into<String>, collect: F) -> FnCollector<F>
where
    F: Fn(Instant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<MetricFamily>, CollectError>> + Send + 'static,
{
    FnCollector {
        name: name.into(),
        collect,
    }
}

impl<F, Fut> Collector for FnCollector<F>
where
    F: Fn(Instant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<MetricFamily>, CollectError>> + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn collect(&self, deadline: Instant) -> CollectFuture<'_> {
        Box::pin((self.collect)(deadline))
    }
}
