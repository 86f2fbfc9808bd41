//! The gateway's own metrics and the last outcome of every target.
//!
//! [`GatewayMetrics`] holds the `prometheus-client` metrics (targets discovered, proxied
//! scrapes by path, outcome and reason, dial and scrape latency, bytes) and the table of last
//! outcomes per target. The table feeds two things: the reason series
//! `darkscrape_federate_last_scrape_error{instance,ziti_service,ziti_terminator,reason} 1`
//! (one per target whose last proxied scrape failed, so the cause behind Prometheus's
//! `up == 0` can be queried), and the status page. Entries are kept while the target is
//! discovered or was scraped within [`OUTCOME_RETENTION`], at most [`MAX_OUTCOMES`] of them.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use dark_metrics::exposition::{MetricFamily, MetricType, Text};
use dark_metrics::serve::{collector_fn, Collector};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use tokio::time::Instant;

use crate::address::TargetAddress;
use crate::discovery::{TargetList, SERVICE_LABEL, TERMINATOR_LABEL};

/// How long the outcome of a target that is no longer discovered is kept.
pub const OUTCOME_RETENTION: Duration = Duration::from_secs(600);
/// Most targets whose outcome is kept (hand-addressed ones included).
pub const MAX_OUTCOMES: usize = 10_000;

/// Labels of `darkscrape_federate_scrapes_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    via: &'static str,
    outcome: &'static str,
    reason: &'static str,
}

/// The last proxied scrape of one target.
#[derive(Debug, Clone, PartialEq)]
pub struct LastOutcome {
    /// `None` on success, else the failure's reason label.
    pub failure: Option<&'static str>,
    /// One line on what happened (the failure message, or the status and size).
    pub detail: String,
    /// When it ended.
    pub at: SystemTime,
    /// How long it took.
    pub duration: Duration,
    monotonic: Instant,
}

/// The gateway's metrics and per-target outcomes; shared by discovery, the proxy and the
/// served `/metrics`.
#[derive(Debug)]
pub struct GatewayMetrics {
    targets: Gauge,
    discovery_errors: Counter,
    proxied: Family<OutcomeLabels, Counter>,
    dial_duration: Histogram,
    scrape_duration: Histogram,
    bytes: Counter,
    outcomes: Mutex<HashMap<TargetAddress, LastOutcome>>,
    discovered: Mutex<Arc<TargetList>>,
}

impl GatewayMetrics {
    /// New metrics, registered in `registry` under `darkscrape_federate_*`.
    pub fn new(registry: &mut Registry) -> Arc<Self> {
        let metrics = GatewayMetrics {
            targets: Gauge::default(),
            discovery_errors: Counter::default(),
            proxied: Family::default(),
            dial_duration: Histogram::new(exponential_buckets(0.000_25, 2.0, 16)),
            scrape_duration: Histogram::new(exponential_buckets(0.000_25, 2.0, 18)),
            bytes: Counter::default(),
            outcomes: Mutex::new(HashMap::new()),
            discovered: Mutex::new(Arc::new(TargetList::default())),
        };
        let prefix = registry.sub_registry_with_prefix("darkscrape_federate");
        prefix.register(
            "targets",
            "Dark targets discovered (what GET /sd lists)",
            metrics.targets.clone(),
        );
        prefix.register(
            "discovery_errors",
            "Discovery rounds that could not list every service's terminators",
            metrics.discovery_errors.clone(),
        );
        prefix.register(
            "scrapes",
            "Scrapes of dark targets, via the proxy (for Prometheus) or the scrape loop (for /federate), by outcome and failure reason",
            metrics.proxied.clone(),
        );
        prefix.register_with_unit(
            "dial_duration",
            "Time to dial a target over the overlay (new connections only)",
            Unit::Seconds,
            metrics.dial_duration.clone(),
        );
        prefix.register_with_unit(
            "scrape_duration",
            "Time from a proxied request to the target's whole answer",
            Unit::Seconds,
            metrics.scrape_duration.clone(),
        );
        prefix.register_with_unit(
            "scraped",
            "Body bytes relayed from targets, as sent (compressed when the target compressed)",
            Unit::Bytes,
            metrics.bytes.clone(),
        );
        Arc::new(metrics)
    }

    fn outcomes(&self) -> MutexGuard<'_, HashMap<TargetAddress, LastOutcome>> {
        self.outcomes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new overlay connection took `elapsed` to dial.
    pub fn observe_dial(&self, elapsed: Duration) {
        self.dial_duration.observe(elapsed.as_secs_f64());
    }

