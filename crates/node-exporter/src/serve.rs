//! Serving the node exporter with dark-metrics: [`NodeExporter`] is a scrape-time
//! [`dark_metrics::serve::Collector`] named `node`, whose collectors' deadlines are bounded
//! by the scrape's deadline (which dark-metrics derives from
//! `X-Prometheus-Scrape-Timeout-Seconds`).

use std::time::Duration;

use dark_metrics::serve::{CollectFuture, Collector};
use tokio::time::Instant;

use crate::exporter::NodeExporter;

/// The collector name the node exporter reports under in dark-metrics' self metrics.
pub const COLLECTOR_NAME: &str = "node";

/// Time kept back from the server's deadline so the node exporter's own answer (with the
/// late collectors marked failed) is in before dark-metrics cuts the whole `node` collector
/// off: a tenth of the time left, at most this much.
const HANDOVER_MARGIN: Duration = Duration::from_millis(50);

/// The deadline the node exporter's collectors get for a server deadline `deadline`, as
/// seen at `now`.
pub(crate) fn collectors_deadline(deadline: Instant, now: Instant) -> Instant {
    let left = deadline.saturating_duration_since(now);
    deadline - HANDOVER_MARGIN.min(left / 10)
}

impl Collector for NodeExporter {
    fn name(&self) -> &str {
        COLLECTOR_NAME
    }

    fn collect(&self, deadline: Instant) -> CollectFuture<'_> {
        let inner = collectors_deadline(deadline, Instant::now());
        Box::pin(async move { Ok(self.scrape_until(inner).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::fixture_options;
    use dark_metrics::serve::{CollectorStatus, MetricsServer};

    #[test]
    fn the_margin_is_a_tenth_of_the_time_left_capped() {
        let now = Instant::now();
        let d = collectors_deadline(now + Duration::from_secs(10), now);
        assert_eq!(now + Duration::from_secs(10) - d, HANDOVER_MARGIN);
        let d = collectors_deadline(now + Duration::from_millis(100), now);
        assert_eq!(
            now + Duration::from_millis(100) - d,
            Duration::from_millis(10)
        );
        // A deadline already passed stays where it is.
        let past = now;
        assert_eq!(
            collectors_deadline(past, now + Duration::from_secs(1)),
            past
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn served_through_dark_metrics_the_node_families_arrive() {
        let exporter = NodeExporter::new(
            &["loadavg", "meminfo"],
            (*fixture_options()).clone(),
            Duration::from_secs(5),
        )
        .unwrap();
        let server = MetricsServer::builder()
            .collector(exporter)
            .build()
            .unwrap();
        let gathered = server.gather(Instant::now() + Duration::from_secs(5)).await;
        assert_eq!(gathered.outcomes.len(), 1);
        assert_eq!(gathered.outcomes[0].name, COLLECTOR_NAME);
        assert_eq!(gathered.outcomes[0].status, CollectorStatus::Succeeded);
        let names: Vec<&str> = gathered.families.iter().map(|f| f.name.as_ref()).collect();
        for wanted in [
            "node_load1",
            "node_memory_MemTotal_bytes",
            "node_scrape_collector_success",
            "dark_metrics_collector_success",
        ] {
            assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
        }
    }
}