    /// Records a scrape of `target` made `via` the proxy (`"proxy"`) or the scrape loop
    /// (`"loop"`): `failure` is `None` on success, else the reason label; `bytes` is the body.
    pub fn record_scrape(
        &self,
        via: &'static str,
        target: &TargetAddress,
        failure: Option<&'static str>,
        detail: String,
        duration: Duration,
        bytes: u64,
    ) {
        self.proxied
            .get_or_create(&OutcomeLabels {
                via,
                outcome: if failure.is_some() {
                    "failure"
                } else {
                    "success"
                },
                reason: failure.unwrap_or(""),
            })
            .inc();
        self.scrape_duration.observe(duration.as_secs_f64());
        self.bytes.inc_by(bytes);
        let outcome = LastOutcome {
            failure,
            detail,
            at: SystemTime::now(),
            duration,
            monotonic: Instant::now(),
        };
        let mut outcomes = self.outcomes();
        if outcomes.len() >= MAX_OUTCOMES && !outcomes.contains_key(target) {
            self.prune(&mut outcomes);
            if outcomes.len() >= MAX_OUTCOMES {
                // Still full of live targets: forget the oldest.
                if let Some(oldest) = outcomes
                    .iter()
                    .min_by_key(|(_, o)| o.monotonic)
                    .map(|(t, _)| t.clone())
                {
                    outcomes.remove(&oldest);
                }
            }
        }
        outcomes.insert(target.clone(), outcome);
    }

    /// A new discovery round's list: updates the target count and forgets the outcomes of
    /// targets that left it and were not scraped lately.
    pub fn set_discovered(&self, list: &Arc<TargetList>) {
        self.targets.set(list.targets.len() as i64);
        if list.last_error.is_some() {
            self.discovery_errors.inc();
        }
        *self.discovered.lock().unwrap_or_else(|p| p.into_inner()) = list.clone();
        let mut outcomes = self.outcomes();
        self.prune(&mut outcomes);
    }

    /// The latest discovered list.
    pub fn discovered(&self) -> Arc<TargetList> {
        self.discovered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn prune(&self, outcomes: &mut HashMap<TargetAddress, LastOutcome>) {
        let listed: BTreeSet<TargetAddress> = self
            .discovered()
            .targets
            .iter()
            .map(|t| t.address.clone())
            .collect();
        outcomes.retain(|target, outcome| {
            listed.contains(target) || outcome.monotonic.elapsed() <= OUTCOME_RETENTION
        });
    }

    /// The last outcome of every target known, ordered by target.
    pub fn last_outcomes(&self) -> Vec<(TargetAddress, LastOutcome)> {
        let mut all: Vec<_> = self
            .outcomes()
            .iter()
            .map(|(t, o)| (t.clone(), o.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The collector of the reason series, to serve beside the registry.
    pub fn reason_collector(self: &Arc<Self>) -> impl Collector {
        let metrics = self.clone();
        collector_fn("federate_targets", move |_deadline| {
            let families = metrics.reason_families();
            async move { Ok(families) }
        })
    }

    fn reason_families(&self) -> Vec<MetricFamily> {
        let mut family = MetricFamily::new(
            "darkscrape_federate_last_scrape_error",
            "1 for each target whose last proxied scrape failed, with the reason; absent while it succeeds.",
            MetricType::Gauge,
        );
        for (target, outcome) in self.last_outcomes() {
            let Some(reason) = outcome.failure else {
                continue;
            };
            let mut labels: Vec<(Text, Text)> = vec![
                ("instance".into(), target.instance().into()),
                ("reason".into(), reason.into()),
                (SERVICE_LABEL.into(), target.service.clone().into()),
            ];
            if let Some(terminator) = &target.terminator {
                labels.push((TERMINATOR_LABEL.into(), terminator.clone().into()));
            }
            family = family.with_sample(labels, 1.0);
        }
        vec![family]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::DiscoveredTarget;

    #[test]
    fn reason_series_follow_the_last_outcome_and_discovery() {
        let mut registry = Registry::default();
        let metrics = GatewayMetrics::new(&mut registry);
        let a = TargetAddress::hosted_by("svc", "host-a");
        let b = TargetAddress::service("other");
        metrics.record_scrape(
            "proxy",
            &a,
            Some("timeout"),
            "late".into(),
            Duration::ZERO,
            0,
        );
        metrics.record_scrape("proxy", &b, None, "200".into(), Duration::ZERO, 10);
        let families = metrics.reason_families();
        assert_eq!(families[0].samples.len(), 1);
        let labels = &families[0].samples[0].labels;
        assert!(labels.contains(&("instance".into(), "host-a@svc".into())));
        assert!(labels.contains(&("reason".into(), "timeout".into())));
        assert!(labels.contains(&(TERMINATOR_LABEL.into(), "host-a".into())));
        // Success clears the series.
        metrics.record_scrape("proxy", &a, None, "200".into(), Duration::ZERO, 5);
        assert!(metrics.reason_families()[0].samples.is_empty());
        // A discovered list keeps its targets' outcomes; recent ones stay too.
        metrics.set_discovered(&Arc::new(TargetList {
            targets: vec![DiscoveredTarget {
                address: a.clone(),
                attributes: vec![],
            }],
            ready: true,
            last_error: None,
        }));
        assert_eq!(metrics.last_outcomes().len(), 2);
        assert_eq!(metrics.targets.get(), 1);
    }
}
